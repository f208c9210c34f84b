"""Property-based tests of the disclosure gate (docs/disclosure-control.md) with hypothesis.

Every expectation is computed independently here from the exact inputs (the range a count may
be shown in after at most +-3 of noise, never below 10, and rounding to the nearest 5; group
sizes, dominance and p-ratio in exact integer/fraction arithmetic; how far noise of at most one
largest contribution can move a mean, and the digits it may be shown to), never read back from
the gate's own output. Counts come with random cell keys and per-person values with random record
keys. All tests pass `RULES` (the defaults) explicitly, so a deployment's disclosure.toml cannot
change what is being tested. The hypothesis example
database is off (database=None); hypothesis still keeps a small cache in .hypothesis/, which
it git-ignores itself.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from random import Random

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from tf_eval.governance.rules import FILTER_DIMENSIONS, Rules, SelectionRefused, check_selection
from tf_eval.release.disclosure import SafeTable, count_table, histogram, mean_table, safe_estimate
from tf_eval.release.perturbation import ptable

RULES = Rules()  # the design defaults, whatever disclosure.toml says
MARK = RULES.suppressed_mark

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
HEAVY = settings(PROPERTY, max_examples=75)  # many gate calls per example
CHEAP = settings(max_examples=100, deadline=None, database=None)  # small input spaces


def test_the_default_rules_are_the_design_rules() -> None:
    """The numbers every test below relies on (docs/disclosure-control.md)."""
    assert (RULES.count_threshold, RULES.count_rounding, RULES.suppressed_mark) == (10, 5, "c")
    assert (RULES.proportion_min, RULES.dominance_n, RULES.dominance_k, RULES.p_ratio) == (
        10,
        2,
        0.9,
        0.1,
    )
    assert (RULES.histogram_min_bin, RULES.estimate_min_families, RULES.estimate_min_df) == (
        10,
        10,
        10,
    )
    assert RULES.selection_min_families == 50
    assert (RULES.perturbation_max, RULES.sum_perturbation) == (3, 1.0)


def test_the_ptable_is_symmetric_unbiased_and_never_goes_below_the_threshold() -> None:
    """Row m (the noise a count m above the threshold may get) holds one noise per key, within
    +-m, symmetric (so it averages exactly 0), each value j != 0 on a share of keys within 1/256
    of (3 + 1 - |j|) / sum, and 0 on the keys left over: the design in
    docs/disclosure-control.md."""
    table = ptable(RULES.perturbation_max)
    assert table.shape == (4, 256)
    for m, row in enumerate(table):
        assert row.min() >= -m and row.max() <= m
        assert sorted(row) == sorted(-row) and row.sum() == 0
        weights = {j: 4 - abs(j) for j in range(-m, m + 1)}
        for j, w in weights.items():
            share = (row == j).mean()
            slack = 2 * m if j == 0 else 1  # 0 takes the keys the others' rounding left
            assert abs(share - w / sum(weights.values())) <= slack / 256, (m, j)


# --- independent models of the rules ----------------------------------------------------------


def nearest_5(x: int) -> int:
    """To the nearest 5, a remainder of 1 or 2 down, 3 or 4 up."""
    return 5 * ((x + 2) // 5)


def allowed_counts(exact: int) -> set[int] | None:
    """What the 10-5 rule with noise may show: 0 stays 0, 1-9 suppressed (None), the rest the
    nearest 5 to exact + j for noise j within +-3 that never takes it below 10."""
    if exact == 0:
        return {0}
    if exact < 10:
        return None
    reach = min(3, exact - 10)
    return {nearest_5(exact + j) for j in range(-reach, reach + 1)}


def shown_as_allowed(value: int | None, exact: int) -> bool:
    allowed = allowed_counts(exact)
    return value is None if allowed is None else value in allowed


def mean_error_bound(values: list[float], weights: list[float] | None = None) -> float:
    """How far a released mean may be from the exact one: noise of at most one largest
    contribution over the total weight (amplitude a), plus half the rounding step, which is at
    most a / sqrt(6) / 2."""
    w = weights or [1.0] * len(values)
    amplitude = max(abs(x * v) for x, v in zip(w, values, strict=True)) / sum(w)
    return amplitude * (1 + 1 / (2 * math.sqrt(6))) + 1e-12


def shown_decimals(values: list[float]) -> int:
    """The decimals a mean of these values may show: the leading digit of the noise's sd."""
    amplitude = max(abs(v) for v in values) / len(values)
    return -math.floor(math.log10(amplitude / math.sqrt(6)))


