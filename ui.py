"""Streamlit plumbing shared by app.py and the pages: sign-in and roles, the audit trail of who
saw what, the cached store, cached summaries and the first-run demo build. Pages call these and
tf_eval; they never open DuckDB themselves."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import streamlit as st

from tf_eval import (
    access,
    audit,
    config,
    disclosure,
    ingest,
    pseudonymise,
    report,
    specs,
    store,
    synth,
)
from tf_eval.access import Mode
from tf_eval.disclosure import SafeTable, Suppression
from tf_eval.estimate import AnalysisSpec, EvaluationError, evaluate
from tf_eval.overview import Overview, overview
from tf_eval.panel import Panel, build_panel
from tf_eval.provenance import Provenance, provenance
from tf_eval.results import SafeResults, safe_evaluation
from tf_eval.trends import monthly_trends

# Shown instead of a traceback when a page has a bug (app.py); tests look for it.
INTERNAL_ERROR = "tf-eval hit an internal error on this page"


def db_path() -> Path:
    return store.resolve_db_path()


@st.cache_resource(show_spinner=False)
def _build_lock() -> threading.Lock:
    """One lock for every session, so two first visitors do not both build the demo."""
    return threading.Lock()


def check_disclosure_rules() -> None:
    """A bad disclosure config stops the dashboard before it shows anything."""
    try:
        disclosure.current_rules()
    except disclosure.DisclosureConfigError as exc:
        st.error(f"Disclosure settings cannot be used: {exc}", icon=":material/gpp_bad:")
        st.stop()


def ensure_store(path: Path) -> None:
    """On first run with no data of the user's own, build the synthetic demo store with a progress
    bar. A missing store at a path the user chose is an error, not a reason to invent one."""
    if path.exists():
        return
    if os.environ.get(config.DB_ENV_VAR):
        st.error(
            f"No store at {path} (set by {config.DB_ENV_VAR}). Build one with "
            f"`python -m tf_eval demo --db {path}`, or unset {config.DB_ENV_VAR} to use the demo."
        )
        st.stop()
    with _build_lock():
        if path.exists():  # another session built it while this one waited
            return
        notice = st.empty()
        with notice.container():
            st.info(
                "No data store yet: building a **synthetic** demo store "
                f"({config.DEMO_FAMILIES:,} made-up families) so you can explore tf-eval. "
                "This happens once."
            )
            bar = st.progress(0.0, text="Starting")
            try:
                synth.build_demo_store(
                    path,
                    families=config.DEMO_FAMILIES,
                    seed=config.DEMO_SEED,
                    progress=lambda fraction, message: bar.progress(fraction, text=message),
                )
            except store.StoreError as exc:  # e.g. TF_EVAL_DB_KEY set, no secure encryption
                notice.empty()
                st.error(f"The demo store cannot be built: {exc}")
                st.stop()
        built = {"families": config.DEMO_FAMILIES, "seed": config.DEMO_SEED}
        record("demo built", built)
        notice.empty()
        st.toast(f"Synthetic demo store ready: {path}", icon=":material/science:")


@st.cache_resource(show_spinner=False)
def _open_store(path: str, modified: int) -> store.Store:
    """One shared read-only connection per store file version. When the file has been replaced
    (a load, a demo rebuild) the old connection is closed first: while it is open, DuckDB would
    hand a new connection to the same path the old database."""
    with _build_lock():
        replaced = _opened.pop(path, None)
        if replaced is not None:
            replaced.close()
        _opened[path] = store.Store(Path(path))
        return _opened[path]


_opened: dict[str, store.Store] = {}  # the newest connection per path, to close when replaced


def get_store() -> store.Store:
    """The current store, or a clear message and a stopped page if it cannot be opened."""
    path = db_path()
    try:
        return _open_store(str(path), path.stat().st_mtime_ns)
    except (store.StoreError, FileNotFoundError) as exc:
        st.error(str(exc))
        st.stop()


def _audited(output: str, path: str, suppressed: tuple[Suppression, ...]) -> None:
    """Every suppression is logged, under the user whose request first computed the output."""
    audit.record_suppressions(Path(path), output, suppressed, *_who())


def _remember(output: str, suppressed: tuple[Suppression, ...]) -> None:
    """This session's suppressions, by output, for the Disclosure page."""
    st.session_state.setdefault("suppressed", {})[output] = suppressed


