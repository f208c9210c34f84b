"""The numbers behind each finding's evidence (tf_eval.method.sensitivity): E-values against
their closed form on hand-computed cases, the minimum detectable effect against t tables, Holm
against hand cases and statsmodels, and Rosenbaum's bound against base R on lalonde's pairs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from tf_eval.method.matchfile import match_file
from tf_eval.method.sensitivity import (
    e_value,
    e_values,
    holm,
    minimum_detectable_effect,
    pooled_sd,
    rosenbaum_gamma,
    rosenbaum_p_upper,
)

DATA = Path(__file__).parent / "data"
LALONDE_COVARIATES = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]


def test_e_value_of_a_risk_ratio_is_vanderweele_and_dings_closed_form() -> None:
    assert e_value(2.0) == pytest.approx(2 + math.sqrt(2), abs=1e-12)  # 3.4142...
    assert e_value(0.5) == pytest.approx(2 + math.sqrt(2), abs=1e-12)  # a ratio below 1 inverted
    assert e_value(1.0) == 1.0
    assert e_value(3.9) == pytest.approx(3.9 + math.sqrt(3.9 * 2.9), abs=1e-12)  # 7.26


def test_e_values_of_a_difference_in_means_convert_by_exp_0_91_d() -> None:
    """d = 0.5 SD: RR = exp(0.455) = 1.57617, E = 1.57617 + sqrt(1.57617 x 0.57617) = 2.52914;
    the lower limit, d = 0.2: RR = exp(0.182) = 1.19961, E = 1.68896 (by hand)."""
    estimate, limit = e_values(5.0, 2.0, 8.0, 10.0)
    assert estimate == pytest.approx(2.52914, abs=1e-5)
    assert limit == pytest.approx(1.68896, abs=1e-5)
    # A fall: the same sizes, the limit nearer 0 being the upper one.
    assert e_values(-5.0, -8.0, -2.0, 10.0) == pytest.approx((estimate, limit), abs=1e-12)
    # An interval across 0 needs no confounding to reach the null.
    assert e_values(5.0, -1.0, 11.0, 10.0) == (pytest.approx(estimate), 1.0)
    assert e_values(5.0, 2.0, 8.0, 0.0) == (None, None)


def test_the_minimum_detectable_effect_is_t_quantiles_times_the_se() -> None:
    # t tables: t(0.975, 10) = 2.228139, t(0.8, 10) = 0.879058; normal: 1.959964 + 0.841621.
    assert minimum_detectable_effect(2.0, 10) == pytest.approx(2 * 3.107197, abs=1e-5)
    assert minimum_detectable_effect(1.0, 1e9) == pytest.approx(2.801585, abs=1e-5)


@pytest.mark.parametrize(
    ("p_values", "by_hand"),
    [
        # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> 0.06 kept
        ([0.01, 0.04, 0.03, 0.005], [0.03, 0.06, 0.06, 0.02]),
        # 0.2 x 4 = 0.8, 0.3 x 3 = 0.9, 0.5 x 2 = 1.0, 0.9 x 1 = 0.9 -> 1.0: capped, increasing
        ([0.5, 0.2, 0.3, 0.9], [1.0, 0.8, 0.9, 1.0]),
        ([0.04], [0.04]),
        ([0.01, 0.01, 0.2, 0.6], [0.04, 0.04, 0.4, 0.6]),  # ties
    ],
)
def test_holm_matches_hand_cases_and_statsmodels(p_values, by_hand) -> None:
    assert holm(p_values) == pytest.approx(by_hand, abs=1e-12)
    reference = multipletests(p_values, method="holm")[1]
    assert holm(p_values) == pytest.approx(list(reference), abs=1e-12)


def test_holm_matches_statsmodels_on_random_p_values() -> None:
    rng = np.random.default_rng(18)
    for size in (2, 3, 4, 7):
        p = list(rng.uniform(0, 0.2, size))
        assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]), abs=1e-12)


def _reference() -> dict:
    return json.loads((DATA / "rosenbaum_lalonde.json").read_text())


def test_rosenbaums_bound_matches_base_r_on_lalonde_pairs() -> None:
    """tests/data/rosenbaum_lalonde.R: the bound written from Rosenbaum's formulas in base R, on
    lalonde's 1:1 pairs (re78), shifted by a constant effect to give significant cases."""
    reference = _reference()
    d = np.array(reference["differences"])
    # At Gamma = 1, R's own wilcox.test (normal approximation with ties, no continuity
    # correction) gives the same p-value.
    assert rosenbaum_p_upper(d, 1.0) == pytest.approx(reference["wilcox_test_p_greater"], 1e-10)
    for case in reference["cases"]:
        shifted = d + case["shift"]
        for gamma, p in zip(reference["gamma_grid"], case["p_upper"], strict=True):
            assert rosenbaum_p_upper(shifted, gamma) == pytest.approx(p, rel=1e-9, abs=1e-15)
        assert rosenbaum_gamma(shifted, 0.05) == pytest.approx(case["gamma_alpha_0.05"], 1e-8)
        assert rosenbaum_gamma(shifted, 0.025) == pytest.approx(case["gamma_alpha_0.025"], 1e-8)
    assert [c["gamma_alpha_0.025"] > 1 for c in reference["cases"]] == [False, False, True, True]


