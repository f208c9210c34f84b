"""Doubly robust difference in differences for panel data (Sant'Anna and Zhao 2020, Journal of
Econometrics 219(1), 101-122): the ATT on the treated from each unit's change (post - pre), a
propensity score and an outcome model of the comparison units' change, consistent if either
model is right.

Why it is computed this way: the numbers are those of the authors' R package DRDID (1.2.3),
`drdid_imp_panel` (method="improved") and `drdid_panel` (method="traditional");
tests/test_drdid.py holds tf-eval to them, and to the Python port moderndid, to 1e-6 on the data
sets of tests/data/drdid_reference.json.

- **Improved** (the paper's locally efficient, "improved" estimator, section 3.1): the
  propensity score by inverse probability tilting (Graham, Pinto and Egel 2012), which makes the
  comparison units' weights p / (1 - p) reproduce the treated units' (weighted) covariate means
  exactly; the outcome model by least squares among comparison units weighted by p / (1 - p).
  With these two fits the estimation of neither model adds to the influence function, so the
  standard error is the influence function's alone ("doubly robust for inference").
- **Traditional** (section 3, eq. 3.1): the propensity score by logistic maximum likelihood and
  the outcome model by ordinary least squares among comparisons; the influence function then
  carries both models' estimation effects.

Unit weights (DRDID's `i.weights`) are rescaled to mean 1, as DRDID does. As DRDID: scores are
capped at 1 - 1e-6; comparison units with a score of 0.995 or more are trimmed (weight 0 in the
ATT, still in the outcome regression); the standard error is the influence function's standard
deviation (divided by n, not n - 1) over sqrt(n). moderndid (0.2.0) also floors scores at 1e-6,
which DRDID does not (SCORE_FLOOR): it moves the ATT by about 1e-6 when some comparison units'
scores are below that.

When no tilting balances the groups (the treated units' covariate means lie outside what the
comparison units can be weighted to), DRDID falls back to another optimiser and then to the
logit; here that is an error, since the improved estimator is then not what is computed.

Speed: both fits are Newton's method with the analytic gradient and Hessian of a concave
objective (DRDID uses the trust-region routine `trust` on the same objective; the optimum is
unique, so the answers agree to its tolerance). Covariates are centred and scaled first, which
changes neither the scores nor the fitted values (the same column space) but makes the Newton
steps and the singularity check mean the same whatever a covariate's units. Cross-products are
formed in blocks of rows, so no weighted copy of the design is made. On large samples the tilting
starts from the optimum of every stride-th unit, and once its steps are small keeps its Hessian
(the chord method): each full-sample cross-product costs seconds at national scale, and the
optimum is the same (tests/test_drdid.py holds it to a fit from the intercept).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import linalg, special

from tf_eval import config

# DRDID's default `trim.level`: comparison units with a score at or above it get weight 0.
TRIM_LEVEL = 0.995
# DRDID caps fitted scores below 1 so that p / (1 - p) is finite (`pmin(ps.fit, 1 - 1e-6)`).
SCORE_CAP = 1 - 1e-6
# DRDID sets no lower bound (moderndid's is 1e-6).
SCORE_FLOOR = 0.0
METHODS = ("improved", "traditional")
# Rows per block when forming cross-products (config.BLOCK_ROWS).
BLOCK_ROWS = config.BLOCK_ROWS
# The smallest eigenvalue of the covariates' correlation matrix below which the design is
# singular (as regression.COLLINEAR_TOLERANCE).
COLLINEAR_TOLERANCE = 1e-10
# Newton's method stops when the next step would lower the objective by no more than this
# (relative to 1 + |objective|), or move no coefficient by more than STEP_TOLERANCE (covariates in
# SD units), and takes that step: convergence is quadratic, so the coefficients are then exact to
# rounding. (The gradient's own rounding, sums over millions of units, keeps steps from falling
# much below 1e-9.)
DECREMENT_TOLERANCE = 1e-14
STEP_TOLERANCE = 1e-10
# A step this large (SD units) when the objective has stopped falling is no optimum but
# coefficients running off to infinity, as a separated logit's do (propensity.RUNAWAY_STEP).
RUNAWAY_STEP = 1e-3
MAX_NEWTON_STEPS = 60
# The tilting's warm start (`_tilted_scores`, config.WARM_START_ROWS): with at least
# WARM_START_STRIDE x SUBSAMPLE_ROWS units, every stride-th unit is tilted first.
SUBSAMPLE_ROWS = config.WARM_START_ROWS
WARM_START_STRIDE = config.WARM_START_STRIDE
# The chord method (`_newton`): once a step smaller than CHORD_FROM (SD units) has been taken,
# the Hessian is kept, and a step solved with it is taken only while it is at most CHORD_RATE of
# the step before. Chord steps below ROUNDING_STEP that stop shrinking are the gradient's
# rounding (see STEP_TOLERANCE).
CHORD_FROM = 0.1
CHORD_RATE = 0.25
ROUNDING_STEP = 1e-8


@dataclass(frozen=True)
class DRDiD:
    """The ATT, its standard error and the per-unit influence function (the ATT's estimation
    error is approximately the mean of `influence`; se is its standard deviation / sqrt(n))."""

    att: float
    se: float
    influence: np.ndarray  # per unit, in the order given
    n_treated: int  # treated units with positive weight
    n_comparison: int  # comparison units with positive weight
    trimmed: int = 0  # comparison units given weight 0 for a score >= TRIM_LEVEL
    method: str = "improved"


def dr_did(
    change: np.ndarray,
    treated: np.ndarray,
    covariates: np.ndarray,
    weights: np.ndarray | None = None,
    method: str = "improved",
    trim_level: float = TRIM_LEVEL,
) -> DRDiD:
    """Sant'Anna and Zhao's doubly robust DiD ATT for panel data, as DRDID's `drdid_imp_panel`
    (method="improved") or `drdid_panel` (method="traditional") computes it.

    `change` is each unit's outcome after less before, `treated` 1/0 (or True/False),
    `covariates` an n x k matrix WITHOUT an intercept column (one is added), `weights` each
    unit's non-negative weight (None: all 1; a family's number of people counts it that many
    times in the ATT, while the standard error stays one of families). `trim_level` is DRDID's
    `trim.level`. Raises ValueError, in one line, when the ATT cannot be computed.
    """
    y = np.asarray(change, dtype=float)
    if y.ndim != 1:
        raise ValueError("change must be one value per unit (a 1-d array)")
    return dr_dids(y[:, None], treated, covariates, weights, method, trim_level)[0]


def dr_dids(
    changes: np.ndarray,
    treated: np.ndarray,
    covariates: np.ndarray,
    weights: np.ndarray | None = None,
    method: str = "improved",
    trim_level: float = TRIM_LEVEL,
    overwrite: bool = False,
) -> list[DRDiD]:
    """`dr_did` of each column of `changes` (n x m: several outcomes of the same units), sharing
    what does not depend on the outcome: the standardised design, the propensity score and the
    cross-products of the outcome regression. Each result is the one `dr_did` gives for its
    column alone; the fits shared are most of the work (at national scale two outcomes of the
    same people cost about one). With `overwrite`, `covariates` (a C-ordered float array the
    caller no longer needs) is standardised in place instead of in a copy."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
    ys, d, w, design = _prepare(changes, treated, covariates, weights, overwrite)
    comparison = 1.0 - d
    n = ys.shape[0]
    if method == "improved":
        ps = _tilted_scores(design, d, w)
    else:
        comparison_gram = _comparison_gram(design, d, w)
        ps = _logit_scores(design, d, w)
    ps = np.clip(ps, SCORE_FLOOR, SCORE_CAP)
    keep = np.where(d == 1, 1.0, (ps < trim_level).astype(float))
    kept_comparison = comparison * keep * w
    if not (kept_comparison > 0).any():
        raise ValueError(
            f"every comparison unit has a propensity score of {trim_level} or more and is "
            "trimmed: the groups do not overlap"
        )
    odds = ps / (1.0 - ps)
    if method == "improved":
        fitted = _outcome_fits(design, ys, w * comparison * odds)
    results = []
    for column in range(ys.shape[1]):
        y = ys[:, column]
        if method == "improved":
            summand = keep * (1.0 - comparison / (1.0 - ps)) * (y - fitted[:, column])
            treated_share = np.mean(d * w)
            att = float(np.mean(w * summand) / treated_share)
            influence = w * keep * (summand - d * att) / treated_share
        else:
            att, influence = _traditional(design, y, d, w, ps, keep, odds, comparison_gram)
        se = float(np.std(influence) / np.sqrt(n))  # DRDID 1.2.3: sd(inf) * sqrt(n - 1) / n
        results.append(
            DRDiD(
                att=att,
                se=se,
                influence=influence,
                n_treated=int(((d == 1) & (w > 0)).sum()),
                n_comparison=int(((d == 0) & (w > 0)).sum()),
                trimmed=int(((d == 0) & (keep == 0) & (w > 0)).sum()),
                method=method,
            )
        )
    return results


