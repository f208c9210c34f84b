"""Overview: who is in the store and what the records cover, for programme managers."""

import streamlit as st

import dashboard
from tf_eval import config
from tf_eval.method.estimate import AnalysisSpec
from tf_eval.release import charts
from tf_eval.release.evidence import passing
from tf_eval.release.headlines import themed_headlines
from tf_eval.release.results import families_in_analysis, findings

summary = dashboard.get_overview(("by_la_cohort",))
la, cohort = dashboard.selection_sidebar(summary)
source = charts.data_source(summary.description)
selected = charts.selection_source(source, la, cohort)

dashboard.page_title("Overview", la, cohort)
if summary.description.get("kind") == "demo":
    st.warning(
        f"**Synthetic data.** Everything here comes from a made-up demo store "
        f"(seed {summary.description.get('seed')}): no real family is in it. "
        "Effects were planted so the method can be checked against a known truth.",
        icon=":material/science:",
    )

table = summary.by_la_cohort
if table.frame.empty:
    st.info("The store holds no families yet. Load agency extracts or build the demo store.")
    st.stop()

st.subheader("What support changed")
spec = AnalysisSpec(la=la, cohort=cohort)
results = dashboard.get_results(spec)
if results is not None:
    checks = findings(results)  # each finding's verdict words its headline (issue 18)
    themed = themed_headlines(results.estimates, [c.caution for c in checks], spec.follow_up_months)
    st.markdown(
        "\n\n".join(
            f"**{theme}**\n" + "\n".join(f"- {line}" for line in lines)
            for theme, lines in themed.items()
        )
    )
    dashboard.themed_charts(
        charts.effects_by_theme(
            results.estimates, selected, spec.follow_up_months, passing=passing(checks)
        ),
        [e.outcome for e in results.estimates],
        "effects",
    )
    st.caption(
        "Supported families are compared with similar families identified at the same time in "
        "the same area who were not (yet) supported, matched on their records in the year "
        "before. Evaluators can change the matching on the Matching & balance page."
    )
    with st.expander("Who is compared: where every family of the selection went"):
        dashboard.table(families_in_analysis(results), hide_index=True, width="stretch")

left, middle, right, last = st.columns(4)
left.metric("Families identified", f"{table.total('families'):,}")
middle.metric("People in them", f"{table.total('people'):,}")
right.metric("Attached to support", f"{table.total('supported'):,}")
last.metric("Local authorities", f"{table.frame['la_code'].nunique()}")
st.caption(
    "These totals add up the rounded cells of the chart below, so they can differ by a few "
    "from a total rounded once (Data & linkage rounds each load's rows), and not every family "
    "attached to support counts as supported in the analysis: only those attached within "
    f"{config.ATTACHED_WITHIN_MONTHS} months of identification do, while those attached later "
    "are in its comparison pool or left out (*Who is compared*, above, lists where every "
    f"family went). {table.note()}"
)

st.subheader("Who is in the store")
st.caption("Every local authority and cohort: this part is not filtered by the selection.")
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
dashboard.chart(
    charts.la_cohort_heatmap(table, measure, charts.whole_store_source(source)),
    f"{measure}-by-la-cohort",
)

st.caption("What the records cover, source by source and year by year: see Data & linkage.")

with st.expander("The numbers behind these charts"):
    dashboard.table(table.labels(), hide_index=True, width="stretch")
