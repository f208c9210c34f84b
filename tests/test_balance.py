"""Balance diagnostics by cobalt's ATT conventions: MatchIt's before-matching SMDs on lalonde,
every statistic against MatchIt's summary under MatchIt's own weights, and small cases worked by
hand for everything after matching."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tf_eval.method.balance import COLUMNS, balance_table, effective_sizes, matched_counts
from tf_eval.method.propensity import PropensityModel, design_matrices

DATA = Path(__file__).parent / "data"
COVARIATES = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]

# Four treated units then four comparison units. By hand:
#   x, continuous. Treated 1, 4, 4, 7: mean 4, squared deviations 9 + 0 + 0 + 9 = 18, sample
#     SD sqrt(18 / 3) = sqrt(6). Comparison 1, 3, 5, 9: mean 4.5. Matching weights 2, 1, 0, 0
#     give a comparison mean (2 * 1 + 1 * 3) / 3 = 5/3.
#     Weighted variances (cobalt): treated, all weights 1, 18 / (4 - 4/4) = 6; comparison,
#     2 (1 - 5/3)^2 + 1 (3 - 5/3)^2 = 8/9 + 16/9 = 8/3 over 3 - (4 + 1)/3 = 4/3, which is 2.
#   b, binary. Treated 1, 1, 0, 0: p = 1/2, SD sqrt(p (1 - p)) = 1/2. Comparison 0, 0, 0, 1:
#     mean 1/4 before; weighted mean 0 after (the one 1 has weight 0).
TREATED = [1, 1, 1, 1, 0, 0, 0, 0]
WEIGHTS = [1, 1, 1, 1, 2, 1, 0, 0]
SMALL = pd.DataFrame({"x": [1, 4, 4, 7, 1, 3, 5, 9], "b": [1, 1, 0, 0, 0, 0, 0, 1]}, dtype=float)


@pytest.fixture(autouse=True)
def silent():
    """No division warnings either: undefined ratios are NaN by design."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _rows(table: pd.DataFrame) -> pd.DataFrame:
    assert list(table.columns) == COLUMNS
    return table.set_index("covariate")


def test_smd_before_matches_matchit_for_every_covariate() -> None:
    lalonde = pd.read_csv(DATA / "lalonde.csv")
    with open(DATA / "matchit_lalonde_nearest_1to1.json") as f:
        expected = json.load(f)["smd_before"]
    design = design_matrices(lalonde, COVARIATES)
    scores = PropensityModel().fit(design.model, lalonde["treat"]).predict(design.model)
    table = balance_table(
        design.balance, design.binary, lalonde["treat"], np.ones(len(lalonde)), distance=scores
    )
    assert list(table["covariate"]) == list(expected)  # distance first, then MatchIt's order
    np.testing.assert_allclose(table["smd_before"], list(expected.values()), rtol=0, atol=1e-6)
    # Variance ratios for continuous variables only, though binary ones vary in both groups here.
    ratios = table.set_index("covariate")["variance_ratio_after"]
    assert ratios.isna().to_dict() == {name: name in design.binary for name in expected}


def test_after_matching_means_are_weighted_and_the_sd_is_the_treated_one() -> None:
    table = _rows(balance_table(SMALL, frozenset({"b"}), TREATED, WEIGHTS))
    assert list(table.index) == ["x", "b"]
    assert table.loc["x", "smd_before"] == pytest.approx((4 - 4.5) / np.sqrt(6))
    assert table.loc["x", "smd_after"] == pytest.approx((4 - 5 / 3) / np.sqrt(6))
    assert table.loc["x", "variance_ratio_after"] == pytest.approx(6 / 2)
    assert table.loc["b", "smd_before"] == pytest.approx((1 / 2 - 1 / 4) / (1 / 2))
    assert table.loc["b", "smd_after"] == pytest.approx((1 / 2 - 0) / (1 / 2))
    assert np.isnan(table.loc["b", "variance_ratio_after"])  # cobalt leaves binary ones blank


def test_binary_and_continuous_variables_have_their_own_denominators() -> None:
    """The same 0/1 column: sqrt(p (1 - p)) = 1/2 when binary; as continuous (the propensity
    score always is) the sample SD, sqrt(((1/2)^2 * 4) / 3) = sqrt(1/3)."""
    distance = SMALL["b"].to_numpy()
    table = _rows(balance_table(SMALL, frozenset({"b"}), TREATED, WEIGHTS, distance=distance))
    assert list(table.index) == ["distance", "x", "b"]
    assert table.loc["b", "smd_before"] == pytest.approx(0.25 / 0.5)
    assert table.loc["distance", "smd_before"] == pytest.approx(0.25 / np.sqrt(1 / 3))


