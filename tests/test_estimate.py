"""The estimates: the shared estimator against a hand-written formula, and the whole evaluation
against the truth planted in the demo store."""

import shutil
import threading
import time
from functools import partial
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.test_synth import CRISIS_SHOWS
from tf_eval.data import coverage, store
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.data.record_keys import record_keys
from tf_eval.method.estimate import (
    AnalysisSpec,
    EvaluationError,
    Inference,
    evaluate,
    match_units,
    prepare,
    weighted_difference,
)
from tf_eval.method.estimators import (
    DR_DID,
    HEAD_ROWS,
    MATCHED_DID,
    PRE_LEVELS,
    RECENT_COLUMN,
    OutcomeModel,
    _gathered,
    _varying,
    doubly_robust_estimate,
    matched_estimate,
    matched_estimates,
    outcome_covariates,
    rare_event_df,
    with_df_at_most,
)
from tf_eval.method.panel import build_panel
from tf_eval.method.tasks import run_shared
from tf_eval.method.unit_matching import too_rare
from tf_eval.release.disclosure import NOT_ESTIMABLE
from tf_eval.release.results import safe_evaluation, to_json
from tf_eval.release.trends import monthly_trends


def _cluster_robust_difference(y, treated, w, groups):
    """WLS of y on (1, treated) with CR1 cluster-robust variance, written out by hand."""
    X = np.column_stack([np.ones_like(y), treated.astype(float)])
    bread = np.linalg.inv(X.T @ (w[:, None] * X))
    beta = bread @ X.T @ (w * y)
    scores = X * (w * (y - X @ beta))[:, None]
    labels = np.unique(groups)
    meat = sum(np.outer(s, s) for s in (scores[groups == g].sum(0) for g in labels))
    n, k, g = len(y), X.shape[1], len(labels)
    variance = bread @ meat @ bread * g / (g - 1) * (n - 1) / (n - k)
    return beta[1], np.sqrt(variance[1, 1])


def test_weighted_difference_is_the_weighted_mean_difference_with_clustered_errors() -> None:
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 3)
    treated = groups < 20
    y = rng.normal(size=120) + 0.5 * treated + rng.normal(size=40)[groups]
    w = rng.uniform(0.5, 2, 40)[groups]
    w[5] = 0  # an unmatched person takes no part
    est = weighted_difference("x", y, treated, w, groups, inference=Inference("CR1"))
    keep = w > 0
    manual = np.average(y[treated & keep], weights=w[treated & keep]) - np.average(
        y[~treated & keep], weights=w[~treated & keep]
    )
    assert est.att == pytest.approx(manual, abs=1e-12)
    beta, se = _cluster_robust_difference(y[keep], treated[keep], w[keep], groups[keep])
    assert est.att == pytest.approx(beta, abs=1e-12)
    assert est.se == pytest.approx(se, rel=1e-9)
    assert est.ci_low < est.att < est.ci_high
    # 40 families and 2 parameters (intercept, treatment): 38 residual df; the t has 39.
    assert (est.families_treated, est.families_comparison) == (20, 20)
    assert (est.df_resid, est.df_t) == (38, 39)
    assert (est.n_treated, est.n_comparison) == (59, 60)


@pytest.fixture(scope="module")
def demo_evaluation(default_demo_db: Path):
    return evaluate(store.Store(default_demo_db), AnalysisSpec())


def _truth(path: Path) -> dict[str, float]:
    with duckdb.connect(str(path), read_only=True) as con:
        return dict(
            con.execute(
                "SELECT outcome, true_att FROM demo_truth WHERE la_code IS NULL "
                "AND cohort IS NULL AND follow_up_months = 12"
            ).fetchall()
        )


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_the_matched_estimate_is_near_the_planted_truth(
    default_demo_db: Path, demo_evaluation, outcome: str
) -> None:
    """Within 3 standard errors of the truth: nine 95% intervals from one seed would all cover
    it only 63% of the time for a perfect method (the Monte Carlo study measures coverage)."""
    estimate = {e.outcome: e for e in demo_evaluation.estimates}[outcome]
    truth = _truth(default_demo_db)[outcome]
    assert abs(estimate.att - truth) < 3 * estimate.se, (estimate, truth)


