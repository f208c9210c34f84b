"""The command line: help, one-line errors for user mistakes, and the demo command."""

import hashlib
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.test_synth import DEMO_SOURCES
from tf_eval import config, store


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tf_eval", *args],
        capture_output=True,
        text=True,
        cwd=config.PROJECT_ROOT,
        env=env,
        timeout=300,
    )


def test_help_names_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "demo" in result.stdout
    demo_help = run("demo", "--help")
    assert demo_help.returncode == 0
    for flag in ("--db", "--families", "--seed"):
        assert flag in demo_help.stdout


@pytest.mark.parametrize(
    "args, complaint",
    [
        ([], "required: COMMAND"),
        (["nonsense"], "invalid choice: 'nonsense'"),
        (["demo", "--families", "many"], "--families: 'many' is not a whole number"),
        (["demo", "--families", "0"], "--families: 0 is outside"),
        (["demo", "--families", "-3"], "--families: -3 is outside"),
        (["demo", "--seed", "1.5"], "--seed: '1.5' is not a whole number"),
        (["demo", "--colour", "blue"], "unrecognized arguments: --colour blue"),
        (["demo", "--db"], "--db: expected one argument"),
    ],
)
def test_a_bad_flag_or_value_is_one_line_and_non_zero(args: list[str], complaint: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert complaint in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_builds_every_table_with_rows_and_the_truth(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    result = run("demo", "--db", str(path), "--families", "2000", "--seed", "7")
    assert result.returncode == 0, result.stderr
    assert f"Built demo store {path}" in result.stdout
    assert "[100%]" in result.stderr  # progress is reported
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
        assert set(store.SCHEMA) <= tables
        for table in DEMO_SOURCES:
            assert con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] > 0, table
        outcomes = {row[0] for row in con.execute("SELECT outcome FROM demo_truth").fetchall()}
    assert outcomes == {"attendance", "offending", "worklessness", "ae_use"}


def test_demo_uses_the_environment_store_path(tmp_path: Path) -> None:
    path = tmp_path / "from-env.duckdb"
    env = {"PATH": "/usr/bin:/bin", config.DB_ENV_VAR: str(path)}
    result = run("demo", "--families", "300", env=env)
    assert result.returncode == 0, result.stderr
    assert path.exists()


def test_demo_refuses_to_replace_a_store_with_loaded_data(real_store: Path) -> None:
    digest = hashlib.sha256(real_store.read_bytes()).hexdigest()
    result = run("demo", "--db", str(real_store), "--families", "300")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "holds loaded data" in result.stderr and "Traceback" not in result.stderr
    assert hashlib.sha256(real_store.read_bytes()).hexdigest() == digest


def test_demo_refuses_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("my precious notes")
    result = run("demo", "--db", str(path), "--families", "300")
    assert result.returncode == 1
    assert "not a tf-eval demo store" in result.stderr and "Traceback" not in result.stderr
    assert path.read_text() == "my precious notes"
