"""Where the data came from and how long it may be kept, for the Data & linkage page: the loads
behind the store, how their records linked, and the families whose retention period ends each
year (and whether a purge is due), as safe tables.

Cell keys (tf_eval.data.record_keys): a load's rows are keyed by the records it brought that are
still in the store, a source's linkage by its loads' keys together (records offered but not
linked have no pseudonym, so no key: they change the count, not the key), the retention
schedule by its families, and a purge's removals by the records removed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from tf_eval import config
from tf_eval.data.ingest import linkage_report
from tf_eval.data.record_keys import KEYS, load_keys
from tf_eval.data.retention import PurgeResult, expiry_counts
from tf_eval.data.store import Store
from tf_eval.governance.rules import Suppression
from tf_eval.release.disclosure import SafeTable, count_table


@dataclass(frozen=True)
class Schedule:
    """When families' records expire, for the Data & linkage page (protected counts only)."""

    by_year: SafeTable  # ends (year), families
    due_now: SafeTable  # one row: families whose retention has run out by `as_of`
    next_expiry: SafeTable  # no row, or one: month (YYYY-MM) the next records expire, families
    years: int
    as_of: date

    @property
    def suppressed(self) -> tuple[Suppression, ...]:
        return self.by_year.suppressed + self.due_now.suppressed + self.next_expiry.suppressed


def schedule(current: Store, years: int, as_of: date) -> Schedule:
    """Families by the year their records expire, how many have expired by `as_of` (a purge is
    then due), and the month in which the next ones will (tf_eval.data.retention's rule)."""
    by_year, due, next_expiry = expiry_counts(current, years, as_of)
    return Schedule(
        count_table(by_year, ["families"], "data:retention"),
        count_table(due, ["families"], "data:retention due"),
        count_table(next_expiry, ["families"], "data:retention next"),
        years,
        as_of,
    )


def removed_table(result: PurgeResult) -> SafeTable:
    """What a purge removed, per table, as protected counts (a purge's raw counts could tell
    how many records one family had)."""
    frame = pd.DataFrame(
        {
            "table": list(result.removed),
            "removed": list(result.removed.values()),
            "removed_key": [result.removed_keys[table] for table in result.removed],
        }
    )
    return count_table(frame, ["removed"], "purge")


@dataclass(frozen=True)
class Provenance:
    loads: SafeTable  # load_id, source, file_name, loaded_at, loaded_by, rows
    linkage: SafeTable  # source, offered, linked, share_linked (from the protected counts)
    retention: Schedule  # when families' records expire (tf_eval.data.retention's rule)

    @property
    def suppressed(self) -> tuple[Suppression, ...]:
        return self.loads.suppressed + self.linkage.suppressed + self.retention.suppressed


def provenance(store: Store, today: date) -> Provenance:
    loads = store.query(
        """SELECT load_id, source, file_name, strftime(loaded_at, '%Y-%m-%d %H:%M') AS loaded_at,
                  loaded_by, rows
           FROM loads ORDER BY load_id"""
    )
    loads = loads.merge(load_keys(store).rename(columns={"key": "rows_key"}), on="load_id")
    by_source = loads.groupby("source")["rows_key"].sum() % KEYS
    linkage = linkage_report(store)[["source", "offered", "linked"]]
    linkage["offered_key"] = linkage["source"].map(by_source).fillna(0).astype("int64")
    linkage["linked_key"] = linkage["offered_key"]
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
