"""Findings in plain words for programme managers and boards, written from safe estimates only.

"School attendance rose 2.4 percentage points more than in similar families (95% CI: a rise of
2.2 to 2.5)." Proportions are shown as percentage points, decreases as positive amounts that
"fell", intervals in the same words as the chart draws them ("between a fall of 2.8 and a rise
of 1.2"), and an interval that includes no difference says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tf_eval import config
from tf_eval.data.outcomes import OUTCOMES, by_theme
from tf_eval.method.estimators import ESTIMATORS
from tf_eval.release import units
from tf_eval.release.disclosure import SafeEstimate, SafeEventStudy


@dataclass(frozen=True)
class Wording:
    subject: str  # what changed, as the start of a sentence
    says_unit: bool  # the unit follows the amount (False: the subject carries it)
    digits: int


WORDING = {
    "attendance": Wording("School attendance", True, 1),
    "offending": Wording("The share of people with a proven offence", True, 1),
    "worklessness": Wording("The share of days adults spent on out-of-work benefits", True, 1),
    "ae_use": Wording("A&E attendances per person", False, 2),
    "looked_after": Wording("The share of children who started being looked after", True, 2),
    "child_protection": Wording("The share of children put on a child protection plan", True, 2),
    "custody_adult": Wording("The share of adults given a custodial sentence", True, 2),
    "custody_juvenile": Wording("The share of 10-17s given a custodial sentence", True, 2),
    "juvenile_conviction": Wording("The share of 10-17s convicted", True, 2),
}
assert set(WORDING) == set(OUTCOMES)

# The outcomes whose 95% intervals by the default estimator (the pre-level adjustment) run a
# little narrow: the rarest, whose standard errors are a few per cent small. Over 550 seeds of the
# Monte Carlo study they covered the truth 92.9-94.4% of the time, by default and at 24 months
# (docs/method.md, "220 more seeds: the default over 550").
NARROW_INTERVALS = ("custody_juvenile", "juvenile_conviction")


def narrow_interval_note(estimates: Iterable[SafeEstimate]) -> str | None:
    """A sentence that names the outcomes among `estimates` shown (not withheld) whose intervals
    run a little narrow (NARROW_INTERVALS); None when there are none."""
    shown = {e.outcome for e in estimates if not e.withheld}
    named = [OUTCOMES[k].label for k in NARROW_INTERVALS if k in shown]
    if not named:
        return None
    names = " and ".join(label[0].lower() + label[1:] for label in named)  # mid-sentence
    return (
        f"The default estimator's 95% intervals of the rarest outcomes ({names}) are a little "
        "narrow: in the method notes' Monte Carlo study they covered the truth 93-94% of the "
        "time, not 95%."
    )


def scaled(estimate: SafeEstimate) -> tuple[float, float, float] | None:
    """The estimate and its interval in display units (tf_eval.release.units: percentage points
    for shares)."""
    if estimate.withheld:
        return None
    values = (estimate.att, estimate.ci_low, estimate.ci_high)
    return tuple(units.shown(v, estimate.outcome) for v in values)  # type: ignore[return-value]


def display_unit(outcome: str) -> str:
    """The unit of `scaled` values, for axis titles."""
    return units.unit(outcome).name


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
    numbers = scaled(estimate)
    if numbers is None:
        return f"{OUTCOMES[estimate.outcome].label}: not shown ({estimate.reason})."
    return effect_words(estimate.outcome, *numbers, follow_up_months, caution)


def themed_headlines(
    estimates: list[SafeEstimate], cautions: list[str | None], follow_up_months: int
) -> dict[str, list[str]]:
    """Each estimate's `headline` (with its caution) under its outcome's theme, themes in
    outcomes.THEMES' order: what the Overview, the pack and the command line list."""
    sentences = {
        e.outcome: headline(e, follow_up_months, caution)
        for e, caution in zip(estimates, cautions, strict=True)
    }
    return {theme: [sentences[k] for k in keys] for theme, keys in by_theme(sentences).items()}


