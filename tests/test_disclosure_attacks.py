"""The disclosure gate against an attacker who subtracts one output from another (issue 16).

Each test plays an attacker with only what tf-eval shows (pages' safe tables, the rules in force,
which are public) and asks whether they can be *certain* of an exact count or sum that no output
shows: a refused group's, or one family's. Rounding alone (every count to the nearest 5, means to
full precision) let them: a mean to 15 digits gives back its exact group size and sum, and a
count seen before and after each of a few small loads steps from one multiple of 5 to the next
exactly where its true value crosses a boundary. Consistent cell-key perturbation
(docs/disclosure-control.md#consistent-perturbation) leaves them a noisy guess at best.

"Certain" is made precise: every value the published rules allow (a shown count is at most
`count_rounding // 2 + perturbation_max` from the truth; a mean of whole numbers times its
group size is a whole number) is tried, and the attacker claims a value only when exactly one is
consistent with everything they saw. The exact values are captured from inside the gate (its
inputs), never shown.

These tests use only what the gate's callers offer on main too (overview, monthly_trends,
check_selection), so they run against the code before perturbation; there they fail (the
attacker is certain, and right, in nearly every cell).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tf_eval.data.store import PERSON_RECORD_TABLES, Store
from tf_eval.governance.rules import SelectionRefused, check_selection, current_rules
from tf_eval.method.estimate import AnalysisSpec
from tf_eval.method.panel import build_panel
from tf_eval.release import disclosure
from tf_eval.release.overview import overview
from tf_eval.release.trends import monthly_trends

RULES = current_rules()
# How far a shown count may be from the truth under the published rules.
REACH = RULES.count_rounding // 2 + getattr(RULES, "perturbation_max", 0)
OUTCOMES = ("worklessness", "ae_use")  # whole-number values: a mean times its size is whole


# --- the attacker's tools ----------------------------------------------------------------------


def sizes_from_a_mean(mean: float, shown: object) -> list[tuple[int, int]]:
    """Every (size, sum) the rules allow for a mean of whole numbers shown beside a count."""
    if pd.isna(mean) or pd.isna(shown):
        return []
    found = []
    for n in range(max(1, int(shown) - REACH), int(shown) + REACH + 1):
        total = mean * n
        if abs(total - round(total)) < 1e-6:
            found.append((n, round(total)))
    return found


def certain(candidates: list) -> object | None:
    return candidates[0] if len(candidates) == 1 else None


def supported_cells(tables: dict) -> dict[tuple[str, int], tuple[float, object]]:
    """(outcome, month) -> (mean, shown people) of the supported group."""
    cells = {}
    for outcome in OUTCOMES:
        frame = tables[outcome].frame
        for row in frame[frame["group"] == "supported"].itertuples(index=False):
            cells[(outcome, row.month)] = (row.mean, row.people)
    return cells


# --- what the gate saw (the truth the attacker is after) ---------------------------------------


@pytest.fixture
def gate_inputs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, pd.DataFrame]]]:
    """Every per-person frame monthly_trends hands the gate, as (item, frame)."""
    seen: list[tuple[str, pd.DataFrame]] = []
    original = disclosure.weighted_mean_table

    def spy(people: pd.DataFrame, *args: object, **kwargs: object) -> object:
        seen.append((str(args[4]), people.copy()))
        return original(people, *args, **kwargs)

    monkeypatch.setattr(disclosure, "weighted_mean_table", spy)
    yield seen


def trends_with_truth(
    path: Path, spec: AnalysisSpec, seen: list[tuple[str, pd.DataFrame]]
) -> tuple[dict, dict[str, pd.DataFrame]]:
    """monthly_trends as shown, and the supported people behind each outcome's table."""
    seen.clear()
    tables = monthly_trends(Store(path), dataclasses.replace(spec, outcomes=OUTCOMES))
    inputs = {item.split(":")[1]: frame for item, frame in seen}
    supported = {k: f[f["group"] == "supported"] for k, f in inputs.items()}
    return tables, supported


