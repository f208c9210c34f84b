"""CR2 cluster-robust variance for weighted least squares, with Satterthwaite ("Bell-McCaffrey")
degrees of freedom: the small-sample inference behind every estimate's interval.

CR1 (the usual sandwich with a G / (G - 1) factor) is biased down when a few clusters have high
leverage, as a matched sample with an outcome model of dozens of columns has at one local
authority x cohort, and a t with clusters - 1 degrees of freedom does not widen the interval for
it: 95% intervals covered the truth 67-77% of the time there. Bell and McCaffrey's (2002) bias-
reduced linearisation ("CR2") rescales each cluster's residuals by A_j = (G_j)^(-1/2) so that the
variance estimate is unbiased under a working model, and Satterthwaite's approximation gives the
t's degrees of freedom from the same working model; Pustejovsky and Tipton (2018) generalise both
to weighted least squares. The numbers are R clubSandwich's (`vcovCR(fit, cluster, type = "CR2")`
with its default working model for `lm`, and `coef_test(..., test = "Satterthwaite")`;
tests/test_cr2.py holds them to clubSandwich's to 1e-8 and 1e-6).

With weights W, working variance Theta (diagonal: independent rows, variance theta_i; 1 unless
given), M = (X'WX)^-1, H = X M X'W and Omega = M (X'W Theta W X) M, cluster j's

    G_j = Theta_j - H_jj Theta_j - Theta_j H_jj' + X_j Omega X_j',   B_j = D_j G_j D_j',
    A_j = D_j' B_j^(-1/2) D_j                                         (D_j = Theta_j^(1/2)),

with B's eigenvalues at or below 1e-12 x max(theta_j)^2 taken as 0 (clubSandwich's rule, for a
cluster whose leverage is 1; or below G's rounding error, if larger: see EIGEN_TOLERANCE),
and V = M (sum_j X_j'W_j A_j e_j e_j'A_j W_j X_j) M.

**The degrees of freedom in O(n k^2).** For coefficient c, V_cc = sum_j (g_j'e_j)^2 with
g_j = A_j W_j X_j M_c. Under the working model its mean is tr(P) and its variance 2 ||P||_F^2,
where P (clusters x clusters) has entries P_jl = g_j'[(I - H) Theta (I - H)']_jl g_l, so the
Satterthwaite df is tr(P)^2 / ||P||_F^2. P is never formed: with d_j = g_j'Theta_j g_j,
a_j = X_j'g_j and b_j = X_j'W_j Theta_j g_j,

    P = diag(d) + L,   L = A Omega A' - A M B' - B M A' = Z C Z',  Z = [A B],
    C = [[Omega, -M], [-M, 0]],

a diagonal plus a term of rank 2k: the diagonal P_jj = g_j'G_j g_j (which is
|Pi_j D_j W_j X_j M_c|^2, Pi_j the projection on B_j's kept eigenvectors: no A_j in it), and
off it P_jl = z_j'C z_l. So tr(P) = sum P_jj and

    ||P||^2 = sum P_jj^2 + tr((C Z'Z)^2) - sum (z_j'C z_j)^2,

one pass over the rows accumulating k x k cross-products. For one-row clusters (the panel's
family means) Z'Z is three weighted cross-products of X, so nothing but blocks of rows is ever
formed. A cluster of leverage near 1 (G_j near 0) has a huge A_j, so its z_j is huge while its
entries of P are not; summed through Z'Z its square would swamp the rest in rounding. Clusters
with P_jj < 1e-3 d_j (d_j = g_j'Theta_j g_j; for one row, G_j < 1e-3 theta_j) are therefore
kept aside, few as they are, and their entries of P computed one by one against the others.

**Family means.** When a family's regressors and weight are the same for each of its people, the
people-level fit (working variance 1 per person) and the fit on family means weighted by
weight x size with working variance 1/size per family give the same CR2 variance and degrees of
freedom exactly: a family's G is I + c 11' among its people and (1 + n c) / n for its mean, and
its residuals enter only through their sum. (With clubSandwich's default working variance of 1
per family mean the degrees of freedom differ; tests/data/clubsandwich_cr2.json has both.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from tf_eval import config

# Rows per block (config.BLOCK_ROWS): bounds every temporary copy to a few MiB.
BLOCK_ROWS = config.BLOCK_ROWS
# An eigenvalue of B_j at or below this (times the cluster's largest working variance squared)
# counts as zero, as in clubSandwich's matrix_power; or at or below the rounding error of G_j,
# ROUNDING x machine epsilon x the condition number of X'WX, if that is larger (a family of
# leverage exactly 1 has G_j = 0 give or take rounding, and an adjustment of 1 / sqrt(rounding)
# would make its df noise: clubSandwich's own df can then be anything).
EIGEN_TOLERANCE = 1e-12
ROUNDING = 10.0
# A cluster with P_jj below this share of d_j (leverage near 1) has its entries of P computed
# apart, so that rounding in its huge z_j cannot swamp the degrees of freedom.
EXTREME_SHARE = 1e-3
# A cluster of s rows costs an s x s eigendecomposition (s^3 work, 8 s^2 bytes): refused above
# this many rows, in one line, rather than running out of memory.
MAX_CLUSTER_ROWS = 2_000


class ClusterTooLarge(ValueError):
    """A cluster with more rows than MAX_CLUSTER_ROWS."""


@dataclass
class _Moments:
    """What one coefficient's CR2 variance and Satterthwaite df need, summed over clusters."""

    k: int
    variance: float | np.ndarray = 0.0  # sum_j (g_j'e_j)^2, per outcome column of e
    trace: float = 0.0  # sum_j P_jj
    diagonal: float = 0.0  # sum_j P_jj^2
    low_rank_diagonal: float = 0.0  # sum_j (z_j'C z_j)^2 over the clusters not kept aside
    zz: np.ndarray = field(init=False)  # Z'Z over the clusters not kept aside
    extreme: list[np.ndarray] = field(default_factory=list)  # z_j of those kept aside
    # Each cluster's g_j'e_j, when asked for (`cr2_inference`'s `scores`), else None.
    scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.zz = np.zeros((2 * self.k, 2 * self.k))

    def add(
        self,
        score: np.ndarray,
        p_jj: np.ndarray,
        d: np.ndarray,
        l_jj: np.ndarray,
        clusters: np.ndarray | slice,
    ) -> np.ndarray:
        """Clusters' g_j'e_j, P_jj, d_j and z_j'C z_j (`clusters`: which ones); returns which to
        keep aside (whose z_j go to `extreme`, the others' to `zz`)."""
        if self.scores is not None:
            self.scores[clusters] = score
        self.variance = self.variance + np.sum(score**2, axis=0)  # one per outcome column
        self.trace += float(p_jj.sum())
        self.diagonal += float(p_jj @ p_jj)
        apart = p_jj < EXTREME_SHARE * d
        self.low_rank_diagonal += float(np.sum(l_jj[~apart] ** 2))
        return apart

    def df(self, c: np.ndarray) -> float:
        cs = c @ self.zz
        spread = self.diagonal + float(np.sum(cs * cs.T)) - self.low_rank_diagonal
        if self.extreme:
            apart = np.vstack(self.extreme)
            cz = apart @ c  # rows: (C z_j)'
            spread += 2 * float(np.einsum("ij,jk,ik->", cz, self.zz, cz))
            among = cz @ apart.T
            spread += float(np.sum(among**2) - np.sum(np.diag(among) ** 2))
        return self.trace**2 / spread if spread > 0 else np.nan


