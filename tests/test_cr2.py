"""CR2 standard errors and Bell-McCaffrey degrees of freedom: against R clubSandwich's numbers
(tests/data/clubsandwich_cr2.json, made by tests/data/clubsandwich_cr2.R), against a dense
textbook computation, the family-means fit against the people-level one, the thin-data rule, and
the intervals' coverage where CR1's falls short."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tf_eval import config
from tf_eval.data import store, synth
from tf_eval.method import cr2, estimators
from tf_eval.method.difference import (
    choose_outcome_model,
    family_differences,
    family_fit,
    family_profile,
)
from tf_eval.method.estimate import (
    AnalysisSpec,
    EvaluationError,
    Inference,
    family_difference,
    prepare,
    weighted_difference,
)
from tf_eval.method.estimators import outcome_covariates
from tf_eval.method.matchfile import match_file
from tf_eval.method.regression import fit_clustered_wls

REFERENCE = json.loads((Path(__file__).parent / "data" / "clubsandwich_cr2.json").read_text())
DATASETS = {d["name"]: d for d in REFERENCE["datasets"]}
FULL_MODEL = Inference("CR2", 0)  # the thin-data rule off: the reference fits the whole model


def _numbers(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _data(name: str):
    """The reference's rows of positive weight (lm drops the others), clusters coded 0..G-1,
    and the people behind each row where the reference gave a working variance."""
    d = DATASETS[name]
    x, y, w = np.array(d["X"]).T, np.array(d["y"]), np.array(d["w"])
    keep = w > 0
    groups = np.unique(np.array(d["cluster"])[keep], return_inverse=True)[1]
    people = None if d["target"] is None else 1 / np.array(d["target"])[keep]
    return y[keep], x[keep], w[keep], groups, people, d


def test_the_reference_says_how_it_was_made() -> None:
    assert "clubSandwich 0.5.8" in REFERENCE["about"] and "R version 4" in REFERENCE["about"]
    assert len(DATASETS) >= 5
    for d in REFERENCE["datasets"]:
        assert 20 <= len(d["y"]) <= 400, d["name"]


@pytest.mark.parametrize("name", list(DATASETS))
def test_cr2_and_its_degrees_of_freedom_are_clubsandwichs(name: str) -> None:
    y, x, w, groups, people, d = _data(name)
    every = tuple(range(x.shape[1]))
    fit = fit_clustered_wls(y, x, w, groups, protected=2, people=people, tested=every)
    coefficients = _numbers(d["coefficients"])
    aliased = np.isnan(coefficients)
    assert (~fit.kept).tolist() == aliased.tolist()  # lm's NA is tf-eval's dropped column
    np.testing.assert_allclose(fit.params[~aliased], coefficients[~aliased], rtol=1e-9)
    np.testing.assert_allclose(fit.bse[~aliased], _numbers(d["cr2_se"])[~aliased], rtol=1e-8)
    np.testing.assert_allclose(
        fit.dfs[~aliased], _numbers(d["satterthwaite_df"])[~aliased], rtol=0, atol=1e-6
    )
    p_values = [fit.p_value(j) for j in np.flatnonzero(~aliased)]
    np.testing.assert_allclose(p_values, _numbers(d["satterthwaite_p"])[~aliased], rtol=1e-6)
    assert fit.df == fit.dfs[d["columns"].index(d["treatment"])]
    assert fit.clusters == d["clusters"]


@pytest.mark.parametrize("name", ["unequal_clusters", "matching_weights", "high_leverage"])
def test_cr1_is_clubsandwichs_cr1s(name: str) -> None:
    """CR1 (statsmodels' factor G/(G-1) x (N-1)/(N-K)) is clubSandwich's CR1S; its CR1 lacks
    the second factor."""
    y, x, w, groups, people, d = _data(name)
    fit = fit_clustered_wls(y, x, w, groups, protected=2, people=people, variance="CR1")
    kept = fit.kept
    np.testing.assert_allclose(fit.bse[kept], _numbers(d["cr1s_se"])[kept], rtol=1e-8)
    assert not np.allclose(fit.bse[kept], _numbers(d["cr1_se"])[kept], rtol=1e-3)
    assert fit.df == fit.clusters - 1


@pytest.mark.parametrize("name", ["unequal_clusters", "families_means", "high_leverage_clusters"])
def test_blocks_of_rows_give_the_same_numbers(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With blocks of 7 rows, every cluster size and the one-row clusters span several blocks."""
    y, x, w, groups, people, d = _data(name)
    whole = fit_clustered_wls(y, x, w, groups, protected=2, people=people)
    monkeypatch.setattr(cr2, "BLOCK_ROWS", 7)
    blocked = fit_clustered_wls(y, x, w, groups, protected=2, people=people)
    assert blocked.bse[1] == pytest.approx(whole.bse[1], rel=1e-12)
    assert blocked.df == pytest.approx(whole.df, rel=1e-10)
    assert whole.df == pytest.approx(_numbers(d["satterthwaite_df"])[1], abs=1e-6)


def _dense(y, x, w, groups, theta):
    """CR2 and its Satterthwaite df the textbook way (Pustejovsky and Tipton 2018), with every
    n x n matrix formed: the treatment column (1)."""
    n = len(y)
    m = np.linalg.inv(x.T @ (w[:, None] * x))
    hat = x @ m @ x.T * w[None, :]
    residual = y - x @ (m @ x.T @ (w * y))
    big_theta = np.diag(theta)
    spread = (np.eye(n) - hat) @ big_theta @ (np.eye(n) - hat).T
    columns = []
    variance = 0.0
    for j in range(groups.max() + 1):
        rows = np.flatnonzero(groups == j)
        root = np.diag(np.sqrt(theta[rows]))
        values, vectors = np.linalg.eigh(root @ spread[np.ix_(rows, rows)] @ root)
        inverse_root = vectors @ np.diag(values**-0.5) @ vectors.T
        adjust = root @ inverse_root @ root
        g = adjust @ (w[rows] * (x[rows] @ m[:, 1]))
        variance += (g @ residual[rows]) ** 2
        column = np.zeros(n)
        column[rows] = g
        columns.append(column)
    g_all = np.array(columns).T
    p = g_all.T @ spread @ g_all
    return np.sqrt(variance), np.trace(p) ** 2 / np.sum(p**2)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_low_rank_degrees_of_freedom_are_the_dense_computation(seed: int) -> None:
    """Clusters of 1-6 rows, weights and a working variance that vary within clusters."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice([1, 1, 1, 2, 3, 6], 40)
    groups = np.repeat(np.arange(40), sizes)
    n = groups.size
    x = np.column_stack([np.ones(n), rng.random(n) < 0.4, rng.normal(size=(n, 3))])
    y = x @ rng.normal(size=5) + rng.normal(size=40)[groups] + rng.normal(size=n)
    w = rng.uniform(0.2, 3, n)
    people = rng.integers(1, 5, n).astype(float)
    fit = fit_clustered_wls(y, x, w, groups, protected=2, people=people)
    se, df = _dense(y, x, w, groups, 1 / people)
    assert fit.bse[1] == pytest.approx(se, rel=1e-9)
    assert fit.df == pytest.approx(df, rel=1e-9)
    assert 1 <= fit.df < fit.clusters - 1


def test_the_estimators_give_clubsandwichs_interval() -> None:
    """weighted_difference on one row per unit with an outcome model, on people in families,
    and family_difference on the same families: each the reference's treatment coefficient, SE,
    df and so its t interval and p-value."""
    cases = []
    y, x, w, groups, _, d = _data("matching_weights")
    everyone = np.array(d["w"]) >= 0
    raw_x, raw_w, raw_y = np.array(d["X"]).T, np.array(d["w"]), np.array(d["y"])
    cases.append(
        (
            weighted_difference(
                "y",
                raw_y,
                raw_x[:, 1] == 1,
                raw_w,
                np.arange(everyone.size),
                True,
                raw_x[:, 2:6],
                inference=FULL_MODEL,
            ),
            d,
        )
    )
    people = DATASETS["families_people"]
    px, py, pw = np.array(people["X"]).T, np.array(people["y"]), np.array(people["w"])
    family = np.array(people["cluster"]).astype(int) - 1
    cases.append(
        (
            weighted_difference(
                "y", py, px[:, 1] == 1, pw, family, True, px[:, 2:4], inference=FULL_MODEL
            ),
            people,
        )
    )
    fx = np.array(DATASETS["families_means"]["X"]).T
    firsts = np.unique(family, return_index=True)[1]
    cases.append(
        (
            family_difference(
                "y", py, family, fx[:, 1] == 1, pw[firsts], True, fx[:, 2:4], inference=FULL_MODEL
            ),
            people,
        )
    )
    for estimate, reference in cases:
        att, se, df = (reference[key][1] for key in ("coefficients", "cr2_se", "satterthwaite_df"))
        assert estimate.att == pytest.approx(att, rel=1e-9)
        assert estimate.se == pytest.approx(se, rel=1e-8)
        assert estimate.df_t == pytest.approx(df, abs=1e-6)
        half = stats.t.ppf(0.975, df) * se
        assert (estimate.ci_low, estimate.ci_high) == pytest.approx((att - half, att + half))
        assert estimate.p_value == pytest.approx(reference["satterthwaite_p"][1], rel=1e-6)
        assert (estimate.variance, estimate.outcome_model) == ("CR2", "covariates")


@pytest.mark.parametrize("variance", ["CR2", "CR1"])
def test_an_estimate_and_its_placebo_fitted_together_are_each_fitted_alone(variance: str) -> None:
    """family_differences (an estimate and its placebo on the same people, one fit under CR2)
    gives each measure's estimate as family_fit alone does, with the thin-data rule
    choosing the same outcome model for both, and the first measure's CR2 terms (the families'
    contributions, tf_eval.method.joint) as family_fit gives them alone; none under CR1."""
    rng = np.random.default_rng(11)
    families = 240
    treated = rng.random(families) < 0.4
    weights = np.where(treated, 1.0, rng.gamma(1.5, 1, families))
    weights[rng.random(families) < 0.2] = 0.0  # unmatched families
    adjust = np.column_stack([rng.normal(size=families), rng.poisson(2, families)]).astype(float)
    row = rng.permutation(np.repeat(np.arange(families), rng.integers(1, 6, families)))
    change = rng.normal(size=row.size) + 0.4 * treated[row] + adjust[row, 0]
    placebo = rng.exponential(size=row.size) - adjust[row, 1]
    keys = (rng.integers(0, 256, row.size), rng.integers(0, 256, families))
    for per_parameter in (0.0, 40.0):  # the whole model; too thin for it: the pre-levels alone
        how = Inference(variance, per_parameter)
        together, terms = family_differences(
            "x",
            np.column_stack([change, placebo]),
            row,
            treated,
            weights,
            adjust,
            keys,
            thin=np.array([1]),
            inference=how,
            scores=True,
        )
        assert (terms is None) == (variance == "CR1")
        for i, (joint, values) in enumerate(zip(together, (change, placebo), strict=True)):
            alone, own = family_fit(
                "x",
                values,
                row,
                treated,
                weights,
                True,
                adjust,
                keys,
                thin=np.array([1]),
                inference=how,
                scores=True,
            )
            if i == 0 and terms is not None:
                assert terms == pytest.approx(own, rel=1e-9, abs=1e-12)
            assert joint.outcome_model == alone.outcome_model
            assert joint.outcome_model == ("covariates" if per_parameter == 0 else "pre-levels")
            for field in ("att", "se", "ci_low", "ci_high", "p_value", "df_t"):
                assert getattr(joint, field) == pytest.approx(getattr(alone, field), rel=1e-10)
            same = ("n_treated", "n_comparison", "families_treated", "families_comparison", "keys")
            assert [getattr(joint, f) for f in same] == [getattr(alone, f) for f in same]


@pytest.mark.parametrize("block_rows", [cr2.BLOCK_ROWS, 7])
@pytest.mark.parametrize("contrast", [True, False])
def test_the_family_means_fit_is_the_people_level_fit_under_cr2(
    contrast: bool, block_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Families of 1-9 people with the family's treatment, weight and covariates: the same CR2
    standard error and Bell-McCaffrey df from family means (working variance 1/size, and the
    design's layout: treated and comparison rows apart) as from the people; with a working
    variance of 1 per mean the df would differ."""
    monkeypatch.setattr(cr2, "BLOCK_ROWS", block_rows)
    rng = np.random.default_rng(5)
    families = 300
    treated = rng.random(families) < 0.35
    weights = np.where(treated, 1.0, rng.gamma(1.5, 1, families))
    adjust = np.column_stack([rng.normal(size=families), rng.poisson(2, families)]).astype(float)
    row = rng.permutation(np.repeat(np.arange(families), rng.integers(1, 10, families)))
    values = rng.normal(size=row.size) + rng.normal(size=families)[row] + 0.3 * treated[row]
    model = adjust if contrast else None
    fast = family_difference("x", values, row, treated, weights, contrast, model)
    slow = weighted_difference(
        "x",
        values,
        treated[row],
        weights[row],
        row,
        contrast,
        None if model is None else model[row],
    )
    assert fast.att == pytest.approx(slow.att, rel=1e-10)
    assert fast.se == pytest.approx(slow.se, rel=1e-10)
    assert fast.df_t == pytest.approx(slow.df_t, rel=1e-10)
    assert fast.p_value == pytest.approx(slow.p_value, rel=1e-8)
    assert fast.outcome_model == slow.outcome_model
    sizes = np.bincount(row, minlength=families)
    y = np.bincount(row, weights=values) / sizes
    design = np.column_stack([np.ones(families), treated])[:, : 2 if contrast else 1]
    keep = (weights > 0) & (treated if not contrast else True)
    unit = fit_clustered_wls(
        y[keep], design[keep], (weights * sizes)[keep], None, 2 if contrast else 1
    )
    if not contrast:
        assert abs(unit.df - fast.df_t) > 1e-3