def exact_cells(people: dict[str, pd.DataFrame]) -> dict[tuple[str, int], tuple[int, int]]:
    """(outcome, month) -> exact (people, sum of values) of the supported group."""
    cells = {}
    for outcome, frame in people.items():
        for month, part in frame.groupby("month"):
            total = (part["weight"] * part["value"]).sum()
            cells[(outcome, int(month))] = (len(part), int(round(total)))
    return cells


# --- stores that differ by a few families --------------------------------------------------------


def without(source: Path, folder: Path, families: list[int]) -> Path:
    """A copy of the store without these families' records (as it was before the load that
    brought them)."""
    path = folder / f"without-{len(families)}.duckdb"
    shutil.copy(source, path)
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TEMP TABLE gone AS SELECT unnest($ids::BIGINT[]) AS family_id", {"ids": families}
    )
    for table in PERSON_RECORD_TABLES:
        con.execute(
            f"DELETE FROM {table} WHERE person_id IN "
            "(SELECT person_id FROM people WHERE family_id IN (SELECT family_id FROM gone))"
        )
    for table in ("people", "programme", "families"):
        con.execute(f"DELETE FROM {table} WHERE family_id IN (SELECT family_id FROM gone)")
    con.close()
    return path


# --- the attacks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("whole", "split_by"),
    [({"cohort": 2014}, "la"), ({"la": "LA02"}, "cohort")],
    ids=["all-LAs-minus-allowed-LAs", "an-LA-minus-its-allowed-cohorts"],
)
def test_a_refused_group_is_not_the_difference_of_allowed_ones(
    demo_db: Path, gate_inputs: list, whole: dict[str, object], split_by: str
) -> None:
    """The attacker takes the monthly trends of an allowed selection (all LAs' families of 2014;
    all of LA02's) and subtracts those of each of its parts that is allowed (the LAs, or the
    cohorts, with 50 supported and 50 comparison families): what is left is the refused parts'
    supported people, month by month. Main: the 15-digit means give each group's exact size and
    sum, so the subtraction gives the refused group's exact size and sum in almost every month."""
    shared = Store(demo_db)
    column = {"la": "la_code", "cohort": "year(identified_on)"}[split_by]
    values = shared.query(f"SELECT DISTINCT {column} AS v FROM families ORDER BY v")["v"]
    allowed, refused = [], []
    for value in values.tolist():
        selection = {**whole, split_by: value}
        panel = build_panel(shared, 12, selection.get("la"), selection.get("cohort"))
        supported = int(panel.families["treated"].sum())
        try:
            check_selection(selection, supported, len(panel.families) - supported)
            allowed.append(selection)
        except SelectionRefused:
            refused.append(selection)
    assert refused and len(allowed) >= 3

    shown, truth = trends_with_truth(demo_db, AnalysisSpec(**whole), gate_inputs)
    families = shared.query(
        "SELECT family_id, la_code AS la, year(identified_on) AS cohort FROM families"
    )
    left = families.merge(pd.DataFrame(refused))["family_id"]  # the refused parts' families
    target = exact_cells({k: f[f["family_id"].isin(left)] for k, f in truth.items()})
    parts = [supported_cells(trends_with_truth(demo_db, AnalysisSpec(**s), [])[0]) for s in allowed]
    tried = hits = 0
    for cell, (mean, people) in supported_cells(shown).items():
        pieces = [part.get(cell, (np.nan, pd.NA)) for part in parts]
        if pd.isna(people) or any(pd.isna(n) for _, n in pieces):
            continue
        tried += 1
        sizes = [certain(sizes_from_a_mean(m, n)) for m, n in [(mean, people), *pieces]]
        if all(sizes):  # every group's exact size and sum: subtract
            size = sizes[0][0] - sum(n for n, _ in sizes[1:])
            total = sizes[0][1] - sum(t for _, t in sizes[1:])
            hits += (size, total) == target.get(cell, (0, 0))
    assert tried >= 20
    assert hits <= 0.1 * tried, f"exact in {hits} of {tried} months"


