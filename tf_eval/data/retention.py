"""How long a family's records may be kept, and the purge that destroys them when that ends.

The privacy notice promises that the data are destroyed after seven years
(config.RETENTION_YEARS). The rule, per family:

    a family's records expire `years` after the LATER of
    - its index month: the first day of the month it was identified (every family's index date,
      supported or not: tf_eval.method.panel), and
    - the day of the newest load that brought any record about it (its families, people or
      programme row, or any record of one of its people: `loads.loaded_at`, UTC),
    and all of them (the family, its people, its programme row and every record of its people)
    are destroyed together by the first purge on or after that day.

Why the family: the evaluation compares families, so a family is kept whole or not at all (a
family whose offences were destroyed but whose attendance was kept would look like a family
without offences, and bias every estimate).
Why the index month rather than each family's own index date: families identified in the same
month, supported or not, then expire together, so a purge never keeps a cohort's supported
families (whose index date, attachment, comes up to three months later) longer than the
comparison families identified with them; and counting from a date up to three months early
never keeps a record longer than promised.
Why the load date too: "seven years" then counts from when the council received the data, so
records loaded late are not destroyed on arrival; a later extract about the family is new data
about it, and its period starts again from that load, for all of the family's records. With
loads later than the index month (the usual case) the rule is "seven years after the newest
data about the family".

`purge` rebuilds the store without the expired families into a fresh file that replaces the
store in one rename (store.replacing with rebuild): deleting rows in place would leave them in
the file's bytes (measured: every deleted pseudonym was still there after DELETE and CHECKPOINT).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from tf_eval.data import coverage, store
from tf_eval.data.record_keys import KEY_COLUMN, cell_key_sql
from tf_eval.data.store import INDEX_DATE

# Every family's index month, newest load about it, and the day its records expire ($years).
# Loads are reached through every record that names the family or one of its people.
_PERSON_LOADS = "\n    UNION ".join(
    f"SELECT DISTINCT person_id, load_id FROM {table}" for table in store.PERSON_RECORD_TABLES
)
EXPIRY = f"""
WITH person_loads AS (
    {_PERSON_LOADS}
),
family_loads AS (
    SELECT family_id, load_id FROM families
    UNION SELECT family_id, load_id FROM people
    UNION SELECT family_id, load_id FROM programme
    UNION SELECT p.family_id, r.load_id FROM person_loads r JOIN people p USING (person_id)
),
last_loaded AS (
    SELECT family_id, max(l.loaded_at)::DATE AS last_loaded_on
    FROM family_loads JOIN loads l USING (load_id)
    GROUP BY family_id
)
SELECT family_id, {INDEX_DATE} AS index_month, d.last_loaded_on,
       (greatest(index_month, d.last_loaded_on) + to_years($years))::DATE AS expires_on