def test_the_outcome_model_shrinks_when_families_are_few() -> None:
    rng = np.random.default_rng(0)
    families = 120
    adjust = rng.normal(size=(families, 12))
    adjust[:, 5] = 1.0  # constant: not a parameter
    keep = np.ones(families, bool)
    rule = Inference()
    # 11 varying columns: 2 + 22 = 24 parameters need 240 families; 3 pre-levels need 80.
    name, x = choose_outcome_model(adjust, np.array([0, 1, 2]), keep, families, True, rule)
    assert name == "pre-levels" and x.shape == (families, 3)
    name, _ = choose_outcome_model(adjust, np.arange(5), keep, families, True, rule)
    assert name == "pre-levels"  # 12 parameters need 120 families: the boundary passes
    name, _ = choose_outcome_model(adjust, np.arange(6), keep, families, True, rule)
    assert name == "pre-levels"  # the constant column is not a parameter
    name, x = choose_outcome_model(adjust, np.arange(7), keep, families, True, rule)
    assert (name, x) == ("none", None)  # 14 parameters need 140
    assert choose_outcome_model(adjust, None, keep, families, True, rule)[0] == "none"
    assert choose_outcome_model(adjust, None, keep, 240, True, rule)[0] == "covariates"
    assert choose_outcome_model(adjust, None, keep, 12, True, Inference("CR2", 0))[0] == (
        "covariates"
    )
    assert choose_outcome_model(adjust, None, keep, families, False, rule)[0] == "none"


