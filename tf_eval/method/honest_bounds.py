"""How large a break from parallel trends an event study's effect survives: Rambachan and Roth's
(2023) relative-magnitudes bounds, as R HonestDiD computes them by default.

The event study's coefficients are treated-minus-comparison differences by period. Before
support they show how far the two groups' trends already drifted apart; Rambachan and Roth's
restriction Delta^RM(Mbar) says the drift in any one period after support is at most Mbar times
the largest drift seen between two periods before it. Under it the effect is only partly known:
an interval (the identified set), and a robust 95% confidence set around it. The breakdown value
is the largest Mbar at which that confidence set still excludes no effect.

Conventions (R HonestDiD's): `beta` holds `num_pre` pre-period coefficients, earliest first, then
`num_post` post-period ones; the reference period (the last before support) is left out, its
coefficient normalised to 0, so the last pre-period drift is `0 - beta[num_pre - 1]`. The target
is `l_vec . beta_post` (default: the average of the post-period coefficients).

The confidence set is HonestDiD's default for Delta^RM, "C-LF": the union, over which pre-period
drift is the largest and its sign, of Andrews, Roth and Pakes' conditional test with a
least-favourable first stage (size alpha / 10), inverted on HonestDiD's grid of 1,000 points. The
least-favourable critical value is simulated from 1,000 draws with a fixed seed, so the result is
deterministic. The test's linear programs are solved exactly by enumerating the vertices of their
dual (at most C(16, 8) = 12,870 for 8 post periods), which also makes the simulation cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import stats

from tf_eval import config

# Two-sided, as every interval tf-eval shows.
ALPHA = config.EVIDENCE_ALPHA
# R HonestDiD's defaults: grid points for inverting the test, the first stage's share of alpha,
# the least-favourable simulation's draws and seed (numpy's generator, as moderndid's port).
GRID_POINTS = 1000
KAPPA_SHARE = 0.1
LF_DRAWS = 1000
LF_SEED = 0
# Vertex enumeration grows as C(2T, T): 8 post periods (two years of quarters) is the most.
MAX_POST = 8
# The breakdown search: Mbar from 0 to this, to this precision.
BREAKDOWN_MAX = 10.0
BREAKDOWN_TOL = 0.01
_TOL = 1e-10


@dataclass(frozen=True)
class HonestBounds:
    """The effect under Delta^RM(Mbar): the point estimate, the identified set and the robust
    confidence set (NaN ends when no value is accepted), and the largest pre-period drift."""

    mbar: float
    estimate: float
    identified: tuple[float, float]
    robust: tuple[float, float]
    largest_pre_drift: float


def _validated(
    beta: np.ndarray,
    sigma: np.ndarray | None,
    num_pre: int,
    num_post: int,
    mbar: float,
    l_vec: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The coefficients and target weights as float arrays, or a one-line ValueError."""
    if not (isinstance(num_pre, int | np.integer) and isinstance(num_post, int | np.integer)):
        raise ValueError("num_pre and num_post must be integers")
    if num_pre < 1:
        raise ValueError(f"num_pre must be at least 1, got {num_pre}")
    if not 1 <= num_post <= MAX_POST:
        raise ValueError(f"num_post must be between 1 and {MAX_POST}, got {num_post}")
    beta = np.asarray(beta, dtype=float)
    if beta.shape != (num_pre + num_post,):
        raise ValueError(f"beta must have shape ({num_pre + num_post},), got {beta.shape}")
    if not np.all(np.isfinite(beta)):
        raise ValueError("beta must be finite")
    if sigma is not None:
        sigma = np.asarray(sigma, dtype=float)
        if sigma.shape != (beta.size, beta.size):
            raise ValueError(f"sigma must have shape ({beta.size}, {beta.size}), got {sigma.shape}")
        if not np.all(np.isfinite(sigma)) or not np.allclose(sigma, sigma.T, rtol=1e-8, atol=0):
            raise ValueError("sigma must be a finite symmetric matrix")
        eigen = np.linalg.eigvalsh(sigma)
        if eigen[0] <= 1e-12 * max(eigen[-1], 0.0):
            raise ValueError("sigma must be positive definite")
    if not (np.isfinite(mbar) and mbar >= 0):
        raise ValueError(f"Mbar must be a non-negative number, got {mbar}")
    if l_vec is None:
        l_vec = np.full(num_post, 1.0 / num_post)
    l_vec = np.asarray(l_vec, dtype=float)
    if l_vec.shape != (num_post,) or not np.all(np.isfinite(l_vec)) or not np.any(l_vec):
        raise ValueError(f"l_vec must be {num_post} finite weights, not all zero")
    return beta, l_vec


