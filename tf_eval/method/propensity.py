"""Propensity scores as R MatchIt's `distance = "glm"` makes them: the covariate design and an
unpenalised logistic regression with an intercept.

The fit is scikit-learn's unpenalised logistic regression with its Newton-Cholesky solver: it
reproduces R's glm scores to 1e-9 on lalonde and fits 1.25 million families x 15 covariates in
about a second (statsmodels' Logit took 2.5 s). Covariates are centred and scaled first, so
tolerances mean the same whatever a covariate's units; coefficients are reported on the original
scale.

Before fitting, the design is checked so that failures are named rather than guessed at: a
covariate that separates on its own (treated and comparison ranges do not overlap, e.g. a
category only one group has) and collinear covariates. After fitting, separation by a
combination shows as coefficients still running off to infinity after the solver has stopped
(`RUNAWAY_STEP`); the covariates involved are then found by refitting without each in turn.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from tf_eval import config

# A covariate whose R-squared on the covariates before it exceeds 1 - this adds nothing they
# don't already say (what is left is 0.003% of its spread), and the fit would be unstable.
COLLINEAR_RESIDUAL = 1e-9
# Stopping tolerance of the solver (on the gradient, with covariates in SD units): scores then
# agree with R's glm to 1e-9.
TOLERANCE = 1e-10
# At a genuine maximum one more Newton step moves the coefficients (in SDs of the covariates) by
# rounding noise, about 1e-12. Under separation there is no maximum: the solver stops where the
# gradient is tiny, but a further step still moves them by around 0.5, towards infinity.
RUNAWAY_STEP = 1e-3
# The warm start (`_logistic`, config.WARM_START_ROWS): with at least WARM_START_STRIDE x
# SUBSAMPLE_ROWS units, every stride-th unit is fitted first.
SUBSAMPLE_ROWS = config.WARM_START_ROWS
WARM_START_STRIDE = config.WARM_START_STRIDE


@dataclass(frozen=True)
class Design:
    """The covariates as float matrices: one for the propensity model, one for balance reports."""

    model: pd.DataFrame  # categoricals one-hot with their first level dropped (R's contrasts)
    balance: pd.DataFrame  # categoricals one-hot on every level, as cobalt reports them
    binary: frozenset[str]  # balance columns holding only 0 and 1


def design_matrices(frame: pd.DataFrame, covariates: Sequence[str]) -> Design:
    """Build the design as MatchIt does, so scores and balance tables line up with R's.

    Booleans become 0/1; object, string and category columns are categoricals, with levels in
    sorted order (as R's factor()) and dummy columns named column + level (`raceblack`).
    """
    if not covariates:
        raise ValueError("at least one covariate is needed for a propensity model")
    absent = [name for name in covariates if name not in frame.columns]
    if absent:
        raise ValueError(f"covariates not in the data: {_listed(absent)}")
    # Each column's values, collected first and written once into one block of memory laid out
    # as pandas keeps a frame's floats (a row per column): at national scale building the frames
    # from a column each took 4 s.
    columns: dict[str, tuple[np.ndarray, bool]] = {}

    def add(column: str, values: np.ndarray, in_model: bool) -> None:
        if column in columns:
            raise ValueError(
                f"design column {column!r} appears twice (a covariate listed twice, or a dummy "
                "named like another covariate); rename or drop one"
            )
        columns[column] = (values, in_model)

    for name in covariates:
        values = frame[name]
        missing = int(values.isna().sum())
        if missing:
            raise ValueError(
                f"covariate {name!r} has missing values in {missing:,} rows; "
                "drop or impute them first"
            )
        if _is_categorical(values):
            levels = sorted(values.unique())
            if len(levels) < 2:
                raise ValueError(
                    f"covariate {name!r} has only one level ({levels[0]!r}), "
                    "so it cannot inform the model"
                )
            # Integer codes once, rather than comparing every string with every level.
            codes = pd.Categorical(values, categories=levels).codes
            for i, level in enumerate(levels):
                add(f"{name}{level}", codes == i, in_model=i > 0)
        elif pd.api.types.is_numeric_dtype(values):  # includes booleans
            numbers = values.to_numpy(dtype=float)
            if numbers.min() == numbers.max():
                raise ValueError(
                    f"covariate {name!r} has the same value ({numbers[0]:g}) in every row, "
                    "so it cannot inform the model"
                )
            add(name, numbers, in_model=True)
        else:
            raise ValueError(
                f"covariate {name!r} has type {values.dtype}; use numbers, true/false or categories"
            )
    block = np.empty((len(columns), len(frame)))
    binary = set()
    for row, (column, (values, _)) in zip(block, columns.items(), strict=True):
        row[:] = values
        if ((row == 0) | (row == 1)).all():
            binary.add(column)
    names = list(columns)
    in_model = [i for i, (_, model) in enumerate(columns.values()) if model]
    # The model's rows of the block taken by numpy: pandas' own take of them cost 2 s.
    model = pd.DataFrame(
        block[in_model].T, index=frame.index, columns=[names[i] for i in in_model], copy=False
    )
    balance = pd.DataFrame(block.T, index=frame.index, columns=names, copy=False)
    return Design(model=model, balance=balance, binary=frozenset(binary))


def _is_categorical(values: pd.Series) -> bool:
    dtype = values.dtype
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def as_treatment(treated, n: int) -> np.ndarray:
    """Treatment as booleans, checked: read by position (row order), 0/1 or True/False, and with
    both groups present, since a comparison needs both."""
    values = np.asarray(treated)
    if values.shape != (n,):
        raise ValueError(f"treated has {values.size:,} values for {n:,} rows")
    if not np.isin(values, [0, 1]).all():
        raise ValueError("treated must be 0/1 or True/False for every row (no missing values)")
    flags = values == 1
    if flags.all() or not flags.any():
        raise ValueError("treated must include both treated and comparison units")
    return flags


class ModelError(ValueError):
    """A propensity model that cannot be trusted; the message is one line saying why and what to
    try."""


class PropensityModel:
    """Unpenalised logistic regression with an intercept: the model behind MatchIt's glm
    distance, fitted to its maximum likelihood (R's scores to 1e-8), or a ModelError."""

    coef_: pd.Series  # on the original scale, 'const' first
    converged_: bool  # False after a failed fit, so a caller holding the model can tell

    def __init__(self, max_iter: int = 100) -> None:
        if max_iter < 1:
            raise ValueError("max_iter must be at least 1")
        self.max_iter = max_iter

    def fit(self, X: pd.DataFrame, treated) -> PropensityModel:
        """Fit by maximum likelihood; raise ModelError for a singular design, separation or a fit
        that does not converge, since none of those gives scores worth matching on."""
        self.converged_ = False
        flags = as_treatment(treated, len(X))
        names = [str(name) for name in X.columns]
        x = _float_matrix(X)
        _check_alone(x, flags, names)
        centre = x.mean(0)
        # Each column's length by a dot product of its own (norm(axis=0) made temporaries of every
        # row: 1 s at national scale), then the standardised covariates in C order, the layout
        # the solver works in (given any other, scikit-learn copies them: 2 s at national scale).
        scale = np.sqrt(
            [_sum_of_squares(column - c) for column, c in zip(x.T, centre, strict=True)]
        )
        scale /= np.sqrt(len(x))
        z = np.empty(x.shape)
        np.subtract(x, centre, out=z)
        z /= scale
        _check_rank(z, names)
        y = flags.astype(float)
        gamma, runaway, converged = _logistic(z, y, self.max_iter)
        if not converged:  # then its coefficients say nothing about separation either
            raise ModelError(
                f"the propensity model did not converge within max_iter={self.max_iter} Newton "
                "steps; raise max_iter or simplify the model"
            )
        if runaway:
            keep = _separating_set(z, y, gamma[1:], self.max_iter)
            who = _listed([names[k] for k in keep])
            raise ModelError(
                f"treatment is (almost) perfectly predicted by {who}"
                f"{' together' if len(keep) > 1 else ''} (separation), so some propensity "
                "scores are numerically 0 or 1; drop or recode them, or keep only units where "
                "both groups occur"
            )
        coef = gamma[1:] / scale
        self.coef_ = pd.Series([gamma[0] - coef @ centre, *coef], index=["const", *names])
        self.converged_ = True
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Propensity scores for the rows of X, whose columns are found by name."""
        if not getattr(self, "converged_", False):
            raise ValueError("the model has no successful fit to predict from; call fit first")
        names = list(self.coef_.index[1:])
        absent = [name for name in names if name not in X.columns]
        if absent:
            raise ValueError(f"columns the model was fitted on are missing: {_listed(absent)}")
        columns = X if list(X.columns) == names else X[names]  # selecting them copies them all
        eta = self.coef_["const"] + _float_matrix(columns) @ self.coef_.iloc[1:].to_numpy()
        small = np.exp(-np.abs(eta))  # stays finite however large |eta| is
        return np.where(eta >= 0, 1 / (1 + small), small / (1 + small))


def _float_matrix(X: pd.DataFrame) -> np.ndarray:
    x = X.to_numpy(dtype=float)
    bad = ~np.isfinite(x).all(0)
    if bad.any():
        raise ValueError(f"column {X.columns[bad][0]!r} has missing or infinite values")
    return x


def _sum_of_squares(values: np.ndarray) -> float:
    return float(values @ values)


def _check_alone(x: np.ndarray, treated: np.ndarray, names: list[str]) -> None:
    """Catch the usual failures before any fitting: a covariate with one value (collinear with
    the intercept), and covariates that separate on their own, i.e. whose treated and
    comparison ranges do not overlap (a copy of treatment, a category only one group has)."""
    low, high = x.min(0), x.max(0)
    constant = [name for name, lo, hi in zip(names, low, high, strict=True) if lo == hi]
    if constant:
        raise ModelError(
            f"covariate {constant[0]!r} has the same value in every row, so it is collinear with "
            "the intercept; drop it"
        )
    alone = []
    for name, column in zip(names, x.T, strict=True):  # a column at a time: no copy of all rows
        inside, outside = column[treated], column[~treated]
        if outside.max() <= inside.min() or inside.max() <= outside.min():
            alone.append(name)
    if alone:
        raise ModelError(
            f"treatment is perfectly predicted by {_listed(alone)} (separation): treated and "
            "comparison units do not overlap on it, so some propensity scores would be 0 or 1; "
            "drop or recode it, or keep only units where both groups occur"
        )


def _check_rank(z: np.ndarray, names: list[str]) -> None:
    """Raise ModelError naming the first covariate that those before it explain (almost)
    exactly, and those it depends on: R would silently drop it (an NA coefficient).

    z holds centred, scaled columns, so its cross-product is their correlation matrix and a
    combination that involves the intercept shows up among the columns alone.
    """
    corr = z.T @ z / len(z)
    kept: list[int] = []
    for j in range(len(names)):
        if kept:
            coef = np.linalg.solve(corr[np.ix_(kept, kept)], corr[kept, j])
            if corr[j, j] - corr[j, kept] @ coef < COLLINEAR_RESIDUAL:
                used = [names[k] for k, c in zip(kept, coef, strict=True) if abs(c) > 1e-6]
                raise ModelError(
                    f"collinear covariates: {names[j]!r} is a linear combination of "
                    f"{_listed(used)}; drop one of them"
                )
        kept.append(j)


def _logistic(z: np.ndarray, y: np.ndarray, max_iter: int) -> tuple[np.ndarray, bool, bool]:
    """Maximum-likelihood coefficients (intercept first) for z's columns (standardised
    covariates, in C order: scikit-learn copies any other), whether they were still running
    away (separation; see RUNAWAY_STEP), and whether the solver converged."""
    model = _started(z, y, max_iter)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # recorded here, so none reaches the user
        model.fit(z, y)
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        gamma = np.concatenate([model.intercept_, model.coef_[0]])
        model.set_params(tol=0.0, max_iter=1).fit(z, y)  # one more step from there
    step = np.concatenate([model.intercept_, model.coef_[0]]) - gamma
    return gamma, bool(np.abs(step).max() > RUNAWAY_STEP), converged


def _started(z: np.ndarray, y: np.ndarray, max_iter: int) -> LogisticRegression:
    """The solver, to start from zero or, with at least WARM_START_STRIDE x SUBSAMPLE_ROWS units,
    from the maximum of every stride-th unit's likelihood, a few Newton steps fewer for the
    whole sample, each a cross-product of every unit (three instead of five on a 600,000 x 30
    test; at national scale the fit alone 0.4-0.9 s quicker, of 3.5-4.4 s). A subsample whose
    fit fails or warns (a rare covariate it lacks) leaves the whole sample to start from zero;
    either way the maximum found is the whole sample's."""
    model = LogisticRegression(
        C=np.inf, solver="newton-cholesky", tol=TOLERANCE, max_iter=max_iter, warm_start=True
    )
    stride = len(z) // SUBSAMPLE_ROWS
    if stride < WARM_START_STRIDE:
        return model
    fresh = LogisticRegression(**model.get_params())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.fit(np.ascontiguousarray(z[::stride]), y[::stride])
        except ValueError:  # one group only in the subsample
            return fresh
    found = np.concatenate([model.intercept_, model.coef_[0]])
    return fresh if caught or not np.isfinite(found).all() else model


def _separating_set(z: np.ndarray, y: np.ndarray, coef: np.ndarray, max_iter: int) -> list[int]:
    """A minimal set of covariates whose fit still runs away, found by dropping covariates one
    at a time, smallest (scaled) coefficient first. Every coefficient of a separated fit is
    distorted, so the coefficients alone would not say which matter. Only combinations get here
    (`_check_alone` names single covariates); each refit costs a few seconds on a million rows."""
    keep = list(range(len(coef)))
    for j in np.argsort(np.abs(coef)):
        trial = [k for k in keep if k != j]
        if not trial:
            break
        _, runaway, converged = _logistic(z[:, trial], y, max_iter)
        if runaway and converged:
            keep = trial
    return keep


def _listed(names: list[str]) -> str:
    quoted = [repr(name) for name in names]
    return f"{', '.join(quoted[:-1])} and {quoted[-1]}" if len(quoted) > 1 else quoted[0]
