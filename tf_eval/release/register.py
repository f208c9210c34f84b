"""The release register: the families every released output rests on, so that no two released
outputs rest on nearly the same families (docs/disclosure-control.md, "Differencing between
outputs").

Two analyses whose matched families differ by one (a caliper of 1.82 or 1.83 SD) each pass every
rule of the gate, yet subtracting one's tables from the other's gives that family's figures. So
each output released to a person (estimates, breakdowns and trends on the dashboard, `estimate`
and `report` on the command line, board packs) names the sets of families it rests on (its
*basis*), and before it is released each set is compared with every set released before, by
anyone, at any time: the same set is fine (the same selection gives the same output); a set whose
symmetric difference with an earlier one is 1 to `differencing_min_families` - 1 families (1-9
with the default 10) is refused, in one line that names the date of the earlier output.

How it is kept. A DuckDB file beside the store (`<store>.register.duckdb`), like the audit log and
the saved analyses, owner-only and, when the store is encrypted, encrypted with the store's key;
never in the audit log, which people read. Family ids are pseudonyms, listed once each in a
dictionary (`families`: pseudonym -> position); a set is a bitmap over those positions
(`family_sets`: 250 kB for 2 million families), with its size and a digest of its members.
Identical sets are found by digest; for the rest, |A xor B| >= ||A| - |B||, so only sets within
the threshold in size are compared, each by one XOR and a popcount (benchmarks/bench_register.py
measures it).

Across loads and purges the register keeps comparing: a family added or removed by a load is one
that differs, so an output on a selection the load changed by 1-9 families is refused until the
data have changed by more (the docs say why). A purge removes the expired families' pseudonyms
from the dictionary (`forget_absent`) and rewrites the file, so none is left in its bytes; their
positions stay in the earlier bitmaps and still count as differences. A rebuilt demo store is a
new data set: its register starts again.

The library (`tf_eval.evaluate`, `safe_evaluation`) stays pure: the register is applied where
outputs are released (the command line, the dashboard's getters, the board pack).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from tf_eval import config
from tf_eval.data import store
from tf_eval.governance.rules import Rules, SelectionRefused, current_rules
from tf_eval.method.estimate import Evaluation, Matching

# Another process may hold the file for its own release; wait this long before giving up.
LOCK_WAIT_SECONDS = 10.0
_TABLES = {
    "register_info": "key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL",
    "families": "family_id BIGINT, position INTEGER NOT NULL",  # no id: forgotten by a purge
    "family_sets": "set_id INTEGER PRIMARY KEY, families INTEGER NOT NULL, "
    "digest VARCHAR NOT NULL, bits BLOB NOT NULL, first_released TIMESTAMP NOT NULL",
    "releases": '"at" TIMESTAMP NOT NULL, "user" VARCHAR NOT NULL, role VARCHAR NOT NULL, '
    "output VARCHAR NOT NULL, part VARCHAR NOT NULL, set_id INTEGER NOT NULL",
}
_in_process = threading.Lock()  # one release at a time in this process (DuckDB locks the rest)


class RegisterError(RuntimeError):
    """The register cannot be read or written: nothing is released without it."""


class TooClose(SelectionRefused):
    """An output resting on nearly the same families as one released before."""


@dataclass(frozen=True)
class Basis:
    """The families an output rests on, by part (sorted unique pseudonyms): never shown."""

    parts: dict[str, np.ndarray]


def matched_basis(family_ids: np.ndarray, matching: Matching) -> Basis:
    """What the matched estimates, the placebo, balance after matching and the trends rest on:
    the supported families matched and the comparison families with a weight above 0."""
    return Basis({"matched": sorted_unique(family_ids[matching.weights > 0])})


def evaluation_basis(evaluation: Evaluation) -> Basis:
    """An evaluation's: its matched families, and for the naive change every supported family
    of the selection (matched or not)."""
    ids, matching = evaluation.family_ids, evaluation.matching
    supported = sorted_unique(ids[matching.treated.astype(bool)])
    return Basis(matched_basis(ids, matching).parts | {"supported": supported})


def sorted_unique(ids: np.ndarray) -> np.ndarray:
    """The ids sorted, each once (np.unique's hashing is ten times slower on millions)."""
    ordered = np.sort(np.asarray(ids, dtype=np.int64))
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if ordered.size else ordered


def register_path(store_path: Path) -> Path:
    return store_path.with_suffix(config.REGISTER_SUFFIX)


def release(
    current: store.Store,
    basis: Basis,
    output: str,
    user: str,
    role: str,
    rules: Rules | None = None,
) -> None:
    """Check each set of `basis` against every set released before (and the parts before it),
    then record them all; or record nothing and raise TooClose when one rests on nearly the
    same families as an earlier one."""
    rules = rules or current_rules()
    limit = rules.differencing_min_families
    identity = _identity(current)
    with _register(current.path) as con:
        _start_again_if_rebuilt(con, identity)
        now = datetime.now(UTC).replace(tzinfo=None)
        union = sorted_unique(np.concatenate([np.empty(0, np.int64), *basis.parts.values()]))
        positions: tuple[np.ndarray, int] | None = None  # looked up once, if a set is new
        for part, given in basis.parts.items():
            members = sorted_unique(given)
            if not members.size:
                continue  # nothing about nobody
            digest = hashlib.sha256(members.astype("<i8").tobytes()).hexdigest()
            found = con.execute("SELECT set_id FROM family_sets WHERE digest = ?", [digest])
            same = found.fetchall()
            if same:  # the same families as an output released before: nothing new
                set_id = same[0][0]
            else:
                positions = positions or _positions(con, union)
                where, size = positions
                bits = _bitmap(where[np.searchsorted(union, members)], size)
                near = _nearest(con, bits, members.size, limit)
                if near is not None:
                    raise TooClose(
                        "this analysis rests on nearly the same families as one released on "
                        f"{near:%Y-%m-%d} (fewer than {limit} differ): choose settings that "
                        "change more, or use the earlier analysis"
                    )
                set_id = con.execute("SELECT coalesce(max(set_id), 0) + 1 FROM family_sets")
                set_id = set_id.fetchall()[0][0]
                con.execute(
                    "INSERT INTO family_sets VALUES (?, ?, ?, ?, ?)",
                    [set_id, int(members.size), digest, bits, now],
                )
            con.execute(
                "INSERT INTO releases VALUES (?, ?, ?, ?, ?, ?)",
                [now, user, role, output, part, set_id],
            )


def forget_absent(current: store.Store) -> int:
    """After a purge: drop from the dictionary every family no longer in the store, then rewrite
    the register into a fresh file (deleted rows would stay in the old one's bytes). Their
    positions stay in earlier sets, which still differ from later ones by them. Returns how
    many were forgotten."""
    path = register_path(current.path)
    if not path.exists():
        return 0
    kept = current.query("SELECT family_id FROM families")
    with _register(current.path) as con:
        con.register("kept", kept)
        gone = con.execute(
            "SELECT count(*) FROM families WHERE family_id IS NOT NULL "
            "AND family_id NOT IN (SELECT family_id FROM kept)"
        ).fetchall()[0][0]
        con.unregister("kept")
    if gone:
        _rewrite(path, kept)
    return int(gone)


def encrypt(store_path: Path) -> bool:
    """Rewrite a plaintext register encrypted with TF_EVAL_DB_KEY (after `store.encrypt`);
    False when there is none."""
    path = register_path(store_path)
    if not path.exists():
        return False
    _rewrite(path, None, plaintext_source=True)
    return True


# --- the file -------------------------------------------------------------------------------------


@contextmanager
def _register(store_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The register, open for one transaction: committed if the block ends normally, rolled
    back on any exception. Owner-only (files are created under umask 077) and encrypted when
    the store is (TF_EVAL_DB_KEY)."""
    path = register_path(store_path)
    with _in_process, _owner_only():
        con = _connect(path)
        try:
            con.execute("BEGIN TRANSACTION")
            for table, columns in _TABLES.items():
                con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()
        os.chmod(path, 0o600)


@contextmanager
def _owner_only() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            return store.connect(path, read_only=False)
        except store.StoreKeyError as exc:
            said = str(exc).replace("the store at", "the release register at")
            raise RegisterError(said) from None
        except store.StoreError as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise RegisterError(f"cannot use the release register {path}: {exc}") from None
            time.sleep(0.05)


def _rewrite(path: Path, kept: pd.DataFrame | None, plaintext_source: bool = False) -> None:
    """Copy the register into a fresh file that replaces it in one rename: with `kept`, only
    the dictionary rows of those families (the others lose their pseudonym, not their
    position); with `plaintext_source`, from a plaintext register into an encrypted one."""
    work = path.with_name(f".{path.name}.writing-{os.getpid()}")
    work.unlink(missing_ok=True)
    key = None if plaintext_source else store.db_key()
    option = f", ENCRYPTION_KEY {_text(key)}" if key else ""
    with _in_process, _owner_only():
        con = store.connect(work, read_only=False)
        try:
            con.execute(f"ATTACH {_text(str(path))} AS old (READ_ONLY{option})")
            for table, columns in _TABLES.items():
                con.execute(f"CREATE TABLE {table} ({columns})")
                rows = f"SELECT * FROM old.{table}"
                if table == "families" and kept is not None:
                    con.register("kept", kept)
                    rows = (
                        "SELECT CASE WHEN family_id IN (SELECT family_id FROM kept) "
                        "THEN family_id END, position FROM old.families"
                    )
                con.execute(f"INSERT INTO {table} {rows}")
            con.execute("DETACH old")
            con.execute("CHECKPOINT")
        except duckdb.Error as exc:
            work.unlink(missing_ok=True)
            raise RegisterError(f"cannot rewrite the release register {path}: {exc}") from None
        finally:
            con.close()
        os.replace(work, path)


def _text(value: str) -> str:
    """A SQL string literal (ATTACH takes no parameters)."""
    return "'" + value.replace("'", "''") + "'"


# --- what it holds --------------------------------------------------------------------------------


def _identity(current: store.Store) -> str:
    """Which data set the store holds: its kind, when it was created and, for a demo, its seed
    and size (two demo builds in the same second with those the same hold the same families)."""
    info = current.info()
    said = [info.get("kind", "real"), f"created {info.get('created_at', 'unknown')}"]
    said += [f"{key} {info[key]}" for key in ("seed", "families") if key in info]
    return ", ".join(said)


def _start_again_if_rebuilt(con: duckdb.DuckDBPyConnection, identity: str) -> None:
    """A rebuilt demo store is another data set (synthetic): its register starts again. A store
    of loaded data keeps its register whatever happens to it."""
    row = con.execute("SELECT value FROM register_info WHERE key = 'store'").fetchall()
    if row and row[0][0] != identity and row[0][0].startswith("demo"):
        for table in ("families", "family_sets", "releases"):
            con.execute(f"DELETE FROM {table}")
    con.execute(
        "INSERT INTO register_info VALUES ('store', ?) ON CONFLICT (key) DO UPDATE SET "
        "value = excluded.value",
        [identity],
    )


def _positions(con: duckdb.DuckDBPyConnection, ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Each id's position in the dictionary (sorted `ids` in, positions in the same order),
    adding the new ones at the end; and the dictionary's size."""
    con.register("incoming", pd.DataFrame({"family_id": ids}))
    found = con.execute(
        "SELECT f.position FROM incoming i LEFT JOIN families f USING (family_id) "
        "ORDER BY i.family_id"
    ).fetchnumpy()["position"]
    size = con.execute("SELECT count(*) FROM families").fetchall()[0][0]
    positions = np.ma.filled(found, -1).astype(np.int64)  # a family not yet listed: -1
    new = positions < 0
    positions[new] = size + np.arange(int(new.sum()))
    if new.any():
        con.register("added", pd.DataFrame({"family_id": ids[new], "position": positions[new]}))
        con.execute("INSERT INTO families SELECT family_id, position FROM added")
        con.unregister("added")
    con.unregister("incoming")
    return positions, size + int(new.sum())


def _bitmap(positions: np.ndarray, size: int) -> bytes:
    """The set as bits over the dictionary, without trailing zero bytes (so a set's bitmap, and
    its digest, do not change as the dictionary grows)."""
    bits = np.zeros(size, dtype=bool)
    bits[positions] = True
    return np.packbits(bits).tobytes().rstrip(b"\0")


def _nearest(con: duckdb.DuckDBPyConnection, bits: bytes, size: int, limit: int) -> datetime | None:
    """When the first released set that differs from this one by 1 to limit - 1 families was
    released, or None. Only sets within `limit` in size can be that close."""
    candidates = con.execute(
        "SELECT bits, first_released FROM family_sets WHERE families > ? AND families < ? "
        "ORDER BY first_released",
        [size - limit, size + limit],
    ).fetchall()
    mine = np.frombuffer(bits, dtype=np.uint8)
    for other, released in candidates:
        theirs = np.frombuffer(other, dtype=np.uint8)
        common = min(mine.size, theirs.size)
        differ = int(np.bitwise_count(mine[:common] ^ theirs[:common]).sum())
        differ += int(
            np.bitwise_count(mine[common:]).sum() + np.bitwise_count(theirs[common:]).sum()
        )
        if 0 < differ < limit:
            return released
    return None
