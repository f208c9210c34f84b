"""The evaluation: match supported families to comparison families and estimate what changed.

`evaluate` runs the method (docs/method.md) end to end on a store: the panel, the propensity
score, nearest neighbour matching, balance, and for each outcome a difference-in-differences ATT
on the matched sample (with an outcome model that mops up the matches' remaining differences),
the naive before/after change of supported families beside it, and a placebo estimate on two
pre-windows.
`weighted_difference` is the one estimator all of them share (`family_difference` is the same
estimator computed on family means, for the panel): CR2 standard errors and t intervals with
Bell-McCaffrey degrees of freedom by default (`Inference`), and an outcome model that shrinks
when the data are thin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tf_eval import config
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.data.record_keys import cell_key, record_keys
from tf_eval.data.store import Store
from tf_eval.governance.rules import check_selection
from tf_eval.method.balance import balance_table, matched_cell_keys, matched_counts
from tf_eval.method.cr2 import ClusterTooLarge, Part
from tf_eval.method.matching import NearestNeighbourMatcher
from tf_eval.method.panel import FAMILY_COVARIATES, Panel, build_panel
from tf_eval.method.propensity import PropensityModel, design_matrices
from tf_eval.method.regression import VARIANCES, ClusteredFit, fit_clustered_wls

Progress = Callable[[float, str], None]

DEFAULT_COVARIATES = ("la_code", "cohort", *FAMILY_COVARIATES)
# Columns a matched pair may be required to share.
EXACT_KEYS = ("la_code", "index_quarter", "cohort", "has_pupil")
DEFAULT_EXACT = ("la_code", "index_quarter")
MAX_RATIO = 10


# The outcome models an estimate may use, richest first (`Estimate.outcome_model`).
OUTCOME_MODELS = ("covariates", "pre-levels", "none")


class EvaluationError(ValueError):
    """An evaluation that cannot run as asked; the message says why in one line."""


@dataclass(frozen=True)
class Inference:
    """How an estimate's uncertainty is computed (docs/method.md, Estimation).

    `variance`: "CR2" (bias-reduced cluster-robust variance, t with Bell-McCaffrey degrees of
    freedom; the default) or "CR1" (the usual sandwich, t with clusters - 1; kept for the coverage
    study's comparison). `min_families_per_parameter`: the outcome model is used whole only with
    at least this many families per regression parameter, else with the pre-window levels alone,
    else not at all (0 always uses it whole)."""

    variance: str = "CR2"
    min_families_per_parameter: float = config.OUTCOME_MODEL_MIN_FAMILIES_PER_PARAMETER

    def __post_init__(self) -> None:
        if self.variance not in VARIANCES:
            raise EvaluationError(
                f"unknown variance {self.variance!r} (choose from {', '.join(VARIANCES)})"
            )
        if not self.min_families_per_parameter >= 0:
            raise EvaluationError("families per parameter must be 0 or more")


@dataclass(frozen=True)
class AnalysisSpec:
    """Every choice an evaluator can make (docs/method.md), validated on creation."""

    outcomes: tuple[str, ...] = tuple(OUTCOMES)
    covariates: tuple[str, ...] = DEFAULT_COVARIATES
    ratio: int = 1
    caliper: float | None = None
    # With replacement by default: when supported families are a large share of those identified
    # (about 38% in the demo), matching without replacement runs out of close comparison
    # families and leaves standardised differences of 0.3-0.4 that bias the estimates.
    replace: bool = True
    exact: tuple[str, ...] = DEFAULT_EXACT
    follow_up_months: int = config.FOLLOW_UP_MONTHS[0]
    la: str | None = None
    cohort: int | None = None

    def __post_init__(self) -> None:
        unknown = [o for o in self.outcomes if o not in OUTCOMES]
        if unknown or not self.outcomes:
            raise EvaluationError(
                f"unknown outcome {unknown[0]!r} (choose from {', '.join(OUTCOMES)})"
                if unknown
                else "choose at least one outcome"
            )
        unknown = [c for c in self.covariates if c not in DEFAULT_COVARIATES]
        if unknown or not self.covariates:
            raise EvaluationError(
                f"unknown covariate {unknown[0]!r} (choose from {', '.join(DEFAULT_COVARIATES)})"
                if unknown
                else "choose at least one covariate"
            )
        unknown = [c for c in self.exact if c not in EXACT_KEYS]
        if unknown:
            raise EvaluationError(
                f"cannot match exactly on {unknown[0]!r} (choose from {', '.join(EXACT_KEYS)})"
            )
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, int):
            raise EvaluationError("ratio must be a whole number")
        if not 1 <= self.ratio <= MAX_RATIO:
            raise EvaluationError(f"ratio must be between 1 and {MAX_RATIO}")
        if self.caliper is not None and not (np.isfinite(self.caliper) and self.caliper > 0):
            raise EvaluationError("caliper must be a positive number of standard deviations")
        if self.follow_up_months not in config.FOLLOW_UP_MONTHS:
            raise EvaluationError(
                f"follow-up must be {' or '.join(map(str, config.FOLLOW_UP_MONTHS))} months"
            )


@dataclass(frozen=True)
class Estimate:
    """One weighted difference in mean change, with its uncertainty. Exact counts: disclosure
    control is applied where results leave the engine."""

    outcome: str
    compared: bool  # a treated-minus-comparison difference, or the treated mean alone
    att: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    n_treated: int  # people
    n_comparison: int
    families_treated: int
    families_comparison: int
    df_resid: int  # clusters (families) - parameters: the disclosure rule's
    # The t distribution's degrees of freedom behind ci and p: Bell-McCaffrey's under CR2 (the
    # default), clusters - 1 under CR1 (statsmodels').
    df_t: float
    variance: str  # "CR2" or "CR1"
    outcome_model: str  # which of OUTCOME_MODELS the estimate used
    # The cell keys of the four counts above (tf_eval.data.record_keys), for the gate's noise;
    # None when the caller gave no record keys (the gate then refuses to show the counts).
    keys: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class Matching:
    """The matched sample: each unit's propensity score and matching weight (0 = unmatched)."""

    treated: np.ndarray
    score: np.ndarray
    weights: np.ndarray
    covariates: pd.DataFrame  # the propensity model's design, one row per unit
    balance: pd.DataFrame
    counts: dict[str, int]
    dropped_covariates: list[str]  # chosen, but constant in this selection
    keys: np.ndarray | None = None  # each unit's record key (tf_eval.data.record_keys)
    count_keys: dict[str, int] | None = None  # the cell key of each of `counts`


@dataclass(frozen=True)
class Evaluation:
    spec: AnalysisSpec
    matching: Matching
    estimates: list[Estimate]  # matched difference-in-differences
    naive: list[Estimate]  # supported families' own before/after change
    placebo: list[Estimate]  # matched DiD between the placebo window and the pre-window
    excluded: dict[str, int]  # families left out of the panel, by reason
    family_ids: np.ndarray  # each matching row's family (pseudonyms; for the release register)
    excluded_keys: dict[str, int] | None = None  # their cell keys, for the gate's noise


def weighted_difference(
    outcome: str,
    values: np.ndarray,
    treated: np.ndarray,
    weights: np.ndarray,
    families: np.ndarray,
    contrast: bool = True,
    adjust: np.ndarray | None = None,
    keys: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    thin: np.ndarray | None = None,
    inference: Inference | None = None,
) -> Estimate:
    """Weighted mean of `values` among treated people minus that among comparison people (or,
    with contrast=False, the treated mean alone), from a weighted least-squares regression with
    standard errors clustered by family, as `inference` says (CR2 and Bell-McCaffrey t
    intervals by default).

    `keys` (each person's record key, and their family's), if given, make the cell keys of the
    people and families counted (Estimate.keys), for the disclosure gate's noise.

    `adjust` (people x covariates) adds an outcome model: the covariates, centred at the treated
    group's weighted mean, and their interactions with treatment, so the treatment coefficient is
    still the ATT. On a matched sample this removes the bias that the matches' remaining small
    differences would leave (MatchIt's recommended g-computation after matching; Ho, Imai, King
    and Stuart 2007, "matching as nonparametric preprocessing"). With fewer families than
    `inference.min_families_per_parameter` per parameter it shrinks to the columns `thin` (if
    given: the pre-window levels), then to none (`outcome_model` says which was used).
    """
    how = inference or Inference()
    keep = (weights > 0) & (treated if not contrast else True)
    y, t, w = values[keep], treated[keep].astype(bool), weights[keep].astype(float)
    groups = pd.factorize(families[keep])[0]
    clusters = int(groups.max()) + 1 if groups.size else 0
    name, x = choose_outcome_model(adjust, thin, keep, clusters, contrast, how)
    fit = _fit(y, t, w, x, keep, contrast, groups, None, how.variance)
    in_treated = np.bincount(groups[t], minlength=fit.clusters) > 0
    in_comparison = np.bincount(groups[~t], minlength=fit.clusters) > 0
    people = (int(t.sum()), int((~t).sum()))
    cells = None
    if keys is not None:
        person, family = (np.asarray(k, dtype=np.int64)[keep] for k in keys)
        first = np.unique(groups, return_index=True)[1]  # a family's key, once per family
        family_key = family[first]
        cells = (
            cell_key(person[t]),
            cell_key(person[~t]),
            cell_key(family_key[in_treated]),
            cell_key(family_key[in_comparison]),
        )
    families = (in_treated.sum(), in_comparison.sum())
    return _result(outcome, contrast, fit, people, families, cells, name)


def family_difference(
    outcome: str,
    values: np.ndarray,
    family_row: np.ndarray,
    treated: np.ndarray,
    weights: np.ndarray,
    contrast: bool = True,
    adjust: np.ndarray | None = None,
    keys: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    thin: np.ndarray | None = None,
    inference: Inference | None = None,
) -> Estimate:
    """`weighted_difference` for the panel, where a person's treatment, weight and covariates are
    their family's: `values` and `family_row` (their family's row) are per person; `treated`,
    `weights` and `adjust` per family; `keys`, if given, are the people's record keys and the
    families' (for the cell keys of the counts, Estimate.keys).

    The same numbers, from each family's mean instead of its people: with the regressors constant
    within a family, the people-level least squares splits into a within-family part that no
    coefficient touches and the family means' regression weighted by weight x size; and a
    family's cluster score, the sum of its people's weighted residuals times its regressors, is
    its mean's. CR2 needs one thing more: each mean's working variance is 1 / size (people
    independent with equal variance, the people-level fit's working model), which makes its
    adjustment and Bell-McCaffrey degrees of freedom the people-level fit's exactly
    (tf_eval.method.cr2). At national scale that is 800,000 rows instead of 3 million and no
    people x covariates matrix (tests/test_regression.py holds it to the people-level fit).
    """
    how = inference or Inference()
    n = len(treated)
    people = np.bincount(family_row, minlength=n)
    keep = (people > 0) & (weights > 0) & (treated if not contrast else True)
    size = people[keep]
    y = np.bincount(family_row, weights=values, minlength=n)[keep] / size
    t = treated[keep].astype(bool)
    w = weights[keep] * size
    name, x = choose_outcome_model(adjust, thin, keep, int(keep.sum()), contrast, how)
    fit = _fit(y, t, w, x, keep, contrast, None, size, how.variance)
    counts = (int(size[t].sum()), int(size[~t].sum()))
    cells = None
    if keys is not None:
        person = np.bincount(family_row, weights=keys[0], minlength=n)[keep]
        family = np.asarray(keys[1], dtype=np.int64)[keep]
        person = np.rint(person).astype(np.int64)  # sums of whole numbers, exact in a float
        cells = (
            cell_key(person[t]),
            cell_key(person[~t]),
            cell_key(family[t]),
            cell_key(family[~t]),
        )
    return _result(outcome, contrast, fit, counts, (int(t.sum()), int((~t).sum())), cells, name)


def choose_outcome_model(
    adjust: np.ndarray | None,
    thin: np.ndarray | None,
    keep: np.ndarray,
    families: int,
    contrast: bool,
    inference: Inference,
) -> tuple[str, np.ndarray | None]:
    """The richest outcome model the data can carry: all of `adjust`'s columns, else those in
    `thin`, else none, whichever first has at least `inference.min_families_per_parameter`
    families per regression parameter (intercept, treatment, and each covariate that varies
    among the rows kept with its interaction). A mean (contrast=False) has no outcome model."""
    if adjust is None or not contrast:
        return "none", None
    candidates = [("covariates", adjust)]
    if thin is not None:
        candidates.append(("pre-levels", adjust[:, thin]))
    for name, x in candidates:
        rows = x[keep]
        varying = int((rows.max(axis=0) > rows.min(axis=0)).sum()) if rows.size else 0
        if families >= inference.min_families_per_parameter * (2 + 2 * varying):
            return name, x
    return "none", None


def _fit(
    y: np.ndarray,
    t: np.ndarray,
    w: np.ndarray,
    adjust: np.ndarray | None,
    keep: np.ndarray,
    contrast: bool,
    groups: np.ndarray | None,
    people: np.ndarray | None = None,
    variance: str = "CR2",
) -> ClusteredFit:
    """The clustered fit of the kept rows (`people` behind each when they are family means); or,
    when they cannot identify the effect (nobody in a group compared, or groups the regression
    cannot tell apart: a tiny matched sample), a fit whose numbers are all NaN, with its residual
    degrees of freedom, so that the estimate is withheld with its reason instead of ending the
    evaluation."""
    clusters = int(groups.max()) + 1 if groups is not None and groups.size else t.size
    columns = (2 if contrast else 1) + (
        2 * adjust.shape[1] if adjust is not None and contrast else 0
    )
    if t.any() and (not contrast or not t.all()):
        design, base = _design(t, w, adjust, keep, contrast)
        layout = _layout(t, design.shape[1], base) if contrast and groups is None else None
        try:
            return fit_clustered_wls(
                y, design, w, groups, base, people=people, variance=variance, layout=layout
            )
        except ClusterTooLarge as exc:
            raise EvaluationError(str(exc)) from None
        except ValueError:  # singular: the groups compared cannot be told apart
            pass
    nothing = np.full(columns, np.nan)
    return ClusteredFit(nothing, nothing, np.ones(columns, bool), clusters - 1, clusters)


def _design(
    t: np.ndarray, w: np.ndarray, adjust: np.ndarray | None, keep: np.ndarray, contrast: bool
) -> tuple[np.ndarray, int]:
    """The regressors of the kept rows: intercept, treatment (for a contrast), then the outcome
    model's covariates (`adjust`, a contrast only) centred at the treated group's weighted mean
    and their interactions with treatment; with the number of leading columns that must stay."""
    base = 2 if contrast else 1
    x = adjust[keep] if adjust is not None and contrast else None
    extra = 0 if x is None else x.shape[1]
    design = np.empty((t.size, base + 2 * extra))
    design[:, 0] = 1.0
    if contrast:
        design[:, 1] = t
    if x is not None:
        treated_weight = np.where(t, w, 0.0)
        centre = (treated_weight @ x) / treated_weight.sum()
        np.subtract(x, centre, out=design[:, base : base + extra])
        np.multiply(design[:, base : base + extra], t[:, None], out=design[:, base + extra :])
    return design, base


def _layout(t: np.ndarray, columns: int, base: int) -> list[Part]:
    """How `_design`'s contrast rows repeat their columns: a comparison row is (1, x) spread into
    (1, 0, x, 0), a treated row (1, x) into (1, 1, x, x); CR2's work is then on (1, x) alone."""
    extra = columns - base
    source = np.r_[0, base : base + extra // 2]
    comparison = np.zeros((source.size, columns))
    comparison[0, 0] = 1.0
    comparison[1:, base : base + extra // 2] = np.eye(extra // 2)
    treated = comparison.copy()
    treated[0, 1] = 1.0
    treated[1:, base + extra // 2 :] = np.eye(extra // 2)
    return [
        Part(np.flatnonzero(~t), source, comparison),
        Part(np.flatnonzero(t), source, treated),
    ]


def _result(
    outcome: str,
    contrast: bool,
    fit: ClusteredFit,
    people: tuple[int, int],
    families: tuple[int, int],
    keys: tuple[int, int, int, int] | None,
    outcome_model: str,
) -> Estimate:
    effect = 1 if contrast else 0
    low, high = fit.conf_int(effect)
    return Estimate(
        outcome=outcome,
        compared=contrast,
        att=float(fit.params[effect]),
        se=float(fit.bse[effect]),
        ci_low=low,
        ci_high=high,
        p_value=fit.p_value(effect),
        n_treated=people[0],
        n_comparison=people[1],
        families_treated=int(families[0]),
        families_comparison=int(families[1]),
        df_resid=fit.df_resid,
        df_t=fit.df,
        variance=fit.variance,
        outcome_model=outcome_model,
        keys=keys,
    )


def outcome_covariates(design: pd.DataFrame) -> pd.DataFrame:
    """The outcome model's covariates: the propensity model's, plus the square of each that is
    not binary (household sizes, pre-window levels), since the change in an outcome depends on
    its pre-window level in a curved way (regression to the mean is stronger further out)."""
    curved = [c for c in design.columns if design[c].nunique() > 2]
    squares = design[curved].pow(2).add_suffix("^2")
    return pd.concat([design, squares], axis=1)


def match_units(
    units: pd.DataFrame,
    treated: np.ndarray,
    covariates: list[str],
    exact: list[str],
    ratio: int,
    caliper: float | None,
    replace: bool,
    unit_keys: np.ndarray | None = None,
) -> Matching:
    """Propensity score, nearest-neighbour matching and balance for one set of units (families
    of the panel, or rows of an analysis file). `unit_keys`, the units' record keys, go with
    the result for the disclosure gate's noise on its counts."""
    if treated.all() or not treated.any():
        side = "treated" if not treated.any() else "comparison"
        raise EvaluationError(f"there are no {side} units to compare")
    usable = [c for c in covariates if units[c].nunique(dropna=False) > 1]
    if not usable:
        raise EvaluationError("no chosen covariate varies in this selection")
    try:
        design = design_matrices(units, usable)
        score = PropensityModel().fit(design.model, treated).predict(design.model)
        keys = units.groupby(exact, sort=True, dropna=False).ngroup().to_numpy() if exact else None
        weights = (
            NearestNeighbourMatcher(ratio, caliper, replace).fit(score, treated, keys).weights_
        )
        balance = balance_table(design.balance, design.binary, treated, weights, distance=score)
    except ValueError as exc:  # the model's, matcher's and balance's own one-line reasons
        raise EvaluationError(str(exc)) from None
    return Matching(
        treated,
        score,
        weights,
        design.model,
        balance,
        matched_counts(treated, weights),
        [c for c in covariates if c not in usable],
        unit_keys,
        None if unit_keys is None else matched_cell_keys(treated, weights, unit_keys),
    )


def prepare(
    store: Store,
    spec: AnalysisSpec,
    progress: Progress | None = None,
    panel: Panel | None = None,
) -> tuple[Panel, Matching]:
    """The outcome panel and the matched sample for one spec (what every result builds on). A
    selection under the differencing floor raises disclosure.SelectionRefused first. `panel`,
    if given, is this spec's panel built earlier (the dashboard keeps it while an evaluator
    changes only the matching)."""
    report = progress or (lambda fraction, message: None)
    if spec.la is not None:
        known = store.query("SELECT DISTINCT la_code FROM families ORDER BY 1")["la_code"].tolist()
        if spec.la not in known:
            raise EvaluationError(
                f"unknown local authority {spec.la!r} (the store has {', '.join(known) or 'none'})"
            )
    report(0.0, "Building the outcome panel")
    if panel is None:
        panel = build_panel(store, spec.follow_up_months, spec.la, spec.cohort)
    elif panel.follow_up_months != spec.follow_up_months:
        raise ValueError("the panel given was built for another follow-up")
    if panel.families.empty:
        raise EvaluationError("no families in this selection")
    supported = int(panel.families["treated"].sum())
    check_selection(
        {"la": spec.la, "cohort": spec.cohort}, supported, len(panel.families) - supported
    )
    report(0.5, "Fitting propensity scores and matching")
    families = panel.families
    matching = match_units(
        families,
        families["treated"].to_numpy(),
        list(spec.covariates),
        list(spec.exact),
        spec.ratio,
        spec.caliper,
        spec.replace,
        record_keys(families["family_id"]),
    )
    return panel, matching


def evaluate(
    store: Store,
    spec: AnalysisSpec,
    progress: Progress | None = None,
    panel: Panel | None = None,
    inference: Inference | None = None,
) -> Evaluation:
    """Run the whole evaluation for one spec (on `panel` if it was built already); `inference`
    (default CR2 with Bell-McCaffrey df and the thin-data rule) says how uncertainty is
    computed."""
    report = progress or (lambda fraction, message: None)
    how = inference or Inference()
    panel, matching = prepare(store, spec, report, panel)
    report(0.7, "Estimating effects")
    covariates = outcome_covariates(matching.covariates)
    model = covariates.to_numpy(dtype=float)
    # When the data are thin the outcome model keeps only the pre-window levels.
    thin = np.flatnonzero(covariates.columns.str.fullmatch(r"pre_[a-z_]+"))
    treated, weight, families = matching.treated, matching.weights, matching.keys
    # Every supported family's own change, matched or not: what a naive report would show.
    everyone = np.ones(len(treated))
    estimates, naive, placebo = [], [], []
    for key in spec.outcomes:
        people = panel.people[key]
        rows = people["family_row"].to_numpy()
        keys = (record_keys(people["person_id"]), families)
        change = (people["post"] - people["pre"]).to_numpy()
        naive.append(
            family_difference(
                key, change, rows, treated, everyone, contrast=False, keys=keys, inference=how
            )
        )
        estimates.append(
            family_difference(
                key, change, rows, treated, weight, True, model, keys, thin=thin, inference=how
            )
        )
        has = people["placebo"].notna().to_numpy()
        earlier = (people["pre"] - people["placebo"]).to_numpy()[has]
        some = (keys[0][has], families)
        placebo.append(
            family_difference(
                key,
                earlier,
                rows[has],
                treated,
                weight,
                True,
                model,
                some,
                thin=thin,
                inference=how,
            )
        )
    report(1.0, "Done")
    family_ids = panel.families["family_id"].to_numpy()
    return Evaluation(
        spec, matching, estimates, naive, placebo, panel.excluded, family_ids, panel.excluded_keys
    )
