"""Weighted least squares with standard errors clustered by family: the regression behind every
estimate.

By default the variance is CR2 with Satterthwaite ("Bell-McCaffrey") degrees of freedom for the
t (tf_eval.method.cr2, R clubSandwich's numbers), which keeps 95% intervals honest with few
clusters and many columns. `variance="CR1"` gives statsmodels' numbers instead
(`WLS(...).fit(cov_type="cluster", use_t=True)`: CR1 variance, t intervals with clusters - 1
degrees of freedom; the tests hold the two together to 1e-9), kept for comparison (the coverage
study, studies/coverage.py). Either is computed without statsmodels' cost at scale:
statsmodels solves through an SVD of the whole people x columns design, which took three
quarters of an evaluation's time at 100,000 families and grows with every person. Here the
design is reduced to its columns x columns cross-products in blocks of rows, so the work is a
few passes over the rows and no copy of the design is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, sparse, stats

from tf_eval.method.cr2 import Part, cr2_inference, grams

# A column is dropped when, after scaling, it is (nearly) a combination of the columns before it.
COLLINEAR_TOLERANCE = 1e-10
# The cluster-robust variances offered: CR2 with Satterthwaite df (the default), CR1 with
# clusters - 1.
VARIANCES = ("CR2", "CR1")


@dataclass(frozen=True)
class ClusteredFit:
    """Coefficients of the kept columns (a dropped column's are NaN) and cluster-robust
    standard errors: every kept column's under CR1; under CR2 those of the last protected
    column (the effect reported) and of the columns tested, the others NaN."""

    params: np.ndarray
    bse: np.ndarray
    kept: np.ndarray  # bool per column
    df: float  # the t's degrees of freedom for the last protected column (the effect reported)
    clusters: int
    # Each column's t degrees of freedom (NaN where not computed); None: `df` serves every one.
    dfs: np.ndarray | None = None
    variance: str = "CR2"
    # Under CR2, when asked for (`fit_clustered_wls`'s `scores`): each cluster's term of the
    # effect's variance (their sum of squares is bse of the last protected column, squared).
    scores: np.ndarray | None = field(default=None, compare=False, repr=False)

    def column_df(self, column: int) -> float:
        """The t distribution's degrees of freedom for one column: Bell-McCaffrey's under CR2,
        clusters - 1 under CR1."""
        if self.dfs is None:
            return self.df
        if np.isnan(self.dfs[column]) and self.kept[column] and not np.isnan(self.df):
            raise ValueError(f"column {column} was not tested (fit with tested=({column},))")
        return float(self.dfs[column])

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
        half = stats.t.ppf(1 - alpha / 2, self.column_df(column)) * self.bse[column]
        return float(self.params[column] - half), float(self.params[column] + half)

    def p_value(self, column: int) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):  # no standard error: NaN
            t = abs(self.params[column] / self.bse[column])
        return float(2 * stats.t.sf(t, self.column_df(column)))


def fit_clustered_wls(
    y: np.ndarray,
    design: np.ndarray,
    weights: np.ndarray,
    groups: np.ndarray | None = None,
    protected: int = 1,
    people: np.ndarray | None = None,
    variance: str = "CR2",
    tested: tuple[int, ...] = (),
    layout: list[Part] | None = None,
    scores: bool = False,
) -> ClusteredFit:
    """Regress `y` on the columns of `design` with positive `weights`, clustered by `groups`
    (codes 0..G-1), or with each row its own cluster when `groups` is None.

    Columns after the first `protected` that are constant or collinear with those before them
    are dropped (within one outcome's population some covariates are constant, e.g. every child
    counted for attendance has a pupil in the family); a singular protected column is an error.

    `people` is the number of people behind each row when each row is a family's mean (weights
    then carry the family's size): the fit is the people-level one (tf_eval.method.estimate's
    family_difference explains why). CR2 then takes each mean's working variance as 1 / people,
    which gives the people-level CR2 variance and df exactly (tf_eval.method.cr2), and CR1's
    small-sample correction counts people.

    `variance` is "CR2" (Satterthwaite df for the last protected column and the columns in
    `tested`) or "CR1" (clusters - 1 df for every column). `layout` (tf_eval.method.cr2.Part),
    with each row its own cluster, describes a design whose rows repeat or zero some of their
    columns, which makes CR2 cheaper; `design` may then be its distinct columns alone
    (tf_eval.method.design), never formed whole.
    `scores` (CR2 only) keeps each cluster's term of the effect's variance (`ClusteredFit.scores`),
    for a joint test across fits on the same clusters (tf_eval.method.event_study).

    `y` may be a matrix (rows x outcomes, CR2 only): every column is fitted on the same design,
    weights and clusters, which share the cross-products, the CR2 adjustments and the degrees of
    freedom (they depend on the design alone), so many outcomes cost little more than one; the
    fit's params, bse and scores then have a column per outcome.
    """
    if variance not in VARIANCES:
        raise ValueError(f"unknown variance {variance!r} (choose from {', '.join(VARIANCES)})")
    if y.ndim > 1 and variance != "CR2":
        raise ValueError("several outcomes are fitted together under CR2 only")
    if layout is not None and groups is not None:
        raise ValueError("a layout is for a fit with each row its own cluster")
    n = design.shape[0]
    k = design.shape[1] if layout is None else layout[0].expand.shape[1]
    per_row = (-1,) + (1,) * (y.ndim - 1)  # weights and scales broadcast over y's columns
    theta = None if people is None else 1.0 / people
    spread = None
    if variance == "CR1":
        (gram,) = grams(design, layout, [np.sqrt(weights)])
    else:  # with CR2's X'W Theta W X in the same pass over the rows
        scales = [np.sqrt(weights), weights * (1.0 if theta is None else np.sqrt(theta))]
        gram, spread = grams(design, layout, scales)
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
    beta = np.zeros((k, *y.shape[1:]))
    weighted = _transposed_product(design, layout, weights.reshape(per_row) * y)
    beta[kept] = linalg.cho_solve(factor, weighted[kept] / scale.reshape(per_row)) / scale.reshape(
        per_row
    )
    clusters = n if groups is None else int(groups.max()) + 1
    bread = linalg.cho_solve(factor, np.eye(kept.sum())) / np.outer(scale, scale)
    params = np.full(beta.shape, np.nan)
    bse = np.full(beta.shape, np.nan)
    params[kept] = beta[kept]
    if variance == "CR1":
        residual = y - _product(design, layout, beta)
        covariance = _cr1(design, layout, weights, residual, groups, kept, bread, people)
        with np.errstate(invalid="ignore"):  # a nearly collinear covariate's may round below 0
            bse[kept] = np.sqrt(np.diag(covariance))
        return ClusteredFit(params, bse, kept, clusters - 1, clusters, None, variance)
    dfs = np.full(k, np.nan)
    terms: dict[int, np.ndarray] | None = {} if scores else None
    if clusters > 1:
        wanted = [c for c in dict.fromkeys((protected - 1, *tested)) if kept[c]]
        residual = y - _product(design, layout, beta)
        condition = float(np.linalg.cond(scaled))
        found = cr2_inference(
            design,
            kept,
            weights,
            residual,
            bread,
            groups,
            theta,
            wanted,
            layout,
            spread,
            condition,
            terms,
        )
        for column, (se, df) in found.items():
            # No usable cluster at all (every one of leverage 1): no interval either.
            bse[column], dfs[column] = (se, df) if np.isfinite(df) else (np.nan, np.nan)
            if not np.isfinite(df) and terms is not None and column in terms:
                terms[column] = np.full_like(terms[column], np.nan)
    effect_scores = None if terms is None else terms.get(protected - 1)
    return ClusteredFit(
        params, bse, kept, float(dfs[protected - 1]), clusters, dfs, variance, effect_scores
    )


def _cr1(
    design: np.ndarray,
    layout: list[Part] | None,
    weights: np.ndarray,
    residual: np.ndarray,
    groups: np.ndarray | None,
    kept: np.ndarray,
    bread: np.ndarray,
    people: np.ndarray | None,
) -> np.ndarray:
    """The CR1 covariance of the kept columns: statsmodels' cluster-robust sandwich, with its
    small-sample factor G / (G - 1) x (N - 1) / (N - K), N counting people."""
    n = design.shape[0]
    residual_score = weights * residual
    if groups is None:
        clusters = n
        (meat,) = grams(design, layout, [residual_score])
        meat = meat[np.ix_(kept, kept)]
    else:
        clusters = int(groups.max()) + 1
        sums = sparse.csr_array((residual_score, (groups, np.arange(n))), shape=(clusters, n))
        by_cluster = (sums @ design)[:, kept]
        meat = by_cluster.T @ by_cluster
    total = n if people is None else int(people.sum())
    # No small-sample correction exists with one cluster or no residual degrees of freedom among
    # the people: the standard errors are then undefined (NaN), never a division by zero.
    identified = clusters > 1 and total > kept.sum()
    correction = (
        clusters / (clusters - 1) * (total - 1) / (total - kept.sum()) if identified else np.nan
    )
    return correction * bread @ meat @ bread


def _transposed_product(design: np.ndarray, layout: list[Part] | None, v: np.ndarray) -> np.ndarray:
    """X'v for the design X that `design` and `layout` give (fit_clustered_wls)."""
    if layout is None:
        return design.T @ v
    total = 0.0
    for part in layout:
        total = total + part.expand.T @ (part.of(design, part.rows).T @ v[part.rows])
    return total


def _product(design: np.ndarray, layout: list[Part] | None, beta: np.ndarray) -> np.ndarray:
    """X beta for the design X that `design` and `layout` give (fit_clustered_wls)."""
    if layout is None:
        return design @ beta
    found = np.empty((design.shape[0], *beta.shape[1:]))
    for part in layout:
        found[part.rows] = part.of(design, part.rows) @ (part.expand @ beta)
    return found


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
