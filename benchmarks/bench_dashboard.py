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
    caliper (never computed before) to the page finished with its new charts.
Prints a Markdown table for the README. Not a test.
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
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tf_eval import config, synth  # noqa: E402

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


def _rematch(page: Page, caliper: float) -> float:
    box = page.get_by_role("spinbutton", name="Caliper (SDs of the score; 0 = none)")
    box.fill(f"{caliper}")
    box.press("Tab")
    started = time.perf_counter()
    page.get_by_role("button", name="Match and estimate").click()
    page.wait_for_selector(RUNNING, timeout=10_000)
    _finished(page, 3)
    return time.perf_counter() - started


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
            rematches = [_rematch(page, 0.05 + 0.05 * i) for i in range(args.repeats)]
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
    ):
        print(
            f"| {name} | {statistics.median(times):.2f} s | {min(times):.2f} s | "
            f"{max(times):.2f} s |"
        )


if __name__ == "__main__":
    main()
