"""Loading an agency extract into the store: validated, pseudonymised, all or nothing.

`ingest_file` is the one way in, for the command line and the dashboard's upload alike:

1. The file alone is checked against its source's contract (tf_eval.data.contracts): structure,
   types, allowed values, date rules, unique keys. Any problem refuses it before the store is
   touched.
2. Every reference is replaced by its pseudonym (tf_eval.data.pseudonymise); raw identifiers stay in
   this process's memory and in messages to the person loading the file, never in the store.
3. On a private copy of the store (store.replacing), the file is checked against what is already
   loaded: the store holds loaded data (not the demo), the file was not loaded before (by
   sha256), the pseudonym key is the store's, every reference resolves and no key repeats a
   stored one. Then the records, their `loads` row and their `linkage` row go in, in one
   transaction, every record with its load_id, and the copy replaces the store in one rename.
   Any refusal or failure before that rename leaves the store byte-identical.

References must resolve: a person's family and a programme row's family, always. A record of an
outcome source (attendance, offences, benefit_spells, ae_attendances, social_care) that names a
person the store does not know refuses the file too, unless the data steward allows a small
unlinked share (TF_EVAL_MAX_UNLINKED_SHARE, config.py): records up to that share are then
dropped, and how many the file offered and how many were kept is recorded per load (`linkage`,
`linkage_report`).

Every load and every refusal is also written to the audit log (without identifiers).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from tf_eval import config
from tf_eval.data import coverage, pseudonymise, store
from tf_eval.data.contracts import CONTRACTS, SOURCES, Contract, Problems, check_values
from tf_eval.data.extracts import Extract, read_extract, too_large
from tf_eval.governance import audit

# Where a reference must resolve, per namespace: the store's table.
_TARGETS = {"family": "families", "person": "people"}


class IngestError(Exception):
    """A load that cannot go ahead; the message says why (one line, or a list of problems)."""


class IngestRefused(IngestError):
    """A file refused for what it holds: `problems` has the count and the first few."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        super().__init__(problems.report())


@dataclass(frozen=True)
class LoadResult:
    load_id: int
    source: str
    file_name: str
    sha256: str
    offered: int  # records in the file
    rows: int  # records stored (the rest named no known person and were dropped)


def ingest_file(
    data: Path | bytes,
    source: str,
    db_path: Path,
    user: str,
    *,
    file_name: str | None = None,
    role: str = "steward",
) -> LoadResult:
    """Load one extract (a path, or an upload's bytes with its `file_name`) into the store at
    `db_path`, creating the store if there is none. Raises IngestRefused (with the problems),
    IngestError, pseudonymise.PseudonymKeyError or store.StoreError, and then nothing was
    stored."""
    if source not in CONTRACTS:
        raise IngestError(f"unknown source {source!r} (choose from {', '.join(SOURCES)})")
    contract = CONTRACTS[source]
    raw, name = _read(data, file_name)
    digest = hashlib.sha256(raw).hexdigest()
    detail = {"source": source, "file_name": name, "sha256": digest}
    try:
        result = _load(raw, name, digest, contract, db_path, user)
    except (IngestError, pseudonymise.PseudonymKeyError, store.StoreError) as exc:
        problems = exc.problems.total if isinstance(exc, IngestRefused) else 1
        audit.append(db_path, user, role, "ingest refused", [detail | {"problems": problems}])
        raise
    audit.append(
        db_path,
        user,
        role,
        "ingest",
        [detail | {"load_id": result.load_id, "offered": result.offered, "rows": result.rows}],
    )
    return result


def linkage_report(current: store.Store) -> pd.DataFrame:
    """Per source that refers to a family or person: records offered by its files, records
    linked (and kept), and the share linked. Raw counts: show them only through the disclosure
    gate. Loads without a linkage row (a demo store's) kept every record they offered."""
    has_linkage = not current.query(
        "SELECT 1 FROM information_schema.tables WHERE table_name = 'linkage'"
    ).empty
    join = "LEFT JOIN linkage k USING (load_id)" if has_linkage else ""
    offered = "coalesce(k.records_offered, l.rows)" if has_linkage else "l.rows"
    linked = "coalesce(k.records_linked, l.rows)" if has_linkage else "l.rows"
    sources = [s for s in SOURCES if CONTRACTS[s].refers_to]
    report = current.query(
        f"""SELECT l.source, sum({offered})::BIGINT AS offered, sum({linked})::BIGINT AS linked
            FROM loads l {join}
            WHERE l.source IN (SELECT unnest($sources))
            GROUP BY l.source""",
        {"sources": sources},
    )
    report["share_linked"] = report["linked"] / report["offered"]
    ordered = report.sort_values("source", key=lambda s: s.map(sources.index))
    return ordered.reset_index(drop=True)


