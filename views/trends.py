"""Outcomes over time: supported and matched comparison families month by month around the index
date, so the crisis before support and the recovery after are visible, with the gap between
the groups; then the gap itself quarter by quarter (the event study), which shows whether the
groups were already drifting apart before support."""

import streamlit as st

import dashboard
from tf_eval import config
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.method.estimate import AnalysisSpec
from tf_eval.release import charts, time_charts
from tf_eval.release.headlines import gathered_outcomes, pretrend_words, trend_versus_effect

summary = dashboard.get_overview()
la, cohort = dashboard.selection_sidebar(summary)
source = charts.selection_source(charts.data_source(summary.description), la, cohort)

dashboard.page_title("Outcomes over time", la, cohort)
gathered = gathered_outcomes()  # their effect counts the whole follow-up
listed = ", ".join(gathered[:-1]) + " and " * (len(gathered) > 1) + gathered[-1]
st.caption(
    "Month 0 is the month the family was identified (supported families were attached to "
    f"support within {config.ATTACHED_WITHIN_MONTHS} months of it). Both groups worsen in the "
    "year before: families are identified in a crisis. After it, both recover; the gap between "
    "them is what support adds. Bands are 95% intervals. A month's gap is smaller than the "
    f"effect on Impact for {listed}, whose effect counts "
    "the whole follow-up, not one month (see under each chart)."
)
follow_up = st.radio(
    "Follow-up", config.FOLLOW_UP_MONTHS, horizontal=True, format_func=lambda m: f"{m} months"
)
spec = AnalysisSpec(la=la, cohort=cohort, follow_up_months=int(follow_up))
tables = dashboard.get_trends(spec)
if tables is None:
    st.stop()
for tab, outcomes, _ in dashboard.theme_tabs(list(tables)):
    with tab:
        for outcome in outcomes:
            dashboard.chart(
                time_charts.trend_chart(tables[outcome], outcome, source), f"{outcome}-over-time"
            )
            st.caption(
                f"{OUTCOMES[outcome].label}: {OUTCOMES[outcome].population}. "
                + trend_versus_effect(outcome, int(follow_up))
            )

st.subheader("The gap quarter by quarter")
st.caption(
    "Each point is how much more the supported families' outcome changed than their matched "
    "comparison families' since the quarter before identification (months -3 to -1, 0 by "
    "definition), from two years before to the end of follow-up, with its 95% interval, as "
    "the effect on Impact is estimated. Before month 0 support cannot have acted: points there "
    "away from 0 mean the groups were already drifting apart, and the effect may be that drift."
)
results = dashboard.get_results(spec)
if results is not None and results.event_study:
    studies = {study.outcome: study for study in results.event_study}
    for tab, outcomes, name in dashboard.theme_tabs(list(studies)):
        with tab:
            chosen = [studies[k] for k in outcomes]
            dashboard.chart(time_charts.event_study_chart(chosen, source), f"gap-by-quarter-{name}")
            st.caption(pretrend_words(chosen))