def test_a_thin_estimate_says_which_model_it_used() -> None:
    """thin_one_la: 107 matched units and 36 parameters. The default rule drops the covariates
    (without pre-levels to keep) and gives the plain weighted difference, saying so."""
    d = DATASETS["thin_one_la"]
    x, y, w = np.array(d["X"]).T, np.array(d["y"]), np.array(d["w"])
    units, treated = np.arange(len(y)), x[:, 1] == 1
    thin = weighted_difference("y", y, treated, w, units, True, x[:, 2:19])
    plain = weighted_difference("y", y, treated, w, units)
    assert thin.outcome_model == "none" and plain.outcome_model == "none"
    assert (thin.att, thin.se, thin.df_t) == (plain.att, plain.se, plain.df_t)
    kept = weighted_difference("y", y, treated, w, units, True, x[:, 2:19], thin=np.array([0, 4]))
    assert kept.outcome_model == "pre-levels" and kept.att != plain.att
    full = weighted_difference("y", y, treated, w, units, True, x[:, 2:19], inference=FULL_MODEL)
    assert full.outcome_model == "covariates"
    assert full.se == pytest.approx(d["cr2_se"][1], rel=1e-8)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"variance": "HC3"}, "unknown variance 'HC3'"),
        ({"min_families_per_parameter": -1}, "families per parameter must be 0 or more"),
    ],
)
def test_a_bad_inference_is_refused_in_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        Inference(**kwargs)
    with pytest.raises(ValueError, match="unknown variance"):
        fit_clustered_wls(np.ones(3), np.ones((3, 1)), np.ones(3), variance="CR3")