def test_unmatched_units_count_before_matching_only() -> None:
    """A fifth treated unit (x 100, b 1) and a fifth comparison unit (x -50, b 1), both with
    weight 0. After-matching means and variances are as in SMALL; the denominators are the
    full treated group's: x 1, 4, 4, 7, 100 has mean 23.2 and squared deviations 492.84 +
    368.64 + 368.64 + 262.44 + 5898.24 = 7390.8, so SD sqrt(7390.8 / 4) = sqrt(1847.7); b has
    p = 3/5 and SD sqrt(0.24)."""
    frame = pd.DataFrame(
        {"x": [1, 4, 4, 7, 100, 1, 3, 5, 9, -50], "b": [1, 1, 0, 0, 1] + [0] * 3 + [1, 1]}
    )
    treated = [1] * 5 + [0] * 5
    weights = [1, 1, 1, 1, 0, 2, 1, 0, 0, 0]
    table = _rows(balance_table(frame, frozenset({"b"}), treated, weights))
    assert table.loc["x", "smd_after"] == pytest.approx((4 - 5 / 3) / np.sqrt(1847.7))
    assert table.loc["x", "variance_ratio_after"] == pytest.approx(6 / 2)
    assert table.loc["b", "smd_after"] == pytest.approx((1 / 2 - 0) / np.sqrt(0.24))
    # Before matching every unit counts: comparison x mean (1 + 3 + 5 + 9 - 50) / 5 = -6.4.
    assert table.loc["x", "smd_before"] == pytest.approx((23.2 + 6.4) / np.sqrt(1847.7))


def test_no_treated_variation_gives_nan_not_infinity() -> None:
    """Treated x all 5 and treated b all 1: no treated SD to standardise by. The matched
    comparison units (the first two) have x 2, 2: no variance, so no ratio."""
    frame = pd.DataFrame({"x": [5, 5, 2, 2, 8], "b": [1, 1, 0, 1, 0]}, dtype=float)
    table = _rows(balance_table(frame, frozenset({"b"}), [1, 1, 0, 0, 0], [1, 1, 1, 1, 0]))
    assert table[["smd_before", "smd_after"]].isna().all().all()
    assert np.isnan(table.loc["x", "variance_ratio_after"])
    assert not np.isinf(table.to_numpy(dtype=float)).any()


def test_matched_counts_are_exact() -> None:
    counts = matched_counts([1, 1, 1, 0, 0, 0, 0], [1, 1, 0, 1, 0, 2, 0])
    assert counts == {
        "treated": 3,
        "comparison_pool": 4,
        "treated_matched": 2,
        "comparison_matched": 2,
    }
    assert all(type(value) is int for value in counts.values())


