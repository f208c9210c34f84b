"""The numbers behind each finding's evidence (docs/method.md, Evidence beside every finding):
how strong a hidden bias would need to be to explain an estimate away (the E-value; Rosenbaum's
Gamma on matched pairs), the smallest effect a comparison could reliably detect, and p-values
adjusted for reading several outcomes together (Holm).

Closed forms only, on plain numbers: the release stage applies them to the numbers the
disclosure gate has already let out (estimate, interval, standard error, degrees of freedom), so
that they tell nothing more. Rosenbaum's Gamma alone needs the matched pairs' differences, and
the outcome's standard deviation the people's values; the engine computes those two
(`Sensitivity`) and the gate rounds them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from tf_eval import config

# VanderWeele and Ding (2017): a standardised difference in means d is approximately a risk
# ratio of exp(0.91 d) (Chinn's conversion via the odds ratio, with the square-root transform).
SMD_TO_LOG_RR = 0.91


@dataclass(frozen=True)
class Sensitivity:
    """What the evidence checks need from the engine for one outcome, beyond the estimate.
    Exact values: the disclosure gate rounds them (tf_eval.release.disclosure.safe_estimate)."""

    outcome: str
    # The outcome's standard deviation among the matched people (the two groups' variances
    # averaged, each under the matching weights): the yardstick of the E-value's d.
    outcome_sd: float
    # Rosenbaum's Gamma at which the matched pairs' signed-rank test stops being significant;
    # None when the matching made no pairs (with replacement, or several controls per unit).
    gamma: float | None
    pairs: int  # matched pairs with a difference (0 when there are no pairs)


def e_value(risk_ratio: float) -> float:
    """VanderWeele and Ding's E-value of a risk ratio: the strength (as a risk ratio with both
    the treatment and the outcome) an unmeasured confounder would need to explain it away.
    A ratio below 1 is inverted first."""
    rr = risk_ratio if risk_ratio >= 1 else 1 / risk_ratio
    return rr + math.sqrt(rr * (rr - 1))


def e_values(
    att: float, ci_low: float, ci_high: float, sd: float
) -> tuple[float | None, float | None]:
    """The E-values of a difference in means and of its interval's limit nearer no effect, via
    d = att / sd and RR = exp(0.91 d). The limit's is 1 when the interval includes 0 (no
    confounding is needed to move it there). (None, None) when sd is not a positive number."""
    if not (math.isfinite(sd) and sd > 0):
        return None, None
    estimate = e_value(math.exp(SMD_TO_LOG_RR * att / sd))
    if ci_low <= 0 <= ci_high:
        return estimate, 1.0
    nearer = ci_low if att > 0 else ci_high
    return estimate, e_value(math.exp(SMD_TO_LOG_RR * nearer / sd))


def minimum_detectable_effect(se: float, df: float) -> float:
    """The smallest true effect a two-sided 5% t test on `df` degrees of freedom finds 80% of
    the time with this standard error: (t_0.975 + t_0.8) x se (Bloom 1995)."""
    quantiles = stats.t.ppf(1 - config.EVIDENCE_ALPHA / 2, df) + stats.t.ppf(
        config.EVIDENCE_POWER, df
    )
    return float(quantiles * se)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the k-th smallest of m is
    multiplied by m - k + 1, kept at least as large as the one before it and at most 1."""
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda j: p_values[j])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _signed_ranks(differences: np.ndarray) -> tuple[float, np.ndarray]:
    """The signed-rank statistic (sum of the ranks of |d| over positive d, zeros dropped, ties
    given their average rank) and the ranks themselves."""
    d = differences[differences != 0]
    ranks = stats.rankdata(np.abs(d))
    return float(ranks[d > 0].sum()), ranks


def rosenbaum_p_upper(differences: np.ndarray, gamma: float) -> float:
    """The upper bound on the one-sided p-value of Wilcoxon's signed-rank test (for a positive
    effect) when hidden bias may make one unit of a pair up to `gamma` times as likely as the
    other to be treated (Rosenbaum 2002, section 4.3): the statistic is at most a sum of each
    rank times an independent Bernoulli(gamma / (1 + gamma)), taken as normal."""
    t, ranks = _signed_ranks(np.asarray(differences, dtype=float))
    if ranks.size == 0:
        return 1.0
    p = gamma / (1 + gamma)
    mean, var = p * ranks.sum(), p * (1 - p) * (ranks**2).sum()
    return float(stats.norm.sf((t - mean) / math.sqrt(var)))


def rosenbaum_gamma(differences: np.ndarray, alpha: float | None = None) -> float:
    """The Gamma at which the upper bound on the one-sided p-value reaches `alpha` (default
    half of config.EVIDENCE_ALPHA: a two-sided 5% test), for differences oriented so that the
    effect found is positive: how much hidden bias the pairs' result withstands. 1 when it is
    not significant even with no hidden bias."""
    level = config.EVIDENCE_ALPHA / 2 if alpha is None else alpha
    d = np.asarray(differences, dtype=float)
    if rosenbaum_p_upper(d, 1.0) >= level:
        return 1.0
    # The bound rises with Gamma towards at least 1/2 (every rank's sign a coin weighted to +),
    # so the level is crossed once; solved on log Gamma.
    root = optimize.brentq(
        lambda log_gamma: rosenbaum_p_upper(d, math.exp(log_gamma)) - level,
        0.0,
        math.log(1e6),
        xtol=1e-10,
    )
    return math.exp(root)


def pooled_sd(values: np.ndarray, treated: np.ndarray, weights: np.ndarray) -> float:
    """The square root of the mean of the treated and comparison groups' variances of `values`
    under the matching `weights` (cobalt's weighted variance; units of weight 0 left out). NaN
    when either group has fewer than two units."""
    variances = []
    for group in (treated, ~treated):
        keep = group & (weights > 0)
        x, w = values[keep], weights[keep]
        total = w.sum()
        bottom = total - (w**2).sum() / total if total > 0 else 0.0
        if bottom <= 0:
            return math.nan
        mean = (w * x).sum() / total
        variances.append(float((w * (x - mean) ** 2).sum() / bottom))
    return math.sqrt(sum(variances) / 2)


def sensitivity(
    outcome: str,
    values: np.ndarray,
    unit_values: np.ndarray,
    treated_people: np.ndarray,
    weights_people: np.ndarray,
    pairs: np.ndarray | None,
    direction: float,
) -> Sensitivity:
    """One outcome's `Sensitivity`. `values` are its people's (or rows') outcome levels with
    their group and matching weight, for the standard deviation; `unit_values` each matched
    unit's mean of what the estimate compares (NaN where it has none), for the pairs (rows of
    treated unit, comparison unit); `direction` the sign of the estimate."""
    sd = pooled_sd(values, treated_people, weights_people)
    if pairs is None:
        return Sensitivity(outcome, sd, None, 0)
    diffs = unit_values[pairs[:, 0]] - unit_values[pairs[:, 1]]
    diffs = diffs[np.isfinite(diffs)] * (1.0 if direction >= 0 else -1.0)
    pairs_used = int((diffs != 0).sum())
    gamma = rosenbaum_gamma(diffs) if pairs_used else None
    return Sensitivity(outcome, sd, gamma, pairs_used)