def test_counts_before_and_after_each_small_load_do_not_give_the_exact_count(
    demo_db: Path, tmp_path: Path
) -> None:
    """Five loads, each bringing one more supported family into every LA x cohort cell. The
    attacker sees the Overview after each and knows each cell grew by one family: the shown
    counts pin the cell's exact count when only one value fits all six views. Main: rounding
    steps up by 5 exactly where the count crosses 13, 18, ..., so one value always fits."""
    store = Store(demo_db)
    supported = store.query(
        """SELECT f.la_code, year(f.identified_on) AS cohort, f.family_id
           FROM families f JOIN programme g USING (family_id)
           QUALIFY row_number() OVER (PARTITION BY la_code, cohort ORDER BY family_id) <= 5"""
    )
    steps = [overview(store).by_la_cohort.frame]  # everything loaded
    for k in range(1, 6):  # the store before the last k loads
        gone = supported.groupby(["la_code", "cohort"]).head(k)["family_id"].tolist()
        steps.append(overview(Store(without(demo_db, tmp_path, gone))).by_la_cohort.frame)
    exact = store.query(
        """SELECT f.la_code, year(f.identified_on) AS cohort, count(*) AS families,
                  count(g.family_id) AS supported
           FROM families f LEFT JOIN programme g USING (family_id) GROUP BY ALL"""
    ).set_index(["la_code", "cohort"])
    tried = sure = 0
    for column in ("families", "supported"):
        for i, row in steps[0].iterrows():
            seen = [step.loc[i, column] for step in steps]  # k families fewer at step k
            if any(pd.isna(s) for s in seen):
                continue
            tried += 1
            fits = [
                e
                for e in range(int(seen[0]) - REACH, int(seen[0]) + REACH + 1)
                if all(abs(int(s) - (e - k)) <= REACH for k, s in enumerate(seen))
            ]
            if len(fits) == 1:
                sure += 1
                assert fits[0] == exact.loc[(row["la_code"], row["cohort"]), column]
    assert tried >= 100
    assert sure <= 0.1 * tried, f"certain of the exact count in {sure} of {tried} cells"


def test_one_familys_values_are_not_the_difference_of_two_means(
    demo_db: Path, tmp_path: Path, gate_inputs: list
) -> None:
    """The monthly trends before and after a load that brought one supported family. Main:
    each month's mean gives its exact size and sum, so their difference is that family's exact
    number of adults out of work and of A&E visits, month by month."""
    family = int(
        Store(demo_db).query(
            """SELECT p.family_id FROM ae_attendances a JOIN people p USING (person_id)
               JOIN programme g USING (family_id) JOIN families f USING (family_id)
               WHERE g.attached_on BETWEEN f.identified_on
                                       AND f.identified_on + INTERVAL 3 MONTH
               GROUP BY p.family_id ORDER BY count(*) DESC, p.family_id LIMIT 1"""
        )["family_id"][0]
    )
    before, truth_before = trends_with_truth(demo_db, AnalysisSpec(), gate_inputs)
    after, truth_after = trends_with_truth(
        without(demo_db, tmp_path, [family]), AnalysisSpec(), gate_inputs
    )
    exact_before, exact_after = exact_cells(truth_before), exact_cells(truth_after)
    shown_after = supported_cells(after)
    tried = hits = 0
    for cell, (mean, shown) in supported_cells(before).items():
        if cell not in shown_after or pd.isna(mean) or pd.isna(shown_after[cell][0]):
            continue
        if exact_before[cell][0] == exact_after.get(cell, (None,))[0]:
            # The family has nobody in this outcome's population that month (the store chose
            # it for its A&E visits): the same records give the same output, and there is no
            # value of its to recover. (Telling two such outputs apart is the release
            # register's job: tests/test_register.py.)
            continue
        tried += 1
        one, two = (
            certain(sizes_from_a_mean(mean, shown)),
            certain(sizes_from_a_mean(*shown_after[cell])),
        )
        if one and two:
            family_part = (one[0] - two[0], one[1] - two[1])
            exact = exact_before[cell]
            exact_part = (exact[0] - exact_after[cell][0], exact[1] - exact_after[cell][1])
            hits += family_part == exact_part
    assert tried >= 30
    assert hits <= 0.1 * tried, f"the family's exact values in {hits} of {tried} months"


