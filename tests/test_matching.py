"""Nearest-neighbour matching: hand-worked cases of each part of the rule (MatchIt's
`method="nearest"`), a cross-check against a naive reference written from the rule text, and
MatchIt 4.7.2's own matches on data full of ties (tests/data/matchit472_nearest_ties.json)."""

import json
import math
import statistics
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tf_eval.method.matching import NearestNeighbourMatcher


def _fit(score, treated, exact=None, **params) -> NearestNeighbourMatcher:
    return NearestNeighbourMatcher(**params).fit(score, treated, exact)


def _matches(score, treated, exact=None, **params) -> list[list[int]]:
    return _fit(score, treated, exact, **params).match_matrix_.tolist()


@pytest.mark.parametrize("replace", [False, True])
def test_tied_scores_are_ordered_by_row(replace: bool) -> None:
    # All at 0.5, so the stable sort keeps row order 0, 1, 2. Treated row 1 has row 0 below and
    # row 2 above, both at distance 0: the one below wins.
    assert _matches([0.5, 0.5, 0.5], [0, 1, 0], replace=replace) == [[0]]
    # Treated row 0 comes first, so nothing is below it; above, the nearest is row 1.
    assert _matches([0.5, 0.5, 0.5], [1, 0, 0], replace=replace) == [[1]]
    # Controls 0 and 1 tie at 0.3 and sort as row 0, row 1, so the nearest below treated row 2
    # (0.5) is row 1; at distance 0.2 it beats row 3 above (0.9, distance 0.4).
    assert _matches([0.3, 0.3, 0.5, 0.9], [0, 0, 1, 0], replace=replace) == [[1]]


@pytest.mark.parametrize("replace", [False, True])
def test_a_tie_in_distance_goes_to_the_control_below_when_it_is_no_more_places_away(
    replace: bool,
) -> None:
    # 0.25 and 0.75 are both exactly 0.25 from 0.5 (binary fractions: the subtractions are exact),
    # each one place away: below wins whichever row it is in.
    assert _matches([0.25, 0.5, 0.75], [0, 1, 0], replace=replace) == [[0]]
    assert _matches([0.75, 0.5, 0.25], [0, 1, 0], replace=replace) == [[2]]


@pytest.mark.parametrize("replace", [False, True])
def test_a_tie_in_distance_goes_to_the_control_fewer_places_away(replace: bool) -> None:
    # Sorted: control 0.25 (row 0), treated 0.4 (row 1), treated 0.5 (row 2), control 0.75 (row
    # 3). Row 2 goes first; both controls are 0.25 away, but the one below is two places away and
    # the one above one place: above wins (MatchIt 4.7.2 walks out one place a side at a time).
    # Row 1 then takes row 0, the nearer either way.
    assert _matches([0.25, 0.4, 0.5, 0.75], [0, 1, 1, 0], replace=replace) == [[0], [3]]
    # Ties in score: treated row 2 among controls at 0.5 in rows 0, 1 (below, one and two places
    # away) and 3, 4 (above): distance 0 to all four; one place below and one above, below wins.
    assert _matches([0.5] * 5, [0, 0, 1, 0, 0], replace=replace) == [[1]]


def test_treated_units_choose_largest_score_first_then_in_row_order() -> None:
    # Treated 0.8 (row 2) goes before 0.55 (row 0) and takes the only control (0.6, row 1), though
    # row 0 is closer to it (0.05 against 0.2): greedy, not optimal. Row 0 is left unmatched.
    assert _matches([0.55, 0.6, 0.8], [1, 0, 1]) == [[-1], [1]]
    # Rows 1 and 2 tie at 0.5 and go in row order. Row 1 takes row 0 (0.4, distance 0.1) over
    # row 3 (0.9, distance 0.4); row 2 finds row 0 used and takes row 3.
    assert _matches([0.4, 0.5, 0.5, 0.9], [0, 1, 1, 0]) == [[0], [3]]


