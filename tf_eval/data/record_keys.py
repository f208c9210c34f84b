"""Record keys for the cell-key method (docs/disclosure-control.md#consistent-perturbation).

Every family and every person has a record key from 0 to 255: the low byte of its pseudonym. A
pseudonym is the first 8 bytes of a keyed hash (tf_eval.data.pseudonymise; the demo's are
random), so its low byte is uniform, never changes, and cannot be worked out by anyone who
sees only outputs: viewers never see a pseudonym. A record about a person (an attendance term,
an offence, an A&E visit, a benefit spell) carries its person's key; a programme row its family's.

A cell's key is the sum of the keys of the records it counts, modulo 256: the same records always
give the same cell key, and so (tf_eval.release.perturbation) the same noise. The key is defined
once, here, for SQL (`key_sql`, `cell_key_sql`) and for numpy (`record_keys`, `cell_key`); the two
agree because `& 255` reads the low byte of a two's-complement BIGINT in both.

The rows of an analysis file (`match-file`) have no pseudonyms: their keys come from a hash of
each row's contents (`row_keys`), so the same file always gives the same output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tf_eval.data import store

KEYS = 256  # record and cell keys run from 0 to KEYS - 1
# A record key's type: one byte, not eight (at national scale the estimates hold one per person
# of every outcome: 213 MiB less at their memory peak). Every sum of keys is taken in int64.
KEY_TYPE = np.min_scalar_type(KEYS - 1)

# The column whose pseudonym keys each table's records.
KEY_COLUMN = {
    "families": "family_id",
    "people": "person_id",
    "programme": "family_id",
    **dict.fromkeys(store.PERSON_RECORD_TABLES, "person_id"),
}


def key_sql(column: str) -> str:
    """SQL for the record key of a pseudonym column (0-255)."""
    return f"({column} & {KEYS - 1})"


def cell_key_sql(column: str) -> str:
    """SQL for the cell key of the rows aggregated: the sum of their record keys modulo 256
    (0 for no rows). Use it beside count(*) over the same rows."""
    return f"(coalesce(sum({key_sql(column)}), 0) % {KEYS})::INTEGER"


def record_keys(ids: object) -> np.ndarray:
    """The record key (0-255) of each pseudonym, as KEY_TYPE."""
    return (np.asarray(ids, dtype=np.int64) & (KEYS - 1)).astype(KEY_TYPE)


def cell_key(keys: object) -> int:
    """The cell key of records with these record keys."""
    return int(np.asarray(keys, dtype=np.int64).sum() % KEYS)


def row_keys(frame: pd.DataFrame) -> np.ndarray:
    """A key per row of an analysis file, from a hash of the row's contents (no pseudonyms)."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    return (hashed & np.uint64(KEYS - 1)).astype(np.int64)


def load_keys(current: store.Store) -> pd.DataFrame:
    """Each load's key (load_id, key): the sum of the keys of the records it brought that are
    still in the store (0 when none is)."""
    present = set(current.query("SELECT table_name FROM information_schema.tables")["table_name"])
    parts = " UNION ALL ".join(
        f"SELECT load_id, sum({key_sql(column)}) AS k FROM {table} GROUP BY load_id"
        for table, column in KEY_COLUMN.items()
        if table in present  # a table new to the schema arrives with its first load
    )
    return current.query(
        f"SELECT l.load_id, (coalesce(sum(r.k), 0) % {KEYS})::INTEGER AS key "
        f"FROM loads l LEFT JOIN ({parts}) r USING (load_id) GROUP BY l.load_id ORDER BY l.load_id"
    )
