"""The synthetic world behind the demo store: who the families are, what their records say month
by month, who is supported and when, and what support does.

It is built to be hard for the method in the ways a council's data are (docs/method.md, "The
synthetic demo"):

* **A crisis before identification.** Every identified family's outcomes worsen over the months
  before it is identified and recover after (`_crisis`, `_recovery`), so a naive before/after
  comparison of supported families overstates what support did.
* **Selection by an eligibility rule.** A family meeting at least 2 of 6 criteria, read from its
  records in the 12 months before its index date (the first day of the month it was identified:
  the same measures tf-eval computes), is much likelier to be supported; the more criteria, the
  likelier. tf-eval fits a logit on those records, so its propensity model is misspecified by
  design, though selection rests on nothing it cannot see.
* **Attachment lags identification.** Supported families are attached 0-3 months after being
  identified; some others join later (4-48 months after), the rest never. Lags are independent
  of anything after identification.
* **Effects ramp up** over the first `RAMP_MONTHS` months of support, for the promptly supported
  and later joiners alike.
* **People are born** during the records: a family may have a baby after its index date, who is
  in no outcome's population.
* **A variant whose supported families were already diverging** (`pre_divergence`, off by
  default): some families' troubles grow over the year before identification and stay, and those
  families are likelier to be supported, so the event study's pre-trend test has something to
  find (tf_eval.method.event_study).

Children's social care and the disposals of offences (custody) are generated in
tf_eval.data.demo_care, on random streams of their own, and the batch is written as the store's
tables by tf_eval.data.demo_records.

The truth (tf_eval.data.demo_truth) is each supported person's expected effect over the 12 and
24 months from the index date, computed exactly from the generating rates (no simulation noise),
in the units of each outcome's definition and for the people tf-eval measures.

Benefit spells, school terms and windows run in whole calendar months, so tf-eval's measures of
the records are exactly what was generated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from tf_eval import config
from tf_eval.data import demo_care
from tf_eval.data.demo_records import Batch, frames
from tf_eval.data.demo_truth import TruthSums
from tf_eval.data.outcomes import (
    OFFENDING_MIN_AGE,
    SCHOOL_AGES,
    WORKING_AGES,
    age_at,
    in_population,
)

# School terms: (first month of year 0-11, months long, sessions possible).
TERMS = ((8, 4, 140), (0, 3, 124), (3, 4, 116))
# Support's effects build up linearly over this many months from the month of attachment.
RAMP_MONTHS = 6
# Supported families are attached this many months after identification, with these chances.
LAG_MONTHS = (0, 1, 2, 3)
LAG_CHANCES = (0.20, 0.35, 0.30, 0.15)
# Other families join later, 4 to this many months after identification, with this chance.
LATE_JOIN_MONTHS = 48
LATE_JOIN_CHANCE = 0.40
# Months of records needed before an index date (the placebo window) and after (the longest
# follow-up): the demo identifies families only where both fit in its calendar.
MONTHS_BEFORE = 2 * config.PRE_WINDOW_MONTHS
MONTHS_AFTER = max(config.FOLLOW_UP_MONTHS)
# The pre-divergence variant: this share of families drifts (their crisis grows by
# `pre_divergence` over the 12 months before identification and stays), and drifting raises the
# log-odds of prompt support by this much.
DRIFT_SHARE = 0.3
DRIFT_SUPPORT = 3.0


@dataclass(frozen=True)
class DemoCalendar:
    """The demo's records run from `records_from` to `records_to` (whole months); families are
    identified between `identified_from` and `identified_to`."""

    records_from: date = config.DEMO_RECORDS_FROM
    records_to: date = config.DEMO_RECORDS_TO
    identified_from: date = config.DEMO_IDENTIFIED_FROM
    identified_to: date = config.DEMO_IDENTIFIED_TO

    def __post_init__(self) -> None:
        if self.records_from.day != 1:
            raise ValueError("the demo's records must start on the first day of a month")
        first = _month(self.records_from) + MONTHS_BEFORE
        last = _month(self.records_to) - MONTHS_AFTER
        if not first <= _month(self.identified_from) <= _month(self.identified_to) <= last:
            raise ValueError(
                f"families must be identified from {MONTHS_BEFORE} months after the records begin "
                f"to {MONTHS_AFTER} months before they end"
            )


def _month(day: date) -> np.datetime64:
    return np.datetime64(day, "M")


class Months:
    """The calendar's months as arrays: index 0 is the first month of the records."""

    def __init__(self, calendar: DemoCalendar) -> None:
        self.first = _month(calendar.records_from)
        self.n = int((_month(calendar.records_to) - self.first).astype(int)) + 1
        starts = (self.first + np.arange(self.n + 1)).astype("datetime64[D]")
        self.start = starts[:-1]
        self.days = np.diff(starts).astype(np.int64)
        self.of_year = (self.first.astype(np.int64) + np.arange(self.n)) % 12
        self.year = (self.first.astype(np.int64) + np.arange(self.n)) // 12 + 1970
        self.last_day = np.datetime64(calendar.records_to)

    def index(self, days: np.ndarray) -> np.ndarray:
        """The month index of each date."""
        return (days.astype("datetime64[M]") - self.first).astype(np.int64)


