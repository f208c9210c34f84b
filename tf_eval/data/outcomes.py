"""The four outcomes (docs/method.md): who counts, what is measured, which way is good.

Both the synthetic generator (to compute the planted truth) and the evaluation engine read these
definitions, so the truth and the estimate always describe the same people.

Age is in whole years at the index date: `index year - birth_year` (only birth years are stored).
Each outcome's population is fixed at the index date, not re-tested in each window.
"""

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Outcome:
    key: str
    label: str
    population: str
    min_age: int
    max_age: int | None
    measure: str
    unit: str
    good_direction: Literal["up", "down"]


OUTCOMES: dict[str, Outcome] = {
    o.key: o
    for o in (
        Outcome(
            "attendance",
            "School attendance",
            "children of school age (5-15) with at least one term in each window",
            5,
            15,
            "% of possible sessions attended",
            "percentage points",
            "up",
        ),
        Outcome(
            "offending",
            "Offending",
            "people aged 10+",
            10,
            None,
            "any proven offence in the window (0/1)",
            "proportion (0-1)",
            "down",
        ),
        Outcome(
            "worklessness",
            "Worklessness",
            "adults aged 18-64",
            18,
            64,
            "share of window days on an out-of-work benefit",
            "share of days (0-1)",
            "down",
        ),
        Outcome(
            "ae_use",
            "A&E use",
            "everyone born by the index year",
            0,
            None,
            "A&E attendances in the window",
            "attendances per person",
            "down",
        ),
    )
}

SCHOOL_AGES = (OUTCOMES["attendance"].min_age, OUTCOMES["attendance"].max_age)
OFFENDING_MIN_AGE = OUTCOMES["offending"].min_age
WORKING_AGES = (OUTCOMES["worklessness"].min_age, OUTCOMES["worklessness"].max_age)
