"""Whether an estimate may be shown (families in each group compared, residual degrees of
freedom, and for a 0/1 outcome people with and without the event:
docs/disclosure-control.md#estimates), how a shown one is released (its interval and p-value on
coarsened degrees of freedom, every number rounded), and the headline estimates' correlation
across outcomes as it may be shown. The gate (tf_eval.release.disclosure) applies them to every
estimate it lets out; they live here, as mean_rules does for means, so that the gate's module
stays one idea per part.
"""

from __future__ import annotations

import math

import pandas as pd
from scipy import stats

from tf_eval import config
from tf_eval.governance.rules import Rules, current_rules
from tf_eval.method.estimators import rare_event_df
from tf_eval.release.precision import coarse_df, released_number


def estimate_reason(
    arm_families: list[int], df_resid: int, rules: Rules | None = None
) -> str | None:
    """Why an estimate may not be shown (too few families in one of the groups it compares, or
    too few residual degrees of freedom), or None when it may."""
    rules = rules or current_rules()
    if min(arm_families) < rules.estimate_min_families:
        return f"fewer than {rules.estimate_min_families} families in a group compared"
    if df_resid < rules.estimate_min_df:
        return f"fewer than {rules.estimate_min_df} residual degrees of freedom"
    return None


def events_reason(
    events: tuple[int, int],
    people: tuple[int, int],
    compared: bool,
    rules: Rules,
    informative: int | None = None,
) -> str | None:
    """Why an estimate of a 0/1 outcome may not be shown, or None when it may: the people it
    compares, both groups together, need `proportion_min` with the event per group (20 for two
    groups; the supported group's 10 for a one-group estimate) in the window the estimate is
    about, and as many without. A rare event in a small selection (a juvenile's custody in one
    LA's cohort: 0-2 people) would otherwise give an estimate that rests on a few people, whose
    interval means little and whose records it reflects.

    Both groups together, not each: the total is all but uncorrelated with the difference
    between the groups' rates, so the estimates shown are not a biased selection of those made;
    holding each group's own count to 10 withheld exactly the samples where the smaller group
    happened to have few events. Ten per group on average, not ten in all: estimates resting on
    10-19 events had intervals covering the truth 89-98% of the time. (docs/method.md, the Monte
    Carlo study, has both.)

    And the smaller group needs more than `count_rounding` families holding the rarer answer
    (`informative`): they cap the estimate's degrees of freedom (tf_eval.method.estimators), so
    its interval would give their count back; rounded down (`released_df`) it gives a band of
    `count_rounding`, and 5 or fewer would round to none."""
    groups = 2 if compared else 1
    had = sum(events[:groups])
    without = sum(people[:groups]) - had
    need = rules.proportion_min * groups
    if min(had, without) < need:
        return f"fewer than {need} people with the outcome, or without it, among those compared"
    if informative is not None and informative <= rules.count_rounding:
        return (
            f"fewer than {rules.count_rounding + 1} families with the outcome, or without it, "
            "in a group compared"
        )
    return None


def released_df(df: float, rules: Rules, informative: int | None = None) -> int:
    """The degrees of freedom a released interval uses: `df` coarsened (`coarse_df`); or where
    they are a rare outcome's cap, its `informative` families less one times
    config.RARE_EVENT_DF_PER_FAMILY (tf_eval.method.estimators.rare_event_df), rounded down as
    that count would be, so that no count comes back finer than `count_rounding`."""
    if informative is not None and df == rare_event_df(informative):
        step = config.RARE_EVENT_DF_PER_FAMILY * rules.count_rounding
        return max(1, int(df) // step * step)
    return coarse_df(df, rules)


def released_estimate(
    numbers: dict[str, float],
    df: float,
    people: int | str | None,
    rules: Rules,
    informative: int | None = None,
) -> tuple[float | None, ...]:
    """att, se, ci_low, ci_high and p_value as released: the 95% interval and p-value recomputed
    from att and se with coarsened degrees of freedom (`released_df`), then every number rounded
    (`released_number`); all None when att or se is not a finite number."""
    att, se = float(numbers["att"]), float(numbers["se"])
    if not (math.isfinite(att) and math.isfinite(se)):
        return (None,) * 5
    dof = released_df(df, rules, informative)
    half = float(stats.t.ppf(0.975, dof)) * se
    p_value = float(2 * stats.t.sf(abs(att / se), dof)) if se > 0 else math.nan
    values = (att, se, att - half, att + half)
    shown = tuple(released_number(v, rules, people) for v in values)
    return (*shown, released_number(p_value, rules))


def released_correlation(correlation: pd.DataFrame, shown: list[str]) -> pd.DataFrame:
    """The headline estimates' correlation across outcomes (tf_eval.method.joint) as it may be
    shown: a row (`outcome`, then a column per outcome) for each outcome of `shown` (those whose
    estimate is shown: none for a withheld one) that has one, every value to
    config.CORRELATION_DECIMALS decimals. Each is a sum over every family of two shown estimates,
    scaled by their standard errors (docs/disclosure-control.md, Estimates)."""
    shown = [o for o in shown if o in correlation.index]
    known = correlation.loc[shown, shown].notna().all(axis=1)
    shown = [o for o in shown if known[o]]
    frame = correlation.loc[shown, shown].round(config.CORRELATION_DECIMALS) + 0.0
    return frame.rename_axis("outcome").reset_index()
