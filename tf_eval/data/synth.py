"""A synthetic linked store with planted effects, realistic enough to test the method honestly.

How the data are made (monthly, 2012-01 to 2022-12; spells, terms and attachments start on the
first of a month, so windows of whole months measure exactly what was generated):

* Families are identified in 2014-2020 in eight local authorities. Identification follows a
  crisis: every identified family's outcomes worsen over the months before identification and
  recover quickly after (`_crisis`, `_recovery`). A family's index date is the first day of the
  month after it was identified; supported families are attached to the programme on that day,
  so treated and comparison families meet the crisis at the same point of their windows.
* Selection on need: the chance of attachment rises with the family's *recorded* outcomes in the
  12 months before the index date (A&E visits, offending, days on benefit, school absence), its
  size and its LA. Families with worse records are likelier to be supported, and, because those
  records include the crisis, a naive before/after comparison of supported families alone
  overstates the benefit (regression to the mean). Selection depends only on recorded
  covariates, so matching on them can remove the bias.
* Not-attached families are later joiners (attached 26-48 months after their index date, beyond
  any follow-up window) or never attached; both form the comparison pool.
* Planted effects act on every month from attachment on (`PlantedEffects`). The truth written to
  `demo_truth` is the average, over the supported families' members in each outcome's population
  (tf_eval.data.outcomes), of the expected difference the programme makes over the 12 months after
  attachment, computed exactly from the generating rates (no simulation noise), in the units of
  each outcome's definition.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from tf_eval import config
from tf_eval.data import contracts, outcomes, store
from tf_eval.data.outcomes import OFFENDING_MIN_AGE, OUTCOMES, SCHOOL_AGES, WORKING_AGES
from tf_eval.governance import private

Progress = Callable[[float, str], None]

FIRST_MONTH = np.datetime64(config.DEMO_RECORDS_FROM, "M")
N_MONTHS = int((np.datetime64(config.DEMO_RECORDS_TO, "M") - FIRST_MONTH).astype(int)) + 1
MONTH_START = (FIRST_MONTH + np.arange(N_MONTHS + 1)).astype("datetime64[D]")
MONTH_DAYS = np.diff(MONTH_START).astype(np.int64)
MONTH_START = MONTH_START[:-1]
MONTH_YEAR = config.DEMO_RECORDS_FROM.year + np.arange(N_MONTHS) // 12
MONTH_OF_YEAR = np.arange(N_MONTHS) % 12
# School terms (Sep-Dec, Jan-Mar, Apr-Jul): sessions possible, and months, by starting month.
TERM_SESSIONS = {8: 140, 0: 124, 3: 116}
TERM_MONTHS = np.array([3, 0, 0, 4, 0, 0, 0, 0, 4, 0, 0, 0])
FOLLOW_UP = config.FOLLOW_UP_MONTHS[0]
PRE_WINDOW = config.PRE_WINDOW_MONTHS
# The record tables the demo fills (social care is optional and not generated).
DEMO_TABLES = tuple(t for t in store.RECORD_TABLES if t != "social_care")


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
    """What support does, from the month of attachment on."""

    absence_points: float = 0.025  # absence rate falls by this share of sessions
    offending_ratio: float = 0.70  # offending hazard multiplied by this
    benefit_exit_ratio: float = 1.35  # monthly chance of leaving benefit multiplied by this
    benefit_entry_ratio: float = 0.80  # monthly chance of starting a claim multiplied by this
    ae_ratio: float = 0.85  # A&E attendance rate multiplied by this


@dataclass
class _Truth:
    """Running sums of each treated person's expected effect, to average over all batches."""

    total: dict[str, float]
    people: dict[str, int]

    @classmethod
    def empty(cls) -> _Truth:
        return cls({k: 0.0 for k in OUTCOMES}, {k: 0 for k in OUTCOMES})

    def add(self, key: str, effects: np.ndarray) -> None:
        self.total[key] += float(effects.sum())
        self.people[key] += int(effects.size)

    def frame(self) -> pd.DataFrame:
        rows = [(k, self.total[k] / self.people[k]) for k in OUTCOMES if self.people[k]]
        return pd.DataFrame(rows, columns=["outcome", "true_att"])


