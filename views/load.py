"""Load data: a data steward loads one agency extract through the same checks as
`python -m tf_eval ingest` (validated, pseudonymised, all or nothing)."""

import streamlit as st

import dashboard
from tf_eval.data.contracts import CONTRACTS, SOURCES
from tf_eval.governance.untrusted import markdown

st.title("Load an agency extract")
st.write(
    "Load one extract (CSV or Parquet) at a time, references first: families, then people, "
    "then programme, then the outcome sources. It is checked whole before anything is kept, "
    "its identifiers are replaced by pseudonyms, and any problem refuses the whole file with "
    "the list of what to fix: the store is then unchanged. Expected columns: docs/guides/"
    "data-steward.md, *Loading agency extracts*, or the samples in data/samples/."
)

demo = dashboard.get_overview().description.get("kind") == "demo"
if demo:  # said before the upload, not after a refused one
    st.info(
        "**This is the synthetic demo store, which takes no loads.** To load agency extracts, "
        "start tf-eval on a store of your own: set TF_EVAL_DB to a new file (the first load "
        "creates it) and restart the dashboard. The form below shows what a load needs.",
        icon=":material/science:",
    )
source = st.selectbox("Source", SOURCES, help="Which agency's extract this file is.")
st.caption(f"Columns of a {source} extract: " + ", ".join(CONTRACTS[source].names))
upload = st.file_uploader("Extract file", type=["csv", "parquet"], disabled=demo)
if st.button("Check and load", type="primary", icon=":material/upload:", disabled=demo):
    if upload is None:
        st.warning("Choose a file to load first.", icon=":material/upload_file:")
    else:
        loaded = dashboard.load_extract(source, upload.name, upload.getvalue())
        if loaded is not None:
            linked = f"{loaded.rows:,} of {loaded.offered:,} records linked to a known person"
            st.success(
                f"Loaded **{markdown(loaded.file_name)}** as load {loaded.load_id}: "
                f"{loaded.rows:,} {loaded.source} records. Linkage: "
                + (
                    f"{linked} ({loaded.rows / loaded.offered:.1%}); the rest were dropped."
                    if loaded.rows < loaded.offered
                    else "every record linked."
                ),
                icon=":material/check_circle:",
            )
            st.page_link(
                "views/data.py", label="See it on Data & linkage", icon=":material/database:"
            )
