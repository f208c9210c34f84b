"""The DuckDB store: its schema (docs/method.md), where it lives, and how it is opened.

Every connection is made here. The dashboard shares one read-only `Store` and each query takes its
own cursor, because a DuckDB connection must not be used from two threads at once.
"""

from __future__ import annotations

import fcntl
import glob
import importlib.util
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from tf_eval import config
from tf_eval.governance import private, strength

SCHEMA_VERSION = 3
# The tables each later version changed: create_schema rebuilds them in a store of the version
# before (DuckDB cannot add a column with a CHECK in place).
# 2: people.birth_month and attendance.term_end (both optional; tf_eval.data.outcomes).
# 3: social_care.episode_type (required: no extract could load the table before it had one).
_MIGRATIONS: dict[int, tuple[str, ...]] = {2: ("people", "attendance"), 3: ("social_care",)}
# The kinds of children's social care episode (social_care.episode_type).
EPISODE_TYPES = ("child_in_need", "child_protection_plan", "looked_after")

# A family's index date, in SQL over `families`: the first day of the month it was identified.
# Supported and comparison families alike are followed from it (tf_eval.method.panel, config.py),
# and retention counts from it (tf_eval.data.retention).
INDEX_DATE = "date_trunc('month', identified_on)::DATE"

# Every loaded row carries load_id, so its provenance and age are known.
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
        birth_month TINYINT CHECK (birth_month IS NULL OR birth_month BETWEEN 1 AND 12),
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
        term_end DATE CHECK (term_end IS NULL OR term_end >= term_start),
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
    # Children's social care: one row per episode, open while end_date is NULL.
    "social_care": f"""
        person_id BIGINT NOT NULL,
        episode_type VARCHAR NOT NULL
            CHECK (episode_type IN ({", ".join(f"'{t}'" for t in EPISODE_TYPES)})),
        start_date DATE NOT NULL,
        end_date DATE CHECK (end_date IS NULL OR end_date >= start_date),
        load_id INTEGER NOT NULL""",
    # The synthetic demo's planted effects (tf_eval.data.demo_truth): NULL la_code and cohort for
    # the whole store.
    "demo_truth": """
        outcome VARCHAR NOT NULL,
        follow_up_months INTEGER NOT NULL,
        la_code VARCHAR,
        cohort INTEGER,
        true_att DOUBLE NOT NULL""",
    # Each record source's coverage (tf_eval.data.coverage): first and last month with records of
    # at least COUNT_THRESHOLD people, rewritten by whatever writes records; NULL months: none.
    "coverage": """
        source VARCHAR PRIMARY KEY,
        first_month DATE,
        last_month DATE""",
    # Per load of an extract (tf_eval.data.ingest): records the file offered and those kept because
    # they named a known family or person (the rest, if a steward allowed any, were dropped).
    "linkage": """
        load_id INTEGER PRIMARY KEY,
        records_offered BIGINT NOT NULL,
        records_linked BIGINT NOT NULL CHECK (records_linked <= records_offered)""",
}

# The tables of records about one person each (their `person_id`): outcomes and care episodes.
PERSON_RECORD_TABLES = ("attendance", "offences", "benefit_spells", "ae_attendances", "social_care")
# The tables that hold records about people, in the order a load must follow (references first).
RECORD_TABLES = ("families", "people", "programme", *PERSON_RECORD_TABLES)

# An encrypted store is attached under this name in its own in-memory DuckDB instance.
_ENCRYPTED_CATALOG = "store"


class StoreError(Exception):
    """A problem with the store that the user can fix; its message is one line."""


class StoreKeyError(StoreError):
    """Encryption cannot go ahead: TF_EVAL_DB_KEY is missing, wrong, unneeded or too short for
    the store, or secure encryption is not installed."""


