"""What pages may show: every result through the disclosure gate, cached per store version and
choice, with each suppression audited under the user who first asked and remembered for the
Disclosure page. A refused or impossible selection shows its reason here and returns None."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import streamlit as st

from dashboard.connection import close_replaced_stores, db_path, get_store, open_store
from dashboard.expected import expected
from dashboard.trail import audited, current_user, record_once, remember, utc_today
from dashboard.value_form import value_settings
from tf_eval.data import ingest, pseudonymise, store
from tf_eval.data.coverage import NoCalendarError
from tf_eval.governance import rules, untrusted
from tf_eval.method import specs
from tf_eval.method.estimate import AnalysisSpec, EvaluationError, evaluate, prepare
from tf_eval.method.panel import Panel, build_panel
from tf_eval.release import pack_contents, register, report
from tf_eval.release.disclosure import SafeTable
from tf_eval.release.overview import Overview, overview
from tf_eval.release.provenance import Provenance, provenance
from tf_eval.release.results import SafeResults, safe_evaluation
from tf_eval.release.trends import monthly_trends
from tf_eval.release.value import ValueForMoney, ValueSettings, value_for_money


@st.cache_data(show_spinner="Counting families and records...")
def _overview(path: str, modified: int) -> Overview:
    summary = overview(open_store(path, modified))
    audited("overview", path, summary.by_la_cohort.suppressed + summary.coverage.suppressed)
    return summary


def get_overview(drawn: tuple[str, ...] = ()) -> Overview:
    """Who is in the store, through the gate. Every page takes it (the sidebar's choices come
    from it); the tables a page draws from it ("by_la_cohort", "coverage") are `drawn`, so
    that the Disclosure page names only the pages their suppressions were withheld from."""
    current = get_store()
    summary = _overview(str(current.path), current.path.stat().st_mtime_ns)
    if "by_la_cohort" in drawn:
        remember("families by local authority and cohort", summary.by_la_cohort.suppressed)
    if "coverage" in drawn:
        remember("records per year", summary.coverage.suppressed)
    return summary


@st.cache_resource(show_spinner=False, max_entries=8)
def _panel(
    path: str, modified: int, follow_up: int, la: str | None, cohort: int | None, comparison: str
) -> Panel:
    """The outcome panel of one selection, kept (not copied) while an evaluator changes only the
    matching: it is read, never changed, by the evaluation. Never shown: results are."""
    return build_panel(open_store(path, modified), follow_up, la, cohort, comparison)


def _panel_for(path: str, modified: int, spec: AnalysisSpec) -> Panel:
    """The cached panel for the spec's selection (an unknown local authority gives an empty one;
    the evaluation then names the problem before using it)."""
    return _panel(path, modified, spec.follow_up_months, spec.la, spec.cohort, spec.comparison)


@st.cache_data(show_spinner=False, max_entries=64)
def _results(path: str, modified: int, spec: AnalysisSpec) -> SafeResults:
    """Computed, registered and audited once per store version and spec. A refusal (too small a
    selection, or nearly the same families as an earlier output: register.TooClose) is not
    cached, so it is checked again on every request."""
    current = open_store(path, modified)
    evaluation = evaluate(current, spec, panel=_panel_for(path, modified, spec))
    basis = register.evaluation_basis(evaluation)
    register.release(current, basis, f"estimate {spec}", *current_user())
    results = safe_evaluation(evaluation)
    audited(f"estimate {spec}", path, results.suppressed)
    return results


def get_results(spec: AnalysisSpec) -> SafeResults | None:
    """The evaluation for `spec`, through the gate. A refused selection shows its explanation
    in an info box (no numbers) and an impossible one its one-line reason; both return None."""
    current = get_store()
    try:
        with st.spinner("Matching families and estimating effects (a few seconds)..."):
            results = _results(str(current.path), current.path.stat().st_mtime_ns, spec)
    except rules.SelectionRefused as exc:
        record_once("refused", {"output": "estimates", "spec": str(spec), "reason": str(exc)})
        st.info(f"No results for this selection: {exc}.", icon=":material/visibility_off:")
        return None
    except (EvaluationError, register.RegisterError, NoCalendarError) as exc:
        st.error(f"This analysis cannot run: {exc}.", icon=":material/error:")
        return None
    record_once("estimate", {"output": "estimates", "spec": str(spec)})
    remember("estimates", results.suppressed)
    return dataclasses.replace(results, stated=expected())  # the effects expected, if any


def get_value_for_money(spec: AnalysisSpec, settings: ValueSettings) -> ValueForMoney | None:
    """What the gated estimates of `spec` are worth under `settings` (tf_eval.release.value:
    only estimates the gate showed enter); None, with the reason shown, as get_results."""
    results = get_results(spec)
    if results is None:
        return None
    model = settings.model
    detail = {"output": "value for money", "spec": str(spec), "costs": settings.costs.title}
    record_once("estimate", {**detail, "programme_cost": model.programme_cost})
    return value_for_money(results, settings)


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
        except register.TooClose as exc:  # audited, as every refusal by the register is
            record_once("refused", {"output": "impact", "spec": str(spec), "reason": str(exc)})
            refused.append(str(group))
        except (rules.SelectionRefused, EvaluationError, register.RegisterError, NoCalendarError):
            refused.append(str(group))
        bar.progress((i + 1) / len(groups), text=f"Estimating by {dimension}: {group}")
    bar.empty()
    record_once("estimate", {"output": f"impact by {dimension}", "spec": str(base)})
    for group, result in results.items():
        remember(f"impact by {dimension} {group}", result.suppressed)
    return results, refused


@st.cache_data(show_spinner=False, max_entries=16)
def _trends(path: str, modified: int, spec: AnalysisSpec) -> dict[str, SafeTable]:
    """As _results: the matched families the trends rest on go through the register first."""
    current = open_store(path, modified)
    panel, matching = prepare(current, spec, panel=_panel_for(path, modified, spec))
    basis = register.matched_basis(panel.families["family_id"].to_numpy(), matching)
    register.release(current, basis, f"trends {spec}", *current_user())
    tables = monthly_trends(current, spec, panel, matching)
    audited(f"trends {spec}", path, tuple(s for t in tables.values() for s in t.suppressed))
    return tables


def get_trends(spec: AnalysisSpec) -> dict[str, SafeTable] | None:
    """Monthly outcomes of supported and matched comparison families, through the gate; None
    (with the explanation shown) for a refused or impossible selection."""
    current = get_store()
    try:
        with st.spinner("Following families month by month (a few seconds)..."):
            tables = _trends(str(current.path), current.path.stat().st_mtime_ns, spec)
    except rules.SelectionRefused as exc:
        if isinstance(exc, register.TooClose):
            detail = {"output": "outcomes over time", "spec": str(spec), "reason": str(exc)}
            record_once("refused", detail)
        st.info(f"No results for this selection: {exc}.", icon=":material/visibility_off:")
        return None
    except (EvaluationError, register.RegisterError, NoCalendarError) as exc:
        st.error(f"This analysis cannot run: {exc}.", icon=":material/error:")
        return None
    record_once("estimate", {"output": "outcomes over time", "spec": str(spec)})
    remember("outcomes over time", tuple(s for t in tables.values() for s in t.suppressed))
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
        specs.save(get_store().path, name, spec, current_user()[0])
    except specs.SpecError as exc:
        return str(exc)
    return None


describe = specs.describe  # a spec in one line, for captions


@st.cache_data(show_spinner="Reading loads, linkage and retention...")
def _provenance(path: str, modified: int, today: date) -> Provenance:
    found = provenance(open_store(path, modified), today)
    audited("data", path, found.suppressed)
    return found


def get_provenance() -> Provenance:
    """Provenance and the retention schedule as of today (UTC): recomputed when the day turns,
    as what is due for purging changes with it."""
    current = get_store()
    found = _provenance(str(current.path), current.path.stat().st_mtime_ns, utc_today())
    remember("data & linkage", found.suppressed)
    return found


def load_extract(source: str, file_name: str, data: bytes) -> ingest.LoadResult | None:
    """Load an uploaded extract through the same path as `python -m tf_eval ingest`; a refusal
    shows its problem list (or its one-line reason) and returns None. The upload's bytes are
    handed to ingest in memory: raw identifiers never touch this server's disk."""
    try:
        with st.spinner(f"Checking and loading {untrusted.markdown(file_name)}..."):
            loaded = ingest.ingest_file(
                data,
                source,
                db_path(),
                current_user()[0],
                file_name=file_name,
                role=current_user()[1],
            )
    except ingest.IngestRefused as exc:
        # The command line's report: a first line, then one per problem (each already plain).
        first, *problems = exc.problems.report().splitlines()
        st.error(f"**{untrusted.markdown(first)}**", icon=":material/block:")
        st.code("\n".join(line.strip() for line in problems), language=None, wrap_lines=True)
        return None
    except (ingest.IngestError, pseudonymise.PseudonymKeyError, store.StoreError) as exc:
        st.error(f"Not loaded: {untrusted.markdown(exc)}", icon=":material/block:")
        return None
    close_replaced_stores()  # the old file is not kept open until the next page view
    return loaded


@st.cache_data(show_spinner=False, max_entries=4)
def _board_pack(
    path: str,
    modified: int,
    spec: AnalysisSpec,
    name: str | None,
    who: tuple[str, str],
    stated: tuple[tuple[str, float], ...],
    value: ValueSettings | None,
    _contents: pack_contents.PackContents,
) -> report.BoardPack:
    """One pack per store version, spec, name, effects expected and value-for-money settings
    (the contents follow from those) and user: the export is logged under whoever takes the
    pack, not only whoever built it first."""
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
            value = value_settings()  # chosen on the Value for money page, if at all
            contents = pack_contents.PackContents(
                spec,
                get_overview(("by_la_cohort", "coverage")),
                results,
                trends,
                get_provenance(),
                value,
            )
            st.write("Drawing the charts and writing the PDF (about 15 seconds the first time)")
            stated = tuple(sorted(results.stated.items()))
            pack = _board_pack(
                str(current.path), modified, spec, name, current_user(), stated, value, contents
            )
        except report.ReportError as exc:
            status.update(label="The board pack cannot be built", state="error")
            st.error(f"{exc}.", icon=":material/error:")
            return None
        status.update(label="Board pack ready", state="complete", expanded=False)
    return pack
