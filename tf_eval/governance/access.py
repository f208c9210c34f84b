"""Who may use tf-eval and what each person may see (the privacy notice: only staff whose role
needs it see the data).

Four roles, NOT cumulative: each page names the roles that need it (app.py's page list,
docs/operations.md *Access and roles*), so a data steward loading extracts does not thereby see
effects, and an administrator managing accounts and reading the audit log sees no data at all. An
account has one role.

Accounts live in one JSON file outside the store (config.ACCOUNTS_FILE_ENV_VAR, else
~/.config/tf-eval/accounts.json), owner-only (0600), managed by `python -m tf_eval users`.
A local account holds an argon2id hash of its password, never the password; an account keyed
by an e-mail address without a password gives its role to that person signing in through OIDC
(`st.login`). Names are case-insensitive (kept in lower case), as e-mail addresses are.

This module has no Streamlit import: ui.py draws the sign-in form and calls `verify`.
"""

from __future__ import annotations

import functools
import json
import os
import re
import stat
import threading
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tf_eval import config
from tf_eval.governance import private, strength

VIEWER = "viewer"
EVALUATOR = "evaluator"
STEWARD = "steward"
ADMIN = "admin"
# Who each role is for (shown by `users add --help` and docs/operations.md).
ROLES = {
    VIEWER: "programme managers and boards: results",
    EVALUATOR: "evaluators: results, matching controls and saved specs",
    STEWARD: "data stewards: loads, linkage and retention",
    ADMIN: "administrators: accounts and the audit log (no data pages)",
}
# Demo mode (a synthetic store and no accounts): everyone may see every page.
DEMO_ROLE = "demo"

# 1-254 characters of letters, digits and . _ @ + - , starting with a letter or digit: a login
# name or an e-mail address.
_NAME = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,253}")
_FORMAT = "tf-eval accounts 1"
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@functools.cache
def _dummy_hash() -> str:
    """Verified when a name is unknown, so an unknown name takes as long to refuse as a wrong
    password. Made on first use: hashing at import would slow every command by one argon2 hash."""
    return _hasher.hash("no account has this password")


class AccountsError(Exception):
    """The accounts file or a change to it is unusable; the message is one line."""


class Mode(Enum):
    """How the dashboard decides who is there."""

    OIDC = "oidc"  # st.login through the provider in .streamlit/secrets.toml
    LOCAL = "local"  # the sign-in form against local accounts
    DEMO = "demo"  # a synthetic store and no accounts: open to all, labelled
    SETUP = "setup"  # real data but no way to sign in: only the set-up instructions


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    password_hash: str | None  # None: signs in through OIDC only

    @property
    def local(self) -> bool:
        return self.password_hash is not None


def accounts_path() -> Path:
    """TF_EVAL_ACCOUNTS, else ~/.config/tf-eval/accounts.json."""
    return Path(os.environ.get(config.ACCOUNTS_FILE_ENV_VAR) or config.DEFAULT_ACCOUNTS_FILE)


def normalise_name(name: str) -> str:
    """The account name as stored, or AccountsError naming what is wrong with it."""
    cleaned = name.strip().lower()
    if not _NAME.fullmatch(cleaned):
        raise AccountsError(
            f"account name {name!r} is not allowed: use 1-254 letters, digits and . _ @ + - "
            "(a login name or an e-mail address), starting with a letter or digit"
        )
    return cleaned


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountsError(f"unknown role {role!r} (choose from {', '.join(ROLES)})")
    return role


def check_password(password: str) -> str:
    """The password, or AccountsError saying why it is too short or too easy to guess."""
    problem = strength.password_problem(password)
    if problem:
        raise AccountsError(problem)
    return password


