"""Weighted least squares with standard errors clustered by family: the regression behind every
estimate.

It gives statsmodels' numbers (`WLS(...).fit(cov_type="cluster", use_t=True)`: CR1 variance, t
intervals with clusters - 1 degrees of freedom; the tests hold the two together to 1e-9) without
its cost at scale. statsmodels solves through an SVD of the whole people x columns design, which
took three quarters of an evaluation's time at 100,000 families and grows with every person.
Here the design is reduced to its columns x columns cross-products in blocks of rows, so the
work is one pass over the rows and no copy of the design is made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, sparse, stats

# Rows per block when forming cross-products: bounds the temporary copy to a few MiB.
BLOCK_ROWS = 65_536
# A column is dropped when, after scaling, it is (nearly) a combination of the columns before it.
COLLINEAR_TOLERANCE = 1e-10


@dataclass(frozen=True)
class ClusteredFit:
    """Coefficients and cluster-robust standard errors of the kept columns; a dropped column's
    are NaN."""

    params: np.ndarray
    bse: np.ndarray
    kept: np.ndarray  # bool per column
    df: int  # clusters - 1, the t distribution's degrees of freedom
    clusters: int

    @property
    def parameters(self) -> int:
        """The coefficients estimated (the columns kept)."""
        return int(self.kept.sum())

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom: clusters less the parameters estimated. With as many
        parameters as clusters the fit reproduces every cluster and its standard errors mean
        nothing (the disclosure gate's rule counts these, not clusters - 1)."""
        return self.clusters - self.parameters

    def conf_int(self, column: int, alpha: float = 0.05) -> tuple[float, float]:
        half = stats.t.ppf(1 - alpha / 2, self.df) * self.bse[column]
        return float(self.params[column] - half), float(self.params[column] + half)

    def p_value(self, column: int) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):  # no standard error: NaN
            return float(2 * stats.t.sf(abs(self.params[column] / self.bse[column]), self.df))


def fit_clustered_wls(
    y: np.ndarray,
    design: np.ndarray,
    weights: np.ndarray,
    groups: np.ndarray | None = None,
    protected: int = 1,
    observations: int | None = None,
) -> ClusteredFit:
    """Regress `y` on the columns of `design` with positive `weights`, clustered by `groups`
    (codes 0..G-1), or with each row its own cluster when `groups` is None.

    Columns after the first `protected` that are constant or collinear with those before them
    are dropped (within one outcome's population some covariates are constant, e.g. every child
    counted for attendance has a pupil in the family); a singular protected column is an error.

    `observations` is the number of people behind the rows when each row is a family's mean
    (weights then carry the family's size): the fit is the people-level one
    (tf_eval.method.estimate's family_difference explains why), and its small-sample correction
    counts people.
    """
    n, k = design.shape
    gram = _cross_products(design, np.sqrt(weights))
    kept = _independent(gram, protected)
    scale = np.sqrt(np.diag(gram)[kept])
    scaled = gram[np.ix_(kept, kept)] / np.outer(scale, scale)
    try:
        factor = linalg.cho_factor(scaled)
    except linalg.LinAlgError:
        raise ValueError(
            "the regression is singular: the groups compared cannot be told apart"
        ) from None
    # Dropped columns get a zero coefficient, so the full design serves without a copy.
    beta = np.zeros(k)
    beta[kept] = linalg.cho_solve(factor, (design.T @ (weights * y))[kept] / scale) / scale
    residual_score = weights * (y - design @ beta)
    if groups is None:
        clusters = n
        meat = _cross_products(design, residual_score)[np.ix_(kept, kept)]
    else:
        clusters = int(groups.max()) + 1
        sums = sparse.csr_array((residual_score, (groups, np.arange(n))), shape=(clusters, n))
        by_cluster = (sums @ design)[:, kept]
        meat = by_cluster.T @ by_cluster
    people = n if observations is None else observations
    bread = linalg.cho_solve(factor, np.eye(kept.sum())) / np.outer(scale, scale)
    # No small-sample correction exists with one cluster or no residual degrees of freedom among
    # the people: the standard errors are then undefined (NaN), never a division by zero.
    identified = clusters > 1 and people > kept.sum()
    correction = (
        clusters / (clusters - 1) * (people - 1) / (people - kept.sum()) if identified else np.nan
    )
    covariance = correction * bread @ meat @ bread
    params = np.full(k, np.nan)
    bse = np.full(k, np.nan)
    params[kept] = beta[kept]
    bse[kept] = np.sqrt(np.diag(covariance))
    return ClusteredFit(params, bse, kept, clusters - 1, clusters)


def _cross_products(design: np.ndarray, row_scale: np.ndarray) -> np.ndarray:
    """design' diag(row_scale^2) design, in blocks of rows (no copy of the whole design)."""
    k = design.shape[1]
    total = np.zeros((k, k))
    for start in range(0, design.shape[0], BLOCK_ROWS):
        block = design[start : start + BLOCK_ROWS] * row_scale[start : start + BLOCK_ROWS, None]
        total += block.T @ block  # numpy hands A.T @ A to BLAS's symmetric product
    return total


def _independent(gram: np.ndarray, protected: int) -> np.ndarray:
    """Which columns to keep: the protected ones, then each later column that adds something
    beyond those kept before it (greedy, in order, on the correlation-scaled cross-products)."""
    diagonal = np.diag(gram)
    scale = np.sqrt(np.maximum(diagonal, 0))
    kept = list(range(protected))
    for j in range(protected, gram.shape[0]):
        if scale[j] <= 1e-12 * max(1.0, scale.max()):
            continue
        trial = [*kept, j]
        correlation = gram[np.ix_(trial, trial)] / np.outer(scale[trial], scale[trial])
        if np.linalg.eigvalsh(correlation)[0] > COLLINEAR_TOLERANCE:
            kept.append(j)
    mask = np.zeros(gram.shape[0], dtype=bool)
    mask[kept] = True
    return mask
