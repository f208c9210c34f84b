"""The outcome panel: who is compared, from when, and what each person's outcomes were.

For each family in the evaluation: an index date, treated or comparison (config.py explains the
rule), family-level covariates from the 12 months before the index date, and, for each outcome of
tf_eval.data.outcomes, each person's measure in three windows: the placebo window (24 to 12 months
before), the pre-window (12 months before) and the follow-up (12 or 24 months after).

All of the record crunching happens in DuckDB; only per-person results come back.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from tf_eval import config
from tf_eval.data.coverage import StudyCalendar, study_calendar
from tf_eval.data.outcomes import OUTCOMES, Events, age_sql, spells_sql, terms_sql
from tf_eval.data.record_keys import cell_key_sql
from tf_eval.data.store import INDEX_DATE, Store

PLACEBO_MONTHS = 2 * config.PRE_WINDOW_MONTHS
# The comparison pools an evaluator may choose (AnalysisSpec.comparison), the default first.
NOT_YET_SUPPORTED = "not yet supported"
LATER_JOINERS = "later joiners"
COMPARISON_POOLS = (NOT_YET_SUPPORTED, LATER_JOINERS)
COMPARISON_WORDS = {
    NOT_YET_SUPPORTED: "Families not yet supported when their follow-up ended",
    LATER_JOINERS: "Only families supported later",
}
# Why a family is left out of the panel, in words shown to users.
ATTACHED_BEFORE = "attached to support before it was identified"
ATTACHED_LATE = (
    f"attached more than {config.ATTACHED_WITHIN_MONTHS} months after identification, "
    "before its follow-up ended"
)
NEVER_SUPPORTED = "never supported (the comparison is later joiners only)"
OUTSIDE_RECORDS = "windows reach outside the records"
# Family-level covariates the panel provides (beside la_code, cohort and index_quarter): household
# sizes, and each outcome's pre-window level (school attendance's with whether there is a pupil).
# A lasting state's level in the pre-window's last months (Outcome.recent_level) is a family
# column too, pre_<key>_recent, for its own outcome model alone (estimators.outcome_covariates).
FAMILY_COVARIATES = (
    "n_adults",
    "n_children",
    "pre_attendance",
    "has_pupil",
    *(f"pre_{key}" for key in OUTCOMES if key != "attendance"),
)

# Who is compared (docs/method.md, "Who is compared"). Every family is followed from its index
# date, the first day of the month it was identified, so supported and comparison families meet
# the crisis that led to identification at the same point of their windows, however long support
# took to start. Supported: attached within $within months of identification. Comparison: not
# supported by its follow-up's end ("not yet supported"), or with $comparison = 'later joiners',
# only those supported after it.
_UNITS = f"""
WITH attach AS (
    SELECT family_id, min(attached_on) AS attached_on FROM programme GROUP BY family_id
),
fam AS (
    SELECT f.family_id, f.la_code, year(f.identified_on) AS cohort, a.attached_on,
           f.identified_on, {INDEX_DATE} AS index_date,
           coalesce(a.attached_on >= f.identified_on
                    AND a.attached_on <= f.identified_on + to_months($within), false) AS treated
    FROM families f LEFT JOIN attach a USING (family_id)
    WHERE ($la IS NULL OR f.la_code = $la) AND ($cohort IS NULL OR year(f.identified_on) = $cohort)
)
SELECT family_id, la_code, cohort, index_date, treated,
       CASE WHEN NOT treated AND attached_on < identified_on
                THEN '{ATTACHED_BEFORE}'
            WHEN NOT treated AND attached_on < index_date + to_months($follow_up)
                THEN '{ATTACHED_LATE}'
            WHEN index_date - to_months($placebo) < $records_from
                 OR index_date + to_months($follow_up) > $records_to + 1
                THEN '{OUTSIDE_RECORDS}'
            WHEN NOT treated AND attached_on IS NULL AND $comparison = '{LATER_JOINERS}'
                THEN '{NEVER_SUPPORTED}'
       END AS excluded
FROM fam
"""

# Families kept in the panel, numbered in family_id order: a person's `family_row` is the row of
# their family in Panel.families, so per-family sums are bincounts rather than joins.
_INCLUDED = """
CREATE TEMP TABLE included AS
SELECT row_number() OVER (ORDER BY family_id) - 1 AS family_row,
       family_id, la_code, cohort, index_date, treated
