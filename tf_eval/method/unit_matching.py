"""Matching one set of units: the propensity score, nearest neighbour matching and balance, as an
evaluation of the store's families (tf_eval.method.estimate) and a match of an analysis file
(tf_eval.method.matchfile) both need them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tf_eval import config
from tf_eval.method.balance import balance_table, matched_cell_keys, matched_counts
from tf_eval.method.difference import EvaluationError
from tf_eval.method.matching import NearestNeighbourMatcher
from tf_eval.method.propensity import PropensityModel, design_matrices


@dataclass(frozen=True)
class Matching:
    """The matched sample: each unit's propensity score and matching weight (0 = unmatched)."""

    treated: np.ndarray
    score: np.ndarray
    weights: np.ndarray
    # The propensity model's design, one row per unit (an evaluation's keeps its columns alone:
    # its rows are in the outcome model, `evaluate`).
    covariates: pd.DataFrame
    balance: pd.DataFrame
    counts: dict[str, int]
    dropped_covariates: list[str]  # chosen, but constant (or too rare) in this selection
    keys: np.ndarray | None = None  # each unit's record key (tf_eval.data.record_keys)
    count_keys: dict[str, int] | None = None  # the cell key of each of `counts`
    # The matched pairs (rows of treated unit, comparison unit) when matching 1:1 without
    # replacement; None otherwise (a comparison unit may serve several: sets, not pairs).
    pairs: np.ndarray | None = None


def match_units(
    units: pd.DataFrame,
    treated: np.ndarray,
    covariates: list[str],
    exact: list[str],
    ratio: int,
    caliper: float | None,
    replace: bool,
    unit_keys: np.ndarray | None = None,
    rare: tuple[str, ...] = (),
    on_design: Callable[[pd.DataFrame], None] | None = None,
) -> Matching:
    """Propensity score, nearest-neighbour matching and balance for one set of units (families
    of the panel, or rows of an analysis file). `unit_keys`, the units' record keys, go with
    the result for the disclosure gate's noise on its counts. A chosen covariate that does not
    vary is left out (`dropped_covariates`), and so is one of `rare`, an outcome's pre-window
    level, that too few units of one group have above zero (`too_rare`). `on_design` is given
    the propensity model's design as soon as it is made (what the matching returns as
    `covariates`)."""
    if treated.all() or not treated.any():
        side = "treated" if not treated.any() else "comparison"
        raise EvaluationError(f"there are no {side} units to compare")
    usable = [
        c
        for c in covariates
        if units[c].nunique(dropna=False) > 1
        and not (c in rare and too_rare(units[c].to_numpy(dtype=float), treated))
    ]
    if not usable:
        raise EvaluationError("no chosen covariate varies in this selection")
    try:
        design = design_matrices(units, usable)
        if on_design is not None:
            on_design(design.model)
        score = PropensityModel().fit(design.model, treated).predict(design.model)
        keys = units.groupby(exact, sort=True, dropna=False).ngroup().to_numpy() if exact else None
        matcher = NearestNeighbourMatcher(ratio, caliper, replace).fit(score, treated, keys)
        weights = matcher.weights_
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
        _pairs(matcher, treated) if ratio == 1 and not replace else None,
    )


def too_rare(values: np.ndarray, treated: np.ndarray) -> bool:
    """Whether fewer than config.PRE_LEVEL_MIN_FAMILIES units of either group have `values`
    above zero: a rare event's pre-window level in a small selection, which tells the propensity
    model little and, in the few families of one group alone, separates it (the model would
    refuse the analysis)."""
    above = values > 0
    fewest = min(int(above[treated].sum()), int(above[~treated].sum()))
    return fewest < config.PRE_LEVEL_MIN_FAMILIES


def _pairs(matcher: NearestNeighbourMatcher, treated: np.ndarray) -> np.ndarray:
    """Each matched treated unit's row beside its one comparison unit's."""
    partner = matcher.match_matrix_[:, 0]
    rows = np.flatnonzero(treated)
    return np.column_stack([rows[partner >= 0], partner[partner >= 0]])