FROM families LEFT JOIN last_loaded d USING (family_id)
"""

_KEY = cell_key_sql("family_id")  # the cell key of the families counted

# Purge copies each table whole but for the rows of expired families (table `expired`).
_KEEP = {
    "families": "family_id NOT IN (SELECT family_id FROM expired)",
    "people": "family_id NOT IN (SELECT family_id FROM expired)",
    "programme": "family_id NOT IN (SELECT family_id FROM expired)",
} | {
    table: "person_id NOT IN (SELECT person_id FROM current.people "
    "WHERE family_id IN (SELECT family_id FROM expired))"
    for table in store.PERSON_RECORD_TABLES
}


class RetentionError(ValueError):
    """A purge that cannot go ahead as asked (bad years or date); the message is one line."""


def check_years(years: int) -> int:
    if years < 1:
        raise RetentionError(f"a retention period of {years} years is too short (at least 1)")
    return years


def check_as_of(as_of: date, today: date) -> date:
    """A purge may look at today or the past, never the future: that would destroy records
    whose retention has not yet run out."""
    if as_of > today:
        raise RetentionError(f"--as-of {as_of} is in the future (today is {today})")
    return as_of


def expiry_counts(
    current: store.Store, years: int, as_of: date
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Exact counts, for the gate (tf_eval.release.provenance): families by the year their
    records expire (ends, families), how many have expired by `as_of` (one row: families), and
    the month in which the next ones will, with how many (no row, or one: month, families; a
    month, not a day: a day could point at one family's identification or load). Each count
    comes with its cell key (`families_key`) for the gate's noise."""
    params = {"years": years, "as_of": as_of}
    by_year = current.query(
        f"SELECT year(expires_on) AS ends, count(*) AS families, {_KEY} AS families_key "
        f"FROM ({EXPIRY}) "
        "GROUP BY ALL ORDER BY ends",
        {"years": years},
    )
    due = current.query(
        f"SELECT count(*) AS families, {_KEY} AS families_key FROM ({EXPIRY}) "
        "WHERE expires_on <= $as_of",
        params,
    )
    upcoming = f"SELECT * FROM ({EXPIRY}) WHERE expires_on > $as_of"
    next_expiry = current.query(
        f"""SELECT strftime(expires_on, '%Y-%m') AS month, count(*) AS families,
                   {_KEY} AS families_key
            FROM ({upcoming})
            WHERE date_trunc('month', expires_on) = (SELECT min(date_trunc('month', expires_on))
                                                     FROM ({upcoming}))
            GROUP BY ALL""",
        params,
    )
    return by_year, due, next_expiry


@dataclass(frozen=True)
class PurgeResult:
    """Records removed per table (raw counts: show them through
    tf_eval.release.provenance.removed_table), with the cell key of each table's removed
    records for the gate's noise."""

    removed: dict[str, int]
    years: int
    as_of: date
    removed_keys: dict[str, int]


def purge(path: Path, years: int, as_of: date) -> PurgeResult:
    """Destroy every record of every family whose retention has run out by `as_of`. With none,
    the store is not touched (byte-identical); otherwise the survivors are copied into a fresh
    file that replaces the store in one rename, so no removed record is left in its bytes and a
    purge stopped at any moment leaves the store as it was."""
    check_years(years)
    current = store.Store(path)
    try:
        expired = current.query(
            f"SELECT count(*) AS n FROM ({EXPIRY}) WHERE expires_on <= $as_of",
            {"years": years, "as_of": as_of},
        )["n"].iloc[0]
    finally:
        current.close()
    if not expired:
        none = dict.fromkeys(store.RECORD_TABLES, 0)
        return PurgeResult(none, years, as_of, dict(none))
    with store.replacing(path, rebuild=True) as con:
        removed, keys = _copy_survivors(con, years, as_of)
        coverage.record_coverage(con)
    return PurgeResult(removed, years, as_of, keys)


def _copy_survivors(
    con: duckdb.DuckDBPyConnection, years: int, as_of: date
) -> tuple[dict[str, int], dict[str, int]]:
    """Into the fresh store, copy every table of the store attached as `current` but the
    expired families' records (decided here, under the writer's lock); return rows removed and
    the cell key of each table's removed rows."""
    fresh = con.execute("SELECT current_database()").fetchall()[0][0]
    con.execute("USE current")
    con.execute(
        f"CREATE TEMP TABLE expired AS SELECT family_id FROM ({EXPIRY}) WHERE expires_on <= $as_of",
        {"years": years, "as_of": as_of},
    )
    con.execute("USE " + store.quoted(fresh))
    present = {
        table
        for (table,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'current'"
        ).fetchall()
    }
    keys = {
        table: con.execute(
            f"SELECT {cell_key_sql(KEY_COLUMN[table])} FROM current.{table} "
            f"WHERE NOT ({_KEEP[table]})"
        ).fetchall()[0][0]
        if table in present
        else 0
        for table in store.RECORD_TABLES
    }
    removed = store.copy_current(con, _KEEP)
    return {table: removed.get(table, 0) for table in store.RECORD_TABLES}, keys
