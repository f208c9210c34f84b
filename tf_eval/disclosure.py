"""Disclosure control: the ONS 10-5 rule for counts (design.md section 5).

A small first helper: counts of 1-9 are suppressed and every other count is rounded to the
nearest 5; totals are computed from the protected cells, never from the exact ones. The full gate
(safe objects, magnitudes, estimates, differencing) builds on this.
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


def count_label(value: object) -> str:
    """How a protected count is written: '1,234' or 'c'."""
    return config.SUPPRESSED_MARK if pd.isna(value) else f"{int(value):,}"
