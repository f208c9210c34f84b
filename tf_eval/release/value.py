"""Value for money from released estimates only: what each outcome's effect is worth per
supported family, fiscal and economic, per pound spent and at break-even, with intervals and the
one-way sensitivity (tf_eval.method.value_model computes; this module decides what goes in).

Only an estimate the disclosure gate showed enters, at its released precision; a withheld one
leaves its outcome out with the gate's reason. People per supported family is the estimate's
released count of measured people over the released count of matched supported families: two
protected counts, so their ratio tells no more than they do. The effects are drawn jointly with
the estimates' correlation across outcomes as the gate released it (SafeResults.correlation),
or independently, and said so, where it gives none. What comes out is computed from those
released numbers and the user's own settings, so it tells nothing about any family that the
estimates do not; it is rounded to the estimates' significant figures.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from tf_eval import config
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.method.unit_costs import UNITS, UnitCost, UnitCosts, units_avoided_per_year
from tf_eval.method.value_model import (
    MEASURES,
    Figures,
    Interval,
    OutcomeInput,
    SensitivityRow,
    Settings,
    sensitivity,
    value,
)
from tf_eval.release.disclosure import SafeEstimate, combined_note
from tf_eval.release.results import SafeResults


@dataclass(frozen=True)
class ValueSettings:
    """What the user chose: the model's settings and the unit costs (`costs_file`: the name of
    the file they came from, None for the illustrative default table)."""

    model: Settings
    costs: UnitCosts
    costs_file: str | None = None

    @property
    def illustrative(self) -> bool:
        return self.costs_file is None


@dataclass(frozen=True)
class OutcomeValue:
    """One outcome's benefit per family (None when it is left out, with the reason)."""

    outcome: str
    cost: UnitCost | None
    people_per_family: float | None
    benefit: dict[str, Interval] | None
    withheld_because: str | None


@dataclass(frozen=True)
class ValueForMoney:
    settings: ValueSettings
    follow_up_months: int
    figures: Figures
    outcomes: list[OutcomeValue]
    sensitivity: list[SensitivityRow]
    note: str  # the disclosure note of the estimates it rests on
    # The valued outcomes' released correlation the draws used (outcome -> outcome -> r); None
    # when they were drawn independently.
    correlation: dict[str, dict[str, float]] | None = None

    @property
    def valued(self) -> bool:
        """Whether any outcome entered: with none, there are no figures to give (not zeros)."""
        return any(r.benefit is not None for r in self.outcomes)


def _matched_families(results: SafeResults) -> int | None:
    counts = results.matching.counts
    shown = dict(zip(counts.frame["group"], counts.shown("units"), strict=True))
    families = shown.get("treated_matched")
    return int(families) if isinstance(families, int | np.integer) and families > 0 else None


def _why_out(estimate: SafeEstimate, cost: UnitCost | None, families: int | None) -> str | None:
    if estimate.withheld:
        return f"its estimate is not shown ({estimate.reason})"
    if cost is None:
        return "the unit costs give no cost for it"
    if not isinstance(estimate.n_treated, int | np.integer) or families is None:
        return "the count of people or families it rests on is suppressed"
    return None


def value_for_money(results: SafeResults, settings: ValueSettings) -> ValueForMoney:
    """The value for money of an evaluation's headline estimates under `settings`."""
    follow_up = int(results.options.get("follow_up_months", config.FOLLOW_UP_MONTHS[0]))
    families = _matched_families(results)
    inputs, rows = [], []
    for e in results.estimates:
        cost = settings.costs.get(e.outcome)
        why = _why_out(e, cost, families)
        if why is not None:
            rows.append(OutcomeValue(e.outcome, cost, None, None, why))
            continue
        assert cost is not None and families is not None
        people = int(e.n_treated) / families
        inputs.append(
            OutcomeInput(
                e.outcome,
                float(e.att),
                float(e.se),
                e.df,
                people,
                units_avoided_per_year(e.outcome, follow_up),
                cost.fiscal,
                cost.economic,
            )
        )
        rows.append(OutcomeValue(e.outcome, cost, people, None, None))
    correlation = _correlation(results, [i.outcome for i in inputs])
    matrix = None if correlation is None else [list(r.values()) for r in correlation.values()]
    figures = value(
        inputs, settings.model, correlation=None if matrix is None else np.array(matrix)
    )
    rows = [
        r if r.withheld_because else replace(r, benefit=figures.by_outcome[r.outcome]) for r in rows
    ]
    labels = {key: o.label for key, o in OUTCOMES.items()}
    return ValueForMoney(
        settings,
        follow_up,
        figures,
        rows,
        sensitivity(inputs, settings.model, labels) if inputs else [],
        combined_note(list(results.estimates)),
        correlation,
    )


