"""The store: schema (docs/method.md), idempotent creation, path rules, safe sharing."""

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest

from tf_eval import config
from tf_eval.data import store

# docs/method.md: every table with (at least) its columns (audit_log has its own file:
# tests/test_audit.py).
DESIGN_TABLES = {
    "families": {"family_id", "la_code", "identified_on"},
    "people": {"person_id", "family_id", "birth_year", "birth_month", "sex", "role"},
    "programme": {"family_id", "attached_on", "ended_on"},
    "attendance": {"person_id", "term_start", "term_end", "sessions_possible", "sessions_missed"},
    "offences": {"person_id", "offence_date", "disposal"},
    "benefit_spells": {"person_id", "start_date", "end_date", "benefit"},
    "ae_attendances": {"person_id", "arrival_date"},
    "social_care": {"person_id", "start_date", "end_date"},
    "loads": {"load_id", "source", "file_name", "sha256", "rows", "loaded_at", "loaded_by"},
    "demo_truth": {"outcome", "follow_up_months", "la_code", "cohort", "true_att"},
}


def _columns(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = con.execute("SELECT table_name, column_name FROM information_schema.columns").fetchall()
    tables: dict[str, set[str]] = {}
    for table, column in rows:
        tables.setdefault(table, set()).add(column)
    return tables


def test_schema_has_every_design_table_and_column(tmp_path: Path) -> None:
    con = store.connect(tmp_path / "s.duckdb", read_only=False)
    store.create_schema(con)
    tables = _columns(con)
    for table, columns in DESIGN_TABLES.items():
        assert columns <= tables.get(table, set()), (
            f"{table} lacks {columns - tables.get(table, set())}"
        )
    for table in store.RECORD_TABLES:
        assert "load_id" in tables[table], f"{table} rows must carry load_id"


def test_creating_the_schema_twice_is_harmless(tmp_path: Path) -> None:
    con = store.connect(tmp_path / "s.duckdb", read_only=False)
    store.create_schema(con)
    con.execute("INSERT INTO families VALUES (1, 'LA01', DATE '2015-03-02', 1)")
    store.create_schema(con)
    assert con.execute("SELECT count(*) FROM schema_version").fetchall() == [(1,)]
    assert con.execute("SELECT count(*) FROM families").fetchall() == [(1,)]


def test_a_store_from_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    con = store.connect(path, read_only=False)
    store.create_schema(con)
    con.execute("INSERT INTO schema_version VALUES (99, current_timestamp)")
    with pytest.raises(store.StoreError, match="version 99"):
        store.create_schema(con)
    con.close()
    with pytest.raises(store.StoreError, match="version 99"):
        store.Store(path)


def test_a_duckdb_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    duckdb.connect(str(path)).execute("CREATE TABLE t (x INTEGER)").close()
    with pytest.raises(store.StoreError, match="not a tf-eval store"):
        store.Store(path)


def test_schema_rejects_impossible_rows(tmp_path: Path) -> None:
    con = store.connect(tmp_path / "s.duckdb", read_only=False)
    store.create_schema(con)
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO attendance VALUES (1, DATE '2015-09-01', NULL, 100, 101, 1)")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO people VALUES (1, 1, 2001, NULL, 'F', 'lodger', 1)")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO people VALUES (1, 1, 2001, 13, 'F', 'adult', 1)")
    with pytest.raises(duckdb.ConstraintException):  # a term ending before it starts
        con.execute(
            "INSERT INTO attendance VALUES (1, DATE '2015-09-01', DATE '2015-08-31', 100, 1, 1)"
        )


def test_a_version_1_store_is_brought_up_to_date_keeping_its_rows(tmp_path: Path) -> None:
    """Version 2 added people.birth_month and attendance.term_end (both optional): a store made
    before gets them, empty, at its next load (create_schema), and its rows stay (and then
    version 3's social_care.episode_type)."""
    path = tmp_path / "old.duckdb"
    con = store.connect(path, read_only=False)
    for table, columns in store.SCHEMA.items():
        lines = [line for line in columns.split("\n") if "birth_month" not in line]
        lines = [line for line in lines if "term_end" not in line]
        con.execute(f"CREATE TABLE {table} ({chr(10).join(lines)})")
    con.execute("INSERT INTO schema_version VALUES (1, current_timestamp)")
    con.execute("INSERT INTO people VALUES (1, 1, 1980, 'F', 'adult', 1)")
    con.execute("INSERT INTO attendance VALUES (1, DATE '2015-09-01', 100, 5, 1)")
    con.close()
    with pytest.raises(store.StoreError, match="version 1; .* next load"):
        store.Store(path)
    con = store.connect(path, read_only=False)
    store.create_schema(con)
    assert con.execute("SELECT birth_year, birth_month FROM people").fetchall() == [(1980, None)]
    assert con.execute("SELECT sessions_missed, term_end FROM attendance").fetchall() == [(5, None)]
    with pytest.raises(duckdb.ConstraintException):  # the new columns' checks hold too
        con.execute("UPDATE people SET birth_month = 0")
    con.close()
    assert store.Store(path).query("SELECT max(version) AS v FROM schema_version")["v"][0] == 3