def magnitude_reason(values: list[int], rules: Rules) -> str | None:
    """Why a group mean of non-negative whole-number values may not be shown, in exact
    arithmetic (the rule's k and p taken as the decimals they are written as)."""
    if len(values) < rules.count_threshold:
        return "threshold"
    if len(set(values)) == 1:
        # Everyone has the same value (e.g. no visit at all): the mean tells each one's value.
        return "all-same"
    ordered = sorted(values, reverse=True)
    total = sum(ordered)
    if sum(ordered[: rules.dominance_n]) >= Fraction(str(rules.dominance_k)) * total:
        return "dominance"
    if total - ordered[0] - ordered[1] < Fraction(str(rules.p_ratio)) * ordered[0]:
        return "p-ratio"
    return None


def as_optional(value: object) -> int | None:
    return None if pd.isna(value) else int(value)


def release_step(exact: float, people: int | None | str = "no people") -> Decimal:
    """The step a released number is rounded to: its third significant figure, and for a value
    about people (their shown count; None when suppressed) never finer than the power of ten at
    or above 1 / people: 10 ** -floor(log10(people))."""
    step = Decimal(1).scaleb(Decimal(exact).adjusted() - 2)
    if people != "no people":
        coarse = Decimal(1).scaleb(-(len(str(people)) - 1) if people else 0)
        step = max(step, coarse)
    return step


def expected_number(exact: float, people: int | None | str = "no people") -> float:
    """A released number, in decimal arithmetic, rounded to its `release_step`. Ties go to even,
    as the binary value's exact decimal expansion decides."""
    if exact == 0:
        return 0.0
    step = release_step(exact, people)
    return float(Decimal(exact).quantize(step, rounding=ROUND_HALF_EVEN))


# --- strategies --------------------------------------------------------------------------------

exact_counts = st.one_of(
    st.just(0),
    st.integers(1, 9),
    st.integers(10, 14),  # the edge of the threshold and of rounding
    st.integers(15, 200),
    st.integers(201, 10**7),
)


@st.composite
def count_frames(draw: st.DrawFn) -> pd.DataFrame:
    """A full LA x cohort grid with two count columns, each with its cell keys."""
    n_la = draw(st.integers(1, 4))
    n_cohort = draw(st.integers(1, 4))
    cells = n_la * n_cohort
    keys = st.lists(st.integers(0, 255), min_size=cells, max_size=cells)
    return pd.DataFrame(
        {
            "la": [f"LA{i}" for i in range(n_la) for _ in range(n_cohort)],
            "cohort": [f"C{j}" for _ in range(n_la) for j in range(n_cohort)],
            "families": draw(st.lists(exact_counts, min_size=cells, max_size=cells)),
            "people": draw(st.lists(exact_counts, min_size=cells, max_size=cells)),
            "families_key": draw(keys),
            "people_key": draw(keys),
        }
    )


COUNT_COLUMNS = ["families", "people"]


@st.composite
def magnitude_group(draw: st.DrawFn) -> list[int]:
    """One group's whole-number values (A&E visits): a group size around the threshold, most
    people with a few visits, and 0-3 heavy contributors so that dominance and p-ratio fire."""
    size = draw(st.one_of(st.integers(0, 12), st.integers(8, 30)))
    heavy = min(size, draw(st.integers(0, 3)))
    typical_max = draw(st.sampled_from([0, 1, 3, 40]))
    typical = st.integers(0, typical_max)
    values = draw(st.lists(typical, min_size=size - heavy, max_size=size - heavy))
    values += draw(st.lists(st.integers(1, 100_000), min_size=heavy, max_size=heavy))
    return draw(st.permutations(values))


