"""The outcome panel: who is treated or compared, from which index date, and each person's
measures, checked against an independent reading of the store (tests/window_measures.py)."""

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.tiny_store import tiny_store
from tests.window_measures import measure
from tf_eval.data import coverage, store
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.method.panel import (
    ATTACHED_BEFORE,
    FAMILY_COVARIATES,
    LATER_JOINERS,
    NEVER_SUPPORTED,
    build_panel,
)


@pytest.fixture(scope="module")
def panel(demo_db: Path):
    return build_panel(store.Store(demo_db))


@pytest.mark.parametrize("outcome", list(OUTCOMES))
@pytest.mark.parametrize(
    "window, months", [("placebo", (-24, -12)), ("pre", (-12, 0)), ("post", (0, 12))]
)
def test_each_persons_measure_matches_an_independent_query(
    demo_db: Path, panel, outcome: str, window: str, months: tuple[int, int]
) -> None:
    with duckdb.connect(str(demo_db), read_only=True) as con:
        expected = measure(con, outcome, *months).set_index("person_id")["value"]
    got = panel.people[outcome].set_index("person_id")[window].dropna()
    # The panel keeps people measured both before and after; each of them matches exactly.
    assert len(got) > 100
    np.testing.assert_allclose(got, expected.reindex(got.index), rtol=1e-12, atol=1e-12)


def test_a_24_month_follow_up_measures_24_months(demo_db: Path) -> None:
    longer = build_panel(store.Store(demo_db), follow_up_months=24)
    with duckdb.connect(str(demo_db), read_only=True) as con:
        expected = measure(con, "worklessness", 0, 24).set_index("person_id")["value"]
    got = longer.people["worklessness"].set_index("person_id")["post"]
    np.testing.assert_allclose(got, expected.reindex(got.index), rtol=1e-12)


def test_treated_and_comparison_families_and_their_index_dates(demo_db: Path, panel) -> None:
    with duckdb.connect(str(demo_db), read_only=True) as con:
        expected = (
            con.execute(
                """SELECT f.family_id, g.attached_on, f.identified_on,
                      date_trunc('month', f.identified_on)::DATE AS month_identified
               FROM families f LEFT JOIN programme g USING (family_id)"""
            )
            .df()
            .set_index("family_id")
        )
    families = panel.families.set_index("family_id")
    treated = families[families["treated"]]
    comparison = families[~families["treated"]]
    # Every family is followed from the first day of the month it was identified.
    assert (families["index_date"] == expected.loc[families.index, "month_identified"]).all()
    # Supported: attached on or after identification and at most 3 months later, some at each
    # lag the demo makes (0-3 months).
    attached = expected.loc[treated.index, "attached_on"]
    identified = expected.loc[treated.index, "identified_on"]
    assert (attached >= identified).all()
    assert (attached <= identified + pd.DateOffset(months=3)).all()
    lags = (attached.dt.year - identified.dt.year) * 12 + attached.dt.month - identified.dt.month
    assert set(lags) == {0, 1, 2, 3}
    # Comparison: not supported before its follow-up ended.
    later = expected.loc[comparison.index, "attached_on"].dropna()
    assert (later >= comparison.loc[later.index, "index_date"] + pd.DateOffset(months=12)).all()
    assert 0.3 < families["treated"].mean() < 0.5
    assert set(FAMILY_COVARIATES) <= set(families.columns)
    assert families["index_quarter"].str.fullmatch(r"20\d\dQ[1-4]").all()


def test_family_covariates_are_member_means_of_pre_window_levels(panel) -> None:
    family = panel.families.iloc[0]
    members = panel.people["ae_use"]
    # ae_use covers everyone, so the family's level is the mean over all its members.
    mine = members[members["family_id"] == family["family_id"]]
    assert family["pre_ae_use"] == pytest.approx(mine["pre"].mean())


