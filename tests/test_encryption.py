"""Encryption at rest (TF_EVAL_DB_KEY): the store's bytes hide its values, it opens only with its
key, every way in (demo build, ingest, estimate, purge, the dashboard) honours the key, and
without secure encryption tf-eval refuses rather than writing plaintext or weak ciphertext."""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from tf_eval import cli, config
from tf_eval.data import retention, store, synth

KEY = "tests-only-store-key-0123456789abcdef-0123"
WRONG_KEY = "tests-only-wrong-key-0123456789abcdef-0123"
PSEUDO_KEY = "tests-only-pseudonym-key-0123456789abcdef"
FAMILIES, SEED = 1200, 31
SAMPLES = config.PROJECT_ROOT / "data" / "samples"


@pytest.fixture(autouse=True)
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.DB_KEY_ENV_VAR, KEY)


@pytest.fixture(scope="module")
def plain_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(config.DB_KEY_ENV_VAR, raising=False)
        path = tmp_path_factory.mktemp("plain") / "store.duckdb"
        synth.build_demo_store(path, FAMILIES, SEED)
    return path


@pytest.fixture(scope="module")
def encrypted_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The same demo store as plain_db, built with the key set."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(config.DB_KEY_ENV_VAR, KEY)
        path = tmp_path_factory.mktemp("encrypted") / "store.duckdb"
        synth.build_demo_store(path, FAMILIES, SEED)
        yield path


def pseudonyms(path: Path) -> list[int]:
    current = store.Store(path)
    try:
        return current.query("SELECT person_id FROM people ORDER BY person_id LIMIT 200")[
            "person_id"
        ].tolist()
    finally:
        current.close()


def leaks(path: Path, people: list[int]) -> list[bytes]:
    """Known values found in the file's bytes: LA codes, the store's kind, pseudonyms."""
    data = path.read_bytes()
    known = [b"LA01", b"LA08", b"synthetic demo"] + [struct.pack("<q", p) for p in people]
    return [value for value in known if value in data]