def _pre_drifts(beta: np.ndarray, num_pre: int) -> np.ndarray:
    """The pre-period drifts between consecutive periods, ending with the reference period's 0."""
    return np.diff(np.append(beta[:num_pre], 0.0))


def identified_set(
    beta: np.ndarray, num_pre: int, num_post: int, mbar: float, l_vec: np.ndarray | None = None
) -> tuple[float, float]:
    """Where the effect lies if the coefficients were known exactly: the estimate plus or minus
    Mbar times the largest pre-period drift times sum_k |sum_{t>=k} l_t| (each post-period drift
    may go either way up to that bound, and drift k moves every later period). This is the
    closed form of HonestDiD's linear programs, whose union over components reduces to it."""
    beta, l_vec = _validated(beta, None, num_pre, num_post, mbar, l_vec)
    estimate = float(l_vec @ beta[num_pre:])
    reach = float(np.abs(np.cumsum(l_vec[::-1])).sum())
    half = mbar * float(np.max(np.abs(_pre_drifts(beta, num_pre)))) * reach
    return estimate - half, estimate + half


def _constraints(num_pre: int, num_post: int, mbar: float, s: int, sign: int) -> np.ndarray:
    """HonestDiD's A for one component of Delta^RM(Mbar): every drift at most the drift into
    period s (0-based pre-period index, the last being the reference), times Mbar after support,
    with that drift's sign fixed; A delta <= 0, the reference period's column dropped."""
    periods = num_pre + num_post
    drift = np.zeros((periods, periods + 1))
    drift[np.arange(periods), np.arange(periods)] = -1.0
    drift[np.arange(periods), np.arange(periods) + 1] = 1.0
    largest = np.zeros(periods + 1)
    largest[s : s + 2] = [-sign, sign]
    bound = np.outer(np.r_[np.ones(num_pre), np.full(num_post, mbar)], largest)
    a = np.vstack([drift - bound, -drift - bound])
    a = a[np.einsum("ij,ij->i", a, a) > _TOL]
    return np.delete(a, num_pre, axis=1)


def _vertices(w: np.ndarray) -> np.ndarray:
    """The vertices of {g >= 0 : g'w = e1}, the dual of the test's linear program (rows: one per
    vertex), by solving every square basis: exact, and fast for the sizes allowed."""
    rows, k = w.shape
    scale = w[:, 0].max()  # the standard errors' scale, so the rank test does not depend on units
    w = np.column_stack([w[:, 0] / scale, w[:, 1:]])
    bases = np.array(list(combinations(range(rows), k)))
    systems = np.transpose(w[bases], (0, 2, 1))
    solvable = np.linalg.cond(systems) < 1 / _TOL
    rhs = np.zeros(k)
    rhs[0] = 1.0
    rhs = np.broadcast_to(rhs[:, None], (int(solvable.sum()), k, 1))
    solved = np.linalg.solve(systems[solvable], rhs)[..., 0] / scale
    feasible = np.all(solved >= -_TOL, axis=1)
    out = np.zeros((int(feasible.sum()), rows))
    np.put_along_axis(out, bases[solvable][feasible], np.maximum(solved[feasible], 0.0), axis=1)
    return out