def test_the_caliper_is_in_sample_sds_of_all_scores_and_its_boundary_is_inside() -> None:
    # Scores 0, 0, 1, 2, 2: mean 1, squared deviations 1 + 1 + 0 + 1 + 1 = 4, sample variance
    # 4 / 4 = 1, so caliper 1 is a width of exactly 1.0. (The population SD, sqrt(0.8) ~ 0.89, or
    # the controls' SD alone, sqrt(1/3) ~ 0.58, would drop row 3's match below.)
    score, treated = [0.0, 0.0, 1.0, 2.0, 2.0], [0, 0, 0, 1, 1]
    # Treated rows 3 and 4 tie at 2.0, so row 3 goes first: its nearest control is row 2 (1.0) at
    # distance 1.0 == width, kept. Row 4's nearest free control is row 1 (0.0) at 2.0 > width:
    # dropped, though without a caliper it takes row 1.
    fitted = _fit(score, treated, caliper=1)
    assert fitted.caliper_width_ == 1.0
    assert fitted.match_matrix_.tolist() == [[2], [-1]]
    assert fitted.weights_.tolist() == [0, 0, 1, 1, 0]
    assert _matches(score, treated) == [[2], [1]]
    assert _fit(score, treated).caliper_width_ is None
    # With replacement both take row 2 (distance 1.0 each); row 2's weight 1 + 1 is rescaled to
    # the one distinct control: 2 * 1 / 2 = 1.
    fitted = _fit(score, treated, caliper=1, replace=True)
    assert fitted.match_matrix_.tolist() == [[2], [2]]
    assert fitted.weights_.tolist() == [0, 0, 1, 1, 1]
    # A hair narrower (0.999) and every distance (1.0 or more) is outside: nobody is matched.
    fitted = _fit(score, treated, caliper=0.999)
    assert fitted.match_matrix_.tolist() == [[-1], [-1]]
    assert fitted.weights_.tolist() == [0] * 5


def test_with_replacement_a_control_serves_several_treated_units() -> None:
    # Controls: row 0 (0.5), row 3 (0.0). Treated in order: row 2 (0.6), row 1 (0.4), row 4 (0.05).
    score, treated = [0.5, 0.4, 0.6, 0.0, 0.05], [0, 1, 1, 0, 1]
    # With replacement: row 2 takes row 0 (0.1; nothing above). Row 1 takes row 0 too (0.1 against
    # row 3 at 0.4). Row 4 takes row 3 (0.05 against row 0 at 0.45). Control weights 2 (row 0) and
    # 1 (row 3) sum to 3 and are rescaled to the 2 distinct controls: 4/3 and 2/3.
    fitted = _fit(score, treated, replace=True)
    assert fitted.match_matrix_.tolist() == [[0], [0], [3]]
    np.testing.assert_allclose(fitted.weights_, [4 / 3, 1, 1, 2 / 3, 1], rtol=1e-15)
    # Without: row 2 takes row 0, row 1 is left row 3, and row 4 finds nothing.
    fitted = _fit(score, treated)
    assert fitted.match_matrix_.tolist() == [[3], [0], [-1]]
    assert fitted.weights_.tolist() == [1, 1, 1, 1, 0]


# Treated rows 0-2 (0.9, 0.5, 0.1) and controls rows 3-6 (0.8, 0.6, 0.45, 0.0).
RATIO_SCORE, RATIO_TREATED = [0.9, 0.5, 0.1, 0.8, 0.6, 0.45, 0.0], [1, 1, 1, 0, 0, 0, 0]


def test_ratio_matching_runs_in_rounds_until_controls_run_out() -> None:
    # Round 1: row 0 takes row 3 (0.1; nothing above); row 1 takes row 5 (0.05, against row 4 at
    # 0.1); row 2 takes row 6 (0.1, against row 4 at 0.5). Round 2: row 0 takes row 4 (0.3), and
    # rows 1 and 2 find every control used. (Giving row 0 both its matches first would instead
    # leave row 1 with rows 5 and 6 and row 2 with nothing.)
    assert _matches(RATIO_SCORE, RATIO_TREATED, ratio=2) == [[3, 4], [5, -1], [6, -1]]
    # With replacement each takes its two nearest: row 0 rows 3 (0.1) and 4 (0.3); row 1 rows 5
    # (0.05) and 4 (0.1, against row 6 at 0.5); row 2 rows 6 (0.1) and 5 (0.35).
    assert _matches(RATIO_SCORE, RATIO_TREATED, ratio=2, replace=True) == [[3, 4], [5, 4], [6, 5]]


def test_weights_split_each_treated_unit_over_its_matches() -> None:
    # From the rounds above: row 0 has 2 matches, so rows 3 and 4 get 1/2 each; rows 1 and 2 have
    # 1 match, so rows 5 and 6 get 1 each. The sum, 3, is rescaled to the 4 distinct controls
    # (x 4/3): 2/3, 2/3, 4/3, 4/3. Every treated unit is matched: weight 1.
    fitted = _fit(RATIO_SCORE, RATIO_TREATED, ratio=2)
    np.testing.assert_allclose(fitted.weights_, [1, 1, 1, 2 / 3, 2 / 3, 4 / 3, 4 / 3], rtol=1e-15)
    # With replacement: row 3 gets 1/2, row 4 1/2 + 1/2, row 5 1/2 + 1/2, row 6 1/2. The sum, 3,
    # is rescaled to 4 distinct controls: 2/3, 4/3, 4/3, 2/3.
    fitted = _fit(RATIO_SCORE, RATIO_TREATED, ratio=2, replace=True)
    np.testing.assert_allclose(fitted.weights_, [1, 1, 1, 2 / 3, 4 / 3, 4 / 3, 2 / 3], rtol=1e-15)


