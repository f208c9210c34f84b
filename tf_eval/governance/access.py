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
    if len(password) < config.PASSWORD_MIN_CHARS:
        raise AccountsError(
            f"the password has {len(password)} characters; it needs at least "
            f"{config.PASSWORD_MIN_CHARS}"
        )
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
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    content = {
        "format": _FORMAT,
        "accounts": {
            a.name: {"role": a.role}
            | ({"password_hash": a.password_hash} if a.password_hash else {})
            for a in sorted(accounts.values(), key=lambda a: a.name)
        },
    }
    draft = path.with_name(f".{path.name}.new-{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
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
    """Slows password guessing: after `config.SIGN_IN_MAX_FAILURES` failed sign-ins for one
    name within `config.SIGN_IN_LOCKOUT_SECONDS`, that name is refused without checking the
    password until the oldest of those failures is that old. Kept in memory by the dashboard
    process (shared by all its sessions); a restart forgets it."""

    def __init__(self) -> None:
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, name: str, now: float) -> list[float]:
        window_start = now - config.SIGN_IN_LOCKOUT_SECONDS
        recent = [t for t in self._failures.get(name, []) if t > window_start]
        self._failures[name] = recent
        return recent

    def locked_for(self, name: str, now: float | None = None) -> float:
        """Seconds until `name` may try again (0 when it may now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = self._recent(name, now)
            if len(recent) < config.SIGN_IN_MAX_FAILURES:
                return 0.0
            return recent[-config.SIGN_IN_MAX_FAILURES] + config.SIGN_IN_LOCKOUT_SECONDS - now

    def failed(self, name: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(name, now).append(now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)
