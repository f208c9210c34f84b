"""The board pack: one analysis as files for a board - a PDF
(headline findings in plain words, one page per chart, the method, the disclosure rules in force
and the provenance), every chart as PNG (twice the size) and SVG, the table behind each chart as
CSV, and `manifest.json` (every file with its sha256, and the provenance).

It is built from the same safe objects the dashboard shows (`gather` calls the same functions;
the dashboard hands over its own cached ones), so a pack can never show more than the screen:
`write_pack` takes only a `PackContents`, whose every field passed the disclosure gate.

Provenance on every file: the data snapshot (load ids; seed and size of a demo store), the
analysis spec, the disclosure rules, when it was generated and the tf-eval version. The PDF has
it in its metadata (Subject in words, Keywords as JSON) and on its last page; a PNG in `tEXt`
chunks, an SVG in `<metadata>`, a CSV in leading `# ` lines (so
`pandas.read_csv(path, comment="#")` reads the table; no cell holds a `#`).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import math
import os
import shutil
import struct
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import kaleido
import plotly.graph_objects as go
from fpdf import FPDF
from kaleido.errors import (
    BrowserClosedError,
    BrowserFailedError,
    ChromeNotFoundError,
    KaleidoError,
)

from tf_eval import config
from tf_eval.data.store import Store
from tf_eval.governance import audit
from tf_eval.governance.rules import RULE_DESCRIPTIONS, Suppression
from tf_eval.method import specs
from tf_eval.method.estimate import AnalysisSpec, evaluate
from tf_eval.method.panel import build_panel
from tf_eval.release import charts
from tf_eval.release.disclosure import SafeEstimate, SafeTable
from tf_eval.release.headlines import headline
from tf_eval.release.overview import Overview, overview
from tf_eval.release.provenance import Provenance, provenance
from tf_eval.release.results import SafeResults, safe_evaluation
from tf_eval.release.trends import monthly_trends

Progress = Callable[[float, str], None]
PDF_NAME = "board-pack.pdf"
MANIFEST_NAME = "manifest.json"
GENERATOR = "tf-eval board pack"


class ReportError(RuntimeError):
    """The pack cannot be made or written; the message says why and what to do, in one line."""


@dataclass(frozen=True)
class PackContents:
    """Everything a board pack shows, each part already through the disclosure gate: the same
    objects the dashboard's Overview, Outcomes over time, Impact, Matching and Data pages show."""

    spec: AnalysisSpec  # settings only
    overview: Overview
    results: SafeResults
    trends: dict[str, SafeTable]
    provenance: Provenance

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


def gather(store: Store, spec: AnalysisSpec, progress: Progress | None = None) -> PackContents:
    """The pack's safe objects for `spec`, from the functions the dashboard calls (one panel
    shared by the estimates and the trends, as there). A selection under the differencing floor
    raises disclosure.SelectionRefused, and nothing about it leaves."""
    report = progress or (lambda fraction, message: None)
    report(0.0, "Building the outcome panel")
    panel = build_panel(store, spec.follow_up_months, spec.la, spec.cohort)
    report(0.1, "Matching families and estimating effects")
    results = safe_evaluation(evaluate(store, spec, panel=panel))
    report(0.3, "Following families month by month")
    trends = monthly_trends(store, spec, panel)
    report(0.4, "Counting families and records")
    today = datetime.now(UTC).date()  # the retention schedule is as of today, as on the page
    return PackContents(spec, overview(store), results, trends, provenance(store, today))


# --- what the pack holds ------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """One CSV: a title, a header and rows as written (a suppressed count is the mark)."""

    name: str
    title: str
    header: list[str]
    rows: list[list[object]]
    counts: tuple[str, ...]  # columns holding protected counts


