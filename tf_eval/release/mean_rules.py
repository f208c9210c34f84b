"""Whether a group's mean may be shown (threshold, proportion, all-same, dominance and p-ratio
checks: docs/disclosure-control.md#rates-and-means) and how a shown mean is released (its sum
with cell-key noise, kept in range and rounded to the noise's precision). The gate
(tf_eval.release.disclosure) applies both to every mean it lets out; they live here so that the
gate's module stays one idea per part.
"""

from __future__ import annotations

import math

import numpy as np

from tf_eval.governance.rules import Rules
from tf_eval.release import perturbation


def mean_reason(values: np.ndarray, binary: bool, rules: Rules) -> tuple[str, str] | None:
    """Why a group's mean of per-person `values` may not be shown, or None when it may."""
    n = values.size
    if n < rules.count_threshold:
        return "threshold", f"fewer than {rules.count_threshold} people"
    if binary:
        ones = int((values > 0).sum())
        if min(ones, n - ones) < rules.proportion_min:
            return "proportion", f"fewer than {rules.proportion_min} people with or without it"
        return None
    if np.ptp(values) == 0:  # a mean of 0 (or of 2 for everyone) tells each member's value
        return "all-same", "every person in the group has the same value"
    magnitudes = np.sort(np.abs(values))[::-1]
    total = magnitudes.sum()
    if magnitudes[: rules.dominance_n].sum() >= rules.dominance_k * total:
        return "dominance", (
            f"the {rules.dominance_n} largest contributors make up "
            f"{rules.dominance_k:.0%} or more of the total"
        )
    if total - magnitudes[:2].sum() < rules.p_ratio * magnitudes[0]:
        return "p-ratio", (
            f"the rest of the group sums to under {rules.p_ratio:.0%} of the largest contributor"
        )
    return None


def released_mean(
    y: np.ndarray, w: np.ndarray, cell: int, binary: bool, rules: Rules, ceiling: float | None
) -> tuple[float, int]:
    """A group's weighted mean as released: its sum plus cell-key noise scaled by the largest
    single contribution, over its total weight, kept within the values' natural range (0-1 for
    a rate; not below 0 for values that are never negative; not above `ceiling`) and rounded to
    the decimal place of the noise's size. Returns (mean, decimals)."""
    total = float(w.sum())
    contributions = np.abs(w * y)
    largest = float(contributions.max()) if contributions.size else 0.0
    noisy = (float((w * y).sum()) + perturbation.sum_noise(cell, largest, rules)) / total
    low = 0.0 if binary or (y >= 0).all() else -math.inf
    high = 1.0 if binary else (math.inf if ceiling is None else ceiling)
    places = perturbation.decimals(rules.sum_perturbation * largest / total)
    return round(min(max(noisy, low), high), places), places
