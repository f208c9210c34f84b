"""What the Overview page shows: who is in the store and what the records cover, as safe tables
(the counts have passed the disclosure gate before they leave this module). Each count comes
with its cell key, the sum of its records' keys (tf_eval.data.record_keys), for the gate's noise:
families and programme rows by their family's key, people and their records by their own."""

from __future__ import annotations

from dataclasses import dataclass

from tf_eval.data.coverage import NoCalendarError, coverage, study_calendar
from tf_eval.data.record_keys import KEYS, cell_key_sql, key_sql
from tf_eval.data.store import Store
from tf_eval.release.disclosure import SafeTable, count_table

# Outcome record tables and the date that places each record in a year.
RECORD_DATES = {
    "attendance": "term_start",
    "offences": "offence_date",
    "benefit_spells": "start_date",
    "ae_attendances": "arrival_date",
    "social_care": "start_date",
}


@dataclass(frozen=True)
class Overview:
    """Safe counts for the Overview page."""

    by_la_cohort: SafeTable  # la_code, cohort, families, people, supported
    coverage: SafeTable  # source, year, records
    description: dict[str, str]  # the store's store_info
    # Source -> "YYYY-MM to YYYY-MM": its first and last covered months, edges of years with
    # records of at least config.COUNT_THRESHOLD people (families), so safe to show
    # (tf_eval.data.coverage).
    months_covered: dict[str, str]
    # The study calendar, {"from": "YYYY-MM", "to": "YYYY-MM"}; empty when the store has none.
    study_months: dict[str, str]


def overview(store: Store) -> Overview:
    by_la_cohort = store.query(
        f"""
        WITH members AS (
            SELECT family_id, count(*) AS people, sum({key_sql("person_id")}) AS people_key
            FROM people GROUP BY family_id
        )
        SELECT f.la_code, year(f.identified_on) AS cohort,
               count(*) AS families, {cell_key_sql("f.family_id")} AS families_key,
               coalesce(sum(m.people), 0)::BIGINT AS people,
               (coalesce(sum(m.people_key), 0) % {KEYS})::INTEGER AS people_key,
               count(g.family_id) AS supported, {cell_key_sql("g.family_id")} AS supported_key
        FROM families f
        LEFT JOIN members m USING (family_id)
        LEFT JOIN programme g USING (family_id)
        GROUP BY ALL
        ORDER BY la_code, cohort
        """
    )
    records = store.query(
        " UNION ALL ".join(
            f"SELECT '{table}' AS source, year({column}) AS year, count(*) AS records, "
            f"{cell_key_sql('person_id')} AS records_key FROM {table} GROUP BY ALL"
            for table, column in RECORD_DATES.items()
        )
        + " ORDER BY source, year"
    )
    covered = coverage(store)
    try:
        found = study_calendar(store, covered)
        calendar = {"from": f"{found.first_month:%Y-%m}", "to": f"{found.last_month:%Y-%m}"}
    except NoCalendarError:
        calendar = {}
    return Overview(
        count_table(by_la_cohort, ["families", "people", "supported"], "overview:by_la_cohort"),
        count_table(records, ["records"], "overview:coverage"),
        store.info(),
        {c.source: f"{c.first_month:%Y-%m} to {c.last_month:%Y-%m}" for c in covered.values()},
        calendar,
    )
