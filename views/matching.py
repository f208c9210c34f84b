"""Matching & balance: for evaluators, choose the matching model and see at once whether it
balances the groups, where their scores overlap, and what it does to the estimates."""

import streamlit as st

import dashboard
from tf_eval import config
from tf_eval.data.outcomes import in_theme_order
from tf_eval.governance.untrusted import markdown
from tf_eval.method.covariates import covariate_words, listed_words
from tf_eval.method.estimate import (
    COMPARISON_POOLS,
    COMPARISON_WORDS,
    DEFAULT_COVARIATES,
    DEFAULT_EXACT,
    EXACT_KEYS,
    MAX_RATIO,
    AnalysisSpec,
    EvaluationError,
)
from tf_eval.method.estimators import ESTIMATORS
from tf_eval.release import charts
from tf_eval.release.balance_view import NOT_APPLICABLE, balance_rows
from tf_eval.release.headlines import comparison_rows, selection_words
from tf_eval.release.results import (
    effective_size_sentence,
    families_in_analysis,
    unmatched_warning,
)

summary = dashboard.get_overview()
la, cohort = dashboard.selection_sidebar(summary)
source = charts.selection_source(charts.data_source(summary.description), la, cohort)

dashboard.page_title("Matching & balance", la, cohort)
st.caption(
    "Each supported family is matched to comparison families with a similar propensity score "
    "(the modelled chance of being supported, from the covariates chosen here). Good matching "
    "leaves every covariate within 0.1 standard deviations between the groups."
)

with st.form("matching"):
    covariates = st.multiselect(
        "Covariates in the propensity model",
        DEFAULT_COVARIATES,
        default=DEFAULT_COVARIATES,
        format_func=covariate_words,
    )
    left, middle, right = st.columns(3)
    ratio = left.number_input(
        "Comparison families per supported family", min_value=1, max_value=MAX_RATIO, value=1
    )
    caliper = middle.number_input(
        "Caliper (SDs of the score; 0 = none)",
        min_value=0.0,
        max_value=2.0,
        value=0.0,
        step=0.05,
        help="Leave supported families unmatched rather than accept a distant match.",
    )
    follow_up = right.radio(
        "Follow-up", config.FOLLOW_UP_MONTHS, horizontal=True, format_func=lambda m: f"{m} months"
    )
    exact = st.multiselect(
        "Match exactly on", EXACT_KEYS, default=DEFAULT_EXACT, format_func=covariate_words
    )
    replace = st.toggle(
        "Match with replacement (a comparison family may serve several supported families)",
        value=True,
    )
    first, second = st.columns(2)
    comparison = first.radio(
        "Compare supported families with",
        COMPARISON_POOLS,
        format_func=COMPARISON_WORDS.get,
        help="Families not yet supported when their follow-up ended (some are supported later, "
        "some never), or only those supported later: a check that never-supported families "
        "are not different in ways the records miss.",
    )
    estimator = second.selectbox(
        "Headline estimator (all three are shown on Impact)",
        list(ESTIMATORS),
        index=list(ESTIMATORS).index(config.DEFAULT_ESTIMATOR),
        format_func=lambda key: ESTIMATORS[key].label,
        help="Each rests on its own assumption; the Impact page shows them side by side.",
    )
    st.form_submit_button("Match and estimate", type="primary", icon=":material/play_arrow:")

try:
    spec = AnalysisSpec(
        covariates=tuple(covariates),
        ratio=int(ratio),
        caliper=float(caliper) or None,
        replace=replace,
        exact=tuple(exact),
        follow_up_months=int(follow_up),
        la=la,
        cohort=cohort,
        estimator=estimator,
        comparison=comparison,
    )
except EvaluationError as exc:
    st.error(f"Check the form: {exc}.", icon=":material/error:")
    st.stop()

results = dashboard.get_results(spec)
if results is None:
    st.stop()

matching = results.matching
counts = dict(zip(matching.counts.frame["group"], matching.counts.labels()["units"], strict=True))
columns = st.columns(4)
for column, (key, label) in zip(
    columns,
    {
        "treated": "Supported families",
        "treated_matched": "of them matched",
        "comparison_pool": "Comparison pool",
        "comparison_matched": "Comparisons used",
    }.items(),
    strict=True,
):
    column.metric(label, counts[key])
st.caption(matching.counts.note())
effective = effective_size_sentence(matching)
if effective:
    st.caption(effective)
with st.expander("Where every family of the selection went"):
    dashboard.table(families_in_analysis(results), hide_index=True, width="stretch")
    st.caption(
        "Together these are the families identified in this selection. Each count is rounded "
        "on its own, so they add up to the Overview's totals only to within the rounding; and "
        "the Overview's families attached to support include those attached later, who are "
        "in the comparison pool or left out here."
    )
unmatched = unmatched_warning(matching)
if unmatched:
    st.warning(unmatched, icon=":material/warning:")