def session_suppressions() -> dict[str, tuple[Suppression, ...]]:
    return dict(st.session_state.get("suppressed", {}))


@st.cache_data(show_spinner="Counting families and records...")
def _overview(path: str, modified: int) -> Overview:
    summary = overview(_open_store(path, modified))
    _audited("overview", path, summary.by_la_cohort.suppressed + summary.coverage.suppressed)
    return summary


def get_overview() -> Overview:
    current = get_store()
    summary = _overview(str(current.path), current.path.stat().st_mtime_ns)
    _remember("overview", summary.by_la_cohort.suppressed + summary.coverage.suppressed)
    return summary


@st.cache_resource(show_spinner=False, max_entries=8)
def _panel(path: str, modified: int, follow_up: int, la: str | None, cohort: int | None) -> Panel:
    """The outcome panel of one selection, kept (not copied) while an evaluator changes only the
    matching: it is read, never changed, by the evaluation. Never shown: results are."""
    return build_panel(_open_store(path, modified), follow_up, la, cohort)


def _panel_for(path: str, modified: int, spec: AnalysisSpec) -> Panel:
    """The cached panel for the spec's selection (an unknown local authority gives an empty one;
    the evaluation then names the problem before using it)."""
    return _panel(path, modified, spec.follow_up_months, spec.la, spec.cohort)


@st.cache_data(show_spinner=False, max_entries=64)
def _results(path: str, modified: int, spec: AnalysisSpec) -> SafeResults:
    panel = _panel_for(path, modified, spec)
    results = safe_evaluation(evaluate(_open_store(path, modified), spec, panel=panel))
    _audited(f"estimate {spec}", path, results.suppressed)
    return results


def get_results(spec: AnalysisSpec) -> SafeResults | None:
    """The evaluation for `spec`, through the gate. A refused selection shows its explanation
    in an info box (no numbers) and an impossible one its one-line reason; both return None."""
    current = get_store()
    try:
        with st.spinner("Matching families and estimating effects (a few seconds)..."):
            results = _results(str(current.path), current.path.stat().st_mtime_ns, spec)
    except disclosure.SelectionRefused as exc:
        record_once("refused", {"output": "estimates", "spec": str(spec), "reason": str(exc)})
        st.info(f"No results for this selection: {exc}.", icon=":material/visibility_off:")
        return None
    except EvaluationError as exc:
        st.error(f"This analysis cannot run: {exc}.", icon=":material/error:")
        return None
    record_once("estimate", {"output": "estimates", "spec": str(spec)})
    _remember("estimates", results.suppressed)
    return results


def selection_sidebar(summary: Overview) -> tuple[str | None, int | None]:
    """The only filters a user may set (design.md section 5): local authority and cohort. Kept
    across pages; a selection too small to show is refused where results are computed."""
    table = summary.by_la_cohort.frame
    las = sorted(table["la_code"].unique())
    cohorts = sorted(int(c) for c in table["cohort"].unique())
    st.sidebar.header("Selection")
    la = st.sidebar.selectbox("Local authority", [None, *las], format_func=_all, key="la")
    cohort = st.sidebar.selectbox(
        "Cohort (year identified)", [None, *cohorts], format_func=_all, key="cohort"
    )
    st.sidebar.caption(
        "Only these two filters exist, and a selection with fewer than "
        f"{disclosure.current_rules().selection_min_families} supported or comparison families "
        "shows no results, so that no family can be singled out by comparing selections."
    )
    return la, cohort


