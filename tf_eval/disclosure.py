"""Disclosure control (design.md section 5): the ONS 10-5 rule for counts, and the floor under
which an estimate is withheld.

A first helper: counts of 1-9 are suppressed and every other count is rounded to the nearest 5;
totals are computed from the protected cells, never from the exact ones. The full gate (safe
objects, magnitudes, differencing, the audit of suppressions) builds on this.
"""

from __future__ import annotations

import pandas as pd

from tf_eval import config

RULE_NOTE = (
    f"Counts are rounded to the nearest {config.COUNT_ROUNDING}; counts of 1-"
    f"{config.COUNT_THRESHOLD - 1} are suppressed (shown as {config.SUPPRESSED_MARK}); totals are "
    "sums of the rounded, unsuppressed cells."
)


def protect_counts(counts: pd.Series) -> pd.Series:
    """Apply the 10-5 rule: a nullable integer series where <NA> marks a suppressed cell."""
    exact = counts.astype("int64")
    if (exact < 0).any():
        raise ValueError("counts cannot be negative")
    rounded = (exact + config.COUNT_ROUNDING // 2) // config.COUNT_ROUNDING * config.COUNT_ROUNDING
    small = (exact > 0) & (exact < config.COUNT_THRESHOLD)
    return rounded.astype("Int64").mask(small)


def protected_total(protected: pd.Series) -> int:
    """A total derived from protected cells, so it reveals nothing the cells do not."""
    return int(protected.sum(skipna=True))


def protect_count(count: int) -> int | str:
    """One count under the 10-5 rule, as output shows it: a multiple of 5, or 'c'."""
    value = protect_counts(pd.Series([count])).iloc[0]
    return config.SUPPRESSED_MARK if pd.isna(value) else int(value)


def estimate_withheld(arm_families: list[int], df_resid: int) -> str | None:
    """Why an estimate may not be shown (too few families in one of the groups it compares, or
    too few residual degrees of freedom), or None when it may."""
    if min(arm_families) < config.ESTIMATE_MIN_FAMILIES:
        return f"fewer than {config.ESTIMATE_MIN_FAMILIES} families in a matched group"
    if df_resid < config.ESTIMATE_MIN_DF:
        return f"fewer than {config.ESTIMATE_MIN_DF} residual degrees of freedom"
    return None


def rules() -> dict[str, object]:
    """The rules in force, for output that must say how it was protected."""
    return {
        "count_threshold": config.COUNT_THRESHOLD,
        "count_rounding": config.COUNT_ROUNDING,
        "suppressed_mark": config.SUPPRESSED_MARK,
        "estimate_min_families_per_arm": config.ESTIMATE_MIN_FAMILIES,
        "estimate_min_residual_df": config.ESTIMATE_MIN_DF,
    }


def count_label(value: object) -> str:
    """How a protected count is written: '1,234' or 'c'."""
    return config.SUPPRESSED_MARK if pd.isna(value) else f"{int(value):,}"