def test_the_same_records_always_give_the_same_output(demo_db: Path, tmp_path: Path) -> None:
    """Consistency, the property that keeps noise from being averaged away: asking again, or
    asking a store holding the same records in another order, gives identical output. (Main
    keeps this promise too: rounding is a function of the exact count.)"""
    shuffled = tmp_path / "shuffled.duckdb"
    shutil.copy(demo_db, shuffled)
    con = duckdb.connect(str(shuffled))
    for table in ("families", "people", "programme", *PERSON_RECORD_TABLES):
        con.execute(f"CREATE TEMP TABLE t AS SELECT * FROM {table} ORDER BY hash(rowid, 7)")
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} SELECT * FROM t")
        con.execute("DROP TABLE t")
    con.close()
    spec = AnalysisSpec(la="LA03")
    first, again, other = (overview(Store(p)) for p in (demo_db, demo_db, shuffled))
    for table in ("by_la_cohort", "coverage"):
        pd.testing.assert_frame_equal(getattr(first, table).frame, getattr(again, table).frame)
        pd.testing.assert_frame_equal(getattr(first, table).frame, getattr(other, table).frame)
    trends, trends_other = (monthly_trends(Store(p), spec) for p in (demo_db, shuffled))
    for key, table in trends.items():
        pd.testing.assert_frame_equal(table.frame, trends_other[key].frame)


# --- effective sample sizes ---------------------------------------------------------------------


