"""What `streamlit run app.py` does as a new user types it (issue 17, items 12-14): it listens
on localhost only, since the demo opens every page without sign-in; a page asks nothing of any
other server (its icon was fetched from Google's font server, so an offline dashboard had none
and every page view told Google); and the libraries' warnings do not fill the operator's
terminal."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright

from tests.test_browser import CHROMIUM, _free_port, _streamlit
from tf_eval import config


def test_streamlit_reads_localhost_from_the_projects_config() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "streamlit", "config", "show"],
        capture_output=True,
        text=True,
        cwd=config.PROJECT_ROOT,
        timeout=60,
    ).stdout
    server = shown[shown.index("[server]") :]
    assert 'address = "localhost"' in server.split("\n[", 1)[0]
    # ... and operations.md says how to serve it on a network, with sign-in.
    operations = (config.PROJECT_ROOT / "docs" / "operations.md").read_text()
    assert "**Serving it on a network.**" in operations and "Sign-in first" in operations


def _listening(port: int) -> set[str]:
    """The addresses (hex, as /proc/net/tcp* writes them) of sockets listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1


@contextlib.contextmanager
def _serve(env: dict[str, str]) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """`streamlit run app.py` with no server flag but the port (the browser test's `_streamlit`
    binds to 127.0.0.1 itself); yields the port and the process, whose stderr is piped."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port)],
        cwd=config.PROJECT_ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("streamlit did not start")
        yield port, process
    finally:
        process.terminate()
        process.wait(timeout=20)


def _demo_env(demo_db: Path, tmp_path: Path) -> dict[str, str]:
    return {
        config.DB_ENV_VAR: str(demo_db),
        config.ACCOUNTS_FILE_ENV_VAR: str(tmp_path / "none.json"),
    }


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket tables")
def test_the_dashboard_listens_on_loopback_only_by_default(demo_db: Path, tmp_path: Path) -> None:
    with _serve(_demo_env(demo_db, tmp_path)) as (port, _):
        addresses = _listening(port)
    assert addresses and addresses <= LOOPBACK, addresses


# Loaded by Python at start (sitecustomize): DuckDB's connect warns, as a library's deprecation.
NOISY_DUCKDB = """
import warnings
import duckdb
connect = duckdb.connect
def noisy(*args, **kwargs):
    warnings.warn("connect() is deprecated", FutureWarning, stacklevel=2)
    return connect(*args, **kwargs)
duckdb.connect = noisy
"""


def test_no_library_warning_reaches_the_servers_terminal(demo_db: Path, tmp_path: Path) -> None:
    """A page view opens the store (DuckDB's connect, which warns here): the server's stderr
    stays empty of warnings, as the command line's does (tests/test_cli.py)."""
    (tmp_path / "sitecustomize.py").write_text(NOISY_DUCKDB)
    env = {**_demo_env(demo_db, tmp_path), "PYTHONPATH": str(tmp_path)}
    with _serve(env) as (port, process), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1024, "height": 900})
        page.goto(f"http://127.0.0.1:{port}", wait_until="networkidle")
        page.wait_for_selector(".js-plotly-plot", timeout=120_000)
        browser.close()
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert "Warning" not in stderr, stderr


def test_a_page_asks_nothing_of_any_other_server(demo_db: Path, tmp_path: Path) -> None:
    """Every request the browser makes while pages load goes to the dashboard itself (or is
    inline data), and the tab shows the bundled icon."""
    with _streamlit(_demo_env(demo_db, tmp_path)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1024, "height": 900})
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(url, wait_until="networkidle")
        page.wait_for_selector(".js-plotly-plot", timeout=120_000)
        for name in ("Impact", "Outcomes over time"):  # charts, icons, a page switch
            page.locator("[data-testid=stSidebarNav] a", has_text=name).click()
            page.wait_for_selector(f"h1:has-text('{name.split(' ')[0]}')", timeout=120_000)
            page.wait_for_function(
                "!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=180_000
            )
        page.wait_for_timeout(1000)
        icon = page.evaluate("document.querySelector('link[rel*=icon]')?.href ?? ''")
        browser.close()
    ours = urlsplit(url).netloc
    elsewhere = sorted(
        {u for u in requested if urlsplit(u).scheme in ("http", "https", "ws", "wss")}
        - {u for u in requested if urlsplit(u).netloc == ours}
    )
    assert not elsewhere, elsewhere
    assert icon.startswith("data:image/svg+xml") or urlsplit(icon).netloc == ours, icon
