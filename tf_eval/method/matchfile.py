"""The engine on a flat analysis file: one row per unit, a 0/1 treatment column, covariates and
outcome columns (`python -m tf_eval match-file`). Same propensity model, matching and balance as
the panel; the effect is the weighted difference in matched means of each outcome."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tf_eval.data.extracts import too_large
from tf_eval.data.record_keys import row_keys
from tf_eval.method.estimate import Estimate, EvaluationError, weighted_difference
from tf_eval.method.estimators import rare_event_df, with_df_at_most
from tf_eval.method.sensitivity import Sensitivity, sensitivity
from tf_eval.method.unit_matching import Matching, match_units

READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet}


@dataclass(frozen=True)
class FileMatch:
    matching: Matching
    estimates: list[Estimate]
    # What the evidence checks need beyond the estimates, per outcome (tf_eval.method.sensitivity).
    sensitivity: list[Sensitivity] | None = None


def read_analysis_file(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file as a frame, or a one-line reason it cannot be read."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise EvaluationError(f"{path}: unsupported file type (use .csv or .parquet)")
    if not path.is_file():
        raise EvaluationError(f"{path}: no such file")
    try:
        problem = too_large(path, str(path))  # before reading it whole into memory
        if problem:
            raise EvaluationError(problem)
        frame = reader(path)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EvaluationError(f"{path}: cannot be read ({reason})") from None
    if frame.empty:
        raise EvaluationError(f"{path}: has no rows")
    return frame


def _treatment(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    values = frame[column]
    if values.isna().any():
        raise EvaluationError(f"{path}: treatment column {column!r} has missing values")
    if values.dtype == bool:
        return values.to_numpy()
    if not pd.api.types.is_numeric_dtype(values) or not values.isin([0, 1]).all():
        raise EvaluationError(f"{path}: treatment column {column!r} must hold only 0 and 1")
    return values.to_numpy() == 1


def match_file(
    path: Path,
    treatment: str,
    covariates: list[str],
    outcomes: list[str],
    id_column: str | None = None,
    ratio: int = 1,
    caliper: float | None = None,
    replace: bool = False,
    exact: list[str] | None = None,
) -> FileMatch:
    """Match and estimate on one file. Rows sharing an `id_column` value are one cluster for the
    standard errors (e.g. people of one family); without it, each row is its own."""
    frame = read_analysis_file(path)
    named = [treatment, *covariates, *outcomes, *(exact or []), *([id_column] if id_column else [])]
    missing = [c for c in dict.fromkeys(named) if c not in frame.columns]
    if missing:
        raise EvaluationError(
            f"{path}: no column {missing[0]!r} (it has {', '.join(frame.columns)})"
        )
    for column in outcomes:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise EvaluationError(f"{path}: outcome column {column!r} is not numeric")
    treated = _treatment(frame, treatment, path)
    # No pseudonyms here: a row's record key hashes its contents, a cluster's its id, so the same
    # file always gives the same output (tf_eval.data.record_keys).
    keys = row_keys(frame)
    try:
        matching = match_units(
            frame, treated, covariates, exact or [], ratio, caliper, replace, keys
        )
    except ValueError as exc:
        raise EvaluationError(f"{path}: {exc}") from None
    clusters = frame[id_column].to_numpy() if id_column else np.arange(len(frame))
    cluster_keys = row_keys(frame[[id_column]]) if id_column else keys
    estimates, checked = [], []
    for column in outcomes:
        values = frame[column].to_numpy(dtype=float)
        known = ~np.isnan(values)
        try:
            estimates.append(
                weighted_difference(
                    column,
                    values[known],
                    treated[known],
                    matching.weights[known],
                    clusters[known],
                    keys=(keys[known], cluster_keys[known]),
                )
            )
        except EvaluationError as exc:  # e.g. a cluster too large for CR2
            raise EvaluationError(f"{path}: {exc}") from None
        if np.isin(values[known], (0.0, 1.0)).all():  # 0/1: the rules for rare events
            matched = matching.weights[known] > 0
            had = (values[known] == 1) & matched
            arm = treated[known].astype(bool)
            events = (int(had[arm].sum()), int(had[~arm].sum()))
            # The clusters holding the rarer answer in each group cap the df (with_events).
            informative = min(
                min(
                    np.unique(clusters[known][answer & (arm == group)]).size
                    for answer in (had, matched & ~had)
                )
                for group in (True, False)
            )
            counted = dataclasses.replace(
                estimates[-1], events=events, informative_families=informative
            )
            estimates[-1] = with_df_at_most(counted, rare_event_df(informative))
        # Pairs of rows: a pair with a missing outcome drops out (values NaN).
        checked.append(
            sensitivity(
                column,
                values[known],
                values,
                treated[known],
                matching.weights[known],
                matching.pairs,
                estimates[-1].att,
            )
        )
    return FileMatch(matching, estimates, checked)