def _effective(weights: np.ndarray, keys: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the gate shows of one matched comparison group (matched counts and effective
    sizes), from its matching weights and its families' record keys: treated families are
    ten more, each of weight 1, so only the comparison side varies."""
    from tf_eval.data.record_keys import cell_key
    from tf_eval.method.balance import effective_sizes

    treated = np.r_[np.ones(len(weights) + 10, bool), np.zeros(len(weights), bool)]
    w = np.r_[np.ones(len(weights) + 10), weights]
    all_keys = np.r_[np.arange(len(weights) + 10) * 7 % 256, keys]
    exact = {"treated_matched": int(treated.sum()), "comparison_matched": len(weights)}
    counts = pd.DataFrame(
        {
            "group": list(exact),
            "units": list(exact.values()),
            "units_key": [cell_key(all_keys[treated]), cell_key(all_keys[~treated])],
        }
    )
    shown = disclosure.count_table(counts, ["units"], "counts")
    ess = effective_sizes(treated, w)
    efficiency = {g: ess[g] / exact[f"{g}_matched"] for g in ess}
    sizes = disclosure.effective_sizes(efficiency, shown, exact, "effective size")
    return shown.frame.set_index("group"), sizes.frame.set_index("group")


def test_an_effective_size_does_not_give_back_the_exact_matched_count() -> None:
    """With every comparison family used once, Kish's effective size *is* the exact count of
    matched comparison families, which the count's cell-key noise hides. The attacker knows the
    code and reads the effective size beside the count: if two groups of different exact sizes
    that show the same count could show different effective sizes, the effective size would
    tell them apart. Across 300 groups of 60-120 families (random record keys), every two with
    the same shown count show the same effective size, and many such pairs differ in size."""
    rng = np.random.default_rng(15)
    seen: dict[int, set[tuple[int, float, int]]] = {}
    for _ in range(300):
        n = int(rng.integers(60, 121))
        counts, sizes = _effective(np.ones(n), rng.integers(0, 256, n))
        shown, effective = counts.loc["comparison_matched", "units"], sizes.loc["comparison"]
        assert effective["efficiency"] == 1.0
        seen.setdefault(int(shown), set()).add(
            (n, float(effective["efficiency"]), int(effective["families"]))
        )
    told_apart = hidden = 0
    for groups in seen.values():
        exact = {n for n, _, _ in groups}
        released = {(e, f) for _, e, f in groups}
        hidden += len(exact) > 1
        told_apart += len(exact) > 1 and len(released) > 1
    assert hidden >= 10  # the test has power: many shown counts hide several exact sizes
    assert told_apart == 0


def test_an_effective_size_by_hand_and_withheld_for_a_small_group() -> None:
    """Ten comparison families used twice and ten once: (30)^2 / 50 = 18 of 20, an efficiency
    of 0.9 (tenths: fewer than 100 families), and 0.9 of the shown count in families, rounded
    to 5. Nine matched comparison families are too few: withheld, with the reason."""
    counts, sizes = _effective(np.r_[np.full(10, 2.0), np.ones(10)], np.arange(20) * 13 % 256)
    assert sizes.loc["comparison", "efficiency"] == 0.9
    shown = int(counts.loc["comparison_matched", "units"])
    assert sizes.loc["comparison", "families"] == round(0.9 * shown / 5) * 5
    counts, sizes = _effective(np.r_[np.full(4, 3.0), np.ones(5)], np.arange(9) * 13 % 256)
    assert pd.isna(sizes.loc["comparison", "efficiency"])
    assert pd.isna(sizes.loc["comparison", "families"])


# --- the event study (issue 18) ------------------------------------------------------------------


def _quarter(att: float, families: tuple[int, int]):
    """An engine estimate of one quarter, with the families in each group given."""
    from tf_eval.method.difference import Estimate

    return Estimate(
        "offending", True, att, 0.01, att - 0.02, att + 0.02, 0.5, 200, 200, *families,
        df_resid=sum(families) - 2, df_t=float(sum(families) - 2), variance="CR2",
        outcome_model="none", keys=(1, 2, 3, 4),
    )  # fmt: skip


def test_a_quarter_resting_on_fewer_than_ten_families_in_a_group_shows_nothing() -> None:
    """An attacker who finds a quarter where one group has 9 families (children without a term
    in it, say) gets no number for it, and no pre-trend test either: the test combines every
    quarter before support, so it would carry the withheld one."""
    from tf_eval.method.event_study import EventStudy, PretrendTest
    from tf_eval.release.results import _event_study

    cells = [(m, _quarter(0.01, (40, 40))) for m in range(-24, 12, 3) if m != -3]
    cells[2] = (-18, _quarter(0.5, (9, 40)))
    study = _event_study(EventStudy("offending", -3, cells, PretrendTest(3.0, 7, 78.0)))
    small = study.cells[-18]
    assert small.withheld and small.att is None and small.se is None and small.ci_low is None
    assert "fewer than 10 families" in str(small.reason)
    assert all(not e.withheld for m, e in study.cells.items() if m != -18)
    assert study.pretrend_p_value is None
    assert study.pretrend_reason == "a quarter before the index date is not shown"
    assert any(s.item == "event study:offending:-18" for s in study.suppressed)
    # The same quarter after support (where the test does not look) leaves the test shown.
    cells[2], cells[-1] = (-18, _quarter(0.01, (40, 40))), (9, _quarter(0.5, (9, 40)))
    after = _event_study(EventStudy("offending", -3, cells, PretrendTest(3.0, 7, 78.0)))
    assert after.cells[9].withheld and after.pretrend_p_value is not None


def test_an_event_studys_intervals_give_back_no_family_count(demo_db: Path) -> None:
    """One LA x cohort: every shown quarter's interval is rebuilt from its released estimate and
    SE with degrees of freedom rounded down to a multiple of 5 (so ci_high - att over se gives
    a t quantile of a coarse df, never the exact families - 1 or Bell-McCaffrey df), and the
    pre-trend p-value is computed on the coarse df too."""
    from scipy import stats

    from tf_eval.method.estimate import evaluate
    from tf_eval.release.precision import coarse_df
    from tf_eval.release.results import safe_evaluation

    evaluation = evaluate(Store(demo_db), AnalysisSpec(la="LA01", cohort=2016))
    released = safe_evaluation(evaluation)
    checked = 0
    for exact, shown in zip(evaluation.event_study or [], released.event_study, strict=True):
        for month, e in exact.cells:
            cell = shown.cells[month]
            if cell.withheld:
                continue
            df = coarse_df(e.df_t, RULES)
            assert df % RULES.count_rounding == 0 or df < RULES.estimate_min_families - 1
            half = stats.t.ppf(0.975, df) * float(cell.se)  # type: ignore[arg-type]
            assert float(cell.ci_high) - float(cell.att) == pytest.approx(half, rel=0.02, abs=1e-4)  # type: ignore[arg-type]
            checked += 1
        if shown.pretrend_p_value is not None and exact.pretrend is not None:
            p = exact.pretrend.p_value(coarse_df(exact.pretrend.df, RULES))
            assert shown.pretrend_p_value == pytest.approx(p, rel=0.01, abs=1e-3)
    assert checked >= 20


# --- rare events (issue 19) ---------------------------------------------------------------------


def test_no_number_rests_on_fewer_than_ten_people_with_a_rare_event(demo_db: Path) -> None:
    """One LA of the 8,000-family demo, where a child taken into care, a custodial sentence or a
    juvenile's conviction is a handful of people in a group, and fewer in a quarter. An attacker
    who reads an estimate resting on two such people, beside its groups' sizes, learns about
    those two (a difference of -0.018 between 111 supported and 64 comparison young people is
    nearly "two comparison juveniles were given custody, no supported one"). The people with the
    event are counted here, by hand, from the engine's own panel and matching (the gate's inputs,
    never shown); every estimate, estimator, naive change, placebo and event-study quarter of a 0/1
    outcome whose groups together hold fewer than 10 people per group with the event, or without
    it, must show no number and say why, and those above it must be shown."""
    from tf_eval.data.outcomes import OUTCOMES as DEFINED
    from tf_eval.method.estimate import evaluate, prepare
    from tf_eval.release.results import safe_evaluation

    spec = AnalysisSpec(la="LA01")
    current = Store(demo_db)
    try:
        panel, matching = prepare(current, spec)
        evaluation = evaluate(current, spec, panel=panel)
    finally:
        current.close()
    released = safe_evaluation(evaluation)
    treated = matching.treated.astype(bool)
    for e in evaluation.estimates:  # the engine's counts, by hand: matched people, follow-up
        if not DEFINED[e.outcome].any_event:
            assert e.events is None
            continue
        people = panel.people[e.outcome]
        rows = people["family_row"].to_numpy()
        had = (people["post"].to_numpy() > 0) & (matching.weights[rows] > 0)
        assert e.events == (int(had[treated[rows]].sum()), int(had[~treated[rows]].sum()))
    pairs = [
        *zip(evaluation.estimates, released.estimates, strict=True),
        *zip(evaluation.naive, released.naive, strict=True),
        *zip(evaluation.placebo, released.placebo, strict=True),
        *(
            pair
            for key, listed in (evaluation.by_estimator or {}).items()
            for pair in zip(listed, released.estimators[key], strict=True)
        ),
        *(
            (exact, shown.cells[month])
            for study, shown in zip(evaluation.event_study or [], released.event_study, strict=True)
            for month, exact in study.cells
        ),
    ]
    few = shown = 0
    for exact, safe in pairs:
        if exact.events is None:
            continue
        people = (exact.n_treated, exact.n_comparison)
        arms = range(2 if exact.compared else 1)
        had = sum(exact.events[i] for i in arms)
        fewest = min(had, sum(people[i] for i in arms) - had)
        families = exact.informative_families  # by hand: test_rare_events
        if fewest < RULES.proportion_min * len(arms) or (
            families is not None and families <= RULES.count_rounding
        ):
            assert safe.withheld and safe.reason, (exact.outcome, exact.events)
            assert safe.att is safe.se is safe.ci_low is safe.ci_high is safe.p_value is None
            few += 1
        elif (
            np.isfinite(exact.att) and min(exact.families_treated, exact.families_comparison) >= 10
        ):
            assert not safe.withheld, (exact.outcome, exact.events, safe.reason)
            shown += 1
    assert few >= 20 and shown >= 5, (few, shown)
    reasons = {row.reason for row in released.estimates if row.withheld}
    assert "fewer than 20 people with the outcome, or without it, among those compared" in reasons


def test_a_rare_outcomes_interval_gives_back_no_family_count(demo_db: Path) -> None:
    """A rare 0/1 outcome's degrees of freedom are capped at twice the families holding its
    rarer answer in the smaller group, less one (tf_eval.method.estimators.rare_event_df): an
    exact count. The attacker inverts each shown interval, (ci_high - att) / se, to the t
    quantile and the df behind it, and halves it; where the cap set the df, what comes back must
    be a multiple of 5 no more than the count less one, never that count itself (unless it is a
    multiple of 5 too), and an estimate resting on 5 such families or fewer must show no
    number."""
    from scipy import stats

    from tf_eval.method.estimate import evaluate
    from tf_eval.release.results import safe_evaluation

    evaluation = evaluate(Store(demo_db), AnalysisSpec(la="LA02", cohort=2016))
    released = safe_evaluation(evaluation)
    pairs = [
        *zip(evaluation.estimates, released.estimates, strict=True),
        *zip(evaluation.placebo, released.placebo, strict=True),
        *(
            pair
            for key, listed in (evaluation.by_estimator or {}).items()
            for pair in zip(listed, released.estimators[key], strict=True)
        ),
    ]
    ladder = np.arange(1, 400)
    quantiles = stats.t.ppf(0.975, ladder)
    capped = hidden = 0
    for exact, safe in pairs:
        k = exact.informative_families
        if k is None or not np.isfinite(exact.se) or exact.df_t != max(2 * (k - 1), 1):
            continue  # not a rare outcome, or its df were Bell-McCaffrey's
        if k <= RULES.count_rounding:
            assert safe.withheld and safe.att is safe.se is safe.ci_high is None, exact.outcome
            hidden += 1
            continue
        if safe.withheld:
            continue
        seen = (float(safe.ci_high) - float(safe.att)) / float(safe.se)  # type: ignore[arg-type]
        df = int(ladder[np.argmin(np.abs(quantiles - seen))])  # the attacker's best guess
        assert df % 2 == 0, (exact.outcome, df, k)
        guess = df // 2  # of k - 1
        assert guess % RULES.count_rounding == 0 and guess <= k - 1, (exact.outcome, df, k)
        assert guess != k - 1 or (k - 1) % RULES.count_rounding == 0
        capped += 1
    assert capped >= 2, capped


def test_an_analysis_files_rare_0_1_outcome_is_withheld_too(tmp_path: Path) -> None:
    """The same rule on `match-file`: a 0/1 outcome column that 4 treated rows and 3 others
    have (lalonde, with a made-up rare event: at most 7 of those compared) shows no number, and
    says why; a common one (any earnings in 1978) is shown beside it, and a continuous one is
    never held to the rule."""
    from tests.test_cli import LALONDE, LALONDE_COVARIATES, run

    frame = pd.read_csv(LALONDE)
    treated = frame.index[frame["treat"] == 1]
    frame["rare"] = 0
    frame.loc[treated[:4], "rare"] = 1
    frame.loc[frame.index[frame["treat"] == 0][:3], "rare"] = 1
    frame["earned"] = (frame["re78"] > 0).astype(int)
    path = tmp_path / "lalonde-rare.csv"
    frame.to_csv(path, index=False)
    args = ["match-file", str(path), "--treatment", "treat", "--covariates", LALONDE_COVARIATES]
    args += ["--outcome", "rare,earned,re78", "--db", str(tmp_path / "x.duckdb"), "--json"]
    result = run(*args)
    assert result.returncode == 0, result.stderr
    rows = {row["outcome"]: row for row in json.loads(result.stdout)["estimates"]}
    rare = rows["rare"]
    assert rare["att"] is rare["se"] is rare["ci_low"] is rare["ci_high"] is None
    assert rare["reason"] == (
        "fewer than 20 people with the outcome, or without it, among those compared"
    )
    assert rows["earned"]["att"] is not None and rows["re78"]["att"] is not None
