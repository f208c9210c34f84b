"""Children's social care in the synthetic demo (tf_eval.data.demo_world builds the rest of its
world; docs/method.md, "The synthetic demo").

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

**Streams.** Everything here is drawn from two random streams of its own (`streams`): one for
what the records would hold without support, one for what support changes. The demo's other
records are drawn as they were, so a seed gives the same families, people and records as before
social care was modelled. And as for the other outcomes, a build with other effects has the same
episodes before support: its counterfactual.
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