def _prepare(
    changes: np.ndarray,
    treated: np.ndarray,
    covariates: np.ndarray,
    weights: np.ndarray | None,
    overwrite: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Standardised]:
    """Check the inputs; return the changes (n x m), the 0/1 group, the weights rescaled to
    mean 1 and the design: an intercept and the covariates centred and scaled (weighted), in
    `covariates` itself if `overwrite` allows (a C-ordered float array), else in a copy."""
    y = np.asarray(changes, dtype=float)
    if y.ndim != 2:
        raise ValueError("changes must be one row per unit and one column per outcome")
    n = y.shape[0]
    group = np.asarray(treated)
    if group.shape != (n,):
        raise ValueError(f"treated has shape {group.shape}, expected ({n},) as change")
    if not np.isin(group, (0, 1)).all():
        raise ValueError("treated must hold only 1 (treated) and 0 (comparison)")
    d = group.astype(float)
    x = np.asarray(covariates, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] != n:
        raise ValueError(f"covariates has shape {x.shape}, expected ({n}, k) as change")
    if weights is None:
        w = np.ones(n)
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != (n,):
            raise ValueError(f"weights has shape {w.shape}, expected ({n},) as change")
        if not np.isfinite(w).all() or (w < 0).any():
            raise ValueError("weights must be finite and non-negative")
    if not np.isfinite(y).all():
        raise ValueError("change has missing or infinite values")
    if not np.isfinite(x).all():
        raise ValueError("covariates have missing or infinite values")
    if not (w * d > 0).any():
        raise ValueError("no treated units (with positive weight): there is no ATT to estimate")
    if not (w * (1 - d) > 0).any():
        raise ValueError("no comparison units (with positive weight): nothing to compare with")
    w = w / w.mean()
    if not (overwrite and x is covariates and x.flags.writeable and x.flags.c_contiguous):
        x = np.array(x, dtype=float, order="C")  # a copy of our own, standardised in place
    centre = w @ x / n
    spread = np.zeros(x.shape[1])
    for start in range(0, n, BLOCK_ROWS):  # in blocks of rows: no second n x k temporary
        rows = x[start : start + BLOCK_ROWS]
        rows -= centre
        spread += w[start : start + BLOCK_ROWS] @ rows**2
    spread = np.sqrt(spread / n)
    constant = np.flatnonzero(~(spread > 1e-12 * np.maximum(1.0, np.abs(centre))))
    if constant.size:
        raise ValueError(f"covariate {constant[0]} is constant, so the design is singular")
    for start in range(0, n, BLOCK_ROWS):
        x[start : start + BLOCK_ROWS] /= spread
    return y, d, w, Standardised(x)


