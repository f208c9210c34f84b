"""Who is using the dashboard and what they may see: sign-in (local accounts or OIDC), the pages
each role may open, and the record of every sign-in and page view.

Nobody signs in without a record: the sign-in is written to the audit log first, and if it cannot
be written the sign-in is refused with one line. Attempts are throttled per name and per client
(access.SignInThrottle), counted before the password is checked."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import streamlit as st

from dashboard.connection import get_store
from dashboard.trail import VIEWING, record, record_once
from tf_eval import config
from tf_eval.governance import access, audit, untrusted
from tf_eval.governance.access import Mode

# Shown when the audit log cannot take a sign-in's record (and the person is not signed in).
AUDIT_DOWN = (
    "Sign-in refused: the audit log cannot be written just now, and nobody signs in without a "
    "record. Try again in a minute; if it goes on, tell the administrator."
)


@dataclasses.dataclass(frozen=True)
class PageSpec:
    """One dashboard page and the roles that need it (docs/operations.md *Access and roles*).
    `selection`:
    the page is filtered by the sidebar's LA and cohort, so its page-view record carries them."""

    path: str
    title: str
    icon: str
    roles: frozenset[str]
    selection: bool = False

    @property
    def url_path(self) -> str:
        return Path(self.path).stem  # st.Page's default: the file's name


@dataclasses.dataclass(frozen=True)
class SignedIn:
    name: str
    role: str
    mode: Mode


_DEMO_VISITOR = SignedIn("demo visitor", access.DEMO_ROLE, Mode.DEMO)


@st.cache_resource(show_spinner=False)
def _throttle() -> access.SignInThrottle:
    """One record of failed sign-ins for every session of this server."""
    return access.SignInThrottle()


def _client() -> str:
    """The address the server sees for this browser, for the per-client throttle: 'local'
    through localhost (Streamlit gives none), and behind a reverse proxy the proxy's address
    unless the proxy passes on the client's."""
    try:
        return st.context.ip_address or "local"
    except (AttributeError, RuntimeError):  # no request behind this run (AppTest)
        return "local"


def _recorded(action: str, detail: dict[str, object], who: tuple[str, str]) -> bool:
    """Write a sign-in's audit row; False (with the one line shown) when it cannot be written."""
    try:
        record(action, detail, who)
    except audit.AuditError:
        st.error(AUDIT_DOWN, icon=":material/lock:")
        return False
    return True


def _oidc_configured() -> bool:
    return st.secrets.load_if_toml_exists() and "auth" in st.secrets


def _store_kind(path: Path) -> str:
    """'demo' or 'real'. No store yet counts as the demo that the first run builds (or, for a
    path the user named, explains is missing)."""
    if not path.exists():
        return "demo"
    return get_store().info().get("kind", "real")


def sign_in(path: Path) -> SignedIn:
    """Who is here. Until someone allowed is signed in this shows the sign-in form (or the OIDC
    button, the set-up steps, or why an OIDC user has no pages) and stops the run."""
    try:
        accounts = access.load_accounts()
    except access.AccountsError as exc:
        st.error(f"Sign-in cannot work: {untrusted.markdown(exc)}", icon=":material/lock:")
        st.stop()
    mode = access.mode(_store_kind(path), accounts, _oidc_configured())
    if mode is Mode.DEMO:
        st.session_state["signed_in"] = _DEMO_VISITOR
        return _DEMO_VISITOR
    if st.session_state.get("signed_in") == _DEMO_VISITOR:  # the store now holds real data
        del st.session_state["signed_in"]
    if mode is Mode.SETUP:
        _setup_steps()
    elif mode is Mode.OIDC:
        return _oidc_user(accounts)
    return _local_user(accounts)


