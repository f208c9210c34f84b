"""One estimator shared by every estimate: a weighted difference in mean change between supported
and comparison people (or the supported mean alone), from a clustered weighted least-squares
regression with an optional outcome model.

`weighted_difference` works on people; `family_difference` is the same estimator computed on
family means, for the panel. Uncertainty is CR2 with Bell-McCaffrey degrees of freedom by
default (`Inference`), and the outcome model shrinks when the data are thin.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tf_eval import config
from tf_eval.data.record_keys import cell_key
from tf_eval.method.cr2 import ClusterTooLarge
from tf_eval.method.design import Covariates, centred_columns, contrast_layout, expanded
from tf_eval.method.regression import VARIANCES, ClusteredFit, fit_clustered_wls

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
    # For a 0/1 outcome, the people with the event in each group compared (treated, comparison)
    # in the window the estimate is about: the gate withholds an estimate resting on a few.
    events: tuple[int, int] | None = None
    # And the families holding its rarer answer (someone with the event, or someone without) in
    # the smaller group: they cap df_t (tf_eval.method.estimators.with_events), and the gate
    # needs more than its count rounding base of them (the capped df would give their count).
    informative_families: int | None = None


def weighted_difference(
    outcome: str,
    values: np.ndarray,
    treated: np.ndarray,
    weights: np.ndarray,
    families: np.ndarray,
    contrast: bool = True,
    adjust: np.ndarray | Covariates | None = None,
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
    name, x = _outcome_model(adjust, thin, keep, t, w, clusters, contrast, how)
    fit = _fit(y, t, w, x, contrast, groups, None, how.variance)
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
    adjust: np.ndarray | Covariates | None = None,
    keys: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    thin: np.ndarray | None = None,
    inference: Inference | None = None,
) -> Estimate:
    """`weighted_difference` for the panel, where a person's treatment, weight and covariates are
    their family's (`family_fit` says how)."""
    return family_fit(
        outcome,
        values,
        family_row,
        treated,
        weights,
        contrast,
        adjust,
        keys,
        thin=thin,
        inference=inference,
    )[0]


def family_differences(
    outcome: str,
    values: np.ndarray,
    family_row: np.ndarray,
    treated: np.ndarray,
    weights: np.ndarray,
    adjust: np.ndarray | Covariates | None = None,
    keys: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    thin: np.ndarray | None = None,
    inference: Inference | None = None,
    scores: bool = False,
) -> tuple[list[Estimate], np.ndarray | None]:
    """`family_difference` (a contrast) of each column of `values` (people x measures, every one
    known: an estimate and its placebo on the same people). Under CR2 they are fitted together,
    sharing the design, its cross-products, CR2's adjustments and the degrees of freedom (which
    depend on the design alone): at national scale a second fit cost 1.5-2 s. With `scores`,
    beside them the first measure's CR2 terms as `family_fit` gives them (None under CR1)."""
    how = inference or Inference()
    if how.variance != "CR2":
        return [
            family_difference(
                outcome,
                column,
                family_row,
                treated,
                weights,
                True,
                adjust,
                keys,
                thin=thin,
                inference=how,
            )
            for column in values.T
        ], None
    estimates, fit, keep = _family_fits(
        outcome, values, family_row, treated, weights, True, adjust, keys, thin, how, scores
    )
    if fit.scores is None:
        return estimates, None
    terms = np.zeros(len(treated))
    terms[keep] = fit.scores[:, 0]
    return estimates, terms


