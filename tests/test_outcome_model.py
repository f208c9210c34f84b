"""The outcome model's terms for an outcome measured as a share (estimators.share_shape): the
cube of its pre-window level, stored so that the design stays well conditioned and no other
outcome's level enters through it, and whether the level sits at an end of its range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tf_eval import config
from tf_eval.data import store
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.data.record_keys import record_keys
from tf_eval.method.difference import Inference, family_fit
from tf_eval.method.estimate import AnalysisSpec, prepare
from tf_eval.method.estimators import (
    MATCHED_DID,
    PRE_LEVELS,
    RECENT_COLUMN,
    OutcomeModel,
    doubly_robust_estimate,
    matched_pair,
    outcome_covariate_parts,
    outcome_covariates,
    own_level_columns,
    share_shape,
)

SHAPES = r".*(\^3| at (lowest|highest))"
WHOLE_MODEL = Inference("CR2", 0)  # the thin-data rule off


@pytest.fixture(scope="module")
def matched(demo_db: Path):
    panel, matching = prepare(store.Store(demo_db), AnalysisSpec())
    return panel, matching


def _standardised_condition(frame: pd.DataFrame) -> float:
    x = frame.to_numpy(dtype=float)
    return float(np.linalg.cond((x - x.mean(axis=0)) / x.std(axis=0)))


def test_the_shares_get_a_cube_and_their_ends_the_counts_get_neither(matched) -> None:
    _, matching = matched
    model = outcome_covariates(matching.covariates, matching.treated)
    shapes = [c for c in model.columns if pd.Series([c]).str.fullmatch(SHAPES)[0]]
    # Attendance's lowest end is where families without a pupil sit: has_pupil says it already.
    assert shapes == [
        "pre_attendance^3",
        "pre_worklessness^3",
        "pre_worklessness at lowest",
        "pre_worklessness at highest",
    ]
    level = model["pre_worklessness"].to_numpy()
    np.testing.assert_array_equal(model["pre_worklessness at lowest"], level == 0)
    np.testing.assert_array_equal(model["pre_worklessness at highest"], level == 1)


def test_the_model_from_its_parts_is_the_model_of_their_join(matched) -> None:
    """The evaluation builds the outcome model from the tables `outcome_covariates` joins, never
    joining them (a copy of every family's columns at national scale): the same names and the
    same values."""
    _, matching = matched
    parts = outcome_covariate_parts(matching.covariates, matching.treated)
    assert len(parts) > 2  # the design, the squares and at least one share's terms
    joined = OutcomeModel.of(outcome_covariates(matching.covariates, matching.treated))
    separate = OutcomeModel.of(*parts)
    assert list(separate.names) == list(joined.names)
    np.testing.assert_array_equal(separate.values, joined.values)
    assert not separate.values.flags.writeable


def test_the_stored_cube_is_the_plain_cubes_model_and_keeps_the_design_conditioned(
    matched,
) -> None:
    """Stored as the part of the cube that the level, its square and the columns every model
    has leave unexplained: the same columns' span as the plain cube (so the same fits), with
    the standardised design's condition number where it was without a cube, not 14 times it
    (the cube of the level with the families without a pupil at 0 attendance)."""
    panel, matching = matched
    model = outcome_covariates(matching.covariates, matching.treated)
    plain = model.copy()
    for name in ("pre_attendance", "pre_worklessness"):
        plain[f"{name}^3"] = model[name] ** 3
    stored, bare = model.to_numpy(dtype=float), plain.to_numpy(dtype=float)
    with_intercept = np.column_stack([np.ones(len(bare)), bare])
    for column in ("pre_attendance^3", "pre_worklessness^3"):
        j = model.columns.get_loc(column)
        coefficients = np.linalg.lstsq(with_intercept, stored[:, j], rcond=None)[0]
        residual = stored[:, j] - with_intercept @ coefficients
        assert np.abs(residual).max() < 1e-8 * np.abs(stored[:, j]).max()
    without = model.drop(columns=[c for c in model if c.endswith("^3") or " at " in c])
    assert _standardised_condition(model) < 1.1 * _standardised_condition(without)
    assert _standardised_condition(plain) > 5 * _standardised_condition(without)
    # The same fit of worklessness's change, the whole outcome model, from either.
    people = panel.people["worklessness"]
    change = (people["post"] - people["pre"]).to_numpy()
    rows = people["family_row"].to_numpy()
    fits = [
        family_fit(
            "worklessness",
            change,
            rows,
            matching.treated,
            matching.weights,
            True,
            design,
            inference=WHOLE_MODEL,
        )[0]
        for design in (stored, bare)
    ]
    assert fits[0].att == pytest.approx(fits[1].att, rel=1e-7)
    assert fits[0].se == pytest.approx(fits[1].se, rel=1e-6)


def test_no_other_outcomes_level_enters_through_a_cube(matched) -> None:
    """The matched DiD of worklessness leaves out its own level and every term made of it; what
    it keeps of attendance's cube must then hold nothing of worklessness's level. Shuffling
    worklessness's pre-window levels leaves attendance's stored cube as it was."""
    _, matching = matched
    model = outcome_covariates(matching.covariates, matching.treated)
    shuffled = matching.covariates.copy()
    shuffled["pre_worklessness"] = np.random.default_rng(0).permutation(
        shuffled["pre_worklessness"].to_numpy()
    )
    again = outcome_covariates(shuffled, matching.treated)
    np.testing.assert_allclose(again["pre_attendance^3"], model["pre_attendance^3"], atol=1e-12)
    assert not np.allclose(again["pre_worklessness^3"], model["pre_worklessness^3"])
    names = OutcomeModel.of(model).names
    assert names[own_level_columns(names, "worklessness")].tolist() == [
        "pre_worklessness",
        "pre_worklessness^2",
        "pre_worklessness^3",
        "pre_worklessness at lowest",
        "pre_worklessness at highest",
    ]
    x, _ = OutcomeModel.of(model).columns("worklessness", own_level=False)
    kept = names[x.columns] if x.columns is not None else names
    assert "pre_attendance^3" in kept and not any("worklessness" in c for c in kept)


def test_an_end_held_by_few_families_of_a_group_gets_no_term() -> None:
    """Fewer than config.PRE_LEVEL_MIN_FAMILIES families of one group at an end would give them
    a coefficient of their own; as many get one."""
    n = 400
    treated = np.arange(n) < 200
    level = pd.Series(np.linspace(0.05, 0.95, n), name="pre_worklessness")
    fixed = pd.DataFrame({"n_adults": np.arange(n) % 3 + 1.0})
    few = config.PRE_LEVEL_MIN_FAMILIES - 1
    level.iloc[:few] = 0.0  # treated at 0: one too few
    level.iloc[200:260] = 0.0  # comparison at 0: plenty
    level.iloc[190:200] = 1.0  # treated at 1: just enough
    level.iloc[-config.PRE_LEVEL_MIN_FAMILIES :] = 1.0
    terms = share_shape(level, (0.0, 1.0), treated, fixed, np.empty((n, 0), dtype=bool))
    assert list(terms.columns) == ["pre_worklessness^3", "pre_worklessness at highest"]


def test_a_recent_level_enters_its_own_outcomes_model_alone(matched) -> None:
    """Worklessness's level in the pre-window's last months (and its square) is a column of
    worklessness's pre-level adjustment and doubly robust DiD alone: every other outcome's
    columns, and worklessness's matched DiD's, are those of the model without it, so their
    estimates are the same to the last digits; worklessness's pre-level adjustment moves."""
    panel, matching = matched
    recent = panel.families.filter(regex=RECENT_COLUMN)
    assert list(recent.columns) == ["pre_worklessness_recent"]
    model = OutcomeModel.of(*outcome_covariate_parts(matching.covariates, matching.treated, recent))
    bare = OutcomeModel.of(*outcome_covariate_parts(matching.covariates, matching.treated))
    added = ["pre_worklessness_recent", "pre_worklessness_recent^2"]
    assert list(model.names) == list(bare.names) + added
    for outcome in OUTCOMES:
        for own in (True, False):
            expected = _kept(bare, outcome, own)
            if outcome == "worklessness" and own:
                expected += added
            assert _kept(model, outcome, own) == expected, (outcome, own)
    keys = record_keys(panel.families["family_id"])
    fits = {}
    for outcome in ("offending", "worklessness"):
        people = panel.people[outcome]
        change = (people["post"] - people["pre"]).to_numpy()
        rows = people["family_row"].to_numpy()
        person_keys = record_keys(people["person_id"])
        for name, m in (("with", model), ("bare", bare)):
            matched_fits = matched_pair(
                outcome, change, None, PRE_LEVELS, rows, matching.treated, matching.weights,
                m, (person_keys, keys), WHOLE_MODEL,
            )  # fmt: skip
            robust = doubly_robust_estimate(
                outcome, change, rows, matching.treated, m, (person_keys, keys), WHOLE_MODEL
            )
            fits[outcome, name] = [*(matched_fits[k] for k in (MATCHED_DID, PRE_LEVELS)), robust]
    for with_it, without in zip(fits["offending", "with"], fits["offending", "bare"], strict=True):
        assert (with_it.att, with_it.se) == pytest.approx((without.att, without.se), rel=1e-9)
    did, levels, robust = fits["worklessness", "with"]
    assert (did.att, did.se) == pytest.approx(
        (fits["worklessness", "bare"][0].att, fits["worklessness", "bare"][0].se), rel=1e-9
    )
    for moved, before in zip((levels, robust), fits["worklessness", "bare"][1:], strict=True):
        assert abs(moved.att - before.att) > 1e-3 * before.se


def _kept(model: OutcomeModel, outcome: str, own: bool) -> list[str]:
    columns = model.columns(outcome, own)[0].columns
    return list(model.names if columns is None else model.names[columns])
