"""tf-eval dashboard: `streamlit run app.py`.

Navigation lives here; each page is a thin view in views/. (Not pages/: Streamlit treats a
pages/ folder beside the entry point as a legacy multipage app and serves a deep link on a fresh
server, or a page switch in AppTest, without running this file - skipping its checks.) With no
store yet (and no TF_EVAL_DB set), the first run builds the synthetic demo store.
"""

import logging

import streamlit as st

import ui

st.set_page_config(page_title="tf-eval", page_icon=":material/family_restroom:", layout="wide")

# Navigation is declared before anything slow, so the sidebar is right even during the first build.
navigation = st.navigation(
    [
        st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("views/trends.py", title="Outcomes over time", icon=":material/timeline:"),
        st.Page("views/impact.py", title="Impact", icon=":material/trending_up:"),
        st.Page("views/matching.py", title="Matching & balance", icon=":material/balance:"),
        st.Page("views/data.py", title="Data & linkage", icon=":material/database:"),
        st.Page("views/report.py", title="Board pack", icon=":material/picture_as_pdf:"),
        st.Page("views/disclosure.py", title="Disclosure", icon=":material/shield:"),
    ]
)
ui.check_disclosure_rules()
ui.ensure_store(ui.db_path())
try:
    navigation.run()
except Exception:  # a bug, not a user mistake: full detail to the server log, one line here
    logging.getLogger("tf_eval").exception("page %s failed", navigation.title)
    st.error(
        f"{ui.INTERNAL_ERROR}. The details are in the server log; nothing about any family is "
        "shown. Try another page, or report it with the time it happened.",
        icon=":material/bug_report:",
    )
