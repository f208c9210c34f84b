"""The dashboard in a real browser: `streamlit run app.py` on a demo store, every page opened in
headless Debian Chromium (Playwright), no exception anywhere, and a screenshot of each page in
tests/screenshots/ (git-ignored) for a person to look at.

Chromium comes from Debian (`apt-get install chromium`; `.ci/run` installs it): Playwright's
own browser download is not used. Without it this test fails and says how to install it."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from dashboard import INTERNAL_ERROR
from tf_eval import config
from tf_eval.data import store
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.governance import access
from tf_eval.method.estimate import AnalysisSpec, evaluate
from tf_eval.release.headlines import headline
from tf_eval.release.results import findings, safe_evaluation

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = config.PROJECT_ROOT / "tests" / "screenshots"
# Each page and the charts it must draw once it has finished running.
PAGES = {
    "Overview": 2,
    "Outcomes over time": len(OUTCOMES) + 1,  # one per outcome, and the event study
    "Impact": 2,
    "Value for money": 0,  # until a programme cost is set (tests/test_page_value.py draws 2)
    "Matching & balance": 3,
    "Data & linkage": 2,
    "Board pack": 0,
    "Load data": 0,
    "Audit log": 0,
    "Disclosure": 0,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _streamlit(env: dict[str, str]) -> Iterator[str]:
    """`streamlit run app.py` with these settings; yields its URL."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=config.PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail(f"streamlit did not start: {process.stderr.read()[-2000:]}")
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_db: Path):
    """Demo mode: a demo store and no accounts, so every page is open."""
    no_accounts = tmp_path_factory.mktemp("accounts") / "accounts.json"
    with _streamlit(
        {config.DB_ENV_VAR: str(demo_db), config.ACCOUNTS_FILE_ENV_VAR: str(no_accounts)}
    ) as url:
        yield url


def test_every_page_renders_in_chromium_without_an_exception(server: str) -> None:
    assert shutil.which("chromium") or Path(CHROMIUM).exists(), (
        "Debian chromium is needed for the browser test: apt-get install chromium"
    )
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 1600})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server, wait_until="networkidle")
        page.wait_for_selector(".js-plotly-plot", timeout=120_000)
        links = page.locator("[data-testid=stSidebarNav] a")
        names = [links.nth(i).inner_text().split("\n")[-1] for i in range(links.count())]
        assert names == list(PAGES)
        for name, charts in PAGES.items():
            page.locator("[data-testid=stSidebarNav] a", has_text=name).click()
            page.wait_for_selector(f"h1:has-text('{name.split(' ')[0]}')", timeout=120_000)
            # Finished: the page's charts are drawn and the app is no longer running.
            page.wait_for_function(
                f"document.querySelectorAll('.js-plotly-plot').length >= {charts}",
                timeout=180_000,
            )
            page.wait_for_function(
                "!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=180_000
            )
            page.wait_for_timeout(1500)  # let plotly finish drawing
            page.screenshot(path=SCREENSHOTS / f"{name.split(' ')[0].lower()}.png", full_page=True)
            exceptions = page.locator("[data-testid=stException]")
            assert exceptions.count() == 0, f"{name}: {exceptions.first.inner_text()}"
            assert page.get_by_text(INTERNAL_ERROR).count() == 0, f"{name} failed: see the log"
        browser.close()
    assert not errors, errors


def test_sign_in_then_a_link_to_another_roles_page_is_refused(real_store: Path, tmp_path: Path):
    """Local accounts on a store of real data: the sign-in form works from the keyboard, a
    viewer's navigation lists only the viewer's pages, and the URL of an evaluator's page (a
    new browser session, so the form first) shows the first allowed page with a refusal."""
    accounts = tmp_path / "accounts.json"
    access.add_account("vera", access.VIEWER, "a long enough password", accounts)
    env = {config.DB_ENV_VAR: str(real_store), config.ACCOUNTS_FILE_ENV_VAR: str(accounts)}
    SCREENSHOTS.mkdir(exist_ok=True)
    with _streamlit(env) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(f"{url}/matching", wait_until="networkidle")
        page.get_by_label("Name", exact=True).fill("vera")
        page.get_by_label("Password", exact=True).fill("a long enough password")
        page.screenshot(path=SCREENSHOTS / "sign-in.png")
        page.get_by_label("Password", exact=True).press("Enter")
        page.wait_for_selector("h1:has-text('Overview')", timeout=60_000)
        refusal = page.get_by_text("The page “Matching & balance” is not open to your role")
        refusal.wait_for(timeout=30_000)
        links = page.locator("[data-testid=stSidebarNav] a")
        names = [links.nth(i).inner_text().split("\n")[-1] for i in range(links.count())]
        assert names == [
            "Overview",
            "Outcomes over time",
            "Impact",
            "Value for money",
            "Data & linkage",
            "Board pack",
            "Disclosure",
        ]
        assert page.get_by_text("Signed in as").count() == 1
        page.screenshot(path=SCREENSHOTS / "viewer-refused.png", full_page=True)
        browser.close()


