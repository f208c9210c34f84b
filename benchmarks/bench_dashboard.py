"""Benchmark: how fast the dashboard answers, measured in a real browser.

    .venv/bin/python benchmarks/bench_dashboard.py            # default demo store (built if needed)
    .venv/bin/python benchmarks/bench_dashboard.py --db data/tf_eval.duckdb

Starts `streamlit run app.py` on the store, opens it in headless Debian chromium (Playwright) and
times, once the server is warm (results cached):
(1) the Overview in a new tab of a browser that has been to the dashboard before (its HTTP cache
    holds Streamlit's scripts, as a returning user's does): first paint, from navigation to the
    headline findings on screen, and complete, to every chart drawn and the script finished;
(2) the same in a fresh browser profile (empty cache: a first visit);
(3) re-matching on the Matching & balance page: from pressing "Match and estimate" with a new
    caliper (never computed before) to the page finished with its new charts;
(4) warm interactions in an open tab, each from the click to the page finished with the chart
    it changes: the Overview's count switched (families <-> people), the sidebar's local
    authority switched between one LA and All (both viewed before), a page switch from the
    Overview to Outcomes over time and back (both viewed before), and re-matching with a
    caliper computed before.
Prints a Markdown table for docs/performance.md. Not a test.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tf_eval import config  # noqa: E402
from tf_eval.data import synth  # noqa: E402

RUNNING = '[data-testid="stStatusWidget"]'


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _finished(page: Page, charts: int) -> None:
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot').length >= {charts}", timeout=180_000
    )
    page.wait_for_function(f"!document.querySelector('{RUNNING}')", timeout=180_000)


HEADLINES = "[...document.querySelectorAll('[data-testid=stMarkdownContainer] li')]"
HEADLINES += ".filter(item => item.innerText.includes('95% CI')).length >= 4"


def _overview(page: Page, url: str) -> tuple[float, float]:
    """Seconds to the headline findings on screen, and to the whole page finished."""
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_function(HEADLINES, timeout=180_000)
    first_paint = time.perf_counter() - started
    _finished(page, 2)
    return first_paint, time.perf_counter() - started


def _match_with(page: Page, caliper: float) -> None:
    box = page.get_by_role("spinbutton", name="Caliper (SDs of the score; 0 = none)")
    box.fill(f"{caliper}")
    box.press("Tab")
    page.get_by_role("button", name="Match and estimate").click()


MAIN_TEXT = "document.querySelector('[data-testid=stMain]').innerText"


def _timed(page: Page, action: Callable[[], None], charts: int) -> float:
    """Seconds from `action` to the page's text changed, `charts` charts drawn and the script
    finished. A cached rerun can finish before the status widget would show, so the change of
    text, not the widget, says the rerun has happened."""
    before = page.evaluate(MAIN_TEXT)
    started = time.perf_counter()
    action()
    page.wait_for_function(
        f"([before]) => {MAIN_TEXT} !== before"
        f" && document.querySelectorAll('.js-plotly-plot').length >= {charts}"
        f" && !document.querySelector('{RUNNING}')",
        arg=[before],
        timeout=180_000,
    )
    return time.perf_counter() - started


def _warm_interactions(page: Page, url: str, repeats: int) -> dict[str, list[float]]:
    """Each interaction is done once both ways to warm the cache, then timed `repeats` times each
    way."""
    times: dict[str, list[float]] = {"count": [], "la": [], "page": [], "rematch": []}
    page.goto(url)
    _finished(page, 2)
    radio = page.get_by_test_id("stRadio")
    la_box = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first
    nav = page.get_by_test_id("stSidebarNav")

    def choose(option: str) -> None:
        la_box.click()
        page.get_by_role("option", name=option, exact=True).click()

    steps = {
        "count": [
            (partial(radio.get_by_text(label).click), 2)
            for label in ("People", "Families identified")
        ],
        "la": [(partial(choose, option), 2) for option in ("LA03", "All")],
        "page": [
            (partial(nav.get_by_role("link", name=name).click), charts)
            for name, charts in (("Outcomes over time", 1), ("Overview", 2))
        ],
    }
    for key, actions in steps.items():
        for i in range(repeats + 1):
            for action, charts in actions:
                seconds = _timed(page, action, charts)
                times[key] += [seconds] if i > 0 else []
    page.goto(f"{url}/matching")
    _finished(page, 3)
    for i in range(repeats + 1):
        for value in (0.1, 0.2):
            seconds = _timed(page, partial(_match_with, page, value), 3)
            times["rematch"] += [seconds] if i > 0 else []
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory()
    db = args.db or Path(folder.name) / "demo.duckdb"
    if not db.exists():
        synth.build_demo_store(db, config.DEMO_FAMILIES, config.DEMO_SEED)
    port = _port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=ROOT, env={**os.environ, config.DB_ENV_VAR: str(db)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium")
            returning = browser.new_context()  # one profile: tabs share its HTTP cache
            warm = returning.new_page()
            _overview(warm, url)  # computes and caches the default results; fills the cache
            warm.close()
            new_tab, first_visit = [], []
            for _ in range(args.repeats):
                for context, times in ((returning, new_tab), (browser.new_context(), first_visit)):
                    page = context.new_page()
                    times.append(_overview(page, url))
                    page.close()
            page = browser.new_context(viewport={"width": 1440, "height": 1200}).new_page()
            page.goto(f"{url}/matching")
            _finished(page, 3)
            rematches = [
                _timed(page, partial(_match_with, page, 0.05 + 0.05 * i), 3)
                for i in range(args.repeats)
            ]
            wide = browser.new_context(viewport={"width": 1440, "height": 1200})
            warm_times = _warm_interactions(wide.new_page(), url, args.repeats)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"Store: {db} ({config.DEMO_FAMILIES:,}-family default demo unless --db); "
          f"{args.repeats} repeats, {os.cpu_count()} cores\n")  # fmt: skip
    print("| interaction | median | best | worst |")
    print("|---|---:|---:|---:|")
    for name, times in (
        ("Overview first paint (headline findings), new tab", [t[0] for t in new_tab]),
        ("Overview complete (every chart drawn), new tab", [t[1] for t in new_tab]),
        ("Overview first paint, first visit (empty browser cache)", [t[0] for t in first_visit]),
        ("Overview complete, first visit (empty browser cache)", [t[1] for t in first_visit]),
        ("Re-matching with a new caliper (not cached)", rematches),
        ("Warm: Overview count switched (families/people)", warm_times["count"]),
        ("Warm: sidebar local authority switched (LA03/All)", warm_times["la"]),
        ("Warm: page switch (Overview/Outcomes over time)", warm_times["page"]),
        ("Warm: re-matching with a caliper computed before", warm_times["rematch"]),
    ):
        print(
            f"| {name} | {statistics.median(times):.2f} s | {min(times):.2f} s | "
            f"{max(times):.2f} s |"
        )


if __name__ == "__main__":
    main()
