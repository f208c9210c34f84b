"""Value for money: what the measured effects are worth per supported family, against what the
programme costs per family, with intervals carried through from the estimates' own.

For each outcome the effect per person over the follow-up window becomes units avoided per person
a year (tf_eval.method.unit_costs), times the people per supported family, times the unit cost:
the first year's benefit per family. Over a persistence of `years`, decaying by `decay` a year and
discounted at `discount` (the Green Book's 3.5% by default), the present value is that times

    F = sum over t = 0 .. years-1 of ((1 - decay) / (1 + discount)) ** t

(the first year undiscounted, as the programme's cost is paid now). The totals are sums over
outcomes, per family; per pound spent they are divided by the programme's cost per family, a
setting no default pretends to know; the break-even cost per family is the benefit itself.

Every interval comes from the same draws of the effects (`draws`, fixed seed), drawn jointly:
the same families are in every outcome's estimate, so the estimates move together, and a total's
interval needs that. The draws are a Gaussian copula with each estimate's own margin: normals
with the estimates' correlation (tf_eval.method.joint, as the disclosure gate releases it), each
turned into its outcome's sampling distribution - t with the estimate's degrees of freedom,
normal without - through the normal CDF and the t quantile, so that each outcome's interval is
its estimate's, whatever the others. Without a correlation (an analysis file, or an outcome the
gate gives none) the draws are independent, and every surface says so. People per family and
unit costs are held fixed in the draws; the one-way sensitivity rows move them (and the
persistence and the programme cost) one at a time.

Pure numbers in, numbers out: it knows nothing of the disclosure gate, which tf_eval.release.value
applies before anything reaches this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from tf_eval import config

MEASURES = ("fiscal", "economic")


class SettingsError(ValueError):
    """A value-for-money setting cannot be used; the message names it, in one line."""


@dataclass(frozen=True)
class Settings:
    """The user's choices: the programme's cost per supported family (pounds at the unit costs'
    price year), how long effects last and fade, and the discount rate."""

    programme_cost: float
    years: int = config.VFM_YEARS
    decay: float = config.VFM_DECAY
    discount: float = config.DISCOUNT_RATE

    def __post_init__(self) -> None:
        if not (math.isfinite(self.programme_cost) and self.programme_cost > 0):
            raise SettingsError(
                f"the programme's cost per family must be a positive number of pounds, "
                f"not {self.programme_cost:g}"
            )
        if not 1 <= self.years <= config.VFM_MAX_YEARS:
            raise SettingsError(
                f"the years an effect lasts must be 1-{config.VFM_MAX_YEARS}, not {self.years}"
            )
        if not (math.isfinite(self.decay) and 0 <= self.decay < 1):
            raise SettingsError(
                f"the decay must be from 0 up to (not including) 1, not {self.decay:g}"
            )
        if not (math.isfinite(self.discount) and 0 <= self.discount < 1):
            raise SettingsError(
                f"the discount rate must be from 0 up to (not including) 1, not {self.discount:g}"
            )


@dataclass(frozen=True)
class OutcomeInput:
    """One outcome's released effect and what turns it into pounds per family a year."""

    outcome: str
    effect: float  # per person over the window, in the engine's unit
    se: float
    df: int | None  # the interval's degrees of freedom (None: normal)
    people_per_family: float  # measured people per supported family
    units_per_effect: float  # units avoided per person a year for an effect of 1
    fiscal: float  # pounds per unit
    economic: float

    def yearly(self, effect: np.ndarray | float) -> dict[str, np.ndarray | float]:
        """The first year's benefit per family, fiscal and economic, for `effect`."""
        units = effect * self.units_per_effect * self.people_per_family
        return {"fiscal": units * self.fiscal, "economic": units * self.economic}


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Figures:
    """Present values per family (benefits, by outcome and in total), per pound spent, and the
    persistence factor F they share."""

    by_outcome: dict[str, dict[str, Interval]]  # outcome -> measure -> benefit per family
    per_family: dict[str, Interval]  # measure -> total benefit per family
    ratio: dict[str, Interval]  # measure -> benefit per pound spent
    factor: float


def persistence(years: int, decay: float, discount: float) -> float:
    """F: the present value of an effect worth 1 a year, lasting `years` and fading by `decay`."""
    step = (1 - decay) / (1 + discount)
    return float(sum(step**t for t in range(years)))


def draws(
    inputs: list[OutcomeInput], n: int, seed: int, correlation: np.ndarray | None = None
) -> np.ndarray:
    """n draws of every outcome's effect (n x outcomes), jointly: standard normals with
    `correlation` (outcomes x outcomes, in the order of `inputs`; None: independent), each
    column then turned into its outcome's sampling distribution (t with its df, else normal) by
    its quantile at the normal's probability, so each margin is exactly its estimate's."""
    k = len(inputs)
    rng = np.random.default_rng(seed)
    normal = rng.standard_normal((n, k))
    if correlation is not None and k:
        normal = normal @ _root(correlation).T
    columns = []
    for item, z in zip(inputs, normal.T, strict=True):
        # By the upper tail of |z|, symmetric: exact far out, where the CDF would round to 1.
        noise = z if item.df is None else np.sign(z) * stats.t.isf(stats.norm.sf(abs(z)), item.df)
        columns.append(item.effect + item.se * noise)
    return np.column_stack(columns) if columns else np.empty((n, 0))