def _all(value: object) -> str:
    return "All" if value is None else str(value)


def chart(figure, name: str) -> None:
    """Every chart the same way: full width, and the camera button saves a PNG at twice the
    size, for board packs and slides."""
    st.plotly_chart(
        figure,
        width="stretch",
        config={
            "displaylogo": False,
            "toImageButtonOptions": {"format": "png", "scale": 2, "filename": f"tf-eval-{name}"},
        },
    )


def get_breakdown(
    base: AnalysisSpec, dimension: str, groups: list[object]
) -> tuple[dict[str, SafeResults], list[str]]:
    """The evaluation in each group of one dimension ('la' or 'cohort'), with a progress bar the
    first time (each group is cached after). Returns the results by group, and the groups whose
    selection was refused."""
    current = get_store()
    modified = current.path.stat().st_mtime_ns
    results: dict[str, SafeResults] = {}
    refused: list[str] = []
    bar = st.progress(0.0, text=f"Estimating by {dimension}")
    for i, group in enumerate(groups):
        spec = dataclasses.replace(base, **{dimension: group})
        try:
            results[str(group)] = _results(str(current.path), modified, spec)
        except (disclosure.SelectionRefused, EvaluationError):
            refused.append(str(group))
        bar.progress((i + 1) / len(groups), text=f"Estimating by {dimension}: {group}")
    bar.empty()
    record_once("estimate", {"output": f"impact by {dimension}", "spec": str(base)})
    for group, result in results.items():
        _remember(f"impact by {dimension} {group}", result.suppressed)
    return results, refused


@st.cache_data(show_spinner=False, max_entries=16)
def _trends(path: str, modified: int, spec: AnalysisSpec) -> dict[str, SafeTable]:
    tables = monthly_trends(_open_store(path, modified), spec, _panel_for(path, modified, spec))
    _audited(f"trends {spec}", path, tuple(s for t in tables.values() for s in t.suppressed))
    return tables


def get_trends(spec: AnalysisSpec) -> dict[str, SafeTable] | None:
    """Monthly outcomes of supported and matched comparison families, through the gate; None
    (with the explanation shown) for a refused or impossible selection."""
    current = get_store()
    try:
        with st.spinner("Following families month by month (a few seconds)..."):
            tables = _trends(str(current.path), current.path.stat().st_mtime_ns, spec)
    except disclosure.SelectionRefused as exc:
        st.info(f"No results for this selection: {exc}.", icon=":material/visibility_off:")
        return None
    except EvaluationError as exc:
        st.error(f"This analysis cannot run: {exc}.", icon=":material/error:")
        return None
    record_once("estimate", {"output": "outcomes over time", "spec": str(spec)})
    _remember("outcomes over time", tuple(s for t in tables.values() for s in t.suppressed))
    return tables


def saved_specs() -> dict[str, AnalysisSpec]:
    """The evaluator's saved analyses by name (settings only: no data)."""
    try:
        return specs.saved(get_store().path)
    except specs.SpecError as exc:
        st.error(str(exc))
        return {}


def save_spec(name: str, spec: AnalysisSpec) -> str | None:
    """Save the analysis under `name`; the one-line reason when it cannot be saved."""
    try:
        specs.save(get_store().path, name, spec, _who()[0])
    except specs.SpecError as exc:
        return str(exc)
    return None


describe = specs.describe  # a spec in one line, for captions


@st.cache_data(show_spinner="Reading loads, linkage and retention...")
def _provenance(path: str, modified: int, today: date) -> Provenance:
    found = provenance(_open_store(path, modified), today)
    _audited("data", path, found.suppressed)
    return found


def get_provenance() -> Provenance:
    """Provenance and the retention schedule as of today (UTC): recomputed when the day turns,
    as what is due for purging changes with it."""
    current = get_store()
    found = _provenance(str(current.path), current.path.stat().st_mtime_ns, utc_today())
    _remember("data & linkage", found.suppressed)
    return found


