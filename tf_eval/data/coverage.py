"""What the records cover, and the study calendar taken from it (docs/method.md).

A council's extracts cover its own years, so the calendar is read from the store rather than
fixed: for each record source, the first month with a record that begins a year holding records
of at least config.COUNT_THRESHOLD people (families, for families and programme; each counted
once a month), and the last month with a record that ends such a year. A stray record, alone in
its year, neither starts nor stretches a source's coverage, and a month is shown only as the
edge of a year of at least ten people's records; a rare outcome that never has ten people in one
month still covers its whole span (a rule by single months shortened a small store's calendar to
the few months it had ten offenders in). The study calendar runs from the latest first month of
the outcome sources to the earliest last month: only there does every outcome have its records.
A source with no such month (no records, or too few) is ignored; a store with none has no
calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pandas as pd

from tf_eval import config
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.data.store import Store, StoreError

# The dates that place each source's records in months (a record may have two: a spell's, a
# term's or a care episode's start and end, a programme row's attachment and end), and the unit
# counted.
_DATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "attendance": ("person_id", ("term_start", "term_end")),
    "offences": ("person_id", ("offence_date",)),
    "benefit_spells": ("person_id", ("start_date", "end_date")),
    "ae_attendances": ("person_id", ("arrival_date",)),
    "social_care": ("person_id", ("start_date", "end_date")),
    "programme": ("family_id", ("attached_on", "ended_on")),
    "families": ("family_id", ("identified_on",)),
}
SOURCES = tuple(_DATES)
# The sources the outcomes read (tf_eval.data.outcomes), each once.
OUTCOME_SOURCES = tuple(dict.fromkeys(o.source for o in OUTCOMES.values()))


class NoCalendarError(StoreError):
    """The store has no outcome records covering any month well enough to set a calendar."""


@dataclass(frozen=True)
class Coverage:
    """A source's first and last covered months (each as its first day)."""

    source: str
    first_month: date
    last_month: date


@dataclass(frozen=True)
class StudyCalendar:
    """The months every outcome source covers: windows must lie inside [start, end]."""

    first_month: date
    last_month: date

    @property
    def start(self) -> date:
        """The calendar's first day."""
        return self.first_month

    @property
    def end(self) -> date:
        """The calendar's last day (inclusive): open benefit spells are cut here."""
        following = (self.last_month.replace(day=28) + timedelta(days=4)).replace(day=1)
        return following - timedelta(days=1)


def coverage(store: Store) -> dict[str, Coverage]:
    """Each source's coverage, in the order of SOURCES; a source with no month of at least
    config.COUNT_THRESHOLD people (or families) is left out. Written into the store's `coverage`
    table by whatever writes records (`record_coverage`: a load, a purge, a demo build), since
    the scan of every record takes a minute at national scale; computed here only for a store
    without it. Kept in `store.facts` while the store is open."""
    if "coverage" not in store.facts:
        try:
            stored = store.query("SELECT source, first_month, last_month FROM coverage")
        except duckdb.CatalogException:  # a store written before the table existed
            stored = pd.DataFrame({"source": []})
        if set(stored["source"]) >= set(SOURCES):
            rows = list(stored.itertuples(index=False, name=None))
        else:
            rows = list(store.query(_scan(SOURCES)).itertuples(index=False, name=None))
        store.facts["coverage"] = _found(rows)
    return dict(store.facts["coverage"])


def record_coverage(con: duckdb.DuckDBPyConnection, sources: tuple[str, ...] = SOURCES) -> None:
    """Rewrite the `coverage` rows of `sources` from the records (in a writer's transaction).
    A source with no covered month gets a row with no months, so the table is known complete."""
    sources = tuple(s for s in sources if s in _DATES)
    if not sources:
        return
    found = dict(_found(con.execute(_scan(sources)).fetchall()))
    con.execute(f"DELETE FROM coverage WHERE source IN ({', '.join(repr(s) for s in sources)})")
    con.executemany(
        "INSERT INTO coverage VALUES (?, ?, ?)",
        [
            (s, *((found[s].first_month, found[s].last_month) if s in found else (None, None)))
            for s in sources
        ],
    )


def _scan(sources: tuple[str, ...]) -> str:
    """SQL: source, first_month, last_month of each source with a covered month: the first month
    with a record that begins 12 months holding records of at least config.COUNT_THRESHOLD people
    (people counted once a month), and the last that ends such 12 months. A stray record, alone in
    its year, neither starts nor ends the coverage; a rare outcome (offending in a small store),
    too few in any one month but recorded all along, still covers its whole span."""
    dated = " UNION ALL ".join(
        f"SELECT '{source}' AS source, {unit} AS unit, date_trunc('month', {column}) AS month "
        f"FROM {source} WHERE {column} IS NOT NULL"
        for source, (unit, columns) in _DATES.items()
        if source in sources
        for column in columns
    )
    return f"""
        WITH monthly AS (
            SELECT source, month, count(*) AS people
            FROM (SELECT DISTINCT source, month, unit FROM ({dated})) GROUP BY ALL
        ),
        framed AS (
            SELECT source, month,
                   sum(people) OVER (PARTITION BY source ORDER BY month RANGE BETWEEN
                                     CURRENT ROW AND INTERVAL 11 MONTH FOLLOWING) AS ahead,
                   sum(people) OVER (PARTITION BY source ORDER BY month RANGE BETWEEN
                                     INTERVAL 11 MONTH PRECEDING AND CURRENT ROW) AS behind
            FROM monthly
        )
        SELECT source,
               min(month) FILTER (WHERE ahead >= {int(config.COUNT_THRESHOLD)})::DATE
                   AS first_month,
               max(month) FILTER (WHERE behind >= {int(config.COUNT_THRESHOLD)})::DATE
                   AS last_month
        FROM framed GROUP BY source
        HAVING first_month IS NOT NULL"""


def _found(rows: list[tuple]) -> dict[str, Coverage]:
    """Coverage objects, in the order of SOURCES, of the rows that have months."""
    found = {
        source: Coverage(source, _date(first), _date(last))
        for source, first, last in rows
        if first is not None and first == first  # not NULL (nor NaT from a frame)
    }
    return {source: found[source] for source in SOURCES if source in found}


def study_calendar(store: Store, covered: dict[str, Coverage] | None = None) -> StudyCalendar:
    """From the latest first month of the outcome sources to the earliest last month (from
    `covered` when the coverage is at hand). Raises NoCalendarError when there is none."""
    covered = coverage(store) if covered is None else covered
    outcomes = [covered[source] for source in OUTCOME_SOURCES if source in covered]
    if not outcomes:
        raise NoCalendarError(
            f"the store has no study calendar: no outcome source ({', '.join(OUTCOME_SOURCES)}) "
            f"has a month with records of {config.COUNT_THRESHOLD} or more people; load outcome "
            "records first"
        )
    first = max(c.first_month for c in outcomes)
    last = min(c.last_month for c in outcomes)
    if first > last:
        raise NoCalendarError(
            f"the outcome sources' records do not overlap in time (the latest starts in "
            f"{first:%Y-%m}, the earliest ends in {last:%Y-%m}): there is no study calendar"
        )
    return StudyCalendar(first, last)


def _date(value: object) -> date:
    """A plain date (DuckDB's frames hand back pandas timestamps)."""
    return value.date() if hasattr(value, "date") else value  # type: ignore[union-attr]