@dataclass(frozen=True)
class Chart:
    """One chart of the pack, the sentence saying how to read it, and the table behind it."""

    name: str
    figure: go.Figure
    reading: str
    table: Table

    @property
    def title(self) -> str:
        return self.figure.layout.title.text

    @property
    def note(self) -> str:
        """The chart's disclosure footnote (charts._finish keeps it in the layout's meta)."""
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


ESTIMATE_COUNTS = ("n_treated", "n_comparison", "families_treated", "families_comparison")


def _estimates_table(results: SafeResults) -> Table:
    header = ["estimate", "outcome", "att", "se", "ci_low", "ci_high", "p_value"]
    header += [*ESTIMATE_COUNTS, "withheld_because"]
    kinds: dict[str, list[SafeEstimate]] = {
        "matched": results.estimates,
        "naive": results.naive,
        "placebo": results.placebo,
    }
    rows = [
        [kind, *(_cell(getattr(e, column)) for column in header[1:-1]), e.reason or ""]
        for kind, estimates in kinds.items()
        for e in estimates
    ]
    title = "Effects: matched estimate, naive change and placebo (outcome units; 95% CI)"
    return Table("effects", title, header, rows, ESTIMATE_COUNTS)


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
    source = charts.data_source(contents.overview.description)
    results, follow_up = contents.results, contents.spec.follow_up_months
    matching = results.matching
    plan = contents.provenance.retention
    found = [
        Chart(
            "effects",
            charts.effects_chart(
                results.estimates, source, follow_up, naive=results.naive, placebo=results.placebo
            ),
            "Each dot is an effect with its 95% interval, in the outcome's own unit. Blue compares "
            "supported with matched families (the estimate); red is supported families' own "
            "before/after change, which also holds their recovery from a crisis; grey repeats the "
            "comparison before support began, where there should be nothing to find.",
            _estimates_table(results),
        )
    ]
    for key, table in contents.trends.items():
        found.append(
            Chart(
                f"trend-{key}",
                charts.trend_chart(table, key, source),
                "Monthly averages with 95% bands, from 12 months before support began (month 0) "
                "to the end of follow-up. Both groups worsen before and recover after; the gap "
                "between them after month 0 is what support adds.",
                _safe_table(f"trend-{key}", f"Monthly {key}, supported and comparison", table),
            )
        )
    found += [
        Chart(
            "balance",
            charts.love_plot(matching.balance, source),
            "How different supported and comparison families were on each characteristic, before "
            "and after matching, in standard deviations: after matching every dot should be left "
            "of the dashed 0.1 line.",
            _safe_table(
                "balance", "Balance of covariates (standardised differences)", matching.balance
            ),
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
            charts.la_cohort_heatmap(contents.overview.by_la_cohort, "families", source),
            "Families identified in each local authority and year, across the whole store.",
            _safe_table(
                "families-by-la-cohort",
                "Families, people and supported families by local authority and cohort",
                contents.overview.by_la_cohort,
            ),
        ),
        Chart(
            "records-by-year",
            charts.coverage_chart(contents.overview.coverage, source),
            "Records per calendar year from each source: what the evaluation can see.",
            _safe_table(
                "records-by-year", "Records per year by source", contents.overview.coverage
            ),
        ),
        Chart(
            "retention",
            charts.retention_chart(plan.by_year, source),
            f"Families by the year their records must be destroyed ({plan.years} years after "
            "the later of their index month and the newest load about them, as the privacy "
            "notice promises).",
            _safe_table("retention", "Families by the year retention ends", plan.by_year),
        ),
    ]
    return found


def pack_tables(contents: PackContents, charts_: list[Chart]) -> list[Table]:
    """The table behind each chart, and the matched counts and exclusions they rest on."""
    extra = [
        _safe_table("matched-counts", "Families matched", contents.results.matching.counts),
    ]
    if contents.results.excluded is not None:
        title = "Families left out of the evaluation, by reason"
        extra.append(_safe_table("excluded-families", title, contents.results.excluded))
    return [chart.table for chart in charts_] + extra


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