@dataclass(frozen=True)
class _Component:
    """One component's test of theta = t: moments y0 - a1 t <= 0 up to nuisance directions,
    their covariance, the dual vertices and the least-favourable critical value."""

    y0: np.ndarray
    a1: np.ndarray
    cov: np.ndarray
    vertices: np.ndarray
    lf_cv: float
    truncate: bool


def _components(
    beta: np.ndarray, sigma: np.ndarray, num_pre: int, num_post: int, mbar: float, l_vec: np.ndarray
) -> list[_Component]:
    """Each (s, sign) component of Delta^RM(Mbar) as HonestDiD's computeConditionalCS_DeltaRM
    builds it: only moments that involve post periods; the target rotated into the first post
    coordinate (its matrix Gamma), the other post coordinates being nuisance parameters."""
    gamma = np.zeros((num_post, num_post))
    gamma[0] = l_vec
    others = [i for i in range(num_post) if i != int(np.argmax(np.abs(l_vec)))]
    gamma[np.arange(1, num_post), others] = 1.0
    found = []
    for s in range(num_pre):
        for sign in (1, -1):
            a = _constraints(num_pre, num_post, mbar, s, sign)
            a = a[np.any(a[:, num_pre:] != 0, axis=1)]
            rotated = a[:, num_pre:] @ np.linalg.inv(gamma)
            cov = a @ sigma @ a.T
            sd = np.sqrt(np.diag(cov))
            vertices = _vertices(np.column_stack([sd, rotated[:, 1:]]))
            rng = np.random.default_rng(LF_SEED)
            draws = rng.multivariate_normal(np.zeros(len(sd)), cov, size=LF_DRAWS)
            lf_cv = float(np.quantile((draws @ vertices.T).max(axis=1), 1 - KAPPA_SHARE * ALPHA))
            # HonestDiD truncates the conditional test at the first stage's critical value only
            # when there are nuisance parameters; with one post period it does not (a little
            # conservative). Kept, so that its numbers are ours.
            found.append(_Component(a @ beta, rotated[:, 0], cov, vertices, lf_cv, num_post > 1))
    return found


def _accepts(c: _Component, thetas: np.ndarray) -> np.ndarray:
    """The conditional-least-favourable hybrid test of theta = t at each t (True: not rejected):
    reject when the largest standardised moment, eta, passes the least-favourable critical value;
    else compare it with the quantile of a normal truncated to where the maximising dual vertex
    stays optimal (Andrews, Roth and Pakes 2023), at size (alpha - kappa) / (1 - kappa)."""
    if len(c.vertices) == 0:
        return np.ones(thetas.size, dtype=bool)
    y = c.y0[:, None] - np.outer(c.a1, thetas)
    values = c.vertices @ y
    best = values.argmax(axis=0)
    eta = values[best, np.arange(thetas.size)]
    cross = c.vertices @ c.cov @ c.vertices.T
    var = cross[best, best]
    slope = cross[:, best] / var
    rest = values - slope * eta
    room = 1.0 - slope
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = rest / room
    lo = np.where(room > _TOL, ratio, -np.inf).max(axis=0)
    up = np.where(room < -_TOL, ratio, np.inf).min(axis=0)
    if c.truncate:
        up = np.minimum(up, c.lf_cv)
    sd = np.sqrt(var)
    kappa = KAPPA_SHARE * ALPHA
    size = (ALPHA - kappa) / (1 - kappa)
    p_lo, p_up = stats.norm.cdf(lo / sd), stats.norm.cdf(up / sd)
    target = p_lo + (1 - size) * (p_up - p_lo)
    with np.errstate(invalid="ignore"):
        critical = np.clip(stats.norm.ppf(target), lo / sd, up / sd)
    inside = (lo / sd <= eta / sd) & (eta / sd <= up / sd)
    reject = (eta > c.lf_cv) | (inside & (eta / sd > np.maximum(critical, 0.0)))
    return ~reject


