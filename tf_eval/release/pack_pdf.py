"""The board pack's PDF: headline findings in plain words, one page per chart, the method, the
disclosure rules in force and the provenance, in Latin-1 core fonts (no font files to ship)."""

from __future__ import annotations

import io
import json
import struct
from datetime import datetime
from typing import Any

from fpdf import FPDF

from tf_eval import config
from tf_eval.data.outcomes import OUTCOMES, by_theme
from tf_eval.governance.rules import RULE_DESCRIPTIONS
from tf_eval.method import specs
from tf_eval.method.covariates import listed_words
from tf_eval.method.estimate import AnalysisSpec
from tf_eval.method.estimators import ESTIMATORS
from tf_eval.method.panel import LATER_JOINERS
from tf_eval.release import charts, national, value
from tf_eval.release.headlines import headline, selection_words
from tf_eval.release.pack_contents import (
    GENERATOR,
    MANIFEST_NAME,
    Chart,
    PackContents,
    generated_words,
    provenance_summary,
)
from tf_eval.release.results import effective_size_sentence, findings, unmatched_warning

# --- the PDF --------------------------------------------------------------------------------------

# The PDF's core fonts (Helvetica) hold Latin-1: typographic punctuation becomes its plain form.
_PLAIN = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"'})
_PLAIN.update(str.maketrans({"\u201d": '"', "\u2264": "<=", "\u2265": ">=", "\u2026": "..."}))
_PLAIN.update(str.maketrans({"\u2212": "-", "\u2192": "->"}))  # signed numbers; national shares


def _latin1(text: str) -> str:
    return text.translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


def pack_title(contents: PackContents) -> str:
    spec = contents.spec
    return f"Family support: what changed for families ({selection_words(spec.la, spec.cohort)})"


