"""The DuckDB store: its schema (design.md section 2), where it lives, and how it is opened.

Every connection is made here. The dashboard shares one read-only `Store` and each query takes its
own cursor, because a DuckDB connection must not be used from two threads at once.
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from tf_eval import config

SCHEMA_VERSION = 1

# Every loaded row carries load_id (design.md section 2), so its provenance and age are known.
# Identifiers are BIGINT pseudonyms: the first 8 bytes of a keyed hash, never a source identifier.
SCHEMA: dict[str, str] = {
    "schema_version": """
        version INTEGER NOT NULL,
        applied_at TIMESTAMP NOT NULL""",
    "store_info": """
        key VARCHAR PRIMARY KEY,
        value VARCHAR NOT NULL""",
    "loads": """
        load_id INTEGER PRIMARY KEY,
        source VARCHAR NOT NULL,
        file_name VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        rows BIGINT NOT NULL,
        loaded_at TIMESTAMP NOT NULL,
        loaded_by VARCHAR NOT NULL""",
    "families": """
        family_id BIGINT PRIMARY KEY,
        la_code VARCHAR NOT NULL,
        identified_on DATE NOT NULL,
        load_id INTEGER NOT NULL""",
    "people": """
        person_id BIGINT PRIMARY KEY,
        family_id BIGINT NOT NULL,
        birth_year SMALLINT NOT NULL,
        sex VARCHAR NOT NULL CHECK (sex IN ('F', 'M')),
        role VARCHAR NOT NULL CHECK (role IN ('adult', 'child')),
        load_id INTEGER NOT NULL""",
    "programme": """
        family_id BIGINT PRIMARY KEY,
        attached_on DATE NOT NULL,
        ended_on DATE CHECK (ended_on IS NULL OR ended_on >= attached_on),
        load_id INTEGER NOT NULL""",
    "attendance": """
        person_id BIGINT NOT NULL,
        term_start DATE NOT NULL,
        sessions_possible SMALLINT NOT NULL CHECK (sessions_possible > 0),
        sessions_missed SMALLINT NOT NULL
            CHECK (sessions_missed >= 0 AND sessions_missed <= sessions_possible),
        load_id INTEGER NOT NULL""",
    "offences": """
        person_id BIGINT NOT NULL,
        offence_date DATE NOT NULL,
        disposal VARCHAR NOT NULL CHECK (disposal IN ('caution', 'conviction', 'custody')),
        load_id INTEGER NOT NULL""",
    "benefit_spells": """
        person_id BIGINT NOT NULL,
        start_date DATE NOT NULL,
        end_date DATE CHECK (end_date IS NULL OR end_date >= start_date),
        benefit VARCHAR NOT NULL CHECK (benefit IN ('JSA', 'ESA', 'IS', 'UC')),
        load_id INTEGER NOT NULL""",
    "ae_attendances": """
        person_id BIGINT NOT NULL,
        arrival_date DATE NOT NULL,
        load_id INTEGER NOT NULL""",
    "social_care": """
        person_id BIGINT NOT NULL,
        start_date DATE NOT NULL,
        end_date DATE CHECK (end_date IS NULL OR end_date >= start_date),
        load_id INTEGER NOT NULL""",
    "demo_truth": """
        outcome VARCHAR PRIMARY KEY,
        true_att DOUBLE NOT NULL""",
    # Per load of an extract (tf_eval.ingest): records the file offered and those kept because
    # they named a known family or person (the rest, if a steward allowed any, were dropped).
    "linkage": """
        load_id INTEGER PRIMARY KEY,
        records_offered BIGINT NOT NULL,
        records_linked BIGINT NOT NULL CHECK (records_linked <= records_offered)""",
}

# The tables that hold records about people, in the order a load must follow (references first).
RECORD_TABLES = (
    "families",
    "people",
    "programme",
    "attendance",
    "offences",
    "benefit_spells",
    "ae_attendances",
    "social_care",
)


class StoreError(Exception):
    """A problem with the store that the user can fix; its message is one line."""


def resolve_db_path(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """`--db`, else `TF_EVAL_DB`, else `data/tf_eval.duckdb` in the project."""
    if cli_value:
        return Path(cli_value)
    env_value = os.environ.get(config.DB_ENV_VAR)
    if env_value:
        return Path(env_value)
    return config.DEFAULT_DB_PATH


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table if missing and record the schema version; running it twice is harmless."""
    con.execute("BEGIN TRANSACTION")
    try:
        for table, columns in SCHEMA.items():
            con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
        versions = [row[0] for row in con.execute("SELECT version FROM schema_version").fetchall()]
        if not versions:
            con.execute(
                "INSERT INTO schema_version VALUES (?, current_timestamp)", [SCHEMA_VERSION]
            )
        elif max(versions) != SCHEMA_VERSION:
            raise StoreError(
                f"store schema version {max(versions)} is not the version this tf-eval "
                f"understands ({SCHEMA_VERSION})"
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def connect(path: Path, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """Open the store file. Read-only opening of a missing file is a user error, not a new file."""
    if read_only and not path.exists():
        raise StoreError(f"no store at {path}: build one with `python -m tf_eval demo --db {path}`")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        first_line = str(exc).splitlines()[0]
        raise StoreError(f"cannot open the store at {path}: {first_line}") from exc
    # tf-eval reports its own progress; DuckDB's bar would write into CLI output.
    con.execute("SET enable_progress_bar = false")
    return con


@contextmanager
def replacing(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writable copy of the store at `path` (an empty file if there is none) that replaces the
    store, in one atomic rename, only if the block finishes without an exception.

    The store itself is only read, then renamed over: whatever stops a write before the rename (a
    refusal, an error, kill -9, a power cut) leaves it byte-identical. DuckDB cannot promise that
    in place: a large insert writes blocks into the file before COMMIT, and a rollback leaves
    them. Readers are never blocked (the dashboard keeps its read-only connection to the old
    file until it reopens), and a lock beside the store keeps two writers from copying the same
    state and losing one's work.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with _writer_lock(path):
        wal = Path(f"{path}.wal")
        if wal.exists():
            raise StoreError(
                f"{wal} exists: a program writing the store stopped before it finished; open the "
                "store once with DuckDB to recover it, then try again"
            )
        for stale in glob.glob(glob.escape(str(path.with_name(f".{path.name}.writing-"))) + "*"):
            Path(stale).unlink()  # left by a writer that was killed: we hold the lock now
        work = path.with_name(f".{path.name}.writing-{os.getpid()}")
        try:
            if path.exists():
                shutil.copyfile(path, work)
                shutil.copymode(path, work)
            try:
                con = connect(work, read_only=False)
            except StoreError:
                raise StoreError(
                    f"cannot open {path} as a DuckDB store; refusing to write to it"
                ) from None
            try:
                yield con
                con.execute("CHECKPOINT")
            finally:
                con.close()
            _fsync(work)
            os.replace(work, path)
            _fsync(path.parent)
        finally:
            work.unlink(missing_ok=True)
            Path(f"{work}.wal").unlink(missing_ok=True)


@contextmanager
def _writer_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `.<store>.lock` beside the store (released if the process dies)."""
    with open(path.with_name(f".{path.name}.lock"), "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(
                f"another process is writing {path}; try again when it has finished"
            ) from None
        yield


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk, so a rename survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """One read-only connection to a store, safe to share between threads (a cursor per query)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._con = connect(path, read_only=True)
        try:
            version = self.query("SELECT max(version) AS v FROM schema_version")["v"].iloc[0]
        except duckdb.CatalogException:
            self._con.close()
            raise StoreError(f"{path} is a DuckDB file but not a tf-eval store") from None
        if version != SCHEMA_VERSION:
            self._con.close()
            raise StoreError(
                f"store {path} has schema version {version}; this tf-eval expects {SCHEMA_VERSION}"
            )

    def query(
        self,
        sql: str,
        params: list[Any] | dict[str, Any] | None = None,
        frames: dict[str, pd.DataFrame] | None = None,
    ) -> pd.DataFrame:
        """Run one query on its own cursor and return the whole result as a DataFrame. `frames`
        are registered as views on that cursor only, so the query can join them to the store."""
        cursor = self._con.cursor()
        try:
            for name, frame in (frames or {}).items():
                cursor.register(name, frame)
            return cursor.execute(sql, params or []).df()
        finally:
            cursor.close()

    def info(self) -> dict[str, str]:
        """The store's own description (`store_info`): kind (demo or real), seed, size..."""
        rows = self.query("SELECT key, value FROM store_info")
        return dict(zip(rows["key"], rows["value"], strict=True))

    def close(self) -> None:
        self._con.close()
