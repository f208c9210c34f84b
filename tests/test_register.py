"""The release register (tf_eval/release/register.py): the same families pass, 1-9 different
ones are refused, 10 or more pass; its bitmaps and size prefilter agree with plain set
arithmetic; it lives beside the store (owner-only, encrypted with the store's key, never in the
audit log); a rebuilt demo starts it again; a purge leaves no destroyed family's pseudonym in it.
The attacks it stops are played in test_differencing.py."""

from __future__ import annotations

import shutil
import struct
import time
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pytest

from tf_eval import cli, config
from tf_eval.data import store, synth
from tf_eval.governance import audit
from tf_eval.governance.rules import Rules
from tf_eval.release import register
from tf_eval.release.register import Basis, TooClose

BESIDE_THE_STORE = register.register_path  # the real one (conftest gives each test its own)
RULES = Rules()  # the defaults: 10 families


@pytest.fixture
def current(real_store: Path, monkeypatch: pytest.MonkeyPatch):
    """An (empty) store of loaded data with its register beside it."""
    monkeypatch.setattr(register, "register_path", BESIDE_THE_STORE)
    opened = store.Store(real_store)
    yield opened
    opened.close()


def _release(current: store.Store, rules: Rules = RULES, **parts: list[int]) -> None:
    basis = Basis({k: np.unique(np.asarray(v, dtype=np.int64)) for k, v in parts.items()})
    register.release(current, basis, "test", "ann", "evaluator", rules)


def _leaks(path: Path, ids: list[int]) -> list[int]:
    data = path.read_bytes()
    return [i for i in ids if struct.pack("<q", i) in data or struct.pack(">q", i) in data]


# Pseudonyms are 64-bit keyed hashes: random, so the file's bytes hold them as they are.
BASE = sorted(np.random.default_rng(7).integers(2**40, 2**62, size=100).tolist())


class _Opened:
    """A store opened for the length of a `with` block."""

    def __init__(self, path: Path) -> None:
        self.store = store.Store(path)

    def __enter__(self) -> store.Store:
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()


def test_the_same_families_pass_one_to_nine_different_are_refused_ten_pass(current) -> None:
    _release(current, matched=BASE)
    _release(current, matched=BASE)  # the same output again
    for changed in (BASE + [5000], BASE[1:], BASE[8:] + [5001], BASE[:95] + [1, 2, 3, 4]):
        with pytest.raises(TooClose, match=r"as one released on \d{4}-\d{2}-\d{2} \(fewer than 10"):
            _release(current, matched=changed)
    _release(current, matched=BASE[10:])  # 10 fewer: passes, and is recorded
    with pytest.raises(TooClose):
        _release(current, matched=BASE[11:])  # one from that one
    _release(current, matched=BASE[:50])  # far from both
    # The threshold is a rule: with 3, a set 3 apart passes.
    _release(current, Rules(differencing_min_families=3), matched=BASE + [7000, 7001, 7002])


def test_every_part_of_an_output_is_checked_and_a_refusal_records_nothing(current) -> None:
    _release(current, matched=BASE)
    with pytest.raises(TooClose):
        _release(current, supported=list(range(1, 300)), matched=BASE + [9999])
    # Nothing of the refused output was recorded, its first part included:
    _release(current, supported=list(range(1, 301)))
    with pytest.raises(TooClose):  # parts of one output are compared with each other too
        _release(current, one=list(range(2000, 2050)), other=list(range(2000, 2051)))
    rows = duckdb.connect(str(BESIDE_THE_STORE(current.path)), read_only=True)
    try:
        sets = rows.execute("SELECT count(*) FROM family_sets").fetchall()[0][0]
    finally:
        rows.close()
    assert sets == 2


def test_bitmaps_and_the_size_prefilter_agree_with_plain_set_arithmetic(current) -> None:
    """Random sets near one another: each is refused exactly when plain Python set arithmetic
    finds a released set 1-9 families away."""
    rng = np.random.default_rng(16)
    released: list[set[int]] = []
    decisions = {True: 0, False: 0}
    pool = np.arange(10**12, 10**12 + 400, dtype=np.int64)
    for _ in range(150):
        base = released[rng.integers(len(released))] if released and rng.random() < 0.8 else set()
        drop = rng.integers(0, 8)
        kept = set(rng.permutation(sorted(base))[drop:].tolist()) if base else set()
        added = set(rng.choice(pool, size=rng.integers(0, 12 if base else 200)).tolist())
        candidate = (kept | added) or {int(pool[0])}
        near = any(0 < len(candidate ^ earlier) < 10 for earlier in released)
        try:
            _release(current, matched=sorted(candidate))
        except TooClose:
            assert near, "refused though no released set is 1-9 families away"
        else:
            assert not near, "released though a released set is 1-9 families away"
            if candidate not in released:
                released.append(candidate)
        decisions[near] += 1
    assert min(decisions.values()) >= 20  # both outcomes exercised