def _settled(page, charts: int = 0) -> None:
    """Wait until the page has drawn its charts and the app is no longer running."""
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot').length >= {charts}", timeout=180_000
    )
    page.wait_for_function(
        "!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=180_000
    )
    page.wait_for_timeout(1000)


def test_a_chosen_local_authority_stays_chosen_across_pages_and_in_the_link(
    server: str, demo_db: Path
) -> None:
    """Choose LA05 on the Overview, then visit the other pages: each names it in its heading,
    its sidebar still shows it, the URL carries it, and the Overview's sentences are LA05's."""
    la = "LA05"
    expected = safe_evaluation(evaluate(store.Store(demo_db), AnalysisSpec(la=la)))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(server, wait_until="networkidle")
        _settled(page, 2)
        sidebar = page.locator("[data-testid=stSidebar]")

        def shown_choice() -> str:
            choice = sidebar.locator("[data-testid=stSelectbox]", has_text="Local authority")
            return choice.inner_text() + " ".join(
                box.input_value() for box in choice.locator("input").all()
            )

        assert "All" in shown_choice() and "Choose an option" not in shown_choice()
        sidebar.locator("[data-testid=stSelectbox]", has_text="Local authority").click()
        page.get_by_role("option", name=la, exact=True).click()
        page.wait_for_selector(f"h1:has-text('local authority {la}')", timeout=120_000)
        for name in ["Outcomes over time", "Impact", "Data & linkage", "Board pack", "Overview"]:
            page.locator("[data-testid=stSidebarNav] a", has_text=name).click()
            page.wait_for_selector(f"h1:has-text('{name.split(' ')[0]}')", timeout=120_000)
            _settled(page)
            assert f"la={la}" in page.url, (name, page.url)
            if name != "Data & linkage":  # the one page the selection does not filter
                heading = page.locator("h1").first.inner_text()
                assert f"local authority {la}" in heading, name
                assert la in shown_choice(), (name, shown_choice())
        _settled(page, 2)
        shown = " ".join(page.locator("[data-testid=stMarkdownContainer] li").all_inner_texts())
        for estimate, check in zip(expected.estimates, findings(expected), strict=True):
            assert headline(estimate, 12, check.caution) in shown
        # The URL shares the selection: a new session opened from it starts there.
        other = browser.new_page(viewport={"width": 1400, "height": 1200})
        other.goto(f"{server}/impact?la={la}&cohort=2016", wait_until="networkidle")
        other.wait_for_selector(
            f"h1:has-text('local authority {la}, families identified in 2016')", timeout=120_000
        )
        browser.close()


# Every chart's texts (title, subplot titles, footnote, legend) inside the chart, and the legend
# clear of the footnote: what a person would see as "cut off" or "drawn over".
CHART_TEXT_OUTSIDE = """() => {
  const inside = (r, box) => r.left >= box.left - 1 && r.right <= box.right + 1
      && r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
  const meets = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom
      && b.top < a.bottom;
  const problems = [];
  for (const plot of document.querySelectorAll('.js-plotly-plot')) {
    const box = plot.querySelector('.main-svg').getBoundingClientRect();
    const title = (plot.querySelector('.gtitle') || {}).textContent || '?';
    const texts = plot.querySelectorAll('.gtitle, .annotation-text, .legendtext');
    for (const text of texts) {
      if (!inside(text.getBoundingClientRect(), box)) {
        problems.push(`${title}: "${text.textContent.slice(0, 40)}" is cut off`);
      }
    }
    const legend = plot.querySelector('.legend');
    const notes = [...plot.querySelectorAll('.annotation-text')];
    const footnote = notes.find(n => n.textContent.startsWith('Source:'));
    if (legend && footnote && meets(legend.getBoundingClientRect(),
                                    footnote.getBoundingClientRect())) {
      problems.push(`${title}: the legend is drawn over the footnote`);
    }
    const heading = plot.querySelector('.gtitle');
    if (legend && heading && meets(legend.getBoundingClientRect(),
                                   heading.getBoundingClientRect())) {
      problems.push(`${title}: the legend is drawn over the title`);
    }
  }
  return problems;
}"""