FROM units WHERE excluded IS NULL
"""

_PEOPLE = f"""
CREATE TEMP TABLE ppl AS
SELECT p.person_id, i.family_id, i.family_row, p.role, {age_sql("i.index_date")} AS age,
       (i.index_date - to_months($placebo))::DATE AS w_placebo,
       (i.index_date - to_months($pre))::DATE AS w_pre,
       (i.index_date - to_months($recent))::DATE AS w_recent,
       i.index_date AS w_index,
       (i.index_date + to_months($follow_up))::DATE AS w_end
FROM people p JOIN included i USING (family_id)
"""

_FAMILIES = """
SELECT i.family_id, i.la_code, i.cohort::VARCHAR AS cohort,
       i.index_date::TIMESTAMP AS index_date, i.treated,
       year(i.index_date) || 'Q' || quarter(i.index_date) AS index_quarter,
       coalesce(h.n_adults, 0) AS n_adults, coalesce(h.n_children, 0) AS n_children
FROM included i LEFT JOIN (
    SELECT family_row, count(*) FILTER (WHERE role = 'adult' AND age >= 0) AS n_adults,
           count(*) FILTER (WHERE role = 'child' AND age >= 0) AS n_children
    FROM ppl GROUP BY family_row
) h USING (family_row)
ORDER BY i.family_row
"""

# Everyone in the panel's families, in person order, with their `rowid` in ppl (the row DuckDB
# stored them in): each outcome's frame is its population's rows of this, with the measures below
# filled in.
_EVERYONE = "SELECT rowid, person_id, family_id, family_row, age FROM ppl ORDER BY person_id"

_WINDOWS = {
    "placebo": ("w_placebo", "w_pre"),
    "pre": ("w_pre", "w_index"),
    "post": ("w_index", "w_end"),
}
# The pre-window's last months, measured beside the windows for an outcome with a recent level.
_RECENT = ("recent", ("w_recent", "w_index"))

# Each measure query returns one row per person of the population with a record in their windows
# (by their `rowid` in ppl), in any order; `_measure_frame` puts them in person order and
# gives everyone else theirs (no event, no day on benefit: 0; no school term: no value). At
# national scale a row for everyone, sorted in DuckDB, cost twice as much.


def _counts(table: str, events: Events) -> str:
    """Events per person and window (or whether there was any), of the records of `table` that
    `events` counts."""
    columns = []
    for window, (start, stop) in _WINDOWS.items():
        count = f"count(*) FILTER (WHERE r.{events.date} >= {start} AND r.{events.date} < {stop})"
        columns.append(
            f"({count} > 0)::DOUBLE AS {window}" if events.any else f"{count}::DOUBLE AS {window}"
        )
    return f"""
        SELECT p.rowid, {", ".join(columns)}
        FROM ppl p JOIN {table} r
          ON r.person_id = p.person_id AND r.{events.date} >= p.w_placebo
             AND r.{events.date} < p.w_end AND {events.condition()}
        WHERE {{population}}
        GROUP BY p.rowid"""


def _attendance(terms: str) -> str:
    """% of possible sessions attended in each window; NULL where the child had no term there.
    A term counts in the window it ends in (tf_eval.data.outcomes.TERMS gives a term without an
    end one): a term under way at the index date may already hold support's effect, so it is
    follow-up, never pre-period."""
    columns = []
    for window, (start, stop) in _WINDOWS.items():
        inside = f"FILTER (WHERE r.term_end >= {start} AND r.term_end < {stop})"
        columns.append(
            f"100 * (1 - sum(r.sessions_missed) {inside} / sum(r.sessions_possible) {inside}) "
            f"AS {window}"
        )
    return f"""
        SELECT p.rowid, {", ".join(columns)}
        FROM ppl p JOIN ({terms}) r
          ON r.person_id = p.person_id AND r.term_end >= p.w_placebo AND r.term_end < p.w_end
        WHERE {{population}}
        GROUP BY p.rowid"""


def _worklessness() -> str:
    """Share of each window's days on an out-of-work benefit (and of the pre-window's last months:
    `recent`), from the person's spells cut so that no day counts twice
    (tf_eval.data.outcomes.spells_sql: an open spell runs to the end of the study calendar)."""
    columns = []
    for window, (start, stop) in [*_WINDOWS.items(), _RECENT]:
        days = (
            f"greatest(0, datediff('day', greatest(r.start_date, {start}), "
            f"least(r.stop_date, {stop})))"
        )
        columns.append(f"sum({days}) / any_value(datediff('day', {start}, {stop})) AS {window}")
    return f"""
        SELECT p.rowid, {", ".join(columns)}
        FROM ppl p JOIN ({spells_sql()}) r
          ON r.person_id = p.person_id AND r.start_date < p.w_end AND r.stop_date > p.w_placebo
        WHERE {{population}}
        GROUP BY p.rowid"""


# The measures of their own; every other outcome is counted from its records (`_counts`).
_MEASURES = {"worklessness": _worklessness()}


def _measure_sql(key: str) -> str:
    """The measure query of one outcome other than school attendance (`_attendance`)."""
    outcome = OUTCOMES[key]
    if outcome.events is None:
        return _MEASURES[key]
    return _counts(outcome.source, outcome.events)


def _population(key: str) -> str:
    outcome = OUTCOMES[key]
    upper = "" if outcome.max_age is None else f" AND p.age <= {outcome.max_age}"
    return f"p.age >= {outcome.min_age}{upper}"


def _measure_frame(
    everyone: dict[str, np.ndarray],
    key: str,
    found: dict[str, np.ndarray],
    populations: dict[tuple[int, int | None], tuple[dict[str, np.ndarray], np.ndarray]],
) -> pd.DataFrame:
    """One outcome's people (its population among `everyone`, in person order: person_id,
    family_id, family_row) with their measure in each window: from `found` (a measure query's
    rows), else 0, or no value for school attendance (no term there). The same records give the
    same frame to the last digit, whatever order DuckDB returned them in. `everyone["row"]` is
    each rowid's row of everyone (`_everyone`). Outcomes of the same ages share their people's
    columns (`populations`, filled as they come: at national scale children's two outcomes and
    juveniles' two held a copy each, 180 MB)."""
    outcome = OUTCOMES[key]
    ages = (outcome.min_age, outcome.max_age)
    if ages not in populations:
        age = everyone["age"]
        inside = age >= outcome.min_age
        if outcome.max_age is not None:
            inside &= age <= outcome.max_age
        size = int(inside.sum())
        frame_row = np.zeros(inside.size, dtype=np.int64)  # everyone's row -> this frame's
        frame_row[inside] = np.arange(size)
        populations[ages] = ({name: everyone[name][inside] for name in _FRAME_KEYS}, frame_row)
    people, frame_row = populations[ages]
    columns = dict(people)
    size = columns["person_id"].size
    at = frame_row[everyone["row"][np.asarray(found["rowid"])]]
    for window in [*_WINDOWS, *([_RECENT[0]] if outcome.recent_level else [])]:
        columns[window] = np.full(size, np.nan if key == "attendance" else 0.0)
        columns[window][at] = np.ma.filled(np.ma.asarray(found[window], dtype=float), np.nan)
    return pd.DataFrame(columns, copy=False)


def _everyone(found: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """_EVERYONE's result with `row`: the row of everyone's at each rowid of ppl."""
    row = np.empty(found["rowid"].size, dtype=np.int64)
    row[found["rowid"]] = np.arange(row.size)
    return {**found, "row": row}


_FRAME_KEYS = ("person_id", "family_id", "family_row")


@dataclass(frozen=True)
class Panel:
    """Everything the matching and the estimates need, and nothing about anyone else."""

    families: pd.DataFrame  # sorted by family_id: la_code, cohort, index_quarter, treated, ...
    # outcome -> person_id, family_id, family_row (its row in families), placebo, pre, post
    people: dict[str, pd.DataFrame]
    excluded: dict[str, int]  # why families were left out -> how many
    follow_up_months: int
    excluded_keys: dict[str, int]  # why -> the cell key of those families (for the gate's noise)
    comparison: str = NOT_YET_SUPPORTED  # the comparison pool (COMPARISON_POOLS)
    calendar: StudyCalendar | None = None  # the months the store's records cover (windows inside)


def build_panel(
    store: Store,
    follow_up_months: int = 12,
    la: str | None = None,
    cohort: int | None = None,
    comparison: str = NOT_YET_SUPPORTED,
) -> Panel:
    """The panel for one selection (all families, or one LA and/or identification year).

    One cursor does the work, its intermediate tables staying inside DuckDB: at national scale
    (2 million families, 7.7 million people) moving them through pandas cost more than the
    queries. Windows must lie inside the study calendar the store's records give
    (tf_eval.data.coverage): a store without one raises coverage.NoCalendarError."""
    if follow_up_months not in config.FOLLOW_UP_MONTHS:
        raise ValueError(f"follow-up must be one of {config.FOLLOW_UP_MONTHS} months")
    if comparison not in COMPARISON_POOLS:
        raise ValueError(f"the comparison must be one of: {', '.join(COMPARISON_POOLS)}")
    calendar = study_calendar(store)
    params = {
        "within": config.ATTACHED_WITHIN_MONTHS,
        "follow_up": follow_up_months,
        "placebo": PLACEBO_MONTHS,
        "records_from": calendar.start,
        "records_to": calendar.end,
        "la": la,
        "cohort": cohort,
        "comparison": comparison,
    }
    windows = {
        "placebo": PLACEBO_MONTHS,
        "pre": config.PRE_WINDOW_MONTHS,
        "recent": config.RECENT_MONTHS,
        "follow_up": follow_up_months,
    }
    with store.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE units AS {_UNITS}", params)
        reasons = cursor.execute(
            f"SELECT excluded, count(*), {cell_key_sql('family_id')} FROM units "
            "WHERE excluded IS NOT NULL GROUP BY 1 ORDER BY 1"
        ).fetchall()
        cursor.execute(_INCLUDED)
        cursor.execute(_PEOPLE, windows)
        queries = {
            key: _attendance(terms_sql(store)) if key == "attendance" else _measure_sql(key)
            for key in OUTCOMES
        }
        (n,) = cursor.execute("SELECT count(*) FROM included").fetchone()
        # One thread runs the queries in turn while this one turns each result into a frame (at
        # national scale about 1.3 s less), the families' table last, read while the last frames
        # are made (1.2 s of the queries' chain); a failure cancels the queries not yet started.
        reader = ThreadPoolExecutor(1)
        try:
            everyone_read = reader.submit(lambda: cursor.execute(_EVERYONE).fetchnumpy())
            found = {
                key: reader.submit(
                    _fetch,
                    cursor,
                    sql.format(population=_population(key)),
                    {"records_to": calendar.end} if "$records_to" in sql else None,
                )
                for key, sql in queries.items()
            }
            families_read = reader.submit(_families, cursor)
            everyone = _everyone(everyone_read.result())
            populations: dict = {}
            measures, levels = {}, []
            for key, read in found.items():  # each while the next is queried
                measures[key] = _measure_frame(everyone, key, read.result(), populations)
                # its families' pre-window level by the reader, once its queries are done
                levels.append(reader.submit(_pre_level, n, key, measures[key]))
            families = families_read.result()
            for level in levels:
                for column, values in level.result().items():
                    families[column] = values
        finally:
            reader.shutdown(wait=True, cancel_futures=True)
    store.release()  # what DuckDB kept of these queries: 1.3 GB at national scale
    outcome_people = {key: _with_both_windows(frame) for key, frame in measures.items()}
    return Panel(
        families,
        outcome_people,
        {why: n for why, n, _ in reasons},
        follow_up_months,
        {why: key for why, _, key in reasons},
        comparison,
        calendar,
    )


def _fetch(
    cursor: duckdb.DuckDBPyConnection, sql: str, params: dict | None
) -> dict[str, np.ndarray]:
    return cursor.execute(sql, params).fetchnumpy()


def _families(cursor: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """_FAMILIES as a frame, through Arrow: at national scale `.df()` took twice as long (1.9 s
    against 1.0), making its text columns from Python strings. The index date is read as a
    TIMESTAMP: Arrow hands pandas a DATE as Python dates, where `.df()` gave datetime64."""
    return cursor.execute(_FAMILIES).to_arrow_table().to_pandas()


def _with_both_windows(frame: pd.DataFrame) -> pd.DataFrame:
    """The people with a value in the pre-window and the follow-up (only school attendance can
    lack one); the frame itself when all have (at national scale a copy of each cost seconds)."""
    known = frame["pre"].notna().to_numpy() & frame["post"].notna().to_numpy()
    return frame if known.all() else frame.loc[known].reset_index(drop=True)


def _pre_level(n: int, key: str, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """An outcome's pre-window level (`frame`'s), averaged over each of the n families' members
    in that outcome's population, as the families' column pre_{key} (and its recent level's,
    pre_{key}_recent, where it has one). A family with no such member gets 0 (and, for school
    attendance, has_pupil = 0), so the model can still use every family."""
    pre = frame["pre"].to_numpy()
    known = ~np.isnan(pre)
    rows = frame["family_row"].to_numpy()[known]
    members = np.bincount(rows, minlength=n)
    level = {}
    for window, name in (("pre", f"pre_{key}"), (_RECENT[0], f"pre_{key}_recent")):
        if window in frame:
            total = np.bincount(rows, weights=frame[window].to_numpy()[known], minlength=n)
            level[name] = np.divide(total, members, out=np.zeros(n), where=members > 0)
    if key == "attendance":
        level["has_pupil"] = (members > 0).astype(np.int64)
    return level
