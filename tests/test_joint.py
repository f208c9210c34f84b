"""The headline estimates' correlation across outcomes (tf_eval.method.joint) and the value for
money's joint draws (issue 20): the engine's correlation against the Monte Carlo correlation of
the estimates over many samples of a synthetic world, hand-made cases of correlation 1 and 0,
and what drawing jointly changes. On the demo, through the gate: tests/test_value.py.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tf_eval.method.difference import Inference
from tf_eval.method.estimators import (
    DR_DID,
    MATCHED_DID,
    PRE_LEVELS,
    OutcomeModel,
    doubly_robust_estimate,
    matched_estimate,
    matched_estimates,
)
from tf_eval.method.joint import Contributions
from tf_eval.method.value_model import OutcomeInput, Settings, draws, value

# --- a synthetic world: families, their people, two outcomes of the same families -------------

FAMILIES = 300
SAMPLES = 300  # of the world: its families, their covariates and outcomes drawn afresh


@dataclasses.dataclass(frozen=True)
class World:
    """A sample of families (a third supported, comparison weights as a matching with
    replacement leaves them), their people and two covariates, and each person's change in two
    outcomes: a family's shock moves both, and b's people share a's own noise too. Outcome b is
    measured on some of a's people only (a child's outcome beside everyone's), so the two share
    some families, not all. The outcome models are misspecified for the matched DiD, which
    leaves out `pre_a`, as the demo's may be."""

    treated: np.ndarray
    weights: np.ndarray
    model: OutcomeModel
    rows: np.ndarray  # each person's family
    keys: tuple[np.ndarray, np.ndarray]
    a: np.ndarray  # each person's change
    b: np.ndarray  # ... for the people outcome b measures
    measured_b: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator) -> World:
        treated = np.arange(FAMILIES) % 3 == 0
        weights = np.where(treated, 1.0, rng.choice([0.0, 0.5, 1.0, 2.0], FAMILIES))
        x = rng.normal(size=(FAMILIES, 2)) + 0.3 * treated[:, None]
        rows = np.repeat(np.arange(FAMILIES), rng.integers(1, 4, FAMILIES))
        keys = (rng.integers(0, 256, rows.size), rng.integers(0, 256, FAMILIES))
        family, own = rng.normal(size=FAMILIES)[rows], rng.normal(size=rows.size)
        a = 0.4 * treated[rows] + x[rows, 0] + family + own
        b = -0.2 * treated[rows] + x[rows, 1] + family + own + rng.normal(size=rows.size)
        measured_b = rng.random(rows.size) < 0.6
        model = OutcomeModel.of(pd.DataFrame(x, columns=["pre_a", "x2"]))
        return cls(treated, weights, model, rows, keys, a, b[measured_b], measured_b)

    def estimates(self, estimator: str) -> tuple[float, ...]:
        """Both outcomes' estimates by `estimator` and the engine's correlation of the two."""
        found, how = Contributions(FAMILIES), Inference()
        b_keys = (self.keys[0][self.measured_b], self.keys[1])
        people = {
            "a": (self.a, self.rows, self.keys),
            "b": (self.b, self.rows[self.measured_b], b_keys),
        }
        atts = []
        for outcome, (values, rows, keys) in people.items():
            if estimator == DR_DID:
                args = (outcome, values, rows, self.treated, self.model, keys, how, found)
                atts.append(doubly_robust_estimate(*args).att)
                continue
            args = (outcome, values, rows, self.treated, self.weights, self.model, keys, how)
            atts.append(matched_estimate(estimator, *args, found).att)
        correlation = found.correlation(["a", "b"])
        assert correlation is not None
        return atts[0], atts[1], float(correlation.loc["a", "b"])


@pytest.mark.parametrize("estimator", [PRE_LEVELS, MATCHED_DID, DR_DID])
def test_the_engines_correlation_is_the_estimates_correlation_over_samples(estimator: str) -> None:
    """Over SAMPLES samples of the world, the correlation of the two estimates agrees with the
    engine's (its mean over the samples) within three Monte Carlo standard errors of a sample
    correlation, (1 - r^2) / sqrt(samples); and it is far from 0, the independence the draws
    assumed before."""
    rng = np.random.default_rng(2026)
    found = np.array([World.draw(rng).estimates(estimator) for _ in range(SAMPLES)])
    simulated = float(np.corrcoef(found[:, 0], found[:, 1])[0, 1])
    engine = float(found[:, 2].mean())
    tolerance = 3 * (1 - simulated**2) / np.sqrt(SAMPLES)
    assert abs(engine - simulated) < tolerance, (engine, simulated)
    assert engine > 0.3 and found[:, 2].std() < 0.1  # well away from 0, and stable


def test_an_outcome_measured_twice_has_correlation_1_fitted_alone_or_with_its_placebo() -> None:
    """The same values under two names: correlation 1. Fitted together with a placebo (the
    headline's usual path) the contributions are those of the fit alone."""
    world = World.draw(np.random.default_rng(1))
    placebo = np.random.default_rng(2).normal(size=world.a.size)
    args = (world.rows, world.treated, world.weights, world.model, world.keys, Inference())
    alone, together = Contributions(FAMILIES), Contributions(FAMILIES)
    for name in ("a", "same"):
        matched_estimate(PRE_LEVELS, name, world.a, *args, alone)
        matched_estimates(PRE_LEVELS, name, (world.a, placebo), *args, together)
    one, both = alone.correlation(["a", "same"]), together.correlation(["a", "same"])
    assert one is not None and both is not None
    assert one.loc["a", "same"] == pytest.approx(1.0, abs=1e-6)
    assert both.to_numpy() == pytest.approx(one.to_numpy(), abs=1e-6)