@st.composite
def magnitude_people(draw: st.DrawFn) -> tuple[pd.DataFrame, dict[tuple[str, str], list[int]]]:
    """Per-person values in an LA x cohort grid (some cells empty), with a few people whose
    value is missing; returns the frame and each group's finite values."""
    groups: dict[tuple[str, str], list[int]] = {}
    rows = []
    for la in ("A", "B", "C")[: draw(st.integers(1, 3))]:
        for cohort in ("2019", "2020")[: draw(st.integers(1, 2))]:
            values = draw(magnitude_group())
            missing = draw(st.integers(0, 2))
            if values:
                groups[(la, cohort)] = values
            rows += [(la, cohort, float(v)) for v in values] + [(la, cohort, math.nan)] * missing
    frame = pd.DataFrame(rows, columns=["la", "cohort", "visits"])
    frame["k"] = draw(st.lists(st.integers(0, 255), min_size=len(frame), max_size=len(frame)))
    order = draw(st.permutations(range(len(frame))))
    return frame.iloc[list(order)].reset_index(drop=True), groups


@st.composite
def binary_people(draw: st.DrawFn) -> tuple[pd.DataFrame, dict[tuple[str, str], tuple[int, int]]]:
    """Per-person 0/1 outcomes; returns the frame and each group's (with, without) counts."""
    groups: dict[tuple[str, str], tuple[int, int]] = {}
    rows = []
    for la in ("A", "B", "C")[: draw(st.integers(1, 3))]:
        for cohort in ("2019", "2020")[: draw(st.integers(1, 2))]:
            ones = draw(st.integers(0, 25))
            zeros = draw(st.integers(0, 25))
            if ones + zeros:
                groups[(la, cohort)] = (ones, zeros)
            rows += [(la, cohort, 1)] * ones + [(la, cohort, 0)] * zeros
    frame = pd.DataFrame(rows, columns=["la", "cohort", "any_ae"])
    frame["k"] = draw(st.lists(st.integers(0, 255), min_size=len(frame), max_size=len(frame)))
    return frame, groups


fixed_edges = st.lists(st.integers(-20, 120), min_size=2, max_size=10, unique=True).map(sorted)
histogram_value = st.one_of(
    st.floats(-60, 180, allow_nan=False),  # some fall outside the edges and are clipped
    st.sampled_from([0.0, 5.0, 10.0, 17.5, 50.0]),  # ties and values on edges
)
histogram_values = st.one_of(st.integers(0, 30), st.integers(30, 150)).flatmap(
    lambda n: st.lists(histogram_value, min_size=n, max_size=n)
)


# --- counts ------------------------------------------------------------------------------------


@PROPERTY
@given(count_frames())
def test_no_shown_count_is_small_and_every_shown_count_is_rounded(frame: pd.DataFrame) -> None:
    before = frame.copy()
    safe = count_table(frame, COUNT_COLUMNS, "grid", rules=RULES)
    pd.testing.assert_frame_equal(frame, before)  # the input is not touched
    pd.testing.assert_frame_equal(safe.frame[["la", "cohort"]], frame[["la", "cohort"]])
    small = 0
    for column in COUNT_COLUMNS:
        shown = [as_optional(v) for v in safe.frame[column]]
        marks = safe.shown(column)
        labels = safe.labels()[column].tolist()
        for exact, value, mark, label in zip(frame[column], shown, marks, labels, strict=True):
            assert shown_as_allowed(value, exact), (exact, value)
            if value is None:
                assert 1 <= exact <= 9
                assert mark == MARK and label == MARK
                small += 1
            else:
                assert not 1 <= value <= 9
                assert value % 5 == 0
                assert abs(value - exact) <= 5  # noise of at most 3, then rounding
                assert (value == 0) == (exact == 0)
                assert mark == value and label == f"{value:,}"
    assert list(safe.frame.columns) == ["la", "cohort", *COUNT_COLUMNS]  # no key leaves
    assert len(safe.suppressed) == small
    assert {s.rule for s in safe.suppressed} <= {"threshold"}


@PROPERTY
@given(count_frames())
def test_totals_are_sums_of_the_shown_cells(frame: pd.DataFrame) -> None:
    safe = count_table(frame, COUNT_COLUMNS, "grid", rules=RULES)
    for column in COUNT_COLUMNS:
        shown_cells = [v for v in safe.shown(column) if v != MARK]
        assert safe.total(column) == sum(shown_cells)
        assert safe.total(column) % 5 == 0
        # and near the exact total of the shown cells: each is at most 5 away
        exact = [x for x in frame[column] if not 1 <= x <= 9]
        assert abs(safe.total(column) - sum(exact)) <= 5 * len(exact)
    with pytest.raises(KeyError):
        safe.total("la")


