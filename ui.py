"""Streamlit plumbing shared by app.py and the pages: the cached store, cached summaries and the
first-run demo build. Pages call these and tf_eval; they never open DuckDB themselves."""

from __future__ import annotations

import dataclasses
import os
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import streamlit as st

from tf_eval import audit, config, disclosure, specs, store, synth
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
        audit.append(path, "dashboard", "viewer", "demo built", [built])
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
    """Every suppression is logged; until sign-in lands the dashboard's user is 'dashboard'."""
    audit.record_suppressions(Path(path), output, suppressed, "dashboard", "viewer")


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
        refused = st.session_state.setdefault("refused", set())
        if spec not in refused:  # logged once per session, not on every rerun
            refused.add(spec)
            detail = {"output": "estimates", "spec": str(spec), "reason": str(exc)}
            audit.append(current.path, "dashboard", "viewer", "refused", [detail])
        st.info(f"No results for this selection: {exc}.", icon=":material/visibility_off:")
        return None
    except EvaluationError as exc:
        st.error(f"This analysis cannot run: {exc}.", icon=":material/error:")
        return None
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
        specs.save(get_store().path, name, spec, "dashboard")
    except specs.SpecError as exc:
        return str(exc)
    return None


def describe(spec: AnalysisSpec) -> str:
    """A spec in one line, for captions."""
    caliper = f"caliper {spec.caliper} SD" if spec.caliper else "no caliper"
    replacement = "with" if spec.replace else "without"
    return (
        f"1:{spec.ratio} {replacement} replacement, {caliper}, exact on "
        f"{', '.join(spec.exact) or 'nothing'}, {len(spec.covariates)} covariates, "
        f"{spec.follow_up_months}-month follow-up; LA {spec.la or 'all'}, cohort "
        f"{spec.cohort or 'all'}"
    )


@st.cache_data(show_spinner="Reading loads, linkage and retention...")
def _provenance(path: str, modified: int, today: date) -> Provenance:
    found = provenance(_open_store(path, modified), today)
    _audited("data", path, found.suppressed)
    return found


def get_provenance() -> Provenance:
    """Provenance and the retention schedule as of today (UTC): recomputed when the day turns,
    as what is due for purging changes with it."""
    current = get_store()
    today = datetime.now(UTC).date()
    found = _provenance(str(current.path), current.path.stat().st_mtime_ns, today)
    _remember("data & linkage", found.suppressed)
    return found