def resolve_db_path(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """`--db`, else `TF_EVAL_DB`, else `data/tf_eval.duckdb` in the project."""
    if cli_value:
        return Path(cli_value)
    env_value = os.environ.get(config.DB_ENV_VAR)
    if env_value:
        return Path(env_value)
    return config.DEFAULT_DB_PATH


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table of the schema that is missing (no rows)."""
    for table, columns in SCHEMA.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table if missing and record the schema version, bringing a store of an
    earlier version up to this one (_MIGRATIONS); running it twice is harmless."""
    con.execute("BEGIN TRANSACTION")
    try:
        create_tables(con)
        versions = [row[0] for row in con.execute("SELECT version FROM schema_version").fetchall()]
        if not versions:
            con.execute(
                "INSERT INTO schema_version VALUES (?, current_timestamp)", [SCHEMA_VERSION]
            )
        elif max(versions) < SCHEMA_VERSION and max(versions) + 1 in _MIGRATIONS:
            for version in range(max(versions) + 1, SCHEMA_VERSION + 1):
                for table in _MIGRATIONS[version]:
                    _rebuild_table(con, table, version)
                con.execute("INSERT INTO schema_version VALUES (?, current_timestamp)", [version])
        elif max(versions) != SCHEMA_VERSION:
            raise StoreError(
                f"store schema version {max(versions)} is not the version this tf-eval "
                f"understands ({SCHEMA_VERSION})"
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _rebuild_table(con: duckdb.DuckDBPyConnection, table: str, version: int) -> None:
    """Give `table` its current schema, keeping its rows (new columns empty). A new column that
    must be filled cannot be filled for rows already there: then the upgrade stops with one line
    (create_schema rolls it back)."""
    old = _columns(con, table)
    con.execute(f"CREATE TABLE _rebuilt ({SCHEMA[table]})")
    required = [c for c, nullable in _columns(con, "_rebuilt").items() if not nullable]
    new = [c for c in required if c not in old]
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    if new and rows:
        raise StoreError(
            f"cannot bring the store up to schema version {version}: its {table} table holds "
            f"{rows:,} rows without {new[0]}, which that version requires (no tf-eval load wrote "
            "them: remove them, or rebuild the store from its extracts)"
        )
    con.execute(f"INSERT INTO _rebuilt BY NAME SELECT * FROM {table}")
    con.execute(f"DROP TABLE {table}")
    con.execute(f"ALTER TABLE _rebuilt RENAME TO {table}")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, bool]:
    """The columns of `table` in the open store, each with whether it may be NULL."""
    rows = con.execute(
        "SELECT column_name, is_nullable FROM duckdb_columns() WHERE table_name = ? "
        "AND database_name = current_database() AND schema_name = current_schema()",
        [table],
    ).fetchall()
    return dict(rows)


def db_key() -> str | None:
    """The store's encryption key (`TF_EVAL_DB_KEY`), or None: the store is then plaintext."""
    key = os.environ.get(config.DB_KEY_ENV_VAR)
    if key is None:
        return None
    if len(key) < config.DB_KEY_MIN_CHARS:
        raise StoreKeyError(
            f"{config.DB_KEY_ENV_VAR} is too short ({len(key)} characters; at least "
            f"{config.DB_KEY_MIN_CHARS}): use a long random key, e.g. `openssl rand -hex 32`"
        )
    weak = strength.key_problem(key, config.DB_KEY_ENV_VAR)
    if weak:
        raise StoreKeyError(weak)
    return key


def quoted(name: str) -> str:
    """A SQL identifier, quoted (a database named after its file may hold any character)."""
    return '"' + name.replace('"', '""') + '"'


def _sql_text(value: str) -> str:
    """A SQL string literal (ATTACH takes no parameters)."""
    return "'" + value.replace("'", "''") + "'"


def _load_secure_crypto(con: duckdb.DuckDBPyConnection) -> None:
    """Load DuckDB's httpfs extension, whose OpenSSL makes encryption secure, from the PyPI package
    duckdb-extension-httpfs (no download). Without it DuckDB has only mbedtls, which it will not
    encrypt with unless told to be unsafe; tf-eval never tells it so, and refuses instead."""
    fix = (
        f"{config.DB_KEY_ENV_VAR} is set, but secure encryption needs DuckDB's httpfs extension "
        f"(package duckdb-extension-httpfs, the version of duckdb, {duckdb.__version__}), which is "
        f"not installed: run `pip install -r requirements.txt`, or unset {config.DB_KEY_ENV_VAR}"
    )
    package = importlib.util.find_spec("duckdb_extension_httpfs")
    if package is None or package.origin is None:
        raise StoreKeyError(fix)
    extension = Path(package.origin).parent / "extensions" / f"v{duckdb.__version__}"
    try:
        con.execute(f"LOAD {_sql_text(str(extension / 'httpfs.duckdb_extension'))}")
    except duckdb.Error:
        raise StoreKeyError(fix) from None
    con.execute("SET force_mbedtls_unsafe = false")  # never the insecure mode, whatever set it
    con.execute("SET temp_file_encryption = true")  # what spills to disk is encrypted too


def _open_error(path: Path, exc: duckdb.Error) -> StoreError:
    """The one-line reason a store file cannot be opened, naming the fix for a key problem."""
    first_line = str(exc).splitlines()[0]
    if "without a key" in first_line:
        return StoreKeyError(
            f"the store at {path} is encrypted: set {config.DB_KEY_ENV_VAR} to its key"
        )
    if "Wrong encryption key" in first_line:
        return StoreKeyError(f"{config.DB_KEY_ENV_VAR} is not the key of the store at {path}")
    if "is not encrypted" in first_line:
        return StoreKeyError(
            f"the store at {path} is not encrypted but {config.DB_KEY_ENV_VAR} is set: unset it, "
            f"or encrypt the store with `python -m tf_eval encrypt --db {path}`"
        )
    return StoreError(f"cannot open the store at {path}: {first_line}")


# Bytes 8-11 of every DuckDB database file, encrypted or not.
_DUCKDB_MAGIC = b"DUCK"


def not_a_database(path: Path) -> bool:
    """Whether `path` holds something other than a DuckDB database (a CSV given as --db, say):
    DuckDB's own error for one names its catalog or its IO, not the mistake."""
    try:
        with path.open("rb") as file:
            head = file.read(12)
    except OSError:  # missing or unreadable: DuckDB's own error says which
        return False
    return len(head) > 0 and head[8:12] != _DUCKDB_MAGIC


def connect(
    path: Path, read_only: bool = True, shown_as: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the store file. Read-only opening of a missing file is a user error, not a new file.

    With TF_EVAL_DB_KEY set, the file is encrypted (AES-GCM, by OpenSSL): it is attached with the
    key to an in-memory DuckDB and made the connection's default database (a cursor starts in
    the in-memory one: `Store.query` points each at the store). Errors name `shown_as` (the
    store a private copy was made of) when given.
    """
    key = db_key()
    if read_only and not path.exists():
        raise StoreError(f"no store at {path}: build one with `python -m tf_eval demo --db {path}`")
    if not_a_database(path):
        raise StoreError(f"{shown_as or path} is not a tf-eval store (not a DuckDB database file)")
    if not read_only:
        private.make_dirs(path.parent)
    try:
        with private.owner_only_files():  # a new file (and its .wal) is 0600 from the start
            if key:
                con = duckdb.connect()
                _load_secure_crypto(con)
                mode = ", READ_ONLY" if read_only else ""
                con.execute(
                    f"ATTACH {_sql_text(str(path))} AS {_ENCRYPTED_CATALOG} "
                    f"(ENCRYPTION_KEY {_sql_text(key)}{mode})"
                )
                con.execute(f"USE {_ENCRYPTED_CATALOG}")
            else:
                con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise _open_error(shown_as or path, exc) from exc
    if not read_only:
        private.tighten(path)
    # tf-eval reports its own progress; DuckDB's bar would write into CLI output.
    con.execute("SET enable_progress_bar = false")
    return con


@contextmanager
def replacing(
    path: Path, *, rebuild: bool = False, plaintext_source: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writable copy of the store at `path` (an empty file if there is none) that replaces the
    store, in one atomic rename, only if the block finishes without an exception.

    With `rebuild`, the new file starts with the schema's tables and no rows, and the store is
    attached read-only as `current` for the block to copy what it keeps: nothing it does not
    copy is in the new file, not even in free blocks (deleting in place would leave old blocks
    in the file's bytes). `plaintext_source` reads a plaintext store while TF_EVAL_DB_KEY
    encrypts the new file.

    The store itself is only read, then renamed over: whatever stops a write before the rename (a
    refusal, an error, kill -9, a power cut) leaves it byte-identical. DuckDB cannot promise that
    in place: a large insert writes blocks into the file before COMMIT, and a rollback leaves
    them. Readers are never blocked (the dashboard keeps its read-only connection to the old
    file until it reopens), and a lock beside the store keeps two writers from copying the same
    state and losing one's work.
    """
    private.make_dirs(path.parent)
    with private.owner_only_files(), _writer_lock(path):  # the copy and its .wal: 0600
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
            if path.exists() and not rebuild:
                os.close(private.create(work))  # owner-only before the first byte is copied
                shutil.copyfile(path, work)
            try:
                con = connect(work, read_only=False, shown_as=path)
                if rebuild:
                    _attach_current(con, path, None if plaintext_source else db_key())
            except StoreKeyError:
                raise
            except StoreError as exc:
                raise StoreError(f"{exc}; refusing to write to it") from None
            try:
                if rebuild:
                    create_tables(con)
                yield con
                if rebuild:
                    con.execute("DETACH current")
                con.execute("CHECKPOINT")
            finally:
                con.close()
            _fsync(work)
            os.replace(work, path)
            _fsync(path.parent)
        finally:
            work.unlink(missing_ok=True)
            Path(f"{work}.wal").unlink(missing_ok=True)


def _attach_current(con: duckdb.DuckDBPyConnection, path: Path, key: str | None) -> None:
    """Attach the store being rebuilt, read-only, as `current` (with its key when encrypted)."""
    if not path.exists():
        raise StoreError(f"no store at {path}")
    options = f"READ_ONLY, ENCRYPTION_KEY {_sql_text(key)}" if key else "READ_ONLY"
    try:
        con.execute(f"ATTACH {_sql_text(str(path))} AS current ({options})")
    except duckdb.Error as exc:
        con.close()
        raise _open_error(path, exc) from exc


def copy_current(con: duckdb.DuckDBPyConnection, keep: dict[str, str]) -> dict[str, int]:
    """In a rebuild (`replacing(rebuild=True)`), copy every table of `current` into the new
    store, in one transaction, only the rows meeting `keep[table]` (a SQL condition) where one
    is given; return the rows left behind per table in `keep`."""
    tables = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'current'"
    ).fetchall()
    foreign = [table for (table,) in tables if table not in SCHEMA]
    if foreign:
        raise StoreError(f"table {foreign[0]} is not a tf-eval store's; refusing to rewrite it")
    removed = {}
    con.execute("BEGIN TRANSACTION")
    for (table,) in tables:
        condition = keep.get(table, "true")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM current.{table} WHERE {condition}")
        if table in keep:
            before = con.execute(f"SELECT count(*) FROM current.{table}").fetchall()[0][0]
            after = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            removed[table] = before - after
    con.execute("COMMIT")
    return removed


