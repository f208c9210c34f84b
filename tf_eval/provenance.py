"""Where the data came from and how long it may be kept, for the Data & linkage page: the loads
behind the store and the families whose retention period ends each year, as safe tables."""

from __future__ import annotations

from dataclasses import dataclass

from tf_eval import config
from tf_eval.disclosure import SafeTable, count_table
from tf_eval.store import Store


@dataclass(frozen=True)
class Provenance:
    loads: SafeTable  # load_id, source, file_name, loaded_at, loaded_by, rows
    retention: SafeTable  # year the retention period ends, families
    retention_years: int


def provenance(store: Store) -> Provenance:
    loads = store.query(
        """SELECT load_id, source, file_name, strftime(loaded_at, '%Y-%m-%d %H:%M') AS loaded_at,
                  loaded_by, rows
           FROM loads ORDER BY load_id"""
    )
    retention = store.query(
        "SELECT year(identified_on) + $years AS ends, count(*) AS families "
        "FROM families GROUP BY ALL ORDER BY ends",
        {"years": config.RETENTION_YEARS},
    )
    return Provenance(
        count_table(loads, ["rows"], "data:loads"),
        count_table(retention, ["families"], "data:retention"),
        config.RETENTION_YEARS,
    )