if matching.dropped_covariates:
    st.info(
        "Left out because they do not vary in this selection, or (a level the year before) "
        f"fewer than {config.PRE_LEVEL_MIN_FAMILIES} supported or comparison families had it: "
        + listed_words(matching.dropped_covariates)
        + ".",
        icon=":material/info:",
    )

# One chart a row: side by side, each was too narrow on a 1024 px screen to read whole.
dashboard.chart(charts.love_plot(matching.balance, source), "love-plot")
overlap = matching.overlap
dashboard.chart(charts.overlap_chart(overlap["treated"], overlap["comparison"], source), "overlap")
order = in_theme_order(e.outcome for e in results.estimates)  # as the other pages list them
effects = charts.effects_chart(
    sorted(results.estimates, key=lambda e: order.index(e.outcome)),
    source,
    spec.follow_up_months,
    naive=results.naive,
    placebo=results.placebo,
)
dashboard.chart(effects, "matched-vs-naive")

with st.expander("Balance table (MatchIt/cobalt conventions)"):
    dashboard.table(balance_rows(matching.balance), hide_index=True, width="stretch")
    st.caption(
        "SMD: difference in means over the supported families' standard deviation (for a 0/1 "
        "covariate, sqrt(p(1 - p)), as MatchIt's summary does). cobalt reports a 0/1 covariate "
        "by its raw difference in proportions instead: the difference in means column. Variance "
        f"ratios (supported over comparison) are for continuous covariates only ({NOT_APPLICABLE} "
        "for a 0/1 covariate, whose variance its mean fixes); the largest eCDF gap is the "
        "largest difference between the two groups' cumulative distributions (0 to 1). The "
        "propensity score is the modelled chance of being supported."
    )
    st.caption(matching.balance.note())

st.subheader("Save and compare analyses")


def _save(chosen: AnalysisSpec) -> None:
    """Save before the page reruns, so that a saved name can be cleared from the box and a
    refused one stays in it to be mended (a form cleared on submit lost it)."""
    name = st.session_state["save_name"]
    problem = dashboard.save_spec(name, chosen)
    st.session_state["save_outcome"] = (name.strip(), problem)
    if not problem:
        st.session_state["save_name"] = ""


with st.form("save"):
    st.text_input(
        "Name this analysis", placeholder="e.g. caliper 0.2, no replacement", key="save_name"
    )
    st.form_submit_button(
        "Save analysis", icon=":material/bookmark_add:", on_click=_save, args=[spec]
    )
saved_name, problem = st.session_state.pop("save_outcome", (None, None))
if problem:
    st.error(f"Not saved: {markdown(problem)}.", icon=":material/error:")
elif saved_name:
    st.success(f"Saved as {markdown(repr(saved_name))}.", icon=":material/check:")

saved = dashboard.saved_specs()
if len(saved) < 2:
    st.info(
        "Save two analyses (for example with and without a caliper) to compare them here side "
        "by side.",
        icon=":material/compare:",
    )
    st.stop()
names = list(saved)
left, right = st.columns(2)
chosen = [
    left.selectbox("Compare", names, index=0, key="compare_first"),
    right.selectbox("with", names, index=1, key="compare_second"),
]
if chosen[0] == chosen[1]:
    st.info("Choose two different analyses to compare.", icon=":material/compare:")
    st.stop()
compared = {}
for column, name in zip((left, right), chosen, strict=True):
    with column:
        st.caption(dashboard.describe(saved[name]))
        results_of = dashboard.get_results(saved[name])
        if results_of is None:
            continue
        labels = dict(
            zip(
                results_of.matching.counts.frame["group"],
                results_of.matching.counts.labels()["units"],
                strict=True,
            )
        )
        balance = results_of.matching.balance.table()["smd_after"].abs()
        one, two = st.columns(2)
        one.metric("Supported families matched", labels["treated_matched"])
        two.metric(
            "Largest |SMD| after matching",
            "c" if balance.isna().all() else f"{balance.max():.3f}",
        )
        compared[name] = results_of.estimates
if len(compared) < 2:  # the reason for the missing one is shown above it
    st.stop()
# Both analyses in one table and one chart, on the same axes: side by side, two charts each
# scaled to itself could not be compared, and each was too narrow to read at 1024 px.
st.markdown("**Effects of the two analyses, and their difference**")
dashboard.table(comparison_rows(*compared.items()), hide_index=True, width="stretch")
st.caption(
    "Each cell is the effect and, in brackets, its 95% interval; the difference is the second "
    "analysis' effect minus the first's, from the released figures. The two analyses rest "
    "largely on the same families, so the difference has no interval of its own: read it "
    "against the intervals."
)
specs_of = [saved[name] for name in chosen]
selections = [selection_words(s.la, s.cohort) for s in specs_of]
source = f"{charts.data_source(summary.description)}. Selection: " + (
    selections[0]
    if selections[0] == selections[1]
    else f"first analysis {selections[0]}; second {selections[1]}"
)
months = sorted({s.follow_up_months for s in specs_of})
follow_up = " and ".join(f"{m}" for m in months) + "-month follow-up"
dashboard.chart(charts.comparison_chart(compared, source, follow_up), "compare")