@dataclass(frozen=True)
class LocalAuthority:
    code: str
    share: float  # of all identified families
    attach_shift: float  # LA's own propensity to attach (log-odds)
    ae_growth: float  # yearly growth in A&E use
    absence_trend: float  # yearly change in the school absence rate


LOCAL_AUTHORITIES = (
    LocalAuthority("LA01", 0.20, 0.30, 0.040, -0.0020),
    LocalAuthority("LA02", 0.16, -0.10, 0.020, 0.0010),
    LocalAuthority("LA03", 0.14, 0.00, 0.030, -0.0010),
    LocalAuthority("LA04", 0.12, 0.40, 0.010, 0.0030),
    LocalAuthority("LA05", 0.11, -0.30, 0.050, -0.0030),
    LocalAuthority("LA06", 0.10, 0.10, 0.000, 0.0000),
    LocalAuthority("LA07", 0.09, -0.20, 0.035, 0.0020),
    LocalAuthority("LA08", 0.08, 0.20, 0.025, -0.0005),
)


@dataclass(frozen=True)
class PlantedEffects:
    """What support does once it has ramped up (`RAMP_MONTHS` after attachment)."""

    absence_points: float = 0.025  # absence rate falls by this share of sessions
    offending_ratio: float = 0.70  # offending hazard multiplied by this
    benefit_exit_ratio: float = 1.35  # monthly chance of leaving benefit multiplied by this
    benefit_entry_ratio: float = 0.80  # monthly chance of starting a claim multiplied by this
    ae_ratio: float = 0.85  # A&E attendance rate multiplied by this
    looked_after_ratio: float = 0.60  # chance of starting to be looked after multiplied by this
    child_protection_ratio: float = 0.80  # chance of a child protection plan multiplied by this
    custody_ratio: float = 0.85  # chance that an offence ends in custody multiplied by this


# Support doing nothing: a build with these is the same families' counterfactual.
NO_EFFECTS = PlantedEffects(0, 1, 1, 1, 1, 1, 1, 1)


def _crisis(relative_month: np.ndarray) -> np.ndarray:
    """Crisis intensity (0-1) by month relative to identification: builds over about six months,
    peaks in the month of identification, and fades within two or three months after."""
    width = np.where(relative_month <= 0, 4.0, 1.5).astype(np.float32)
    return np.exp(-0.5 * (relative_month / width) ** 2).astype(np.float32)


def _drift(relative_month: np.ndarray) -> np.ndarray:
    """The pre-divergence variant's extra crisis (0-1): rising evenly over the 12 months before
    identification, then staying."""
    return np.clip((relative_month + 12) / 12, 0, 1).astype(np.float32)