class Standardised:
    """The design: an intercept and the covariates centred and scaled (`z`), used without
    forming it. At national scale the design with its intercept column was a 550 MB copy of
    the covariates, made beside the copy of them each estimate takes; the covariates are now
    standardised in that copy itself (`dr_dids`' `overwrite`) and the intercept is added to
    each product (a few numbers)."""

    def __init__(self, z: np.ndarray) -> None:
        self.z = z
        self.shape = (z.shape[0], z.shape[1] + 1)

    def __matmul__(self, coefficients: np.ndarray) -> np.ndarray:
        """design @ coefficients (k + 1, or k + 1 x m)."""
        return self.z @ coefficients[1:] + coefficients[0]

    def t_dot(self, values: np.ndarray) -> np.ndarray:
        """design.T @ values (n, or n x m)."""
        return np.concatenate([values.sum(axis=0)[None], self.z.T @ values])

    def gram(self, scale: np.ndarray) -> np.ndarray:
        """design' diag(scale) design for scale >= 0, in blocks of rows."""
        k = self.shape[1]
        total = np.zeros((k, k))
        root = np.sqrt(scale)
        for start in range(0, self.shape[0], BLOCK_ROWS):
            block = self.z[start : start + BLOCK_ROWS] * root[start : start + BLOCK_ROWS, None]
            total[1:, 1:] += block.T @ block
        total[0, 1:] = total[1:, 0] = self.z.T @ scale
        total[0, 0] = scale.sum()
        return total


