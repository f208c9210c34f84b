"""Children's social care and custody in the synthetic demo (tf_eval.data.demo_world builds the
rest of its world; docs/method.md, "The synthetic demo").

**Social care.** Every child (0-17 in the month) may start an episode of each kind each month:
a child in need, a child protection plan, a period looked after. Each kind's chance of a start
rises with the family's need, the child's own frailty (shared by the three kinds, so a child with
one kind of episode is likelier to have another), an age profile and the crisis around
identification; support lowers it (`PlantedEffects.looked_after_ratio`, `child_protection_ratio`;
children in need are left as they are), ramping up as every other effect does. A month holds at
most one start of a kind, drawn with chance 1 - exp(-rate), so the chance of none in a window is
the product of the months' and the truth is exact. Episodes last a random number of days (a
period looked after longest); one still open when the records end has no end, and one that would
run past the next start of its kind ends the day before it (no two of a kind overlap).

**Disposals.** Each proven offence is a caution, a conviction or a custodial sentence with
chances that depend on age at the offence (`JUVENILE_DISPOSALS`, `ADULT_DISPOSALS`): custody is
rarer for 10-17s, cautions commoner. Support lowers offending (the offending hazard, as before)
and, once ramped up, turns a share of custodial sentences into convictions
(`PlantedEffects.custody_ratio`). Custody and convictions are then Poisson counts with known
rates, so their truths are exact too.

**Streams.** Everything here is drawn from two random streams of their own (`streams`): one for
what the records would hold without support, one for what support changes. The demo's other
records are drawn as they were, so a seed gives the same families, people, attendance, benefit
spells, A&E attendances and offences (person and date) as before social care and disposals were
modelled; only the offences' `disposal` column is drawn anew. And as for the other outcomes, a
build with other effects has the same records before support: its counterfactual.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Each kind of episode: monthly rate of a start (need 0, age factor 1, no crisis), its rise per
# SD of need, its rise at the height of the crisis (rate x (1 + crisis)), its age profile (the
# factor up to each age, inclusive, 0-17), and its mean length in days. Set so that about 2.5% of
# comparison families' children start being looked after within 24 months of identification, as
# in the national Troubled Families impact study (2019), child protection plans several times
# more often, and children in need more often still.
AGE_BANDS = (0, 4, 9, 15, 17)  # last age of each band


@dataclass(frozen=True)
class EpisodeKind:
    episode_type: str
    rate: float
    need: float
    crisis: float
    ages: tuple[float, ...]  # factor per AGE_BANDS band
    mean_days: float


EPISODE_KINDS = (
    EpisodeKind("child_in_need", 0.0040, 0.50, 4.0, (1.2, 1.0, 1.0, 1.0, 0.8), 240),
    EpisodeKind("child_protection_plan", 0.0024, 0.60, 3.0, (1.6, 1.2, 1.0, 0.7, 0.4), 270),
    EpisodeKind("looked_after", 0.00073, 0.70, 2.0, (1.6, 0.9, 0.8, 1.2, 0.9), 540),
)
CARE_FRAILTY = 0.6  # log-rate per SD of a child's own frailty, shared by the kinds
# The outcomes read from social care (tf_eval.data.outcomes) and the kind each counts.
CARE_OUTCOMES = {"looked_after": "looked_after", "child_protection": "child_protection_plan"}
# Disposal chances by age at the offence, (custody, conviction); the rest are cautions. Set so
# that about 1.6% of comparison families' adults get a custodial sentence within 24 months, 0.8%
# of their 10-17s, and 4.6% of their 10-17s a conviction or custody.
JUVENILE_DISPOSALS = (0.030, 0.20)
ADULT_DISPOSALS = (0.18, 0.55)
ADULT_AGE = 18


def streams(seed: np.random.SeedSequence) -> tuple[np.random.Generator, np.random.Generator]:
    """The two streams of this module: records and support's changes. Children 3 and 4 of the
    batch's seed, named by their spawn keys (demo_world spawns 0-2), so they are the same
    whatever else was spawned."""
    return tuple(  # type: ignore[return-value]
        np.random.default_rng(np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, k)))
        for k in (3, 4)
    )


def _age_factor(age: np.ndarray, factors: tuple[float, ...]) -> np.ndarray:
    """Each cell's factor by age band; 0 outside 0-17."""
    conditions = [age < 0, *(age <= last for last in AGE_BANDS)]
    return np.select(conditions, [0.0, *factors], 0.0).astype(np.float32)


@dataclass
class Care:
    """Social care of one batch: each kind's monthly chance of a start without support and with
    (people x months), and the episodes as records."""

    chance: dict[str, np.ndarray]  # episode type -> chance of a start, without support
    factor: dict[str, np.ndarray]  # episode type -> support's factor on it (1 without support)
    episodes: pd.DataFrame  # person row, episode_type, start_date, end_date