def improved_title(outcomes: list[str], good: int, follow_up_months: int, withheld: int = 0) -> str:
    """An effects chart's title: how many of the outcomes support improved (`good`), naming their
    theme when they share one (the pages and the pack draw a chart per theme), as in "Support
    improved 2 of 4 crime and justice outcomes". The `withheld` (estimates the gate did not show)
    are counted apart: they are neither improved nor not."""
    when = f"in the {follow_up_months} months after families were identified"
    shown = len(outcomes) - withheld
    if len(outcomes) == 1:
        label = OUTCOMES[outcomes[0]].label
        if withheld:
            return f"{label}: no estimate can be shown {when}"
        return (
            f"{label}: improved by support {when}"
            if good
            else f"{label}: no clear improvement {when}"
        )
    themes = {OUTCOMES[o].theme for o in outcomes}
    theme = f"{themes.pop().lower()} " if len(themes) == 1 else ""
    if not shown:
        return f"No estimate of these {theme}outcomes can be shown {when}"
    kind = f"{theme}outcome{'s' if shown > 1 else ''}"
    share = f"all {shown}" if good == shown and shown > 1 else f"{good} of {shown}"
    if not withheld:
        return f"Support improved {share} {kind} {when}"
    return f"Support improved {share} {kind} shown {when} ({withheld} not shown)"


def effect_words(
    outcome: str,
    att: float,
    low: float,
    high: float,
    follow_up_months: int,
    caution: str | None = None,
) -> str:
    """`headline`'s sentence from numbers already in display units (as the command line's JSON
    gives them), so that the terminal says what the page says."""
    w = WORDING[outcome]
    verb = "rose" if att > 0 else "fell"
    amount = f"{abs(att):.{w.digits}f}" + (f" {display_unit(outcome)}" if w.says_unit else "")
    sentence = (
        f"{w.subject} {verb} {amount} more than in similar families over the "
        f"{follow_up_months} months after the family was identified "
        f"(95% CI: {interval_words(low, high, w.digits)})"
    )
    sentence += f", {caution}." if caution else "."
    if low <= 0 <= high:
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
    "looked_after": (100, "% who started being looked after that month"),
    "child_protection": (100, "% put on a child protection plan that month"),
    "custody_adult": (100, "% given a custodial sentence that month"),
    "custody_juvenile": (100, "% given a custodial sentence that month"),
    "juvenile_conviction": (100, "% convicted that month"),
}
assert set(TREND_AXIS) == set(OUTCOMES)

# How an outcome's effect, measured over the whole follow-up (tf_eval.method.panel), relates to
# its monthly values on Outcomes over time (tf_eval.release.trends), and what the effect is on.
# "total": the window's measure gathers every month of it (any proven offence in the window, A&E
# attendances in it), so the effect is larger than a month's gap; "average": a rate or share over
# the window (sessions attended, days on benefits), on the scale of a month's value.
# tests/test_trends.py holds each to the panel's and the trends' own measures.
EFFECT_WINDOW = {
    "attendance": ("average", "the share of school sessions attended"),
    "offending": ("total", "the share of people with any proven offence"),
    "worklessness": ("average", "the share of days adults spent on out-of-work benefits"),
    "ae_use": ("total", "A&E attendances per person"),
    "looked_after": ("total", "the share of children who started being looked after"),
    "child_protection": ("total", "the share of children put on a child protection plan"),
    "custody_adult": ("total", "the share of adults given a custodial sentence"),
    "custody_juvenile": ("total", "the share of 10-17s given a custodial sentence"),
    "juvenile_conviction": ("total", "the share of 10-17s convicted"),
}
assert set(EFFECT_WINDOW) == set(OUTCOMES)


def trend_versus_effect(outcome: str, follow_up_months: int) -> str:
    """Why a month's gap between the groups differs in size from the effect on Impact."""
    kind, what = EFFECT_WINDOW[outcome]
    if kind == "total":
        return (
            f"Each point is one month, but the effect on Impact is on {what} over the whole "
            f"{follow_up_months}-month follow-up, which gathers {follow_up_months} months: it is "
            "much larger than the gap in any one month."
        )
    return (
        f"Each point is one month; the effect on Impact is on {what} averaged over the whole "
        f"{follow_up_months}-month follow-up and set against the year before, so it is on the "
        "scale of these monthly gaps, not their sum."
    )


def pretrend_words(studies: list[SafeEventStudy]) -> str:
    """What the quarters before support say, outcome by outcome, in one paragraph for under the
    event study's chart (the verdict on Impact and the Overview weighs it with the rest)."""
    said = []
    for study in studies:
        label, p = OUTCOMES[study.outcome].label, study.pretrend_p_value
        if p is None:
            said.append(f"{label}: not shown ({study.pretrend_reason})")
            continue
        value = "p < 0.001" if p < 0.001 else f"p = {p:.3g}"
        if p < config.EVIDENCE_ALPHA:
            said.append(
                f"{label}: families who were later supported were already diverging from the "
                f"comparison families before support ({value}), so treat its effect with caution"
            )
        else:
            said.append(f"{label}: no clear difference before support ({value})")
    return "The quarters before support, tested together: " + "; ".join(said) + "."