@pytest.mark.parametrize("width", [1024, 1400, 1920])
def test_every_chart_reads_whole_at_common_screen_widths(server: str, width: int) -> None:
    """Issue 17 item 3: at 1024, 1400 and 1920 px wide, no chart's title, footnote or legend
    runs outside the chart, and no legend covers the footnote or title. Screenshots of each
    page at each width land in tests/screenshots/ for a person to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": 3400})
        for name, path in [
            ("Overview", ""),
            ("Outcomes", "trends"),
            ("Impact", "impact"),
            ("Matching", "matching"),
            ("Data", "data"),
        ]:
            page.goto(f"{server}/{path}", wait_until="networkidle")
            page.wait_for_selector(f"h1:has-text('{name}')", timeout=120_000)
            _settled(page, PAGES[next(p for p in PAGES if p.startswith(name))])
            page.screenshot(path=SCREENSHOTS / f"width-{width}-{name.lower()}.png")
            problems += [f"{name} at {width} px: {p}" for p in page.evaluate(CHART_TEXT_OUTSIDE)]
        browser.close()
    assert not problems, "\n".join(problems)


def test_a_link_to_the_first_pages_own_name_opens_it(server: str) -> None:
    """Issue 17 item 16: /overview (what a user types for the Overview) found no page, as
    Streamlit serves the first page at / only; now it opens the Overview, selection kept."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{server}/overview?la=LA02", wait_until="networkidle")
        page.wait_for_selector("h1:has-text('Overview')", timeout=120_000)
        page.wait_for_timeout(1500)
        assert page.get_by_text("Page not found").count() == 0
        assert "local authority LA02" in page.locator("h1").first.inner_text()
        browser.close()


def test_a_finding_whose_pre_trend_check_fails_carries_its_caution_on_the_overview_and_pack(
    divergent_db: Path, tmp_path: Path
) -> None:
    """Issue 18: on the demo whose supported families were already diverging before support,
    the findings the event study's pre-trend test fails say so beside the finding, on the
    Overview in the browser and on the board pack's first page (its PDF text)."""
    from pypdf import PdfReader

    from tests.test_cli import run

    shutil.copyfile(divergent_db, tmp_path / "demo.duckdb")
    db = tmp_path / "demo.duckdb"
    results = safe_evaluation(evaluate(store.Store(db), AnalysisSpec()))
    failed = [
        headline(e, 12, c.caution)
        for e, c in zip(results.estimates, findings(results), strict=True)
        if c.pretrend_p_value is not None and c.pretrend_p_value < config.EVIDENCE_ALPHA
    ]
    assert len(failed) >= 2 and all("already diverging before support" in h for h in failed)
    caution = "but families who were later supported were already diverging before support"
    assert any(caution in h for h in failed)
    accounts = tmp_path / "accounts.json"
    with _streamlit(
        {config.DB_ENV_VAR: str(db), config.ACCOUNTS_FILE_ENV_VAR: str(accounts)}
    ) as url:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1024, "height": 2400})
            page.goto(url, wait_until="networkidle")
            _settled(page, 2)
            shown = " ".join(page.locator("[data-testid=stMarkdownContainer] li").all_inner_texts())
            for sentence in failed:
                assert sentence in shown, sentence
            page.get_by_text(caution).first.wait_for(timeout=10_000)
            page.screenshot(path=SCREENSHOTS / "overview-pre-trend-caution.png")
            browser.close()
    out = tmp_path / "pack"
    result = run("report", "--db", str(db), "--out", str(out))
    assert result.returncode == 0, result.stderr
    first = " ".join(PdfReader(out / "board-pack.pdf").pages[0].extract_text().split())
    for sentence in failed:
        assert " ".join(sentence.split()) in first, sentence


def test_value_for_money_draws_its_charts_whole_once_a_cost_is_set(server: str) -> None:
    """Issue 20: the page's form in a real browser, then its two charts whole at 1024 px, the
    narrowest common width (where the sensitivity chart's long row labels once pushed its
    footnote off the chart). Screenshot: tests/screenshots/width-1024-value.png."""
    SCREENSHOTS.mkdir(exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for width in (1024,):
            page = browser.new_page(viewport={"width": width, "height": 3600})
            page.goto(f"{server}/value_for_money", wait_until="networkidle")
            page.wait_for_selector("h1:has-text('Value for money')", timeout=120_000)
            _settled(page)
            cost = page.get_by_role("spinbutton", name="Programme cost per supported family (£)")
            cost.fill("3000")
            cost.press("Tab")
            page.get_by_role("button", name="Show the value for money").click()
            _settled(page, 2)
            assert page.get_by_text("Each £1 spent on support returns").count() == 1
            page.screenshot(path=SCREENSHOTS / f"width-{width}-value.png")
            problems += [f"at {width} px: {p}" for p in page.evaluate(CHART_TEXT_OUTSIDE)]
            page.close()
        browser.close()
    assert not problems, "\n".join(problems)