def test_a_selection_keeps_only_its_families(demo_db: Path) -> None:
    one = build_panel(store.Store(demo_db), la="LA03", cohort=2016)
    assert set(one.families["la_code"]) == {"LA03"}
    assert set(one.families["cohort"]) == {"2016"}
    assert set(one.people["ae_use"]["family_id"]) <= set(one.families["family_id"])


def test_families_that_fit_neither_group_are_left_out_with_a_reason(tmp_path: Path) -> None:
    # The records cover 2012-01 to 2022-12 (tests/tiny_store.py).
    tiny = tiny_store(
        tmp_path / "tiny.duckdb",
        [
            (1, date(2016, 3, 10), date(2016, 4, 1)),  # treated: attached within 3 months
            (2, date(2016, 3, 10), None),  # comparison: never attached
            (3, date(2016, 3, 10), date(2018, 9, 1)),  # comparison: joined much later
            (4, date(2016, 3, 10), date(2016, 10, 1)),  # attached 7 months on: neither
            (5, date(2022, 6, 1), None),  # follow-up would end after the records
            (6, date(2013, 3, 1), None),  # placebo window would start before them
        ],
        [(family * 10, family, 1980, 6, "adult") for family in range(1, 7)],
    )
    built = build_panel(tiny)
    assert dict(zip(built.families["family_id"], built.families["treated"], strict=True)) == {
        1: True,
        2: False,
        3: False,
    }
    assert built.excluded == {
        "attached more than 3 months after identification, before its follow-up ended": 1,
        "windows reach outside the records": 2,
    }
    # With 24 months of follow-up, the late joiner (attached 29 months on) is still comparison.
    assert 3 in set(build_panel(tiny, follow_up_months=24).families["family_id"])
    # Later joiners only: the never-supported family leaves the comparison, with its reason.
    joiners = build_panel(tiny, comparison=LATER_JOINERS)
    assert set(joiners.families["family_id"]) == {1, 3}
    assert joiners.excluded[NEVER_SUPPORTED] == 1 and joiners.comparison == LATER_JOINERS


def test_a_family_attached_before_it_was_identified_is_left_out(tmp_path: Path) -> None:
    tiny = tiny_store(
        tmp_path / "early.duckdb",
        [(1, date(2016, 3, 10), date(2016, 3, 9)), (2, date(2016, 3, 10), None)],
        [(family * 10, family, 1980, 6, "adult") for family in (1, 2)],
    )
    built = build_panel(tiny)
    assert set(built.families["family_id"]) == {2}
    assert built.excluded == {ATTACHED_BEFORE: 1}


def test_an_unknown_comparison_pool_is_refused(demo_db: Path) -> None:
    with pytest.raises(ValueError, match="comparison must be one of"):
        build_panel(store.Store(demo_db), comparison="everyone")


def test_an_unsupported_follow_up_is_refused(demo_db: Path) -> None:
    with pytest.raises(ValueError, match="follow-up must be one of"):
        build_panel(store.Store(demo_db), follow_up_months=18)


