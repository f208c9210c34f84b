"""Covariate balance before and after matching, by the conventions of R's MatchIt and cobalt for
the ATT, so our tables can be checked against theirs.

Standardised mean differences (SMDs) divide by the treated group's standard deviation in the
full sample, before matching, for both columns: the yardstick stays fixed, so a change in SMD is
a change in the means, not in the scale. Continuous variables use the sample SD (n - 1); binary
ones sqrt(p(1 - p)), as Matchit's summary does. Beside them, what cobalt reports by default: the
raw difference in means (cobalt's statistic for a binary variable: a difference in proportions),
variance ratios before and after (continuous variables only), the largest difference between the
groups' empirical CDFs (the Kolmogorov-Smirnov statistic), and the effective sample size of each
group under the matching weights (`effective_sizes`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from tf_eval import config
from tf_eval.data.record_keys import cell_key
from tf_eval.method.propensity import as_treatment

COLUMNS = [
    "covariate",
    "smd_before",
    "smd_after",
    "variance_ratio_after",
    "mean_diff_before",
    "mean_diff_after",
    "variance_ratio_before",
    "ecdf_max_before",
    "ecdf_max_after",
]


def balance_table(
    balance: pd.DataFrame, binary: frozenset[str], treated, weights, distance=None
) -> pd.DataFrame:
    """One row per covariate (first `distance`, the propensity score, if given) with the columns
    of COLUMNS: SMDs, raw differences in means, variance ratios and the largest eCDF
    differences, before and after matching.

    `weights` are matching weights (0 = not matched); after-matching means, variances and eCDFs
    are weighted by them. The variance ratio (treated over comparison, cobalt's weighted variance)
    is for continuous variables only: a binary variable's variance is fixed by its mean.

    A covariate that does not vary among treated units has no scale to standardise by, so its
    SMDs are NaN rather than infinite: an infinite SMD would rank it worst of all when the
    difference may be tiny. The same goes for a variance ratio with no comparison variance.
    """
    flags = as_treatment(treated, len(balance))
    w = _weights(weights, len(balance))
    if not (w[flags] > 0).any() or not (w[~flags] > 0).any():
        raise ValueError("weights must be positive for some treated and some comparison units")
    unknown = binary - set(balance.columns)
    if unknown:
        raise ValueError(f"binary names columns not in the balance data: {sorted(unknown)}")
    columns = dict(balance.items())
    if distance is not None:
        if "distance" in columns:
            raise ValueError("the balance data already has a column named 'distance'")
        columns = {"distance": pd.Series(np.asarray(distance, dtype=float)), **columns}
    # One row per covariate, the covariates shared by config.ESTIMATE_THREADS threads (numpy's
    # sorts and bincounts release the GIL). At national scale the table takes about 2 s: 5-7 s
    # before the eCDFs ranked values by hashing and took a 0/1 variable's from its means.
    with ThreadPoolExecutor(max(1, min(config.ESTIMATE_THREADS, 2))) as pool:
        rows = list(
            pool.map(
                lambda item: _balance_row(item[0], item[1], flags, w, item[0] in binary),
                columns.items(),
            )
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def _balance_row(
    name: str, series: pd.Series, flags: np.ndarray, w: np.ndarray, is_binary: bool
) -> tuple:
    """One covariate's row of COLUMNS (balance_table)."""
    x = series.to_numpy(dtype=float)
    if x.shape != w.shape or not np.isfinite(x).all():
        raise ValueError(f"{name!r} must have a finite value for every row")
    xt, xc, wt, wc = x[flags], x[~flags], w[flags], w[~flags]
    if is_binary:
        p = xt.mean()
        sd = np.sqrt(p * (1 - p))
    else:
        sd = xt.std(ddof=1) if xt.size > 1 else np.nan
    before = xt.mean() - xc.mean()
    after = np.average(xt, weights=wt) - np.average(xc, weights=wc)
    ones_t, ones_c = np.ones(xt.size), np.ones(xc.size)
    ratios = [
        np.nan if is_binary else _ratio(_weighted_var(xt, a), _weighted_var(xc, b))
        for a, b in ((ones_t, ones_c), (wt, wc))
    ]
    return (
        name,
        _ratio(before, sd),
        _ratio(after, sd),
        ratios[1],
        float(before),
        float(after),
        ratios[0],
        # A 0/1 variable's CDFs differ only at 0, by the difference in proportions.
        *((abs(float(before)), abs(float(after))) if is_binary else _ecdf_max(x, flags, w)),
    )


def effective_sizes(treated, weights) -> dict[str, float]:
    """Kish's effective sample size of each group under the weights, (sum w)^2 / sum w^2: how many
    equally weighted units the weighted group is worth (cobalt's and MatchIt's "ESS"). Matching
    with replacement reuses controls, so the comparison group's is below its count."""
    flags = as_treatment(treated, np.size(treated))
    w = _weights(weights, len(flags))
    return {
        group: float(w[mask].sum() ** 2 / (w[mask] ** 2).sum()) if w[mask].sum() > 0 else 0.0
        for group, mask in (("treated", flags), ("comparison", ~flags))
    }


def _groups(treated, weights) -> dict[str, np.ndarray]:
    flags = as_treatment(treated, np.size(treated))
    kept = _weights(weights, len(flags)) > 0
    return {
        "treated": flags,
        "comparison_pool": ~flags,
        "treated_matched": flags & kept,
        "comparison_matched": ~flags & kept,
    }


def matched_counts(treated, weights) -> dict[str, int]:
    """Exact counts of units in each group, and of those the matching kept (positive weight);
    disclosure control is applied where they are shown, not here."""
    return {name: int(units.sum()) for name, units in _groups(treated, weights).items()}


def matched_cell_keys(treated, weights, keys) -> dict[str, int]:
    """The cell key of each group matched_counts counts: its units' record keys summed, modulo
    256 (tf_eval.data.record_keys), for the disclosure gate's noise."""
    keys = np.asarray(keys, dtype=np.int64)
    return {name: cell_key(keys[units]) for name, units in _groups(treated, weights).items()}


def _weights(weights, n: int) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,):
        raise ValueError(f"weights has {w.size:,} values for {n:,} rows")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and not negative")
    return w


