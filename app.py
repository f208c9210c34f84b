"""tf-eval dashboard: `streamlit run app.py`.

Navigation lives here; each page is a thin view in views/. (Not pages/: Streamlit treats a
pages/ folder beside the entry point as a legacy multipage app and serves a deep link on a fresh
server, or a page switch in AppTest, without running this file - skipping its checks.)

Each page names the roles that need it (README *Access and roles*): st.navigation is given only
the pages the signed-in user may see, so another page's URL runs the first allowed page instead,
with a message. Demo mode (a synthetic store, no accounts) opens every page to everyone. With no
store yet (and no TF_EVAL_DB set), the first run builds the synthetic demo store.
"""

import logging

import streamlit as st

import ui
from tf_eval.access import ADMIN, EVALUATOR, STEWARD, VIEWER

READERS = frozenset({VIEWER, EVALUATOR})  # see results
PAGES = [
    ui.PageSpec("views/overview.py", "Overview", ":material/dashboard:",
                READERS | {STEWARD}, selection=True),
    ui.PageSpec("views/trends.py", "Outcomes over time", ":material/timeline:",
                READERS, selection=True),
    ui.PageSpec("views/impact.py", "Impact", ":material/trending_up:", READERS, selection=True),
    ui.PageSpec("views/matching.py", "Matching & balance", ":material/balance:",
                frozenset({EVALUATOR}), selection=True),
    ui.PageSpec("views/data.py", "Data & linkage", ":material/database:", READERS | {STEWARD}),
    ui.PageSpec("views/report.py", "Board pack", ":material/picture_as_pdf:", READERS),
    ui.PageSpec("views/load.py", "Load data", ":material/upload_file:", frozenset({STEWARD})),
    ui.PageSpec("views/audit.py", "Audit log", ":material/receipt_long:", frozenset({ADMIN})),
    ui.PageSpec("views/disclosure.py", "Disclosure", ":material/shield:",
                READERS | {STEWARD, ADMIN}),
]  # fmt: skip

st.set_page_config(page_title="tf-eval", page_icon=":material/family_restroom:", layout="wide")
ui.check_disclosure_rules()
user = ui.sign_in(ui.db_path())  # stops here until someone allowed is signed in
shown = ui.allowed_pages(PAGES, user)
# Navigation is declared before anything slow, so the sidebar is right even during the first build.
navigation = st.navigation(
    [
        st.Page(page.path, title=page.title, icon=page.icon, default=page is shown[0])
        for page in shown
    ]
)
ui.user_sidebar(user)
ui.refuse_unlisted_page(PAGES, shown, user)
ui.ensure_store(ui.db_path())
ui.record_page_view(next(page for page in shown if page.title == navigation.title))
try:
    navigation.run()
except Exception:  # a bug, not a user mistake: full detail to the server log, one line here
    logging.getLogger("tf_eval").exception("page %s failed", navigation.title)
    st.error(
        f"{ui.INTERNAL_ERROR}. The details are in the server log; nothing about any family is "
        "shown. Try another page, or report it with the time it happened.",
        icon=":material/bug_report:",
    )
