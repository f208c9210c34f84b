"""The clustered regression behind every estimate: its CR1 option against statsmodels (the
reference it replaced for speed), the whole evaluation against the same estimates computed the
slow, obvious way, and the family-means fit against the people-level one. CR2 against R
clubSandwich is in test_cr2.py."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from tf_eval.data import store
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.method.cr2 import BLOCK_ROWS
from tf_eval.method.estimate import (
    AnalysisSpec,
    Inference,
    evaluate,
    family_difference,
    prepare,
    weighted_difference,
)
from tf_eval.method.estimators import outcome_covariates
from tf_eval.method.panel import build_panel
from tf_eval.method.regression import fit_clustered_wls


def _statsmodels(y, design, w, groups):
    return sm.WLS(y, design, weights=w).fit(
        cov_type="cluster", cov_kwds={"groups": groups}, use_t=True
    )


def _sample(rng: np.random.Generator, n: int, clusters: int):
    groups = np.sort(rng.integers(0, clusters, n))
    groups = np.unique(groups, return_inverse=True)[1]
    x = rng.standard_normal((n, 4)) * [1, 10, 100, 0.01]  # columns on very different scales
    design = np.column_stack([np.ones(n), rng.random(n) < 0.4, x, x[:, 1] ** 2])
    y = design @ rng.normal(size=design.shape[1]) + rng.normal(size=clusters)[groups]
    y += rng.standard_normal(n) * 3
    return y, design, rng.uniform(0.2, 3, n), groups


@pytest.mark.parametrize("n", [500, BLOCK_ROWS * 2 + 17])  # one block, and several
def test_the_fit_is_statsmodels_clustered_wls(n: int) -> None:
    rng = np.random.default_rng(n)
    y, design, w, groups = _sample(rng, n, n // 4)
    fit = fit_clustered_wls(y, design, w, groups, protected=2, variance="CR1")
    reference = _statsmodels(y, design, w, groups)
    assert fit.kept.all()
    np.testing.assert_allclose(fit.params, reference.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fit.bse, reference.bse, rtol=1e-9)
    assert fit.df == reference.df_resid_inference == groups.max()
    for j in range(design.shape[1]):
        np.testing.assert_allclose(fit.conf_int(j), reference.conf_int(0.05)[j], rtol=1e-9)
        assert fit.p_value(j) == pytest.approx(reference.pvalues[j], rel=1e-7, abs=1e-300)


def test_constant_and_collinear_columns_are_dropped_and_the_rest_fit_as_without_them() -> None:
    rng = np.random.default_rng(7)
    y, design, w, groups = _sample(rng, 3000, 600)
    constant = np.zeros(len(y))
    collinear = design[:, 2] - 2 * design[:, 3]
    wide = np.column_stack([design[:, :4], constant, collinear, design[:, 4:]])
    fit = fit_clustered_wls(y, wide, w, groups, protected=2, variance="CR1")
    assert fit.kept.tolist() == [True] * 4 + [False, False] + [True] * 3
    assert np.isnan(fit.params[4:6]).all() and np.isnan(fit.bse[4:6]).all()
    reference = _statsmodels(y, design, w, groups)
    np.testing.assert_allclose(fit.params[fit.kept], reference.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fit.bse[fit.kept], reference.bse, rtol=1e-9)


def test_a_protected_column_that_cannot_be_estimated_is_refused() -> None:
    rng = np.random.default_rng(1)
    y, design, w, groups = _sample(rng, 200, 50)
    design[:, 1] = 1.0  # "treatment" is everyone: the intercept and it cannot be told apart
    with pytest.raises(ValueError, match="singular"):
        fit_clustered_wls(y, design, w, groups, protected=2)


def _by_merge_and_statsmodels(panel, matching, key: str) -> tuple[float, float]:
    """The matched DiD of one outcome the obvious way: merge each family's covariates onto its
    people with pandas, drop the columns that do not vary, and fit with statsmodels."""
    model = outcome_covariates(matching.covariates, matching.treated)
    # The outcome's own recent level and its square, where it has one (worklessness).
    for column in panel.families.columns[panel.families.columns == f"pre_{key}_recent"]:
        level = panel.families[column].to_numpy()
        model = model.assign(**{column: level, f"{column}^2": level**2})
    by_family = pd.concat(
        [
            panel.families[["family_id"]],
            pd.DataFrame({"treated": matching.treated, "weight": matching.weights}),
            model,
        ],
        axis=1,
    )
    people = panel.people[key].merge(by_family, on="family_id")
    people = people[people["weight"] > 0]
    t = people["treated"].to_numpy().astype(float)
    w = people["weight"].to_numpy()
    x = people[list(model.columns)].to_numpy(dtype=float)
    x = x[:, x.std(axis=0) > 1e-9]
    x = x - np.average(x[t > 0], axis=0, weights=w[t > 0])
    design = np.column_stack([np.ones_like(t), t, x, x * t[:, None]])
    assert np.linalg.matrix_rank(design) == design.shape[1]
    fit = _statsmodels(
        (people["post"] - people["pre"]).to_numpy(),
        design,
        w,
        pd.factorize(people["family_id"])[0],
    )
    return fit.params[1], fit.bse[1]


def test_the_evaluation_gives_what_the_obvious_computation_gives(demo_db: Path) -> None:
    """Guards the fast path end to end: people are matched to their families' covariates by
    search, not merge, and only matched people's rows are built."""
    panel = build_panel(store.Store(demo_db))
    cr1 = Inference("CR1", 0)  # statsmodels' variance, and the whole outcome model
    evaluation = evaluate(store.Store(demo_db), AnalysisSpec(), panel=panel, inference=cr1)
    # The same matching with the design's rows (an evaluation keeps its columns alone).
    _, matching = prepare(store.Store(demo_db), AnalysisSpec(), panel=panel)
    np.testing.assert_array_equal(matching.weights, evaluation.matching.weights)
    assert evaluation.matching.covariates.empty
    assert list(evaluation.matching.covariates) == list(matching.covariates)
    for estimate in evaluation.estimates:
        att, se = _by_merge_and_statsmodels(panel, matching, estimate.outcome)
        assert estimate.att == pytest.approx(att, rel=1e-8)
        assert estimate.se == pytest.approx(se, rel=1e-8)
    assert [e.outcome for e in evaluation.estimates] == list(OUTCOMES)


