"""The command line's plain-text summary of an evaluation, written from its released JSON only
(tf_eval.release.results.to_json), so it can show nothing the JSON does not."""

from __future__ import annotations

import textwrap
from typing import Any


def _p(value: float) -> str:
    return "p<0.001" if value < 0.001 else f"p={value:.3f}"


def summary_lines(result: dict[str, Any]) -> list[str]:
    """A plain-text summary of `to_json`'s result for a person at a terminal (the JSON has
    everything)."""
    lines = []
    counts = result["counts"]
    lines.append(
        f"Matched {counts['treated_matched']} of {counts['treated']} treated units with "
        f"{counts['comparison_matched']} of {counts['comparison_pool']} comparison units."
    )
    for warning in result.get("warnings", []):
        lines.append(f"Note: {warning}")
    if "estimator" in result:
        lines.append(
            f"Estimator: {result['estimator']['label']} (assumes "
            f"{result['estimator']['assumption']})."
        )
    naive = {row["outcome"]: row for row in result.get("naive", [])}
    for row in result["estimates"]:
        if row["suppressed"]:
            lines.append(f"{row['outcome']:>13}: withheld ({row['reason']})")
            continue
        # Numbers as released (to the gate's significant figures), not padded with zeros.
        line = (
            f"{row['outcome']:>13}: {row['att']:+g} "
            f"(95% CI {row['ci_low']:+g} to {row['ci_high']:+g}, {_p(row['p_value'])})"
        )
        if row["outcome"] in naive and not naive[row["outcome"]]["suppressed"]:
            line += f"; naive before/after {naive[row['outcome']]['att']:+g}"
        lines.append(line)
    lines += _evidence_lines(result.get("checks", []))
    others = [r for r in result.get("estimators", []) if r["estimator"] != _headline(result)]
    if others:
        lines.append("Other estimators (see the JSON for their intervals):")
        for row in others:
            value = "withheld" if row["suppressed"] else f"{row['att']:+g}"
            lines.append(f"{row['outcome']:>13}: {value} ({row['estimator'].replace('_', ' ')})")
    return lines


def _headline(result: dict[str, Any]) -> str | None:
    return result.get("estimator", {}).get("name")


def _evidence_lines(checks: list[dict[str, Any]]) -> list[str]:
    """Each finding's verdict and its reasons (tf_eval.release.evidence), as the JSON has them."""
    if not checks:
        return []
    lines = ["Evidence (strong, moderate, weak or fails; docs/method.md says how it is judged):"]
    for row in checks:
        lines.append(f"{row['outcome']:>13}: {row['verdict']}")
        for reason in row["reasons"]:
            lines += textwrap.wrap(
                reason, 100, initial_indent=" " * 15 + "- ", subsequent_indent=" " * 17
            )
    return lines
