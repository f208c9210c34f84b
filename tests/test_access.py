"""Access: accounts and their command line, sign-in (local and OIDC), roles per page, refusal of
other pages' URLs, the set-up screen, the audit trail of who saw what, and the steward's upload.

Dashboard tests drive app.py through AppTest with a temporary accounts file (conftest's
`no_accounts` path), signing in through the form as a person would."""

import io
import json
import stat
from datetime import date, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tf_eval import cli, config
from tf_eval.data import store
from tf_eval.governance import access, audit
from tf_eval.governance.access import Mode

APP = str(config.PROJECT_ROOT / "app.py")
SAMPLES = config.PROJECT_ROOT / "data" / "samples"
PASSWORD = "a long enough password"
# Page file -> roles that may open it: the matrix in docs/operations.md *Access and roles*.
MATRIX = {
    "views/overview.py": {"viewer", "evaluator", "steward"},
    "views/trends.py": {"viewer", "evaluator"},
    "views/impact.py": {"viewer", "evaluator"},
    "views/value_for_money.py": {"viewer", "evaluator"},
    "views/matching.py": {"evaluator"},
    "views/data.py": {"viewer", "evaluator", "steward"},
    "views/load.py": {"steward"},
    "views/audit.py": {"admin"},
    "views/disclosure.py": {"viewer", "evaluator", "steward", "admin"},
}