def _crisis(relative_month: np.ndarray) -> np.ndarray:
    """Crisis intensity (0-1) by month relative to identification: builds over about six months,
    peaks in the month of identification, and fades within two or three months after."""
    width = np.where(relative_month <= 0, 4.0, 1.5).astype(np.float32)
    return np.exp(-0.5 * (relative_month / width) ** 2).astype(np.float32)


def _recovery(relative_month: np.ndarray) -> np.ndarray:
    """Recovery (0-1) after identification, as claimants find work again; peaks at 3 months."""
    return np.where(relative_month > 0, np.exp(-0.5 * ((relative_month - 3) / 2.0) ** 2), 0).astype(
        np.float32
    )


def _simulate_benefit(
    uniform: np.ndarray, entry: np.ndarray, exit_: np.ndarray, eligible: np.ndarray
) -> np.ndarray:
    """Monthly on-benefit states (people x months): a Markov chain from its stationary share."""
    state = np.zeros(entry.shape, dtype=bool)
    start = entry[:, 0] / (entry[:, 0] + exit_[:, 0])
    state[:, 0] = (uniform[:, 0] < start) & eligible[:, 0]
    for t in range(1, entry.shape[1]):
        stays = state[:, t - 1] & (uniform[:, t] >= exit_[:, t])
        enters = ~state[:, t - 1] & (uniform[:, t] < entry[:, t])
        state[:, t] = (stays | enters) & eligible[:, t]
    return state


def _window(columns: np.ndarray, start: np.ndarray, months: int) -> np.ndarray:
    """Mask (people x months) of `months` months from each person's `start` month."""
    return (columns >= start[:, None]) & (columns < (start + months)[:, None])


def _family_mean(values: np.ndarray, counted: np.ndarray, family: np.ndarray, n: int) -> np.ndarray:
    """Mean of `values` over each family's counted members (0 where none is counted)."""
    total = np.bincount(family, weights=np.where(counted, values, 0.0), minlength=n)
    members = np.bincount(family, weights=counted.astype(float), minlength=n)
    return np.divide(total, members, out=np.zeros(n), where=members > 0)


