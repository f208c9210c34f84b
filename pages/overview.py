"""Overview: who is in the store and what the records cover, for programme managers."""

import streamlit as st

import ui
from tf_eval import charts
from tf_eval.disclosure import RULE_NOTE, count_label, protected_total

summary = ui.get_overview()
source = charts.data_source(summary.description)

st.title("Overview")
if summary.description.get("kind") == "demo":
    st.warning(
        f"**Synthetic data.** Everything here comes from a made-up demo store "
        f"(seed {summary.description.get('seed')}): no real family is in it. "
        "Effects were planted so the method can be checked against a known truth.",
        icon=":material/science:",
    )

table = summary.by_la_cohort
if table.empty:
    st.info("The store holds no families yet. Load agency extracts or build the demo store.")
    st.stop()

left, middle, right, last = st.columns(4)
left.metric("Families identified", f"{protected_total(table['families']):,}")
middle.metric("People in those families", f"{protected_total(table['people']):,}")
right.metric("Families attached to support", f"{protected_total(table['supported']):,}")
last.metric("Local authorities", f"{table['la_code'].nunique()}")
st.caption(RULE_NOTE)

st.subheader("Who is in the store")
measure = st.radio(
    "Count",
    ["families", "people", "supported"],
    horizontal=True,
    format_func={
        "families": "Families identified",
        "people": "People",
        "supported": "Families attached to support",
    }.get,
)
st.plotly_chart(charts.la_cohort_heatmap(table, measure, source), width="stretch")

st.subheader("What the records cover")
st.plotly_chart(charts.coverage_chart(summary.coverage, source), width="stretch")

with st.expander("The numbers behind these charts"):
    shown = table.copy()
    for column in ("families", "people", "supported"):
        shown[column] = shown[column].map(count_label)
    st.dataframe(shown, hide_index=True, width="stretch")
    coverage = summary.coverage.assign(records=summary.coverage["records"].map(count_label))
    st.dataframe(coverage, hide_index=True, width="stretch")