def pivot_totals(frame: pd.DataFrame, column: str) -> tuple[dict, dict]:
    """Row (LA) and column (cohort) totals as the gate derives them: `total` on the SafeTable
    of each row's and each column's cells."""
    key = f"{column}_key"
    rows = {
        la: count_table(part, [column], "row", rules=RULES).total(column)
        for la, part in frame[["la", "cohort", column, key]].groupby("la")
    }
    cols = {
        cohort: count_table(part, [column], "col", rules=RULES).total(column)
        for cohort, part in frame[["la", "cohort", column, key]].groupby("cohort")
    }
    return rows, cols


@HEAVY
@given(count_frames(), st.data())
def test_no_suppressed_cell_can_be_recovered(frame: pd.DataFrame, data: st.DataObject) -> None:
    # make sure at least one cell is suppressed
    forced = data.draw(st.integers(0, len(frame) - 1))
    frame.loc[forced, "families"] = data.draw(st.integers(1, 9))
    safe = count_table(frame, COUNT_COLUMNS, "grid", rules=RULES)
    rows, cols = pivot_totals(frame, "families")

    # any other exact values (and keys) for the suppressed cells (1-9) give exactly the same
    # output
    other = frame.copy()
    for column in COUNT_COLUMNS:
        for i in frame.index[frame[column].between(1, 9)]:
            other.loc[i, column] = data.draw(
                st.integers(1, 9).filter(lambda v, old=frame.loc[i, column]: v != old)
            )
            other.loc[i, f"{column}_key"] = data.draw(st.integers(0, 255))
    changed = count_table(other, COUNT_COLUMNS, "grid", rules=RULES)
    pd.testing.assert_frame_equal(changed.frame, safe.frame)
    pd.testing.assert_frame_equal(changed.labels(), safe.labels())
    assert changed.suppressed == safe.suppressed
    assert changed.note() == safe.note()
    for column in COUNT_COLUMNS:
        assert changed.total(column) == safe.total(column)
        assert changed.shown(column) == safe.shown(column)
    assert pivot_totals(other, "families") == (rows, cols)

    # row and column totals are sums of the shown cells only: subtracting the shown cells from
    # them leaves nothing that could be a suppressed cell
    shown = [
        (la, cohort, as_optional(v))
        for la, cohort, v in zip(frame["la"], frame["cohort"], safe.frame["families"], strict=True)
    ]
    for la, total in rows.items():
        assert total - sum(v or 0 for row, _, v in shown if row == la) == 0
    for cohort, total in cols.items():
        assert total - sum(v or 0 for _, col, v in shown if col == cohort) == 0
    assert sum(rows.values()) == sum(cols.values()) == safe.total("families")


# --- histograms --------------------------------------------------------------------------------


def exact_bins(values: list[float], edges: tuple[float, ...]) -> list[int]:
    """Exact counts of the values, clipped into the outer edges, in [a, b) (the last [a, b])."""
    clipped = np.minimum(np.maximum(np.array(values, dtype=float), edges[0]), edges[-1])
    last = len(edges) - 2
    return [
        int(((clipped >= a) & ((clipped < b) | ((k == last) & (clipped == b)))).sum())
        for k, (a, b) in enumerate(zip(edges, edges[1:], strict=False))
    ]


def fixed_bin_middles(values: list[float], edges: tuple[float, ...]) -> list[float]:
    """Each value moved to the middle of its bin (clipped into the outer edges; [a, b), the
    last [a, b]), in the same order."""
    middles = []
    for v in values:
        x = min(max(v, edges[0]), edges[-1])
        k = next(i for i in range(len(edges) - 1) if x < edges[i + 1] or i == len(edges) - 2)
        middles.append((edges[k] + edges[k + 1]) / 2)
    return middles