# ---- Who is using the dashboard, what they may see, and the trail of what they did ----------


@dataclasses.dataclass(frozen=True)
class PageSpec:
    """One dashboard page and the roles that need it (README *Access and roles*). `selection`:
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


def _who() -> tuple[str, str]:
    """The signed-in user's name and role, for the audit trail."""
    user = st.session_state.get("signed_in")
    return (user.name, user.role) if user else ("not signed in", "none")


def record(action: str, detail: dict[str, object], who: tuple[str, str] | None = None) -> None:
    """Append one row to the audit trail, as the signed-in user unless `who` is given."""
    audit.append(db_path(), *(who or _who()), action, [detail])


def record_once(action: str, detail: dict[str, object], who: tuple[str, str] | None = None) -> None:
    """Record an action once per session (not on every rerun that shows the same thing)."""
    key = json.dumps([action, detail, who], sort_keys=True, default=str)
    done = st.session_state.setdefault("recorded", set())
    if key not in done:
        record(action, detail, who)
        done.add(key)


@st.cache_resource(show_spinner=False)
def _throttle() -> access.SignInThrottle:
    """One record of failed sign-ins for every session of this server."""
    return access.SignInThrottle()


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
        st.error(f"Sign-in cannot work: {exc}", icon=":material/lock:")
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
        "section to `.streamlit/secrets.toml` (README, *Access and roles*)."
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
        key = name.strip().lower()
        known = key in accounts
        who = (key if known else "(unknown name)", accounts[key].role if known else "none")
        throttle = _throttle()
        wait = throttle.locked_for(key)
        if wait > 0:
            record("sign-in failed", {"reason": "too many failures: locked"}, who)
            st.error(
                "Too many failed sign-ins for this name: try again in "
                f"{math.ceil(wait / 60)} minutes.",
                icon=":material/lock_clock:",
            )
            return
        account = access.verify(accounts, name, password)
        if account is None:
            throttle.failed(key)
            time.sleep(config.SIGN_IN_FAILURE_DELAY_SECONDS)
            reason = "wrong password" if known else "unknown name"
            record("sign-in failed", {"reason": reason}, who)
            st.error("Wrong name or password.", icon=":material/error:")
            return
    throttle.succeeded(key)
    st.session_state["signed_in"] = SignedIn(account.name, account.role, Mode.LOCAL)
    record("sign-in", {"via": "password"})
    st.rerun()


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
        record_once("sign-in refused", refused, (email or "(no e-mail address)", "none"))
        st.title("No access yet")
        st.error(
            f"You are signed in as {email or 'a user without an e-mail address'}, but that "
            "address has no tf-eval account, so no page is open to you. Ask an administrator "
            f"to add it: `python -m tf_eval users add {email or 'EMAIL'} --role ROLE --oidc`.",
            icon=":material/block:",
        )
        if st.button("Sign out", icon=":material/logout:"):
            st.logout()
        st.stop()
    user = SignedIn(account.name, account.role, Mode.OIDC)
    if st.session_state.get("signed_in") != user:
        st.session_state["signed_in"] = user
        record("sign-in", {"via": "oidc"})
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


def user_sidebar(user: SignedIn) -> None:
    """Who is signed in, and the sign-out button (or the demo label)."""
    if user.mode is Mode.DEMO:
        st.sidebar.info(
            "**Demo mode, no sign-in**: a synthetic store and no accounts, so every page is "
            "open to everyone. Sign-in is required once real data is loaded.",
            icon=":material/science:",
        )
        return
    st.sidebar.caption(f"Signed in as **{user.name}** ({user.role})")
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
    detail: dict[str, object] = {"page": page.title}
    if page.selection:
        detail |= {"la": st.session_state.get("la"), "cohort": st.session_state.get("cohort")}
    if st.session_state.get("last_view") != detail:
        st.session_state["last_view"] = detail
        record("page view", detail)