# Hand-made records for the robust outcome definitions (issue 15, item 0). The records cover
# 2014-01 to 2025-12, so families identified in 2023 have every window inside them.
_CALENDAR = (date(2014, 1, 1), date(2025, 12, 1))
_FAMILIES = [
    (1, date(2016, 4, 10), None),  # comparison, index 2016-04-01: overlapping benefit spells
    (2, date(2023, 4, 10), None),  # comparison, index 2023-04-01: only inside a 2014-2025 store
    (3, date(2016, 3, 10), date(2016, 6, 10)),  # attached exactly 3 months on: treated
    (4, date(2016, 4, 10), None),  # comparison, index 2016-04-01: ages
    (5, date(2016, 11, 15), None),  # comparison, index 2016-11-01: a term under way at index
]
_PEOPLE = [
    (11, 1, 1980, 5, "adult"),
    (21, 2, 1990, 1, "adult"),
    (31, 3, 1980, 5, "adult"),
    (41, 4, 2016, 5, "child"),  # born after the index month: not yet born
    (42, 4, 2016, 4, "child"),  # born in the index month: not yet born either
    (43, 4, 2016, 3, "child"),  # born the month before: aged 0
    (44, 4, 2000, 12, "child"),  # 15 years 4 months (2016 - 2000 would say 16)
    (45, 4, 2000, None, "child"),  # month unknown, so July: 15 years 9 months
    (46, 4, 1999, 3, "child"),  # 17 years 1 month: no longer in the worklessness population
    (47, 4, 1998, 3, "adult"),  # 18 years 1 month: in it
    (51, 5, 2008, 9, "child"),  # 8 years old
]
_RECORDS = {
    "benefit_spells": [
        # Person 11, pre-window 2015-04-01 to 2016-03-31 (366 days, 2016 is a leap year):
        # 2015-04-01..09-30 (183 days) overlaps 2015-07-01..12-31 (184 days): one spell of
        # 2015-04-01..12-31 (275 days), which 2016-01-01..31 (31 days) touches: 306 days on
        # benefit. Summed without merging they make 398 days, more than the window's 366.
        {"person_id": 11, "start_date": date(2015, 4, 1), "end_date": date(2015, 9, 30)},
        {"person_id": 11, "start_date": date(2015, 7, 1), "end_date": date(2015, 12, 31)},
        {"person_id": 11, "start_date": date(2016, 1, 1), "end_date": date(2016, 1, 31)},
        # Follow-up 2016-04-01 to 2017-03-31 (365 days): on from 2016-10-01, open, so to the
        # end of the window: 182 days (31+30+31+31+28+31).
        {"person_id": 11, "start_date": date(2016, 10, 1), "end_date": None},
        # Person 21 (index 2023-04-01): an open spell from 2022-10-01 runs to the end of the
        # records (2025-12-31), not to the end of 2022: pre-window 2022-04-01..2023-03-31
        # (365 days) has 182 days on, the follow-up 2023-04-01..2024-03-31 (366 days) all 366.
        {"person_id": 21, "start_date": date(2022, 10, 1), "end_date": None},
        # Persons 46 and 47 are each on benefit for the whole follow-up.
        {"person_id": 46, "start_date": date(2016, 1, 1), "end_date": date(2017, 12, 31)},
        {"person_id": 47, "start_date": date(2016, 1, 1), "end_date": date(2017, 12, 31)},
    ],
    "attendance": [
        # Person 51, index 2016-11-01: pre-window 2015-11-01..2016-10-31, follow-up
        # 2016-11-01..2017-10-31.
        # 2016-04-01, no end: the next term starts 2016-09-01, but a term lasts at most 4
        # months, so it ends 2016-07-31: 122 days, all pre. 116 possible, 0 missed.
        {
            "person_id": 51,
            "term_start": date(2016, 4, 1),
            "sessions_possible": 116,
            "sessions_missed": 0,
        },
        # 2016-09-01..12-31, under way at the index date: it ends in the follow-up, so it counts
        # there whole (support may have begun within it), never in the pre-window.
        {
            "person_id": 51,
            "term_start": date(2016, 9, 1),
            "term_end": date(2016, 12, 31),
            "sessions_possible": 140,
            "sessions_missed": 28,
        },
        # 2017-01-01, no end: ends the day before the next term, 2017-03-31. All post.
        {
            "person_id": 51,
            "term_start": date(2017, 1, 1),
            "sessions_possible": 120,
            "sessions_missed": 12,
        },
        # 2017-04-01, no end and no next term: at most 4 months, to 2017-07-31. All post.
        {
            "person_id": 51,
            "term_start": date(2017, 4, 1),
            "sessions_possible": 110,
            "sessions_missed": 22,
        },
        # Persons 44 and 45 (aged 15 at the index date) have a term each in both windows.
        {
            "person_id": 44,
            "term_start": date(2015, 9, 1),
            "term_end": date(2015, 12, 31),
            "sessions_possible": 100,
            "sessions_missed": 10,
        },
        {
            "person_id": 44,
            "term_start": date(2016, 9, 1),
            "term_end": date(2016, 12, 31),
            "sessions_possible": 100,
            "sessions_missed": 5,
        },
        {
            "person_id": 45,
            "term_start": date(2015, 9, 1),
            "term_end": date(2015, 12, 31),
            "sessions_possible": 100,
            "sessions_missed": 10,
        },
        {
            "person_id": 45,
            "term_start": date(2016, 9, 1),
            "term_end": date(2016, 12, 31),
            "sessions_possible": 100,
            "sessions_missed": 5,
        },
    ],
}


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory) -> store.Store:
    path = tmp_path_factory.mktemp("hand") / "hand.duckdb"
    return tiny_store(path, _FAMILIES, _PEOPLE, _RECORDS, _CALENDAR)