@pytest.mark.parametrize("variance", ["CR2", "CR1"])
@pytest.mark.parametrize("contrast", [True, False])
def test_the_family_means_fit_is_the_people_level_fit(contrast: bool, variance: str) -> None:
    """family_difference (family means weighted by size) gives what weighted_difference gives on
    the people, when treatment, weights and covariates are the family's."""
    rng = np.random.default_rng(11)
    families = 900
    treated = rng.random(families) < 0.3
    weights = np.where(rng.random(families) < 0.2, 0.0, rng.uniform(0.5, 3, families))
    adjust = np.column_stack(
        [rng.poisson(2, families), rng.random(families) < 0.5, rng.normal(size=families)]
    ).astype(float)
    adjust[:, 1] = 1.0  # a constant covariate, dropped by both
    row = np.sort(rng.integers(0, families, 4000))
    row = rng.permutation(row)  # people in any order, as the panel's person order gives them
    values = rng.normal(size=row.size) + 0.4 * treated[row] + 0.2 * adjust[row, 0]
    model = adjust if contrast else None
    how = Inference(variance)
    fast = family_difference("x", values, row, treated, weights, contrast, model, inference=how)
    slow = weighted_difference(
        "x",
        values,
        treated[row],
        weights[row],
        row,
        contrast,
        None if model is None else model[row],
        inference=how,
    )
    assert fast.att == pytest.approx(slow.att, rel=1e-10)
    assert fast.se == pytest.approx(slow.se, rel=1e-10)
    assert fast.df_t == pytest.approx(slow.df_t, rel=1e-10)
    assert (fast.ci_low, fast.ci_high) == pytest.approx((slow.ci_low, slow.ci_high), rel=1e-9)
    assert fast.p_value == pytest.approx(slow.p_value, rel=1e-8)
    for count in ("n_treated", "n_comparison", "families_treated", "families_comparison"):
        assert getattr(fast, count) == getattr(slow, count), count
    assert fast.df_resid == slow.df_resid
    assert (fast.variance, fast.outcome_model) == (variance, "covariates" if contrast else "none")
