"""Where the data came from and how long it may be kept, for the Data & linkage page: the loads
behind the store, how their records linked, and the families whose retention period ends each
year (and whether a purge is due), as safe tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tf_eval import config
from tf_eval.disclosure import SafeTable, Suppression, count_table
from tf_eval.ingest import linkage_report
from tf_eval.retention import Schedule, schedule
from tf_eval.store import Store


@dataclass(frozen=True)
class Provenance:
    loads: SafeTable  # load_id, source, file_name, loaded_at, loaded_by, rows
    linkage: SafeTable  # source, offered, linked, share_linked (from the protected counts)
    retention: Schedule  # when families' records expire (tf_eval.retention's rule)

    @property
    def suppressed(self) -> tuple[Suppression, ...]:
        return self.loads.suppressed + self.linkage.suppressed + self.retention.suppressed


def provenance(store: Store, today: date) -> Provenance:
    loads = store.query(
        """SELECT load_id, source, file_name, strftime(loaded_at, '%Y-%m-%d %H:%M') AS loaded_at,
                  loaded_by, rows
           FROM loads ORDER BY load_id"""
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
        schedule(store, config.RETENTION_YEARS, today),
    )
