"""The demo's batch written as the store's tables (tf_eval.data.demo_world generates it): families,
people, attachments, and each person's records from their monthly counts and states, each event
on a random day of its month and each run of months on benefit a spell. The draws of the batch's
main stream made here follow the generation's, in a fixed order: changing one changes every record
drawn after it for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tf_eval.data import demo_care

if TYPE_CHECKING:
    from tf_eval.data.demo_world import Months, Terms


@dataclass
class Batch:
    """What a batch generated, per family and per person, for writing as records."""

    family_id: np.ndarray
    la_code: np.ndarray  # each family's local authority
    identified: np.ndarray
    day: np.ndarray  # day of the month (0-27) of identification and attachment
    attach: np.ndarray  # month index of attachment (beyond the records: never)
    person_id: np.ndarray
    fam: np.ndarray  # each person's family row
    birth_year: np.ndarray
    birth_month: np.ndarray
    sex: np.ndarray
    is_child: np.ndarray
    missed: np.ndarray  # sessions missed per person and term-start month
    offences: np.ndarray  # offences per person and month
    ae: np.ndarray  # A&E attendances per person and month
    on_benefit: np.ndarray  # on benefit per person and month
    disposals: demo_care.Disposals  # custody and convictions per cell of `offences`
    care: pd.DataFrame  # social care episodes: person row, episode_type, start_date, end_date


def frames(
    months: Months, rng: np.random.Generator, b: Batch, terms: Terms
) -> dict[str, pd.DataFrame]:
    """The batch's records, one frame per store table."""
    frames = {
        "families": pd.DataFrame(
            {
                "family_id": b.family_id,
                "la_code": b.la_code,
                "identified_on": b.identified,
            }
        ),
        "people": pd.DataFrame(
            {
                "person_id": b.person_id,
                "family_id": b.family_id[b.fam],
                "birth_year": b.birth_year.astype(np.int16),
                "birth_month": b.birth_month.astype(np.int16),
                "sex": b.sex,
                "role": np.where(b.is_child, "child", "adult"),
            }
        ),
    }
    joined = b.attach < months.n
    attached_on = months.start[b.attach[joined]] + b.day[joined]
    ended_on = attached_on + rng.integers(120, 541, joined.sum())
    frames["programme"] = pd.DataFrame(
        {
            "family_id": b.family_id[joined],
            "attached_on": attached_on,
            "ended_on": np.where(ended_on <= months.last_day, ended_on, np.datetime64("NaT")),
        }
    )
    p_idx, m_idx = np.nonzero(terms.possible)
    last = m_idx + terms.length[m_idx]
    frames["attendance"] = pd.DataFrame(
        {
            "person_id": b.person_id[p_idx],
            "term_start": months.start[m_idx],
            "term_end": months.start[last - 1] + months.days[last - 1] - 1,
            "sessions_possible": terms.possible[p_idx, m_idx],
            "sessions_missed": b.missed[p_idx, m_idx],
        }
    )
    p_idx, dates = _events(months, b.offences, rng)
    # Disposals come from demo_care; this draw once made them, and is kept so that every record
    # drawn after it is what it was for a seed.
    rng.random(p_idx.size)
    frames["offences"] = pd.DataFrame(
        {
            "person_id": b.person_id[p_idx],
            "offence_date": dates,
            "disposal": demo_care.disposal_words(b.offences, b.disposals),
        }
    )
    p_idx, dates = _events(months, b.ae, rng)
    frames["ae_attendances"] = pd.DataFrame(
        {"person_id": b.person_id[p_idx], "arrival_date": dates}
    )
    frames["benefit_spells"] = _spells(months, b.on_benefit, b.person_id, rng)
    frames["social_care"] = pd.DataFrame(
        {
            "person_id": b.person_id[b.care["person"].to_numpy()],
            "episode_type": b.care["episode_type"].to_numpy(),
            "start_date": b.care["start_date"].to_numpy(),
            "end_date": b.care["end_date"].to_numpy(),
        }
    )
    return frames


def _events(
    months: Months, counts: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One (person row, date) per event from monthly counts (people x months), each event on a
    random day of its month."""
    person, month = np.nonzero(counts)
    repeat = counts[person, month]
    person, month = np.repeat(person, repeat), np.repeat(month, repeat)
    offsets = (rng.random(month.size) * months.days[month]).astype(np.int64)
    return person, months.start[month] + offsets


def _spells(
    months: Months, on: np.ndarray, person_id: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Runs of on-benefit months as spells; a spell still open in the last month has no end."""
    edges = np.diff(on.astype(np.int8), axis=1, prepend=0, append=0)
    p_idx, first = np.nonzero(edges == 1)
    _, stop = np.nonzero(edges == -1)  # same row-major order, so pairs line up
    end = months.start[stop - 1] + months.days[stop - 1] - 1
    end = np.where(stop < months.n, end, np.datetime64("NaT"))
    # A claim already running when records begin started earlier (mean stay about eight months).
    start = months.start[first] - np.where(
        first == 0, 30 * rng.geometric(0.12, first.size), 0
    ).astype("timedelta64[D]")
    year = start.astype("datetime64[Y]").astype(np.int64) + 1970
    uc_share = np.clip((year - 2015) / 4, 0, 0.9)
    legacy = rng.choice(["JSA", "ESA", "IS"], first.size, p=[0.40, 0.35, 0.25])
    benefit = np.where(rng.random(first.size) < uc_share, "UC", legacy)
    return pd.DataFrame(
        {"person_id": person_id[p_idx], "start_date": start, "end_date": end, "benefit": benefit}
    )
