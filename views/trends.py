"""Outcomes over time: supported and matched comparison families month by month around the index
date, so the crisis before support and the recovery after are visible, with the gap between
the groups."""

import streamlit as st

import dashboard
from tf_eval import config
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.method.estimate import AnalysisSpec
from tf_eval.release import charts
from tf_eval.release.headlines import gathered_outcomes, trend_versus_effect

summary = dashboard.get_overview()
la, cohort = dashboard.selection_sidebar(summary)
source = charts.selection_source(charts.data_source(summary.description), la, cohort)

dashboard.page_title("Outcomes over time", la, cohort)
st.caption(
    "Month 0 is the month the family was identified (supported families were attached to "
    f"support within {config.ATTACHED_WITHIN_MONTHS} months of it). Both groups worsen in the "
    "year before: families are identified in a crisis. After it, both recover; the gap between "
    "them is what support adds. Bands are 95% intervals. A month's gap is smaller than the "
    f"effect on Impact for {' and '.join(gathered_outcomes())}, whose effect counts the whole "
    "follow-up, not one month (see under each chart)."
)
follow_up = st.radio(
    "Follow-up", config.FOLLOW_UP_MONTHS, horizontal=True, format_func=lambda m: f"{m} months"
)
tables = dashboard.get_trends(AnalysisSpec(la=la, cohort=cohort, follow_up_months=int(follow_up)))
if tables is None:
    st.stop()
for outcome, table in tables.items():
    dashboard.chart(charts.trend_chart(table, outcome, source), f"{outcome}-over-time")
    st.caption(
        f"{OUTCOMES[outcome].label}: {OUTCOMES[outcome].population}. "
        + trend_versus_effect(outcome, int(follow_up))
    )