def _events(counts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One (person row, date) per event of monthly `counts` (people x months), on a random day."""
    person, month = np.nonzero(counts)
    repeat = counts[person, month]
    person, month = np.repeat(person, repeat), np.repeat(month, repeat)
    offsets = (rng.random(month.size) * MONTH_DAYS[month]).astype(np.int64)
    return person, MONTH_START[month] + offsets


def _expected_benefit_share(
    start: np.ndarray,
    rows: np.ndarray,
    months: np.ndarray,
    entry: np.ndarray,
    exit_: np.ndarray,
    eligible: np.ndarray,
) -> np.ndarray:
    """Expected share of days on benefit over `months` (people x window months) for `rows`, from
    each one's known state `start` the month before: the chain carried forward exactly."""
    p, days_on = start.astype(float), 0.0
    for k in range(months.shape[1]):
        col = months[:, k]
        p = np.where(
            eligible[rows, col], p * (1 - exit_[rows, col]) + (1 - p) * entry[rows, col], 0.0
        )
        days_on = days_on + p * MONTH_DAYS[col]
    return days_on / MONTH_DAYS[months].sum(1)


def _ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random 63-bit pseudonyms (the store's identifier type)."""
    return rng.integers(1, np.iinfo(np.int64).max, size=n, dtype=np.int64)


def _generate_batch(
    seed: np.random.SeedSequence,
    n: int,
    effects: PlantedEffects,
    truth: _Truth,
    support_shift: float = 0.0,
) -> dict[str, pd.DataFrame]:
    """`n` families with members and records; adds the treated members' true effects to `truth`.
    The effects of support are applied by thinning on a random stream of their own, so a build
    with other `effects` and the same seed has the same families, people, pre-period records and
    treatment: it is the same families' counterfactual.
    """
    rng, effect_rng = (np.random.default_rng(s) for s in seed.spawn(2))
    las = LOCAL_AUTHORITIES
    t = np.arange(N_MONTHS)
    family_id = _ids(rng, n)

    # Families: LA, identification date, index month (the month after identification).
    la = rng.choice(len(las), size=n, p=[a.share for a in las])
    span = (config.DEMO_IDENTIFIED_TO - config.DEMO_IDENTIFIED_FROM).days + 1
    identified = np.datetime64(config.DEMO_IDENTIFIED_FROM) + rng.integers(0, span, n)
    id_month = (identified.astype("datetime64[M]") - FIRST_MONTH).astype(np.int64)
    index_month = id_month + 1
    need = rng.standard_normal(n)

    # Members: one or two parents, sometimes a grandparent, 0-6 children.
    parents = 1 + (rng.random(n) < 0.45)
    grandparent = (rng.random(n) < 0.07).astype(np.int64)
    children = rng.choice(7, size=n, p=[0.06, 0.24, 0.30, 0.21, 0.11, 0.05, 0.03])
    size = parents + grandparent + children
    fam = np.repeat(np.arange(n), size)
    n_people = fam.size
    person_id = _ids(rng, n_people)
    pos = np.arange(n_people) - np.repeat(np.cumsum(size) - size, size)
    is_parent = pos < parents[fam]
    is_child = pos >= (parents + grandparent)[fam]
    is_grand = ~is_parent & ~is_child
    lead_age = rng.integers(20, 56, n)[fam]
    child_draw = rng.random(n_people)
    age_at_id = np.select(
        [is_parent, is_grand],
        [np.maximum(18, lead_age + (pos == 1) * rng.integers(-4, 7, n_people)), lead_age + 25],
        default=(child_draw * (np.minimum(17, lead_age - 16) + 1)).astype(np.int64),
    )
    id_year = identified.astype("datetime64[Y]").astype(np.int64) + 1970
    birth_year = id_year[fam] - age_at_id
    female_share = np.select([is_parent & (pos == 0), is_parent, is_grand], [0.88, 0.10, 0.70], 0.5)
    sex = np.where(rng.random(n_people) < female_share, "F", "M")
    frailty = rng.standard_normal(n_people).astype(np.float32)
    need_p = need[fam].astype(np.float32)

    # Monthly matrices, people x months.
    age = (MONTH_YEAR[None, :] - birth_year[:, None]).astype(np.int16)
    relative = (t[None, :] - id_month[fam][:, None]).astype(np.float32)
    crisis = _crisis(relative)
    years_in = (MONTH_YEAR - config.DEMO_RECORDS_FROM.year).astype(np.float32)[None, :]

    ae_age = np.select([age < 5, age < 16, age < 26, age < 70], [1.6, 0.8, 1.3, 1.0], 1.5)
    ae_growth = np.array([a.ae_growth for a in las], dtype=np.float32)[la[fam]][:, None]
    ae_rate = (
        0.035
        * np.exp(0.35 * need_p + 0.35 * frailty)[:, None]
        * ae_age
        * (1 + ae_growth) ** years_in
        * (1 + 0.9 * crisis)
    ).astype(np.float32)
    ae_rate[age < 0] = 0
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

    school_age = (age >= SCHOOL_AGES[0]) & (age <= SCHOOL_AGES[1])
    term_sessions = np.zeros(N_MONTHS, dtype=np.int16)
    for month, sessions in TERM_SESSIONS.items():
        term_sessions[MONTH_OF_YEAR == month] = sessions
    possible = np.where(
        school_age & (term_sessions > 0),
        term_sessions - rng.integers(0, 7, age.shape, dtype=np.int16),
        0,
    ).astype(np.int16)
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
    missed = rng.binomial(possible, absence)

    working_age = (age >= WORKING_AGES[0]) & (age <= WORKING_AGES[1])
    entry = np.clip(0.02 * np.exp((0.5 * need_p + 0.3 * frailty)[:, None] + crisis), 0, 0.9)
    exit_ = np.clip(
        0.12
        * np.exp((-0.35 * need_p - 0.3 * frailty)[:, None] - 0.8 * crisis + _recovery(relative)),
        0,
        0.95,
    )
    uniform = rng.random(age.shape, dtype=np.float32)
    on_benefit = _simulate_benefit(uniform, entry, exit_, working_age)

    # Recorded need in the pre-window decides who is supported.
    idx_p = index_month[fam]
    index_year = MONTH_YEAR[idx_p]
    birth_month = rng.integers(1, 13, n_people)
    age_at_index = outcomes.age_at(birth_year, birth_month, index_year, MONTH_OF_YEAR[idx_p] + 1)
    pre = _window(t[None, :], idx_p - PRE_WINDOW, PRE_WINDOW)
    ae_pre = (ae * pre).sum(1)
    off_pre = ((offences * pre).sum(1) > 0).astype(float)
    work_pre = (on_benefit * pre * MONTH_DAYS).sum(1) / (pre * MONTH_DAYS).sum(1)
    possible_pre = (possible * pre).sum(1)
    attendance_pre = 100 * (1 - (missed * pre).sum(1) / np.maximum(possible_pre, 1))
    pupil = (age_at_index >= SCHOOL_AGES[0]) & (age_at_index <= SCHOOL_AGES[1]) & (possible_pre > 0)
    adult = (age_at_index >= WORKING_AGES[0]) & (age_at_index <= WORKING_AGES[1])
    family_ae = _family_mean(ae_pre, age_at_index >= 0, fam, n)
    family_off = _family_mean(off_pre, age_at_index >= OFFENDING_MIN_AGE, fam, n)
    family_work = _family_mean(work_pre, adult, fam, n)
    family_absence = 100 - _family_mean(attendance_pre, pupil, fam, n)
    has_pupil = np.bincount(fam, weights=pupil, minlength=n) > 0
    log_odds = (
        -2.0
        + support_shift
        + np.array([a.attach_shift for a in las])[la]
        + 0.30 * family_ae
        + 1.2 * family_off
        + 1.5 * family_work
        + 0.06 * np.where(has_pupil, family_absence, 0)
        + 0.10 * children
        + 0.05 * (id_year - 2017)
    )
    treated = rng.random(n) < 1 / (1 + np.exp(-log_odds))
    later = ~treated & (rng.random(n) < 0.35)
    attach_month = np.where(treated, index_month, index_month + rng.integers(26, 49, n))
    attach_month = np.where(treated | later, attach_month, np.iinfo(np.int64).max)

    # Support changes every month from attachment on (treated and later joiners alike).
    attach_p = attach_month[fam]
    post = t[None, :] >= attach_p[:, None]
    ae_rate_1 = ae_rate * effects.ae_ratio
    cells = post & (ae > 0)
    ae[cells] = effect_rng.binomial(ae[cells], effects.ae_ratio)
    cells = post & (offences > 0)
    offences[cells] = effect_rng.binomial(offences[cells], effects.offending_ratio)
    absence_1 = np.maximum(absence - effects.absence_points, 0.005)
    cells = post & (missed > 0)
    missed[cells] = effect_rng.binomial(missed[cells], (absence_1 / absence)[cells])
    entry_1 = np.where(post, entry * effects.benefit_entry_ratio, entry)
    exit_1 = np.where(post, np.minimum(exit_ * effects.benefit_exit_ratio, 0.95), exit_)
    joiners = attach_p < N_MONTHS
    on_benefit[joiners] = _simulate_benefit(
        uniform[joiners], entry_1[joiners], exit_1[joiners], working_age[joiners]
    )

    # Truth: each treated member's expected effect over the 12 months from attachment.
    member = treated[fam]
    follow = _window(t[None, :], idx_p, FOLLOW_UP) & member[:, None]
    in_pop = member & (age_at_index >= 0)
    truth.add("ae_use", ((ae_rate_1 - ae_rate) * follow).sum(1)[in_pop])
    in_pop = member & (age_at_index >= OFFENDING_MIN_AGE)
    hazard = (off_rate * follow).sum(1)[in_pop]
    truth.add("offending", np.exp(-hazard) - np.exp(-hazard * effects.offending_ratio))
    day = np.concatenate([[0], np.cumsum(MONTH_DAYS)])  # terms by their days in the follow-up
    stop = day[np.minimum(t + TERM_MONTHS[MONTH_OF_YEAR], N_MONTHS)]
    end = day[np.minimum(idx_p + FOLLOW_UP, N_MONTHS)][:, None]
    share = outcomes.term_share_days(day[t], stop, day[idx_p][:, None], end) * member[:, None]
    possible_post = (possible * share).sum(1)
    in_pop = member & pupil & (possible_post > 0)
    gain = (possible * (absence - absence_1) * post * share).sum(1)
    truth.add("attendance", 100 * gain[in_pop] / possible_post[in_pop])
    rows = np.nonzero(member & adult)[0]
    months = idx_p[rows][:, None] + np.arange(FOLLOW_UP)
    start = on_benefit[rows, idx_p[rows] - 1]  # before attachment: the same with or without
    truth.add(
        "worklessness",
        _expected_benefit_share(start, rows, months, entry_1, exit_1, working_age)
        - _expected_benefit_share(start, rows, months, entry, exit_, working_age),
    )

    # Records.
    frames = {
        "families": pd.DataFrame(
            {
                "family_id": family_id,
                "la_code": np.array([a.code for a in las])[la],
                "identified_on": identified,
            }
        ),
        "people": pd.DataFrame(
            {
                "person_id": person_id,
                "family_id": family_id[fam],
                "birth_year": birth_year.astype(np.int16),
                "birth_month": birth_month.astype(np.int8),
                "sex": sex,
                "role": np.where(is_child, "child", "adult"),
            }
        ),
    }
    joined = attach_month < N_MONTHS
    attached_on = MONTH_START[attach_month[joined]]
    ended_on = attached_on + rng.integers(120, 541, joined.sum())
    frames["programme"] = pd.DataFrame(
        {
            "family_id": family_id[joined],
            "attached_on": attached_on,
            "ended_on": np.where(
                ended_on <= np.datetime64(config.DEMO_RECORDS_TO), ended_on, np.datetime64("NaT")
            ),
        }
    )
    p_idx, m_idx = np.nonzero(possible)
    frames["attendance"] = pd.DataFrame(
        {
            "person_id": person_id[p_idx],
            "term_start": MONTH_START[m_idx],
            "term_end": MONTH_START[0] + (stop[m_idx] - 1).astype("m8[D]"),
            "sessions_possible": possible[p_idx, m_idx],
            "sessions_missed": missed[p_idx, m_idx],
        }
    )
    p_idx, dates = _events(offences, rng)
    frames["offences"] = pd.DataFrame(
        {
            "person_id": person_id[p_idx],
            "offence_date": dates,
            "disposal": rng.choice(
                ["caution", "conviction", "custody"], p_idx.size, p=[0.35, 0.55, 0.10]
            ),
        }
    )
    p_idx, dates = _events(ae, rng)
    frames["ae_attendances"] = pd.DataFrame({"person_id": person_id[p_idx], "arrival_date": dates})
    frames["benefit_spells"] = _spells(on_benefit, person_id, rng)
    return frames


def _spells(on: np.ndarray, person_id: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Runs of on-benefit months as spells; a spell still open in the last month has no end."""
    edges = np.diff(on.astype(np.int8), axis=1, prepend=0, append=0)
    p_idx, first = np.nonzero(edges == 1)
    _, stop = np.nonzero(edges == -1)  # same row-major order, so pairs line up
    end = MONTH_START[stop - 1] + MONTH_DAYS[stop - 1] - 1
    end = np.where(stop < N_MONTHS, end, np.datetime64("NaT"))
    # A claim already running when records begin started earlier (mean stay about eight months).
    start = MONTH_START[first] - np.where(
        first == 0, 30 * rng.geometric(0.12, first.size), 0
    ).astype("timedelta64[D]")
    year = start.astype("datetime64[Y]").astype(np.int64) + 1970
    uc_share = np.clip((year - 2015) / 4, 0, 0.9)
    legacy = rng.choice(["JSA", "ESA", "IS"], first.size, p=[0.40, 0.35, 0.25])
    benefit = np.where(rng.random(first.size) < uc_share, "UC", legacy)
    return pd.DataFrame(
        {"person_id": person_id[p_idx], "start_date": start, "end_date": end, "benefit": benefit}
    )


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, load_id: int) -> None:
    columns = ", ".join(frame.columns)
    con.register("batch_frame", frame)
    con.execute(
        f"INSERT INTO {table} ({columns}, load_id) SELECT {columns}, ? FROM batch_frame", [load_id]
    )
    con.unregister("batch_frame")


def _check_replaceable(path: Path) -> None:
    """A demo build may replace an earlier demo store, never a store holding loaded data."""
    if not path.exists():
        return
    try:
        con = store.connect(path, read_only=True)
        try:
            kind = con.execute("SELECT value FROM store_info WHERE key = 'kind'").fetchall()
        finally:
            con.close()
    except store.StoreKeyError:
        raise
    except (duckdb.Error, store.StoreError) as exc:
        raise store.StoreError(
            f"{path} exists and is not a tf-eval demo store ({str(exc).splitlines()[0]}); "
            "refusing to replace it"
        ) from exc
    if kind != [("demo",)]:
        raise store.StoreError(
            f"{path} holds loaded data, not a demo store; refusing to replace it "
            "(choose another --db)"
        )


@private.owner_only_files()  # the store, its .wal and the temporary file: 0600 from the start
def build_demo_store(
    path: Path,
    families: int = config.DEMO_FAMILIES,
    seed: int = config.DEMO_SEED,
    effects: PlantedEffects = PlantedEffects(),
    progress: Progress | None = None,
    support_shift: float = 0.0,
) -> dict[str, int]:
    """Build a complete demo store at `path` and return its row count per table.

    `support_shift` is added to every family's log-odds of being supported: 0 makes about 38% of
    families supported; benchmarks/bench_national.py uses -1.0 for about one in five, the
    national programme's mix (400,000 supported among 2 million families identified).

    The store is written to a temporary file beside `path` and moved into place only when
    complete, so a failed or interrupted build never leaves a half-written store.
    """
    if families < 1:
        raise ValueError("families must be at least 1")
    _check_replaceable(path)
    report = progress or (lambda fraction, message: None)
    tmp = path.with_name(f".{path.name}.building-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    batches = -(-families // config.DEMO_BATCH_FAMILIES)
    seeds = np.random.SeedSequence(seed).spawn(batches)
    loads = {table: i + 1 for i, table in enumerate(DEMO_TABLES)}
    truth = _Truth.empty()
    try:
        con = store.connect(tmp, read_only=False)
        try:
            store.create_schema(con)
            con.execute("BEGIN TRANSACTION")
            for b in range(batches):
                report(
                    b / batches,
                    f"Generating families {b * config.DEMO_BATCH_FAMILIES + 1:,}"
                    f"-{min((b + 1) * config.DEMO_BATCH_FAMILIES, families):,} of {families:,}",
                )
                size = min(config.DEMO_BATCH_FAMILIES, families - b * config.DEMO_BATCH_FAMILIES)
                frames = _generate_batch(seeds[b], size, effects, truth, support_shift)
                for table, frame in frames.items():
                    _insert(con, table, frame, loads[table])
            report(0.97, "Recording provenance and the planted truth")
            counts = _record_provenance(con, families, seed, effects, loads, truth, support_shift)
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        Path(f"{path}.wal").unlink(missing_ok=True)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
        raise
    report(1.0, f"Demo store ready: {families:,} families")
    return counts


def _record_provenance(
    con: duckdb.DuckDBPyConnection,
    families: int,
    seed: int,
    effects: PlantedEffects,
    load_ids: dict[str, int],
    truth: _Truth,
    support_shift: float,
) -> dict[str, int]:
    """One `loads` row per table, the store's description and `demo_truth`; returns row counts."""
    shifted = f", support shift {support_shift:+g}" if support_shift else ""
    description = f"synthetic demo (seed {seed}, {families} families{shifted})"
    parameters = f"tf-eval {config.VERSION} {description} {effects}"
    digest = hashlib.sha256(parameters.encode()).hexdigest()
    now = datetime.now()
    counts = {}
    for table, load_id in load_ids.items():
        counts[table] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        con.execute(
            "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?)",
            [load_id, table, description, digest, counts[table], now, "tf-eval demo"],
        )
    info = {
        "kind": "demo",
        "seed": str(seed),
        "families": str(families),
        "support_shift": str(support_shift),
        "created_at": now.isoformat(timespec="seconds"),
        "tf_eval_version": config.VERSION,
    }
    info.update({f"effect.{f.name}": str(getattr(effects, f.name)) for f in fields(effects)})
    con.executemany("INSERT INTO store_info VALUES (?, ?)", list(info.items()))
    truth_frame = truth.frame()
    con.register("truth_frame", truth_frame)
    con.execute("INSERT INTO demo_truth SELECT outcome, true_att FROM truth_frame")
    con.unregister("truth_frame")
    counts["demo_truth"] = len(truth_frame)
    return counts


@private.owner_only_files()  # raw agency references: owner-only folder and files
def write_demo_extracts(
    directory: Path,
    families: int = config.DEMO_FAMILIES,
    seed: int = config.DEMO_SEED,
    effects: PlantedEffects = PlantedEffects(),
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write the demo's records as agency extracts, one SOURCE.csv per source in `directory`,
    and return the records per file. They carry agency references instead of pseudonyms (family
    'FAM-000001', person 'P-0000001', numbered in the order generated; the same person reference
    in every source), so a steward can rehearse loading: ingesting them in source order gives the
    store `build_demo_store` makes from the same seed, up to its pseudonyms. Refuses to overwrite
    a file; the files appear only when all are complete."""
    if families < 1:
        raise ValueError("families must be at least 1")
    report = progress or (lambda fraction, message: None)
    targets = {source: directory / f"{source}.csv" for source in contracts.SOURCES}
    existing = [path.name for path in targets.values() if path.exists()]
    if existing:
        raise FileExistsError(f"{directory} already holds {', '.join(existing)}; choose another")
    private.make_dirs(directory)
    drafts = {source: path.with_name(f".{path.name}.partial") for source, path in targets.items()}
    batches = -(-families // config.DEMO_BATCH_FAMILIES)
    seeds = np.random.SeedSequence(seed).spawn(batches)
    counts = dict.fromkeys(contracts.SOURCES, 0)
    try:
        for b in range(batches):
            start = b * config.DEMO_BATCH_FAMILIES
            size = min(config.DEMO_BATCH_FAMILIES, families - start)
            report(b / batches, f"Writing families {start + 1:,}-{start + size:,} of {families:,}")
            frames = _generate_batch(seeds[b], size, effects, _Truth.empty())
            references = {
                "family_id": _references(frames["families"]["family_id"], "FAM-", 6, start),
                "person_id": _references(frames["people"]["person_id"], "P-", 7, counts["people"]),
            }
            for source, frame in frames.items():
                for column, (ids, refs) in references.items():
                    if column in frame:
                        frame[column] = refs[ids.get_indexer(frame[column])]
                names = [c.stored_as for c in contracts.CONTRACTS[source].columns]
                extract = frame[names].set_axis(contracts.CONTRACTS[source].names, axis=1)
                extract.to_csv(
                    drafts[source],
                    mode="a" if b else "w",
                    header=not b,
                    index=False,
                    date_format="%Y-%m-%d",
                )
                counts[source] += len(frame)
        for source, draft in drafts.items():
            os.replace(draft, targets[source])
    finally:
        for draft in drafts.values():
            draft.unlink(missing_ok=True)
    report(1.0, f"Demo extracts ready in {directory}")
    return counts


def _references(
    ids: pd.Series, prefix: str, width: int, written: int
) -> tuple[pd.Index, np.ndarray]:
    """A batch's pseudonyms and the references replacing them, numbered on from `written`."""
    numbers = pd.Series(np.arange(written + 1, written + len(ids) + 1)).astype(str).str.zfill(width)
    return pd.Index(ids), (prefix + numbers).to_numpy()