def _summary(prov: dict[str, Any]) -> str:
    """The provenance in one line of words (PDF subject, footers)."""
    data = prov["data"]
    snapshot = (
        f"demo seed {data['demo_seed']}, {data['demo_families']:,} families"
        if data["kind"] == "demo"
        else f"loads {', '.join(map(str, data['load_ids'])) or 'none'}"
    )
    name = prov["analysis"]["name"] or "default analysis"
    return (
        f"{GENERATOR}, tf-eval {prov['tf_eval_version']}, generated {_when(prov)}; "
        f"data: {snapshot}; analysis: {name}"
    )


def _when(prov: dict[str, Any]) -> str:
    return f"{datetime.fromisoformat(prov['generated_at']):%Y-%m-%d %H:%M:%S} UTC"


def _words(value: object) -> str:
    """A setting as people read it: lists joined, no value as 'none'."""
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "none"
    return "none" if value is None else str(value)


# --- files ----------------------------------------------------------------------------------------


def _csv_bytes(table: Table, prov: dict[str, Any]) -> bytes:
    base = prov["disclosure_rules"]["count_rounding"]
    mark = prov["disclosure_rules"]["suppressed_mark"]
    lines = [
        f"# {table.title}",
        f"# {_summary(prov)}",
        (
            f"# counts ({', '.join(table.counts)}) are rounded to the nearest {base}; {mark} marks "
            "a suppressed count; an empty value was withheld by the disclosure rules"
            if table.counts
            else "# an empty value was withheld by the disclosure rules"
        ),
        f"# read with pandas.read_csv(path, comment='#'); provenance: {json.dumps(prov)}",
    ]
    out = io.StringIO()
    out.write("\n".join(lines) + "\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.header)
    writer.writerows(table.rows)
    text = out.getvalue()
    data_lines = text.split("\n")[len(lines) :]
    if any("#" in line for line in data_lines):  # read_csv(comment="#") would cut the line
        raise ReportError(f"table {table.name} holds a '#', which its readers would cut off")
    return text.encode("utf-8")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_with_text(png: bytes, text: dict[str, str]) -> bytes:
    """The PNG with `tEXt` chunks (latin-1 keyword and text) right after its header chunk."""
    header_end = 8 + 4 + 4 + 13 + 4  # signature, then IHDR's length, type, data and CRC
    chunks = b"".join(
        _png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace"))
        for key, value in text.items()
    )
    return png[:header_end] + chunks + png[header_end:]


def _svg_with_metadata(svg: bytes, title: str, prov: dict[str, Any]) -> bytes:
    """The SVG with a <title> and the provenance (JSON) in <metadata>, first inside <svg>."""
    text = svg.decode("utf-8")
    start = text.index("<svg")
    opened = text.index(">", start) + 1
    extra = (
        f"<title>{escape(title)}</title>"
        f'<metadata id="tf-eval-provenance">{escape(json.dumps(prov))}</metadata>'
    )
    return (text[:opened] + extra + text[opened:]).encode("utf-8")


def find_browser() -> str:
    """The Chromium that draws the charts, or a one-line ReportError naming the fix."""
    named = os.environ.get(config.BROWSER_ENV_VAR)
    if named:
        if not (Path(named).is_file() and os.access(named, os.X_OK)):
            raise ReportError(
                f"{config.BROWSER_ENV_VAR}={named} is not a program: point it at a Chrome or "
                f"Chromium executable, or unset it and `{config.BROWSER_INSTALL_HINT}`"
            )
        return named
    found = next(filter(None, map(shutil.which, config.BROWSER_NAMES)), None)
    if not found:
        raise ReportError(
            "chart images need a Chromium browser and none was found on PATH: install it with "
            f"`{config.BROWSER_INSTALL_HINT}` (or set {config.BROWSER_ENV_VAR} to a Chrome or "
            "Chromium executable)"
        )
    return found


def _draw_all(figures: list[go.Figure], browser: str, report: Progress) -> list[tuple[bytes, ...]]:
    """Every chart as PNG and SVG, with one headless browser for the whole pack, closed at the
    end (also after an error). Not kaleido's sync server (`start_sync_server`): when its browser
    fails to start, every later call waits forever; here the failure comes back as an error.
    MathJax is off: the charts use none, and it would be fetched from the network."""
    size = {"width": config.PACK_CHART_WIDTH}

    async def draw() -> list[tuple[bytes, ...]]:
        async with kaleido.Kaleido(path=browser, mathjax=False) as renderer:
            drawn = []
            for i, figure in enumerate(figures, start=1):
                report(0.45 + 0.45 * i / len(figures), f"Drawing chart {i} of {len(figures)}")
                opts = size | {"height": figure.layout.height}
                png = await renderer.calc_fig(
                    figure, opts=opts | {"format": "png", "scale": config.PACK_PNG_SCALE}
                )
                drawn.append((png, await renderer.calc_fig(figure, opts=opts | {"format": "svg"})))
            return drawn

    try:
        with ThreadPoolExecutor(1) as worker:  # its own event loop, wherever the caller runs
            return worker.submit(asyncio.run, draw()).result()
    except (BrowserFailedError, BrowserClosedError, ChromeNotFoundError, KaleidoError) as exc:
        said = str(exc.args[0]) if exc.args else type(exc).__name__  # choreographer: a tuple
        first = (said.splitlines() or [type(exc).__name__])[0]
        raise ReportError(f"the browser {browser} could not draw the charts: {first}") from None
    except TimeoutError:
        raise ReportError(f"the browser {browser} took too long to draw a chart") from None


def write_pack(
    contents: PackContents,
    folder: Path,
    browser: str,
    spec_name: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write every file of the pack into the existing, empty `folder`; return the manifest."""
    report = progress or (lambda fraction, message: None)
    generated_at = datetime.now(UTC)
    prov = pack_provenance(contents, spec_name, generated_at)
    figures = pack_charts(contents)
    tables = pack_tables(contents, figures)
    files: dict[str, bytes] = {}
    entries: list[dict[str, Any]] = []
    drawn = _draw_all([chart.figure for chart in figures], browser, report)
    for i, (chart, (png, svg)) in enumerate(zip(figures, drawn, strict=True), start=1):
        stem = f"charts/{i:02d}-{chart.name}"
        png_text = {"Title": chart.title, "Software": f"tf-eval {config.VERSION}"}
        files[f"{stem}.png"] = _png_with_text(
            png, png_text | {"tf-eval provenance": json.dumps(prov)}
        )
        files[f"{stem}.svg"] = _svg_with_metadata(svg, chart.title, prov)
        for fmt in ("png", "svg"):
            entries.append(
                {
                    "path": f"{stem}.{fmt}",
                    "kind": "chart",
                    "title": chart.title,
                    "table": f"tables/{chart.table.name}.csv",
                }
            )
    for table in tables:
        path = f"tables/{table.name}.csv"
        files[path] = _csv_bytes(table, prov)
        entries.append(
            {
                "path": path,
                "kind": "table",
                "title": table.title,
                "count_columns": list(table.counts),
            }
        )
    report(0.92, "Writing the PDF")
    pngs = [files[f"charts/{i:02d}-{c.name}.png"] for i, c in enumerate(figures, start=1)]
    files[PDF_NAME] = _pdf(contents, figures, pngs, prov)
    entries.insert(0, {"path": PDF_NAME, "kind": "pdf", "title": _title(contents)})
    for entry in entries:
        data = files[entry["path"]]
        entry |= {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    for path, data in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    manifest = {
        "generator": GENERATOR,
        "provenance": prov,
        "suppressed": len(contents.suppressed),
        "files": entries,
    }
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    report(1.0, "Board pack written")
    return manifest


# --- the PDF --------------------------------------------------------------------------------------

# The PDF's core fonts (Helvetica) hold Latin-1: typographic punctuation becomes its plain form.
_PLAIN = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"'})
_PLAIN.update(str.maketrans({"\u201d": '"', "\u2264": "<=", "\u2265": ">=", "\u2026": "..."}))


def _latin1(text: str) -> str:
    return text.translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


def _title(contents: PackContents) -> str:
    spec = contents.spec
    where = f"local authority {spec.la}" if spec.la else "all local authorities"
    when = f"families identified in {spec.cohort}" if spec.cohort else "all cohorts"
    return f"Family support: what changed for families ({where}, {when})"


def _method(spec: AnalysisSpec) -> str:
    """The method in one paragraph, for a board reader."""
    matches = "family" if spec.ratio == 1 else f"{spec.ratio} families"
    caliper = f" no further apart than {spec.caliper} SD of the score," if spec.caliper else ""
    return (
        f"Each family supported within {config.ATTACHED_WITHIN_MONTHS} months of being identified "
        "is compared with similar families identified at the same time who were not (yet) "
        "supported. A logistic regression on the families' records in the "
        f"{config.PRE_WINDOW_MONTHS} months before ({len(spec.covariates)} characteristics) "
        f"gives each family's chance of support, and each supported family is matched to the "
        f"comparison {matches} with the nearest chance,{caliper} "
        f"{'with' if spec.replace else 'without'} replacement and exactly on "
        f"{', '.join(spec.exact) or 'nothing'}. The effect is the difference in differences: "
        f"the change from the {config.PRE_WINDOW_MONTHS} months before to the "
        f"{spec.follow_up_months} months after support began, in supported families minus in "
        "their matched comparison families, from a weighted regression that also adjusts for "
        "the remaining differences, with 95% intervals allowing for members of one family being "
        "alike. A placebo repeats the comparison on the two years before support, when there "
        "was nothing to find, and the naive change shows what supported families' own before and "
        "after figures would suggest."
    )


class _PackPDF(FPDF):
    """A4 portrait with a footer on every page: provenance in short, and the page number."""

    def __init__(self, footer: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._footer = footer
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(auto=True, margin=18)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font("Helvetica", size=7.5)
        self.set_text_color(110, 110, 110)
        self.cell(0, 4, _latin1(f"{self._footer} | page {self.page_no()} of {{nb}}"), align="C")

    def heading(self, text: str, size: float = 14) -> None:
        self.set_font("Helvetica", "B", size)
        self.set_text_color(0, 0, 0)
        self.multi_cell(0, size * 0.5, _latin1(text), align="L", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def paragraph(self, text: str, size: float = 10.5, colour: int = 0) -> None:
        self.set_font("Helvetica", size=size)
        self.set_text_color(colour, colour, colour)
        self.multi_cell(0, size * 0.48, _latin1(text), align="L", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def bullet(self, text: str) -> None:
        self.set_font("Helvetica", size=10.5)
        self.set_text_color(0, 0, 0)
        self.cell(5, 5, "-")
        self.multi_cell(0, 5, _latin1(text), align="L", new_x="LMARGIN", new_y="NEXT")
        self.ln(1.5)


def _pdf(
    contents: PackContents, figures: list[Chart], pngs: list[bytes], prov: dict[str, Any]
) -> bytes:
    spec, results = contents.spec, contents.results
    description = contents.overview.description
    pdf = _PackPDF(_summary(prov))
    title = _title(contents)
    pdf.set_title(_latin1(title))
    pdf.set_author(f"tf-eval {config.VERSION}")
    pdf.set_creator(GENERATOR)
    pdf.set_subject(_latin1(_summary(prov)))
    pdf.set_keywords(json.dumps(prov))
    pdf.set_creation_date(datetime.fromisoformat(prov["generated_at"]))
    pdf.set_lang("en-GB")

    pdf.add_page()
    pdf.paragraph("tf-eval board pack", size=10, colour=90)
    pdf.heading(title, size=20)
    pdf.paragraph(f"Data: {charts.data_source(description)}.", colour=60)
    if description.get("kind") == "demo":
        pdf.set_text_color(180, 40, 0)
        pdf.set_font("Helvetica", "B", 10.5)
        pdf.multi_cell(
            0,
            5,
            "SYNTHETIC DATA: every family in this pack is made up; the effects were planted to "
            "check the method.",
            align="L",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.ln(2)
    pdf.paragraph(
        f"Analysis: {prov['analysis']['name'] or 'default analysis'} ({specs.describe(spec)}). "
        f"Generated {_when(prov)} by tf-eval {config.VERSION}.",
        size=9.5,
        colour=60,
    )
    pdf.ln(3)
    pdf.heading("What support changed")
    for estimate in results.estimates:
        pdf.bullet(headline(estimate, spec.follow_up_months))
    counts = dict(
        zip(
            results.matching.counts.frame["group"],
            results.matching.counts.labels()["units"],
            strict=True,
        )
    )
    pdf.paragraph(
        f"{counts['treated_matched']} of {counts['treated']} supported families were matched with "
        f"{counts['comparison_matched']} comparison families (from a pool of "
        f"{counts['comparison_pool']}).",
        size=9.5,
        colour=60,
    )
    pdf.ln(3)
    pdf.heading("Method")
    pdf.paragraph(_method(spec))

    for i, (chart, png) in enumerate(zip(figures, pngs, strict=True), start=1):
        pdf.add_page()
        pdf.paragraph(f"Figure {i} of {len(figures)}", size=9, colour=90)
        width_px, height_px = struct.unpack(">II", png[16:24])
        room_w, room_h = pdf.epw, pdf.eph - 55  # leave room for the caption below
        width = min(room_w, room_h * width_px / height_px)
        pdf.image(io.BytesIO(png), x=pdf.l_margin + (room_w - width) / 2, w=width)
        pdf.ln(3)
        pdf.paragraph(chart.reading, size=10)
        pdf.paragraph(
            f"{chart.note} Source: {chart.figure.layout.meta['source']}.", size=8.5, colour=80
        )

    pdf.add_page()
    pdf.heading("Disclosure control")
    rules = prov["disclosure_rules"]
    pdf.paragraph(
        "Nobody may be identifiable from anything in this pack. Every count, rate, estimate and "
        "chart passed these rules before it was drawn or written, and what they withheld was "
        f"written to the audit log. In this pack {len(contents.suppressed)} values were "
        "suppressed."
    )
    pdf.set_font("Helvetica", size=9)
    pdf.set_text_color(0, 0, 0)
    with pdf.table(col_widths=(44, 18, 112), text_align="LEFT", line_height=5) as table:
        table.row(["rule", "value", "meaning"])
        for name, value in rules.items():
            table.row([name, _latin1(str(value)), _latin1(RULE_DESCRIPTIONS[name])])

    pdf.add_page()
    pdf.heading("Provenance")
    data = prov["data"]
    lines = [
        ("Generated", f"{_when(prov)} by tf-eval {config.VERSION}"),
        ("Data", data["source"]),
        ("Loads in the store", ", ".join(map(str, data["load_ids"])) or "none"),
        ("Newest load", data["newest_load_at"] or "none"),
    ]
    if data["kind"] == "demo":
        lines.append(
            ("Demo store", f"seed {data['demo_seed']}, {data['demo_families']:,} families")
        )
    lines += [
        ("Analysis", prov["analysis"]["name"] or "default analysis"),
        *(
            (f"  {key}", "all" if value is None and key in ("la", "cohort") else _words(value))
            for key, value in prov["analysis"].items()
            if key != "name"
        ),
        ("Disclosure rules", "; ".join(f"{k} {v}" for k, v in rules.items())),
        ("Files", f"{MANIFEST_NAME} lists every file of this pack with its sha256"),
    ]
    for label, value in lines:
        pdf.set_font("Helvetica", "B", 9.5)
        pdf.set_text_color(0, 0, 0)
        pdf.cell(42, 5, _latin1(label))
        pdf.set_font("Helvetica", size=9.5)
        pdf.multi_cell(0, 5, _latin1(value), align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    return bytes(pdf.output())


# --- releasing the pack ---------------------------------------------------------------------------


def _log(contents: PackContents, store_path: Path, user: str, role: str, detail: dict) -> None:
    """Nothing leaves without its record: the suppressions, then the export itself."""
    audit.record_suppressions(store_path, "board pack", contents.suppressed, user, role)
    audit.append(store_path, user, role, "export", [{"output": "board pack", **detail}])


def _is_pack(folder: Path) -> bool:
    """A folder holding an earlier board pack, and nothing else: safe to replace."""
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        listed = {entry["path"] for entry in manifest["files"]} | {MANIFEST_NAME}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if manifest.get("generator") != GENERATOR:
        return False
    held = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    return held <= listed


def check_out(out: Path) -> None:
    """Refuse an --out that is a file, a non-empty folder that is not an earlier pack, or one
    whose parent folder is missing, before any work is done."""
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out} is a file; give a folder for the board pack")
    if out.is_dir() and any(out.iterdir()) and not _is_pack(out):
        raise ReportError(
            f"{out} is not empty and holds no earlier board pack; give a new or empty folder"
        )
    if not out.parent.is_dir():
        raise ReportError(f"the folder {out.parent} for the board pack does not exist")


def publish(
    contents: PackContents,
    out: Path,
    store_path: Path,
    user: str,
    role: str,
    spec_name: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the pack into a private folder beside `out` and move it into place whole (an
    earlier pack there is replaced): a failure at any point leaves `out` as it was."""
    check_out(out)
    browser = find_browser()
    building = Path(tempfile.mkdtemp(prefix=f".{out.name}.writing-", dir=out.parent))
    try:
        manifest = write_pack(contents, building, browser, spec_name, progress)
        _log(contents, store_path, user, role, {"to": str(out), "files": len(manifest["files"])})
        if out.exists():
            replaced = building.with_name(f".{out.name}.replaced-{os.getpid()}")
            out.rename(replaced)
            building.rename(out)
            shutil.rmtree(replaced)
        else:
            building.rename(out)
    finally:
        shutil.rmtree(building, ignore_errors=True)  # gone already once moved into place
    return manifest


@dataclass(frozen=True)
class BoardPack:
    """A pack in memory, for the dashboard's download buttons."""

    zip_name: str
    zip_bytes: bytes
    pdf_bytes: bytes
    manifest: dict[str, Any]
    seconds: float


def archive(
    contents: PackContents,
    store_path: Path,
    user: str,
    role: str,
    spec_name: str | None = None,
    progress: Progress | None = None,
) -> BoardPack:
    """The pack as a zip (one folder inside) and its PDF alone, logged as an export."""
    started = time.perf_counter()
    browser = find_browser()
    with tempfile.TemporaryDirectory(prefix="tf-eval-pack-") as building:
        folder = Path(building)
        manifest = write_pack(contents, folder, browser, spec_name, progress)
        stamp = datetime.fromisoformat(manifest["provenance"]["generated_at"])
        name = f"tf-eval-board-pack-{stamp:%Y%m%d-%H%M%S}"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as packed:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                packed.write(path, f"{name}/{path.relative_to(folder).as_posix()}")
        pdf = (folder / PDF_NAME).read_bytes()
    _log(contents, store_path, user, role, {"to": "download", "files": len(manifest["files"])})
    return BoardPack(f"{name}.zip", buffer.getvalue(), pdf, manifest, time.perf_counter() - started)
