"""What the Overview page shows, as protected tables: who is in the store and what records cover.

Each function reads the store and returns counts already passed through the 10-5 rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tf_eval.disclosure import protect_counts
from tf_eval.store import Store

# Outcome record tables and the date that places each record in a year.
RECORD_DATES = {
    "attendance": "term_start",
    "offences": "offence_date",
    "benefit_spells": "start_date",
    "ae_attendances": "arrival_date",
}


@dataclass(frozen=True)
class Overview:
    """Protected counts for the Overview page (counts are nullable: <NA> means suppressed)."""

    by_la_cohort: pd.DataFrame  # la_code, cohort, families, people, supported
    coverage: pd.DataFrame  # source, year, records
    description: dict[str, str]  # the store's store_info


def overview(store: Store) -> Overview:
    by_la_cohort = store.query(
        """
        SELECT f.la_code, year(f.identified_on) AS cohort,
               count(DISTINCT f.family_id) AS families,
               count(p.person_id) AS people,
               count(DISTINCT g.family_id) AS supported
        FROM families f
        LEFT JOIN people p USING (family_id)
        LEFT JOIN programme g USING (family_id)
        GROUP BY ALL
        ORDER BY la_code, cohort
        """
    )
    for column in ("families", "people", "supported"):
        by_la_cohort[column] = protect_counts(by_la_cohort[column])
    coverage = store.query(
        " UNION ALL ".join(
            f"SELECT '{table}' AS source, year({column}) AS year, count(*) AS records "
            f"FROM {table} GROUP BY ALL"
            for table, column in RECORD_DATES.items()
        )
        + " ORDER BY source, year"
    )
    coverage["records"] = protect_counts(coverage["records"])
    return Overview(by_la_cohort, coverage, store.info())