def _recovery(relative_month: np.ndarray) -> np.ndarray:
    """Recovery intensity (0-1) after identification, when families stabilise and claimants
    find work again; peaks three months after identification."""
    return np.where(relative_month > 0, np.exp(-0.5 * ((relative_month - 3) / 2.0) ** 2), 0).astype(
        np.float32
    )


def simulate_benefit(
    uniform: np.ndarray, entry: np.ndarray, exit_: np.ndarray, eligible: np.ndarray
) -> np.ndarray:
    """Monthly on-benefit states (people x months) of a two-state Markov chain; the first month
    starts from the chain's stationary share."""
    state = np.zeros(entry.shape, dtype=bool)
    start = entry[:, 0] / (entry[:, 0] + exit_[:, 0])
    state[:, 0] = (uniform[:, 0] < start) & eligible[:, 0]
    for t in range(1, entry.shape[1]):
        stays = state[:, t - 1] & (uniform[:, t] >= exit_[:, t])
        enters = ~state[:, t - 1] & (uniform[:, t] < entry[:, t])
        state[:, t] = (stays | enters) & eligible[:, t]
    return state


def _family_mean(values: np.ndarray, counted: np.ndarray, family: np.ndarray, n: int) -> np.ndarray:
    """Mean of `values` over each family's counted members (0 where none is counted)."""
    total = np.bincount(family, weights=np.where(counted, values, 0.0), minlength=n)
    members = np.bincount(family, weights=counted.astype(float), minlength=n)
    return np.divide(total, members, out=np.zeros(n), where=members > 0)


def _window_sum(values: np.ndarray, start: np.ndarray, months: int) -> np.ndarray:
    """Each row's sum of `values` (people x months) over `months` months from its `start`."""
    columns = np.arange(values.shape[1])[None, :]
    inside = (columns >= start[:, None]) & (columns < (start + months)[:, None])
    return (values * inside).sum(1)


def _ramp(columns: np.ndarray, attached: np.ndarray) -> np.ndarray:
    """How far support has built up (0-1) in each month, from each person's attachment month."""
    since = (columns[None, :] - attached[:, None] + 1).astype(np.float32)
    return np.clip(since / RAMP_MONTHS, 0, 1)