def _method(spec: AnalysisSpec) -> str:
    """The method in one paragraph, for a board reader."""
    matches = "family" if spec.ratio == 1 else f"{spec.ratio} families"
    caliper = f" no further apart than {spec.caliper} SD of the score," if spec.caliper else ""
    later = " and were supported later" if spec.comparison == LATER_JOINERS else ""
    return (
        f"Each family supported within {config.ATTACHED_WITHIN_MONTHS} months of being identified "
        "is compared with similar families identified at the same time who were not yet "
        f"supported when their follow-up ended{later}. A logistic regression on the families' "
        "records in the "
        f"{config.PRE_WINDOW_MONTHS} months before ({len(spec.covariates)} characteristics) "
        f"gives each family's chance of support, and each supported family is matched to the "
        f"comparison {matches} with the nearest chance,{caliper} "
        f"{'with' if spec.replace else 'without'} replacement and exactly on "
        f"{listed_words(spec.exact)}. Every family is followed from the first day of "
        "the month it was identified, so supported and comparison families are compared over the "
        "same months, however long support took to start. The effect is the change from the "
        f"{config.PRE_WINDOW_MONTHS} months before to the {spec.follow_up_months} months after, "
        "in supported families minus in their matched comparison families "
        f"({ESTIMATORS[spec.estimator].label.lower()}, which assumes "
        f"{ESTIMATORS[spec.estimator].assumption}; two other estimators, on other assumptions, are "
        "in the effects table and on the dashboard's Impact page), "
        "with 95% intervals allowing for members of one family being alike. A placebo repeats "
        "the comparison a year earlier, when there was nothing to find, and the naive change "
        "shows what supported families' own before and after figures would suggest."
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


def _national(pdf: _PackPDF, rows: list[dict[str, str]]) -> None:
    """The national study's figures beside this selection's estimates, as on Impact (none when
    the analysis estimates none of the outcomes both measure)."""
    if not rows:
        return
    pdf.ln(3)
    pdf.heading("Beside the national study")
    pdf.paragraph(
        f"The national Troubled Families impact study ({national.SOURCE}). {national.COLUMNS} "
        f"A negative difference is a fall. {national.CAVEAT}",
        size=9.5,
    )
    pdf.set_font("Helvetica", size=9)
    pdf.set_text_color(0, 0, 0)
    with pdf.table(col_widths=(50, 62, 62), text_align="LEFT", line_height=5) as table:
        table.row(list(rows[0]))
        for row in rows:
            table.row([_latin1(cell) for cell in row.values()])


NOT_SET = (
    "The programme's cost per supported family was not given, so this pack says nothing about "
    "value for money: no default pretends to know it. Set it on the dashboard's Value for money "
    "page, or give `report --programme-cost GBP`."
)


def _value_page(pdf: _PackPDF, contents: PackContents) -> None:
    """The value for money in words, or that the programme's cost is not set."""
    pdf.add_page()
    pdf.heading("Value for money")
    if contents.value is None:
        pdf.paragraph(NOT_SET)
        return
    vfm = value.value_for_money(contents.results, contents.value)
    per_family = vfm.figures.per_family
    pdf.paragraph(value.headline(vfm))
    interval_text, pounds = value.interval_text, value.pounds
    if vfm.valued:
        pdf.paragraph(
            f"Benefit per supported family: {interval_text(per_family['fiscal'])} to the public "
            f"purse and {interval_text(per_family['economic'])} to society, against a programme "
            f"cost of {pounds(contents.value.model.programme_cost)} per family. Support pays for "
            f"itself to the public purse up to a cost of {pounds(per_family['fiscal'].estimate)} "
            f"per family (the break-even cost; {pounds(per_family['economic'].estimate)} to "
            "society). The two charts that follow show each outcome's part and what moves the "
            "answer."
        )
    if contents.value.illustrative:
        pdf.paragraph(
            "The unit costs are the illustrative default table: check each before use.", size=10
        )
    for r in vfm.outcomes:
        if r.withheld_because:
            pdf.bullet(f"{OUTCOMES[r.outcome].label} is left out: {r.withheld_because}.")
    pdf.heading("What the figures assume", size=11)
    for line in value.assumptions(vfm):
        pdf.bullet(line)


def render_pdf(
    contents: PackContents, figures: list[Chart], pngs: list[bytes], prov: dict[str, Any]
) -> bytes:
    spec, results = contents.spec, contents.results
    description = contents.overview.description
    pdf = _PackPDF(provenance_summary(prov))
    title = pack_title(contents)
    pdf.set_title(_latin1(title))
    pdf.set_author(f"tf-eval {config.VERSION}")
    pdf.set_creator(GENERATOR)
    pdf.set_subject(_latin1(provenance_summary(prov)))
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
        f"Generated {generated_words(prov)} by tf-eval {config.VERSION}.",
        size=9.5,
        colour=60,
    )
    pdf.ln(3)
    pdf.heading("What support changed")
    # Each headline worded no more strongly than its verdict, under its outcome's theme.
    verdicts = {check.outcome: check for check in findings(results)}
    estimates = {estimate.outcome: estimate for estimate in results.estimates}
    for theme, outcomes in by_theme(estimates).items():
        pdf.heading(theme, size=11.5)
        for key in outcomes:
            check = verdicts[key]
            pdf.bullet(
                f"{headline(estimates[key], spec.follow_up_months, check.caution)} "
                f"Verdict: {check.verdict}."
            )
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
    effective = effective_size_sentence(results.matching)
    if effective:
        pdf.paragraph(effective, size=9.5, colour=60)
    unmatched = unmatched_warning(results.matching)
    if unmatched:
        pdf.paragraph(unmatched, size=9.5)
    _national(pdf, national.comparison_rows(results.estimates, spec.follow_up_months))
    pdf.ln(3)
    pdf.heading("Method")
    pdf.paragraph(_method(spec))
    _value_page(pdf, contents)

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
        ("Generated", f"{generated_words(prov)} by tf-eval {config.VERSION}"),
        ("Data", data["source"]),
        ("Loads in the store", ", ".join(map(str, data["load_ids"])) or "none"),
        ("Newest load", data["newest_load_at"] or "none"),
    ]
    if data["kind"] == "demo":
        lines.append(
            ("Demo store", f"seed {data['demo_seed']}, {data['demo_families']:,} families")
        )
    lines += [
        # In words; manifest.json holds the same settings by their names, for a machine.
        (
            "Analysis",
            f"{prov['analysis']['name'] or 'default analysis'}: {specs.describe(contents.spec)}",
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