def _correlation(results: SafeResults, outcomes: list[str]) -> dict[str, dict[str, float]] | None:
    """The released correlation of the valued outcomes' estimates (outcome -> outcome -> r, in
    their order); None (the draws are then independent) when the gate released none for one."""
    table = results.correlation
    if table is None or not outcomes:
        return None
    frame = table.frame.set_index("outcome")
    if not set(outcomes) <= set(frame.index):
        return None
    return {a: {b: float(frame.loc[a, b]) for b in outcomes} for a in outcomes}


# --- as people read it ----------------------------------------------------------------------------


def rounded(value: float) -> float:
    """A figure to the estimates' significant figures: it is no more precise than they are."""
    if value == 0 or not math.isfinite(value):
        return 0.0 if value == 0 else value
    digits = config.SIGNIFICANT_FIGURES - 1 - math.floor(math.log10(abs(value)))
    return float(round(value, digits)) + 0.0


def pounds(value: float, pence: bool = False) -> str:
    """'£1,230' ('£2.28' with pence), a true minus sign for a loss."""
    shown = rounded(value)
    text = f"£{abs(shown):,.2f}" if pence else f"£{abs(shown):,.0f}"
    return ("\u2212" if shown < 0 else "") + text


def interval_text(interval: Interval, pence: bool = False) -> str:
    return (
        f"{pounds(interval.estimate, pence)} (95% interval {pounds(interval.low, pence)} to "
        f"{pounds(interval.high, pence)})"
    )


def headline(vfm: ValueForMoney) -> str:
    """The finding in one sentence, for the page, the summary and the pack."""
    if not vfm.valued:
        return (
            "No outcome could be valued (each is left out, with the reason), so there is no "
            "value for money to give."
        )
    ratio, years = vfm.figures.ratio, vfm.settings.model.years
    last = f"over {years} year{'s' * (years != 1)}"
    return (
        f"Each £1 spent on support returns {interval_text(ratio['fiscal'], True)} to the public "
        f"purse and {interval_text(ratio['economic'], True)} to society, {last}, at "
        f"{vfm.settings.costs.price_year} prices."
    )


def assumptions(vfm: ValueForMoney) -> list[str]:
    """Everything the figures assume, in words: on every surface beside them."""
    model, costs = vfm.settings.model, vfm.settings.costs
    which = (
        "the illustrative default table (figures of the order of public unit-cost databases: "
        "check each before use)"
        if vfm.settings.illustrative
        else f"'{costs.title}'"
    )
    decay = f", fading by {model.decay:.0%} a year" if model.decay else ""
    return [
        f"Money is in pounds at {costs.price_year} prices, from the unit costs of {which}.",
        f"Each effect is the matched estimate per person over the {vfm.follow_up_months}-month "
        "follow-up, turned into units a year: attendance in days of school missed "
        f"({config.SCHOOL_DAYS_PER_YEAR / 100:g} a year per percentage point of sessions), "
        "worklessness in years on benefit, the others spread evenly over the follow-up's years "
        "(a 0/1 outcome as if each person had at most one event).",
        "People per supported family are each outcome's measured people over the matched "
        "supported families (both released counts); the benefit is for those families.",
        f"Effects last {model.years} year{'s' * (model.years != 1)}{decay}, discounted at "
        f"{model.discount:.1%} a year (the first year undiscounted): in all "
        f"{vfm.figures.factor:.3g} times the first year's benefit.",
        draws_text(vfm),
        "People per family and unit costs are held fixed in the intervals; the sensitivity chart "
        "moves them, the persistence and the programme cost one at a time.",
        "Only estimates shown by the disclosure rules enter; only the outcomes measured count, "
        "and costs of overlapping outcomes (offending, convictions, custody) must not count the "
        "same cost twice.",
    ]


def draws_text(vfm: ValueForMoney) -> str:
    """How the intervals' draws treat the outcomes together: jointly, with the estimates'
    correlation, or independently where none was released."""
    draws = f"The 95% intervals come from {config.VFM_DRAWS:,} draws of the estimates"
    if vfm.correlation is not None:
        return (
            f"{draws}, drawn jointly: normal with the estimates' correlation across outcomes "
            "(the same families are in each; from each family's contribution to each estimate, "
            "released to two decimals), each outcome's then turned into its own sampling "
            "distribution (t with its degrees of freedom), so each keeps its own interval and "
            "outcomes that move together widen or narrow the totals' intervals as they should."
        )
    return (
        f"{draws}, each outcome's drawn independently from its own sampling distribution (t with "
        "its degrees of freedom): no correlation of the estimates across outcomes is available "
        "here (an analysis file, or an outcome without one), and outcomes of the same families "
        "may move together, which would widen or narrow the totals' intervals."
    )