def _measures(panel, outcome: str) -> dict[int, tuple[float, float, float]]:
    frame = panel.people[outcome]
    return {
        int(p): (a, b, c)
        for p, a, b, c in zip(
            frame["person_id"], frame["placebo"], frame["pre"], frame["post"], strict=True
        )
    }


def test_overlapping_benefit_spells_count_each_day_once(hand_made) -> None:
    work = _measures(build_panel(hand_made), "worklessness")
    assert work[11][1] == pytest.approx(306 / 366, rel=1e-12)
    assert work[11][2] == pytest.approx(182 / 365, rel=1e-12)
    assert all(0 <= value <= 1 for values in work.values() for value in values)


def test_a_lasting_states_recent_level_is_its_last_three_months(hand_made) -> None:
    """Worklessness (a claim lasts for months) also gets its level in the pre-window's last 3
    months, per person and as the family mean (a column of its own outcome model); an outcome
    counted from records gets none."""
    built = build_panel(hand_made)
    work = built.people["worklessness"]
    recent = dict(zip(work["person_id"], work["recent"], strict=True))
    # Person 11, index 2016-04-01: 2016-01-01..03-31 (91 days, a leap year), on benefit in
    # January alone; person 21, index 2023-04-01: on for all of 2023-01-01..03-31.
    assert recent[11] == pytest.approx(31 / 91, rel=1e-12)
    assert recent[21] == pytest.approx(1.0, rel=1e-12)
    families = built.families.set_index("family_id")
    assert families.loc[1, "pre_worklessness_recent"] == pytest.approx(31 / 91, rel=1e-12)
    # Family 4's one adult of 18-64 (person 47) is on from 2016-01-01: every day of the last 3
    # months, 91 of the pre-window's 366.
    assert families.loc[4, "pre_worklessness_recent"] == pytest.approx(1.0, rel=1e-12)
    assert families.loc[4, "pre_worklessness"] == pytest.approx(91 / 366, rel=1e-12)
    assert "recent" not in built.people["offending"]
    assert "pre_worklessness_recent" not in FAMILY_COVARIATES  # never the matching's


def test_a_term_counts_in_the_window_it_ends_in(hand_made) -> None:
    terms = _measures(build_panel(hand_made), "attendance")
    placebo, pre, post = terms[51]
    assert np.isnan(placebo)  # no term ends in 2014-11..2015-10
    # Pre: the term ending 2016-07-31 alone, 116 possible, 0 missed. Post: the term under way
    # at the index date and the two after, 140 + 120 + 110 = 370 possible, 28 + 12 + 22 = 62
    # missed. (Shared by days, the pre-window would hold half the term under way.)
    assert pre == pytest.approx(100.0, rel=1e-12)
    assert post == pytest.approx(100 * (1 - 62 / 370), rel=1e-12)


def test_ages_count_whole_years_from_the_birth_month(hand_made) -> None:
    built = build_panel(hand_made)
    family_4 = {41, 42, 43, 44, 45, 46, 47}
    # Not yet born at the index date (born in its month or later): in no population.
    assert set(built.people["ae_use"]["person_id"]) & family_4 == {43, 44, 45, 46, 47}
    # 15 years 4 months and (July, unknown month) 15 years 9 months: of school age.
    assert {44, 45} <= set(built.people["attendance"]["person_id"])
    terms = _measures(built, "attendance")
    assert terms[44][2] == pytest.approx(95.0) and terms[45][1] == pytest.approx(90.0)


