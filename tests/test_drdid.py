"""Doubly robust DiD (tf_eval.method.drdid): against R DRDID 1.2.3's and moderndid 0.2.0's
numbers (tests/data/drdid_reference*.json, made by the scripts beside them) to 1e-6; against
planted effects in worlds where only the propensity model, or only the outcome model, is right
(where a naive DiD and the estimator of the wrong model alone are both far off); its invariances;
and its one-line errors."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from tf_eval.method import drdid
from tf_eval.method.drdid import dr_did

DATA = Path(__file__).parent / "data"
MODERNDID = json.loads((DATA / "drdid_reference.json").read_text())
R_DRDID = json.loads((DATA / "drdid_reference_r.json").read_text())
CASES = [(name, method) for name in MODERNDID["datasets"] for method in ("improved", "traditional")]
TOLERANCE = 1e-6
# Per-unit influence values: R's trust stops at its own tolerance (the tilting's first-order
# condition to about 1e-9), which leaves up to 1e-6 in single units' values of extreme_scores.
INFLUENCE_TOLERANCE = 1e-5


def _fit(name: str, method: str) -> drdid.DRDiD:
    data = MODERNDID["datasets"][name]
    weights = None if data["weights"] is None else np.array(data["weights"])
    return dr_did(
        np.array(data["change"]),
        np.array(data["treated"]),
        np.array(data["covariates"]),
        weights,
        method=method,
    )


def test_the_reference_data_cover_what_matters() -> None:
    """Sizes 60 to 3000, with and without weights, binary covariates, extreme scores, trimming:
    and the references were made by the packages they name."""
    sets = MODERNDID["datasets"]
    assert MODERNDID["package"] == "moderndid" and MODERNDID["version"] == "0.2.0"
    assert R_DRDID["package"] == "DRDID" and R_DRDID["version"] == "1.2.3"
    assert sorted(len(s["treated"]) for s in sets.values()) == [60, 400, 400, 1200, 3000]
    assert any(s["weights"] is None for s in sets.values())
    assert any(s["weights"] is not None for s in sets.values())
    binary = [np.isin(np.array(s["covariates"]), (0, 1)).all(axis=0) for s in sets.values()]
    assert all(b.any() and not b.all() for b in binary)  # binary and continuous in each
    assert _fit("trimmed", "improved").trimmed == 2
    assert _fit("trimmed", "traditional").trimmed == 2


@pytest.mark.parametrize(("name", "method"), CASES)
def test_matches_r_drdid(name: str, method: str) -> None:
    """The authors' package: ATT, standard error and influence function."""
    fit = _fit(name, method)
    reference = R_DRDID["datasets"][name][method]
    assert fit.att == pytest.approx(reference["att"], abs=TOLERANCE)
    assert fit.se == pytest.approx(reference["se"], abs=TOLERANCE)
    if reference["influence"] is not None:
        assert np.abs(fit.influence - reference["influence"]).max() < INFLUENCE_TOLERANCE