def _comparison_gram(design: Standardised, d: np.ndarray, w: np.ndarray) -> np.ndarray:
    """X' diag(w (1 - D)) X / n, the cross-products of the comparison units (both propensity
    models and both outcome regressions need them of full rank), checked: a singular one is
    named as singular in the whole sample or among the comparison units only."""
    n = design.shape[0]
    gram = design.gram(w * (1 - d)) / n
    try:
        _check_rank(gram, " among the comparison units")
    except ValueError:
        _check_rank(design.gram(w) / n, "")  # raises if singular in the whole sample
        raise
    return gram


def _check_rank(gram: np.ndarray, among: str) -> None:
    """Raise if the cross-products are singular (a covariate constant, or a combination of the
    others, among the units they come from)."""
    diagonal = np.sqrt(np.diag(gram))
    if not (diagonal > 0).all():
        raise ValueError(f"a covariate is constant{among}, so the design is singular")
    correlation = gram / np.outer(diagonal, diagonal)
    if np.linalg.eigvalsh(correlation)[0] <= COLLINEAR_TOLERANCE:
        raise ValueError(f"the covariates are collinear{among}, so the design is singular")


def _newton(
    objective: Callable[[np.ndarray], float],
    derivatives: Callable[[np.ndarray, bool], tuple[np.ndarray, np.ndarray | None]],
    start: np.ndarray,
    failure: str,
    chord: float = 0.0,
) -> np.ndarray:
    """Minimise a smooth convex objective by Newton's method with backtracking; return the
    minimiser. `derivatives(gamma, exact)` gives the gradient and, if `exact`, the Hessian (else
    None). `failure` is the one-line reason when there is no minimiser (the objective keeps
    falling as the coefficients run off to infinity).

    With `chord` > 0, once a step smaller than it has been taken the last Hessian formed is kept,
    so that each further step needs the gradient alone (the chord method: linear convergence,
    fast this near the minimiser), for as long as each full step lowers the objective enough and
    is at most CHORD_RATE of the one before; then Newton's own steps take over. A chord step
    ends the search only when it is below STEP_TOLERANCE (or at the gradient's rounding), not on
    the objective's decrement, so the minimiser is found to the same precision."""
    gamma = start
    value = objective(gamma)
    kept: np.ndarray | None = None
    last = np.inf
    for _ in range(MAX_NEWTON_STEPS):
        gradient, hessian = derivatives(gamma, kept is None)
        if kept is not None:
            hessian = kept
        try:
            step = linalg.solve(hessian, gradient, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            raise ValueError(failure) from None
        decrement = float(gradient @ step)
        largest = np.max(np.abs(step))
        if kept is not None and not (decrement > 0 and largest <= CHORD_RATE * last):
            if largest < ROUNDING_STEP:  # at the gradient's rounding: nothing left to gain
                return gamma
            kept, chord = None, 0.0  # no longer converging fast: form the Hessian from here
            continue
        # (A chord step converges linearly: only a step too small to matter ends it.)
        small = kept is None and decrement <= DECREMENT_TOLERANCE * (1 + abs(value))
        if largest < STEP_TOLERANCE or small:
            if largest > RUNAWAY_STEP:
                raise ValueError(failure)
            return gamma - step
        found = _line_search(objective, gamma, value, step, decrement, kept is None)
        if found is None and kept is not None:
            if largest < ROUNDING_STEP:  # the objective's rounding, not a step too far:
                gamma = gamma - step  # taken, and the chord goes on to STEP_TOLERANCE
                value, last = objective(gamma), largest
                continue
            kept, chord = None, 0.0
            continue
        if found is None:  # no descent left: at the optimum to rounding, or none exists
            if largest < 1e-6:
                return gamma
            raise ValueError(failure)
        gamma, value = found
        last = largest
        if kept is None and largest < chord:
            kept = hessian
    raise ValueError(failure)


def _line_search(
    objective: Callable[[np.ndarray], float],
    gamma: np.ndarray,
    value: float,
    step: np.ndarray,
    decrement: float,
    backtrack: bool,
) -> tuple[np.ndarray, float] | None:
    """The first of gamma - step, gamma - step / 2, ... that lowers the objective enough
    (Armijo's rule), with its value; None if none does (or, without `backtrack`, if the full
    step does not)."""
    size = 1.0
    while size >= 1e-12:
        trial = gamma - size * step
        trial_value = objective(trial)
        if trial_value <= value - 1e-4 * size * decrement:
            return trial, trial_value
        if not backtrack:
            return None
        size /= 2
    return None


def _tilted_scores(design: Standardised, d: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Propensity scores by inverse probability tilting: gamma maximises
    mean(w (D x'g - (1 - D) exp(x'g))) (DRDID's loss.ps.cal), whose first-order condition is that
    the comparison units weighted by w p / (1 - p) = w exp(x'g) have the treated units' covariate
    totals.

    From the intercept alone, Newton's method takes about seven steps, each forming the
    comparison units' cross-products weighted by their odds (at national scale 2 million rows
    by 38 columns: a third of a second each, most of a doubly robust fit). With at least
    WARM_START_STRIDE x SUBSAMPLE_ROWS units, every stride-th unit (about SUBSAMPLE_ROWS of them)
    is tilted first, and its Hessian at its optimum is the whole sample's first one; once a step
    is small, the Hessian in hand is kept (`_newton`'s chord), so that each further step needs
    only a gradient, a pass over every unit rather than a cross-product. The subsample's
    comparison units having cross-products of full rank, so have the whole sample's: they are
    not formed (from the intercept they are its Hessian, and their check names a singular
    design). At national scale a fit then forms two cross-products of every unit (one Newton
    step where the first step from the subsample's optimum is still large, the outcome
    regression's) where it formed four, and eight from the intercept. Should the subsample have
    no optimum (a rare covariate absent from its comparison units), the whole sample starts
    from the intercept, after the check."""
    index = _memo_index(design)
    stride = design.shape[0] // SUBSAMPLE_ROWS
    if stride >= WARM_START_STRIDE:
        rows = slice(None, None, stride)
        sub, sub_d, sub_w = Standardised(design.z[rows]), d[rows], w[rows]
        sub_gram = sub.gram(sub_w * (1 - sub_d)) / sub.shape[0]
        sub_index = _memo_index(sub)
        try:
            _check_rank(sub_gram, "")  # a rare covariate constant in the subsample: no optimum
            start = _tilting(sub, sub_d, sub_w, sub_index, _intercept(sub_d, sub_w, sub_gram))
        except ValueError:
            pass
        else:
            # The subsample's Hessian at its optimum stands in for the whole sample's there (both
            # are means over units): the whole sample's steps then need its gradient alone.
            hessian = sub.gram(sub_w * (1 - sub_d) * np.exp(sub_index(start))) / sub.shape[0]
            return special.expit(index(_tilting(design, d, w, index, (start, hessian))))
    start = _intercept(d, w, _comparison_gram(design, d, w))
    return special.expit(index(_tilting(design, d, w, index, start)))


def _intercept(
    d: np.ndarray, w: np.ndarray, comparison_gram: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The tilting's start where the intercept alone balances the weighted counts (R starts
    from the logit), and its Hessian there: the comparison units' cross-products / n
    (`comparison_gram`) times the odds."""
    start = np.zeros(comparison_gram.shape[0])
    start[0] = np.log(np.sum(w * d) / np.sum(w * (1 - d)))
    return start, np.exp(start[0]) * comparison_gram


def _tilting(
    design: Standardised,
    d: np.ndarray,
    w: np.ndarray,
    index: Callable[[np.ndarray], np.ndarray],
    start: tuple[np.ndarray, np.ndarray | None],
) -> np.ndarray:
    """`_tilted_scores`' coefficients, by `_newton` from `start` (coefficients, and the Hessian
    there if known)."""
    n = design.shape[0]
    comparison = w * (1 - d)
    treated_total = design.t_dot(w * d)
    gamma0, hessian0 = start
    known = {} if hessian0 is None else {gamma0.tobytes(): hessian0}

    def objective(gamma: np.ndarray) -> float:
        with np.errstate(over="ignore", invalid="ignore"):  # a step too far: inf, rejected
            tilt = np.exp(index(gamma))
            value = float((comparison @ tilt - treated_total @ gamma) / n)
        return value if np.isfinite(value) else np.inf

    def derivatives(gamma: np.ndarray, exact: bool) -> tuple[np.ndarray, np.ndarray | None]:
        with np.errstate(over="ignore"):  # overflow only on the way to an error
            scale = comparison * np.exp(index(gamma))
        hessian = known.pop(gamma.tobytes(), None)
        if hessian is None and exact:
            hessian = design.gram(scale) / n
        return (design.t_dot(scale) - treated_total) / n, hessian

    return _newton(
        objective,
        derivatives,
        gamma0,
        "the propensity score by inverse probability tilting does not converge: no weighting "
        "of the comparison units matches the treated units' covariate means (too little overlap)",
        CHORD_FROM,
    )


def _memo_index(design: Standardised) -> Callable[[np.ndarray], np.ndarray]:
    """x'gamma for every unit, remembering the last: Newton's line search and the derivatives
    after it ask for the same gamma, and each product is a pass over the whole design."""
    last: dict[bytes, np.ndarray] = {}

    def index(gamma: np.ndarray) -> np.ndarray:
        key = gamma.tobytes()
        if key not in last:
            last.clear()
            last[key] = design @ gamma
        return last[key]

    return index


def _logit_scores(design: Standardised, d: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Propensity scores by weighted logistic maximum likelihood (DRDID's glm)."""
    n = design.shape[0]
    weighted_d = design.t_dot(w * d)
    index = _memo_index(design)

    def objective(gamma: np.ndarray) -> float:
        return float((w @ np.logaddexp(0.0, index(gamma)) - weighted_d @ gamma) / n)

    def derivatives(gamma: np.ndarray, exact: bool) -> tuple[np.ndarray, np.ndarray]:
        p = special.expit(index(gamma))
        return (design.t_dot(w * p) - weighted_d) / n, design.gram(w * p * (1 - p)) / n

    start = np.zeros(design.shape[1])
    start[0] = special.logit(np.sum(w * d) / np.sum(w))
    gamma = _newton(
        objective,
        derivatives,
        start,
        "the logistic propensity model does not converge: the covariates separate treated "
        "from comparison units",
    )
    return special.expit(index(gamma))


def _outcome_fit(
    design: Standardised, y: np.ndarray, scale: np.ndarray, gram: np.ndarray
) -> np.ndarray:
    """Least squares of the change on the design with weights `scale` (zero off the comparison
    units) and their cross-products `gram`; return the fitted values for every unit."""
    beta = linalg.cho_solve(linalg.cho_factor(gram), design.t_dot(scale * y) / design.shape[0])
    return design @ beta


def _outcome_fits(design: Standardised, ys: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """`_outcome_fit` of each column of `ys` (n x m), forming the cross-products once; the
    fitted values as n x m."""
    n = design.shape[0]
    gram = design.gram(scale) / n
    _check_rank(gram, " among the comparison units weighted by p / (1 - p)")
    beta = linalg.cho_solve(linalg.cho_factor(gram), design.t_dot(scale[:, None] * ys) / n)
    return design @ beta


def _traditional(
    design: Standardised,
    y: np.ndarray,
    d: np.ndarray,
    w: np.ndarray,
    ps: np.ndarray,
    keep: np.ndarray,
    odds: np.ndarray,
    ols_gram: np.ndarray,
) -> tuple[float, np.ndarray]:
    """DRDID's drdid_panel: the ATT and its influence function with the estimation effects of
    the logit and of the least squares fit (Sant'Anna and Zhao 2020, Theorem 3.1)."""
    n = design.shape[0]
    comparison = 1.0 - d
    residual = y - _outcome_fit(design, y, w * comparison, ols_gram)
    w_treat = keep * w * d
    w_cont = keep * w * comparison * odds
    mean_treat, mean_cont = np.mean(w_treat), np.mean(w_cont)
    eta_treat = np.mean(w_treat * residual) / mean_treat
    eta_cont = np.mean(w_cont * residual) / mean_cont
    att = float(eta_treat - eta_cont)
    # The linear representations of the two fits, applied to a derivative vector without
    # forming n x k matrices: (w (1 - D) e x') (X'WX / n)^-1 m, (w (D - p) x') (X'W_p X / n)^-1 m.
    ols_factor = linalg.cho_factor(ols_gram)
    logit_factor = linalg.cho_factor(design.gram(ps * (1 - ps) * w) / n)

    def ols_effect(derivative: np.ndarray) -> np.ndarray:
        return w * comparison * residual * (design @ linalg.cho_solve(ols_factor, derivative))

    def logit_effect(derivative: np.ndarray) -> np.ndarray:
        return w * (d - ps) * (design @ linalg.cho_solve(logit_factor, derivative))

    m1 = design.t_dot(w_treat) / n
    m2 = design.t_dot(w_cont * (residual - eta_cont)) / n
    m3 = design.t_dot(w_cont) / n
    inf_treat = (w_treat * residual - w_treat * eta_treat - ols_effect(m1)) / mean_treat
    inf_cont = (
        w_cont * residual - w_cont * eta_cont + logit_effect(m2) - ols_effect(m3)
    ) / mean_cont
    return att, inf_treat - inf_cont