def social_care(
    rngs: tuple[np.random.Generator, np.random.Generator],
    months,
    age: np.ndarray,
    need: np.ndarray,
    crisis: np.ndarray,
    ramp: np.ndarray,
    ratios: dict[str, float],
) -> Care:
    """Episodes of every kind for people x months of `age` (-1 before birth), with each person's
    `need`, the `crisis` and support's `ramp` (0-1) in each month; `ratios` is support's factor
    on each episode type's rate once ramped up (1 where it changes nothing)."""
    records, changes = rngs
    frailty = records.standard_normal(age.shape[0]).astype(np.float32)
    chance, factor, found = {}, {}, []
    for kind in EPISODE_KINDS:
        rate = (
            kind.rate
            * np.exp(kind.need * need + CARE_FRAILTY * frailty)[:, None]
            * _age_factor(age, kind.ages)
            * (1 + kind.crisis * crisis)
        )
        p = -np.expm1(-rate)
        ratio = ratios.get(kind.episode_type, 1.0)
        f = 1 - (1 - ratio) * ramp
        chance[kind.episode_type], factor[kind.episode_type] = p, f
        person, month = np.nonzero(records.random(age.shape, dtype=np.float32) < p)
        day = (records.random(person.size) * months.days[month]).astype(np.int64)
        length = records.geometric(1 / kind.mean_days, person.size)
        kept = changes.random(person.size) < f[person, month]
        start = months.start[month] + day
        found.append(
            pd.DataFrame(
                {
                    "person": person,
                    "episode_type": kind.episode_type,
                    "start_date": start,
                    "end_date": start + length - 1,
                }
            )[kept]
        )
    episodes = pd.concat(found, ignore_index=True).sort_values(
        ["person", "episode_type", "start_date"], kind="stable", ignore_index=True
    )
    # No two episodes of a kind overlap: one ends the day before the next of its kind starts.
    following = episodes.groupby(["person", "episode_type"])["start_date"].shift(-1)
    cut = following.notna() & (episodes["end_date"] >= following)
    episodes.loc[cut, "end_date"] = following[cut] - pd.Timedelta(days=1)
    episodes.loc[episodes["end_date"] > months.last_day, "end_date"] = pd.NaT
    return Care(chance, factor, episodes)


def any_start_effect(care: Care, episode_type: str, window) -> np.ndarray:
    """Each person's exact effect of support on the chance of any start of `episode_type` in
    `window` (window_sum(values) -> per-person sums over their window): the chance of none
    without support less the chance of none with it."""
    p = care.chance[episode_type].astype(np.float64)  # in double: the truth to its last digits
    f = care.factor[episode_type]
    return np.exp(window(np.log1p(-p))) - np.exp(window(np.log1p(-p * f)))


def disposal_chances(age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chances (people x months) that an offence in the month ends in custody, and in a
    conviction, by age at the offence."""
    juvenile = age < ADULT_AGE
    custody = np.where(juvenile, JUVENILE_DISPOSALS[0], ADULT_DISPOSALS[0]).astype(np.float32)
    conviction = np.where(juvenile, JUVENILE_DISPOSALS[1], ADULT_DISPOSALS[1]).astype(np.float32)
    return custody, conviction


@dataclass
class Disposals:
    """Per cell (person x month) with offences, in row-major order: custodial sentences and
    convictions among its offences (the rest are cautions)."""

    custody: np.ndarray
    conviction: np.ndarray


def disposals(
    rngs: tuple[np.random.Generator, np.random.Generator],
    before: np.ndarray,
    after: np.ndarray,
    chances: tuple[np.ndarray, np.ndarray],
    custody_factor: np.ndarray,
) -> Disposals:
    """Split each cell's offences into disposals: those that would have happened without support
    (`before`, people x months) by `chances`, then those that support left (`after`, a random
    subset of them), then a share (1 - custody_factor) of the custodial sentences left turned
    into convictions. A cell support did not touch draws nothing from the changes' stream."""
    records, changes = rngs
    cells = np.flatnonzero(before)
    n0 = before.flat[cells]
    custody_chance, conviction_chance = (c.flat[cells].astype(float) for c in chances)
    custody = records.binomial(n0, custody_chance)
    conviction = records.binomial(n0 - custody, conviction_chance / (1 - custody_chance))
    caution = n0 - custody - conviction
    n1 = after.flat[cells]
    thinned = n1 < n0
    custody[thinned] = changes.hypergeometric(
        custody[thinned], (n0 - custody)[thinned], n1[thinned]
    )
    conviction[thinned] = changes.hypergeometric(
        conviction[thinned], caution[thinned], (n1 - custody)[thinned]
    )
    turned = (custody > 0) & (custody_factor.flat[cells] < 1)
    moved = changes.binomial(custody[turned], 1 - custody_factor.flat[cells][turned])
    custody[turned] -= moved
    conviction[turned] += moved
    left = n1 > 0  # the cells that keep offences, in the order the records list them
    return Disposals(custody[left], conviction[left])


def disposal_words(counts: np.ndarray, found: Disposals) -> np.ndarray:
    """Each offence's disposal, for the offences of the cells of `counts` (people x months) in
    row-major order, each cell's offences one after another: its custodial sentences, then its
    convictions, then its cautions (their days are drawn at random, so the order says nothing)."""
    n = counts.flat[np.flatnonzero(counts)]
    rank = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    custody, conviction = np.repeat(found.custody, n), np.repeat(found.conviction, n)
    return np.where(
        rank < custody, "custody", np.where(rank < custody + conviction, "conviction", "caution")
    )


def offence_effects(
    off_rate: np.ndarray,
    off_factor: np.ndarray,
    chances: tuple[np.ndarray, np.ndarray],
    custody_factor: np.ndarray,
    window,
) -> dict[str, np.ndarray]:
    """Each person's exact effect of support on the chance of any custodial sentence, and of any
    conviction or custody, over `window` (as in `any_start_effect`): both are Poisson counts,
    whose rates without support are the offending rate times the disposal's chance."""
    rate = off_rate.astype(np.float64)  # in double: the truth to its last digits
    custody, conviction = chances
    jailed_0 = window(rate * custody)
    jailed_1 = window(rate * off_factor * custody * custody_factor)
    convicted_0 = window(rate * (custody + conviction))
    convicted_1 = window(rate * off_factor * (custody + conviction))
    return {
        "custody": np.exp(-jailed_0) - np.exp(-jailed_1),
        "conviction": np.exp(-convicted_0) - np.exp(-convicted_1),
    }
