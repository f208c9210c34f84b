"""What a board pack holds: its contents (the safe objects the dashboard shows, or gathered the
same way), the table behind each chart, the charts themselves and the provenance every file
carries. Nothing here writes a file: tf_eval.release.report does, and pack_pdf draws the PDF."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

from tf_eval import config
from tf_eval.data.outcomes import THEME_KEYS, by_theme, in_theme_order
from tf_eval.data.store import Store
from tf_eval.governance.rules import Suppression
from tf_eval.method import specs
from tf_eval.method.covariates import covariate_words
from tf_eval.method.estimate import AnalysisSpec, evaluate
from tf_eval.method.estimators import ESTIMATORS
from tf_eval.method.panel import build_panel
from tf_eval.release import charts, register, time_charts, units, value_charts
from tf_eval.release.disclosure import SafeEstimate, SafeTable
from tf_eval.release.evidence import passing
from tf_eval.release.headlines import narrow_interval_note
from tf_eval.release.overview import Overview, overview
from tf_eval.release.provenance import Provenance, provenance
from tf_eval.release.results import SafeResults, event_study_json, findings, safe_evaluation
from tf_eval.release.trends import monthly_trends
from tf_eval.release.value import ValueSettings, value_for_money, value_json

Progress = Callable[[float, str], None]
MANIFEST_NAME = "manifest.json"
GENERATOR = "tf-eval board pack"


@dataclass(frozen=True)
class PackContents:
    """Everything a board pack shows, each part already through the disclosure gate: the same
    objects the dashboard's Overview, Outcomes over time, Impact, Matching and Data pages show."""

    spec: AnalysisSpec  # settings only
    overview: Overview
    results: SafeResults
    trends: dict[str, SafeTable]
    provenance: Provenance
    # The value-for-money settings (a choice, not data: the figures follow from `results`), or
    # None when no programme cost was given: the pack then says it is not set.
    value: ValueSettings | None = None

    @property
    def suppressed(self) -> tuple[Suppression, ...]:
        parts = (
            self.overview.by_la_cohort.suppressed,
            self.overview.coverage.suppressed,
            self.results.suppressed,
            *(table.suppressed for table in self.trends.values()),
            self.provenance.suppressed,
        )
        return tuple(s for part in parts for s in part)


def gather(
    store: Store,
    spec: AnalysisSpec,
    progress: Progress | None = None,
    released_by: tuple[str, str] | None = None,
    value: ValueSettings | None = None,
) -> PackContents:
    """The pack's safe objects for `spec`, from the functions the dashboard calls (one panel
    shared by the estimates and the trends, as there). A selection under the differencing floor
    raises disclosure.SelectionRefused, and nothing about it leaves. With `released_by` (user,
    role), the families the pack rests on go through the release register first
    (register.TooClose when an earlier output rests on nearly the same ones). `value`: the
    value-for-money settings, if a programme cost was given."""
    report = progress or (lambda fraction, message: None)
    report(0.0, "Building the outcome panel")
    panel = build_panel(store, spec.follow_up_months, spec.la, spec.cohort, spec.comparison)
    report(0.1, "Matching families and estimating effects")
    evaluation = evaluate(store, spec, panel=panel)
    if released_by is not None:
        basis = register.evaluation_basis(evaluation)
        register.release(store, basis, f"board pack {spec}", *released_by)
    results = safe_evaluation(evaluation)
    report(0.3, "Following families month by month")
    trends = monthly_trends(store, spec, panel, evaluation.matching)
    report(0.4, "Counting families and records")
    today = datetime.now(UTC).date()  # the retention schedule is as of today, as on the page
    return PackContents(spec, overview(store), results, trends, provenance(store, today), value)


# --- what the pack holds ------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """One CSV: a title, a header and rows as written (a suppressed count is the mark)."""

    name: str
    title: str
    header: list[str]
    rows: list[list[object]]
    counts: tuple[str, ...]  # columns holding protected counts
    notes: tuple[str, ...] = ()  # what a reader needs beyond the title (the manifest holds them)