def _ecdf_max(x: np.ndarray, flags: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """The largest gap between the groups' empirical CDFs over every observed value, before
    (every unit counts once) and after matching (weighted; units of weight 0 count for nothing).
    The values are ranked once for both."""
    position, levels = _ranks(x)
    gaps = []
    for w in (None, weights):
        cdf_t, cdf_c = (
            np.cumsum(
                np.bincount(
                    position[group], weights=None if w is None else w[group], minlength=levels
                )
            )
            / (group.sum() if w is None else w[group].sum())
            for group in (flags, ~flags)
        )
        gaps.append(float(np.abs(cdf_t - cdf_c).max()))
    return gaps[0], gaps[1]


def _ranks(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Each value's rank among the distinct values (np.unique's inverse) and how many there are.
    Most covariates take a few hundred values, which hashing finds faster than a sort (at
    national scale 0.1-0.3 s a covariate less); one whose first values are mostly distinct, such
    as the propensity score, is sorted, which is then faster."""
    head = x[:_RANK_SAMPLE]
    if np.unique(head).size > head.size // 2:
        _, position = np.unique(x, return_inverse=True)
        return position, int(position.max()) + 1
    position, values = pd.factorize(x, sort=True)
    return position, values.size


# How many of a covariate's first values _ranks looks at to choose between hashing and sorting.
_RANK_SAMPLE = 10_000


def _weighted_var(x: np.ndarray, w: np.ndarray) -> float:
    """cobalt's weighted variance, sum(w (x - m)^2) / (sum(w) - sum(w^2) / sum(w)): the sample
    variance (n - 1) when every weight is 1. NaN when the denominator is 0 (one unit)."""
    total = w.sum()
    mean = (w * x).sum() / total
    return _ratio((w * (x - mean) ** 2).sum(), total - (w**2).sum() / total)


def _ratio(top: float, bottom: float) -> float:
    """top / bottom, NaN when bottom is 0 or undefined (see balance_table)."""
    return float(top / bottom) if bottom > 0 else np.nan