@PROPERTY
@given(histogram_values, fixed_edges, st.data())
def test_histogram_bins_are_fixed_large_enough_rounded_and_not_data_driven(
    values: list[float], edges: list[int], data: st.DataObject
) -> None:
    n = len(values)
    keys = data.draw(st.lists(st.integers(0, 255), min_size=n, max_size=n))
    safe = histogram(np.array(values, dtype=float), edges, "visits", rules=RULES, keys=keys)
    out = safe.edges
    # never data-driven: the outer edges are the caller's, the inner ones a subset of theirs
    assert out[0] == edges[0] and out[-1] == edges[-1]
    assert set(out) <= {float(e) for e in edges}
    assert all(b > a for a, b in zip(out, out[1:], strict=False))
    assert len(safe.bin_counts) == len(out) - 1

    exact = exact_bins(values, out)
    assert sum(exact) == len(values)
    for shown, count in zip(safe.bin_counts, exact, strict=True):
        if shown is None:
            # suppressed only when even one bin holding everything is under the floor
            assert len(out) == 2 and 1 <= count <= 9
        else:
            assert (shown == 0) == (count == 0)
            assert shown == 0 or count >= 10  # every shown bin holds at least 10
            assert shown % 5 == 0 and not 1 <= shown <= 9
            assert shown_as_allowed(shown, count), (count, shown)
    shown_total = sum(c for c in safe.bin_counts if c is not None)
    assert shown_total <= len(values) + 5 * len(safe.bin_counts)
    assert len(safe.suppressed) == sum(c is None for c in safe.bin_counts)

    # the output depends only on which records fall in the caller's bins: moving every value
    # (with its key) to the middle of its fixed bin changes nothing (no extreme or position
    # inside a bin leaks out)
    middles = fixed_bin_middles(values, tuple(float(e) for e in edges))
    moved = histogram(np.array(middles, dtype=float), edges, "visits", rules=RULES, keys=keys)
    assert (moved.edges, moved.bin_counts, moved.suppressed) == (
        safe.edges,
        safe.bin_counts,
        safe.suppressed,
    )


# --- rates and magnitudes ----------------------------------------------------------------------


def shown_means(safe: SafeTable, value: str) -> dict[tuple[str, str], tuple[float, object]]:
    return {
        (row.la, row.cohort): (getattr(row, value), row.people)
        for row in safe.frame.itertuples(index=False)
    }


@PROPERTY
@given(magnitude_people(), st.sampled_from([RULES, Rules(dominance_k=1.0)]))
def test_a_shown_mean_passes_threshold_dominance_and_p_ratio(
    drawn: tuple[pd.DataFrame, dict[tuple[str, str], list[int]]], rules: Rules
) -> None:
    """A shown mean's group has >= 10 people and passes dominance and p-ratio (computed here);
    and, the other way (no over-suppression), a group is withheld only when a rule fails, with
    the first failing rule recorded. Rules(dominance_k=1.0) makes dominance fire only when all
    but two have 0, so p-ratio is exercised on its own (with the defaults it implies dominance)."""
    frame, groups = drawn
    safe = mean_table(frame, ["la", "cohort"], "visits", "ae", rules=rules, key="k")
    means = shown_means(safe, "visits")
    assert set(groups) <= set(means)
    assert set(means) <= {(la, c) for la, c in frame[["la", "cohort"]].itertuples(index=False)}
    suppressed = {s.item: s.rule for s in safe.suppressed}
    for key, (mean, people) in means.items():
        values = groups.get(key, [])
        item = f"ae:visits[la={key[0]}, cohort={key[1]}]"
        assert shown_as_allowed(as_optional(people), len(values))
        assert (item in suppressed) == math.isnan(mean)
        reason = magnitude_reason(values, rules)
        if not math.isnan(mean):  # shown => passes
            assert len(values) >= rules.count_threshold
            assert reason is None
            # near the exact mean (noise of at most the largest value over the group's size, then
            # the release step), never below 0, no finer than the noise allows, and at the
            # released precision (rounding it again changes nothing)
            exact, shown_people = sum(values) / len(values), as_optional(people)
            step = float(release_step(mean, shown_people)) if mean else 0.0
            assert abs(mean - exact) <= mean_error_bound(values) + step / 2
            assert mean >= 0 and round(mean, shown_decimals(values)) == mean
            assert mean == expected_number(mean, shown_people)
        else:  # withheld => a rule fails, and the record names it
            assert reason is not None
            assert suppressed[item] == reason


