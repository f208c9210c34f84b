"""Data & linkage: what the records cover, where they came from and when, how they link, and how
long they may be kept."""

import streamlit as st

import ui
from tf_eval import charts

summary = ui.get_overview()
found = ui.get_provenance()
source = charts.data_source(summary.description)
demo = summary.description.get("kind") == "demo"

st.title("Data & linkage")
if demo:
    st.warning(
        "**Synthetic data.** This store was generated, not loaded: its records are made up and "
        "were created already linked, so every record belongs to a known person.",
        icon=":material/science:",
    )

st.subheader("What the records cover")
if summary.coverage.frame.empty:  # e.g. only families and people loaded so far
    st.info("No outcome records are loaded yet.", icon=":material/inbox:")
else:
    ui.chart(charts.coverage_chart(summary.coverage, source), "record-coverage")

st.subheader("Loads and freshness")
loads = found.loads.labels()
if loads.empty:
    st.info("Nothing has been loaded yet.", icon=":material/inbox:")
else:
    st.dataframe(
        loads,
        hide_index=True,
        width="stretch",
        column_config={
            "load_id": "load",
            "file_name": "file",
            "loaded_at": "loaded (UTC)",
            "loaded_by": "by",
            "rows": "rows",
        },
    )
    st.caption(
        f"Newest load: {loads['loaded_at'].max()}. Every stored record carries the load it "
        f"came from. {found.loads.note()}"
    )

st.subheader("Linkage")
st.write(
    "Records from each source are linked to families and people by pseudonym as they are "
    "loaded. A load whose references do not resolve is refused whole, unless the data steward "
    "allowed a small unlinked share (TF_EVAL_MAX_UNLINKED_SHARE): then the unlinked records are "
    "dropped and counted here." + (" Synthetic data are generated already linked." if demo else "")
)
linkage = found.linkage.labels()
if linkage.empty:
    st.info("No extract has been loaded yet.", icon=":material/inbox:")
else:
    st.dataframe(
        linkage,
        hide_index=True,
        width="stretch",
        column_config={
            "offered": "records offered",
            "linked": "records linked",
            "share_linked": st.column_config.NumberColumn("share linked", format="percent"),
        },
    )
    st.caption(found.linkage.note())

st.subheader("Retention")
st.write(
    f"The privacy notice promises that linked records are kept for {found.retention_years} years "
    "and then destroyed. Families by the year their retention period ends (counted from the "
    "date each family was identified):"
)
ui.chart(charts.retention_chart(found.retention, source), "retention")
