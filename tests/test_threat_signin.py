"""Issue 16, part 3: the attacks on sign-in and the audit trail, played as the attacker would
(docs/threat-model.md). Each test failed on the code before the fix.

- 30 sign-ins sent at once must not get more password checks than the lockout allows, nor let
  the right password in once the wrong ones have used them up; per name and per client.
- 20 concurrent sessions (threads and processes) appending to the audit log lose no row.
- A sign-in whose audit row cannot be written is refused, with one line.
- Weak passwords and keys ('a' x 12, 'a' x 32) are refused with one line naming what is wrong.
"""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tf_eval import cli, config
from tf_eval.governance import access, audit

APP = str(config.PROJECT_ROOT / "app.py")
PASSWORD = "a long enough password"
SAMPLES = config.PROJECT_ROOT / "data" / "samples"


@pytest.fixture(autouse=True)
def fresh_throttle() -> None:
    """The dashboard's throttle is one per server process: these attacks must not lock out the
    other tests' sign-ins (all AppTest sessions share one client)."""
    from dashboard import signin

    signin._throttle.clear()
    yield
    signin._throttle.clear()


def _parallel_attempts(
    db: Path, monkeypatch: pytest.MonkeyPatch, wrong: list[str], right: tuple[str, str]
) -> tuple[tuple[access.Account | None, str], list[str]]:
    """Thirty browser sessions at once, as the dashboard's sign-in form makes each attempt
    (signin.check_password, in a thread per session, as Streamlit runs each session): the wrong
    guesses all at once, then, while their password checks are still running (a server hashing
    30 argon2 passwords at once takes seconds), the right password."""
    from dashboard import signin

    monkeypatch.setenv(config.DB_ENV_VAR, str(db))
    accounts = access.load_accounts()
    checked: list[str] = []
    real_verify = access.verify

    def busy_server_verify(accounts, name, password):
        checked.append(name)
        found = real_verify(accounts, name, password)
        if found is None:
            time.sleep(2)  # the hashing queue of a busy server: failures come back late
        return found

    monkeypatch.setattr(access, "verify", busy_server_verify)
    outcomes: dict[int, tuple[access.Account | None, str]] = {}

    def session(i: int, name: str, password: str) -> None:
        outcomes[i] = signin.check_password(accounts, name, password, "203.0.113.9")

    threads = [
        threading.Thread(target=session, args=(i, name, f"wrong guess {i}"))
        for i, name in enumerate(wrong)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1)  # every wrong attempt is in, its password being checked
    session(len(wrong), *right)
    for thread in threads:
        thread.join()
    return outcomes[len(wrong)], checked