@pytest.mark.parametrize("replace", [False, True])
def test_exact_keys_are_never_crossed(replace: bool) -> None:
    score, treated = [0.5, 0.52, 0.9, 0.3, 0.31], [1, 0, 0, 1, 0]
    # Without keys, row 0 takes row 1 (0.02) and row 3 takes row 4 (0.01).
    assert _matches(score, treated, replace=replace) == [[1], [4]]
    # With keys, row 0 ("a") can only take row 2 ("a", 0.4 away), and row 3 ("c") has no "c"
    # control, so it stays unmatched.
    fitted = _fit(score, treated, ["a", "b", "a", "c", "b"], replace=replace)
    assert fitted.match_matrix_.tolist() == [[2], [-1]]
    assert fitted.weights_.tolist() == [1, 0, 1, 0, 0]
    # Integer keys and boolean treatment flags code the same groups.
    same = _fit(score, np.array(treated, dtype=bool), [1, 2, 1, 3, 2], replace=replace)
    assert same.match_matrix_.tolist() == [[2], [-1]]


def test_fitted_attributes_have_the_documented_types() -> None:
    matcher = NearestNeighbourMatcher(ratio=3)
    assert matcher.fit(RATIO_SCORE, RATIO_TREATED) is matcher
    assert matcher.match_matrix_.dtype == np.int64 and matcher.match_matrix_.shape == (3, 3)
    assert matcher.weights_.dtype == np.float64 and matcher.weights_.shape == (7,)


@pytest.mark.parametrize(
    ("params", "data", "message"),
    [
        ({"ratio": 0}, {}, "ratio must be an int >= 1, got 0"),
        ({"ratio": 1.5}, {}, "ratio must be an int >= 1, got 1.5"),
        ({"ratio": True}, {}, "ratio must be an int >= 1, got True"),
        ({"caliper": 0}, {}, "caliper must be None or a finite number > 0, got 0"),
        ({"caliper": -0.2}, {}, "caliper must be None or a finite number > 0, got -0.2"),
        ({"caliper": math.inf}, {}, "caliper must be None or a finite number > 0, got inf"),
        ({"caliper": "0.2"}, {}, "caliper must be None or a finite number > 0, got '0.2'"),
        ({"replace": 1}, {}, "replace must be a bool, got 1"),
        ({}, {"treated": [1, 0]}, "lengths differ: {'score': 3, 'treated': 2}"),
        ({}, {"exact": [1, 2]}, "lengths differ: {'score': 3, 'treated': 3, 'exact': 2}"),
        ({}, {"score": [[0.1, 0.2, 0.3]]}, "score must be 1-D, got shape (1, 3)"),
        ({}, {"score": ["a", "b", "c"]}, "score must be numeric, got dtype <U1"),
        ({}, {"score": [0.1, math.nan, 0.3]}, "score must be finite"),
        ({}, {"score": [0.1, 0.2, -math.inf]}, "score must be finite"),
        ({}, {"treated": [1, 0, 2]}, "treated must hold only booleans or 0/1"),
        ({}, {"treated": ["y", "n", "n"]}, "treated must hold only booleans or 0/1"),
        ({}, {"treated": [0, 0, 0]}, "no treated units"),
        ({}, {"treated": [True, True, True]}, "no control units"),
        ({}, {"exact": ["a", None, "b"]}, "exact has missing keys"),
        ({}, {"exact": [1.0, 2.0, math.nan]}, "exact has missing keys"),
    ],
)
def test_invalid_input_is_refused_with_a_one_line_message(params, data, message) -> None:
    args = {"score": [0.1, 0.2, 0.3], "treated": [1, 0, 0], "exact": None} | data
    with pytest.raises(ValueError) as refused:
        NearestNeighbourMatcher(**params).fit(**args)
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def _reference(score, treated, exact, ratio, caliper, replace):
    """The rule read literally, O(ratio x treated x controls): in each round, each treated unit in
    turn scans every control for eligibility, then takes the nearest below or above it in the
    stable score order; on a tie in distance the one fewer places from the unit's outermost
    matches so far (itself at first), below if equally far. Weights in exact fractions."""
    n = len(score)
    place = {row: p for p, row in enumerate(sorted(range(n), key=lambda i: (score[i], i)))}
    controls = [i for i in range(n) if not treated[i]]
    width = math.inf if caliper is None else caliper * statistics.stdev(score)
    matches = {t: [] for t in range(n) if treated[t]}
    used = set()
    for _ in range(ratio):
        for t in sorted(matches, key=lambda t: (-score[t], t)):
            eligible = [
                c
                for c in controls
                if (replace or c not in used)
                and c not in matches[t]
                and (exact is None or exact[c] == exact[t])
                and abs(score[t] - score[c]) <= width
            ]
            below = max((c for c in eligible if place[c] < place[t]), key=place.get, default=None)
            above = min((c for c in eligible if place[c] > place[t]), key=place.get, default=None)
            reached = [place[t]] + [place[c] for c in matches[t]]
            if below is not None and (
                above is None
                or abs(score[t] - score[below]) < abs(score[t] - score[above])
                or (
                    abs(score[t] - score[below]) == abs(score[t] - score[above])
                    and min(reached) - place[below] <= place[above] - max(reached)
                )
            ):
                matches[t].append(below)
            elif above is not None:
                matches[t].append(above)
            used.update(matches[t])
    weights = [Fraction(0)] * n
    for t, got in matches.items():
        weights[t] = Fraction(int(bool(got)))
        for c in got:
            weights[c] += Fraction(1, len(got))
    total = sum(weights[c] for c in controls)
    for c in controls:
        weights[c] *= len(used) / total if total else 0
    matrix = [got + [-1] * (ratio - len(got)) for got in matches.values()]
    return matrix, [float(w) for w in weights]