def _read(data: Path | bytes, file_name: str | None) -> tuple[bytes, str]:
    """The file's bytes and name; refused in one line, before it is read whole, when it is too
    large to load (extracts.too_large)."""
    if isinstance(data, bytes):
        if not file_name:
            raise ValueError("an upload needs its file_name")
        name = file_name
    else:
        name = file_name or data.name
    try:
        problem = too_large(data, name)
        if problem:
            raise IngestError(problem)
        return (data if isinstance(data, bytes) else data.read_bytes()), name
    except OSError as exc:
        raise IngestError(f"cannot read {data}: {exc.strerror or exc}") from None


def _load(
    raw: bytes, name: str, digest: str, contract: Contract, db_path: Path, user: str
) -> LoadResult:
    problems = Problems(name)
    extract = read_extract(raw, contract, problems)
    typed = check_values(extract.text, extract.rows, contract, problems) if extract else None
    if problems or typed is None:
        raise IngestRefused(problems)
    key = pseudonymise.load_key()
    incoming = _pseudonymised(typed, contract, key)
    with store.replacing(db_path) as con:
        new = _check_store(con, db_path, key)
        earlier = con.execute(
            "SELECT load_id, source, loaded_at, loaded_by FROM loads WHERE sha256 = ?", [digest]
        ).fetchone()
        if earlier:
            problems.add(
                f"this file was already loaded (load {earlier[0]}, {earlier[1]}, "
                f"{earlier[2]:%Y-%m-%d %H:%M} UTC, by {earlier[3]}); a file is loaded once"
            )
            raise IngestRefused(problems)
        con.register("incoming", incoming)
        incoming["_linked"] = _check_references(con, contract, extract, problems)
        con.register("incoming", incoming)  # again, with the new column
        _check_stored_keys(con, contract, extract, problems)
        if problems:
            raise IngestRefused(problems)
        rows = int(incoming["_linked"].sum())
        load_id = _insert(con, contract, (name, digest, user), (len(incoming), rows), new, key)
        coverage.record_coverage(con, (contract.source,))
    return LoadResult(load_id, contract.source, name, digest, len(incoming), rows)


def _pseudonymised(typed: pd.DataFrame, contract: Contract, key: bytes) -> pd.DataFrame:
    """The store's columns: each reference replaced by its pseudonym, the raw one dropped."""
    incoming = pd.DataFrame(index=typed.index)
    for column in contract.columns:
        if column.kind == "reference":
            incoming[column.stored_as] = pseudonymise.pseudonyms(
                typed[column.name], column.namespace, key
            )
        else:
            incoming[column.stored_as] = typed[column.name]
    incoming["_position"] = np.arange(len(incoming))
    return incoming.reset_index(drop=True)


def _check_store(con: duckdb.DuckDBPyConnection, path: Path, key: bytes) -> bool:
    """Refuse a store that is not one of loaded data or was loaded with another key; bring its
    tables up to the schema. Returns whether the store is new."""
    tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    new = not tables
    if not new:
        if "store_info" not in tables:
            raise IngestError(f"{path} is a DuckDB file but not a tf-eval store")
        info = dict(con.execute("SELECT key, value FROM store_info").fetchall())
        if info.get("kind") == "demo":
            raise IngestError(
                f"{path} is a synthetic demo store; load agency extracts into a store of their "
                "own (--db PATH; a missing store is created)"
            )
        if info.get("kind") != "real":
            raise IngestError(f"{path} is not a store of loaded data (kind {info.get('kind')!r})")
        check = info.get("pseudonym_key_check")
        if check and check != pseudonymise.key_check(key):
            raise pseudonymise.PseudonymKeyError(
                f"the pseudonym key is not the one {path} was loaded with, so these records "
                f"would not link to it; set ${config.PSEUDO_KEY_ENV_VAR} or "
                f"${config.PSEUDO_KEY_FILE_ENV_VAR} to that key"
            )
    store.create_schema(con)  # checks the schema version; adds tables added since (linkage)
    return new