def test_thirty_parallel_sign_ins_cannot_beat_the_lockout(
    demo_db: Path, no_accounts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    access.add_account("target", "viewer", PASSWORD, no_accounts)
    (account, refusal), checked = _parallel_attempts(
        demo_db, monkeypatch, ["target"] * 29, ("target", PASSWORD)
    )
    assert len(checked) <= config.SIGN_IN_MAX_FAILURES, f"{len(checked)} passwords checked"
    assert account is None, "the right password got in"
    assert "Too many failed sign-ins" in refusal
    trail = audit.read(demo_db)
    locked = trail[trail["detail"].str.contains("locked") & (trail["user"] == "target")]
    assert len(locked) >= 30 - config.SIGN_IN_MAX_FAILURES


def test_one_guess_at_each_of_thirty_names_is_stopped_per_client(
    demo_db: Path, no_accounts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Password spraying: one wrong guess at each of many names from one address."""
    for i in range(30):
        access.add_account(f"member{i}", "viewer", PASSWORD, no_accounts)
    names = [f"member{i}" for i in range(29)]
    (account, _), checked = _parallel_attempts(demo_db, monkeypatch, names, ("member29", PASSWORD))
    assert len(checked) <= config.SIGN_IN_MAX_CLIENT_FAILURES, f"{len(checked)} checked"
    assert account is None


def test_the_throttle_counts_an_attempt_before_its_password_is_checked() -> None:
    throttle = access.SignInThrottle()
    starts = [throttle.begin("ann", "10.0.0.1", now=1.0) for _ in range(30)]
    admitted = [s for s in starts if s[0] == 0]
    assert len(admitted) == config.SIGN_IN_MAX_FAILURES
    assert throttle.locked_for("ann", now=2.0) > 0
    throttle.succeeded("ann", "10.0.0.1", admitted[0][1])  # the right password, in time
    assert throttle.begin("ann", "10.0.0.1", now=2.0)[0] == 0
    for i in range(config.SIGN_IN_MAX_CLIENT_FAILURES):
        throttle.begin(f"name{i}", "10.0.0.2", now=3.0)
    assert throttle.begin("someone", "10.0.0.2", now=3.0)[0] > 0  # that client is locked
    assert throttle.begin("someone", "10.0.0.3", now=3.0)[0] == 0  # another is not


# --- the audit trail under load -------------------------------------------------------------------

_WRITER = """
import sys, threading
from pathlib import Path
from tf_eval.governance import audit
path, who, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
failed = []
def session(t):
    for k in range(n):
        try:
            audit.append(path, f"{who}-{t}", "viewer", "sign-in", [{"via": "password", "k": k}])
        except Exception as exc:
            failed.append(exc)
threads = [threading.Thread(target=session, args=(t,)) for t in range(5)]
[t.start() for t in threads]
[t.join() for t in threads]
if failed:
    print(f"{len(failed)} rows lost, e.g. {failed[0]}", file=sys.stderr)
sys.exit(1 if failed else 0)
"""


def test_twenty_concurrent_sessions_lose_no_audit_row(tmp_path: Path) -> None:
    """Three processes of five threads each, and five threads here: twenty sessions signing in
    at once, ten times each (as several dashboard servers and command-line runs would)."""
    db = tmp_path / "store.duckdb"
    per_session = 10
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(db), f"p{i}", str(per_session)],
            cwd=config.PROJECT_ROOT,
        )
        for i in range(3)
    ]
    failures: list[Exception] = []

    def session(t: int) -> None:
        for k in range(per_session):
            try:
                audit.append(db, f"here-{t}", "viewer", "sign-in", [{"via": "password", "k": k}])
            except Exception as exc:  # noqa: BLE001 - counted: a lost row is the failure
                failures.append(exc)

    threads = [threading.Thread(target=session, args=(t,)) for t in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = [process.wait(timeout=300) for process in processes]
    assert not failures, f"{len(failures)} appends failed here, e.g. {failures[0]}"
    assert codes == [0, 0, 0], "appends failed in a process"
    assert len(audit.read(db)) == 20 * per_session


def test_a_sign_in_without_its_audit_row_is_refused_in_one_line(
    demo_db: Path, no_accounts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    access.add_account("ann", "viewer", PASSWORD, no_accounts)
    monkeypatch.setenv(config.DB_ENV_VAR, str(demo_db))
    real_append = audit.append

    def log_full(*args, **kwargs):  # the disk is full, or another program holds the log
        raise audit.AuditError("cannot write the audit log: disk full")

    at = AppTest.from_file(APP, default_timeout=300).run()
    monkeypatch.setattr(audit, "append", log_full)
    at.text_input[0].set_value("ann")
    at.text_input[1].set_value(PASSWORD)
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "audit log" in at.error[0].value
    assert "\n" not in at.error[0].value
    monkeypatch.setattr(audit, "append", real_append)
    at.run()  # the next click: still not signed in
    assert at.title[0].value == "Sign in to tf-eval"


# --- weak secrets ---------------------------------------------------------------------------------


def _users_add(name: str, password: str) -> int:
    saved = sys.stdin
    sys.stdin = io.StringIO(password + "\n")
    try:
        return cli.main(["users", "add", name, "--role", "admin", "--password-stdin"])
    finally:
        sys.stdin = saved


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("a" * 12, "too easy to guess"),
        ("abcdefghijkl", "too easy to guess"),
        ("Password1234", "commonest passwords"),
        ("qwertyuiop12", "commonest passwords"),
        ("guessguessguess", "too easy to guess"),
    ],
)
def test_a_weak_password_is_refused_in_one_line(
    password: str, why: str, no_accounts: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv(config.DB_ENV_VAR, str(tmp_path / "store.duckdb"))
    assert _users_add("ann", password) == 1
    err = capsys.readouterr().err
    assert why in err and err.count("\n") == 1
    assert not no_accounts.exists()


def test_a_strong_password_is_still_accepted(no_accounts: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv(config.DB_ENV_VAR, str(tmp_path / "store.duckdb"))
    assert _users_add("ann", "correct horse battery staple") == 0
    assert _users_add("bob", "x7Rk2pLq9mWz") == 0


@pytest.mark.parametrize("key", ["a" * 32, "ab" * 16, "0123456789" * 4, "k" * 40])
def test_a_weak_store_key_is_refused_in_one_line(
    key: str, demo_db: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv(config.DB_KEY_ENV_VAR, key)
    assert cli.main(["estimate", "--db", str(demo_db), "--outcome", "ae_use"]) == 1
    err = capsys.readouterr().err
    assert "TF_EVAL_DB_KEY is too easy to guess" in err and err.count("\n") == 1


@pytest.mark.parametrize("key", ["a" * 32, "abcd" * 10])
def test_a_weak_pseudonym_key_is_refused_in_one_line(
    key: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv(config.PSEUDO_KEY_ENV_VAR, key)
    db = tmp_path / "real.duckdb"
    assert cli.main(["ingest", "families", str(SAMPLES / "families.csv"), "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "pseudonym key" in err and "too easy to guess" in err and err.count("\n") == 1
    assert not db.exists()