@dataclass(frozen=True)
class Part:
    """Rows whose design is a few columns expanded: the design's rows `rows` are
    distinct[rows][:, source] @ expand, where `distinct` is the design itself or its distinct
    columns alone (tf_eval.method.design). In the outcome model's design (1, t, x, t x) a
    comparison row is (1, x) spread into place and a treated row (1, x) repeated, so a part of
    each works with half the columns: a quarter of the products' cost."""

    rows: np.ndarray | slice
    source: np.ndarray  # column indices
    expand: np.ndarray  # len(source) x design columns

    def of(self, distinct: np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
        """Rows `rows` of `distinct` in this part's columns (no second copy when it takes them
        all, as a design of distinct columns' parts do)."""
        x = distinct[rows]
        every = np.array_equal(self.source, np.arange(distinct.shape[1]))
        return x if every else x[:, self.source]


def _c_matrix(bread: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """C = [[Omega, -M], [-M, 0]]: P's off-diagonal entries are z_j'C z_l."""
    k = bread.shape[0]
    c = np.zeros((2 * k, 2 * k))
    c[:k, :k] = omega
    c[:k, k:] = -bread
    c[k:, :k] = -bread
    return c


def cr2_inference(
    design: np.ndarray,
    kept: np.ndarray,
    weights: np.ndarray,
    residual: np.ndarray,
    bread: np.ndarray,
    groups: np.ndarray | None,
    theta: np.ndarray | None,
    tested: Sequence[int],
    layout: Sequence[Part] | None = None,
    spread: np.ndarray | None = None,
    condition: float = 1.0,
    scores: dict[int, np.ndarray] | None = None,
) -> dict[int, tuple[float, float]]:
    """The CR2 standard error and Satterthwaite df of each `tested` column of `design`.

    `kept` marks the columns in the fit and `bread` is (X'WX)^-1 over them; `residual` is
    y - X beta (unweighted; a matrix for several outcomes on the same design, each getting its
    own standard error and the one df); `groups` codes clusters 0..G-1 (None: each row its
    own); `theta` is each row's working variance (None: 1); `layout`, with one-row clusters
    only (`groups` None), the design's structure (`Part`s covering every row once; `design`
    may then be its distinct columns alone), which makes it cheaper; `spread`, X'W Theta W X
    over every column if already formed (`grams`); `condition`, the condition number of X'WX
    (scaled to unit diagonal), for the rounding tolerance. Only the tested columns' variances
    are formed (the estimates report one coefficient), which spares a pass over the rows.

    `scores`, if a dict is given, receives for each tested column every cluster's g_j'e_j (the
    variance is their sum of squares): fits of several outcomes on the same clusters then give
    their joint cluster-robust covariance, sum_j s_j s_j' (Stata's `suest`, with CR2's
    adjustment; tf_eval.method.event_study's joint test of the pre-period)."""
    n = design.shape[0]
    theta = np.ones(n) if theta is None else np.asarray(theta, dtype=float)
    place = np.cumsum(kept) - 1  # a kept column's place among the kept ones
    everything = Part(slice(0, n), np.flatnonzero(kept), np.eye(int(kept.sum())))
    if groups is None and layout is not None:
        parts = [Part(p.rows, p.source, p.expand[:, kept]) for p in layout]
    else:
        parts = [everything]
    if spread is None:
        (spread,) = grams(design, layout if groups is None else None, [np.sqrt(theta) * weights])
    omega = bread @ spread[np.ix_(kept, kept)] @ bread
    c = _c_matrix(bread, omega)
    tolerance = max(EIGEN_TOLERANCE, ROUNDING * np.finfo(float).eps * condition)
    moments = {int(place[column]): _Moments(int(kept.sum())) for column in tested}
    clusters = n if groups is None else int(groups.max()) + 1
    if scores is not None:
        for m in moments.values():
            m.scores = np.zeros((clusters, *residual.shape[1:]))
    singles, batches = _clusters(groups, n)
    if groups is not None:
        parts = [Part(singles, everything.source, everything.expand)]
    for part in parts:
        for rows in _blocks(part.rows):
            x = part.of(design, rows)
            owner = rows if groups is None else groups[rows]
            _singles(
                x,
                part.expand,
                weights,
                residual,
                theta,
                bread,
                omega,
                tolerance,
                rows,
                moments,
                owner,
            )
    for rows in batches:
        x = design[rows][..., kept]
        _batch(x, weights, residual, theta, bread, omega, c, tolerance, rows, moments, groups)
    if scores is not None:
        for column in tested:
            scores[column] = moments[place[column]].scores  # type: ignore[assignment]
    return {
        column: (np.sqrt(moments[place[column]].variance), moments[place[column]].df(c))
        for column in tested
    }


def _singles(
    x: np.ndarray,
    expand: np.ndarray,
    w: np.ndarray,
    e: np.ndarray,
    theta: np.ndarray,
    bread: np.ndarray,
    omega: np.ndarray,
    tolerance: float,
    rows: slice | np.ndarray,
    moments: dict[int, _Moments],
    clusters: slice | np.ndarray,
) -> None:
    """One block of one-row clusters (`clusters`: which), whose kept columns are x @ expand:
    their part of each tested column's variance and df."""
    w, e, theta = w[rows], e[rows], theta[rows]
    spread_bread = expand @ bread
    h = np.einsum("ij,ij->i", x @ (spread_bread @ expand.T), x)  # x'Mx
    q = np.einsum("ij,ij->i", x @ (expand @ omega @ expand.T), x)  # x'Omega x
    g_matrix = theta * (1 - 2 * w * h) + q
    usable = g_matrix > tolerance * theta
    adjust = np.zeros_like(g_matrix)
    adjust[usable] = np.sqrt(theta[usable] / g_matrix[usable])
    k = expand.shape[1]
    wt = w * theta
    unit = wt == 1.0
    for column, m in moments.items():
        xm = x @ spread_bread[:, column]
        g = adjust * w * xm
        p_jj = np.where(usable, theta * (w * xm) ** 2, 0.0)
        # z_j = (g_j x_j, g_j w_j theta_j x_j), so z_j'C z_j = g_j^2 (G_j - theta_j), and Z'Z is
        # three weighted cross-products of x.
        score = g.reshape((-1,) + (1,) * (e.ndim - 1)) * e  # e may hold several outcomes
        apart = m.add(score, p_jj, theta * g**2, g**2 * (g_matrix - theta), clusters)
        if apart.any():
            full = x[apart] @ expand
            m.extreme.append(
                np.hstack([full * g[apart, None], full * (g * w * theta)[apart, None]])
            )
            g = np.where(apart, 0.0, g)
        # Where w_j theta_j = 1 (a supported family's mean: weight 1 x size, variance 1 / size)
        # the three scales are g_j alike, and one cross-product of those rows serves all three.
        shared, rest = 0.0, slice(None)
        if unit.any():
            block = x[unit] * g[unit, None]
            shared, rest = block.T @ block, ~unit
        x_rest, g_rest, wt_rest = x[rest], g[rest], wt[rest]
        for scale, (top, left) in (
            (g_rest, (slice(None, k), slice(None, k))),
            (g_rest * np.sqrt(wt_rest), (slice(None, k), slice(k, None))),  # A'B: symmetric
            (g_rest * wt_rest, (slice(k, None), slice(k, None))),
        ):
            block = x_rest * scale[:, None]
            m.zz[top, left] += expand.T @ (block.T @ block + shared) @ expand
        m.zz[k:, :k] = m.zz[:k, k:].T


def _batch(
    x: np.ndarray,
    w: np.ndarray,
    e: np.ndarray,
    theta: np.ndarray,
    bread: np.ndarray,
    omega: np.ndarray,
    c: np.ndarray,
    tolerance: float,
    rows: np.ndarray,
    moments: dict[int, _Moments],
    groups: np.ndarray,
) -> None:
    """Clusters of the same size s > 1 (`rows`: clusters x s; `x` their kept columns): the
    general formula, with each cluster's s x s matrices stacked."""
    w, e, theta = w[rows], e[rows], theta[rows]
    xt = x.transpose(0, 2, 1)
    xm = x @ bread
    hat = (xm @ xt) * w[:, None, :]  # H_jj = X_j M X_j' W_j
    g_matrix = x @ omega @ xt - hat * theta[:, None, :] - theta[:, :, None] * hat.transpose(0, 2, 1)
    s = x.shape[1]
    g_matrix[:, np.arange(s), np.arange(s)] += theta
    root = np.sqrt(theta)
    values, vectors = np.linalg.eigh(root[:, :, None] * g_matrix * root[:, None, :])
    floor = tolerance * theta.max(axis=1, keepdims=True) ** 2
    kept = values > floor
    inverse_root = np.where(kept, 1 / np.sqrt(np.maximum(values, floor)), 0.0)
    b_power = (vectors * inverse_root[:, None, :]) @ vectors.transpose(0, 2, 1)
    adjust = root[:, :, None] * b_power * root[:, None, :]
    for column, m in moments.items():
        wxm = w * xm[:, :, column]
        g = np.einsum("cst,ct->cs", adjust, wxm)
        a = np.einsum("csk,cs->ck", x, g)
        b = np.einsum("csk,cs->ck", x, w * theta * g)
        projected = np.einsum("cst,cs->ct", vectors, root * wxm)  # on B's eigenvectors
        p_jj = np.einsum("ct,ct->c", projected**2, kept)
        z = np.hstack([a, b])
        l_jj = np.einsum("ij,ij->i", z @ c, z)
        score = np.einsum("cs,cs...->c...", g, e)
        apart = m.add(score, p_jj, (theta * g**2).sum(axis=1), l_jj, groups[rows[:, 0]])
        m.extreme.append(z[apart])
        m.zz += z[~apart].T @ z[~apart]


def _clusters(groups: np.ndarray | None, n: int) -> tuple[np.ndarray, Iterator[np.ndarray]]:
    """The rows that are clusters of their own, and blocks of (clusters x size) row indices for
    clusters of each larger size, each block about BLOCK_ROWS rows."""
    if groups is None:
        return np.arange(n), iter(())
    sizes = np.bincount(groups)
    if sizes.max() > MAX_CLUSTER_ROWS:
        raise ClusterTooLarge(
            f"a cluster of {sizes.max():,} rows is too large for CR2 standard errors "
            f"(at most {MAX_CLUSTER_ROWS:,} rows a cluster)"
        )
    order = np.argsort(groups, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    alone = order[starts[sizes == 1]]

    def batches() -> Iterator[np.ndarray]:
        for size in np.unique(sizes[sizes > 1]):
            first = starts[sizes == size]
            per_block = max(1, BLOCK_ROWS // int(size))
            for i in range(0, first.size, per_block):
                yield order[first[i : i + per_block, None] + np.arange(size)]

    return alone, batches()


def _blocks(rows: np.ndarray | slice) -> Iterator[np.ndarray | slice]:
    """`rows` (indices, or a slice with its start and stop) in blocks of about BLOCK_ROWS."""
    if isinstance(rows, slice):
        start = rows.start or 0
        return (
            slice(i, min(i + BLOCK_ROWS, rows.stop)) for i in range(start, rows.stop, BLOCK_ROWS)
        )
    return (rows[i : i + BLOCK_ROWS] for i in range(0, rows.size, BLOCK_ROWS))


def grams(
    design: np.ndarray, layout: Sequence[Part] | None, row_scales: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """design' diag(s^2) design for each row scale s, in one pass over blocks of rows, part by
    part of `layout` (None: the design as it is; else `design` may be its distinct columns)."""
    n, k = design.shape
    parts = layout or [Part(slice(0, n), np.arange(k), np.eye(k))]
    k = parts[0].expand.shape[1]
    totals = [np.zeros((k, k)) for _ in row_scales]
    for part in parts:
        inner = [np.zeros((part.source.size, part.source.size)) for _ in row_scales]
        for rows in _blocks(part.rows):
            block = part.of(design, rows)
            for scale, total in zip(row_scales, inner, strict=True):
                scaled = block * scale[rows, None]
                total += scaled.T @ scaled
        for total, part_total in zip(totals, inner, strict=True):
            total += part.expand.T @ part_total @ part.expand
    return totals
