"""The council's estimates beside the national Troubled Families impact study's published
figures, for the outcomes both measure (issue 19).

The national study (Ministry of Housing, Communities and Local Government, 2019: the national
evaluation of the Troubled Families Programme 2015-2020, family outcomes) compared families on the
programme with a comparison group of families who joined it later, and gave the share of each
group with the outcome 19-24 months after joining. Its figures are constants of that publication,
not anyone's records, so they pass no gate; the council's side is the gated estimate itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tf_eval.data.outcomes import OUTCOMES
from tf_eval.release.disclosure import SafeEstimate
from tf_eval.release.headlines import WORDING, scaled, signed

SOURCE = (
    "Ministry of Housing, Communities and Local Government (2019), National evaluation of the "
    "Troubled Families Programme 2015-2020: family outcomes"
)
CAVEAT = (
    "The designs differ, so the figures are a guide, not a test: the national study compared "
    "families on the programme with families who joined it later, across England, by the share "
    "of each with the outcome 19-24 months after joining; this tool compares supported families "
    "with matched families identified at the same time and not (yet) supported, by the change in "
    "the share with a new episode in the follow-up after identification (the dashboard's 12 "
    "months; a 24-month follow-up, on the command line with --follow-up-months 24, comes nearest "
    "the national timing)."
)


# What comparison_rows' columns hold, for the words beside the table.
COLUMNS = (
    "National: the comparison families' share with the outcome, then the supported families' "
    "(their difference in percentage points, and as a share of the comparison families' rate). "
    "Here: this selection's estimate in percentage points, with its 95% interval."
)


@dataclass(frozen=True)
class NationalFigure:
    """One outcome's published shares (%): the comparison group's and the supported group's."""

    comparison: float
    supported: float

    @property
    def difference(self) -> float:
        """Supported less comparison, in percentage points."""
        return self.supported - self.comparison

    @property
    def relative(self) -> float:
        """The difference as a share of the comparison group's rate (%)."""
        return 100 * self.difference / self.comparison


# The national study's headline figures, 19-24 months after joining (% of each group's people).
FIGURES = {
    "looked_after": NationalFigure(comparison=2.5, supported=1.7),
    "custody_adult": NationalFigure(comparison=1.6, supported=1.2),
    "custody_juvenile": NationalFigure(comparison=0.8, supported=0.5),
    "juvenile_conviction": NationalFigure(comparison=4.6, supported=3.9),
}
assert set(FIGURES) <= set(OUTCOMES)


def comparison_rows(estimates: list[SafeEstimate], follow_up_months: int) -> list[dict[str, str]]:
    """A row per outcome both measure (`COLUMNS` says what each column holds): the national
    shares and their difference, and this selection's estimate with its 95% interval, or why it
    is not shown."""
    rows = []
    for estimate in estimates:
        figure = FIGURES.get(estimate.outcome)
        if figure is None:
            continue
        numbers = scaled(estimate)
        if numbers is None:
            here = f"not shown: {estimate.reason}"
        else:
            att, low, high = (signed(v, WORDING[estimate.outcome].digits) for v in numbers)
            here = f"{att} ({low} to {high})"
        rows.append(
            {
                "Outcome": OUTCOMES[estimate.outcome].label,
                "National": (
                    f"{figure.comparison:.1f}% \u2192 {figure.supported:.1f}% "
                    f"({signed(figure.difference, 1)}, {signed(figure.relative, 0)}%)"
                ),
                f"Here, {follow_up_months} months": here,
            }
        )
    return rows


def national_json(outcomes: list[str]) -> dict[str, Any] | None:
    """The JSON's `national_study`: the published figures for those of `outcomes` both measure
    (the estimates themselves are in the JSON's `estimates`), with the source and the caveat;
    None when there are none (an analysis file's columns, or a choice of other outcomes)."""
    shared = [k for k in outcomes if k in FIGURES]
    if not shared:
        return None
    return {
        "source": SOURCE,
        "caveat": CAVEAT,
        "months_after_joining": "19-24",
        "outcomes": [
            {
                "outcome": k,
                "comparison_percent": FIGURES[k].comparison,
                "supported_percent": FIGURES[k].supported,
                "difference_points": round(FIGURES[k].difference, 1),
                "relative_percent": round(FIGURES[k].relative, 1),
            }
            for k in shared
        ],
    }