def _ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random 63-bit pseudonyms (the store's identifier type)."""
    return rng.integers(1, np.iinfo(np.int64).max, size=n, dtype=np.int64)


def _age(birth: np.ndarray, month: np.ndarray) -> np.ndarray:
    """Whole years from the birth month to `month` (month indices); -1 before birth."""
    gap = month - birth
    return np.where(gap > 0, gap // 12, -1)


@dataclass
class Terms:
    """School terms per person and term-start month, and how long each term is."""

    possible: np.ndarray  # people x months: sessions possible, in a term's first month only
    share: np.ndarray  # months: the month's share of its term's days (0 out of term)
    start: np.ndarray  # months: the month index where the month's term starts (-1 out of term)
    length: np.ndarray  # months: months in the term starting here (0 where none starts)

    def at_end(self, per_term: np.ndarray) -> np.ndarray:
        """A per-term value (people x months, at term start) moved to the term's last month: a
        term counts in the window it ends in (tf_eval.data.outcomes)."""
        out = np.zeros(per_term.shape, dtype=np.float64)
        first = np.flatnonzero(self.length)
        out[:, first + self.length[first] - 1] = per_term[:, first]
        return out

    def mean(self, monthly: np.ndarray) -> np.ndarray:
        """A monthly rate's day-weighted mean over each term (people x months, at term start)."""
        weighted = monthly * np.where(self.start >= 0, self.share, 0)[None, :]
        out = np.zeros(monthly.shape, dtype=np.float64)
        for first in np.flatnonzero(self.length):
            out[:, first] = weighted[:, first : first + self.length[first]].sum(1)
        return out


def _terms(months: Months, age: np.ndarray, rng: np.random.Generator) -> Terms:
    """Terms wholly inside the records, with sessions for children aged 5-15 at the term's start."""
    share = np.zeros(months.n)
    start = np.full(months.n, -1, dtype=np.int64)
    length = np.zeros(months.n, dtype=np.int64)
    sessions = np.zeros(months.n, dtype=np.int16)
    for first_month, months_long, possible in TERMS:
        for first in np.flatnonzero(months.of_year == first_month):
            if first + months_long > months.n:
                continue
            span = slice(first, first + months_long)
            share[span] = months.days[span] / months.days[span].sum()
            start[span], length[first], sessions[first] = first, months_long, possible
    pupil = (age >= SCHOOL_AGES[0]) & (age <= SCHOOL_AGES[1]) & (sessions > 0)
    drawn = sessions - rng.integers(0, 7, age.shape, dtype=np.int16)
    return Terms(np.where(pupil, drawn, 0).astype(np.int16), share, start, length)


def _expected_benefit_share(
    start: np.ndarray, rows: np.ndarray, first: np.ndarray, months: int, chain: tuple, days
) -> np.ndarray:
    """Expected share of days on benefit over `months` months from `first` for the people in
    `rows`, each starting from its known state `start` in the month before: the chain's
    probabilities carried forward exactly, month by month."""
    entry, exit_, eligible = chain
    p, days_on, total = start.astype(float), 0.0, 0.0
    for k in range(months):
        col = first + k
        p = np.where(
            eligible[rows, col], p * (1 - exit_[rows, col]) + (1 - p) * entry[rows, col], 0.0
        )
        days_on = days_on + p * days[col]
        total = total + days[col]
    return days_on / total


def generate_batch(
    seed: np.random.SeedSequence,
    n: int,
    effects: PlantedEffects,
    truth: TruthSums,
    calendar: DemoCalendar,
    support_shift: float = 0.0,
    pre_divergence: float = 0.0,
) -> dict[str, pd.DataFrame]:
    """`n` families with members and records; adds the supported people's true effects to
    `truth`. `pre_divergence` > 0 makes the variant whose supported families were already
    diverging before support (module docstring); 0 leaves every draw as it was.

    The effects of support are applied by thinning on a random stream of their own, so a build
    with other `effects` and the same seed has the same families, people, pre-period records and
    attachments: it is the same families' counterfactual.
    """
    rng, effect_rng = (np.random.default_rng(s) for s in seed.spawn(2))
    months = Months(calendar)
    las = LOCAL_AUTHORITIES
    t = np.arange(months.n)
    family_id = _ids(rng, n)

    # Families: LA, identification day (1st-28th, so that "3 months later" is a real day) and
    # month; the index date is the first day of that month.
    la = rng.choice(len(las), size=n, p=[a.share for a in las])
    first_month = _month(calendar.identified_from)
    span = int((_month(calendar.identified_to) - first_month).astype(int)) + 1
    id_ym = first_month + rng.integers(0, span, n)
    day = rng.integers(0, 28, n)
    identified = id_ym.astype("datetime64[D]") + day
    index = (id_ym - months.first).astype(np.int64)
    cohort = id_ym.astype("datetime64[Y]").astype(np.int64) + 1970
    need = rng.standard_normal(n)

    # Members: one or two parents, sometimes a grandparent, 0-6 children, sometimes a baby on
    # the way (born 1-11 months after the index date).
    parents = 1 + (rng.random(n) < 0.45)
    grandparent = (rng.random(n) < 0.07).astype(np.int64)
    children = rng.choice(7, size=n, p=[0.06, 0.24, 0.30, 0.21, 0.11, 0.05, 0.03])
    expecting = (rng.random(n) < 0.08).astype(np.int64)
    size = parents + grandparent + children + expecting
    fam = np.repeat(np.arange(n), size)
    n_people = fam.size
    person_id = _ids(rng, n_people)
    pos = np.arange(n_people) - np.repeat(np.cumsum(size) - size, size)
    is_parent = pos < parents[fam]
    is_grand = (pos >= parents[fam]) & (pos < (parents + grandparent)[fam])
    is_baby = pos >= (size - expecting)[fam]
    is_child = ~is_parent & ~is_grand
    lead_age = rng.integers(20, 56, n)[fam]
    child_draw = rng.random(n_people)
    years = np.select(
        [is_parent, is_grand],
        [np.maximum(18, lead_age + (pos == 1) * rng.integers(-4, 7, n_people)), lead_age + 25],
        default=(child_draw * (np.minimum(17, lead_age - 16) + 1)).astype(np.int64),
    )
    months_before = 12 * years + rng.integers(1, 13, n_people)
    birth = index[fam] - np.where(is_baby, -rng.integers(1, 12, n_people), months_before)
    birth_ym = months.first + birth
    birth_year = birth_ym.astype("datetime64[Y]").astype(np.int64) + 1970
    birth_month = birth_ym.astype(np.int64) % 12 + 1
    female_share = np.select([is_parent & (pos == 0), is_parent, is_grand], [0.88, 0.10, 0.70], 0.5)
    sex = np.where(rng.random(n_people) < female_share, "F", "M")
    frailty = rng.standard_normal(n_people).astype(np.float32)
    need_p = need[fam].astype(np.float32)

    # Monthly rates and records, people x months.
    age = _age(birth[:, None], t[None, :])
    born = age >= 0
    relative = (t[None, :] - index[fam][:, None]).astype(np.float32)
    crisis = _crisis(relative)
    drifting = np.zeros(n, dtype=bool)
    if pre_divergence:  # a stream of its own: the default demo's draws stay as they were
        drifting = np.random.default_rng(seed.spawn(1)[0]).random(n) < DRIFT_SHARE
        crisis = crisis + np.float32(pre_divergence) * drifting[fam][:, None] * _drift(relative)
    years_in = (t / 12).astype(np.float32)[None, :]

    ae_age = np.select([age < 5, age < 16, age < 26, age < 70], [1.6, 0.8, 1.3, 1.0], 1.5)
    ae_growth = np.array([a.ae_growth for a in las], dtype=np.float32)[la[fam]][:, None]
    ae_rate = (
        0.035
        * np.exp(0.35 * need_p + 0.35 * frailty)[:, None]
        * ae_age
        * (1 + ae_growth) ** years_in
        * (1 + 0.9 * crisis)
        * born
    ).astype(np.float32)
    ae = rng.poisson(ae_rate)

    off_age = np.select(
        [age < OFFENDING_MIN_AGE, age < 18, age < 26, age < 41, age < 61],
        [0, 1.6, 1.8, 1.0, 0.4],
        0.1,
    )
    off_rate = (
        0.004 * np.exp(0.7 * need_p + 0.8 * frailty - 0.32)[:, None] * off_age * (1 + 1.5 * crisis)
    ).astype(np.float32)
    offences = rng.poisson(off_rate)

    terms = _terms(months, age, rng)
    absence_trend = np.array([a.absence_trend for a in las], dtype=np.float32)[la[fam]][:, None]
    absence = np.clip(
        0.06
        + (0.03 * need_p + 0.025 * frailty)[:, None]
        + 0.025 * (age >= 11)
        + absence_trend * years_in
        + 0.07 * crisis,
        0.01,
        0.9,
    ).astype(np.float32)
    term_absence = np.clip(terms.mean(absence), 0, 1)
    missed = rng.binomial(terms.possible, term_absence)

    working = (age >= WORKING_AGES[0]) & (age <= WORKING_AGES[1])
    entry = np.clip(0.02 * np.exp((0.5 * need_p + 0.3 * frailty)[:, None] + crisis), 0, 0.9)
    exit_ = np.clip(
        0.12
        * np.exp((-0.35 * need_p - 0.3 * frailty)[:, None] - 0.8 * crisis + _recovery(relative)),
        0,
        0.95,
    )
    uniform = rng.random(age.shape, dtype=np.float32)
    on_benefit = simulate_benefit(uniform, entry, exit_, working)

    # The records of the 12 months before the index date, measured as tf-eval measures them.
    index_ym = months.first + index[fam]
    at_index = age_at(  # the population rule of tf_eval.data.outcomes
        birth_year,
        birth_month,
        index_ym.astype("datetime64[Y]").astype(np.int64) + 1970,
        index_ym.astype(np.int64) % 12 + 1,
    )
    pre_start = index[fam] - config.PRE_WINDOW_MONTHS
    window = config.PRE_WINDOW_MONTHS
    possible_pre = _window_sum(terms.at_end(terms.possible), pre_start, window)
    missed_pre = _window_sum(terms.at_end(missed), pre_start, window)
    pupil = (at_index >= SCHOOL_AGES[0]) & (at_index <= SCHOOL_AGES[1]) & (possible_pre > 0)
    attendance_pre = 100 * (1 - missed_pre / np.maximum(possible_pre, 1e-9))
    adult = (at_index >= WORKING_AGES[0]) & (at_index <= WORKING_AGES[1])
    days_pre = _window_sum(on_benefit * months.days[None, :], pre_start, window)
    work_pre = days_pre / _window_sum(np.broadcast_to(months.days, age.shape), pre_start, window)
    family_ae = _family_mean(_window_sum(ae, pre_start, window), at_index >= 0, fam, n)
    offended = (_window_sum(offences, pre_start, window) > 0).astype(float)
    family_off = _family_mean(offended, at_index >= OFFENDING_MIN_AGE, fam, n)
    family_work = _family_mean(work_pre, adult, fam, n)
    family_attendance = _family_mean(attendance_pre, pupil, fam, n)
    has_pupil = np.bincount(fam, weights=pupil, minlength=n) > 0
    adults = np.bincount(fam, weights=~is_child, minlength=n)

    # The eligibility rule: 2 of 6 criteria, each a threshold on those records.
    criteria = (
        (has_pupil & (family_attendance < 90)).astype(int)
        + (family_off > 0)
        + (family_work >= 0.5)
        + (family_ae >= 0.8)
        + (adults == 1)
        + (children >= 3)
    )
    eligible = criteria >= 2
    log_odds = (
        -2.0
        + support_shift
        + np.array([a.attach_shift for a in las])[la]
        + 1.9 * eligible
        + 0.35 * np.maximum(criteria - 2, 0)
        + 0.05 * (cohort - 2017)
        + DRIFT_SUPPORT * drifting
    )
    supported = rng.random(n) < 1 / (1 + np.exp(-log_odds))
    lag = rng.choice(LAG_MONTHS, size=n, p=LAG_CHANCES)
    later = ~supported & (rng.random(n) < LATE_JOIN_CHANCE * (0.5 + 0.5 * eligible))
    lag = np.where(supported, lag, rng.integers(4, LATE_JOIN_MONTHS + 1, n))
    attach = np.where(supported | later, index + lag, np.iinfo(np.int32).max)

    # Support changes every month from attachment on, building up over RAMP_MONTHS.
    ramp = _ramp(t, attach[fam])
    ae_factor = 1 - (1 - effects.ae_ratio) * ramp
    cells = ae > 0
    ae[cells] = effect_rng.binomial(ae[cells], ae_factor[cells])
    off_factor = 1 - (1 - effects.offending_ratio) * ramp
    cells = offences > 0
    without_support = offences.copy()
    offences[cells] = effect_rng.binomial(offences[cells], off_factor[cells])
    term_absence_1 = np.clip(
        terms.mean(np.maximum(absence - effects.absence_points * ramp, 0.005)), 0, 1
    )
    cells = missed > 0
    keep = np.divide(term_absence_1, term_absence, out=np.ones_like(term_absence), where=cells)
    missed[cells] = effect_rng.binomial(missed[cells], np.minimum(keep[cells], 1))
    entry_1 = entry * (1 - (1 - effects.benefit_entry_ratio) * ramp)
    exit_1 = np.minimum(exit_ * (1 + (effects.benefit_exit_ratio - 1) * ramp), 0.95)
    joiners = attach[fam] < months.n
    on_benefit[joiners] = simulate_benefit(
        uniform[joiners], entry_1[joiners], exit_1[joiners], working[joiners]
    )
    # Social care and disposals, on streams of their own (tf_eval.data.demo_care).
    care_rngs = demo_care.streams(seed)
    ratios = {
        "looked_after": effects.looked_after_ratio,
        "child_protection_plan": effects.child_protection_ratio,
    }
    care = demo_care.social_care(care_rngs, months, age, need_p, crisis, ramp, ratios)
    chances = demo_care.disposal_chances(age)
    custody_factor = 1 - (1 - effects.custody_ratio) * ramp
    disposals = demo_care.disposals(care_rngs, without_support, offences, chances, custody_factor)
    del without_support

    # Truth: each supported person's expected effect over each follow-up from the index date.
    possible_at_end = terms.at_end(terms.possible)
    gained = terms.at_end(terms.possible * (term_absence - term_absence_1))
    for follow_up in config.FOLLOW_UP_MONTHS:
        member = (supported & (index >= MONTHS_BEFORE) & (index + follow_up <= months.n))[fam]
        start = index[fam]
        effects_by_outcome = {}
        effects_by_outcome["ae_use"] = (
            member & (at_index >= 0),
            _window_sum(ae_rate * (ae_factor - 1), start, follow_up),
        )
        hazard_0 = _window_sum(off_rate, start, follow_up)
        hazard_1 = _window_sum(off_rate * off_factor, start, follow_up)
        effects_by_outcome["offending"] = (
            member & (at_index >= OFFENDING_MIN_AGE),
            np.exp(-hazard_0) - np.exp(-hazard_1),
        )
        possible_post = _window_sum(possible_at_end, start, follow_up)
        effects_by_outcome["attendance"] = (
            member & pupil & (possible_post > 0),
            100 * _window_sum(gained, start, follow_up) / np.maximum(possible_post, 1e-9),
        )
        rows = np.flatnonzero(member & adult)
        before = on_benefit[rows, start[rows] - 1]  # before any support: the same either way
        effect = np.zeros(n_people)
        effect[rows] = _expected_benefit_share(
            before, rows, start[rows], follow_up, (entry_1, exit_1, working), months.days
        ) - _expected_benefit_share(
            before, rows, start[rows], follow_up, (entry, exit_, working), months.days
        )
        effects_by_outcome["worklessness"] = (member & adult, effect)

        def window(values: np.ndarray, start: np.ndarray = start, months: int = follow_up):
            return _window_sum(values, start, months)

        for outcome, episode_type in demo_care.CARE_OUTCOMES.items():
            effects_by_outcome[outcome] = (
                member & in_population(outcome, at_index),
                demo_care.any_start_effect(care, episode_type, window),
            )
        custody = demo_care.offence_effects(off_rate, off_factor, chances, custody_factor, window)
        for outcome, which in (
            ("custody_adult", "custody"),
            ("custody_juvenile", "custody"),
            ("juvenile_conviction", "conviction"),
        ):
            effects_by_outcome[outcome] = (
                member & in_population(outcome, at_index),
                custody[which],
            )
        for outcome, (who, values) in effects_by_outcome.items():
            truth.add(
                outcome, follow_up, la[fam][who], cohort[fam][who], values[who], family_id[fam][who]
            )

    batch = Batch(
        family_id,
        np.array([a.code for a in LOCAL_AUTHORITIES])[la],
        identified,
        day,
        attach,
        person_id,
        fam,
        birth_year,
        birth_month,
        sex,
        is_child,
        missed,
        offences,
        ae,
        on_benefit,
        disposals,
        care.episodes,
    )
    return frames(months, rng, batch, terms)