def gathered_outcomes() -> list[str]:
    """The outcomes whose effect gathers the whole follow-up (EFFECT_WINDOW's "total"), by label."""
    return [OUTCOMES[key].label for key, (kind, _) in EFFECT_WINDOW.items() if kind == "total"]


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
                att, low, high = (signed(v, w.digits) for v in numbers)
                row[ESTIMATORS[key].short] = f"{att} ({low} to {high})"
    return list(rows.values())


def breakdown_rows(
    estimates: dict[str, SafeEstimate], dimension: str, follow_up_months: int
) -> list[dict[str, str]]:
    """One outcome's matched estimate in each group (a local authority or cohort) as a table row:
    the effect and its interval in words and display units, and what it says."""
    rows = []
    for group, estimate in estimates.items():
        w = WORDING[estimate.outcome]
        unit = display_unit(estimate.outcome)
        numbers = scaled(estimate)
        if numbers is None:
            rows.append({dimension: group, f"Effect ({unit})": "not shown", "95% interval": "",
                         "Reading": str(estimate.reason)})  # fmt: skip
            continue
        found = improved(estimate)
        reading = {
            True: f"improved over the {follow_up_months} months",
            False: f"worsened over the {follow_up_months} months",
            None: "includes no difference: could be chance",
        }[found]
        rows.append(
            {
                dimension: group,
                f"Effect ({unit})": signed(numbers[0], w.digits),
                "95% interval": interval_words(numbers[1], numbers[2], w.digits),
                "Reading": reading,
            }
        )
    return rows


def comparison_rows(
    first: tuple[str, list[SafeEstimate]], second: tuple[str, list[SafeEstimate]]
) -> list[dict[str, str]]:
    """Two analyses' estimates side by side, one row per outcome both estimate, and their
    difference (second minus first, as the page says beside it), in display units to a place
    more than the headlines (the released precision is three significant figures). Only
    released estimates are subtracted; a withheld one leaves its cell and the difference "not
    shown". Column names are the analyses' names (two different ones)."""
    (first_name, first_estimates), (second_name, second_estimates) = first, second
    others = {e.outcome: e for e in second_estimates}
    rows = []
    for estimate in (e for e in first_estimates if e.outcome in others):
        w = WORDING[estimate.outcome]
        digits = w.digits + 1
        pair = [scaled(estimate), scaled(others[estimate.outcome])]
        cells = [
            "not shown"
            if numbers is None
            else f"{signed(numbers[0], digits)} ({signed(numbers[1], digits)} to "
            f"{signed(numbers[2], digits)})"
            for numbers in pair
        ]
        difference = (
            "not shown"
            if None in pair
            else signed(round(pair[1][0] - pair[0][0], digits) + 0.0, digits)
        )
        rows.append(
            {
                "Outcome": f"{OUTCOMES[estimate.outcome].label} ({display_unit(estimate.outcome)})",
                first_name: cells[0],
                second_name: cells[1],
                "Difference": difference,
            }
        )
    return rows


def signed(value: float, digits: int) -> str:
    """A number with a true minus sign (a leading '-' would read as a formula in a spreadsheet)."""
    return f"{value:.{digits}f}".replace("-", "\u2212")


# Names inside the gate's suppression records (`Suppression.item`), in words: outcomes, sources,
# groups. Anything else is shown with its underscores turned into spaces.
_ITEM_WORDS = {
    **{key: outcome.label for key, outcome in OUTCOMES.items()},
    "offences": "Proven offences",
    "benefit_spells": "Out-of-work benefit spells",
    "ae_attendances": "A&E attendances",
    "social_care": "Children's social care episodes",
    "treated": "supported",
    "treated_matched": "supported, matched",
    "comparison_pool": "comparison pool",
    "comparison_matched": "comparison, matched",
}


def suppressed_item_words(item: str) -> str:
    """A suppression record's item as a person reads it: 'overview:coverage:records[source=
    benefit_spells, year=2005]' is 'coverage records: Out-of-work benefit spells, 2005' (the
    output it belongs to is named beside it)."""
    base, _, labels = item.partition("[")
    parts = [part for part in base.split(":") if part]
    names = [_item_word(part) for part in (parts[1:] or parts)]
    values = [
        _item_word(label.partition("=")[2])
        if "=" in label
        else label.rstrip(")").replace(",", " to ")  # a histogram bin, [from,to)
        for label in labels.rstrip("]").split(", ")
        if label
    ]
    return " ".join(names) + (f": {', '.join(values)}" if values else "")


def _item_word(name: str) -> str:
    return _ITEM_WORDS.get(name.strip(), name.strip().replace("_", " "))