def _version_2_store(path: Path, episodes: int = 0) -> None:
    """A store as tf-eval wrote it at schema version 2: social_care without episode_type."""
    con = store.connect(path, read_only=False)
    for table, columns in store.SCHEMA.items():
        if table == "social_care":
            columns = "person_id BIGINT NOT NULL, start_date DATE NOT NULL, end_date DATE, "
            columns += "load_id INTEGER NOT NULL"
        con.execute(f"CREATE TABLE {table} ({columns})")
    con.execute("INSERT INTO schema_version VALUES (1, current_timestamp)")
    con.execute("INSERT INTO schema_version VALUES (2, current_timestamp)")
    con.execute("INSERT INTO families VALUES (1, 'LA01', DATE '2015-03-02', 1)")
    for i in range(episodes):
        con.execute("INSERT INTO social_care VALUES (?, DATE '2016-01-04', NULL, 1)", [i])
    con.close()


def test_a_version_2_store_gets_episode_types_at_its_next_load(tmp_path: Path) -> None:
    """Version 3 added social_care.episode_type. No extract could fill social_care before, so
    an older store's table is empty and is simply rebuilt; the store opens only once it is."""
    path = tmp_path / "old.duckdb"
    _version_2_store(path)
    with pytest.raises(store.StoreError, match="version 2; this tf-eval expects 3 .* next load"):
        store.Store(path)
    con = store.connect(path, read_only=False)
    store.create_schema(con)
    with pytest.raises(duckdb.ConstraintException):  # the new column is required and checked
        con.execute("INSERT INTO social_care VALUES (1, 'foster', DATE '2016-01-04', NULL, 1)")
    con.execute("INSERT INTO social_care VALUES (1, 'looked_after', DATE '2016-01-04', NULL, 1)")
    con.close()
    opened = store.Store(path)
    assert opened.query("SELECT count(*) AS n FROM families")["n"][0] == 1
    assert opened.query("SELECT max(version) AS v FROM schema_version")["v"][0] == 3


def test_episodes_without_a_type_stop_the_upgrade_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _version_2_store(path, episodes=2)
    con = store.connect(path, read_only=False)
    with pytest.raises(store.StoreError) as stopped:
        store.create_schema(con)
    assert str(stopped.value) == (
        "cannot bring the store up to schema version 3: its social_care table holds 2 rows "
        "without episode_type, which that version requires (no tf-eval load wrote them: remove "
        "them, or rebuild the store from its extracts)"
    )
    # Rolled back: the store is still the version-2 store it was, its rows kept.
    assert con.execute("SELECT max(version) FROM schema_version").fetchall() == [(2,)]
    assert con.execute("SELECT count(*) FROM social_care").fetchall() == [(2,)]
    con.close()


def test_db_path_comes_from_flag_then_environment_then_default(monkeypatch) -> None:
    monkeypatch.setenv(config.DB_ENV_VAR, "/env/store.duckdb")
    assert store.resolve_db_path("/flag/store.duckdb") == Path("/flag/store.duckdb")
    assert store.resolve_db_path(None) == Path("/env/store.duckdb")
    monkeypatch.delenv(config.DB_ENV_VAR)
    assert store.resolve_db_path(None) == config.DEFAULT_DB_PATH
    assert config.DEFAULT_DB_PATH == config.PROJECT_ROOT / "data" / "tf_eval.duckdb"


def test_opening_a_missing_store_read_only_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.duckdb"
    with pytest.raises(store.StoreError, match="no store at .*python -m tf_eval demo"):
        store.Store(missing)
    assert not missing.exists()


def test_the_shared_store_is_read_only(demo_db: Path) -> None:
    shared = store.Store(demo_db)
    with pytest.raises(duckdb.InvalidInputException, match="read-only"):
        shared.query("DELETE FROM families")
    shared.close()


def test_one_store_serves_many_threads(demo_db: Path) -> None:
    shared = store.Store(demo_db)
    sql = "SELECT la_code, count(*) AS n FROM families GROUP BY la_code ORDER BY la_code"
    expected = shared.query(sql)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: shared.query(sql), range(64)))
    assert all(result.equals(expected) for result in results)
    shared.close()


_KEPT = "SELECT coalesce(sum(memory_usage_bytes), 0) AS b FROM duckdb_memory()"
_LIMIT = "SELECT current_setting('memory_limit') AS m"


def test_release_hands_back_what_duckdb_kept_and_puts_the_limit_back(
    default_demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A copy of its own: DuckDB shares one database between the connections to a file in a
    # process, and what another test's connection holds is not this one's to hand back.
    path = tmp_path / "own.duckdb"
    shutil.copy(default_demo_db, path)
    shared = store.Store(path)
    limit = shared.query(_LIMIT)["m"][0]
    for table in ("people", *store.PERSON_RECORD_TABLES):
        shared.query(f"SELECT * FROM {table}")
    kept = shared.query(_KEPT)["b"][0]
    monkeypatch.setattr(config, "STORE_IDLE_MEMORY", "1MB")
    assert kept > 2**20
    assert shared.release()
    assert shared.query(_KEPT)["b"][0] <= 2**20 < kept
    assert shared.query(_LIMIT)["m"][0] == limit
    assert len(shared.query("SELECT * FROM families")) > 0  # and it still reads
    shared.close()


def test_release_leaves_a_running_query_alone(demo_db: Path, monkeypatch) -> None:
    shared = store.Store(demo_db)
    monkeypatch.setattr(config, "STORE_IDLE_MEMORY", "0MB")
    with shared.cursor() as cursor:
        cursor.execute("SELECT * FROM people").fetchall()
        kept = cursor.execute(_KEPT).fetchall()[0][0]
        assert not shared.release()
        assert cursor.execute(_KEPT).fetchall()[0][0] == kept > 0
    shared.close()