def _setup_steps() -> None:
    st.title("tf-eval: set up sign-in first")
    st.warning(
        "This store holds real, loaded data, so tf-eval shows it only to people who sign in, "
        "and no way to sign in is set up yet. Nothing else is shown until there is.",
        icon=":material/lock:",
    )
    st.markdown(
        "On the server, as the person who runs tf-eval, create the first administrator "
        "(you are asked for a password, at least "
        f"{config.PASSWORD_MIN_CHARS} characters):\n\n"
        "```bash\npython -m tf_eval users add NAME --role admin\n```\n\n"
        "then an account for each person who needs one, with the role their work needs "
        "(`viewer`, `evaluator`, `steward` or `admin`), and reload this page. Accounts are kept "
        f"in `{access.accounts_path()}` (set `{config.ACCOUNTS_FILE_ENV_VAR}` to move it). "
        "To sign in through your organisation's identity provider instead, add an `[auth]` "
        "section to `.streamlit/secrets.toml` (docs/operations.md, *Access and roles*)."
    )
    st.stop()


def _local_user(accounts: dict[str, access.Account]) -> SignedIn:
    user = st.session_state.get("signed_in")
    if user is not None:
        account = accounts.get(user.name)
        if account is not None and account.local:
            current = SignedIn(account.name, account.role, Mode.LOCAL)  # a changed role applies
            st.session_state["signed_in"] = current
            return current
        del st.session_state["signed_in"]  # the account was removed meanwhile
    _sign_in_form(accounts)
    st.stop()


def _sign_in_form(accounts: dict[str, access.Account]) -> None:
    """Name and password; Enter in either field signs in. A failure waits before answering,
    repeated failures lock the name for a while, and every attempt is audited."""
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title("Sign in to tf-eval")
        with st.form("sign_in"):
            name = st.text_input("Name", autocomplete="username")
            password = st.text_input("Password", type="password", autocomplete="current-password")
            submitted = st.form_submit_button("Sign in", type="primary", width="stretch")
        st.caption(
            "Accounts are made by an administrator (`python -m tf_eval users add`). Every "
            "sign-in, page viewed and estimate run is recorded in the audit log."
        )
        if not submitted:
            return
        try:
            account, refusal = check_password(accounts, name, password, _client())
        except audit.AuditError:
            st.error(AUDIT_DOWN, icon=":material/lock:")
            return
        if account is None:
            st.error(refusal, icon=":material/lock_clock:" if "Too many" in refusal else None)
            return
    st.session_state["signed_in"] = SignedIn(account.name, account.role, Mode.LOCAL)
    st.rerun()


def check_password(
    accounts: dict[str, access.Account], name: str, password: str, client: str
) -> tuple[access.Account | None, str]:
    """One sign-in attempt, as the form makes it, with no drawing: the account and "", or None
    and the one line to show. The attempt is counted (per name and per client) before its
    password is checked, so attempts sent in parallel cannot outrun the lockout; a failure waits
    before answering; every attempt is audited, and a right password whose record cannot be
    written raises audit.AuditError (no sign-in: the attempt stays counted)."""
    key = name.strip().lower()
    known = key in accounts
    who = (key if known else "(unknown name)", accounts[key].role if known else "none")
    throttle = _throttle()
    wait, started = throttle.begin(key, client)
    if wait > 0:
        record("sign-in failed", {"reason": "too many failures: locked"}, who)
        return None, (
            "Too many failed sign-ins for this name or from this address: try again in "
            f"{math.ceil(wait / 60)} minutes."
        )
    account = access.verify(accounts, name, password)
    if account is None:
        time.sleep(config.SIGN_IN_FAILURE_DELAY_SECONDS)
        record("sign-in failed", {"reason": "wrong password" if known else "unknown name"}, who)
        return None, "Wrong name or password."
    record("sign-in", {"via": "password"}, (account.name, account.role))
    throttle.succeeded(key, client, started)
    return account, ""


