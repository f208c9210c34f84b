"""Board pack: one analysis as files for a board - a PDF with the findings in plain words, every
chart as PNG and SVG, the tables behind them as CSV - built from the same safe objects as the
other pages, so it never shows more than the screen."""

import streamlit as st

import dashboard
from tf_eval import config
from tf_eval.governance.untrusted import markdown
from tf_eval.method.estimate import AnalysisSpec

summary = dashboard.get_overview()
la, cohort = dashboard.selection_sidebar(summary)

dashboard.page_title("Board pack", la, cohort)
st.write(
    "Everything a board needs about one analysis, as files: a PDF (the headline findings in "
    "plain words, one page per chart, the method, the disclosure rules in force and where the "
    "figures come from), every chart as PNG (twice the size, for slides) and SVG, the table "
    "behind each chart as CSV, and a manifest with each file's checksum. Every figure has "
    "passed the disclosure rules, and the export is written to the audit log."
)

saved = dashboard.saved_specs()
name = st.selectbox(
    "Analysis",
    [None, *saved],
    format_func=lambda n: "Default analysis of the selection in the sidebar" if n is None else n,
    help="Analyses saved on the Matching & balance page carry their own selection.",
)
spec = AnalysisSpec(la=la, cohort=cohort) if name is None else saved[name]
st.caption(f"{markdown(name or 'Default analysis')}: {dashboard.describe(spec)}.")
value = dashboard.value_settings()
st.caption(
    "Value for money: not set, so the pack says so (set the programme's cost on the Value for "
    "money page)."
    if value is None
    else f"Value for money: a programme cost of £{value.model.programme_cost:,.0f} per family, "
    f"effects lasting {value.model.years} year{'s' * (value.model.years != 1)}, unit costs "
    f"{markdown(value.costs.title)} (as set on the Value for money page)."
)

if st.button("Build the board pack", type="primary", icon=":material/picture_as_pdf:"):
    st.session_state["board_pack"] = (spec, name)
if st.session_state.get("board_pack") != (spec, name):
    st.info(
        "Build the pack to download it. It takes about 15 seconds the first time (the charts "
        "are drawn by a headless Chromium); the same analysis is then ready at once until the "
        "data change.",
        icon=":material/hourglass_empty:",
    )
    st.stop()

pack = dashboard.get_board_pack(spec, name)
if pack is None:
    st.stop()

files = pack.manifest["files"]
charts = sum(1 for f in files if f["kind"] == "chart") // 2
tables = sum(1 for f in files if f["kind"] == "table")
st.success(
    f"Board pack ready (built in {pack.seconds:.0f} s): the PDF, {charts} charts as PNG at "
    f"{config.PACK_PNG_SCALE}x and SVG, {tables} tables as CSV, and manifest.json.",
    icon=":material/check_circle:",
)
left, right = st.columns(2)
left.download_button(
    "Download the pack (zip)",
    pack.zip_bytes,
    file_name=pack.zip_name,
    mime="application/zip",
    type="primary",
    icon=":material/folder_zip:",
    on_click="ignore",
    width="stretch",
)
right.download_button(
    "Download the PDF only",
    pack.pdf_bytes,
    file_name=pack.zip_name.replace(".zip", ".pdf"),
    mime="application/pdf",
    icon=":material/picture_as_pdf:",
    on_click="ignore",
    width="stretch",
)
with st.expander("What is in the pack"):
    dashboard.table(
        [
            {"file": f["path"], "what": f["title"], "size (KB)": round(f["bytes"] / 1024)}
            for f in files
        ],
        hide_index=True,
        width="stretch",
    )
    st.caption(
        "Each file carries its provenance: the data snapshot, the analysis, the disclosure rules, "
        "when it was generated and the tf-eval version (PDF metadata and last page, PNG text, "
        "SVG metadata; for each CSV, its entry in manifest.json with the table's notes). Each "
        "CSV holds one table, header on line 1: it opens as it is in a spreadsheet or with "
        "pandas.read_csv(path)."
    )