def test_an_estimate_without_contributions_has_no_correlation() -> None:
    found = Contributions(4)
    found.add("a", np.array([True, True, False, True]), np.array([1.0, -2.0, 0.5]))
    found.add("b", np.array([True, True, True, True]), None)  # could not be computed
    found.add("c", np.array([0, 1]), np.zeros(2))  # nothing varied
    correlation = found.correlation(["a", "b", "c"])
    assert correlation is not None and correlation.loc["a", "a"] == 1
    assert correlation.loc[["b", "c"]].isna().all().all()
    assert found.correlation(["a"]) is None  # let go once computed: none is kept


# --- the joint draws ------------------------------------------------------------------------------


def _input(outcome: str, se: float, df: int | None = 30) -> OutcomeInput:
    return OutcomeInput(outcome, -0.1, se, df, 2.0, -1.0, 1000.0, 1500.0)


def test_draws_with_correlation_1_are_identical_in_rank_and_0_independent() -> None:
    pair = [_input("a", 0.05, 12), _input("b", 0.02, 200)]
    same = draws(pair, 5000, 7, np.array([[1.0, 1.0], [1.0, 1.0]]))
    ranks = np.argsort(np.argsort(same, axis=0), axis=0)
    assert (ranks[:, 0] == ranks[:, 1]).all()
    apart = draws(pair, 5000, 7, np.eye(2))
    assert abs(np.corrcoef(apart.T)[0, 1]) < 4 / np.sqrt(5000)


def test_each_outcomes_draws_keep_their_own_t_whatever_the_correlation() -> None:
    """The copula changes how outcomes move together, not any one outcome's distribution: its
    2.5th and 97.5th percentiles are its estimate's t interval."""
    pair = [_input("a", 0.05, 8), _input("b", 0.02, None)]
    for correlation in (np.eye(2), np.array([[1.0, 0.9], [0.9, 1.0]]), None):
        sampled = draws(pair, 400_000, 3, correlation)
        for column, (half, se) in enumerate(((2.306, 0.05), (1.960, 0.02))):
            low, high = np.percentile(sampled[:, column], [2.5, 97.5])
            expected = (-0.1 - half * se, -0.1 + half * se)
            assert (low, high) == pytest.approx(expected, abs=0.03 * se)  # ~4 Monte Carlo SEs


def test_a_released_correlation_rounded_short_of_positive_definite_still_draws() -> None:
    three = [_input(k, 0.03) for k in "abc"]
    rounded = np.array([[1.0, 0.99, -0.99], [0.99, 1.0, 0.99], [-0.99, 0.99, 1.0]])
    assert np.linalg.eigvalsh(rounded)[0] < 0
    sampled = draws(three, 20_000, 1, rounded)
    assert np.isfinite(sampled).all()
    assert sampled.std(axis=0) == pytest.approx([0.03 * np.sqrt(30 / 28)] * 3, rel=0.03)


def test_the_ratios_interval_widens_when_benefits_move_together() -> None:
    pair = [_input("a", 0.05), _input("b", 0.05)]
    settings = Settings(1000.0)
    width = {}
    for r in (-0.6, 0.0, 0.6):
        figures = value(pair, settings, correlation=np.array([[1.0, r], [r, 1.0]]))
        ratio = figures.ratio["economic"]
        width[r] = ratio.high - ratio.low
    assert width[-0.6] < width[0.0] < width[0.6]
    # Two equal outcomes: the total's SD is sqrt(2 (1 + r)) of one's.
    assert width[0.6] / width[0.0] == pytest.approx(np.sqrt(1.6), rel=0.05)


def test_joint_draws_cover_a_planted_truth_where_independent_ones_fall_short() -> None:
    """Estimates of two outcomes drawn with correlation 0.8 around a known truth: the joint
    draws' interval of the total covers it about 95% of the time; the independent draws' is
    too narrow (by sqrt(1.8 / 1) in SD: about 84% coverage)."""
    truth, se, r = np.array([-0.1, -0.05]), np.array([0.04, 0.04]), 0.8
    correlation = np.array([[1.0, r], [r, 1.0]])
    root = np.linalg.cholesky(correlation)
    settings = Settings(1000.0, discount=0.0)
    target = -(truth * 2.0 * 1000.0).sum()
    rng = np.random.default_rng(20)
    covered = {"joint": 0, "independent": 0}
    for rep in range(400):
        found = truth + se * (root @ rng.standard_normal(2))
        inputs = [
            OutcomeInput(k, e, s, None, 2.0, -1.0, 1000.0, 1000.0)
            for k, e, s in zip("ab", found, se, strict=True)
        ]
        for kind, given in (("joint", correlation), ("independent", None)):
            total = value(inputs, settings, n=1000, seed=rep, correlation=given).per_family
            covered[kind] += total["fiscal"].low <= target <= total["fiscal"].high
    assert 0.92 <= covered["joint"] / 400 <= 0.98, covered
    assert 0.78 <= covered["independent"] / 400 <= 0.89, covered