def test_worklessness_counts_adults_from_18(hand_made) -> None:
    work = set(build_panel(hand_made).people["worklessness"]["person_id"])
    assert 47 in work and 46 not in work  # 18 years 1 month; 17 years 1 month


def test_a_family_attached_exactly_three_months_on_is_supported(hand_made) -> None:
    built = build_panel(hand_made)
    families = built.families.set_index("family_id")
    assert bool(families.loc[3, "treated"])
    # Followed, like every family, from the first day of the month it was identified.
    assert families.loc[3, "index_date"] == pd.Timestamp(2016, 3, 1)


def test_the_calendar_comes_from_the_records_not_from_constants(hand_made) -> None:
    built = build_panel(hand_made)
    assert built.calendar is not None
    assert (built.calendar.start, built.calendar.end) == (date(2014, 1, 1), date(2025, 12, 31))
    # Identified in 2023: its windows (2021-04 to 2024-03) lie inside the 2014-2025 records.
    assert 2 in set(built.families["family_id"]) and not built.excluded
    work = _measures(built, "worklessness")
    assert work[21][1:] == (pytest.approx(182 / 365, rel=1e-12), 1.0)


def test_a_store_without_outcome_records_has_no_calendar(tmp_path: Path) -> None:
    con = store.connect(tmp_path / "empty.duckdb", read_only=False)
    store.create_schema(con)
    con.close()
    with pytest.raises(coverage.NoCalendarError, match="no study calendar"):
        build_panel(store.Store(tmp_path / "empty.duckdb"))


def test_household_sizes_count_only_people_born_by_the_index_date(hand_made) -> None:
    """A covariate is measured at the index date: a baby born after it (persons 41 and 42) is
    not yet in the household. Counting them let the panel's n_children hold news from after
    the index date, which the demo's eligibility rule (3 or more children, counted at the index
    date) did not see, so a family's selection differed from what its covariates said."""
    row = build_panel(hand_made).families.set_index("family_id").loc[4]
    assert (row["n_children"], row["n_adults"]) == (4, 1)  # 43-46 born; 47 an adult


# Hand-made records for the outcomes of the national impact study (issue 19): one comparison
# family identified on 20 May 2017, index 2017-05-01. Windows: placebo 2015-05-01..2016-04-30,
# pre 2016-05-01..2017-04-30, follow-up 2017-05-01..2018-04-30 (24 months: ..2019-04-30).
_NATIONAL_PEOPLE = [
    (61, 6, 2010, 6, "child"),  # 6: a child (0-17), too young for the 10-17 outcomes
    (62, 6, 1999, 5, "child"),  # 18 years 0 months at the index date: an adult (18+)
    (63, 6, 1999, 6, "child"),  # 17 years 11 months: a child and a juvenile (10-17)
    (64, 6, 2007, 6, "child"),  # 9 years 11 months: a child, not yet a juvenile
    (65, 6, 2007, 5, "child"),  # 10 years 0 months: a juvenile
    (66, 6, 1980, 1, "adult"),
]


def _episode(person: int, kind: str, start: date, end: date | None = None) -> dict:
    return {"person_id": person, "episode_type": kind, "start_date": start, "end_date": end}


def _offence(person: int, day: date, disposal: str) -> dict:
    return {"person_id": person, "offence_date": day, "disposal": disposal}


