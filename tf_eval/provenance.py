"""Where the data came from and how long it may be kept, for the Data & linkage page: the loads
behind the store, how their records linked, and the families whose retention period ends each
year, as safe tables."""

from __future__ import annotations

from dataclasses import dataclass

from tf_eval import config
from tf_eval.disclosure import SafeTable, Suppression, count_table
from tf_eval.ingest import linkage_report
from tf_eval.store import Store


@dataclass(frozen=True)
class Provenance:
    loads: SafeTable  # load_id, source, file_name, loaded_at, loaded_by, rows
    linkage: SafeTable  # source, offered, linked, share_linked (from the protected counts)
    retention: SafeTable  # year the retention period ends, families
    retention_years: int

    @property
    def suppressed(self) -> tuple[Suppression, ...]:
        return self.loads.suppressed + self.linkage.suppressed + self.retention.suppressed


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
    linkage = linkage_report(store)[["source", "offered", "linked"]]
    return Provenance(
        count_table(loads, ["rows"], "data:loads"),
        count_table(
            linkage,
            ["offered", "linked"],
            "data:linkage",
            ratios={"share_linked": ("linked", "offered")},
        ),
        count_table(retention, ["families"], "data:retention"),
        config.RETENTION_YEARS,
    )
