"""The audit trail: an append-only log of who did what (the `audit_log` table).

It lives in its own DuckDB file beside the store (`data/tf_eval.audit.duckdb` for the default
store), not inside it, because:
- the dashboard reads the store through a read-only connection, and DuckDB refuses a second,
  writable connection to the same file in one process; the audit file is opened only for the
  moment of each append, so any process can write to it;
- a refused load must leave the store byte-identical, and a purge must destroy records but not
  the record of the purge;
- rebuilding the demo store replaces the store file, never the trail.

Appends never lose a row. DuckDB lets one process at a time open the file for writing: another
process's attempt fails with a lock error, and a second thread of the same process may fail with
"Unique file handle conflict" while the first holds it. So the threads of one process take turns
(a lock per file), and an attempt that meets any lock or conflict error waits and tries again,
with growing, jittered pauses, for up to config.AUDIT_WAIT_SECONDS; only then does it raise
AuditError, and the output it would have recorded is not released (a sign-in is refused).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from tf_eval import config
from tf_eval.governance import private
from tf_eval.governance.rules import Suppression

COLUMNS = '"at" TIMESTAMP NOT NULL, "user" VARCHAR NOT NULL, role VARCHAR NOT NULL, '
COLUMNS += "action VARCHAR NOT NULL, detail JSON"
# Words of DuckDB's errors when another connection holds the file: worth waiting for.
_BUSY = ("lock", "conflict", "already attached", "resource temporarily unavailable")
_file_locks: dict[Path, threading.Lock] = {}
_file_locks_guard = threading.Lock()


class AuditError(RuntimeError):
    """The audit trail could not be written; output is not released without its record."""


def audit_path(store_path: Path) -> Path:
    return store_path.with_suffix(config.AUDIT_SUFFIX)


def _file_lock(path: Path) -> threading.Lock:
    """One lock per audit file in this process, so its threads take turns."""
    with _file_locks_guard:
        return _file_locks.setdefault(path.resolve(), threading.Lock())


def _busy(exc: duckdb.Error) -> bool:
    return any(word in str(exc).lower() for word in _BUSY)


def _with_log(path: Path, work: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
    """Open the log (owner-only), run `work` on it and close it, waiting while another process
    holds it: any lock or conflict error is retried until config.AUDIT_WAIT_SECONDS."""
    deadline = time.monotonic() + config.AUDIT_WAIT_SECONDS
    pause = 0.01
    private.make_dirs(path.parent)
    with _file_lock(path):
        while True:
            try:
                with private.owner_only_files():
                    con = duckdb.connect(str(path))
                try:
                    private.tighten(path)
                    return work(con)
                finally:
                    con.close()
            except duckdb.Error as exc:
                if not _busy(exc) or time.monotonic() > deadline:
                    first_line = str(exc).splitlines()[0]
                    raise AuditError(f"cannot write the audit log {path}: {first_line}") from None
            time.sleep(pause * random.uniform(0.5, 1.5))
            pause = min(pause * 2, 0.25)


def append(
    store_path: Path, user: str, role: str, action: str, details: Iterable[dict[str, Any]]
) -> int:
    """Append one row per detail (all or none) and return how many were written."""
    at = datetime.now(UTC).replace(tzinfo=None)
    rows = [(at, user, role, action, json.dumps(d, default=str)) for d in details]
    if not rows:
        return 0

    def write(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("BEGIN TRANSACTION")
        con.execute(f"CREATE TABLE IF NOT EXISTS audit_log ({COLUMNS})")
        con.executemany("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?)", rows)
        con.execute("COMMIT")

    _with_log(audit_path(store_path), write)
    return len(rows)


def record_suppressions(
    store_path: Path, output: str, suppressed: Iterable[Suppression], user: str, role: str
) -> int:
    """Log every suppression in one output (one row each: output, item, rule, reason)."""
    return append(
        store_path,
        user,
        role,
        "suppressed",
        ({"output": output, **asdict(s)} for s in suppressed),
    )


def read(
    store_path: Path,
    users: Sequence[str] = (),
    actions: Sequence[str] = (),
    since: date | None = None,
    until: date | None = None,
) -> pd.DataFrame:
    """The trail, oldest first (empty when nothing has been logged yet); only these users and
    actions when given, and only from `since` to `until` (UTC days, both included)."""
    path = audit_path(store_path)
    if not path.exists():
        return pd.DataFrame(columns=["at", "user", "role", "action", "detail"])
    filters = {
        "users": ('"user" IN (SELECT unnest($users))', list(users)),
        "actions": ("action IN (SELECT unnest($actions))", list(actions)),
        "since": ('"at" >= $since', since),
        "until": ('"at" < $until + INTERVAL 1 DAY', until),
    }
    used = {name: (sql, value) for name, (sql, value) in filters.items() if value}
    where = " AND ".join(sql for sql, _ in used.values()) or "true"
    params = {name: value for name, (_, value) in used.items()}
    sql = f'SELECT * FROM audit_log WHERE {where} ORDER BY "at"'
    return _with_log(path, lambda con: con.execute(sql, params).df())


def users_and_actions(store_path: Path) -> tuple[list[str], list[str]]:
    """The distinct users and actions in the trail, sorted (for filters), without reading it all."""
    path = audit_path(store_path)
    if not path.exists():
        return [], []

    def distinct(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[str]]:
        users = con.execute('SELECT DISTINCT "user" FROM audit_log ORDER BY 1').fetchall()
        actions = con.execute("SELECT DISTINCT action FROM audit_log ORDER BY 1").fetchall()
        return [row[0] for row in users], [row[0] for row in actions]

    return _with_log(path, distinct)
