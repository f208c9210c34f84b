"""Three estimators of the same effect, side by side, each resting on its own assumption
(docs/method.md, "Three estimators"):

* **matched DiD**: the change in the outcome among matched supported families minus that among
  their comparison families, with an outcome model of the covariates other than the outcome's
  own pre-window level. It rests on *parallel trends*: without support, matched families'
  outcomes would have changed alike.
* **pre-level adjustment**: the same regression with the outcome's own pre-window level (and its
  square) in the outcome model too. Regressing the change on the pre-level equals regressing the
  post-level on it, so this rests on *no confounding given the pre-window levels*, not on
  parallel trends.
* **doubly robust DiD** (Sant'Anna & Zhao 2020): on every family in the panel, matched or not, a
  propensity model and an outcome model of the change together; right if either is. It rests
  on parallel trends among families alike in their covariates.

When the matching is right and selection rests on the records before the index date, all three
agree; when they disagree, the assumption that separates them is the thing to look at.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from tf_eval import config
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.data.record_keys import cell_key
from tf_eval.method.design import Covariates
from tf_eval.method.difference import (
    Estimate,
    Inference,
    family_differences,
    family_fit,
    family_fits_sharing,
)
from tf_eval.method.drdid import dr_dids
from tf_eval.method.joint import Contributions


@dataclass(frozen=True)
class Estimator:
    key: str
    label: str
    assumption: str  # in words, for every surface that shows the estimate
    short: str  # a table's column heading


MATCHED_DID = "matched_did"
PRE_LEVELS = "pre_level_adjustment"
DR_DID = "doubly_robust_did"
# Rows read first when telling which columns vary (`_varying`).
HEAD_ROWS = 1_000
ESTIMATORS: dict[str, Estimator] = {
    e.key: e
    for e in (
        Estimator(
            PRE_LEVELS,
            "Pre-level adjustment",
            "no confounding given the records before the index date: matched families with the "
            "same pre-window levels would have had the same outcomes without support",
            "Pre-level adjustment",
        ),
        Estimator(
            MATCHED_DID,
            "Matched difference in differences",
            "parallel trends: without support, matched supported and comparison families' "
            "outcomes would have changed alike",
            "Matched DiD",
        ),
        Estimator(
            DR_DID,
            "Doubly robust difference in differences",
            "parallel trends among families alike in their covariates, with either the "
            "propensity model or the outcome model right (every family, not only matched ones)",
            "Doubly robust DiD",
        ),
    )
}


@dataclass(frozen=True)
class OutcomeModel:
    """The outcome model's columns (the propensity covariates and their squares: `names`) as one
    read-only array of every family (`values`), converted once: each estimator takes its own
    columns (`columns`), and at national scale converting the table again for every estimate
    cost 12 s of the evaluation."""

    names: pd.Index
    values: np.ndarray

    @classmethod
    def of(cls, *parts: pd.DataFrame) -> OutcomeModel:
        """The model of the columns of `parts` side by side (`outcome_covariate_parts`, or one
        table)."""
        # Row by row in memory (C order), column by column from the tables: a fit gathers its
        # families' rows (tf_eval.method.design), which from a column-major array took 20 times
        # as long, and no second copy of every family's values is made on the way (joining the
        # parts first was one: 1 GB at national scale).
        names = pd.Index([column for part in parts for column in part.columns])
        values = np.empty((len(parts[0]), len(names)))
        j = 0
        for part in parts:
            for column in part.columns:
                values[:, j] = part[column].to_numpy(dtype=float)
                j += 1
        values.flags.writeable = False
        return cls(names, values)

    def columns(
        self,
        outcome: str,
        own_level: bool,
        families: np.ndarray | None = None,
        recent: bool = True,
    ) -> tuple[Covariates, np.ndarray]:
        """The model for `outcome` (with or without its own pre-window level and the terms made of
        it, `own_level_columns`; never another outcome's recent level, nor its own without
        `recent`): the columns of every family's row, or of the rows of `families` (a mask)
        alone, of the shared array (nothing copied: a fit gathers the rows it keeps), and the
        positions of the pre-window levels kept."""
        kept = ~others_recent_columns(self.names, (outcome,))
        if not recent:
            kept &= ~np.asarray(self.names.str.fullmatch(RECENT_COLUMN), dtype=bool)
        if not own_level:
            kept &= ~own_level_columns(self.names, outcome)
        rows = None if families is None else np.flatnonzero(families)
        x = Covariates(self.values, rows, None if kept.all() else np.flatnonzero(kept))
        return x, np.flatnonzero(self.names[kept].str.fullmatch(PRE_LEVEL_COLUMN))


PRE_LEVEL_COLUMN = r"pre_[a-z_]+"  # a pre-window level (not its square)
RECENT_COLUMN = r"pre_[a-z_]+_recent(\^2)?"  # a recent level (Outcome.recent_level), its square


def own_level_columns(names: pd.Index, outcome: str) -> np.ndarray:
    """Which of the outcome model's columns (`names`) are `outcome`'s own pre-window level, its
    recent level and the terms made of them (their squares, and a share's `share_shape`): what
    the matched DiD leaves out (a mask)."""
    own = rf"pre_{outcome}(_recent)?(\^[23]| at (lowest|highest))?"
    return np.asarray(names.str.fullmatch(own), dtype=bool)


def others_recent_columns(names: pd.Index, outcomes: tuple[str, ...]) -> np.ndarray:
    """Which of `names` are the recent level (or its square) of an outcome not among `outcomes`:
    a recent level describes its own outcome's course alone, so no other outcome's model takes
    it (a mask)."""
    recent = np.asarray(names.str.fullmatch(RECENT_COLUMN), dtype=bool)
    for outcome in outcomes:
        recent &= ~own_level_columns(names, outcome)
    return recent


def share_shape(
    level: pd.Series,
    ends: tuple[float, float],
    treated: np.ndarray,
    fixed: pd.DataFrame,
    flags: np.ndarray,
) -> pd.DataFrame:
    """The terms of a share's pre-window level (`level`, named pre_<outcome>; `ends`, the ends of
    its range) beyond its square, for the outcome model. A share piles up at its ends (no day on
    benefit, or every day) and an eligibility rule reads thresholds of it, which a line and a
    square fit badly: on the demo the event study's worklessness quarters before support sat 0.5
    standard errors above 0 with those alone (docs/method.md, "The matched regression").
    `fixed`: the design's columns in every outcome's model (all but the pre-window levels and
    their squares); `flags`, its binary columns as booleans (rows x columns).

    * Its cube (`^3`), stored as the part of it that the level, its square and `fixed` leave
      unexplained (least squares on every k-th family, k as for the warm starts): the same
      model as the plain cube wherever the level is in it, and left out with it (the matched
      DiD's), so no other outcome's level enters through it. The plain cube's scale, and the
      pile of families without a pupil at 0 attendance, made the design ill-conditioned
      (condition number of the standardised demo design 14,000 against 970 without a cube;
      990 so).
    * Whether it sits at each end (` at lowest`, ` at highest`), where at least
      config.PRE_LEVEL_MIN_FAMILIES families of each group do and as many do not (fewer would
      give a handful of families a coefficient of their own), unless one of `flags` or its
      complement says the same (attendance's lowest end is where the families without a pupil
      sit, `has_pupil` 0).

    Only the sample's rows are gathered into a design, and the residual is taken column by
    column: at national scale the whole rows' design was two copies of 2 million x 23 values."""
    x = level.to_numpy(dtype=float)
    z = (x - x.mean()) / (x.std() or 1.0)
    rows = slice(None, None, max(1, len(z) // config.WARM_START_ROWS))
    sample = z[rows]
    basis = np.column_stack([np.ones_like(sample), sample, sample * sample, fixed.iloc[rows]])
    fitted = np.linalg.lstsq(basis, sample * sample * sample, rcond=None)[0]
    cube = ((z - fitted[2]) * z - fitted[1]) * z - fitted[0]  # Horner's rule: ** took 0.1 s
    for coefficient, column in zip(fitted[3:], fixed.columns, strict=True):
        cube -= coefficient * fixed[column].to_numpy()
    terms = {f"{level.name}^3": cube}
    treated = np.asarray(treated, dtype=bool)
    for end, at in zip(("lowest", "highest"), ends, strict=True):
        there = np.isclose(x, at, rtol=0.0, atol=1e-9)
        counts = [(there & group).sum() for group in (treated, ~treated)]
        counts += [(~there & group).sum() for group in (treated, ~treated)]
        column = there[:, None]
        same = (flags == column).all(axis=0) | (flags != column).all(axis=0)
        if min(counts) >= config.PRE_LEVEL_MIN_FAMILIES and not same.any():
            terms[f"{level.name} at {end}"] = there.astype(float)
    return pd.DataFrame(terms, index=level.index)


def outcome_covariates(
    design: pd.DataFrame, treated: np.ndarray, recent: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The outcome model's covariates: the propensity model's, plus the square of each that is
    not binary (household sizes, pre-window levels), since the change in an outcome depends on
    its pre-window level in a curved way (regression to the mean is stronger further out), for
    an outcome measured as a share its level's `share_shape` (`treated`: each row's group), and
    for a lasting state its recent level and that level's square (`recent`: the panel's
    pre_<key>_recent columns, in `design`'s rows), where its pre-window level is in `design`.
    A recent level enters its own outcome's model alone (`OutcomeModel.columns`), never the
    matching: families are selected on their year's records, and the quarter before the index
    date tells how a claim goes on from there."""
    return pd.concat(outcome_covariate_parts(design, treated, recent), axis=1)


def outcome_covariate_parts(
    design: pd.DataFrame, treated: np.ndarray, recent: pd.DataFrame | None = None
) -> list[pd.DataFrame]:
    """`outcome_covariates` as the tables it joins (`design` itself first), for
    `OutcomeModel.of`."""
    curved = [c for c in design.columns if _more_than_two_values(design[c].to_numpy())]
    squares = design[curved].pow(2).add_suffix("^2")
    fixed = pd.concat([design, squares], axis=1)
    fixed = fixed.loc[:, ~fixed.columns.str.fullmatch(rf"{PRE_LEVEL_COLUMN}(\^2)?")]
    flags = design.loc[:, ~design.columns.isin(curved)].to_numpy() != 0  # the binary columns
    shapes = [
        share_shape(design[f"pre_{key}"], o.share_range, treated, fixed, flags)
        for key, o in OUTCOMES.items()
        if o.share_range is not None and f"pre_{key}" in curved
    ]
    if recent is not None:
        names = [f"pre_{key}_recent" for key, o in OUTCOMES.items() if o.recent_level]
        levels = recent[[n for n in names if n.removesuffix("_recent") in curved]]
        levels = levels.set_axis(design.index)
        shapes += [levels, levels.pow(2).add_suffix("^2")]
    return [design, squares, *shapes]


def _more_than_two_values(values: np.ndarray) -> bool:
    """Whether `values` (no NaN) hold more than two distinct values: two comparisons per value,
    where counting them (pandas' nunique) hashes every one."""
    if not values.size:
        return False
    first = values[0]
    other = values[values != first]
    return other.size > 0 and bool((other != other[0]).any())


@dataclass(frozen=True)
class Events:
    """What an estimate of a 0/1 outcome rests on, per group (treated, comparison): its people
    with the event (`people`: the gate's rule for rare events), and its families holding the
    rarer answer, someone with the event or someone without (`families`: the clusters its
    variance rests on, which cap its degrees of freedom: `with_events`)."""

    people: tuple[int, int]
    families: tuple[int, int]


# `Events` by window ("post", or "pre" for a placebo, among the people who have one) and by who
# is counted (matched families' people, or every family's).
EventCounts = dict[tuple[str, bool], Events]


def event_counts(people: pd.DataFrame, treated: np.ndarray, weights: np.ndarray) -> EventCounts:
    """`EventCounts` of one 0/1 outcome's `people` (the panel's), counted once for all its
    estimates: at national scale a pass over its millions of people per estimate cost seconds."""
    rows = people["family_row"].to_numpy()
    code = treated.astype(np.int64) + 2 * (weights > 0)  # arm, plus 2 if matched; by family
    counts: EventCounts = {}
    for window in ("post", "pre"):
        had = people[window].to_numpy() > 0
        if window == "pre":
            had &= people["placebo"].notna().to_numpy()
        n = np.bincount(code[rows[had]], minlength=4)
        # Per family: its people counted (a placebo's: those with a pre-window), and those with
        # the event.
        everyone = np.bincount(
            rows[people["placebo"].notna().to_numpy()] if window == "pre" else rows,
            minlength=code.size,
        )
        with_event = np.bincount(rows[had], minlength=code.size)
        answers = (with_event > 0, everyone > with_event)  # someone with it; someone without
        f = [np.bincount(code[a], minlength=4) for a in answers]
        for matched, arms in ((True, ([3], [2])), (False, ([1, 3], [0, 2]))):
            counts[(window, matched)] = Events(
                tuple(int(n[a].sum()) for a in arms),
                tuple(int(min(f[0][a].sum(), f[1][a].sum())) for a in arms),
            )
    return counts


def with_events(kind: str, estimate: Estimate, counts: EventCounts, headline: str) -> Estimate:
    """`estimate` (of estimator or part `kind`: "naive", "placebo") with how many of its people
    had the event in each group (`counts`, its outcome's): the gate's rule for rare events
    (tf_eval.release.estimate_rules) needs them. In the follow-up window (the pre-window for a
    placebo), among the matched families' people, or every family's for the doubly robust DiD,
    its placebo and the naive change.

    Its degrees of freedom are then at most 2(k - 1), k the families holding the rarer answer in
    the smaller group compared (`rare_event_df`): a rare event's variance rests on those few
    families, which Bell-McCaffrey's df, computed as if every family's variance were alike,
    credit with more information than they hold (children looked after at one LA x cohort:
    placebo intervals excluding 0 in 12.5% of 343 samples; docs/method.md, "Every LA x
    cohort")."""
    every = kind in ("naive", DR_DID) or (kind == "placebo" and headline == DR_DID)
    window = "pre" if kind == "placebo" else "post"
    found = counts[(window, not every)]
    groups = 2 if estimate.compared else 1
    informative = min(found.families[:groups])
    counted = dataclasses.replace(estimate, events=found.people, informative_families=informative)
    return with_df_at_most(counted, rare_event_df(informative))


def rare_event_df(informative: int) -> int:
    """The most degrees of freedom an estimate of a rare 0/1 outcome may have, from the families
    holding its rarer answer in the smaller group (config.RARE_EVENT_DF_PER_FAMILY)."""
    return max(config.RARE_EVENT_DF_PER_FAMILY * (informative - 1), 1)


def with_df_at_most(e: Estimate, df: float) -> Estimate:
    """`e` with its t distribution's degrees of freedom at most `df`, and its interval and
    p-value recomputed from its estimate and standard error on them (`with_events`' cap
    for rare events)."""
    if not df < e.df_t or not np.isfinite(e.se) or e.se <= 0:
        return e
    half = float(stats.t.ppf(0.975, df)) * e.se
    p_value = float(2 * stats.t.sf(abs(e.att / e.se), df))
    return dataclasses.replace(
        e, df_t=float(df), ci_low=e.att - half, ci_high=e.att + half, p_value=p_value
    )


def matched_pair(
    outcome: str,
    change: np.ndarray,
    earlier: np.ndarray | None,
    headline: str,
    family_row: np.ndarray,
    treated: np.ndarray,
    weights: np.ndarray,
    model: OutcomeModel,
    keys: tuple[np.ndarray, np.ndarray],
    inference: Inference,
    contributions: Contributions | None = None,
) -> dict[str, Estimate]:
    """The matched DiD and the pre-level adjustment of `change`, and, if given, the placebo
    (`earlier`, of the same people) by the `headline` one of them, whose families'
    contributions go to `contributions`: each what `matched_estimate` (or `matched_estimates`
    of the change and its placebo) gives, fitted on one gathering of the matched families and
    their covariates (`family_fits_sharing`). Keys: the two estimators' and "placebo"."""
    matched, inside, rows = _matched_people(family_row, weights)
    # The covariates gathered in the matched DiD's order, the outcome's own pre-window level and
    # the terms made of it last: the matched DiD's are then the first of the pre-level
    # adjustment's.
    own = own_level_columns(model.names, outcome)
    others = others_recent_columns(model.names, (outcome,))
    order = np.r_[np.flatnonzero(~own & ~others), np.flatnonzero(own)]
    shared = int((~own & ~others).sum())
    levels = np.flatnonzero(model.names[order].str.fullmatch(PRE_LEVEL_COLUMN))
    columns = {
        MATCHED_DID: (np.arange(shared), levels[levels < shared]),
        PRE_LEVELS: (np.arange(order.size), levels),
    }
    values = np.column_stack([change[inside]] + ([] if earlier is None else [earlier[inside]]))
    models = [
        (
            *columns[estimator],
            [0, 1] if estimator == headline and earlier is not None else [0],
            estimator == headline and contributions is not None,
        )
        for estimator in (MATCHED_DID, PRE_LEVELS)
    ]
    found = family_fits_sharing(
        outcome,
        values,
        rows,
        treated[matched],
        weights[matched],
        Covariates(model.values, np.flatnonzero(matched), order),
        models,
        (keys[0][inside], np.asarray(keys[1])[matched]),
        inference,
    )
    estimates: dict[str, Estimate] = {}
    for estimator, (fitted, terms) in zip((MATCHED_DID, PRE_LEVELS), found, strict=True):
        estimates[estimator] = fitted[0]
        if len(fitted) > 1:
            estimates["placebo"] = fitted[1]
        if estimator == headline and contributions is not None:
            contributions.add(outcome, matched, terms)
    return estimates


def _matched_people(
    family_row: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The matched families (weights > 0), which people are theirs, and those people's families
    numbered afresh among the matched: a matched estimate's fit takes them alone."""
    matched = weights > 0
    inside = matched[family_row]
    return matched, inside, (np.cumsum(matched) - 1)[family_row[inside]]


def matched_estimate(
    estimator: str,
    outcome: str,
    values: np.ndarray,
    family_row: np.ndarray,
    treated: np.ndarray,
    weights: np.ndarray,
    model: OutcomeModel,
    keys: tuple[np.ndarray, np.ndarray],
    inference: Inference,
    contributions: Contributions | None = None,
) -> Estimate:
    """The matched DiD or the pre-level adjustment of `values` (each person's change)."""
    args = (family_row, treated, weights, model, keys, inference, contributions)
    return matched_estimates(estimator, outcome, (values,), *args)[0]


def matched_estimates(
    estimator: str,
    outcome: str,
    measures: tuple[np.ndarray, ...],
    family_row: np.ndarray,
    treated: np.ndarray,
    weights: np.ndarray,
    model: OutcomeModel,
    keys: tuple[np.ndarray, np.ndarray],
    inference: Inference,
    contributions: Contributions | None = None,
) -> list[Estimate]:
    """`matched_estimate` of each of `measures` (values of the same people: a change and its
    placebo), fitted together (`family_differences`) when there are several. The first
    measure's families' contributions to its error go to `contributions`, if given.

    Only the matched families (weights > 0) and their people go to the fit, numbered afresh: the
    same numbers, the fit gathering the outcome model's rows of those families alone."""
    matched, inside, rows = _matched_people(family_row, weights)
    x, thin = model.columns(outcome, estimator == PRE_LEVELS, matched)
    args = (rows, treated[matched], weights[matched])
    kept_keys = (keys[0][inside], np.asarray(keys[1])[matched])
    scored = {"thin": thin, "inference": inference, "scores": contributions is not None}
    if len(measures) == 1:
        estimate, terms = family_fit(
            outcome, measures[0][inside], *args, True, x, kept_keys, **scored
        )
        estimates = [estimate]
    else:
        values = np.column_stack([measure[inside] for measure in measures])
        estimates, terms = family_differences(outcome, values, *args, x, kept_keys, **scored)
    if contributions is not None:
        contributions.add(outcome, matched, terms)
    return estimates


def doubly_robust_estimate(
    outcome: str,
    values: np.ndarray,
    family_row: np.ndarray,
    treated: np.ndarray,
    model: OutcomeModel,
    keys: tuple[np.ndarray, np.ndarray],
    inference: Inference,
    contributions: Contributions | None = None,
) -> Estimate:
    """Sant'Anna & Zhao's improved doubly robust DiD on family means of `values`, each family
    weighted by its people (so it averages over people, as the matched estimates do). The
    covariates shrink to the pre-window levels, then to none, by the thin-data rule; the interval
    is t with families - parameters degrees of freedom, from the influence function, whose
    centred values (each family's contribution to the error) go to `contributions`, if given."""
    return doubly_robust_estimates(
        (outcome,), (values,), family_row, treated, model, keys, inference, contributions
    )[0]


def doubly_robust_estimates(
    outcomes: tuple[str, ...],
    values: tuple[np.ndarray, ...],
    family_row: np.ndarray,
    treated: np.ndarray,
    model: OutcomeModel,
    keys: tuple[np.ndarray, np.ndarray],
    inference: Inference,
    contributions: Contributions | None = None,
) -> list[Estimate]:
    """`doubly_robust_estimate` of several outcomes measured on the same people (`values`, one
    array each, in `family_row`'s order; `keys` their record keys): one propensity score and one
    outcome regression's cross-products serve them all (drdid.dr_dids)."""
    n = len(treated)
    people = np.bincount(family_row, minlength=n)
    keep = people > 0
    size = people[keep]
    y = np.column_stack(
        [np.bincount(family_row, weights=v, minlength=n)[keep] / size for v in values]
    )
    t = treated[keep].astype(bool)
    name, x = _dr_covariates(model, keep, inference, outcomes)
    parameters = 2 * (x.shape[1] + 1)
    df = max(int(keep.sum()) - parameters, 1)
    try:
        # x is this estimate's own copy of the rows (or the shared, read-only array itself, which
        # dr_dids then copies): standardised in place, it is the estimate's one n x k array.
        found = dr_dids(y, t, x, size.astype(float), overwrite=True)
    except ValueError:  # cannot be computed here: withheld with its reason downstream
        found = []
    fits = [(f.att, f.se) for f in found] or [(np.nan, np.nan)] * len(outcomes)
    if contributions is not None:
        for i, outcome in enumerate(outcomes):
            centred = found[i].influence - found[i].influence.mean() if found else None
            contributions.add(outcome, keep, centred)
    del found  # the influence functions: each an n-vector
    person = np.rint(np.bincount(family_row, weights=keys[0], minlength=n)[keep]).astype(np.int64)
    family = np.asarray(keys[1], dtype=np.int64)[keep]
    cells = (cell_key(person[t]), cell_key(person[~t]), cell_key(family[t]), cell_key(family[~t]))
    estimates = []
    for outcome, (att, se) in zip(outcomes, fits, strict=True):
        if se == 0:  # nothing varied (no event at all): no estimate, as difference._result says
            att, se = np.nan, np.nan
        half = stats.t.ppf(0.975, df) * se
        p_value = float(2 * stats.t.sf(abs(att / se), df)) if se > 0 else np.nan
        estimates.append(
            Estimate(
                outcome=outcome,
                compared=True,
                att=float(att),
                se=float(se),
                ci_low=float(att - half),
                ci_high=float(att + half),
                p_value=p_value,
                n_treated=int(size[t].sum()),
                n_comparison=int(size[~t].sum()),
                families_treated=int(t.sum()),
                families_comparison=int((~t).sum()),
                df_resid=df,
                df_t=float(df),
                variance="influence function",
                outcome_model=name,
                keys=cells,
            )
        )
    return estimates


def _dr_covariates(
    model: OutcomeModel, keep: np.ndarray, inference: Inference, outcomes: tuple[str, ...]
) -> tuple[str, np.ndarray]:
    """The richest covariate set of `outcomes`' models (no other outcome's recent level) with
    enough families per parameter (two models, each with an intercept and a coefficient per
    varying covariate): all, else the pre-window levels, else none. The rows of `keep` (a mask)
    and the columns chosen come in one gather, a C-ordered array of the estimate's own that
    dr_dids standardises in place (or the shared array itself, which it copies)."""
    rows = np.flatnonzero(keep)
    allowed = np.flatnonzero(~others_recent_columns(model.names, outcomes))
    varies = _varying(model.values, rows, allowed)
    pre = np.asarray(model.names[allowed].str.fullmatch(PRE_LEVEL_COLUMN), dtype=bool)
    for name, columns in (("covariates", np.ones_like(pre)), ("pre-levels", pre)):
        chosen = allowed[columns & varies]
        if rows.size >= inference.min_families_per_parameter * 2 * (chosen.size + 1):
            return name, _gathered(model.values, rows, chosen)
    return "none", np.empty((rows.size, 0))


def _gathered(values: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """`values`' `rows` and `columns` (sorted positions) in one C-ordered gather, or `values`
    itself when they are all of it. At national scale each copy of the families' rows was
    0.6 GB; `values[:, mask]` made one in Fortran order, which dr_dids then copied again (and
    took three times as long as this gather)."""
    if rows.size == values.shape[0] and columns.size == values.shape[1]:
        return values
    return values[np.ix_(rows, columns)]


def _varying(values: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Which of `columns` (positions) of `values` (finite) take more than one value among `rows`
    (positions). A column seen to vary in the first rows varies; only those that look constant
    there are read in full. The same answer as comparing each column's max and min over every
    row, which at national scale cost 0.5 s an outcome."""
    if not rows.size:
        return np.ones(columns.size, dtype=bool)
    head = values[np.ix_(rows[:HEAD_ROWS], columns)]
    varies = (head != head[0]).any(axis=0)
    if not varies.all():
        rest = values[np.ix_(rows, columns[~varies])]
        varies[~varies] = (rest != rest[0]).any(axis=0)
    return varies
