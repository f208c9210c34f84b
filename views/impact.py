"""Impact: each outcome's effect with the naive change and the placebo beside it, and how the
effect varies by local authority and by cohort."""

import streamlit as st

import dashboard
from tf_eval.data.outcomes import OUTCOMES, by_theme
from tf_eval.method.estimate import AnalysisSpec
from tf_eval.method.estimators import ESTIMATORS
from tf_eval.release import charts, national
from tf_eval.release.evidence import passing
from tf_eval.release.headlines import (
    breakdown_rows,
    display_unit,
    estimator_rows,
    headline,
    narrow_interval_note,
)
from tf_eval.release.results import findings

summary = dashboard.get_overview()
la, cohort = dashboard.selection_sidebar(summary)
source = charts.selection_source(charts.data_source(summary.description), la, cohort)

dashboard.page_title("Impact", la, cohort)
spec = AnalysisSpec(la=la, cohort=cohort)
results = dashboard.get_results(spec)
if results is None:
    st.stop()

st.subheader("Effect, naive change and placebo")
checks = findings(results)
estimates = {e.outcome: e for e in results.estimates}
dashboard.themed_charts(
    charts.effects_by_theme(
        results.estimates,
        source,
        spec.follow_up_months,
        naive=results.naive,
        placebo=results.placebo,
        passing=passing(checks),
    ),
    list(estimates),
    "impact",
)
placebo_clear = [
    OUTCOMES[p.outcome].label
    for p in results.placebo
    if not p.withheld and p.ci_low <= 0 <= p.ci_high
]
st.caption(
    "The naive change is what supported families' own before/after figures would suggest: it "
    "mixes the programme's effect with recovery from the crisis that brought families in. The "
    "placebo repeats the comparison a year earlier (the change between the two years before "
    "families were identified), when there was nothing to find: an interval around zero "
    "supports the comparison. "
    f"Placebo consistent with no difference: {', '.join(placebo_clear) or 'none'}."
)

st.subheader("How far each finding can be trusted")
verdict_words = (
    "Each finding's verdict (strong, moderate, weak or fails) is the worst its checks give: the "
    "placebo, the drift quarter by quarter before support, chance (with the outcomes read "
    "together), balance, how many supported families were matched, how much hidden bias it "
    "would take to explain it away, and whether the comparison is large enough. The chart's "
    "title counts only strong and moderate findings."
)
st.caption(" ".join(filter(None, (verdict_words, narrow_interval_note(results.estimates)))))
verdicts = {c.outcome: c for c in checks}
for theme, outcomes in by_theme(estimates).items():
    st.markdown(f"##### {theme}")
    for outcome in outcomes:
        check = verdicts[outcome]
        st.markdown(
            f"**{OUTCOMES[outcome].label}: {check.verdict}.** "
            f"{headline(estimates[outcome], spec.follow_up_months, check.caution)}\n"
            + "\n".join(f"- {reason}" for reason in check.reasons)
        )
dashboard.expected_form(spec.outcomes)

st.subheader("Beside the national study")
st.caption(
    f"The national Troubled Families impact study's figures ({national.SOURCE}) beside this "
    f"selection's estimates, for the outcomes both measure. {national.COLUMNS} A negative "
    f"difference is a fall. {national.CAVEAT}"
)
dashboard.table(national.comparison_rows(results.estimates, spec.follow_up_months), hide_index=True)

st.subheader("Three estimators, side by side")
headline_estimator = ESTIMATORS[spec.estimator]
st.caption(
    f"The figures above use the {headline_estimator.label.lower()}. Each estimator rests on its "
    "own assumption about what supported families' outcomes would have been without support; "
    "when they agree, the finding does not hang on one assumption. Each cell is the effect and, "
    "in brackets, its 95% interval, in "
    + "; ".join(f"{OUTCOMES[k].label}: {display_unit(k)}" for k in spec.outcomes)
    + "."
)
dashboard.table(estimator_rows(results.estimators), hide_index=True)
st.markdown(
    "\n".join(f"- **{e.label}** assumes {e.assumption}." for e in ESTIMATORS.values())
    + "\n\nThe doubly robust interval is a large-sample one: with about a thousand families or "
    "fewer (one local authority's cohort, say) it is too narrow (method notes, Monte Carlo "
    "study)."
)

st.subheader("Where and when")
left, right = st.columns(2)  # the choices side by side, the chart full width below
dimension = left.radio(
    "Break down by", ["la", "cohort"], format_func={"la": "Local authority", "cohort": "Cohort"}.get
)
outcome = right.selectbox(
    "Outcome",
    [k for keys in by_theme(OUTCOMES).values() for k in keys],
    format_func=lambda k: f"{OUTCOMES[k].theme}: {OUTCOMES[k].label}",
)
table = summary.by_la_cohort.frame
if dimension == "la":
    groups = [la] if la else sorted(table["la_code"].unique())
    label = "Local authority"
else:
    groups = [cohort] if cohort else sorted(int(c) for c in table["cohort"].unique())
    label = "Cohort"
base = AnalysisSpec(la=la, cohort=cohort)
by_group, refused = dashboard.get_breakdown(base, dimension, groups)
estimates = {
    group: next(e for e in result.estimates if e.outcome == outcome)
    for group, result in by_group.items()
}
dashboard.chart(
    charts.breakdown_chart(estimates, outcome, label, source, refused),
    f"{outcome}-by-{dimension}",
)
dashboard.table(breakdown_rows(estimates, label, spec.follow_up_months), hide_index=True)