@PROPERTY
@given(magnitude_people())
def test_a_shown_mean_of_whole_numbers_never_gives_its_exact_count_and_sum(
    drawn: tuple[pd.DataFrame, dict[tuple[str, str], list[int]]],
) -> None:
    """The attack on a full-precision mean (issue 16): of the counts the shown count allows, only
    the true one makes mean x count a whole number, and so the exact count and sum are known.
    Here, for every shown mean, at least two (count, sum) pairs fit what is shown."""
    frame, groups = drawn
    safe = mean_table(frame, ["la", "cohort"], "visits", "ae", rules=RULES, key="k")
    for key, (mean, people) in shown_means(safe, "visits").items():
        if math.isnan(mean):
            continue
        values = groups[key]
        shown = int(people)
        # What the published rules allow: the count within 2 (rounding) + perturbation_max of
        # the shown one; the sum within the noise (sum_perturbation x the largest value) and half
        # a release step of mean x count.
        spread = 2 + RULES.perturbation_max
        half_step = float(release_step(mean, shown)) / 2 if mean else 0.5
        noise = RULES.sum_perturbation * max(values)
        fits = [
            (n, total)
            for n in range(max(RULES.count_threshold, shown - spread), shown + spread + 1)
            for total in range(
                math.floor(n * (mean - half_step) - noise),
                math.ceil(n * (mean + half_step) + noise) + 1,
            )
            if abs(total / n - mean) <= half_step + noise / n
        ]
        assert (len(values), sum(values)) in fits
        assert len({n for n, _ in fits}) >= 2 and len({t for _, t in fits}) >= 2, (key, mean)


@pytest.mark.parametrize("size", [10, 40])
def test_a_group_whose_values_are_all_the_same_is_withheld(size: int) -> None:
    """A mean of 0 visits for 10+ people tells that every one had none (ACRO's p-ratio check
    flags it too); the same for everyone having exactly 2."""
    for value in (0.0, 2.0):
        same = pd.DataFrame({"la": ["A"] * size, "visits": [value] * size, "k": range(size)})
        withheld = mean_table(same, ["la"], "visits", "ae", rules=RULES, key="k")
        assert math.isnan(withheld.frame["visits"].iloc[0])
        assert withheld.suppressed[0].rule == "all-same"
    people = pd.DataFrame({"la": ["A"] * size, "visits": [0.0] * size, "k": range(size)})
    as_rate = mean_table(people, ["la"], "visits", "ae", binary=True, rules=RULES, key="k")
    assert math.isnan(as_rate.frame["visits"].iloc[0])  # withheld as a rate (proportion rule)
    safe = mean_table(people, ["la"], "visits", "ae", rules=RULES, key="k")
    assert math.isnan(safe.frame["visits"].iloc[0])


@PROPERTY
@given(binary_people())
def test_a_shown_rate_has_ten_people_with_and_ten_without(
    drawn: tuple[pd.DataFrame, dict[tuple[str, str], tuple[int, int]]],
) -> None:
    frame, groups = drawn
    safe = mean_table(frame, ["la", "cohort"], "any_ae", "ae", binary=True, rules=RULES, key="k")
    means = shown_means(safe, "any_ae")
    assert set(means) == set(groups)
    for key, (rate, people) in means.items():
        ones, zeros = groups[key]
        assert shown_as_allowed(as_optional(people), ones + zeros)
        passes = ones >= 10 and zeros >= 10
        if not math.isnan(rate):
            assert passes
            values = [1] * ones + [0] * zeros
            shown_people = as_optional(people)
            step = float(release_step(rate, shown_people)) if rate else 0.0
            assert abs(rate - ones / (ones + zeros)) <= mean_error_bound(values) + step / 2
            assert 0 <= rate <= 1 and round(rate, shown_decimals(values)) == rate
            assert rate == expected_number(rate, shown_people)
        else:
            assert not passes


# --- estimates and selections ------------------------------------------------------------------


near_ten = st.one_of(st.integers(8, 11), st.integers(0, 60))  # families, residual df