def test_an_untested_column_has_no_interval_under_cr2() -> None:
    y, x, w, groups, people, _ = _data("unequal_clusters")
    fit = fit_clustered_wls(y, x, w, groups, protected=2)
    assert np.isnan(fit.bse[2]) and not np.isnan(fit.bse[1])
    with pytest.raises(ValueError, match="column 2 was not tested"):
        fit.conf_int(2)


def _thin_sample(rng: np.random.Generator):
    """One LA x cohort's shape: 150 units, 60 treated, matching weights with replacement, an
    outcome model of 17 covariates (36 parameters) and errors larger for the treated."""
    n, treated_n = 150, 60
    treated = np.arange(n) < treated_n
    x = rng.normal(size=(n, 17)) + 0.4 * treated[:, None]
    used = np.bincount(rng.choice(np.arange(treated_n, n), treated_n), minlength=n)
    w = np.where(treated, 1.0, used * np.count_nonzero(used) / treated_n)
    y = x[:, 0] - 0.5 * x[:, 1] + rng.normal(size=n) * np.where(treated, 1.5, 1.0)
    return y, treated, w, x


def test_cr2_intervals_cover_where_cr1_intervals_fall_short() -> None:
    """500 thin matched samples with no effect: CR2 + Bell-McCaffrey 95% intervals cover the
    truth 93-97% of the time; CR1 with clusters - 1 df covers clearly less (each rate has a
    Monte Carlo error of about 1 point)."""
    rng = np.random.default_rng(2024)
    covered = {"CR1": 0, "CR2": 0}
    runs = 500
    for _ in range(runs):
        y, treated, w, x = _thin_sample(rng)
        for variance in covered:
            e = weighted_difference(
                "y", y, treated, w, np.arange(y.size), True, x, inference=Inference(variance, 0)
            )
            covered[variance] += e.ci_low <= 0 <= e.ci_high
    assert 0.93 <= covered["CR2"] / runs <= 0.97, covered
    assert covered["CR1"] / runs <= covered["CR2"] / runs - 0.025, covered


