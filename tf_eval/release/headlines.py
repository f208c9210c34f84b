"""Findings in plain words for programme managers and boards, written from safe estimates only.

"School attendance rose 2.4 percentage points more than in similar families (95% CI: a rise of
2.2 to 2.5)." Proportions are shown as percentage points, decreases as positive amounts that
"fell", intervals in the same words as the chart draws them ("between a fall of 2.8 and a rise
of 1.2"), and an interval that includes no difference says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from tf_eval.data.outcomes import OUTCOMES
from tf_eval.method.estimators import ESTIMATORS
from tf_eval.release.disclosure import SafeEstimate


@dataclass(frozen=True)
class Wording:
    subject: str  # what changed, as the start of a sentence
    scale: float  # multiply the estimate by this to get `unit`
    unit: str  # after the amount ("" when the subject carries the unit)
    digits: int


WORDING = {
    "attendance": Wording("School attendance", 1, " percentage points", 1),
    "offending": Wording("The share of people with a proven offence", 100, " percentage points", 1),
    "worklessness": Wording(
        "The share of days adults spent on out-of-work benefits", 100, " percentage points", 1
    ),
    "ae_use": Wording("A&E attendances per person", 1, "", 2),
}
assert set(WORDING) == set(OUTCOMES)


def scaled(estimate: SafeEstimate) -> tuple[float, float, float] | None:
    """The estimate and its interval in display units (percentage points for proportions)."""
    if estimate.withheld:
        return None
    w = WORDING[estimate.outcome]
    return estimate.att * w.scale, estimate.ci_low * w.scale, estimate.ci_high * w.scale


def display_unit(outcome: str) -> str:
    """The unit of `scaled` values, for axis titles."""
    return WORDING[outcome].unit.strip() or OUTCOMES[outcome].unit


def selection_words(la: str | None, cohort: int | None) -> str:
    """The local authority and cohort an output covers, in words, for titles and footnotes."""
    where = f"local authority {la}" if la else "all local authorities"
    when = f"families identified in {cohort}" if cohort else "all cohorts"
    return f"{where}, {when}"


def interval_words(low: float, high: float, digits: int) -> str:
    """An interval in the words of the chart that draws it: "a rise of 1.4 to 2.8", "a fall of
    1.1 to 2.7", "between a fall of 2.8 and a rise of 1.2". Signed numbers beside "fell" (-1.2
    to 2.8 for a fall drawn from -2.8 to 1.2) read the wrong way round."""
    low, high = round(low, digits) + 0.0, round(high, digits) + 0.0

    def size(value: float) -> str:
        return f"{abs(value):.{digits}f}"

    if low >= 0:
        return f"a rise of {size(low)} to {size(high)}"
    if high <= 0:
        return f"a fall of {size(high)} to {size(low)}"
    return f"between a fall of {size(low)} and a rise of {size(high)}"


def headline(estimate: SafeEstimate, follow_up_months: int, caution: str | None = None) -> str:
    """One sentence for one outcome's matched estimate; `caution`, its verdict's qualification
    (tf_eval.release.evidence.Check.caution: "but ...: treat with caution"), makes it no
    stronger than its evidence."""
    w = WORDING[estimate.outcome]
    numbers = scaled(estimate)
    if numbers is None:
        return f"{OUTCOMES[estimate.outcome].label}: not shown ({estimate.reason})."
    att, low, high = numbers
    verb = "rose" if att > 0 else "fell"
    amount = f"{abs(att):.{w.digits}f}{w.unit}"
    sentence = (
        f"{w.subject} {verb} {amount} more than in similar families over the "
        f"{follow_up_months} months after the family was identified "
        f"(95% CI: {interval_words(low, high, w.digits)})"
    )
    sentence += f", {caution}." if caution else "."
    if estimate.ci_low <= 0 <= estimate.ci_high:
        sentence += " The interval includes no difference, so this could be chance."
    return sentence


def improved(estimate: SafeEstimate) -> bool | None:
    """True if the whole interval lies on the good side of zero, False if on the bad side,
    None if it includes zero or was withheld."""
    if estimate.withheld:
        return None
    good_up = OUTCOMES[estimate.outcome].good_direction == "up"
    if estimate.ci_low > 0:
        return good_up
    if estimate.ci_high < 0:
        return not good_up
    return None


# How each outcome's monthly value is shown on the Outcomes over time page: scale and axis title.
TREND_AXIS = {
    "attendance": (1, "% of sessions attended<br>(terms starting that month)"),  # 2 lines fit
    "offending": (100, "% with a proven offence that month"),
    "worklessness": (100, "% on an out-of-work benefit mid-month"),
    "ae_use": (1, "A&E attendances per person that month"),
}
assert set(TREND_AXIS) == set(OUTCOMES)


def estimator_rows(estimators: dict[str, list[SafeEstimate]]) -> list[dict[str, str]]:
    """One row per outcome, one column per estimator: each estimate and its 95% interval in
    display units (`display_unit`: say them beside the table), for a table that sets them side by
    side (ESTIMATORS says what each assumes). A withheld estimate says so."""
    rows: dict[str, dict[str, str]] = {}
    for key, listed in estimators.items():
        for estimate in listed:
            w = WORDING[estimate.outcome]
            row = rows.setdefault(estimate.outcome, {"Outcome": OUTCOMES[estimate.outcome].label})
            numbers = scaled(estimate)
            if numbers is None:
                row[ESTIMATORS[key].short] = "not shown"
            else:
                att, low, high = (_signed(v, w.digits) for v in numbers)
                row[ESTIMATORS[key].short] = f"{att} ({low} to {high})"
    return list(rows.values())


def _signed(value: float, digits: int) -> str:
    """A number with a true minus sign (a leading '-' would read as a formula in a spreadsheet)."""
    return f"{value:.{digits}f}".replace("-", "\u2212")