def _root(correlation: np.ndarray) -> np.ndarray:
    """C with C C' the correlation, each row scaled to length 1 so every margin stays a
    standard normal: by eigenvalues, the negative ones (a released correlation is rounded to two
    decimals, which can leave it a little short of positive semi-definite) taken as 0. A
    correlation of 1 gives equal rows: outcomes drawn in the same order."""
    values, vectors = np.linalg.eigh(np.asarray(correlation, dtype=float))
    root = vectors * np.sqrt(np.clip(values, 0.0, None))
    return root / np.linalg.norm(root, axis=1, keepdims=True)


def _interval(estimate: float, simulated: np.ndarray) -> Interval:
    low, high = np.percentile(simulated, [2.5, 97.5])
    return Interval(float(estimate), float(low), float(high))


def value(
    inputs: list[OutcomeInput],
    settings: Settings,
    n: int = config.VFM_DRAWS,
    seed: int = config.VFM_SEED,
    correlation: np.ndarray | None = None,
) -> Figures:
    """Every figure with its 95% interval from `n` joint draws of the effects (`draws`, with
    the estimates' `correlation`, in the order of `inputs`; None: independent draws). A
    percentile interval: a ratio's reflects its numerator's draws, the cost being fixed."""
    factor = persistence(settings.years, settings.decay, settings.discount)
    sampled = draws(inputs, n, seed, correlation)
    by_outcome: dict[str, dict[str, Interval]] = {}
    totals = {m: (0.0, np.zeros(n)) for m in MEASURES}
    for k, item in enumerate(inputs):
        point, simulated = item.yearly(item.effect), item.yearly(sampled[:, k])
        by_outcome[item.outcome] = {}
        for m in MEASURES:
            by_outcome[item.outcome][m] = _interval(factor * point[m], factor * simulated[m])
            total, sims = totals[m]
            totals[m] = (total + factor * point[m], sims + factor * simulated[m])
    per_family = {m: _interval(*totals[m]) for m in MEASURES}
    cost = settings.programme_cost
    ratio = {m: _interval(totals[m][0] / cost, totals[m][1] / cost) for m in MEASURES}
    return Figures(by_outcome, per_family, ratio, factor)


def point_ratio(inputs: list[OutcomeInput], settings: Settings) -> dict[str, float]:
    """The benefit per pound spent at the estimates themselves (no draws)."""
    factor = persistence(settings.years, settings.decay, settings.discount)
    return {
        m: factor
        * sum(float(item.yearly(item.effect)[m]) for item in inputs)
        / settings.programme_cost
        for m in MEASURES
    }


@dataclass(frozen=True)
class SensitivityRow:
    """One setting moved either way, the rest as chosen: the benefit per pound at each end."""

    label: str  # what moves, in words
    low_case: str  # the setting at the end drawn on the left ...
    high_case: str
    low: dict[str, float]  # measure -> benefit per pound at that end
    high: dict[str, float]


def _scaled(
    inputs: list[OutcomeInput], factor: float, only: str | None = None
) -> list[OutcomeInput]:
    return [
        replace(i, fiscal=i.fiscal * factor, economic=i.economic * factor)
        if only in (None, i.outcome)
        else i
        for i in inputs
    ]


def sensitivity(
    inputs: list[OutcomeInput], settings: Settings, labels: dict[str, str]
) -> list[SensitivityRow]:
    """The one-way sensitivity of the benefit per pound: persistence from one year to
    config.VFM_SENSITIVITY_YEARS (or the years chosen, if more), every unit cost together and
    each outcome's alone +-config.VFM_SENSITIVITY_SHARE, and the programme cost as much either
    way; largest swing (economic) first. `labels` names each outcome."""
    share, longest = config.VFM_SENSITIVITY_SHARE, max(config.VFM_SENSITIVITY_YEARS, settings.years)
    more, less = f"{share:.0%} more", f"{share:.0%} less"  # no leading sign: CSV-safe as it is
    cases = [
        (
            "Years effects last",
            "1",
            f"{longest}",
            point_ratio(inputs, replace(settings, years=1)),
            point_ratio(inputs, replace(settings, years=longest)),
        ),
        (
            "All unit costs",
            less,
            more,
            point_ratio(_scaled(inputs, 1 - share), settings),
            point_ratio(_scaled(inputs, 1 + share), settings),
        ),
        (
            "Programme cost per family",
            more,
            less,
            point_ratio(
                inputs, replace(settings, programme_cost=settings.programme_cost * (1 + share))
            ),
            point_ratio(
                inputs, replace(settings, programme_cost=settings.programme_cost * (1 - share))
            ),
        ),
    ]
    for item in inputs:
        if item.fiscal == item.economic == 0:
            continue
        cases.append(
            (
                f"{labels[item.outcome]}: unit cost",
                less,
                more,
                point_ratio(_scaled(inputs, 1 - share, item.outcome), settings),
                point_ratio(_scaled(inputs, 1 + share, item.outcome), settings),
            )
        )
    rows = [SensitivityRow(*case) for case in cases]
    return sorted(rows, key=lambda r: -abs(r.high["economic"] - r.low["economic"]))