def outcome_rows(vfm: ValueForMoney) -> list[dict[str, str]]:
    """The table under the chart: each outcome's benefit per family, or why it is left out."""
    rows = []
    for r in vfm.outcomes:
        row = {"Outcome": OUTCOMES[r.outcome].label}
        for m, words in (("fiscal", "Fiscal"), ("economic", "Economic")):
            shown = r.benefit and r.benefit[m]
            row[f"{words} benefit per family (95% interval)"] = (
                f"{pounds(shown.estimate)} ({pounds(shown.low)} to {pounds(shown.high)})"
                if shown
                else ""
            )
        people = r.people_per_family
        row["Measured people per family"] = "" if people is None else f"{rounded(people):g}"
        row["Left out because"] = r.withheld_because or ""
        rows.append(row)
    return rows


def cost_rows(vfm: ValueForMoney) -> list[dict[str, str]]:
    """The unit costs in use, one row per outcome costed."""
    return [
        {
            "Outcome": OUTCOMES[c.outcome].label,
            "Per": UNITS[c.outcome].words,
            "Fiscal": pounds(c.fiscal),
            "Economic": pounds(c.economic),
            "Borne by": c.agency,
            "Source": c.source,
        }
        for c in vfm.settings.costs.costs
    ]


def _interval_json(interval: Interval, valued: bool = True) -> dict[str, float | None]:
    """An interval as the JSON gives it; every number null when no outcome was valued."""
    numbers = (interval.estimate, interval.low, interval.high)
    return {
        key: rounded(number) if valued else None
        for key, number in zip(("estimate", "ci_low", "ci_high"), numbers, strict=True)
    }


def value_json(vfm: ValueForMoney, analysis: dict[str, Any]) -> dict[str, Any]:
    """The JSON of `vfm --json` (docs: the interface of issue 20), money in pounds at the unit
    costs' price year."""
    model, costs = vfm.settings.model, vfm.settings.costs
    figures = vfm.figures
    return {
        "options": {
            "programme_cost": model.programme_cost,
            "years": model.years,
            "decay": model.decay,
            "discount": model.discount,
            "costs": costs.title,
            "costs_file": vfm.settings.costs_file,
            "illustrative_costs": vfm.settings.illustrative,
            "price_year": costs.price_year,
            "follow_up_months": vfm.follow_up_months,
            "draws": config.VFM_DRAWS,
            "joint_draws": vfm.correlation is not None,
            "analysis": analysis,
        },
        "ratio": {m: _interval_json(figures.ratio[m], vfm.valued) for m in MEASURES},
        "per_family": {
            **{m: _interval_json(figures.per_family[m], vfm.valued) for m in MEASURES},
            "cost": model.programme_cost,
        },
        "by_outcome": [
            {
                "outcome": r.outcome,
                "unit": UNITS[r.outcome].words,
                "unit_cost": None
                if r.cost is None
                else {k: v for k, v in asdict(r.cost).items() if k != "outcome"},
                "people_per_family": None
                if r.people_per_family is None
                else rounded(r.people_per_family),
                **{
                    m: None if r.benefit is None else _interval_json(r.benefit[m]) for m in MEASURES
                },
                "withheld_because": r.withheld_because,
            }
            for r in vfm.outcomes
        ],
        "break_even_cost": {m: _interval_json(figures.per_family[m], vfm.valued) for m in MEASURES},
        "sensitivity": [
            {
                "setting": row.label,
                "low_case": row.low_case,
                "high_case": row.high_case,
                "low": {m: rounded(row.low[m]) for m in MEASURES},
                "high": {m: rounded(row.high[m]) for m in MEASURES},
            }
            for row in vfm.sensitivity
        ],
        "assumptions": assumptions(vfm),
        # The valued outcomes' estimates' correlation the draws used, as released; null when
        # they were drawn independently.
        "correlation": vfm.correlation,
    }


def summary_lines(vfm: ValueForMoney) -> list[str]:
    """The command line's plain-text summary."""
    figures, cost = vfm.figures, vfm.settings.model.programme_cost
    totals = [
        f"Benefit per supported family: {interval_text(figures.per_family['fiscal'])} fiscal, "
        f"{interval_text(figures.per_family['economic'])} economic, against a programme cost of "
        f"{pounds(cost)} per family.",
        "Break-even cost per family (the most support could cost and still pay for itself): "
        f"{pounds(figures.per_family['fiscal'].estimate)} fiscal, "
        f"{pounds(figures.per_family['economic'].estimate)} economic.",
    ]
    lines = [
        headline(vfm),
        *(totals if vfm.valued else []),
        "",
        "By outcome (present value per supported family, fiscal; economic):",
    ]
    for r in vfm.outcomes:
        label = OUTCOMES[r.outcome].label
        if r.benefit is None:
            lines.append(f"  {label}: left out, {r.withheld_because}")
        else:
            lines.append(
                f"  {label}: {interval_text(r.benefit['fiscal'])}; "
                f"{interval_text(r.benefit['economic'])}"
            )
    lines += ["", "Assumptions:", *(f"  - {a}" for a in assumptions(vfm))]
    return lines