def test_an_encrypted_store_holds_no_known_value_in_its_bytes(
    plain_db: Path, encrypted_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = pseudonyms(encrypted_db)
    assert len(people) == 200
    assert leaks(encrypted_db, people) == []
    assert not Path(f"{encrypted_db}.wal").exists()
    # The same scan finds them all in the plaintext store of the same seed.
    monkeypatch.delenv(config.DB_KEY_ENV_VAR)
    assert pseudonyms(plain_db) == people
    assert len(leaks(plain_db, people)) == 3 + len(people)


@pytest.mark.parametrize(
    ("key", "complaint"),
    [
        (None, "is encrypted: set TF_EVAL_DB_KEY to its key"),
        (WRONG_KEY, "TF_EVAL_DB_KEY is not the key of the store"),
        ("short", "TF_EVAL_DB_KEY is too short (5 characters; at least 32)"),
    ],
)
def test_an_encrypted_store_opens_only_with_its_key(
    encrypted_db: Path, key: str | None, complaint: str, monkeypatch, capsys
) -> None:
    if key is None:
        monkeypatch.delenv(config.DB_KEY_ENV_VAR)
    else:
        monkeypatch.setenv(config.DB_KEY_ENV_VAR, key)
    assert cli.main(["estimate", "--db", str(encrypted_db)]) == 1
    err = capsys.readouterr().err
    assert complaint in err and err.count("\n") == 1 and "Traceback" not in err
    with pytest.raises(store.StoreError, match=complaint.split(" (")[0]):
        store.Store(encrypted_db)


def test_estimates_on_an_encrypted_store_equal_the_plaintext_ones(
    plain_db: Path, encrypted_db: Path, monkeypatch, capsys
) -> None:
    assert cli.main(["estimate", "--db", str(encrypted_db), "--json"]) == 0
    encrypted = json.loads(capsys.readouterr().out)
    monkeypatch.delenv(config.DB_KEY_ENV_VAR)
    assert cli.main(["estimate", "--db", str(plain_db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == encrypted
    assert encrypted["estimates"][0]["att"] is not None


def test_a_plaintext_store_is_refused_while_a_key_is_set_and_can_be_encrypted(
    plain_db: Path, tmp_path: Path, capsys
) -> None:
    path = tmp_path / "store.duckdb"
    shutil.copyfile(plain_db, path)
    assert cli.main(["estimate", "--db", str(path)]) == 1
    assert "is not encrypted but TF_EVAL_DB_KEY is set" in capsys.readouterr().err
    assert cli.main(["encrypt", "--db", str(path)]) == 0
    assert leaks(path, pseudonyms(path)) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".store.duckdb.lock",
        "store.audit.duckdb",
        "store.duckdb",
    ]
    capsys.readouterr()
    assert cli.main(["estimate", "--db", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["treated"] != "c"
    assert cli.main(["encrypt", "--db", str(path)]) == 1
    assert "already encrypted" in capsys.readouterr().err


def test_without_secure_encryption_a_key_is_refused_never_ignored(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """DuckDB's own crypto (mbedtls) is refused for writing by DuckDB unless told to be unsafe;
    tf-eval never tells it so: without the httpfs package it stops with the fix."""
    monkeypatch.setattr(store.importlib.util, "find_spec", lambda name: None)
    path = tmp_path / "store.duckdb"
    assert cli.main(["demo", "--db", str(path), "--families", "50"]) == 1
    err = capsys.readouterr().err
    assert "secure encryption needs DuckDB's httpfs extension" in err and err.count("\n") == 1
    assert "pip install -r requirements.txt" in err
    assert not path.exists()


def test_loads_and_purges_honour_the_key(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(config.PSEUDO_KEY_ENV_VAR, PSEUDO_KEY)
    path = tmp_path / "real.duckdb"
    for source in ("families", "people", "programme", "attendance"):
        assert cli.main(["ingest", source, str(SAMPLES / f"{source}.csv"), "--db", str(path)]) == 0
    current = store.Store(path)
    stored = current.query("SELECT la_code, count(*) AS n FROM families GROUP BY ALL")
    people = current.query("SELECT person_id FROM people")["person_id"].tolist()
    current.close()
    assert sorted(stored["la_code"]) == ["E06000006", "E08000012"] and len(people) == 7
    data = path.read_bytes()
    assert b"E06000006" not in data and b"E08000012" not in data and leaks(path, people) == []
    # A purge as of today removes nothing from a fresh load (byte-identical), and one with the
    # loads backdated rebuilds the encrypted store without them.
    before = path.read_bytes()
    assert cli.main(["purge", "--db", str(path)]) == 0
    assert path.read_bytes() == before
    con = store.connect(path, read_only=False)
    con.execute("UPDATE loads SET loaded_at = TIMESTAMP '2000-01-01'")
    con.close()
    result = retention.purge(path, 7, date(2026, 1, 1))
    assert result.removed["families"] == int(stored["n"].sum())
    current = store.Store(path)
    assert current.query("SELECT count(*) AS n FROM people")["n"][0] == 0
    current.close()


def test_the_dashboard_works_with_the_key(encrypted_db: Path, monkeypatch) -> None:
    monkeypatch.setenv(config.DB_ENV_VAR, str(encrypted_db))
    at = AppTest.from_file(str(config.PROJECT_ROOT / "app.py"), default_timeout=300)
    at.run()
    assert not at.exception and not at.error
    assert at.get("plotly_chart")
    at.switch_page("views/data.py").run()
    assert not at.exception and not at.error and len(at.get("plotly_chart")) == 2


def test_encrypt_leaves_a_file_that_is_not_a_store_alone(tmp_path: Path, capsys) -> None:
    path = tmp_path / "other.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE notes AS SELECT 'E06000006' AS la_code")
    before = path.read_bytes()
    assert cli.main(["encrypt", "--db", str(path)]) == 1
    err = capsys.readouterr().err
    assert "table notes is not a tf-eval store's" in err and err.count("\n") == 1
    assert path.read_bytes() == before