def test_outcomes_of_the_same_people_share_a_doubly_robust_fit_that_changes_nothing(
    default_demo_db: Path, demo_evaluation
) -> None:
    """The evaluation fits the doubly robust DiD once for outcomes of the same people (children
    in care and on a protection plan; juveniles' custody and convictions); each outcome's
    estimate is the one it gets fitted alone."""
    panel, matching = prepare(store.Store(default_demo_db), AnalysisSpec())
    np.testing.assert_array_equal(matching.weights, demo_evaluation.matching.weights)
    recent = panel.families.filter(regex=RECENT_COLUMN)
    model = OutcomeModel.of(outcome_covariates(matching.covariates, matching.treated, recent))
    shared = {e.outcome: e for e in demo_evaluation.by_estimator[DR_DID]}
    assert panel.people["looked_after"]["person_id"].equals(
        panel.people["child_protection"]["person_id"]
    )
    for outcome in OUTCOMES:
        people = panel.people[outcome]
        alone = doubly_robust_estimate(
            outcome,
            (people["post"] - people["pre"]).to_numpy(),
            people["family_row"].to_numpy(),
            matching.treated,
            model,
            (record_keys(people["person_id"]), matching.keys),
            Inference(),
        )
        together = shared[outcome]
        assert together.att == pytest.approx(alone.att, rel=1e-12, abs=1e-15), outcome
        assert together.se == pytest.approx(alone.se, rel=1e-12, abs=1e-15), outcome
        assert together.keys == alone.keys


@pytest.mark.parametrize(
    ("spec", "how"),
    [
        (AnalysisSpec(), Inference()),
        (AnalysisSpec(la="LA03", cohort=2017), Inference()),  # thin outcome models
        (AnalysisSpec(estimator=MATCHED_DID), Inference("CR1")),
    ],
    ids=["default", "one LA x cohort", "matched DiD headline, CR1"],
)
def test_the_two_matched_estimators_share_a_gathering_that_changes_nothing(
    default_demo_db: Path, spec: AnalysisSpec, how: Inference
) -> None:
    """The evaluation fits the matched DiD and the pre-level adjustment of an outcome (and the
    headline's placebo) on one gathering of the matched families (estimators.matched_pair);
    each estimate is the one it gets fitted alone, the thin models chosen alike."""
    current = store.Store(default_demo_db)
    evaluation = evaluate(current, spec, inference=how)
    panel, matching = prepare(current, spec)
    recent = panel.families.filter(regex=RECENT_COLUMN)
    model = OutcomeModel.of(outcome_covariates(matching.covariates, matching.treated, recent))
    placebos = {e.outcome: e for e in evaluation.placebo}
    models = set()
    for outcome in OUTCOMES:
        people = panel.people[outcome]
        change = (people["post"] - people["pre"]).to_numpy()
        earlier = (people["pre"] - people["placebo"]).to_numpy()
        args = (
            people["family_row"].to_numpy(),
            matching.treated,
            matching.weights,
            model,
            (record_keys(people["person_id"]), matching.keys),
            how,
        )
        for estimator in (MATCHED_DID, PRE_LEVELS):
            alone = matched_estimate(estimator, outcome, change, *args)
            shared = next(e for e in evaluation.by_estimator[estimator] if e.outcome == outcome)
            _same(shared, _capped_like(alone, shared), outcome)
            models.add(alone.outcome_model)
        if outcome != "attendance":  # its placebo has people of its own: fitted apart
            _, placebo = matched_estimates(spec.estimator, outcome, (change, earlier), *args)
            _same(placebos[outcome], _capped_like(placebo, placebos[outcome]), outcome)
    if spec.la:
        assert "pre-levels" in models  # the thin model was exercised


def _capped_like(alone, shared):
    """`alone` as the evaluation then releases it: a 0/1 outcome's df capped by its families
    holding the rarer answer (test_rare_events has the cap itself)."""
    if shared.informative_families is None:
        return alone
    cap = rare_event_df(shared.informative_families)
    assert shared.df_t == pytest.approx(min(alone.df_t, cap), rel=1e-6)
    return with_df_at_most(alone, cap)


def _same(shared, alone, outcome: str) -> None:
    for field in ("att", "se", "ci_low", "ci_high"):
        assert getattr(shared, field) == pytest.approx(
            getattr(alone, field), rel=1e-9, abs=1e-13, nan_ok=True
        ), (outcome, field)
    assert shared.df_t == pytest.approx(alone.df_t, rel=1e-6, nan_ok=True), outcome
    assert (shared.outcome_model, shared.keys) == (alone.outcome_model, alone.keys), outcome
    assert (shared.n_treated, shared.n_comparison) == (alone.n_treated, alone.n_comparison)