@pytest.mark.parametrize(
    ("binary", "weights", "message"),
    [
        (
            frozenset({"b"}),
            [1, 1, 1, 1, 0, 0, 0, 0],
            "positive for some treated and some comparison",
        ),
        (frozenset({"b"}), [1, 1, 1, 1, 2, 1, 0, -1], "finite and not negative"),
        (frozenset({"b"}), [1, 1, 1], "weights has 3 values for 8 rows"),
        (frozenset({"b", "c"}), WEIGHTS, r"binary names columns not in the balance data: \['c'\]"),
    ],
)
def test_inputs_are_checked(binary: frozenset[str], weights: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        balance_table(SMALL, binary, TREATED, weights)


def test_distance_must_cover_every_row() -> None:
    with pytest.raises(ValueError, match="'distance' must have a finite value for every row"):
        balance_table(SMALL, frozenset({"b"}), TREATED, WEIGHTS, distance=[0.5] * 7)


@pytest.mark.parametrize("fit", ["r1_norep", "r2_rep"])
def test_every_statistic_matches_matchits_summary_under_its_weights(fit: str) -> None:
    """MatchIt 4.5.1's summary on lalonde, computed from the weights its fit produced (1:1 without
    replacement; 2:1 with replacement, where controls are reused and the ESS falls to about 37
    for 73 controls): SMDs, raw mean differences, variance ratios and eCDF maxima, before and
    after, and the effective sample sizes."""
    reference = json.loads((DATA / "matchit451_lalonde_balance.json").read_text())["fits"][fit]
    lalonde = pd.read_csv(DATA / "lalonde.csv")
    design = design_matrices(lalonde, COVARIATES)
    weights = lalonde["id"].map(reference["weights"]).to_numpy()
    distance = lalonde["id"].map(reference["distance"]).to_numpy()
    table = _rows(
        balance_table(design.balance, design.binary, lalonde["treat"], weights, distance=distance)
    )
    assert list(table.index) == list(reference["all"])
    for part, when in (("all", "before"), ("matched", "after")):
        for name, row in reference[part].items():
            ours = table.loc[name]
            expected = {
                f"smd_{when}": row["Std. Mean Diff."],
                f"mean_diff_{when}": row["Means Treated"] - row["Means Control"],
                f"variance_ratio_{when}": row["Var. Ratio"],
                f"ecdf_max_{when}": row["eCDF Max"],
            }
            for column, value in expected.items():
                if value is None:
                    assert np.isnan(ours[column]), (part, name, column)
                else:
                    assert ours[column] == pytest.approx(value, rel=1e-7, abs=1e-9), (
                        part,
                        name,
                        column,
                    )
    sizes = effective_sizes(lalonde["treat"], weights)
    matched = reference["sample_sizes"]["Matched (ESS)"]
    assert sizes["treated"] == pytest.approx(matched["Treated"], rel=1e-9)
    assert sizes["comparison"] == pytest.approx(matched["Control"], rel=1e-9)


def test_ecdf_maxima_variance_ratios_and_effective_sizes_by_hand() -> None:
    # x: treated 1, 4, 4, 7. Comparison 1, 3, 5, 9, all weight 1 before matching: the eCDFs
    # differ most at 3 (1/4 against 1/2), 4 (3/4 against 1/2) and 7 (1 against 3/4): 1/4. After,
    # weights 2, 1, 0, 0: the comparison eCDF is 2/3 at 1 and 1 from 3, the treated one 1/4 at 3:
    # 3/4. Variance ratio before: 6 over the comparison's 35/3 (mean 4.5; 12.25 + 2.25 + 0.25 +
    # 20.25 = 35 over 3) = 18/35. b: proportions 1/2 against 1/4 before, 0 after.
    table = _rows(balance_table(SMALL, frozenset({"b"}), TREATED, WEIGHTS))
    assert table.loc["x", "ecdf_max_before"] == pytest.approx(1 / 4)
    assert table.loc["x", "ecdf_max_after"] == pytest.approx(3 / 4)
    assert table.loc["x", "variance_ratio_before"] == pytest.approx(18 / 35)
    assert table.loc["b", "ecdf_max_before"] == pytest.approx(1 / 4)
    assert table.loc["b", "ecdf_max_after"] == pytest.approx(1 / 2)
    assert table.loc["b", "mean_diff_before"] == pytest.approx(1 / 4)
    assert table.loc["b", "mean_diff_after"] == pytest.approx(1 / 2)
    assert np.isnan(table.loc["b", "variance_ratio_before"])
    # Kish: treated 4 units of weight 1 -> 4; comparison weights 2, 1 -> 3^2 / 5 = 1.8.
    assert effective_sizes(TREATED, WEIGHTS) == pytest.approx({"treated": 4.0, "comparison": 1.8})


@pytest.mark.parametrize("levels", [50, None])
def test_ecdf_maxima_equal_a_brute_force_count_whether_values_repeat_or_not(levels) -> None:
    # With 50 distinct values (-0.0 and 0.0 among them, which are one value) the table ranks them
    # by hashing; with every value distinct, by sorting: both must give every gap's maximum.
    rng = np.random.default_rng(7)
    n = 20_000 if levels else 3_000
    x = rng.integers(-3, levels - 3, n) / 4.0 if levels else rng.normal(size=n)
    if levels:
        x[x == 0] = np.where(rng.random((x == 0).sum()) < 0.5, -0.0, 0.0)
    treated = (rng.random(n) < 0.3).astype(int)
    weights = np.where(treated == 1, 1.0, rng.poisson(0.7, n).astype(float))
    table = _rows(balance_table(pd.DataFrame({"x": x}), frozenset(), treated, weights))
    values = np.unique(x)
    for when, w in (("before", np.ones(n)), ("after", weights)):
        t, c = treated == 1, treated == 0
        below = x[:, None] <= values[None, :]
        cdf_t = (w[t] @ below[t]) / w[t].sum()
        cdf_c = (w[c] @ below[c]) / w[c].sum()
        assert table.loc["x", f"ecdf_max_{when}"] == pytest.approx(np.abs(cdf_t - cdf_c).max())
