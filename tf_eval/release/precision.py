"""How finely the disclosure gate releases a number: significant figures, and never finer than
the count of people it describes allows (tf_eval.release.disclosure applies it to every mean,
estimate and balance statistic it lets out), and the degrees of freedom a released interval
uses."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tf_eval.governance.rules import Rules


def released_number(
    value: float, rules: Rules, people: int | str | None = None, decimals: int | None = None
) -> float | None:
    """A number as released: rounded to `significant_figures` significant figures, and, when it
    describes people (`people`: their protected count, or the suppressed mark), never finer than
    the power of ten at or above 1 / people (0.01 for 100-999 people, whole numbers for a
    suppressed count). A full-precision mean of whole numbers gives away its exact count and sum
    (only one count in the rounding interval makes mean x count a whole number); at this step
    several counts and sums fit every shown mean. `decimals` caps the decimal places too (balance:
    3, thousandths of a standard deviation). None for a value that is not a finite number."""
    if value is None or not math.isfinite(value):
        return None
    if value == 0:
        return 0.0
    digits = rules.significant_figures - 1 - math.floor(math.log10(abs(value)))
    if people is not None:
        known = isinstance(people, int | np.integer) and people > 0
        digits = min(digits, math.floor(math.log10(people)) if known else 0)
    if decimals is not None:
        digits = min(digits, decimals)
    return float(round(value, digits)) + 0.0  # + 0.0: never a negative zero


def rounded_down(value: float, figures: int = 2) -> float:
    """A non-negative value to `figures` significant figures, rounded down: for a robustness
    bound, which must never claim more than was found."""
    if value <= 0:
        return 0.0
    digits = figures - 1 - math.floor(math.log10(value))
    return math.floor(value * 10**digits) / 10**digits


def released_columns(
    frame: pd.DataFrame,
    columns: tuple[str, ...],
    rules: Rules,
    people: str | None = None,
    decimals: int | None = None,
) -> pd.DataFrame:
    """`frame` with each of `columns` rounded by `released_number`, each row's step set by its
    protected count in column `people` when given (<NA>, suppressed, gives whole numbers);
    withheld values stay NaN."""
    out = frame.copy()
    for column in columns:
        shown = []
        for i, value in enumerate(out[column]):
            count = None
            if people is not None:
                n = out[people].iloc[i]
                count = rules.suppressed_mark if pd.isna(n) else int(n)
            rounded = (
                None if pd.isna(value) else released_number(float(value), rules, count, decimals)
            )
            shown.append(math.nan if rounded is None else rounded)
        out[column] = pd.Series(shown, index=out.index, dtype="float64")
    return out


def coarse_df(df: float, rules: Rules) -> int:
    """Degrees of freedom as a released interval uses them: rounded down to a multiple of the
    count rounding base. A t interval with exact df = families - 1 gives the exact family count
    back ((ci_high - att) / se is the t quantile); rounded down, it tells no more than the rounded
    count beside it. Bell-McCaffrey df below `estimate_min_families` - 1, the fewest an estimate
    that may be shown has as families - 1, cannot be a family count: they are only rounded down
    to a whole number (at least 1), so a small sample's interval is not inflated to t(1)."""
    if df < rules.estimate_min_families - 1:
        return max(1, math.floor(df))
    base = rules.count_rounding
    return max(1, int(df) // base * base)