@CHEAP
@given(
    st.tuples(exact_counts, exact_counts),
    st.tuples(near_ten, near_ten),
    st.booleans(),
    near_ten,
    st.tuples(*[st.integers(0, 255)] * 4),
)
def test_an_estimate_is_shown_only_with_enough_families_and_df(
    people: tuple[int, int],
    families: tuple[int, int],
    compared: bool,
    df_resid: int,
    keys: tuple[int, int, int, int],
) -> None:
    numbers = {"att": 1.5, "se": 0.5, "ci_low": 0.5, "ci_high": 2.5, "p_value": 0.01}
    counts = (people, families, compared, df_resid)
    safe = safe_estimate("est", "absence", numbers, *counts, RULES, keys=keys)
    arms = families if compared else families[:1]
    ok = min(arms) >= 10 and df_resid >= 10
    assert safe.withheld == (not ok)
    reported = (safe.att, safe.se, safe.ci_low, safe.ci_high, safe.p_value)
    # The interval and p-value come from att and se with df rounded down to a multiple of 5,
    # and a one-group estimate (a mean of its people's changes) is no finer than 1 / people.
    df = max(1, df_resid // 5 * 5)
    half = stats.t.ppf(0.975, df) * 0.5
    # (the step follows the people count as shown: perturbed and rounded, or suppressed)
    about = (None if safe.n_treated == MARK else safe.n_treated) if not compared else "no people"
    expected = tuple(expected_number(v, about) for v in (1.5, 0.5, 1.5 - half, 1.5 + half))
    expected += (expected_number(2 * stats.t.sf(3, df)),)
    assert reported == (pytest.approx(expected, rel=1e-12) if ok else (None,) * 5)
    shown = (safe.n_treated, safe.n_comparison, safe.families_treated, safe.families_comparison)
    for value, exact in zip(shown, (*people, *families), strict=True):
        assert shown_as_allowed(None if value == MARK else value, exact)


@CHEAP
@given(
    st.dictionaries(
        st.sampled_from([*FILTER_DIMENSIONS, "postcode", "child_id", "ethnicity"]),
        st.one_of(st.none(), st.just("x")),
        max_size=4,
    ),
    st.integers(0, 200),
    st.integers(0, 200),
)
def test_a_selection_is_refused_when_small_or_filtered_on_anything_else(
    filters: dict[str, object], treated: int, comparison: int
) -> None:
    bad_filter = any(v is not None and k not in FILTER_DIMENSIONS for k, v in filters.items())
    refuse = bad_filter or min(treated, comparison) < 50
    if refuse:
        with pytest.raises(SelectionRefused):
            check_selection(filters, treated, comparison, RULES)
    else:
        assert check_selection(filters, treated, comparison, RULES) is None


# --- determinism -------------------------------------------------------------------------------


@HEAVY
@given(count_frames(), magnitude_people(), histogram_values, fixed_edges, st.randoms())
def test_the_same_input_always_gives_the_same_output(
    counts: pd.DataFrame,
    drawn: tuple[pd.DataFrame, dict],
    values: list[float],
    edges: list[int],
    rnd: Random,
) -> None:
    """The same records (values with the same keys) always give the same output, whatever
    order they come in: asking again, to average the noise away, gains nothing."""
    people = drawn[0]
    first = count_table(counts, COUNT_COLUMNS, "grid", rules=RULES)
    again = count_table(counts.copy(), COUNT_COLUMNS, "grid", rules=RULES)
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert first.suppressed == again.suppressed

    # a selection is protected the same way whatever order its rows come in
    order = list(range(len(counts)))
    rnd.shuffle(order)
    shuffled = count_table(counts.iloc[order], COUNT_COLUMNS, "grid", rules=RULES)
    pd.testing.assert_frame_equal(shuffled.frame, first.frame.iloc[order])

    by = ["la", "cohort"]
    means = mean_table(people, by, "visits", "ae", rules=RULES, key="k")
    means_again = mean_table(people.copy(), by, "visits", "ae", rules=RULES, key="k")
    order = list(range(len(people)))
    rnd.shuffle(order)
    means_shuffled = mean_table(people.iloc[order], by, "visits", "ae", rules=RULES, key="k")
    for other in (means_again, means_shuffled):
        pd.testing.assert_frame_equal(other.frame, means.frame)
        assert other.suppressed == means.suppressed

    array = np.array(values, dtype=float)
    keys = np.array([rnd.randrange(256) for _ in values], dtype=int)
    hist = histogram(array, edges, "visits", rules=RULES, keys=keys)
    assert histogram(array.copy(), list(edges), "visits", rules=RULES, keys=keys.copy()) == hist
    assert histogram(array[::-1].copy(), edges, "visits", rules=RULES, keys=keys[::-1]) == hist