def test_the_register_is_owner_only_and_holds_no_family_in_the_audit_log(current) -> None:
    _release(current, matched=BASE)
    path = BESIDE_THE_STORE(current.path)
    assert path.name.endswith(config.REGISTER_SUFFIX) and path.parent == current.path.parent
    assert path.stat().st_mode & 0o777 == 0o600
    assert _leaks(path, BASE) == BASE  # plaintext store, plaintext register
    with pytest.raises(TooClose):
        _release(current, matched=BASE[1:])
    assert cli.main(["estimate", "--db", str(current.path)]) == 1  # the store is empty
    trail = audit.audit_path(current.path)
    assert not trail.exists() or _leaks(trail, BASE) == []


def test_a_rebuilt_demo_store_starts_its_register_again_a_real_one_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_store: Path
) -> None:
    monkeypatch.setattr(register, "register_path", BESIDE_THE_STORE)
    demo = tmp_path / "demo.duckdb"
    synth.build_demo_store(demo, 300, 5)
    with _Opened(demo) as opened:
        _release(opened, matched=BASE)
        with pytest.raises(TooClose):
            _release(opened, matched=BASE + [1])
    time.sleep(1.1)  # a new creation time
    synth.build_demo_store(demo, 300, 6)
    with _Opened(demo) as opened:
        _release(opened, matched=BASE + [1])  # another data set: nothing released on it yet
    with _Opened(real_store) as opened:
        _release(opened, matched=BASE)
    with duckdb.connect(str(real_store)) as con:  # a store of loaded data keeps its register
        con.execute("INSERT INTO store_info VALUES ('created_at', '2030-01-01T00:00:00')")
    with _Opened(real_store) as opened, pytest.raises(TooClose):
        _release(opened, matched=BASE + [1])


AS_OF = date(2025, 6, 30)


def test_a_purge_leaves_no_destroyed_familys_pseudonym_in_the_register(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The register forgets the families a purge destroys (a fresh file, so not even its free
    blocks keep them), yet keeps their places: an output without them still differs from one
    with them."""
    monkeypatch.setattr(register, "register_path", BESIDE_THE_STORE)
    path = tmp_path / "store.duckdb"
    synth.build_demo_store(path, 600, 29)
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE loads SET loaded_at = TIMESTAMP '2015-01-01 09:00:00'")
        identified = con.execute(
            "SELECT family_id FROM families ORDER BY identified_on, family_id"
        ).fetchall()
    ids = [row[0] for row in identified]
    doomed, kept = ids[:5], ids[-40:]  # the earliest expire first (7 years from 2015)
    with _Opened(path) as opened:
        _release(opened, matched=doomed + kept)
    assert _leaks(BESIDE_THE_STORE(path), doomed) == doomed
    assert cli.main(["purge", "--db", str(path), "--as-of", AS_OF.isoformat()]) == 0
    with _Opened(path) as opened:
        remaining = set(opened.query("SELECT family_id FROM families")["family_id"])
        assert not set(doomed) & remaining and set(kept) <= remaining
        assert _leaks(BESIDE_THE_STORE(path), doomed) == []
        with pytest.raises(TooClose):  # 5 fewer: still refused
            _release(opened, matched=kept)


KEY = "tests-only-store-key-0123456789abcdef-0123"


def test_the_register_of_an_encrypted_store_is_encrypted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_store: Path
) -> None:
    monkeypatch.setattr(register, "register_path", BESIDE_THE_STORE)
    plain = tmp_path / "plain.duckdb"
    shutil.copyfile(real_store, plain)
    with _Opened(plain) as opened:
        _release(opened, matched=BASE)
    assert _leaks(BESIDE_THE_STORE(plain), BASE) == BASE
    monkeypatch.setenv(config.DB_KEY_ENV_VAR, KEY)
    assert cli.main(["encrypt", "--db", str(plain)]) == 0  # the store, and its register
    assert _leaks(BESIDE_THE_STORE(plain), BASE) == []
    with _Opened(plain) as opened:
        _release(opened, matched=BASE)
        with pytest.raises(TooClose):
            _release(opened, matched=BASE[2:])
    monkeypatch.delenv(config.DB_KEY_ENV_VAR)
    with pytest.raises(register.RegisterError, match="release register .* is encrypted"):
        register.release(
            _plain(plain),
            Basis({"matched": np.asarray(BASE, np.int64)}),
            "test",
            "ann",
            "evaluator",
        )


def _plain(path: Path) -> store.Store:
    """A stand-in with the store's path (the store itself is encrypted now)."""
    return type("Stand", (), {"path": path, "info": lambda self: {"kind": "real"}})()