_NATIONAL_RECORDS = {
    "social_care": [
        _episode(61, "looked_after", date(2015, 5, 1), date(2015, 8, 1)),  # placebo's first day
        # Looked after from before the pre-window's end and still open through the follow-up:
        # a start in the pre-window, none in the follow-up.
        _episode(61, "looked_after", date(2017, 4, 30)),
        _episode(61, "child_protection_plan", date(2017, 5, 1), date(2017, 9, 30)),  # index day
        _episode(63, "looked_after", date(2016, 5, 1), date(2016, 12, 1)),  # pre's first day
        _episode(63, "child_in_need", date(2017, 6, 1)),  # neither outcome counts it
        _episode(64, "looked_after", date(2018, 4, 30), date(2018, 4, 30)),  # follow-up's last
        _episode(64, "looked_after", date(2018, 5, 1)),  # the day after: only in 24 months
        _episode(62, "looked_after", date(2017, 7, 1)),  # 18 at the index date: not a child
    ],
    "offences": [
        _offence(62, date(2017, 5, 1), "custody"),  # an adult's custody on the index date
        _offence(63, date(2016, 6, 1), "caution"),  # pre-window: offending, not a conviction
        _offence(63, date(2017, 8, 15), "conviction"),  # a conviction, not custody
        _offence(64, date(2017, 6, 1), "custody"),  # aged 9: in no offending population
        _offence(65, date(2018, 4, 30), "custody"),  # the follow-up's last day
        _offence(66, date(2016, 4, 30), "custody"),  # the placebo window's last day
        _offence(66, date(2016, 6, 1), "conviction"),  # not custody
        _offence(66, date(2017, 6, 1), "caution"),  # not custody
    ],
}


@pytest.fixture(scope="module")
def national(tmp_path_factory) -> store.Store:
    path = tmp_path_factory.mktemp("national") / "national.duckdb"
    families = [(6, date(2017, 5, 20), None)]
    return tiny_store(path, families, _NATIONAL_PEOPLE, _NATIONAL_RECORDS, _CALENDAR)


@pytest.mark.parametrize(
    "outcome, expected",
    [
        # (placebo, pre, follow-up) of each person in the population, and nobody else.
        ("looked_after", {61: (1, 1, 0), 62: None, 63: (0, 1, 0), 64: (0, 0, 1), 65: (0, 0, 0)}),
        ("child_protection", {61: (0, 0, 1), 63: (0, 0, 0), 64: (0, 0, 0), 65: (0, 0, 0)}),
        ("custody_adult", {62: (0, 0, 1), 66: (1, 0, 0)}),
        ("custody_juvenile", {63: (0, 0, 0), 65: (0, 0, 1)}),
        ("juvenile_conviction", {63: (0, 0, 1), 65: (0, 0, 1)}),
        ("offending", {62: (0, 0, 1), 63: (0, 1, 1), 65: (0, 0, 1), 66: (1, 1, 1)}),
    ],
)
def test_the_national_studys_outcomes_by_hand(
    national: store.Store, outcome: str, expected: dict[int, tuple[int, int, int] | None]
) -> None:
    """Events on the windows' first and last days count; an episode under way at a window's
    start does not (only a start counts); custody is neither a conviction's nor a caution's
    record, a conviction counts for juvenile convictions and so does custody; the populations
    are fixed by age at the index date (0-17, 18+, 10-17)."""
    got = _measures(build_panel(national), outcome)
    assert got == {person: values for person, values in expected.items() if values}


def test_a_24_month_follow_up_counts_starts_to_its_last_day(national: store.Store) -> None:
    longer = build_panel(national, follow_up_months=24)
    assert _measures(longer, "looked_after")[64] == (0, 0, 1)  # both starts, counted once
    assert _measures(longer, "child_protection")[61] == (0, 0, 1)


def test_the_new_outcomes_pre_levels_are_family_covariates(national: store.Store) -> None:
    family = build_panel(national).families.iloc[0]
    # Children 61, 63, 64, 65: two started being looked after in the pre-window.
    assert family["pre_looked_after"] == pytest.approx(0.5)
    assert family["pre_custody_adult"] == 0 and family["pre_juvenile_conviction"] == 0
    for key in ("looked_after", "child_protection", "custody_adult", "custody_juvenile"):
        assert f"pre_{key}" in FAMILY_COVARIATES