@pytest.mark.parametrize("outcome", CRISIS_SHOWS)
def test_the_naive_change_misses_the_truth_as_the_crisis_predicts(
    default_demo_db: Path, demo_evaluation, outcome: str
) -> None:
    """The crisis around identification moves every family's outcomes, so supported families'
    own before/after change is no estimate of what support did."""
    naive = {e.outcome: e for e in demo_evaluation.naive}[outcome]
    truth = _truth(default_demo_db)[outcome]
    assert not naive.ci_low <= truth <= naive.ci_high, (naive.att, truth)


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_the_placebo_finds_nothing(demo_evaluation, outcome: str) -> None:
    """Within 3 standard errors of zero: with eight intervals from one seed, a 95% interval
    test would fail a third of the time for a perfect method (the Monte Carlo study in
    studies/ measures coverage properly)."""
    placebo = {e.outcome: e for e in demo_evaluation.placebo}[outcome]
    assert abs(placebo.att / placebo.se) < 3, placebo


def test_the_placebo_catches_an_unmatched_comparison(default_demo_db: Path) -> None:
    """The placebo has power: comparing supported families with every comparison family,
    unmatched, shows the difference in their pre-trends that selection on need creates."""
    panel = build_panel(store.Store(default_demo_db), 12, None, None)
    z = []
    for key in OUTCOMES:
        people = panel.people[key].merge(panel.families[["family_id", "treated"]])
        people = people[people["placebo"].notna()]
        e = weighted_difference(
            key,
            (people["pre"] - people["placebo"]).to_numpy(),
            people["treated"].to_numpy(),
            np.ones(len(people)),
            people["family_id"].to_numpy(),
        )
        z.append(abs(e.att / e.se))
    assert max(z) > 5, z


def test_matching_balances_the_covariates(demo_evaluation) -> None:
    balance = demo_evaluation.matching.balance.set_index("covariate")
    assert (balance["smd_before"].abs() > 0.1).sum() >= 3  # selection on need was real
    assert (balance["smd_after"].abs() < 0.1).all()
    counts = demo_evaluation.matching.counts
    # With replacement (the default) every supported family finds a match.
    assert counts["treated_matched"] == counts["treated"]
    assert 0 < counts["comparison_matched"] <= counts["comparison_pool"]


def test_the_evaluation_keeps_the_propensity_designs_columns_but_none_of_its_rows(
    demo_evaluation,
) -> None:
    """The rows were every family's design (365 MB at national scale), held through the
    estimates' memory peak by an empty slice, which is a view of them all."""
    kept = demo_evaluation.matching.covariates
    assert len(kept) == 0 and "n_adults" in kept.columns
    root = kept.to_numpy()
    while root.base is not None:
        root = root.base
    assert root.nbytes == 0


def test_the_json_has_every_outcome_with_intervals_and_only_protected_counts(
    demo_evaluation,
) -> None:
    result = to_json(safe_evaluation(demo_evaluation))
    assert set(result) >= {"options", "counts", "balance", "estimates", "disclosure"}
    assert [row["outcome"] for row in result["estimates"]] == list(OUTCOMES)
    for row in result["estimates"]:
        assert not row["suppressed"] and row["ci_low"] < row["att"] < row["ci_high"]
    counts = [*result["counts"].values()] + [
        row[k] for row in result["estimates"] for k in ("n_treated", "n_comparison")
    ]
    assert all(c == "c" or (isinstance(c, int) and c % 5 == 0 and c >= 10) for c in counts)
    assert result["balance"][0]["covariate"] == "distance"
    assert {"la_codeLA01", "la_codeLA08", "cohort2014"} <= {
        r["covariate"] for r in result["balance"]
    }


def test_a_small_selection_withholds_estimates(default_demo_db: Path) -> None:
    """One LA, one cohort, with a caliper so tight that few families match."""
    spec = AnalysisSpec(la="LA08", cohort=2019, caliper=0.0002, outcomes=("offending",))
    result = to_json(safe_evaluation(evaluate(store.Store(default_demo_db), spec)))
    (row,) = result["estimates"]
    assert row["suppressed"] and row["att"] is None and "fewer than 10 families" in row["reason"]
    assert {"item": "estimate:offending", "rule": "estimate", "reason": row["reason"]} in result[
        "disclosure"
    ]["suppressed"]
    assert "la_code" in result["dropped_covariates"]