def family_fit(
    outcome: str,
    values: np.ndarray,
    family_row: np.ndarray,
    treated: np.ndarray,
    weights: np.ndarray,
    contrast: bool = True,
    adjust: np.ndarray | Covariates | None = None,
    keys: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    thin: np.ndarray | None = None,
    inference: Inference | None = None,
    scores: bool = False,
) -> tuple[Estimate, np.ndarray | None]:
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

    With `scores` (CR2 only) it returns, beside the estimate, each family's term of the effect's
    CR2 variance (0 for families not in the fit; their squares sum to se^2), so that fits of
    several periods on the same families give their joint covariance (tf_eval.method.event_study).
    """
    how = inference or Inference()
    fit_scores = scores and how.variance == "CR2"
    estimates, fit, keep = _family_fits(
        outcome, values, family_row, treated, weights, contrast, adjust, keys, thin, how, fit_scores
    )
    if not scores:
        return estimates[0], None
    terms = np.zeros(len(treated))
    if fit.scores is not None:
        terms[keep] = fit.scores
    return estimates[0], terms


def _family_fits(
    outcome: str,
    values: np.ndarray,
    family_row: np.ndarray,
    treated: np.ndarray,
    weights: np.ndarray,
    contrast: bool,
    adjust: np.ndarray | Covariates | None,
    keys: tuple[np.ndarray, np.ndarray] | None,
    thin: np.ndarray | None,
    how: Inference,
    scores: bool = False,
) -> tuple[list[Estimate], ClusteredFit, np.ndarray]:
    """`family_fit` of `values` (per person, or people x measures under CR2): an estimate per
    measure, the fit and the families kept (their rows, in the fit's order: `_fitted`)."""
    n = len(treated)
    keep, size, y, t, w = _families(values, family_row, treated, weights, contrast)
    name, x = _outcome_model(adjust, thin, keep, t, w, keep.size, contrast, how)
    fit = _fit(y, t, w, x, contrast, None, size, how.variance, scores)
    counts = (int(size[t].sum()), int(size[~t].sum()))
    cells = None if keys is None else _cells(keys, family_row, keep, t, n)
    families = (int(t.sum()), int((~t).sum()))
    if y.ndim == 1:
        return [_result(outcome, contrast, fit, counts, families, cells, name)], fit, keep
    estimates = [
        _result(outcome, contrast, _measure(fit, i), counts, families, cells, name)
        for i in range(y.shape[1])
    ]
    return estimates, fit, keep


def family_fits_sharing(
    outcome: str,
    values: np.ndarray,
    family_row: np.ndarray,
    treated: np.ndarray,
    weights: np.ndarray,
    adjust: np.ndarray | Covariates,
    models: list[tuple[np.ndarray, np.ndarray | None, list[int], bool]],
    keys: tuple[np.ndarray, np.ndarray],
    inference: Inference,
) -> list[tuple[list[Estimate], np.ndarray | None]]:
    """Several contrasts of the same people's measures (`values`: people x measures, every one
    known) on the same families, each with an outcome model of its own among `adjust`'s columns.
    `models` gives each one's columns (positions among adjust's: its first ones are read in
    place), its thin model (positions among those), the measures it fits and whether to return
    its first measure's CR2 terms (as family_differences). The families, their means and every
    column's covariates are gathered once (tf_eval.method.design; at national scale each was a
    fifth of a matched estimate's time). Each gives what `family_differences` gives alone."""
    how = inference
    n = len(treated)
    keep, size, means, t, w = _families(values, family_row, treated, weights, True)
    everything, varies = centred_columns(t, w, Covariates.of(adjust).kept(keep))
    counts = (int(size[t].sum()), int(size[~t].sum()))
    families = (int(t.sum()), int((~t).sum()))
    cells = _cells(keys, family_row, keep, t, n)
    found = []
    for columns, thin, measures, scores in models:
        name = _richest(varies[columns], thin, keep.size, how)
        chosen = {"covariates": columns, "pre-levels": None if thin is None else columns[thin]}
        x = None if chosen.get(name) is None else _distinct(everything, chosen[name])
        # CR2 fits the measures together; CR1 one at a time (regression.fit_clustered_wls)
        groups = [measures] if how.variance == "CR2" else [[m] for m in measures]
        estimates, terms = [], None
        for group in groups:
            y = means[:, group[0]] if len(group) == 1 else means[:, group]
            fit = _fit(y, t, w, x, True, None, size, how.variance, scores)
            estimates += [
                _result(
                    outcome,
                    True,
                    fit if y.ndim == 1 else _measure(fit, i),
                    counts,
                    families,
                    cells,
                    name,
                )
                for i in range(len(group))
            ]
            if scores and terms is None and how.variance == "CR2":
                terms = np.zeros(n)
                if fit.scores is not None:
                    terms[keep] = fit.scores if fit.scores.ndim == 1 else fit.scores[:, 0]
        found.append((estimates, terms))
    return found


def _distinct(everything: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """The distinct columns (1, x - c) of the covariates at `columns` among all of `everything`'s:
    a view of it when they are its first ones, else a copy."""
    if np.array_equal(columns, np.arange(columns.size)):
        return everything[:, : 1 + columns.size]
    return everything[:, np.r_[0, 1 + columns]]


def _cells(
    keys: tuple[np.ndarray, np.ndarray],
    family_row: np.ndarray,
    keep: np.ndarray,
    t: np.ndarray,
    n: int,
) -> tuple[int, int, int, int]:
    """The cell keys of the people and families counted in a fit of the families `keep`."""
    person = np.bincount(family_row, weights=keys[0], minlength=n)[keep]
    family = np.asarray(keys[1], dtype=np.int64)[keep]
    person = np.rint(person).astype(np.int64)  # sums of whole numbers, exact in a float
    return (cell_key(person[t]), cell_key(person[~t]), cell_key(family[t]), cell_key(family[~t]))


def _families(
    values: np.ndarray,
    family_row: np.ndarray,
    treated: np.ndarray,
    weights: np.ndarray,
    contrast: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The families a fit of family means takes (with people, a positive weight and, for a mean
    alone, treated), in the fit's order (`_fitted`): their rows, sizes, means of `values`,
    treatment and weights (weight x size)."""
    n = len(treated)
    people = np.bincount(family_row, minlength=n)
    keep = _fitted((people > 0) & (weights > 0) & (treated if not contrast else True), treated)
    size = people[keep]
    means = _family_means(values, family_row, keep, size, n)
    return keep, size, means, treated[keep].astype(bool), weights[keep] * size


def _fitted(keep: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """The rows of the families `keep` marks, comparison families first, each group in its own
    order: the design's comparison and treated parts are then slices of its rows, read in place
    (tf_eval.method.design.contrast_layout), where gathering them cost a pass over the rows each
    time."""
    rows = np.flatnonzero(keep)
    return rows[np.argsort(treated[rows], kind="stable")]


def _family_means(
    values: np.ndarray, family_row: np.ndarray, keep: np.ndarray, size: np.ndarray, n: int
) -> np.ndarray:
    """Each kept family's mean of `values` (per person, or people x measures; `keep` the kept
    families' rows of n)."""
    if values.ndim == 1:
        return np.bincount(family_row, weights=values, minlength=n)[keep] / size
    totals = [np.bincount(family_row, weights=column, minlength=n)[keep] for column in values.T]
    return np.column_stack(totals) / size[:, None]


def _measure(fit: ClusteredFit, column: int) -> ClusteredFit:
    """One measure's fit out of a fit of several."""
    return dataclasses.replace(
        fit, params=fit.params[:, column], bse=fit.bse[:, column], scores=None
    )


def family_profile(
    outcome: str,
    values: np.ndarray,
    family_row: np.ndarray,
    treated: np.ndarray,
    weights: np.ndarray,
    adjust: np.ndarray | Covariates | None,
    keys: tuple[np.ndarray, np.ndarray],
) -> tuple[list[Estimate], np.ndarray]:
    """`family_fit` of several measures of the same people at once (`values`: people x
    measures, every one known), with CR2 and the outcome model `adjust` whole: one design,
    one set of weights and families, so the cross-products, CR2's adjustments and the
    Bell-McCaffrey df are computed once and serve every measure (tf_eval.method.event_study's
    quarters). Returns an estimate per measure and each family's CR2 terms (families x
    measures: 0 for a family not in the fit)."""
    n = len(treated)
    keep, size, y, t, w = _families(values, family_row, treated, weights, True)
    kept = None if adjust is None else centred_columns(t, w, Covariates.of(adjust).kept(keep))[0]
    fit = _fit(y, t, w, kept, True, None, size, "CR2", True)
    cells = _cells(keys, family_row, keep, t, n)
    counts = (int(size[t].sum()), int(size[~t].sum()))
    name = "none" if adjust is None else "covariates"
    estimates = [
        _result(
            outcome,
            True,
            _measure(fit, i),
            counts,
            (int(t.sum()), int((~t).sum())),
            cells,
            name,
        )
        for i in range(values.shape[1])
    ]
    terms = np.zeros((n, values.shape[1]))
    if fit.scores is not None:
        terms[keep] = fit.scores
    return estimates, terms


def choose_outcome_model(
    adjust: np.ndarray | Covariates | None,
    thin: np.ndarray | None,
    keep: np.ndarray,
    families: int,
    contrast: bool,
    inference: Inference,
) -> tuple[str, Covariates | None]:
    """The richest outcome model the data can carry: all of `adjust`'s columns, else those in
    `thin`, else none, whichever first has at least `inference.min_families_per_parameter`
    families per regression parameter (intercept, treatment, and each covariate that varies
    among the rows kept with its interaction). A mean (contrast=False) has no outcome model.
    Returns its name and its columns' rows kept (what the fit takes; nothing copied: the fit
    gathers them into its design)."""
    if adjust is None or not contrast:
        return "none", None
    kept = Covariates.of(adjust).kept(keep)
    name = _richest(kept.varying(), thin, families, inference)
    return name, model_columns(name, kept, thin)


def _richest(
    varies: np.ndarray, thin: np.ndarray | None, families: int, inference: Inference
) -> str:
    """choose_outcome_model's rule, from whether each covariate varies among the rows kept."""
    candidates = [("covariates", varies)] + ([] if thin is None else [("pre-levels", varies[thin])])
    for name, columns in candidates:
        if families >= inference.min_families_per_parameter * (2 + 2 * int(columns.sum())):
            return name
    return "none"


def _outcome_model(
    adjust: np.ndarray | Covariates | None,
    thin: np.ndarray | None,
    keep: np.ndarray,
    t: np.ndarray,
    w: np.ndarray,
    families: int,
    contrast: bool,
    inference: Inference,
) -> tuple[str, np.ndarray | None]:
    """choose_outcome_model's choice for a fit of the rows `keep` (treatment `t`, weights `w`),
    with the chosen model's distinct columns (1, x - c) of those rows (tf_eval.method.design):
    every covariate's are gathered once, and the rule read from them."""
    if adjust is None or not contrast:
        return "none", None
    distinct, varies = centred_columns(t, w, Covariates.of(adjust).kept(keep))
    name = _richest(varies, thin, families, inference)
    if name == "covariates":
        return name, distinct
    if name == "pre-levels" and thin is not None:
        return name, distinct[:, np.r_[0, 1 + thin]]
    return "none", None


def model_columns(
    name: str, adjust: np.ndarray | Covariates, thin: np.ndarray | None
) -> Covariates | None:
    """The outcome model `name` (of choose_outcome_model) on every row of `adjust`."""
    covariates = Covariates.of(adjust)
    if name == "covariates":
        return covariates
    return covariates.taking(thin) if name == "pre-levels" and thin is not None else None


def _fit(
    y: np.ndarray,
    t: np.ndarray,
    w: np.ndarray,
    distinct: np.ndarray | None,
    contrast: bool,
    groups: np.ndarray | None,
    people: np.ndarray | None = None,
    variance: str = "CR2",
    scores: bool = False,
) -> ClusteredFit:
    """The clustered fit of the kept rows (`people` behind each when they are family means); or,
    when they cannot identify the effect (nobody in a group compared, or groups the regression
    cannot tell apart: a tiny matched sample), a fit whose numbers are all NaN, with its residual
    degrees of freedom, so that the estimate is withheld with its reason instead of ending the
    evaluation. `distinct` is a contrast's outcome model: its distinct columns (1, x - c) of the
    rows kept (_outcome_model; None: no outcome model)."""
    clusters = int(groups.max()) + 1 if groups is not None and groups.size else t.size
    columns = 2 * (1 if distinct is None else distinct.shape[1]) if contrast else 1
    if t.any() and (not contrast or not t.all()):
        layout = None
        design = np.ones((t.size, 1)) if distinct is None else distinct
        if contrast:  # the design given by its distinct columns (tf_eval.method.design)
            layout = contrast_layout(t, design.shape[1] - 1)
            if groups is not None:
                design, layout = expanded(design, layout), None
        try:
            return fit_clustered_wls(
                y,
                design,
                w,
                groups,
                2 if contrast else 1,
                people=people,
                variance=variance,
                layout=layout,
                scores=scores and variance == "CR2",
            )
        except ClusterTooLarge as exc:
            raise EvaluationError(str(exc)) from None
        except ValueError:  # singular: the groups compared cannot be told apart
            pass
    nothing = np.full((columns, *y.shape[1:]), np.nan)
    return ClusteredFit(nothing, nothing, np.ones(columns, bool), clusters - 1, clusters)


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
    att, se = float(fit.params[effect]), float(fit.bse[effect])
    low, high = fit.conf_int(effect)
    p_value = fit.p_value(effect)
    if se == 0:  # nothing varied: no event among these people (a rare outcome in a small
        # selection, a source with no records). No estimate, rather than a certain 0.
        att = se = low = high = p_value = float("nan")
    return Estimate(
        outcome=outcome,
        compared=contrast,
        att=att,
        se=se,
        ci_low=low,
        ci_high=high,
        p_value=p_value,
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
