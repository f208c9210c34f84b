"""Take the screenshots in docs/images/ from a running tf-eval dashboard.

    .venv/bin/streamlit run app.py --server.port 8611 --server.headless true &
    .venv/bin/python docs/images/take_screenshots.py            # --url to use another address

The dashboard must be in demo mode (the synthetic demo store and no accounts), so that every page
is open without signing in. The browser is Debian's chromium (`apt-get install chromium`), driven
by Playwright, as in tests/test_browser.py. It takes about two minutes. Along the way it saves two
analyses on the Matching & balance page ("default" and "caliper 0.05 no replacement", kept beside
the store; already saved ones are left as they are) and builds the default board pack, so the
demo store's audit log gains those entries.

Each image is cropped to the part of the page the guides talk about and stored as a palette PNG
(256 colours) to keep it small. Look at every image before committing it.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image
from playwright.sync_api import Locator, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# Tall enough that every page fits without scrolling (Streamlit scrolls its own container, so a
# full-page screenshot would stop at the viewport); each image is cropped from it.
VIEWPORT = {"width": 1400, "height": 6000}  # the Matching page is about 5,000 px long
RUNNING = '[data-testid="stStatusWidget"]'
LONG = 300_000  # ms: the first visit to a page may compute its results


def settle(page: Page, charts: int = 0) -> None:
    """Wait until the page has drawn `charts` charts and Streamlit has finished running."""
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot').length >= {charts}", timeout=LONG
    )
    page.wait_for_function(f"!document.querySelector('{RUNNING}')", timeout=LONG)
    page.wait_for_timeout(2500)  # let plotly finish drawing


def shows(page: Page, text: str) -> None:
    """Wait until the page's text (chart titles included) holds `text`."""
    page.wait_for_function(f"document.body.innerText.includes({text!r})", timeout=LONG)


def rerun(page: Page, charts: int = 0) -> None:
    """After a click: wait for Streamlit to start running again, then to finish."""
    try:
        page.wait_for_selector(RUNNING, timeout=5_000)
    except PlaywrightTimeout:  # it had already finished
        pass
    settle(page, charts)


def open_page(page: Page, url: str, charts: int = 0) -> None:
    page.goto(url, wait_until="networkidle")
    page.wait_for_selector("h1", timeout=LONG)
    settle(page, charts)


def save(page: Page, name: str, top: Locator, bottom: Locator, sidebar: bool = False) -> None:
    """Crop from the top of `top` to the bottom of `bottom`: the main column, or the whole width
    with the sidebar."""
    main = page.get_by_test_id("stMainBlockContainer").bounding_box()
    first, last = top.bounding_box(), bottom.bounding_box()
    left = 0 if sidebar else main["x"] + 40
    right = main["x"] + main["width"] - 40
    y = 0 if sidebar else first["y"] - 16
    clip = {"x": left, "y": y, "width": right - left, "height": last["y"] + last["height"] + 16 - y}
    image = Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("RGB")
    small = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(HERE / name, optimize=True)
    print(f"{name}: {small.width}x{small.height}, {(HERE / name).stat().st_size // 1024} KB")


def take(page: Page, url: str) -> None:
    charts = page.locator(".js-plotly-plot")

    open_page(page, url, charts=2)  # Overview, with the sidebar: the README's tour
    save(page, "overview.png", page.locator("h1"), charts.first, sidebar=True)

    open_page(page, f"{url}/trends", charts=4)
    caption = page.get_by_text("School attendance: children of school age")
    save(page, "outcomes-over-time.png", page.locator("h1"), caption)

    open_page(page, f"{url}/impact", charts=2)
    heading = page.get_by_role("heading", name="Effect, naive change and placebo")
    save(page, "impact.png", heading, page.get_by_text("The naive change is what"))
    page.locator("[data-testid=stRadio] label").filter(has_text="Cohort").click()
    rerun(page, charts=2)
    page.get_by_test_id("stSelectbox").filter(has_text="Outcome").locator("input").click()
    page.get_by_role("option", name="Crime and justice: Offending").click()
    shows(page, "Offending: effect by cohort")
    settle(page, charts=2)
    where = page.get_by_role("heading", name="Where and when")
    save(page, "impact-breakdown.png", where, charts.last)

    open_page(page, f"{url}/matching", charts=3)
    save(page, "matching.png", page.locator("h1"), charts.nth(2))  # the right column
    if page.get_by_text("Save two analyses").count():  # fewer than two saved: save two
        name_box = page.get_by_label("Name this analysis")
        name_box.fill("default")
        page.get_by_role("button", name="Save analysis").click()
        shows(page, "Saved as")
        settle(page, charts=3)
        caliper = page.get_by_role("spinbutton", name="Caliper (SDs of the score; 0 = none)")
        caliper.fill("0.05")
        caliper.press("Tab")
        page.get_by_text("Match with replacement").click()
        page.get_by_role("button", name="Match and estimate").click()
        rerun(page, charts=3)
        name_box.fill("caliper 0.05 no replacement")
        page.get_by_role("button", name="Save analysis").click()
        shows(page, "Supported families matched")
        settle(page, charts=4)
    else:
        settle(page, charts=4)
    compare = page.get_by_role("heading", name="Save and compare analyses")
    save(page, "compare-analyses.png", compare, charts.last)

    open_page(page, f"{url}/report")
    page.get_by_role("button", name="Build the board pack").click()
    shows(page, "Board pack ready (built")
    settle(page)
    page.get_by_text("What is in the pack").click()
    page.wait_for_timeout(1500)
    save(page, "board-pack.png", page.locator("h1"), page.get_by_text("Each file carries"))

    open_page(page, f"{url}/data", charts=2)
    loads = page.get_by_role("heading", name="Loads and freshness")
    save(page, "data-linkage.png", loads, page.get_by_text("Nothing is past its retention"))

    open_page(page, f"{url}/audit")
    save(page, "audit-log.png", page.locator("h1"), page.get_by_test_id("stDataFrame"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:8611", help="the running dashboard")
    parser.add_argument("--chromium", default=CHROMIUM, help="the browser to drive")
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
        try:
            take(browser.new_page(viewport=VIEWPORT), args.url.rstrip("/"))
        finally:
            browser.close()


if __name__ == "__main__":
    main()