@pytest.mark.parametrize(("name", "method"), CASES)
def test_matches_moderndid(name: str, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python port, with its floor on the scores (1e-6, which DRDID does not have)."""
    monkeypatch.setattr(drdid, "SCORE_FLOOR", 1e-6)
    fit = _fit(name, method)
    reference = MODERNDID["datasets"][name]["reference"][method]
    assert fit.att == pytest.approx(reference["att"], abs=TOLERANCE)
    assert fit.se == pytest.approx(reference["se"], abs=TOLERANCE)
    if "influence" in reference:
        assert np.abs(fit.influence - reference["influence"]).max() < INFLUENCE_TOLERANCE


def test_moderndids_floor_is_the_only_difference_and_it_shows() -> None:
    """Without the floor, extreme_scores' influence function is moderndid's only to 1e-2: the
    test above depends on the floor, so it would catch a floor forgotten or misplaced."""
    fit = _fit("extreme_scores", "improved")
    reference = MODERNDID["datasets"]["extreme_scores"]["reference"]["improved"]
    assert np.abs(fit.influence - reference["influence"]).max() > 1e-3


# --- planted effects ---------------------------------------------------------------------------

EFFECT = 2.0


def _world(kind: str, seed: int, n: int = 20_000) -> tuple[np.ndarray, ...]:
    """A panel with a constant effect EFFECT on the treated. "scores right": treatment is a
    logit linear in the covariates, the comparison trend is not linear in them (squares, an
    exponential, an interaction). "outcome right": the trend is linear, treatment a logit of
    squares and interactions. Family-size weights 1-5."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    x1, x2, x3 = x.T
    if kind == "scores right":
        p = expit(-0.3 + 0.8 * x1 + 0.6 * x2 + 0.4 * x3)
        trend = 1 + 2 * x1 + 2 * x1**2 + 2 * np.exp(0.7 * x2) - x1 * x3
    else:
        p = expit(-0.8 + 0.6 * x1 + 0.8 * x1**2 - 0.5 * x2 + 0.8 * x1 * x3)
        trend = 1 + 1.5 * x1 - x2 + 0.5 * x3
    d = rng.binomial(1, p)
    weights = rng.integers(1, 6, size=n).astype(float)
    change = trend + EFFECT * d + rng.normal(scale=2.0, size=n)
    return change, d, x, weights


def _naive(change: np.ndarray, d: np.ndarray, w: np.ndarray) -> float:
    return float(
        np.average(change[d == 1], weights=w[d == 1])
        - np.average(change[d == 0], weights=w[d == 0])
    )


def _regression_only(change: np.ndarray, d: np.ndarray, x: np.ndarray, w: np.ndarray) -> float:
    """The outcome model alone: treated change less the comparison trend fitted at their x."""
    design = np.column_stack([np.ones(len(d)), x])
    c, root = d == 0, np.sqrt(w)
    beta = np.linalg.lstsq(design[c] * root[c, None], change[c] * root[c], rcond=None)[0]
    return float(np.average(change[d == 1] - design[d == 1] @ beta, weights=w[d == 1]))


def _weighting_only(change: np.ndarray, d: np.ndarray, x: np.ndarray, w: np.ndarray) -> float:
    """The propensity model alone (Abadie's IPW DiD with a logit)."""
    model = LogisticRegression(C=np.inf, max_iter=1000).fit(x, d, sample_weight=w)
    odds = np.exp(model.decision_function(x))
    c = d == 0
    return float(
        np.average(change[d == 1], weights=w[d == 1]) - np.average(change[c], weights=(w * odds)[c])
    )


@pytest.mark.parametrize("method", ["improved", "traditional"])
def test_right_scores_wrong_outcome_model_finds_the_effect(method: str) -> None:
    change, d, x, w = _world("scores right", seed=1)
    fit = dr_did(change, d, x, w, method=method)
    assert abs(fit.att - EFFECT) < 3 * fit.se
    # The world is one where this matters: the wrong model alone and a naive DiD are far off.
    assert abs(_regression_only(change, d, x, w) - EFFECT) > 5 * fit.se
    assert abs(_naive(change, d, w) - EFFECT) > 10 * fit.se


@pytest.mark.parametrize("method", ["improved", "traditional"])
def test_right_outcome_model_wrong_scores_finds_the_effect(method: str) -> None:
    change, d, x, w = _world("outcome right", seed=4)
    fit = dr_did(change, d, x, w, method=method)
    assert abs(fit.att - EFFECT) < 3 * fit.se
    assert abs(_weighting_only(change, d, x, w) - EFFECT) > 5 * fit.se
    assert abs(_naive(change, d, w) - EFFECT) > 10 * fit.se


def test_standard_error_is_honest_over_repeated_worlds() -> None:
    """Over 40 draws the estimates' spread is what the standard errors say (within 30%)."""
    estimates, errors = [], []
    for seed in range(40):
        change, d, x, w = _world("scores right", seed=100 + seed, n=3_000)
        fit = dr_did(change, d, x, w)
        estimates.append(fit.att)
        errors.append(fit.se)
    ratio = np.std(estimates, ddof=1) / np.sqrt(np.mean(np.square(errors)))
    assert 0.7 < ratio < 1.3
    assert abs(np.mean(estimates) - EFFECT) < 3 * np.std(estimates, ddof=1) / np.sqrt(40)


# --- invariances -------------------------------------------------------------------------------


def test_units_of_the_covariates_do_not_matter() -> None:
    change, d, x, w = _world("scores right", seed=7, n=2_000)
    for method in drdid.METHODS:
        base = dr_did(change, d, x, w, method=method)
        moved = dr_did(change, d, x * [1000.0, 0.001, -3.0] + [5e4, -2.0, 7.0], w, method=method)
        assert moved.att == pytest.approx(base.att, abs=1e-9)
        assert moved.se == pytest.approx(base.se, abs=1e-9)


def test_a_familys_weight_counts_as_its_people() -> None:
    """Weight k gives the ATT of the family repeated k times (the scale of weights is free)."""
    change, d, x, w = _world("outcome right", seed=8, n=1_500)
    rows = np.repeat(np.arange(len(d)), w.astype(int))
    for method in drdid.METHODS:
        weighted = dr_did(change, d, x, 2.5 * w, method=method)
        repeated = dr_did(change[rows], d[rows], x[rows], method=method)
        assert weighted.att == pytest.approx(repeated.att, abs=1e-9)
        assert weighted.n_treated == int((d == 1).sum())
        assert weighted.n_comparison == int((d == 0).sum())


def test_outcomes_of_the_same_units_fitted_together_are_each_fitted_alone() -> None:
    """dr_dids shares the score and the regression's cross-products between outcomes of the same
    units; each outcome's ATT, SE and influence are what dr_did gives it alone."""
    change, d, x, w = _world("scores right", seed=10, n=2_000)
    other, *_ = _world("outcome right", seed=11, n=2_000)
    for method in drdid.METHODS:
        together = drdid.dr_dids(np.column_stack([change, other]), d, x, w, method=method)
        for column, fit in zip((change, other), together, strict=True):
            alone = dr_did(column, d, x, w, method=method)
            assert fit.att == pytest.approx(alone.att, abs=1e-12)
            assert fit.se == pytest.approx(alone.se, abs=1e-12)
            np.testing.assert_allclose(fit.influence, alone.influence, rtol=0, atol=1e-10)
        assert together[0].att != pytest.approx(together[1].att, abs=1e-3)  # two outcomes


def test_overwriting_the_covariates_changes_no_number_and_spares_a_read_only_array() -> None:
    change, d, x, w = _world("scores right", seed=12, n=1_000)
    alone = dr_did(change, d, x, w)
    mine = x.copy()
    (fit,) = drdid.dr_dids(change[:, None], d, mine, w, overwrite=True)
    assert (fit.att, fit.se) == (alone.att, alone.se)
    assert not np.array_equal(mine, x)  # standardised in place: the copy was the caller's to give
    shared = x.copy()
    shared.flags.writeable = False
    (fit,) = drdid.dr_dids(change[:, None], d, shared, w, overwrite=True)
    assert (fit.att, fit.se) == (alone.att, alone.se)
    np.testing.assert_array_equal(shared, x)


def _counting_grams(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows of every cross-product the fits form from now on."""
    rows: list[int] = []
    gram = drdid.Standardised.gram

    def counted(self: drdid.Standardised, scale: np.ndarray) -> np.ndarray:
        rows.append(self.shape[0])
        return gram(self, scale)

    monkeypatch.setattr(drdid.Standardised, "gram", counted)
    return rows


def _same_fit(fit: drdid.DRDiD, other: drdid.DRDiD) -> None:
    assert fit.att == pytest.approx(other.att, rel=1e-12, abs=1e-15)
    assert fit.se == pytest.approx(other.se, rel=1e-10)
    np.testing.assert_allclose(fit.influence, other.influence, rtol=0, atol=1e-9)


def test_the_warm_start_and_the_kept_hessian_find_the_same_tilting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tilting started from a subsample's optimum, with the Hessian kept near the end (the
    chord method), reaches the optimum that Newton's method from the intercept reaches, with
    fewer cross-products of every unit (what costs at national scale). How many fewer depends
    on the data: in this world of three covariates the subsample's start saves nothing over the
    chord alone; on the national benchmark's (36) it saves two or three of seven."""
    change, d, x, w = _world("scores right", seed=13, n=20_000)
    rows = _counting_grams(monkeypatch)
    monkeypatch.setattr(drdid, "CHORD_FROM", 0.0)  # Newton's own steps throughout
    monkeypatch.setattr(drdid, "SUBSAMPLE_ROWS", 10**9)  # no subsample
    newton = dr_did(change, d, x, w)
    every_step = rows.count(20_000)
    rows.clear()
    monkeypatch.setattr(drdid, "CHORD_FROM", 0.1)
    chord = dr_did(change, d, x, w)
    kept = rows.count(20_000)
    rows.clear()
    monkeypatch.setattr(drdid, "SUBSAMPLE_ROWS", 1_000)  # every 20th unit first
    warm = dr_did(change, d, x, w)
    assert 1_000 in rows  # the subsample was tilted
    _same_fit(chord, newton)
    _same_fit(warm, newton)
    assert kept < every_step
    assert rows.count(20_000) < every_step


def test_a_representative_subsample_spares_the_whole_sample_every_cross_product_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a subsample large enough to stand for the whole (a fifth of 100,000 units here; at
    national scale 131,072 of 2 million), its Hessian at its optimum serves the whole sample's
    steps: the fit forms one cross-product of every unit, the outcome regression's (the
    subsample's comparison units, of full rank, stand for the whole sample's check of rank), and
    finds the optimum Newton's method from the intercept finds."""
    change, d, x, w = _world("scores right", seed=15, n=100_000)
    monkeypatch.setattr(drdid, "SUBSAMPLE_ROWS", 10**9)
    monkeypatch.setattr(drdid, "CHORD_FROM", 0.0)
    newton = dr_did(change, d, x, w)
    monkeypatch.setattr(drdid, "CHORD_FROM", 0.1)
    monkeypatch.setattr(drdid, "SUBSAMPLE_ROWS", 20_000)
    rows = _counting_grams(monkeypatch)
    warm = dr_did(change, d, x, w)
    assert 20_000 in rows
    assert rows.count(100_000) == 1
    _same_fit(warm, newton)


def test_a_design_singular_among_the_comparison_units_is_named_so_after_a_warm_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the subsample's check of rank fails, the whole sample's comparison units are checked
    as before the warm start existed: a covariate constant among them (collinear with the
    intercept) is named, not reported as a tilting that does not converge."""
    change, d, x, w = _world("scores right", seed=16, n=100_000)
    monkeypatch.setattr(drdid, "SUBSAMPLE_ROWS", 20_000)
    x = np.column_stack([x, np.where(d == 1, x[:, 0], 1.0)])  # constant where d = 0
    with pytest.raises(ValueError, match="collinear among the comparison units"):
        dr_did(change, d, x, w)


def test_a_subsample_without_an_optimum_leaves_the_whole_sample_to_start_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A covariate that is 0 in every unit of the subsample (a rare one it missed) makes the
    subsample's tilting singular: the whole sample is then tilted from the intercept, to the
    same answer."""
    change, d, x, w = _world("scores right", seed=14, n=20_000)
    rare = np.zeros(len(d))
    rare[np.arange(1, 600, 20)] = 1.0  # 30 units, none of them every 20th
    x = np.column_stack([x, rare])
    alone = dr_did(change, d, x, w)
    rows = _counting_grams(monkeypatch)
    monkeypatch.setattr(drdid, "SUBSAMPLE_ROWS", 1_000)
    fit = dr_did(change, d, x, w)
    assert 1_000 in rows
    _same_fit(fit, alone)


def test_influence_function_averages_to_zero() -> None:
    change, d, x, w = _world("scores right", seed=9, n=2_000)
    for method in drdid.METHODS:
        fit = dr_did(change, d, x, w, method=method)
        assert abs(fit.influence.mean()) < 1e-8 * np.abs(fit.influence).max()
        assert fit.influence.shape == (len(d),)


# --- errors ------------------------------------------------------------------------------------


def _small(n: int = 200, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    d = (rng.random(n) < expit(x[:, 0])).astype(int)
    return rng.normal(size=n), d, x


def _error(*args: object, **kwargs: object) -> str:
    with pytest.raises(ValueError) as caught:
        dr_did(*args, **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_errors_are_one_line_reasons() -> None:
    change, d, x = _small()
    assert "no treated units" in _error(change, np.zeros_like(d), x)
    assert "no comparison units" in _error(change, np.ones_like(d), x)
    weights = np.where(d == 1, 0.0, 1.0)
    assert "no treated units" in _error(change, d, x, weights)
    assert "constant" in _error(change, d, np.column_stack([x, np.full(len(d), 3.0)]))
    collinear = np.column_stack([x, x[:, 0] - 2 * x[:, 1]])
    assert "collinear" in _error(change, d, collinear)
    assert "only 1 (treated) and 0" in _error(change, d * 2, x)
    assert "non-negative" in _error(change, d, x, -np.ones(len(d)))
    assert "missing" in _error(np.where(d == 1, np.nan, change), d, x)
    assert "shape" in _error(change[:-1], d, x)
    assert "unknown method" in _error(change, d, x, method="ipw")


def test_a_covariate_constant_among_comparisons_is_named() -> None:
    change, d, x = _small()
    only_treated = np.where(d == 1, np.arange(len(d)) % 2, 0.0)
    message = _error(change, d, np.column_stack([x, only_treated]))
    assert "among the comparison units" in message


def test_no_overlap_is_an_error_not_a_fallback() -> None:
    """Treated units' covariate mean beyond every comparison unit's: no tilting balances it
    (DRDID would quietly fall back to the logit), and the logit separates."""
    change, d, x = _small()
    x = x.copy()
    x[d == 1, 0] += 20
    assert "inverse probability tilting does not converge" in _error(change, d, x)
    assert "separate" in _error(change, d, x, method="traditional")


def test_every_comparison_trimmed_is_an_error() -> None:
    """1000 treated units and 2 comparisons that balance them only with odds of 500 each
    (scores 0.998, at or above DRDID's 0.995): every comparison is trimmed."""
    x = np.concatenate([np.linspace(-1, 1, 1000), [-0.1, 0.1]])[:, None]
    d = np.concatenate([np.ones(1000, dtype=int), [0, 0]])
    change = np.linspace(0, 1, 1002)
    assert "trimmed" in _error(change, d, x)
    # A lower trimming level than the scores is not asked for here: with it, both are kept.
    fit = dr_did(change, d, x, trim_level=0.999)
    assert fit.trimmed == 0
