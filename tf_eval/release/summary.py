"""The command line's plain-text summary of an evaluation, written from its released JSON only
(tf_eval.release.results.to_json), so it can show nothing the JSON does not. It says what the
pages say, in their words and units (the headline sentences of tf_eval.release.headlines, the
outcomes' labels, percentage points for shares), and first of all whether the data are synthetic.
"""

from __future__ import annotations

import textwrap
from typing import Any

from tf_eval.data.outcomes import OUTCOMES, by_theme, in_theme_order
from tf_eval.method.estimators import ESTIMATORS
from tf_eval.release.headlines import display_unit, effect_words


def _p(value: float) -> str:
    return "p<0.001" if value < 0.001 else f"p={value:.3f}"


def _count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def summary_lines(result: dict[str, Any]) -> list[str]:
    """A plain-text summary of `to_json`'s result for a person at a terminal (the JSON has
    everything)."""
    lines = []
    if "data_source" in result:
        lines.append(f"Data: {result['data_source']}.")
    counts = {key: _count(value) for key, value in result["counts"].items()}
    store = "estimator" in result  # an evaluation of a store, not an analysis file
    treated, comparison = (
        ("supported families", "comparison families")
        if store
        else ("treated units", "comparison units")
    )
    lines.append(
        f"Matched {counts['treated_matched']} of {counts['treated']} {treated} with "
        f"{counts['comparison_matched']} of {counts['comparison_pool']} {comparison}."
    )
    for warning in result.get("warnings", []):
        lines.append(f"Note: {warning}")
    if store:
        lines.append(
            f"Estimator: {result['estimator']['label']} (assumes "
            f"{result['estimator']['assumption']})."
        )
    naive = {row["outcome"]: row for row in result.get("naive", [])}
    months = result["options"].get("follow_up_months")
    rows = {row["outcome"]: row for row in result["estimates"]}
    if all(outcome in OUTCOMES for outcome in rows):  # a store's outcomes, by theme
        for theme, outcomes in by_theme(rows).items():
            lines.append(f"{theme}:")
            lines += ["  " + _effect_line(rows[k], naive.get(k), months) for k in outcomes]
    else:
        lines += [_effect_line(row, naive.get(outcome), months) for outcome, row in rows.items()]
    placebo = [row for row in result.get("placebo", []) if not row["suppressed"]]
    if placebo:
        clear = [_label(row["outcome"]) for row in placebo if row["ci_low"] <= 0 <= row["ci_high"]]
        lines.append(
            "Placebo (the same comparison a year earlier, where there is nothing to find) "
            f"consistent with no difference: {', '.join(clear) or 'none'}."
        )
    tested = [r for r in result.get("checks", []) if r.get("pretrend_p_value") is not None]
    if tested:
        lines.append(
            "Quarters before support (the event study's joint test that the groups did not "
            "already differ; the JSON's event_study has every quarter): "
            + ", ".join(f"{_label(r['outcome'])} {_p(r['pretrend_p_value'])}" for r in tested)
            + "."
        )
    lines += _evidence_lines(result.get("checks", []))
    lines += _national_lines(result.get("national_study"))
    others: dict[str, list[str]] = {}
    for row in result.get("estimators", []):
        if row["estimator"] != _headline(result):
            value = "not shown" if row["suppressed"] else f"{row['att']:+g}"
            others.setdefault(row["outcome"], []).append(
                f"{ESTIMATORS[row['estimator']].short} {value}"
            )
    if others:
        lines.append("Other estimators (the same units; the JSON has their intervals):")
        lines += [f"  {_label(outcome)}: {', '.join(shown)}" for outcome, shown in others.items()]
    return lines


def _effect_line(row: dict[str, Any], naive: dict[str, Any] | None, months: int | None) -> str:
    """One outcome's effect: the page's sentence for a store's outcome, numbers in the column's
    own unit for an analysis file's."""
    label = _label(row["outcome"])
    if row["suppressed"]:
        return f"{label}: not shown ({row['reason']})."
    if row["outcome"] not in OUTCOMES or months is None:
        # Numbers as released (to the gate's significant figures), not padded with zeros.
        return (
            f"{label}: {row['att']:+g} (95% CI {row['ci_low']:+g} to {row['ci_high']:+g}, "
            f"{_p(row['p_value'])})"
        )
    line = effect_words(row["outcome"], row["att"], row["ci_low"], row["ci_high"], months)
    line += f" {_p(row['p_value'])}."
    if naive is not None and not naive["suppressed"]:
        change = naive["att"]
        words = (
            "none" if change == 0 else f"a {'rise' if change > 0 else 'fall'} of {abs(change):g}"
        )
        line += f" Naive change: {words} {display_unit(row['outcome'])}."
    return line


def _label(outcome: str) -> str:
    return OUTCOMES[outcome].label if outcome in OUTCOMES else outcome


def _headline(result: dict[str, Any]) -> str | None:
    return result.get("estimator", {}).get("name")


def _evidence_lines(checks: list[dict[str, Any]]) -> list[str]:
    """Each finding's verdict and its reasons (tf_eval.release.evidence), as the JSON has them."""
    if not checks:
        return []
    lines = ["Evidence (strong, moderate, weak or fails; docs/method.md says how it is judged):"]
    outcomes = [row["outcome"] for row in checks]
    if all(outcome in OUTCOMES for outcome in outcomes):  # in the effects' order, by theme
        order = in_theme_order(outcomes)
        checks = sorted(checks, key=lambda row: order.index(row["outcome"]))
    for row in checks:
        lines.append(f"  {_label(row['outcome'])}: {row['verdict']}")
        for reason in row["reasons"]:
            lines += textwrap.wrap(
                reason, 100, initial_indent=" " * 4 + "- ", subsequent_indent=" " * 6
            )
    return lines


def _national_lines(national: dict[str, Any] | None) -> list[str]:
    """The national study's published figures for the outcomes both measure (the JSON's
    `national_study`), to read beside the effects above."""
    if not national:
        return []
    lines = [
        f"National study ({national['months_after_joining']} months after joining; the designs "
        "differ, so a guide, not a test: the JSON's national_study has the caveat):"
    ]
    for row in national["outcomes"]:
        lines.append(
            f"  {_label(row['outcome'])}: {row['comparison_percent']:.1f}% of comparison families' "
            f"people, {row['supported_percent']:.1f}% of supported families' "
            f"({row['difference_points']:+.1f} points, {row['relative_percent']:+.0f}%)"
        )
    return lines