def test_a_rare_outcome_nobody_had_is_withheld_with_its_reason(default_demo_db: Path) -> None:
    """Rare outcomes make small cells (issue 19). In LA07's 2016 cohort no 10-17-year-old of the
    matched families was given custody in either window: no estimate can be made, and the JSON
    says why, as the gate records it; the other outcomes are shown. The pre-levels too rare in
    the cohort are left out of the matching rather than separating the model."""
    current = store.Store(default_demo_db)
    spec = AnalysisSpec(la="LA07", cohort=2016)
    try:
        panel, matching = prepare(current, spec)
        result = to_json(safe_evaluation(evaluate(current, spec, panel=panel)))
    finally:
        current.close()
    juveniles = panel.people["custody_juvenile"]
    matched = matching.weights[juveniles["family_row"].to_numpy()] > 0
    assert matched.sum() > 50 and (juveniles.loc[matched, ["pre", "post"]] == 0).all().all()
    rows = {row["outcome"]: row for row in result["estimates"]}
    row = rows["custody_juvenile"]
    assert row["suppressed"] and row["att"] is None and row["se"] is None
    assert row["reason"] == NOT_ESTIMABLE and "none had the event" in row["reason"]
    suppressed = result["disclosure"]["suppressed"]
    assert any(s["item"].endswith("custody_juvenile") and s["reason"] == NOT_ESTIMABLE
               for s in suppressed)  # fmt: skip
    assert all(not rows[key]["suppressed"] for key in ("attendance", "worklessness", "ae_use"))
    # The 0/1 outcomes are shown, or withheld with a reason a reader can act on: none had the
    # event, or too few had it.
    few = "fewer than 20 people with the outcome, or without it, among those compared"
    assert all(row["reason"] in (None, NOT_ESTIMABLE, few) for row in rows.values())
    assert "pre_custody_juvenile" in result["dropped_covariates"]


def test_a_store_without_social_care_withholds_its_two_outcomes(
    demo_db: Path, tmp_path: Path
) -> None:
    """A council that has loaded no social care extract (every store before issue 19): nobody
    starts an episode, so neither social care outcome can be estimated, by any estimator, and
    each says why; the other outcomes are estimated as ever."""
    path = tmp_path / "no-care.duckdb"
    shutil.copyfile(demo_db, path)
    with duckdb.connect(str(path)) as con:
        con.execute("DELETE FROM social_care")
        coverage.record_coverage(con)
    current = store.Store(path)
    try:
        result = to_json(safe_evaluation(evaluate(current, AnalysisSpec())))
    finally:
        current.close()
    for part in ("estimates", "estimators", "naive", "placebo"):
        for row in result[part]:
            care = row["outcome"] in ("looked_after", "child_protection")
            assert (row["att"] is None and row["reason"] == NOT_ESTIMABLE) == care, (part, row)
    verdicts = {row["outcome"]: row["verdict"] for row in result["checks"]}
    assert verdicts["looked_after"] == verdicts["child_protection"] == "fails"
    assert {"pre_looked_after", "pre_child_protection"} <= set(result["dropped_covariates"])


def test_columns_that_vary_are_found_past_the_first_rows() -> None:
    rng = np.random.default_rng(5)
    x = np.ones((3 * HEAD_ROWS, 5))
    x[:, 0] = rng.random(len(x))  # varies at once
    x[-1, 1] = 2.0  # constant until the last row
    x[HEAD_ROWS, 2] = -0.5  # constant until just past the first rows
    x[:, 4] = 0.0  # constant throughout
    every, columns = np.arange(len(x)), np.arange(5)
    assert _varying(x, every, columns).tolist() == [True, True, True, False, False]
    assert (_varying(x, every, columns) == (x.max(axis=0) > x.min(axis=0))).all()
    # Among some rows and columns alone: the last row left out, column 1 is constant.
    assert _varying(x, every[:-1], np.array([1, 2])).tolist() == [False, True]
    assert _varying(x, every[:0], columns).tolist() == [True] * 5  # nothing to tell


def test_the_doubly_robust_covariates_come_in_one_c_ordered_gather() -> None:
    """dr_dids standardises its covariates in place only when they are a C-ordered array of the
    estimate's own: anything else it copies (at national scale 0.6 GB more, beside the first)."""
    values = np.arange(12.0).reshape(4, 3)
    values.flags.writeable = False
    some = _gathered(values, np.array([0, 2, 3]), np.array([0, 2]))
    assert some.flags.c_contiguous and some.flags.writeable
    assert some.tolist() == [[0.0, 2.0], [6.0, 8.0], [9.0, 11.0]]
    columns = _gathered(values, np.arange(4), np.array([1, 2]))
    assert columns.flags.c_contiguous and columns.tolist() == values[:, 1:].tolist()
    assert _gathered(values, np.arange(4), np.arange(3)) is values  # all of it: dr_dids copies