@pytest.fixture(autouse=True)
def no_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed sign-ins answer at once here (the delay itself is checked on its own)."""
    monkeypatch.setattr(config, "SIGN_IN_FAILURE_DELAY_SECONDS", 0.0)


@pytest.fixture
def pseudo_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.PSEUDO_KEY_ENV_VAR, "tests-only-pseudonym-key-0123456789abcdef")


def _users(*argv: str, stdin: str = "") -> int:
    """Run `python -m tf_eval users ...` in-process with `stdin` as standard input."""
    import sys

    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        return cli.main(["users", *argv])
    finally:
        sys.stdin = saved


def _accounts(path: Path, **roles: str) -> None:
    for name, role in roles.items():
        access.add_account(name, role, PASSWORD, path)


def _app(db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv(config.DB_ENV_VAR, str(db))
    return AppTest.from_file(APP, default_timeout=300)


def _sign_in(at: AppTest, name: str, password: str = PASSWORD) -> AppTest:
    at.text_input[0].set_value(name)  # the form: name, then password
    at.text_input[1].set_value(password)
    at.button[0].click()
    return at.run()


def _opens(at: AppTest, view: str) -> bool:
    """Whether the page is in this user's navigation (AppTest refuses to switch to a page that
    st.navigation was not given)."""
    try:
        at.switch_page(view)
    except ValueError as exc:
        assert "Could not find a navigation page" in str(exc)
        return False
    return True


def _trail(db: Path) -> list[dict]:
    log = audit.read(db)
    return [
        {"user": u, "role": r, "action": a, **json.loads(d)}
        for u, r, a, d in zip(log["user"], log["role"], log["action"], log["detail"], strict=True)
    ]


# ---- accounts and the `users` command --------------------------------------------------------


def test_users_add_list_remove(no_accounts: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(config.DB_ENV_VAR, str(tmp_path / "store.duckdb"))
    assert _users("add", "Ann", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n") == 0
    assert _users("add", "eva@council.gov.uk", "--role", "evaluator", "--oidc") == 0
    assert stat.S_IMODE(no_accounts.stat().st_mode) == 0o600
    assert PASSWORD not in no_accounts.read_text()
    capsys.readouterr()
    assert _users("list") == 0
    listed = capsys.readouterr().out
    assert listed.splitlines() == ["ann\tadmin\tpassword", "eva@council.gov.uk\tevaluator\tOIDC"]
    assert "argon2" not in listed
    assert _users("remove", "ANN") == 0
    assert list(access.load_accounts()) == ["eva@council.gov.uk"]
    changes = [(e["action"], e["account"]) for e in _trail(tmp_path / "store.duckdb")]
    assert changes == [
        ("account added", "ann"),
        ("account added", "eva@council.gov.uk"),
        ("account removed", "ann"),
    ]


def test_a_typed_password_is_asked_twice(
    no_accounts: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv(config.DB_ENV_VAR, str(tmp_path / "store.duckdb"))  # its audit log here
    answers = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    assert _users("add", "bob", "--role", "viewer") == 1
    assert "the two passwords differ" in capsys.readouterr().err
    assert not no_accounts.exists()
    answers = iter([PASSWORD, PASSWORD])
    assert _users("add", "bob", "--role", "viewer") == 0
    assert access.verify(access.load_accounts(), "bob", PASSWORD).role == "viewer"


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["add", "bad name", "--role", "viewer", "--password-stdin"], PASSWORD,
         "account name 'bad name' is not allowed"),
        (["add", "ann", "--role", "admin", "--password-stdin"], PASSWORD,
         "account 'ann' already exists"),
        (["add", "cy", "--role", "viewer", "--password-stdin"], "short", "needs at least 12"),
        (["add", "cy", "--role", "viewer", "--oidc"], "", "only an e-mail address"),
        (["remove", "nobody"], "", "no account 'nobody'"),
    ],
)  # fmt: skip
def test_users_errors_are_one_line_and_change_nothing(
    argv: list[str], stdin: str, message: str, no_accounts: Path, capsys
) -> None:
    _accounts(no_accounts, ann="admin")
    before = no_accounts.read_bytes()
    assert _users(*argv, stdin=stdin) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert no_accounts.read_bytes() == before


def test_a_bad_role_or_a_password_flag_is_a_usage_error(no_accounts: Path, capsys) -> None:
    with pytest.raises(SystemExit) as bad_role:
        _users("add", "cy", "--role", "king")
    assert bad_role.value.code == 2 and "invalid choice: 'king'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as flag:
        _users("add", "cy", "--role", "viewer", "--password", PASSWORD)
    assert flag.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err
    assert not no_accounts.exists()


def test_an_accounts_file_others_can_read_is_refused(no_accounts: Path) -> None:
    _accounts(no_accounts, ann="admin")
    no_accounts.chmod(0o644)
    with pytest.raises(access.AccountsError, match="chmod 600"):
        access.load_accounts()
    no_accounts.chmod(0o600)
    no_accounts.write_text('{"format": "something else"}')
    with pytest.raises(access.AccountsError, match="not a tf-eval accounts file"):
        access.load_accounts()


def test_passwords_are_argon2id_hashes_and_verified(no_accounts: Path) -> None:
    _accounts(no_accounts, ann="admin")
    accounts = access.load_accounts()
    assert accounts["ann"].password_hash.startswith("$argon2id$")
    assert access.verify(accounts, "Ann", PASSWORD) == accounts["ann"]
    assert access.verify(accounts, "ann", PASSWORD + "!") is None
    assert access.verify(accounts, "zed", PASSWORD) is None
    assert access.verify(accounts, "not a name", PASSWORD) is None


def test_the_mode_follows_the_store_accounts_and_oidc() -> None:
    local = {"ann": access.Account("ann", "admin", "$argon2id$x")}
    oidc_only = {"eva@x.org": access.Account("eva@x.org", "viewer", None)}
    assert access.mode("demo", {}, False) is Mode.DEMO
    assert access.mode("real", {}, False) is Mode.SETUP
    assert access.mode("demo", local, False) is Mode.LOCAL
    assert access.mode("real", local, False) is Mode.LOCAL
    assert access.mode("real", oidc_only, False) is Mode.SETUP
    assert access.mode("demo", oidc_only, False) is Mode.SETUP
    assert access.mode("real", {}, True) is Mode.OIDC
    assert access.mode("demo", {}, True) is Mode.OIDC


def test_repeated_failures_lock_a_name_for_a_while() -> None:
    throttle = access.SignInThrottle()
    for second in range(config.SIGN_IN_MAX_FAILURES - 1):
        throttle.failed("ann", now=float(second))
    assert throttle.locked_for("ann", now=10.0) == 0
    throttle.failed("ann", now=10.0)
    window = config.SIGN_IN_LOCKOUT_SECONDS
    # Locked until the oldest of the failures (at second 0) is a whole window old.
    assert throttle.locked_for("ann", now=10.0) == pytest.approx(window - 10)
    assert throttle.locked_for("bob", now=10.0) == 0
    assert throttle.locked_for("ann", now=window - 0.5) == pytest.approx(0.5)
    assert throttle.locked_for("ann", now=window + 0.5) == 0
    throttle.failed("ann", now=window + 1)  # with those at seconds 2, 3 and 10: four
    assert throttle.locked_for("ann", now=window + 1) == 0
    throttle.failed("ann", now=window + 1)
    assert throttle.locked_for("ann", now=window + 1) == pytest.approx(1)  # until 2 + window
    throttle.succeeded("ann")
    assert throttle.locked_for("ann", now=window + 1) == 0


def test_the_audit_trail_filters_by_user_action_and_day(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    audit.append(db, "ann", "admin", "sign-in", [{"via": "password"}])
    audit.append(db, "bob", "viewer", "page view", [{"page": "Overview"}])
    audit.append(db, "bob", "viewer", "sign-in", [{"via": "password"}])
    assert audit.read(db, users=["bob"])["action"].tolist() == ["page view", "sign-in"]
    assert audit.read(db, actions=["sign-in"])["user"].tolist() == ["ann", "bob"]
    today = date.today()
    assert len(audit.read(db, since=today, until=today)) == 3
    assert audit.read(db, until=today - timedelta(days=1)).empty
    assert audit.read(db, since=today + timedelta(days=1)).empty
    assert audit.users_and_actions(db) == (["ann", "bob"], ["page view", "sign-in"])
    assert audit.users_and_actions(tmp_path / "none.duckdb") == ([], [])


# ---- sign-in, roles and pages ----------------------------------------------------------------


def test_demo_mode_is_open_to_everyone_and_labelled(demo_db: Path, monkeypatch) -> None:
    at = _app(demo_db, monkeypatch).run()
    assert not at.exception and at.title[0].value.startswith("Overview")
    assert "Demo mode, no sign-in" in at.sidebar.info[0].value
    assert all(_opens(at, view) for view in MATRIX)


@pytest.mark.parametrize("role", list(access.ROLES))
def test_each_role_sees_its_pages_only(
    role: str, demo_db: Path, no_accounts: Path, monkeypatch
) -> None:
    _accounts(no_accounts, **{f"{role}1": role})
    at = _app(demo_db, monkeypatch).run()
    assert at.title[0].value == "Sign in to tf-eval" and not at.get("plotly_chart")
    assert not at.sidebar.button, "no navigation or sign-out before sign-in"
    _sign_in(at, f"{role}1")
    assert not at.exception
    assert f"Signed in as **{role}1** ({role})" in at.sidebar.caption[0].value
    for view, roles in MATRIX.items():
        if role not in roles:
            assert not _opens(at, view), f"{role} must not have {view}"
            continue
        assert _opens(at, view)
        at.run()
        assert not at.exception, (role, view)
        assert not [e for e in at.error if "internal error" in e.value], (role, view)
        assert at.title[0].value not in ("Sign in to tf-eval", "No access yet"), (role, view)


@pytest.mark.parametrize(
    ("role", "url_path", "title"),
    [("viewer", "matching", "Matching & balance"), ("steward", "audit", "Audit log"),
     ("admin", "overview", "Overview")],
)  # fmt: skip
def test_a_url_to_a_page_the_role_may_not_see_is_refused(
    role: str, url_path: str, title: str, demo_db: Path, no_accounts: Path, monkeypatch
) -> None:
    _accounts(no_accounts, **{f"{role}2": role})
    at = _app(demo_db, monkeypatch)
    at.context = {"url": f"http://localhost:8501/{url_path}"}
    _sign_in(at.run(), f"{role}2")
    assert not at.exception
    assert f"The page “{title}” is not open to your role ({role})" in at.error[0].value
    first_allowed = {"viewer": "Overview", "steward": "Overview", "admin": "Audit log"}[role]
    assert at.title[0].value.split(":")[0] == first_allowed
    refused = [
        e for e in _trail(demo_db) if e["action"] == "page refused" and e["user"] == f"{role}2"
    ]
    assert refused == [{"user": f"{role}2", "role": role, "action": "page refused", "page": title}]


def test_a_wrong_password_is_refused_and_audited(
    demo_db: Path, no_accounts: Path, monkeypatch
) -> None:
    _accounts(no_accounts, wendy="viewer")
    at = _sign_in(_app(demo_db, monkeypatch).run(), "wendy", PASSWORD + "x")
    assert "Wrong name or password" in at.error[0].value
    assert at.title[0].value == "Sign in to tf-eval" and not at.get("plotly_chart")
    _sign_in(at, "nobody-here", PASSWORD)
    assert "Wrong name or password" in at.error[0].value
    failed = [e for e in _trail(demo_db) if e["action"] == "sign-in failed"]
    assert {"user": "wendy", "role": "viewer", "action": "sign-in failed",
            "reason": "wrong password"} in failed  # fmt: skip
    assert {"user": "(unknown name)", "role": "none", "action": "sign-in failed",
            "reason": "unknown name"} in failed  # fmt: skip
    _sign_in(at, "wendy")
    assert at.title[0].value.startswith("Overview")


def test_repeated_failures_lock_the_name_even_with_the_right_password(
    demo_db: Path, no_accounts: Path, monkeypatch
) -> None:
    _accounts(no_accounts, lockme="viewer")
    at = _app(demo_db, monkeypatch).run()
    for _ in range(config.SIGN_IN_MAX_FAILURES):
        _sign_in(at, "lockme", "guess" * 3)
    _sign_in(at, "lockme")
    assert "Too many failed sign-ins for this name" in at.error[0].value
    assert at.title[0].value == "Sign in to tf-eval"
    reasons = [e["reason"] for e in _trail(demo_db) if e["user"] == "lockme"]
    assert reasons[-1] == "too many failures: locked"


def test_a_failed_sign_in_waits_before_answering(
    demo_db: Path, no_accounts: Path, monkeypatch
) -> None:
    import time

    monkeypatch.setattr(config, "SIGN_IN_FAILURE_DELAY_SECONDS", 1.5)
    _accounts(no_accounts, slowpoke="viewer")
    at = _app(demo_db, monkeypatch).run()
    started = time.monotonic()
    _sign_in(at, "slowpoke", "wrong" * 3)
    assert time.monotonic() - started >= 1.5


def test_sign_out_returns_to_the_form_and_is_audited(
    demo_db: Path, no_accounts: Path, monkeypatch
) -> None:
    _accounts(no_accounts, outgoing="viewer")
    at = _sign_in(_app(demo_db, monkeypatch).run(), "outgoing")
    at.sidebar.button[0].click().run()
    assert at.title[0].value == "Sign in to tf-eval" and not at.get("plotly_chart")
    actions = [e["action"] for e in _trail(demo_db) if e["user"] == "outgoing"]
    assert actions[0] == "sign-in" and actions[-1] == "sign-out"


def test_a_removed_account_is_signed_out_at_its_next_step(
    demo_db: Path, no_accounts: Path, monkeypatch
) -> None:
    _accounts(no_accounts, leaver="evaluator")
    at = _sign_in(_app(demo_db, monkeypatch).run(), "leaver")
    assert at.title[0].value.startswith("Overview")
    access.remove_account("leaver")
    _accounts(no_accounts, other="viewer")  # local accounts remain, so the form is shown
    at.run()
    assert at.title[0].value == "Sign in to tf-eval" and not at.get("plotly_chart")


OIDC_SECRETS = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "test-cookie-secret",
        "client_id": "tf-eval",
        "client_secret": "secret",
        "server_metadata_url": "https://id.example.org/.well-known/openid-configuration",
    }
}


def test_an_oidc_user_gets_the_role_of_their_email(
    demo_db: Path, no_accounts: Path, monkeypatch
) -> None:
    access.add_account("Eva@Council.gov.uk", "evaluator", None)
    at = _app(demo_db, monkeypatch)
    at.secrets = OIDC_SECRETS
    at.user = {"is_logged_in": False}
    at.run()
    assert at.title[0].value == "Sign in to tf-eval" and at.button[0].label == "Sign in"
    assert not at.text_input, "no password form when OIDC is configured"
    at.user = {"is_logged_in": True, "email": "eva@council.gov.uk", "name": "Eva"}
    at.run()
    assert not at.exception and at.title[0].value.startswith("Overview")
    assert _opens(at, "views/matching.py") and not _opens(at, "views/audit.py")
    signed_in = [e for e in _trail(demo_db) if e["user"] == "eva@council.gov.uk"]
    assert signed_in[0] == {
        "user": "eva@council.gov.uk", "role": "evaluator", "action": "sign-in", "via": "oidc"
    }  # fmt: skip


def test_an_unknown_oidc_user_gets_no_pages(demo_db: Path, monkeypatch) -> None:
    at = _app(demo_db, monkeypatch)
    at.secrets = OIDC_SECRETS
    at.user = {"is_logged_in": True, "email": "stranger@example.org"}
    at.run()
    assert not at.exception and at.title[0].value == "No access yet"
    assert "stranger@example.org" in at.error[0].value and "--oidc" in at.error[0].value
    assert not at.get("plotly_chart") and not at.metric
    at.switch_page("views/disclosure.py").run()  # no st.navigation: only app.py runs
    assert at.title[0].value == "No access yet" and not at.dataframe
    refused = [e for e in _trail(demo_db) if e["action"] == "sign-in refused"]
    assert refused == [
        {"user": "stranger@example.org", "role": "none", "action": "sign-in refused",
         "reason": "no tf-eval account", "via": "oidc"}
    ]  # fmt: skip


def test_real_data_without_accounts_shows_only_the_set_up_steps(
    real_store: Path, monkeypatch
) -> None:
    at = _app(real_store, monkeypatch).run()
    assert not at.exception
    assert at.title[0].value == "tf-eval: set up sign-in first"
    assert "python -m tf_eval users add NAME --role admin" in at.markdown[0].value
    assert not at.get("plotly_chart") and not at.metric and not at.dataframe
    assert not at.sidebar.button and not at.sidebar.selectbox
    at.switch_page("views/data.py").run()  # no st.navigation: only app.py runs
    assert at.title[0].value == "tf-eval: set up sign-in first" and not at.dataframe


# ---- what the audit trail records ---------------------------------------------------------


def test_sign_in_page_views_and_estimates_are_audited_once(
    demo_db: Path, no_accounts: Path, monkeypatch
) -> None:
    _accounts(no_accounts, auditee="evaluator")
    at = _sign_in(_app(demo_db, monkeypatch).run(), "auditee")
    at.run()  # a rerun of the same page and filters logs nothing new
    at.sidebar.selectbox(key="la").set_value("LA02").run()
    at.switch_page("views/disclosure.py").run()
    mine = [e for e in _trail(demo_db) if e["user"] == "auditee"]
    assert all(e["role"] == "evaluator" for e in mine)
    views = [(e["page"], e.get("la")) for e in mine if e["action"] == "page view"]
    assert views == [("Overview", None), ("Overview", "LA02"), ("Disclosure", None)]
    estimates = [e for e in mine if e["action"] == "estimate"]
    assert [("la=None" in e["spec"], "la='LA02'" in e["spec"]) for e in estimates] == [
        (True, False),
        (False, True),
    ]
    assert mine[0]["action"] == "sign-in"


def test_the_audit_page_filters_the_trail_for_admins(
    demo_db: Path, no_accounts: Path, monkeypatch
) -> None:
    _accounts(no_accounts, boss="admin", someone="viewer")
    _sign_in(_app(demo_db, monkeypatch).run(), "someone")
    at = _sign_in(_app(demo_db, monkeypatch).run(), "boss")
    assert at.title[0].value == "Audit log"
    at.multiselect[0].set_value(["someone"]).run()
    shown = at.dataframe[0].value
    assert set(shown["user"]) == {"someone"} and "sign-in" in set(shown["action"])
    at.multiselect[1].set_value(["page view"]).run()
    assert set(at.dataframe[0].value["action"]) == {"page view"}
    assert "page: Overview; la: all; cohort: all" in set(at.dataframe[0].value["detail"])
    yesterday = date.today() - timedelta(days=1)
    at.date_input[0].set_value((yesterday - timedelta(days=5), yesterday)).run()
    assert not at.dataframe and "No entries match" in at.info[0].value


def test_the_audit_trail_never_holds_a_pseudonym_or_reference(
    tmp_path: Path, no_accounts: Path, pseudo_key, monkeypatch
) -> None:
    """A real store loaded from the samples, browsed by each role: no stored family or person
    pseudonym, and no agency reference, appears anywhere in the trail."""
    db = tmp_path / "samples.duckdb"
    for source in ("families", "people", "programme", "attendance", "offences"):
        assert cli.main(["ingest", source, str(SAMPLES / f"{source}.csv"), "--db", str(db)]) == 0
    _accounts(no_accounts, vic="viewer", eve="evaluator", stu="steward", ada="admin")
    for name in ("vic", "eve", "stu", "ada"):
        at = _sign_in(_app(db, monkeypatch).run(), name)
        for view in MATRIX:
            if _opens(at, view):
                at.run()
                assert not at.exception
    current = store.Store(db)
    try:
        ids = current.query(
            "SELECT family_id AS id FROM families UNION SELECT person_id FROM people"
        )
    finally:
        current.close()
    text = audit.audit_path(db).read_bytes().decode("latin-1") + json.dumps(_trail(db))
    assert len(ids) == 10
    assert not [i for i in ids["id"] if str(i) in text or str(abs(i)) in text]
    assert "FAM-" not in text and "P-000" not in text
    assert {"page view", "sign-in", "ingest"} <= {e["action"] for e in _trail(db)}


# ---- the steward's upload ---------------------------------------------------------------------


def _steward_on_load_page(db: Path, accounts: Path, monkeypatch) -> AppTest:
    _accounts(accounts, loader="steward")
    at = _sign_in(_app(db, monkeypatch).run(), "loader")
    at.switch_page("views/load.py").run()
    assert at.title[0].value == "Load an agency extract"
    return at


def _upload(at: AppTest, source: str, name: str, content: bytes) -> AppTest:
    at.selectbox[0].set_value(source)
    at.file_uploader[0].upload(name, content, "text/csv")
    next(b for b in at.button if b.label == "Check and load").click()
    return at.run()


def test_a_steward_loads_a_sample_through_the_ingest_path(
    real_store: Path, no_accounts: Path, pseudo_key, monkeypatch
) -> None:
    at = _steward_on_load_page(real_store, no_accounts, monkeypatch)
    _upload(at, "families", "families.csv", (SAMPLES / "families.csv").read_bytes())
    assert not at.exception and not at.error
    assert "Loaded **families.csv** as load 1: 3 families records" in at.success[0].value
    _upload(at, "people", "people.csv", (SAMPLES / "people.csv").read_bytes())
    assert (
        "7 people records" in at.success[0].value and "every record linked" in at.success[0].value
    )
    loads = [e for e in _trail(real_store) if e["action"] == "ingest"]
    assert [(e["user"], e["role"], e["source"], e["rows"]) for e in loads] == [
        ("loader", "steward", "families", 3),
        ("loader", "steward", "people", 7),
    ]
    at.switch_page("views/data.py").run()  # the dashboard shows the new data
    assert "families.csv" in at.dataframe[0].value["file_name"].tolist()


def test_a_broken_upload_shows_its_problem_list_and_loads_nothing(
    real_store: Path, no_accounts: Path, pseudo_key, monkeypatch
) -> None:
    import hashlib

    at = _steward_on_load_page(real_store, no_accounts, monkeypatch)
    before = hashlib.sha256(real_store.read_bytes()).hexdigest()
    broken = b"family_ref,la_code,identified_on\nFAM-1,E06000006,2021-02-30\nFAM-1,E06000006,x\n"
    _upload(at, "families", "broken.csv", broken)
    assert at.error[0].value == "**broken.csv refused, nothing loaded: 3 problems**"
    assert at.code[0].value.splitlines() == [
        "broken.csv line 2, identified_on: '2021-02-30' is not a real date",
        "broken.csv line 3, identified_on: 'x' is not a date written YYYY-MM-DD",
        "broken.csv line 3, family_ref: repeats line 2 (same family_ref; each must be unique)",
    ]
    assert not at.success
    assert hashlib.sha256(real_store.read_bytes()).hexdigest() == before
    refusals = [e for e in _trail(real_store) if e["action"] == "ingest refused"]
    assert refusals[0]["user"] == "loader" and refusals[0]["problems"] == 3


def test_the_demo_store_says_before_any_upload_that_it_takes_no_loads(
    demo_db: Path, pseudo_key, monkeypatch
) -> None:
    """Issue 17 item 16: said before the upload (ingest's refusal came only after one), and
    the upload is not offered; ingest still refuses a demo store (tests/test_ingest.py)."""
    at = _app(demo_db, monkeypatch).run()
    at.switch_page("views/load.py").run()
    assert not at.exception and not at.success and not at.error
    assert "takes no loads" in at.info[0].value
    assert at.get("file_uploader")[0].disabled and at.button[0].disabled