def encrypt(path: Path) -> None:
    """Rewrite the plaintext store at `path` encrypted with TF_EVAL_DB_KEY, in a fresh file that
    replaces it in one rename (no plaintext copy is left beside it)."""
    if db_key() is None:
        raise StoreKeyError(f"set {config.DB_KEY_ENV_VAR} to the new key first")
    try:
        Store(path).close()
    except StoreKeyError as exc:
        if "is not encrypted" not in str(exc):
            raise  # encrypted with another key, or no secure encryption here
    else:
        raise StoreError(f"the store at {path} is already encrypted with this key")
    with replacing(path, rebuild=True, plaintext_source=True) as con:
        copy_current(con, {})


@contextmanager
def _writer_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `.<store>.lock` beside the store (released if the process dies)."""
    lock = path.with_name(f".{path.name}.lock")
    with os.fdopen(private.create(lock, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "a") as handle:
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
        self._closed, self._active, self._guard = False, 0, threading.Lock()
        # Facts computed from the whole file (its records' coverage) and kept while it is open:
        # the connection is read-only, and a changed file is opened afresh.
        self.facts: dict[str, Any] = {}
        self._con = connect(path, read_only=True)
        self._con.execute(f"SET memory_limit = '{config.STORE_MEMORY_LIMIT}'")
        # Each cursor starts in the connection's first database: an encrypted store's is not it.
        catalog = self._con.execute("SELECT current_database()").fetchall()[0][0]
        self._use = f"USE {quoted(catalog)}"
        try:
            version = self.query("SELECT max(version) AS v FROM schema_version")["v"].iloc[0]
        except duckdb.CatalogException:
            self._con.close()
            raise StoreError(f"{path} is a DuckDB file but not a tf-eval store") from None
        if version != SCHEMA_VERSION:
            self._con.close()
            upgrade = (
                " (its next load, or a demo rebuild, brings it up to date)"
                if version < SCHEMA_VERSION
                else ""
            )
            raise StoreError(
                f"store {path} has schema version {version}; this tf-eval expects "
                f"{SCHEMA_VERSION}{upgrade}"
            )

    def query(
        self,
        sql: str,
        params: list[Any] | dict[str, Any] | None = None,
        frames: dict[str, pd.DataFrame] | None = None,
    ) -> pd.DataFrame:
        """Run one query on its own cursor and return the whole result as a DataFrame. `frames`
        are registered as views on that cursor only, so the query can join them to the store."""
        with self.cursor() as cursor:
            for name, frame in (frames or {}).items():
                cursor.register(name, frame)
            return cursor.execute(sql, params or []).df()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of its own for work in several statements: temporary tables made in it are
        seen only by it and go with it, so large intermediate results stay inside DuckDB."""
        with self._guard:
            self._active += 1
        try:
            cursor = self._con.cursor()
            try:
                cursor.execute(self._use)
                yield cursor
            finally:
                cursor.close()
        finally:
            with self._guard:
                self._active -= 1

    def release(self) -> bool:
        """Hand back the memory DuckDB keeps from queries done (up to its memory limit: the
        blocks it read, its allocator's pages), if no query is running: the limit is lowered to
        config.STORE_IDLE_MEMORY for one statement and put back. A cursor asked for meanwhile
        waits. Returns whether it was done (not while a query runs, nor when DuckDB cannot free
        that much: the limit then stays as it was)."""
        with self._guard:
            if self._active or self._closed:
                return False
            try:
                self._con.execute(f"SET memory_limit = '{config.STORE_IDLE_MEMORY}'")
            except duckdb.OutOfMemoryException:
                return False
            self._con.execute(f"SET memory_limit = '{config.STORE_MEMORY_LIMIT}'")
            return True

    def info(self) -> dict[str, str]:
        """The store's own description (`store_info`): kind (demo or real), seed, size..."""
        rows = self.query("SELECT key, value FROM store_info")
        return dict(zip(rows["key"], rows["value"], strict=True))

    def close(self) -> None:
        self._closed = True
        self._con.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def busy(self) -> bool:
        """Whether a query is running on one of its cursors now."""
        return self._active > 0