def load_extract(source: str, file_name: str, data: bytes) -> ingest.LoadResult | None:
    """Load an uploaded extract through the same path as `python -m tf_eval ingest`; a refusal
    shows its problem list (or its one-line reason) and returns None. The upload's bytes are
    handed to ingest in memory: raw identifiers never touch this server's disk."""
    try:
        with st.spinner(f"Checking and loading {file_name}..."):
            return ingest.ingest_file(
                data, source, db_path(), _who()[0], file_name=file_name, role=_who()[1]
            )
    except ingest.IngestRefused as exc:
        # The command line's report: a first line, then one per problem.
        first, *problems = exc.problems.report().splitlines()
        st.error(f"**{first}**", icon=":material/block:")
        st.code("\n".join(line.strip() for line in problems), language=None, wrap_lines=True)
    except (ingest.IngestError, pseudonymise.PseudonymKeyError, store.StoreError) as exc:
        st.error(f"Not loaded: {exc}", icon=":material/block:")
    return None


def audit_choices() -> tuple[list[str], list[str]]:
    """The users and actions in the audit trail, for the Audit log page's filters."""
    return audit.users_and_actions(db_path())


def audit_entries(
    users: list[str], actions: list[str], since: date | None, until: date | None
) -> list[dict[str, str]]:
    """The audit trail, newest first, filtered; every value as text. It holds who did what and
    outputs' names and reasons, never a record about a person (tests/test_access.py)."""
    trail = audit.read(db_path(), users, actions, since, until)
    if trail.empty:
        return []
    trail["at"] = trail["at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    trail["detail"] = [_readable(detail) for detail in trail["detail"]]
    return trail.iloc[::-1].astype(str).to_dict("records")


def _readable(detail: str | None) -> str:
    """An audit detail as 'key: value; ...' (a missing filter is 'all')."""
    fields = json.loads(detail or "{}")
    return "; ".join(f"{key}: {'all' if value is None else value}" for key, value in fields.items())


def utc_today() -> date:
    """Today in UTC, the audit trail's clock."""
    return datetime.now(UTC).date()


@st.cache_data(show_spinner=False, max_entries=4)
def _board_pack(
    path: str,
    modified: int,
    spec: AnalysisSpec,
    name: str | None,
    who: tuple[str, str],
    _contents: report.PackContents,
) -> report.BoardPack:
    """One pack per store version, spec, name (the contents follow from those three) and user:
    the export is logged under whoever takes the pack, not only whoever built it first."""
    return report.archive(_contents, Path(path), *who, name)


def get_board_pack(spec: AnalysisSpec, name: str | None) -> report.BoardPack | None:
    """The board pack of `spec` (saved as `name`, if it was), built from the very safe objects
    the other pages show, step by step in a status box; None (with the reason shown) when the
    selection is refused or no browser can draw the charts."""
    current = get_store()
    modified = current.path.stat().st_mtime_ns
    with st.status("Building the board pack...", expanded=True) as status:
        try:
            report.find_browser()  # before any work: a missing browser is the likeliest problem
            st.write("Matching families and estimating effects")
            results = get_results(spec)
            st.write("Following families month by month")
            trends = None if results is None else get_trends(spec)  # refused once is enough
            if results is None or trends is None:
                status.update(label="No board pack for this selection", state="error")
                return None
            contents = report.PackContents(spec, get_overview(), results, trends, get_provenance())
            st.write("Drawing the charts and writing the PDF (about 15 seconds the first time)")
            pack = _board_pack(str(current.path), modified, spec, name, _who(), contents)
        except report.ReportError as exc:
            status.update(label="The board pack cannot be built", state="error")
            st.error(f"{exc}.", icon=":material/error:")
            return None
        status.update(label="Board pack ready", state="complete", expanded=False)
    return pack
