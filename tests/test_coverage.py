"""What the records cover and the study calendar, on hand-made records (tf_eval.data.coverage)."""

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tf_eval.data import coverage, retention, store, synth


def _store(path: Path, rows: dict[str, list[tuple]]) -> store.Store:
    con = store.connect(path, read_only=False)
    store.create_schema(con)
    for table, values in rows.items():
        for row in values:
            marks = ", ".join(["?"] * (len(row) + 1))
            con.execute(f"INSERT INTO {table} VALUES ({marks})", [*row, 1])
    con.close()
    return store.Store(path)


def _people(first: int, n: int, day: date) -> list[tuple]:
    return [(first + i, day) for i in range(n)]


def test_coverage_needs_ten_people_within_a_year_and_the_calendar_is_their_overlap(
    tmp_path: Path,
) -> None:
    current = _store(
        tmp_path / "c.duckdb",
        {
            # A&E: 10 people in 2014-01 and in 2025-12 (two visits each by 10 people, the same
            # day or not, still 10 people), nine in 2026-01. One stray visit in 2010-05, alone
            # in its year, starts nothing: A&E covers 2014-01 to 2026-01 (the year to 2026-01
            # holds 19 people's records).
            "ae_attendances": [
                *_people(1, 10, date(2014, 1, 5)),
                *_people(1, 10, date(2014, 1, 6)),
                *_people(1, 10, date(2025, 12, 20)),
                (99, date(2010, 5, 1)),
                *_people(1, 9, date(2026, 1, 3)),
            ],
            # Offences: 10 people in 2015-03, 12 in 2024-06 and 9 in 2025-01: covered from
            # 2015-03 to 2025-01 (the year to 2025-01 holds the 12 of 2024-06 as well).
            "offences": [
                (*row, "caution")
                for row in [
                    *_people(1, 10, date(2015, 3, 31)),
                    *_people(1, 12, date(2024, 6, 1)),
                    *_people(1, 9, date(2025, 1, 1)),
                ]
            ],
            # Benefit spells: only 3 people, so the source has no covered month and is ignored.
            "benefit_spells": [(i, date(2012, 1, 1), None, "UC") for i in range(1, 4)],
            # Families: 10 identified in 2016-02 (counted as families).
            "families": [(i, "LA01", date(2016, 2, 1)) for i in range(1, 11)],
            # Attendance: a rare source, 4 pupils a quarter (never 10 in a month) from 2013-01 to
            # 2023-10: it covers all of that, not a few months (the rule by single months would
            # have ignored it or cut it short).
            "attendance": [
                (100 + i, date(2013 + q // 4, 1 + 3 * (q % 4), 1), None, 100, 5)
                for q in range(44)
                for i in range(4)
            ],
        },
    )
    covered = coverage.coverage(current)
    assert list(covered) == ["attendance", "offences", "ae_attendances", "families"]
    assert (covered["ae_attendances"].first_month, covered["ae_attendances"].last_month) == (
        date(2014, 1, 1),
        date(2026, 1, 1),
    )
    assert (covered["offences"].first_month, covered["offences"].last_month) == (
        date(2015, 3, 1),
        date(2025, 1, 1),
    )
    assert (covered["attendance"].first_month, covered["attendance"].last_month) == (
        date(2013, 1, 1),
        date(2023, 10, 1),
    )
    assert covered["families"].first_month == covered["families"].last_month == date(2016, 2, 1)
    calendar = coverage.study_calendar(current)
    # The latest first month (offences, 2015-03) to the earliest last month (attendance, 2023-10).
    assert (calendar.start, calendar.end) == (date(2015, 3, 1), date(2023, 10, 31))


def test_an_empty_store_has_no_calendar(tmp_path: Path) -> None:
    current = _store(tmp_path / "e.duckdb", {"families": [(1, "LA01", date(2016, 2, 1))]})
    assert coverage.coverage(current) == {}  # one family is below the threshold too
    with pytest.raises(coverage.NoCalendarError, match="no study calendar"):
        coverage.study_calendar(current)


def test_sources_that_do_not_overlap_in_time_have_no_calendar(tmp_path: Path) -> None:
    current = _store(
        tmp_path / "o.duckdb",
        {
            "ae_attendances": _people(1, 10, date(2014, 1, 5)),
            "offences": [(*row, "caution") for row in _people(1, 10, date(2016, 1, 5))],
        },
    )
    with pytest.raises(coverage.NoCalendarError, match="do not overlap"):
        coverage.study_calendar(current)


def test_the_demo_store_covers_its_own_calendar(demo_db: Path) -> None:
    calendar = coverage.study_calendar(store.Store(demo_db))
    assert (calendar.start, calendar.end) == (date(2012, 1, 1), date(2022, 12, 31))


def _recorded_and_scanned(path: Path) -> tuple[dict, dict]:
    """The coverage the store recorded when written, and a fresh scan of its records."""
    current = store.Store(path)
    try:
        recorded = current.query("SELECT * FROM coverage ORDER BY source")
        scanned = coverage._found(
            list(current.query(coverage._scan(coverage.SOURCES)).itertuples(index=False))
        )
    finally:
        current.close()
    rows = {
        r.source: (r.first_month.date(), r.last_month.date())
        for r in recorded.itertuples()
        if pd.notna(r.first_month)
    }
    return rows, {s: (c.first_month, c.last_month) for s, c in scanned.items()}


def test_a_demo_build_records_its_coverage(demo_db: Path) -> None:
    """Read at every evaluation, the scan would take a minute at national scale: the writer
    records it, and what it records is what the records say."""
    recorded, scanned = _recorded_and_scanned(demo_db)
    assert recorded == scanned and set(recorded) == set(coverage.SOURCES)


def test_a_purge_records_the_coverage_of_what_remains(tmp_path: Path) -> None:
    """Every record of a demo built today expires seven years after its load: a purge then
    leaves no records, and the coverage it records says so (a stale table would not)."""
    path = tmp_path / "demo.duckdb"
    synth.build_demo_store(path, 600, seed=8)
    before, _ = _recorded_and_scanned(path)
    assert set(before) >= set(coverage.OUTCOME_SOURCES)
    retention.purge(path, 7, date.today().replace(year=date.today().year + 8))
    recorded, scanned = _recorded_and_scanned(path)
    assert recorded == scanned == {}