def load_accounts(path: Path | None = None) -> dict[str, Account]:
    """Every account by name (empty when there is no accounts file yet)."""
    path = path or accounts_path()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise AccountsError(f"cannot read the accounts file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise AccountsError(f"the accounts file {path} is not a file")
    if mode & 0o077:
        raise AccountsError(
            f"the accounts file {path} can be read or changed by others (mode "
            f"{stat.S_IMODE(mode):o}); make it private with: chmod 600 {path}"
        )
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        if content.get("format") != _FORMAT:
            raise ValueError(f"not a tf-eval accounts file (format {content.get('format')!r})")
        accounts = {}
        for name, entry in content["accounts"].items():
            accounts[name] = Account(
                normalise_name(name), check_role(entry["role"]), entry.get("password_hash")
            )
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AccountsError(f"the accounts file {path} cannot be used: {exc}") from None
    except AccountsError as exc:
        raise AccountsError(f"the accounts file {path} cannot be used: {exc}") from None
    return accounts


def _save(accounts: dict[str, Account], path: Path) -> None:
    """Write the whole file to a private draft and rename it into place: a reader never sees a
    half-written file, and the file is owner-only from its first byte."""
    private.make_dirs(path.parent)
    content = {
        "format": _FORMAT,
        "accounts": {
            a.name: {"role": a.role}
            | ({"password_hash": a.password_hash} if a.password_hash else {})
            for a in sorted(accounts.values(), key=lambda a: a.name)
        },
    }
    draft = path.with_name(f".{path.name}.new-{os.getpid()}")
    fd = private.create(draft)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(content, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(draft, path)
    finally:
        draft.unlink(missing_ok=True)


def add_account(name: str, role: str, password: str | None, path: Path | None = None) -> Account:
    """Add an account: with a password (local sign-in), or without one for an e-mail address
    that signs in through OIDC. An existing name is refused, not overwritten."""
    path = path or accounts_path()
    name, role = normalise_name(name), check_role(role)
    accounts = load_accounts(path)
    if name in accounts:
        raise AccountsError(f"account {name!r} already exists (remove it first to change it)")
    if password is None and "@" not in name:
        raise AccountsError(
            f"account {name!r} has no password: only an e-mail address may sign in through OIDC"
        )
    hashed = _hasher.hash(check_password(password)) if password is not None else None
    accounts[name] = Account(name, role, hashed)
    _save(accounts, path)
    return accounts[name]


def remove_account(name: str, path: Path | None = None) -> Account:
    path = path or accounts_path()
    name = normalise_name(name)
    accounts = load_accounts(path)
    if name not in accounts:
        raise AccountsError(f"no account {name!r} (see: python -m tf_eval users list)")
    removed = accounts.pop(name)
    _save(accounts, path)
    return removed


def verify(accounts: dict[str, Account], name: str, password: str) -> Account | None:
    """The local account whose password this is, or None. An unknown name costs the same hash
    as a wrong password, so timing does not tell which names exist."""
    try:
        account = accounts.get(normalise_name(name))
    except AccountsError:
        account = None
    known = account is not None and account.local
    try:
        _hasher.verify(account.password_hash if known else _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return account if known else None


def mode(store_kind: str, accounts: dict[str, Account], oidc_configured: bool) -> Mode:
    """OIDC when configured; else local accounts when any has a password; else open only for a
    synthetic demo store with no accounts at all; else nobody may see anything yet."""
    if oidc_configured:
        return Mode.OIDC
    if any(a.local for a in accounts.values()):
        return Mode.LOCAL
    if store_kind == "demo" and not accounts:
        return Mode.DEMO
    return Mode.SETUP


def may_see(role: str, page_roles: frozenset[str]) -> bool:
    return role == DEMO_ROLE or role in page_roles


class SignInThrottle:
    """Slows password guessing, per name and per client (the address the server sees).

    Every attempt is counted when it starts, under one lock, before its password is checked
    (`begin`): a name with `config.SIGN_IN_MAX_FAILURES` attempts, or a client with
    `config.SIGN_IN_MAX_CLIENT_FAILURES`, within `config.SIGN_IN_LOCKOUT_SECONDS` is refused
    without checking the password until the oldest of them is that old. Checking and counting
    in one step is what makes parallel attempts useless: counted only after a slow password
    check, 30 attempts sent at once would all be checked before the first failure was counted.
    A correct password (`succeeded`) takes its attempt back and clears the name's failures, not
    the client's. Kept in memory by the dashboard process (shared by all its sessions); a restart
    forgets it."""

    def __init__(self) -> None:
        self._failures: dict[str, list[float]] = {}
        self._clients: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _recent(book: dict[str, list[float]], key: str, now: float) -> list[float]:
        window_start = now - config.SIGN_IN_LOCKOUT_SECONDS
        recent = [t for t in book.get(key, []) if t > window_start]
        book[key] = recent
        return recent

    @staticmethod
    def _wait(recent: list[float], limit: int, now: float) -> float:
        if len(recent) < limit:
            return 0.0
        return recent[-limit] + config.SIGN_IN_LOCKOUT_SECONDS - now

    def begin(self, name: str, client: str, now: float | None = None) -> tuple[float, float]:
        """Start an attempt: (0, when) with the attempt counted as a failure until `succeeded`,
        or (seconds to wait, 0) when the name or the client is locked, counting nothing."""
        now = time.monotonic() if now is None else now
        with self._lock:
            by_name = self._recent(self._failures, name, now)
            by_client = self._recent(self._clients, client, now)
            wait = max(
                self._wait(by_name, config.SIGN_IN_MAX_FAILURES, now),
                self._wait(by_client, config.SIGN_IN_MAX_CLIENT_FAILURES, now),
            )
            if wait > 0:
                return wait, 0.0
            by_name.append(now)
            by_client.append(now)
            return 0.0, now

    def locked_for(self, name: str, now: float | None = None) -> float:
        """Seconds until `name` may try again (0 when it may now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = self._recent(self._failures, name, now)
            return self._wait(recent, config.SIGN_IN_MAX_FAILURES, now)

    def failed(self, name: str, now: float | None = None) -> None:
        """Count a failure for `name` (an attempt made without `begin`)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(self._failures, name, now).append(now)

    def succeeded(self, name: str, client: str | None = None, when: float | None = None) -> None:
        """The password was right: clear the name's failures, and take back the client's count
        of this attempt (the one `begin` returned `when` for)."""
        with self._lock:
            self._failures.pop(name, None)
            attempts = self._clients.get(client or "", [])
            if when is not None and when in attempts:
                attempts.remove(when)