def _oidc_user(accounts: dict[str, access.Account]) -> SignedIn:
    """The OIDC user's role comes from the accounts file, by e-mail address."""
    if not st.user.is_logged_in:
        st.session_state.pop("signed_in", None)
        st.title("Sign in to tf-eval")
        st.write("Sign in with your organisation's account to see the pages your role allows.")
        if st.button("Sign in", type="primary", icon=":material/login:"):
            st.login(*_oidc_provider())
        st.stop()
    email = str(st.user.get("email") or "").strip().lower()
    account = accounts.get(email)
    if account is None:
        refused = {"reason": "no tf-eval account", "via": "oidc"}
        try:
            record_once("sign-in refused", refused, (email or "(no e-mail address)", "none"))
        except audit.AuditError:
            st.error(AUDIT_DOWN, icon=":material/lock:")
            st.stop()
        st.title("No access yet")
        shown = untrusted.code(email) if email else "a user without an e-mail address"
        command = untrusted.code(
            f"python -m tf_eval users add {email or 'EMAIL'} --role ROLE --oidc"
        )
        st.error(  # the address comes from the identity provider: shown literally
            f"You are signed in as {shown}, but that address has no tf-eval account, so no page "
            f"is open to you. Ask an administrator to add it: {command}.",
            icon=":material/block:",
        )
        if st.button("Sign out", icon=":material/logout:"):
            st.logout()
        st.stop()
    user = SignedIn(account.name, account.role, Mode.OIDC)
    if st.session_state.get("signed_in") != user:
        if not _recorded("sign-in", {"via": "oidc"}, (user.name, user.role)):
            st.stop()
        st.session_state["signed_in"] = user
    return user


def _oidc_provider() -> tuple[str, ...]:
    """st.login's argument: none for a single [auth] provider, else the first named one."""
    settings = st.secrets["auth"]
    if "client_id" in settings:
        return ()
    named = [name for name, value in settings.items() if hasattr(value, "keys")]
    return tuple(named[:1])


def allowed_pages(pages: list[PageSpec], user: SignedIn) -> list[PageSpec]:
    return [page for page in pages if access.may_see(user.role, page.roles)]


# The URL path of the first page, which Streamlit serves at the root: it still reserves a name,
# which must differ from the first page's own (the name a user types).
_ROOT_NAME = "start"


def navigation_pages(shown: list[PageSpec]) -> list[st.Page]:
    """The pages for st.navigation, the first served at the root. Streamlit serves the default
    page at / only, so a link to its own name (/overview) found no page: a hidden page of that
    name switches to it, keeping the link's selection."""
    pages = [
        st.Page(page.path, title=page.title, icon=page.icon, url_path=page.url_path)
        for page in shown[1:]
    ]
    first = st.Page(
        shown[0].path, title=shown[0].title, icon=shown[0].icon, url_path=_ROOT_NAME, default=True
    )

    def to_first_page() -> None:
        st.switch_page(first, query_params=st.query_params.to_dict())

    alias = st.Page(
        to_first_page, title=shown[0].title, url_path=shown[0].url_path, visibility="hidden"
    )
    return [first, *pages, alias]


def user_sidebar(user: SignedIn) -> None:
    """Who is signed in, and the sign-out button (or the demo label)."""
    if user.mode is Mode.DEMO:
        st.sidebar.info(
            "**Demo mode, no sign-in**: a synthetic store and no accounts, so every page is "
            "open to everyone. Sign-in is required once real data is loaded.",
            icon=":material/science:",
        )
        return
    st.sidebar.caption(f"Signed in as **{untrusted.markdown(user.name)}** ({user.role})")
    if st.sidebar.button("Sign out", icon=":material/logout:"):
        record("sign-out", {"via": user.mode.value})
        st.session_state.clear()
        if user.mode is Mode.OIDC:
            st.logout()
        st.rerun()


def refuse_unlisted_page(pages: list[PageSpec], shown: list[PageSpec], user: SignedIn) -> None:
    """A link to a page this role may not see: Streamlit runs the first allowed page instead
    (the page is not in st.navigation); say why, and record the attempt."""
    url = st.context.url or ""
    requested = url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    refused = next((p for p in pages if p.url_path == requested and p not in shown), None)
    if refused is None:
        return
    record_once("page refused", {"page": refused.title})
    st.error(
        f"The page “{refused.title}” is not open to your role ({user.role}), so it is not "
        f"shown: you are on “{shown[0].title}” instead.",
        icon=":material/block:",
    )


def record_page_view(page: PageSpec) -> None:
    """Log a page view with the filters in force, once per change of page or filters (not on
    every rerun)."""
    st.session_state[VIEWING] = page.title
    detail: dict[str, object] = {"page": page.title}
    if page.selection:
        detail |= {
            "la": st.session_state.get("selection_la"),
            "cohort": st.session_state.get("selection_cohort"),
        }
    if st.session_state.get("last_view") != detail:
        st.session_state["last_view"] = detail
        record("page view", detail)
