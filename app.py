"""tf-eval dashboard: `streamlit run app.py`.

Navigation lives here; each page is a thin view in pages/. With no store yet (and no TF_EVAL_DB
set), the first run builds the synthetic demo store.
"""

import streamlit as st

import ui

st.set_page_config(page_title="tf-eval", page_icon=":material/family_restroom:", layout="wide")

# Navigation is declared before anything slow, so the sidebar is right even during the first build.
navigation = st.navigation(
    [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/trends.py", title="Outcomes over time", icon=":material/timeline:"),
        st.Page("pages/impact.py", title="Impact", icon=":material/trending_up:"),
        st.Page("pages/matching.py", title="Matching & balance", icon=":material/balance:"),
        st.Page("pages/data.py", title="Data & linkage", icon=":material/database:"),
        st.Page("pages/disclosure.py", title="Disclosure", icon=":material/shield:"),
    ]
)
ui.check_disclosure_rules()
ui.ensure_store(ui.db_path())
navigation.run()