def robust_set(
    beta: np.ndarray,
    sigma: np.ndarray,
    num_pre: int,
    num_post: int,
    mbar: float,
    l_vec: np.ndarray | None = None,
) -> tuple[float, float]:
    """The robust 95% confidence set under Delta^RM(Mbar): the lowest and highest target values
    that some component's test accepts, on HonestDiD's grid (the identified set's reach plus 20
    standard errors either side of the estimate; ends exact to one step of 1,000)."""
    beta, l_vec = _validated(beta, sigma, num_pre, num_post, mbar, l_vec)
    sigma = np.asarray(sigma, dtype=float)
    post = slice(num_pre, None)
    largest = float(np.max(np.abs(_pre_drifts(beta, num_pre))))
    centre = float(l_vec @ beta[post])
    half = mbar * float(np.arange(1, num_post + 1) @ np.abs(l_vec)) * largest
    half += 20 * float(np.sqrt(l_vec @ sigma[post, post] @ l_vec))
    grid = np.linspace(centre - half, centre + half, GRID_POINTS)
    accepted = np.zeros(GRID_POINTS, dtype=bool)
    for component in _components(beta, sigma, num_pre, num_post, mbar, l_vec):
        accepted |= _accepts(component, grid)
    if not accepted.any():
        return float("nan"), float("nan")
    return float(grid[accepted].min()), float(grid[accepted].max())


def honest_bounds(
    beta: np.ndarray,
    sigma: np.ndarray,
    num_pre: int,
    num_post: int,
    mbar: float,
    l_vec: np.ndarray | None = None,
) -> HonestBounds:
    """The estimate, identified set and robust confidence set under Delta^RM(Mbar) together."""
    beta, l_vec = _validated(beta, sigma, num_pre, num_post, mbar, l_vec)
    return HonestBounds(
        mbar=float(mbar),
        estimate=float(l_vec @ beta[num_pre:]),
        identified=identified_set(beta, num_pre, num_post, mbar, l_vec),
        robust=robust_set(beta, sigma, num_pre, num_post, mbar, l_vec),
        largest_pre_drift=float(np.max(np.abs(_pre_drifts(beta, num_pre)))),
    )


def _excludes_zero(
    beta: np.ndarray, sigma: np.ndarray, num_pre: int, num_post: int, mbar: float, l_vec: np.ndarray
) -> bool:
    """Whether every component's test rejects an effect of exactly 0 (no grid involved)."""
    zero = np.zeros(1)
    return not any(
        _accepts(c, zero)[0] for c in _components(beta, sigma, num_pre, num_post, mbar, l_vec)
    )


def breakdown(
    beta: np.ndarray,
    sigma: np.ndarray,
    num_pre: int,
    num_post: int,
    l_vec: np.ndarray | None = None,
) -> float | None:
    """The largest Mbar (to BREAKDOWN_TOL, rounded down) at which the robust confidence set still
    excludes no effect: 0.0 when it includes 0 even under exact parallel trends, None when it
    still excludes 0 at BREAKDOWN_MAX. By bisection, as diff-diff searches for it: Delta^RM(Mbar)
    grows with Mbar, so once 0 is accepted it stays accepted. 0 is tested exactly, not on the
    confidence set's grid."""
    beta, l_vec = _validated(beta, sigma, num_pre, num_post, 0.0, l_vec)
    sigma = np.asarray(sigma, dtype=float)

    def excludes(mbar: float) -> bool:
        return _excludes_zero(beta, sigma, num_pre, num_post, mbar, l_vec)

    if not excludes(0.0):
        return 0.0
    if excludes(BREAKDOWN_MAX):
        return None
    lo, hi = 0.0, BREAKDOWN_MAX
    while hi - lo > BREAKDOWN_TOL:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if excludes(mid) else (lo, mid)
    return lo