def test_a_rare_pre_level_is_left_out_rather_than_separating_the_model() -> None:
    """A pre-window level above zero in fewer than config.PRE_LEVEL_MIN_FAMILIES families of a
    group (here 3 supported families, no comparison one) would separate the propensity model;
    among `rare` it is left out and reported, anywhere else it is refused as before."""
    rng = np.random.default_rng(5)
    n = 400
    treated = np.arange(n) % 2 == 0
    units = pd.DataFrame(
        {
            "common": rng.normal(size=n) + 0.3 * treated,
            "rare": np.where(np.isin(np.arange(n), [0, 2, 4]), 0.5, 0.0),
            "often": (rng.random(n) < 0.2).astype(float),  # above zero in ~40 of each group
        }
    )
    kept = match_units(
        units, treated, ["common", "rare", "often"], [], 1, None, True, rare=("rare", "often")
    )
    assert kept.dropped_covariates == ["rare"] and "often" in kept.covariates.columns
    assert too_rare(units["rare"].to_numpy(), treated)
    assert not too_rare(units["often"].to_numpy(), treated)
    with pytest.raises(EvaluationError, match="perfectly predicted by 'rare'"):
        match_units(units, treated, ["common", "rare"], [], 1, None, True)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"outcomes": ("happiness",)}, "unknown outcome 'happiness'"),
        ({"covariates": ("shoe_size",)}, "unknown covariate 'shoe_size'"),
        ({"exact": ("postcode",)}, "cannot match exactly on 'postcode'"),
        ({"ratio": 0}, "ratio must be between 1 and 10"),
        ({"caliper": -1.0}, "caliper must be a positive number"),
        ({"follow_up_months": 18}, "follow-up must be 12 or 24 months"),
    ],
)
def test_a_bad_spec_is_refused_with_a_reason(kwargs: dict, message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        AnalysisSpec(**kwargs)


def test_an_unknown_local_authority_is_named(default_demo_db: Path) -> None:
    with pytest.raises(EvaluationError, match="unknown local authority 'LA99'.*LA01"):
        evaluate(store.Store(default_demo_db), AnalysisSpec(la="LA99"))


def test_a_panel_built_once_serves_many_evaluations_unchanged(demo_db: Path) -> None:
    """The dashboard keeps one panel per selection while the matching changes: evaluating on it
    gives what building afresh gives, and leaves it as it was."""
    shared = store.Store(demo_db)
    panel = build_panel(shared, 12, None, None)

    def fingerprint() -> list[int]:
        frames = [panel.families, *panel.people.values()]
        return [int(pd.util.hash_pandas_object(f).sum()) for f in frames]

    before = fingerprint()
    reused = evaluate(shared, AnalysisSpec(caliper=0.1), panel=panel)
    monthly_trends(shared, AnalysisSpec(), panel)
    assert fingerprint() == before
    assert reused.estimates == evaluate(shared, AnalysisSpec(caliper=0.1)).estimates
    with pytest.raises(ValueError, match="another follow-up"):
        evaluate(shared, AnalysisSpec(follow_up_months=24), panel=panel)


def test_the_estimates_share_two_threads_and_never_run_two_heavy_ones_at_once() -> None:
    """The evaluation's scheduler: results come back in the order given, whichever thread ran
    them; the kinds in `first` start first; no two `heavy` tasks overlap (each holds copies of
    every family's covariates: at national scale two at once broke the memory budget)."""
    running, most, started = [0], [0], []
    guard = threading.Lock()

    def task(kind: str, value: int) -> int:
        with guard:
            started.append(kind)
            if kind == "heavy":
                running[0] += 1
                most[0] = max(most[0], running[0])
        time.sleep(0.02)
        with guard:
            running[0] -= kind == "heavy"
        return value

    kinds = ["light", "heavy", "light", "heavy", "heavy", "light", "heavy", "first"]
    tasks = [(kind, partial(task, kind, i)) for i, kind in enumerate(kinds)]
    assert run_shared(tasks, ("first", "heavy"), heavy=("heavy",)) == list(range(len(kinds)))
    assert most[0] == 1
    assert "first" in started[:2]


def test_a_failing_estimate_stops_the_others_and_is_raised() -> None:
    done = []

    def fail() -> None:
        raise EvaluationError("cannot be computed")

    def slow(i: int) -> None:
        time.sleep(0.01)
        done.append(i)

    tasks = [("light", fail)] + [("light", partial(slow, i)) for i in range(20)]
    with pytest.raises(EvaluationError, match="cannot be computed"):
        run_shared(tasks, (), heavy=())
    assert len(done) < 20