def _check_references(
    con: duckdb.DuckDBPyConnection, contract: Contract, extract: Extract, problems: Problems
) -> np.ndarray:
    """Whether each record's reference names a known family or person. Unknown ones refuse the
    file, except in outcome sources within the allowed unlinked share (dropped, not refused)."""
    linked = np.ones(len(extract.rows), dtype=bool)
    if not contract.refers_to:
        return linked
    column = contract.column(contract.refers_to)
    target, id_column = _TARGETS[column.namespace], column.stored_as
    unknown = _positions(
        con, f"NOT EXISTS (SELECT 1 FROM {target} t WHERE t.{id_column} = i.{id_column})"
    )
    linked[unknown] = False
    allowed = 0.0 if contract.strict else _allowed_unlinked_share()
    if unknown.size == 0 or unknown.size <= allowed * linked.size:
        return linked
    if not contract.strict:
        limit = f"at most {allowed:.1%} may" if allowed else "none may, unless a steward allows"
        problems.add(
            f"{unknown.size:,} of {linked.size:,} records ({unknown.size / linked.size:.1%}) name "
            f"a person not in the store; {limit} (${config.MAX_UNLINKED_SHARE_ENV_VAR})"
        )
    references = extract.text[column.name]
    problems.add_rows(
        extract.rows[unknown],
        column.name,
        lambda i: (
            f"'{references.iloc[unknown[i]]}' is not a {column.namespace} in the store "
            f"(load the {target} extract first)"
        ),
    )
    return linked


def _check_stored_keys(
    con: duckdb.DuckDBPyConnection, contract: Contract, extract: Extract, problems: Problems
) -> None:
    """A record whose key (a family, a person, a person's term...) is already stored."""
    if not contract.key:
        return
    stored = [contract.column(name).stored_as for name in contract.key]
    same = " AND ".join(f"t.{c} = i.{c}" for c in stored)
    repeated = _positions(
        con, f"i._linked AND EXISTS (SELECT 1 FROM {contract.source} t WHERE {same})"
    )
    what = " and ".join(contract.key)
    problems.add_rows(
        extract.rows[repeated],
        contract.key[0],
        lambda i: f"a record with this {what} is already in the store (loaded before)",
    )


def _positions(con: duckdb.DuckDBPyConnection, condition: str) -> np.ndarray:
    """Positions in the file of the incoming records (alias i) that meet `condition`."""
    sql = f"SELECT _position FROM incoming i WHERE {condition} ORDER BY _position"
    return con.execute(sql).df()["_position"].to_numpy(dtype=np.int64)


def _allowed_unlinked_share() -> float:
    text = os.environ.get(config.MAX_UNLINKED_SHARE_ENV_VAR)
    if text is None:
        return config.MAX_UNLINKED_SHARE
    try:
        share = float(text)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 0.5:
        raise IngestError(
            f"${config.MAX_UNLINKED_SHARE_ENV_VAR} must be a share from 0 to 0.5 (e.g. 0.02), "
            f"not {text!r}"
        )
    return share


def _insert(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    file: tuple[str, str, str],
    counts: tuple[int, int],
    new: bool,
    key: bytes,
) -> int:
    """The linked records, their loads and linkage rows (and a new store's description) in one
    transaction. `file` is (name, sha256, loaded by), `counts` (offered, linked). Returns the
    load_id."""
    (name, digest, user), (offered, linked) = file, counts
    columns = ", ".join(c.stored_as for c in contract.columns)
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute("BEGIN TRANSACTION")
    load_id = con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM loads").fetchone()[0]
    con.execute(
        f"INSERT INTO {contract.source} ({columns}, load_id) "
        f"SELECT {columns}, ? FROM incoming WHERE _linked ORDER BY _position",
        [load_id],
    )
    con.execute(
        "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?)",
        [load_id, contract.source, name, digest, linked, now, user],
    )
    con.execute("INSERT INTO linkage VALUES (?, ?, ?)", [load_id, offered, linked])
    info = {"pseudonym_key_check": pseudonymise.key_check(key)}
    if new:
        info |= {
            "kind": "real",
            "created_at": now.isoformat(timespec="seconds"),
            "tf_eval_version": config.VERSION,
        }
    con.executemany(
        "INSERT INTO store_info VALUES (?, ?) ON CONFLICT (key) DO NOTHING", list(info.items())
    )
    con.execute("COMMIT")
    return load_id
