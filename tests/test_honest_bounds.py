"""Relative-magnitudes bounds (tf_eval.method.honest_bounds) against diff-diff and R HonestDiD's
method, by hand, and for bad input; and their sentence (tf_eval.release.bounds_words).

The reference (tests/data/honest_bounds_reference.json, from honest_bounds_reference.py):
- the identified set: diff-diff 3.13.0's linear programs, to 1e-6;
- the robust confidence set: R HonestDiD's C-LF method as moderndid 0.2.0's ARP tests compute it,
  on HonestDiD's grid of 1,000 points. Both sides take their ends from the same grid, and the
  least-favourable critical value from the same seeded draws, so the ends agree to rounding
  (1e-9); the method itself is only as fine as the grid, one step (about a twenty-fifth of a
  standard error);
- the breakdown value: the same bisection on the same tests, so the same value (to 1e-9); the
  method itself is only as fine as BREAKDOWN_TOL.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tf_eval.method import honest_bounds as hb
from tf_eval.release.bounds_words import breakdown_sentence

REFERENCE = json.loads(
    (Path(__file__).parent / "data" / "honest_bounds_reference.json").read_text()
)
CASES = REFERENCE["cases"]
ROWS = [(name, row) for name, case in CASES.items() for row in case["by_mbar"]]
IDS = [f"{name}-{row['mbar']}" for name, row in ROWS]


def _args(name: str) -> tuple:
    case = CASES[name]
    return (
        np.array(case["beta"]),
        np.array(case["sigma"]),
        case["num_pre"],
        case["num_post"],
    )


def test_reference_tools() -> None:
    assert REFERENCE["packages"]["diff-diff"] == "3.13.0"
    assert REFERENCE["packages"]["moderndid"] == "0.2.0"
    assert len(ROWS) >= 28


# --- against the reference ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "row"), ROWS, ids=IDS)
def test_identified_set_matches_diff_diff(name: str, row: dict) -> None:
    beta, _, num_pre, num_post = _args(name)
    lb, ub = hb.identified_set(beta, num_pre, num_post, row["mbar"], CASES[name]["l_vec"])
    assert lb == pytest.approx(row["diff_diff"]["lb"], abs=1e-6)
    assert ub == pytest.approx(row["diff_diff"]["ub"], abs=1e-6)


@pytest.mark.parametrize(("name", "row"), ROWS, ids=IDS)
def test_robust_set_matches_honestdid(name: str, row: dict) -> None:
    found = hb.robust_set(*_args(name), row["mbar"], CASES[name]["l_vec"])
    assert found == pytest.approx(tuple(row["robust"]), abs=1e-9)


@pytest.mark.parametrize("name", list(CASES))
def test_breakdown_matches_honestdid(name: str) -> None:
    found = hb.breakdown(*_args(name), CASES[name]["l_vec"])
    expected = CASES[name]["breakdown"]
    assert (found is None) == (expected is None)
    if expected is not None:
        assert found == pytest.approx(expected, abs=1e-9)


def test_diff_diff_interval_is_not_the_robust_one() -> None:
    """diff-diff 3.13.0's interval is the identified set widened by 1.96 standard errors, which
    ignores that the pre-period drifts are estimated; with a clear pre-trend it is narrower than
    the robust set, which is why it is not a target."""
    row = CASES["clear_pretrend"]["by_mbar"][-1]
    assert row["diff_diff"]["ci_ub"] - row["diff_diff"]["ci_lb"] < (
        row["robust"][1] - row["robust"][0]
    )
    lb, ub = hb.robust_set(*_args("clear_pretrend"), row["mbar"])
    assert ub - lb > row["diff_diff"]["ci_ub"] - row["diff_diff"]["ci_lb"]


# --- by hand --------------------------------------------------------------------------------------

BETA = np.array([-0.3, -0.2, -0.1, 0.3, 0.45])  # largest drift 0.1; average effect 0.375
SIGMA = np.diag([0.04, 0.04, 0.04, 0.05, 0.05]) ** 2


def test_parallel_trends_exactly_leaves_the_estimate() -> None:
    """Mbar = 0: no drift after support at all, so the effect is the estimate itself."""
    assert hb.identified_set(BETA, 3, 2, 0.0) == (0.375, 0.375)


def test_no_pre_trend_leaves_the_estimate_whatever_mbar() -> None:
    """No drift before support: any multiple of it is 0."""
    beta = np.array([0.0, 0.0, 0.0, 0.3, 0.4])
    assert hb.identified_set(beta, 3, 2, 5.0) == pytest.approx((0.35, 0.35), abs=1e-15)


def test_identified_set_by_hand() -> None:
    """Mbar = 2 lets each post-period drift be up to 0.2. The average of two periods moves by
    the first drift in full (it shifts both) and the second by half: 0.2 * 1.5 = 0.3."""
    assert hb.identified_set(BETA, 3, 2, 2.0) == pytest.approx((0.075, 0.675), abs=1e-12)
    # The first post period alone moves by the first drift only; the reference period's drift,
    # 0 - beta[-1], counts as a pre-period drift (here the largest, 0.5).
    beta = np.array([0.0, 0.1, 0.5, 1.0, 2.0])
    assert hb.identified_set(beta, 3, 2, 1.0, [1.0, 0.0]) == pytest.approx((0.5, 1.5))


def test_robust_set_holds_the_identified_set_and_grows_with_mbar() -> None:
    previous = (np.inf, -np.inf)
    for mbar in (0.0, 0.5, 1.0, 2.0):
        lb, ub = hb.robust_set(BETA, SIGMA, 3, 2, mbar)
        low, high = hb.identified_set(BETA, 3, 2, mbar)
        assert lb < low and high < ub
        step = 2 * (ub - lb) / hb.GRID_POINTS  # the grid moves with Mbar
        assert lb <= previous[0] + step and ub >= previous[1] - step
        previous = (lb, ub)


def test_breakdown_is_where_zero_enters() -> None:
    found = hb.breakdown(BETA, SIGMA, 3, 2)
    assert found is not None and 0 < found < hb.BREAKDOWN_MAX
    assert hb.robust_set(BETA, SIGMA, 3, 2, found - 0.02)[0] > 0
    assert hb.robust_set(BETA, SIGMA, 3, 2, found + 0.02)[0] <= 0


def test_breakdown_ends() -> None:
    """0.0 when even parallel trends leave no effect in the interval; None when the effect
    survives BREAKDOWN_MAX times the largest pre-period drift."""
    assert hb.breakdown(np.array([0.0, 0.01, 0.05]), np.eye(3) * 0.01, 2, 1) == 0.0
    tiny = np.array([0.001, -0.001, 0.0, 1.0])
    assert hb.breakdown(tiny, np.eye(4) * 1e-4, 3, 1) is None


def test_units_and_sign_do_not_matter() -> None:
    """Pounds or thousands, rise or fall: the sets scale and flip, the breakdown stays."""
    lb, ub = hb.robust_set(BETA, SIGMA, 3, 2, 1.0)
    scaled = hb.robust_set(BETA * 1000, SIGMA * 1e6, 3, 2, 1.0)
    assert scaled == pytest.approx((lb * 1000, ub * 1000), rel=1e-9)
    assert hb.robust_set(-BETA, SIGMA, 3, 2, 1.0) == pytest.approx((-ub, -lb), abs=1e-12)
    assert hb.breakdown(BETA * 1000, SIGMA * 1e6, 3, 2) == hb.breakdown(BETA, SIGMA, 3, 2)
    assert hb.breakdown(-BETA, SIGMA, 3, 2) == hb.breakdown(BETA, SIGMA, 3, 2)


def test_honest_bounds_gathers_the_parts() -> None:
    found = hb.honest_bounds(BETA, SIGMA, 3, 2, 1.0)
    assert found.estimate == pytest.approx(0.375)
    assert found.largest_pre_drift == pytest.approx(0.1)
    assert found.identified == hb.identified_set(BETA, 3, 2, 1.0)
    assert found.robust == hb.robust_set(BETA, SIGMA, 3, 2, 1.0)


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"beta": BETA[:4]}, "beta must have shape"),
        ({"beta": np.r_[BETA[:4], np.nan]}, "beta must be finite"),
        ({"sigma": SIGMA[:4, :4]}, "sigma must have shape"),
        ({"sigma": SIGMA + np.triu(np.ones((5, 5)), 1) * 1e-4}, "symmetric"),
        ({"sigma": SIGMA - np.eye(5) * 0.002}, "positive definite"),
        ({"mbar": -0.5}, "Mbar must be a non-negative number"),
        ({"mbar": float("nan")}, "Mbar must be a non-negative number"),
        ({"l_vec": [1.0]}, "l_vec must be 2 finite weights"),
        ({"l_vec": [0.0, 0.0]}, "l_vec must be 2 finite weights"),
        ({"num_pre": 0, "num_post": 5}, "num_pre must be at least 1"),
        ({"num_pre": 2.0}, "must be integers"),
    ],
)
def test_bad_input_is_one_line(change: dict, message: str) -> None:
    args = {"beta": BETA, "sigma": SIGMA, "num_pre": 3, "num_post": 2, "mbar": 1.0}
    args.update(change)
    with pytest.raises(ValueError, match=message) as caught:
        hb.honest_bounds(**args)
    assert "\n" not in str(caught.value)


def test_too_many_post_periods() -> None:
    with pytest.raises(ValueError, match="num_post must be between 1 and 8"):
        hb.breakdown(np.zeros(10), np.eye(10), 1, 9)


# --- the sentence ---------------------------------------------------------------------------------


def test_sentence() -> None:
    assert breakdown_sentence(1.73828125) == (
        "The interval still excludes no effect unless the difference in trends after support "
        "were more than 1.7 times the largest seen between quarters before it."
    )
    assert "more than 0.48 times" in breakdown_sentence(0.48828125)  # rounded down, not 0.49
    assert "even if the difference in trends after support were 10 times" in breakdown_sentence(
        None
    )
    assert "no difference in trends is needed" in breakdown_sentence(0.0)
    assert "between months" in breakdown_sentence(1.0, "month")
    for value in (None, 0.0, 0.5, 2.0):
        sentence = breakdown_sentence(value)
        assert not any(word in sentence for word in ("Mbar", "Delta", "RM", "breakdown", "C-LF"))
