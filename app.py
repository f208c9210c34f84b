"""tf-eval dashboard: `streamlit run app.py`.

Navigation lives here; each page is a thin view in views/. (Not pages/: Streamlit treats a
pages/ folder beside the entry point as a legacy multipage app and serves a deep link on a fresh
server, or a page switch in AppTest, without running this file - skipping its checks.)

Each page names the roles that need it (docs/operations.md *Access and roles*): st.navigation is
given only the pages the signed-in user may see, so another page's URL runs the first allowed page
instead, with a message. Demo mode (a synthetic store, no accounts) opens every page to everyone.
With no store yet (and no TF_EVAL_DB set), the first run builds the synthetic demo store.

This file is read twice. `streamlit run app.py` first imports it as the module `app` to find the
server, `app = st.App(...)` (dashboard/server.py: the middleware that closes /_stcore/metrics);
then every browser session runs it as the script `__main__`, which is the dashboard itself.
"""

import logging
import sys
import warnings
from pathlib import Path

import streamlit as st

if __name__ != "__main__":
    # Importing the dashboard for the server, before Streamlit's runtime exists, would only warn
    # that its caches cannot be made yet (they are made when sessions run).
    logging.getLogger("streamlit.runtime.caching.cache_data_api").setLevel(logging.ERROR)
    # Libraries' warnings are for their developers, not the operator's terminal (pandas 2.x
    # through DuckDB warned on every load), as on the command line (tf_eval.cli.main); a page's
    # problem is shown on the page or logged. `python -W ...` still shows them to whoever asks.
    if not sys.warnoptions:
        warnings.simplefilter("ignore")

import dashboard  # noqa: E402
from dashboard import PageSpec  # noqa: E402
from tf_eval.governance.access import ADMIN, EVALUATOR, STEWARD, VIEWER  # noqa: E402

PAGE_ICON = Path(__file__).with_name("dashboard") / "icon.svg"
READERS = frozenset({VIEWER, EVALUATOR})  # see results
PAGES = [
    PageSpec("views/overview.py", "Overview", ":material/dashboard:",
             READERS | {STEWARD}, selection=True),
    PageSpec("views/trends.py", "Outcomes over time", ":material/timeline:",
             READERS, selection=True),
    PageSpec("views/impact.py", "Impact", ":material/trending_up:", READERS, selection=True),
    PageSpec("views/value_for_money.py", "Value for money", ":material/payments:",
             READERS, selection=True),
    PageSpec("views/matching.py", "Matching & balance", ":material/balance:",
             frozenset({EVALUATOR}), selection=True),
    PageSpec("views/data.py", "Data & linkage", ":material/database:", READERS | {STEWARD}),
    PageSpec("views/report.py", "Board pack", ":material/picture_as_pdf:", READERS),
    PageSpec("views/load.py", "Load data", ":material/upload_file:", frozenset({STEWARD})),
    PageSpec("views/audit.py", "Audit log", ":material/receipt_long:", frozenset({ADMIN})),
    PageSpec("views/disclosure.py", "Disclosure", ":material/shield:",
             READERS | {STEWARD, ADMIN}),
]  # fmt: skip

if __name__ != "__main__":  # imported by `streamlit run app.py`: the server
    app = st.App(__file__, middleware=dashboard.server_middleware())
else:  # a session's run: the dashboard
    # The tab's icon is bundled: a ":material/...:" page icon is fetched from Google's font
    # server by every browser that opens the dashboard (and is missing offline).
    st.set_page_config(page_title="tf-eval", page_icon=str(PAGE_ICON), layout="wide")
    dashboard.check_disclosure_rules()
    user = dashboard.sign_in(dashboard.db_path())  # stops here until someone allowed is signed in
    shown = dashboard.allowed_pages(PAGES, user)
    # Navigation is declared before anything slow: the sidebar is right even during the first build.
    navigation = st.navigation(dashboard.navigation_pages(shown))
    dashboard.user_sidebar(user)
    dashboard.refuse_unlisted_page(PAGES, shown, user)
    dashboard.ensure_store(dashboard.db_path())
    dashboard.selection_in_url()  # a link's selection is read once; the URL keeps the current one
    dashboard.record_page_view(next(page for page in shown if page.title == navigation.title))
    try:
        navigation.run()
    except Exception:  # a bug, not a user mistake: full detail to the server log, one line here
        logging.getLogger("tf_eval").exception("page %s failed", navigation.title)
        st.error(
            f"{dashboard.INTERNAL_ERROR}. The details are in the server log; nothing about any "
            "family is shown. Try another page, or report it with the time it happened.",
            icon=":material/bug_report:",
        )
