"""The headline estimates' correlation across outcomes (tf_eval.method.joint, issue 20): the
engine's correlation against the Monte Carlo correlation of the estimates over many samples of a
synthetic world, and a hand-made case of correlation 1.
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