def test_a_family_of_leverage_one_gets_no_adjustment_on_every_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One LA x cohort of a 6,000-family demo (seed 11, found by searching seeds for the case,
    with the covariates of the first four outcomes and every pre-level kept, and the outcome
    model as then, without the shares' cubes and ends), the attendance placebo with the whole
    outcome model: families of leverage exactly 1, so G_j is 0 but for rounding. Taken as 0 (the
    rounding tolerance), the family means, their two halves and the people-level fit agree; at
    0 the adjustment 1 / sqrt(rounding) makes the df noise and the paths disagree."""
    monkeypatch.setattr(config, "PRE_LEVEL_MIN_FAMILIES", 0)
    no_shapes = lambda level, *_: pd.DataFrame(index=level.index)  # noqa: E731
    monkeypatch.setattr(estimators, "share_shape", no_shapes)
    path = tmp_path / "demo.duckdb"
    synth.build_demo_store(path, 6000, 11)
    first_four = ("pre_offending", "pre_worklessness", "pre_ae_use")
    covariates = ("la_code", "cohort", "n_adults", "n_children", "pre_attendance", "has_pupil")
    spec = AnalysisSpec(la="LA02", cohort=2017, covariates=(*covariates, *first_four))
    panel, matching = prepare(store.Store(path), spec)
    model = outcome_covariates(matching.covariates, matching.treated).to_numpy(float)
    people = panel.people["attendance"]
    has = people["placebo"].notna().to_numpy()
    rows = people["family_row"].to_numpy()[has]
    values = (people["pre"] - people["placebo"]).to_numpy()[has]
    treated, weights = matching.treated, matching.weights

    def both() -> tuple:
        means = family_difference(
            "a", values, rows, treated, weights, True, model, inference=FULL_MODEL
        )
        each = weighted_difference(
            "a", values, treated[rows], weights[rows], rows, True, model[rows], inference=FULL_MODEL
        )
        return means, each

    means, each = both()
    assert means.se == pytest.approx(each.se, rel=1e-9)
    assert means.df_t == pytest.approx(each.df_t, rel=1e-6)
    assert 5 < means.df_t < means.families_treated + means.families_comparison - 1
    monkeypatch.setattr(cr2, "ROUNDING", 0.0)
    means, each = both()
    assert not means.df_t == pytest.approx(each.df_t, rel=1e-3)


def test_a_fit_that_reproduces_every_cluster_has_no_interval() -> None:
    """As many clusters as parameters: every cluster's leverage is 1, so no residual says
    anything about the variance; the SE and df are NaN, not 0 and not a number from rounding."""
    rng = np.random.default_rng(3)
    x = np.column_stack([np.ones(4), [1, 1, 0, 0], rng.normal(size=(4, 2))])
    fit = fit_clustered_wls(rng.normal(size=4), x, rng.uniform(0.5, 2, 4), None, protected=2)
    assert fit.kept.all() and np.isfinite(fit.params[1])
    assert np.isnan(fit.bse[1]) and np.isnan(fit.df)
    assert all(np.isnan(fit.conf_int(1))) and np.isnan(fit.p_value(1))


def test_a_cluster_too_large_for_cr2_is_refused_in_one_line(tmp_path: Path) -> None:
    """match-file --id with 2,001 rows sharing one id: an s x s eigendecomposition of that size
    per cluster is refused by name, not left to run out of memory."""
    rng = np.random.default_rng(8)
    n = 2_400
    frame = pd.DataFrame(
        {
            "treat": np.arange(n) % 2,
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
            "family": np.where(np.arange(n) <= cr2.MAX_CLUSTER_ROWS, -1, np.arange(n)),
        }
    )
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(EvaluationError) as refused:
        match_file(path, "treat", ["x"], ["y"], id_column="family")
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{path}: a cluster of 2,001 rows")
    assert "too large for CR2" in message
    fine = frame.assign(family=np.arange(n) // 4)  # clusters of 4 rows are no trouble
    fine.to_csv(path, index=False)
    assert np.isfinite(match_file(path, "treat", ["x"], ["y"], id_column="family").estimates[0].se)


@pytest.mark.parametrize("name", ["unequal_clusters", "families_means", "matching_weights"])
def test_cluster_scores_give_the_variance_and_the_covariance_of_two_fits(name: str) -> None:
    """Each cluster's CR2 term of the effect's variance (for the event study's joint test):
    their squares sum to the SE squared, and, because the adjustment depends on the design only,
    the terms of two outcomes on the same design add up to those of their sum, so the joint
    covariance they give is the one that makes the sum's own CR2 variance (V11 + V22 + 2 V12)."""
    y, x, w, groups, people, _ = _data(name)
    other = np.random.default_rng(5).normal(size=y.size) + 0.3 * y
    one = fit_clustered_wls(y, x, w, groups, protected=2, people=people, scores=True)
    two = fit_clustered_wls(other, x, w, groups, protected=2, people=people, scores=True)
    both = fit_clustered_wls(y + other, x, w, groups, protected=2, people=people, scores=True)
    assert one.scores is not None and one.scores.size == int(groups.max()) + 1
    assert np.sum(one.scores**2) == pytest.approx(one.bse[1] ** 2, rel=1e-10)
    np.testing.assert_allclose(both.scores, one.scores + two.scores, rtol=1e-8, atol=1e-12)
    covariance = float(one.scores @ two.scores)
    assert both.bse[1] ** 2 == pytest.approx(
        one.bse[1] ** 2 + two.bse[1] ** 2 + 2 * covariance, rel=1e-9
    )


def test_family_fit_scores_sit_on_each_familys_row() -> None:
    """family_fit's terms line up with the families given (0 for a family not in the fit) and
    give the estimate's SE."""
    rng = np.random.default_rng(12)
    n = 80
    treated = np.arange(n) % 3 == 0
    weights = np.where(np.arange(n) % 7 == 0, 0.0, rng.uniform(0.5, 2, n))
    rows = np.repeat(np.arange(n), 2)
    values = rng.normal(size=rows.size)
    estimate, terms = family_fit("y", values, rows, treated, weights, scores=True)
    assert terms is not None and terms.shape == (n,)
    assert (terms[weights == 0] == 0).all()
    assert np.sqrt(np.sum(terms**2)) == pytest.approx(estimate.se, rel=1e-10)


def test_several_measures_fitted_together_are_each_fitted_alone() -> None:
    """family_profile (the event study's quarters on one design) gives each measure's estimate,
    interval, df and CR2 terms as family_fit gives them one at a time, with an outcome model."""
    rng = np.random.default_rng(21)
    n = 300
    treated = rng.random(n) < 0.4
    weights = np.where(treated, 1.0, rng.choice([0.0, 0.5, 1.0, 2.0], n))
    model = rng.normal(size=(n, 3)) + 0.3 * treated[:, None]
    rows = np.repeat(np.arange(n), rng.integers(1, 4, n))
    values = rng.normal(size=(rows.size, 4)) + model[rows, :1]
    keys = (rng.integers(0, 256, rows.size), rng.integers(0, 256, n))
    together, terms = family_profile("y", values, rows, treated, weights, model, keys)
    for i, estimate in enumerate(together):
        alone, own = family_fit(
            "y",
            values[:, i],
            rows,
            treated,
            weights,
            True,
            model,
            keys,
            inference=FULL_MODEL,
            scores=True,
        )
        for name in ("att", "se", "ci_low", "ci_high", "p_value", "df_t"):
            assert getattr(estimate, name) == pytest.approx(getattr(alone, name), rel=1e-9), name
        assert estimate.keys == alone.keys and estimate.df_resid == alone.df_resid
        np.testing.assert_allclose(terms[:, i], own, rtol=1e-8, atol=1e-12)