@dataclass(frozen=True)
class Chart:
    """One chart of the pack, the sentence saying how to read it, and the table behind it."""

    name: str
    figure: go.Figure
    reading: str
    table: Table

    @property
    def title(self) -> str:
        return self.figure.layout.title.text.replace("<br>", " ")  # wrapped to fit the chart

    @property
    def note(self) -> str:
        """The chart's disclosure footnote (charts.finish keeps it in the layout's meta)."""
        return self.figure.layout.meta["note"]


def _cell(value: object) -> object:
    """A value as a CSV cell: empty for a withheld or undefined number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value.item() if hasattr(value, "item") else value  # numpy scalars -> Python


def _safe_table(name: str, title: str, table: SafeTable) -> Table:
    """A safe table as written: counts as the gate shows them (multiples of the rounding base,
    or the suppressed mark), other columns as they are (withheld values empty)."""
    frame = table.frame
    columns = {c: table.shown(c) if c in table.counts else frame[c].tolist() for c in frame}
    rows = [[_cell(columns[c][i]) for c in frame.columns] for i in range(len(frame))]
    return Table(name, title, list(frame.columns), rows, table.counts)


def _balance_table(balance: SafeTable) -> Table:
    """The balance table as written, each covariate in words (as the Love plot names it)."""
    table = _safe_table("balance", "Balance of covariates (standardised differences)", balance)
    at = table.header.index("covariate")
    for row in table.rows:
        row[at] = covariate_words(str(row[at]))
    notes = ("Variance ratios are empty for 0/1 covariates, whose variance their mean fixes.",)
    return dataclasses.replace(table, notes=notes)


ESTIMATE_COUNTS = ("n_treated", "n_comparison", "families_treated", "families_comparison")


def _estimates_table(results: SafeResults) -> Table:
    header = ["estimate", "outcome", "unit", "att", "se", "ci_low", "ci_high", "p_value"]
    header += [*ESTIMATE_COUNTS, "withheld_because"]
    kinds: dict[str, list[SafeEstimate]] = {
        "matched": results.estimates,
        "naive": results.naive,
        "placebo": results.placebo,
        # Every estimator's, side by side (tf_eval.method.estimators; the headline's among them).
        **{f"estimator: {key}": listed for key, listed in results.estimators.items()},
    }
    rows = [
        [kind, e.outcome, units.unit(e.outcome).name]
        + [_cell(_shown(column, e)) for column in header[3:-1]]
        + [e.reason or ""]
        for kind, estimates in kinds.items()
        for e in estimates
    ]
    title = (
        "Effects: matched estimate, naive change, placebo and the three estimators side by side "
        "(each in its row's unit; 95% CI)"
    )
    notes = (
        "att, se, ci_low and ci_high are in the row's unit, as the dashboard shows them: "
        "percentage points for attendance and for the shares of people offending and of days on "
        "out-of-work benefits (-1.9 is a fall of 1.9 percentage points).",
        f"p-values are given to {P_VALUE_DECIMALS} decimal places: 0.0 means below "
        f"{0.5 * 10**-P_VALUE_DECIMALS:g}.",
        "'matched' rows are the headline estimator's; rows 'estimator: NAME' give every "
        "estimator's, each resting on its own assumption: "
        + "; ".join(f"{e.key} assumes {e.assumption}" for e in ESTIMATORS.values())
        + ".",
    )
    narrow = narrow_interval_note(results.estimates)
    notes += (narrow,) if narrow else ()
    return Table("effects", title, header, rows, ESTIMATE_COUNTS, notes)


P_VALUE_DECIMALS = 3  # a p-value finer than 0.001 says nothing more to a reader (not 5.9e-303)


def _shown(column: str, estimate: SafeEstimate) -> object:
    """A value of the effects table as written: effects in the unit the pages show them in
    (tf_eval.release.units: percentage points for shares), p-values to a fixed number of places."""
    value = getattr(estimate, column)
    if column in ("att", "se", "ci_low", "ci_high"):
        return units.shown(value, estimate.outcome)
    if column == "p_value" and isinstance(value, float) and math.isfinite(value):
        return round(value, P_VALUE_DECIMALS) + 0.0
    return value


def _event_study_table(results: SafeResults) -> Table:
    """The event study's quarters (the JSON's `event_study` rows) and, per outcome, the p-value
    of the test that the quarters before the index date show no difference."""
    header = ["outcome", "unit", "months_from_index", "att", "se", "ci_low", "ci_high"]
    header += ["reference", "withheld_because", "pretrend_p_value"]
    tests = {s.outcome: s.pretrend_p_value for s in results.event_study}
    rows = [
        [row["outcome"], units.unit(row["outcome"]).name, row["months_from_index"]]
        + [_cell(row[k]) for k in ("att", "se", "ci_low", "ci_high")]
        + [row["reference"], row["reason"] or "", _cell(tests[row["outcome"]])]
        for row in event_study_json(results)
    ]
    title = "The gap between supported and matched comparison families, quarter by quarter"
    notes = (
        "Each row is a quarter, by its first month from the month families were identified; "
        "att is the difference in the change since the reference quarter (months -3 to -1, "
        "0 by definition), in the row's unit.",
        "pretrend_p_value tests the quarters before month -3 together (0 for every one of them); "
        "a quarter is shown only with enough families in each group in that quarter.",
    )
    return Table("gap-by-quarter", title, header, rows, (), notes)


def _overlap_table(results: SafeResults) -> Table:
    rows = []
    for group, histogram in results.matching.overlap.items():
        edges, mark = histogram.edges, histogram.rules.suppressed_mark
        for k, count in enumerate(histogram.bin_counts):
            rows.append([group, edges[k], edges[k + 1], mark if count is None else count])
    title = "Propensity scores before matching: families per score bin"
    return Table(
        "overlap", title, ["group", "score_from", "score_to", "families"], rows, ("families",)
    )


def pack_charts(contents: PackContents) -> list[Chart]:
    """Every chart of the pack, drawn by tf_eval.release.charts as the dashboard draws it."""
    spec = contents.spec
    store_wide = charts.whole_store_source(charts.data_source(contents.overview.description))
    source = charts.selection_source(
        charts.data_source(contents.overview.description), spec.la, spec.cohort
    )  # the analysis' charts name its selection; the store-wide ones say they are not filtered
    results, follow_up = contents.results, spec.follow_up_months
    matching = results.matching
    plan = contents.provenance.retention
    effects = _estimates_table(results)  # one table behind the themes' charts
    found = [
        Chart(
            f"effects-{key}",
            figure,
            "Each marker is an effect, its value written above it, with its 95% interval, in the "
            f"outcome's own unit. Estimate ({charts.ESTIMATE_LOOKS['matched']}) compares "
            "supported with matched families; Naive change "
            f"({charts.ESTIMATE_LOOKS['naive']}) is supported families' own before/after change, "
            "which also holds their recovery from a crisis; Placebo "
            f"({charts.ESTIMATE_LOOKS['placebo']}) repeats the comparison a year earlier, before "
            "families were identified, where there should be nothing to find.",
            effects,
        )
        for key, figure in charts.effects_by_theme(
            results.estimates,
            source,
            follow_up,
            naive=results.naive,
            placebo=results.placebo,
            passing=passing(findings(results)),
        ).items()
    ]
    found += _value_charts(contents, source)  # after the effects, before the trends
    for key in in_theme_order(contents.trends):
        table = contents.trends[key]
        found.append(
            Chart(
                f"trend-{key}",
                time_charts.trend_chart(table, key, source),
                "Monthly averages with 95% bands, from 12 months before the month families were "
                "identified (month 0) "
                "to the end of follow-up. Both groups worsen before and recover after; the gap "
                "between them after month 0 is what support adds.",
                _safe_table(f"trend-{key}", f"Monthly {key}, supported and comparison", table),
            )
        )
    studies = {study.outcome: study for study in results.event_study}
    quarters = _event_study_table(results) if studies else None  # one table behind them all
    found += [
        Chart(
            f"gap-by-quarter-{THEME_KEYS[theme]}",
            time_charts.event_study_chart([studies[k] for k in outcomes], source),
            "Each point is how much more supported families' outcome changed than their "
            "matched comparison families' since the quarter before identification (months -3 "
            "to -1, hollow, 0 by definition), quarter by quarter with its 95% interval. Before "
            "month 0 support cannot have acted: points there away from 0, and a small p-value "
            "in a panel's title (the quarters before, tested together), mean the groups were "
            "already drifting apart, and the effect may be that drift.",
            quarters,
        )
        for theme, outcomes in by_theme(studies).items()
    ]
    found += [
        Chart(
            "balance",
            charts.love_plot(matching.balance, source),
            "How different supported and comparison families were on each characteristic, before "
            "and after matching, in standard deviations: after matching every dot should be left "
            "of the dashed 0.1 line.",
            _balance_table(matching.balance),
        ),
        Chart(
            "overlap",
            charts.overlap_chart(
                matching.overlap["treated"], matching.overlap["comparison"], source
            ),
            "How likely each family was to be supported, from its records before: matching needs "
            "comparison families across the whole range where supported families are.",
            _overlap_table(results),
        ),
        Chart(
            "families-by-la-cohort",
            charts.la_cohort_heatmap(contents.overview.by_la_cohort, "families", store_wide),
            "Families identified in each local authority and year, across the whole store.",
            _safe_table(
                "families-by-la-cohort",
                "Families, people and supported families by local authority and cohort",
                contents.overview.by_la_cohort,
            ),
        ),
        Chart(
            "records-by-year",
            charts.coverage_chart(contents.overview.coverage, store_wide),
            "Records per calendar year from each source: what the evaluation can see.",
            _safe_table(
                "records-by-year", "Records per year by source", contents.overview.coverage
            ),
        ),
        Chart(
            "retention",
            charts.retention_chart(plan.by_year, store_wide),
            f"Families by the year their records must be destroyed ({plan.years} years after "
            "the later of their index month and the newest load about them, as the privacy "
            "notice promises).",
            _safe_table("retention", "Families by the year retention ends", plan.by_year),
        ),
    ]
    return found


def _value_charts(contents: PackContents, source: str) -> list[Chart]:
    """The value for money's two charts and their tables, when a programme cost was given and
    some outcome could be valued."""
    if contents.value is None:
        return []
    vfm = value_for_money(contents.results, contents.value)
    if not vfm.valued:  # the PDF's page says why; there is nothing to draw
        return []
    by_outcome = value_json(vfm, {})
    measures = ("fiscal", "economic")
    rows = [
        [row["outcome"], row["unit"]]
        + [_cell((row["unit_cost"] or {}).get(m)) for m in measures]
        + [_cell(row["people_per_family"])]
        + [
            _cell((row[m] or {}).get(k))
            for m in measures
            for k in ("estimate", "ci_low", "ci_high")
        ]
        + [row["withheld_because"] or ""]
        for row in by_outcome["by_outcome"]
    ]
    header = ["outcome", "per", "unit_cost_fiscal", "unit_cost_economic", "people_per_family"]
    header += [f"{m}_{k}" for m in measures for k in ("benefit", "ci_low", "ci_high")]
    header.append("withheld_because")
    money = f"pounds at {vfm.settings.costs.price_year} prices"
    notes = tuple(by_outcome["assumptions"])
    benefits = Table(
        "value-by-outcome",
        f"Value for money: present value of the benefit per supported family ({money}, 95% CI)",
        header,
        rows,
        (),
        notes,
    )
    swings = [
        [row["setting"], row["low_case"], row["high_case"]]
        + [row[end][m] for m in measures for end in ("low", "high")]
        for row in by_outcome["sensitivity"]
    ]
    sensitivity = Table(
        "value-sensitivity",
        "Value for money: the return per pound spent with one setting moved either way",
        ["setting", "low_case", "high_case", "fiscal_low", "fiscal_high"]
        + ["economic_low", "economic_high"],
        swings,
        (),
        ("Each row moves one setting to its low_case, then its high_case, the rest as chosen.",),
    )
    return [
        Chart(
            "value-by-outcome",
            value_charts.benefits_chart(vfm, source),
            "What each outcome's effect is worth per supported family over the years it lasts, "
            "discounted, to the public purse (fiscal) and to society (economic), with 95% "
            "intervals carried from the estimates, beside the programme's cost per family "
            "(dashed).",
            benefits,
        ),
        Chart(
            "value-sensitivity",
            value_charts.sensitivity_chart(vfm, source),
            "How the return per pound spent moves when one setting moves either way, the rest "
            "as chosen: the longest bars are the assumptions the answer hangs on.",
            sensitivity,
        ),
    ]


def pack_tables(contents: PackContents, charts_: list[Chart]) -> list[Table]:
    """The table behind each chart, and the matched counts and exclusions they rest on."""
    extra = [
        _safe_table("matched-counts", "Families matched", contents.results.matching.counts),
        _safe_table(
            "effective-sizes",
            "Effective sample size of each matched group under the matching weights",
            contents.results.matching.effective,
        ),
    ]
    if contents.results.excluded is not None:
        title = "Families left out of the evaluation, by reason"
        extra.append(_safe_table("excluded-families", title, contents.results.excluded))
    behind = {chart.table.name: chart.table for chart in charts_}  # the themes' charts share one
    return [*behind.values(), *extra]


def pack_provenance(
    contents: PackContents, spec_name: str | None, generated_at: datetime
) -> dict[str, Any]:
    """Where every figure of the pack comes from: the data snapshot, the analysis, the rules
    applied, when and by which version."""
    description = contents.overview.description
    loads = contents.provenance.loads.frame
    data: dict[str, Any] = {
        "kind": description.get("kind", "real"),
        "source": charts.data_source(description),
        "load_ids": [int(i) for i in loads["load_id"]],
        "newest_load_at": str(loads["loaded_at"].max()) if len(loads) else None,
    }
    if data["kind"] == "demo":
        data["demo_seed"] = int(description["seed"])
        data["demo_families"] = int(description["families"])
    return {
        "generator": GENERATOR,
        "tf_eval_version": config.VERSION,
        "generated_at": generated_at.isoformat(timespec="seconds"),
        "data": data,
        "analysis": {"name": spec_name, **json.loads(specs.to_json(contents.spec))},
        "disclosure_rules": contents.results.matching.counts.rules.as_dict(),
    }


def provenance_summary(prov: dict[str, Any]) -> str:
    """The provenance in one line of words (PDF subject, footers)."""
    data = prov["data"]
    snapshot = (
        f"demo seed {data['demo_seed']}, {data['demo_families']:,} families"
        if data["kind"] == "demo"
        else f"loads {', '.join(map(str, data['load_ids'])) or 'none'}"
    )
    name = prov["analysis"]["name"] or "default analysis"
    return (
        f"{GENERATOR}, tf-eval {prov['tf_eval_version']}, generated {generated_words(prov)}; "
        f"data: {snapshot}; analysis: {name}"
    )


def generated_words(prov: dict[str, Any]) -> str:
    return f"{datetime.fromisoformat(prov['generated_at']):%Y-%m-%d %H:%M:%S} UTC"