def _random_case(rng: np.random.Generator, n: int) -> dict:
    """Scores mostly from a few values, so ties in score and in distance are common."""
    if rng.random() < 0.8:
        score = rng.choice(rng.random(rng.integers(1, 5)).round(2), n)
    else:
        score = rng.random(n)
    treated = rng.random(n) < rng.uniform(0.2, 0.7)
    treated[rng.choice(n, 2, replace=False)] = [True, False]
    keys = rng.integers(0, rng.integers(1, 4), n)
    return {
        "score": score.tolist(),
        "treated": treated.tolist(),
        "exact": None if rng.random() < 0.5 else keys.tolist(),
        "ratio": int(rng.integers(1, 4)),
        "caliper": None if rng.random() < 0.5 else float(rng.choice([0.05, 0.2, 0.5, 1.5])),
        "replace": bool(rng.random() < 0.5),
    }


def test_matches_a_naive_reading_of_the_rule_on_random_inputs() -> None:
    rng = np.random.default_rng(20240611)
    sizes = [int(rng.integers(2, 16)) for _ in range(1500)] + [300] * 10
    unmatched = reused = 0
    for n in sizes:
        case = _random_case(rng, n)
        matrix, weights = _reference(**case)
        fitted = NearestNeighbourMatcher(case["ratio"], case["caliper"], case["replace"]).fit(
            case["score"], case["treated"], case["exact"]
        )
        assert fitted.match_matrix_.tolist() == matrix, case
        # The reference's weights are exact fractions; ours are float sums, off in the last bits
        # in a few percent of cases, so they are compared to rounding.
        np.testing.assert_allclose(fitted.weights_, weights, rtol=1e-12, atol=0, err_msg=str(case))
        found = fitted.match_matrix_[fitted.match_matrix_ >= 0]
        unmatched += found.size < fitted.match_matrix_.size
        reused += found.size > np.unique(found).size
    # The inputs did exercise running out of controls and reusing them.
    assert unmatched > 100 and reused > 100


MATCHIT_TIES = Path(__file__).parent / "data" / "matchit472_nearest_ties.json"


def test_matches_match_matchit_4_7_2_on_data_full_of_ties() -> None:
    """MatchIt 4.7.2's matcher on 180 cases (150 with scores from a few values): the same
    controls for every treated unit, in MatchIt's column order. With replacement and ratio > 1
    MatchIt picks among controls tied at the k-th place by its C++ library's partial sort (not
    portable), so there the matched distances are compared instead."""
    cases = json.loads(MATCHIT_TIES.read_text())["cases"]
    assert len(cases) == 180
    compared_by_distance = 0
    for case in cases:
        score, treated = np.array(case["score"]), np.array(case["treated"])
        ours = _fit(
            score,
            treated,
            case["exact"],
            ratio=case["ratio"],
            caliper=case["caliper"],
            replace=case["replace"],
        ).match_matrix_
        theirs = np.array(case["match_matrix"])
        if not (case["replace"] and case["ratio"] > 1):
            assert ours.tolist() == theirs.tolist(), case["case"]
            continue
        compared_by_distance += 1
        rows = np.flatnonzero(treated)
        for i, t in enumerate(rows):
            distances = [sorted(abs(score[t] - score[m[i][m[i] >= 0]])) for m in (ours, theirs)]
            assert distances[0] == distances[1], (case["case"], i)
    assert 0 < compared_by_distance < 40