def test_the_referenced_pairs_are_the_ones_tf_eval_matches() -> None:
    """The R reference reads lalonde_pairs_1to1.csv; it must stay tf-eval's own 1:1 matches
    without replacement (match-file's defaults), whose Gamma the JSON reports."""
    match = match_file(DATA / "lalonde.csv", "treat", LALONDE_COVARIATES, ["re78"])
    frame = pd.read_csv(DATA / "lalonde.csv")
    pairs = match.matching.pairs
    assert pairs is not None
    ids = frame["id"].to_numpy()
    made = pd.DataFrame({"treated": ids[pairs[:, 0]], "control": ids[pairs[:, 1]]})
    committed = pd.read_csv(DATA / "lalonde_pairs_1to1.csv")
    assert (
        made.sort_values("treated")
        .reset_index(drop=True)
        .equals(committed.sort_values("treated").reset_index(drop=True))
    )
    d = np.array(_reference()["differences"])
    (checked,) = match.sensitivity or []
    assert checked.pairs == int((d != 0).sum())
    assert checked.gamma == pytest.approx(rosenbaum_gamma(d), abs=1e-12)  # 1: not significant


def test_matching_with_replacement_or_several_controls_makes_no_pairs() -> None:
    for ratio, replace in ((1, True), (2, False)):
        match = match_file(
            DATA / "lalonde.csv",
            "treat",
            LALONDE_COVARIATES,
            ["re78"],
            ratio=ratio,
            replace=replace,
        )
        assert match.matching.pairs is None
        assert match.sensitivity is not None and match.sensitivity[0].gamma is None


def test_a_caliper_leaves_unmatched_treated_units_out_of_the_pairs() -> None:
    match = match_file(DATA / "lalonde.csv", "treat", LALONDE_COVARIATES, ["re78"], caliper=0.05)
    pairs = match.matching.pairs
    assert pairs is not None and 0 < len(pairs) < 185
    weights = match.matching.weights
    assert (weights[pairs[:, 0]] == 1).all() and (weights[pairs[:, 1]] == 1).all()
    assert len(np.unique(pairs[:, 1])) == len(pairs)  # no control used twice


def test_the_pooled_sd_averages_the_groups_weighted_variances() -> None:
    values = np.array([1.0, 3.0, 5.0, 2.0, 4.0, 9.0])
    treated = np.array([True, True, True, False, False, False])
    weights = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.0])  # the last comparison unit unmatched
    # treated: variance of 1, 3, 5 = 4; comparison: of 2, 4 = 2 -> sqrt(3)
    assert pooled_sd(values, treated, weights) == pytest.approx(math.sqrt(3), abs=1e-12)
