"""The outcomes (docs/method.md): who counts, what is measured, which way is good, and the rules
that read agencies' records the same way everywhere (ages, school terms, benefit spells).

Both the synthetic generator (to compute the planted truth) and the evaluation engine read these
definitions, so the truth and the estimate always describe the same people.

An outcome counted from dated records ("any proven offence in the window", "A&E attendances in
the window") is one entry with its `Events`: the table, the date that places a
record in a window, and which records count. The panel, the event study and the monthly trends
each read every such outcome with one query of their own parameterised by it, so adding one is an
entry here (and its wording, unit and demo truth), not a query in each of them. School attendance
and worklessness have measures of their own (terms, spells).

Age is in whole years at the index date, from a birth date taken as the first day of the birth
month (July when the month is unknown: config.UNKNOWN_BIRTH_MONTH). Someone born in the index
date's month or later is not yet born (age -1) and in no population. `age_at` (numpy) and
`age_sql` (DuckDB) are the same rule. Each outcome's population is fixed at the index date, not
re-tested in each window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tf_eval import config
from tf_eval.data.store import Store


@dataclass(frozen=True)
class Events:
    """A measure counted from dated records of the outcome's source table: those dated by `date`
    in the window and meeting `where` (SQL on the record, whose alias is `r`; empty: every
    record), as 0/1 for whether there was any (`any`) or as how many."""

    date: str
    where: str = ""
    any: bool = True

    def condition(self) -> str:
        """`where` as a SQL condition to add with AND ("true" when every record counts)."""
        return f"({self.where})" if self.where else "true"


# The areas of family life the outcomes fall in, in the order they are shown (the national
# programme's headline problems: school, crime, work, health, children at risk).
THEMES = {
    "education": "Education",
    "crime": "Crime and justice",
    "work": "Work",
    "health": "Health",
    "care": "Children's social care",
}
THEME_KEYS = {name: key for key, name in THEMES.items()}  # a theme's short name, for file names


@dataclass(frozen=True)
class Outcome:
    key: str
    label: str
    theme: str  # one of THEMES: the dashboard and the pack show outcomes grouped by it
    population: str
    min_age: int
    max_age: int | None
    measure: str
    unit: str
    good_direction: Literal["up", "down"]
    source: str  # the store's table the measure reads (tf_eval.data.coverage: the calendar)
    events: Events | None = None  # None: a measure of its own (attendance, worklessness)
    # A share's range, for a measure of its own: its pre-window level piles up at the ends (no
    # session missed, no day on benefit, every day), which the outcome model gives terms of their
    # own (tf_eval.method.estimators.share_shape).
    share_range: tuple[float, float] | None = None
    # A state that lasts for months (a benefit claim): its level in the pre-window's last
    # config.RECENT_MONTHS months is a covariate too (pre_<key>_recent), since where a family
    # stood at the index date says more about the next year than the year's mean does.
    recent_level: bool = False

    @property
    def any_event(self) -> bool:
        """Whether the measure is 0/1 per person: whether they had any such record."""
        return self.events is not None and self.events.any


OUTCOMES: dict[str, Outcome] = {
    o.key: o
    for o in (
        Outcome(
            "attendance",
            "School attendance",
            THEMES["education"],
            "children of school age (5-15) with at least one term in each window",
            5,
            15,
            "% of possible sessions attended",
            "percentage points",
            "up",
            "attendance",
            share_range=(0.0, 100.0),
        ),
        Outcome(
            "offending",
            "Offending",
            THEMES["crime"],
            "people aged 10+",
            10,
            None,
            "any proven offence in the window (0/1)",
            "proportion (0-1)",
            "down",
            "offences",
            Events("offence_date"),
        ),
        Outcome(
            "worklessness",
            "Worklessness",
            THEMES["work"],
            "adults aged 18-64",
            18,
            64,
            "share of window days on an out-of-work benefit",
            "share of days (0-1)",
            "down",
            "benefit_spells",
            share_range=(0.0, 1.0),
            recent_level=True,
        ),
        Outcome(
            "ae_use",
            "A&E use",
            THEMES["health"],
            "everyone born before the index month",
            0,
            None,
            "A&E attendances in the window",
            "attendances per person",
            "down",
            "ae_attendances",
            Events("arrival_date", any=False),
        ),
        # The national Troubled Families impact study's headline outcomes (2019).
        Outcome(
            "looked_after",
            "Children looked after",
            THEMES["care"],
            "children aged 0-17",
            0,
            17,
            "any period looked after starting in the window (0/1)",
            "proportion (0-1)",
            "down",
            "social_care",
            Events("start_date", "r.episode_type = 'looked_after'"),
        ),
        Outcome(
            "child_protection",
            "Child protection plans",
            THEMES["care"],
            "children aged 0-17",
            0,
            17,
            "any child protection plan starting in the window (0/1)",
            "proportion (0-1)",
            "down",
            "social_care",
            Events("start_date", "r.episode_type = 'child_protection_plan'"),
        ),
        Outcome(
            "custody_adult",
            "Adults given custody",
            THEMES["crime"],
            "adults aged 18+",
            18,
            None,
            "any custodial sentence for an offence in the window (0/1)",
            "proportion (0-1)",
            "down",
            "offences",
            Events("offence_date", "r.disposal = 'custody'"),
        ),
        Outcome(
            "custody_juvenile",
            "Juveniles given custody",
            THEMES["crime"],
            "young people aged 10-17",
            10,
            17,
            "any custodial sentence for an offence in the window (0/1)",
            "proportion (0-1)",
            "down",
            "offences",
            Events("offence_date", "r.disposal = 'custody'"),
        ),
        Outcome(
            "juvenile_conviction",
            "Juvenile convictions",
            THEMES["crime"],
            "young people aged 10-17",
            10,
            17,
            "any conviction or custodial sentence for an offence in the window (0/1)",
            "proportion (0-1)",
            "down",
            "offences",
            Events("offence_date", "r.disposal IN ('conviction', 'custody')"),
        ),
    )
}

SCHOOL_AGES = (OUTCOMES["attendance"].min_age, OUTCOMES["attendance"].max_age)
OFFENDING_MIN_AGE = OUTCOMES["offending"].min_age
WORKING_AGES = (OUTCOMES["worklessness"].min_age, OUTCOMES["worklessness"].max_age)


def in_population(key: str, age: np.ndarray) -> np.ndarray:
    """Whether each age at the index date (`age_at`) is in outcome `key`'s population."""
    outcome = OUTCOMES[key]
    inside = np.asarray(age) >= outcome.min_age
    return inside if outcome.max_age is None else inside & (np.asarray(age) <= outcome.max_age)


def age_at(
    birth_year: np.ndarray, birth_month: np.ndarray, index_year: np.ndarray, index_month: np.ndarray
) -> np.ndarray:
    """Whole years from the first day of the birth month to the index date, -1 for someone born
    in the index month or later (not yet born). Months are 1-12; 0 means unknown (July)."""
    month = np.where(np.asarray(birth_month) == 0, config.UNKNOWN_BIRTH_MONTH, birth_month)
    months = (np.asarray(index_year) * 12 + np.asarray(index_month)) - (
        np.asarray(birth_year) * 12 + month
    )
    return np.where(months > 0, months // 12, -1)


def age_sql(
    index: str, birth_year: str = "p.birth_year", birth_month: str = "p.birth_month"
) -> str:
    """`age_at` in DuckDB SQL: the age at the date `index` (a SQL expression), -1 if not yet born.
    A NULL birth month is July."""
    months = (
        f"((year({index}) * 12 + month({index})) - "
        f"({birth_year} * 12 + coalesce({birth_month}, {config.UNKNOWN_BIRTH_MONTH})))"
    )
    return f"(CASE WHEN {months} > 0 THEN {months} // 12 ELSE -1 END)"


# Each school term with its last day (`term_end`, inclusive). A term
# recorded without its end ends the day before the child's next term starts, and at most
# config.TERM_MAX_MONTHS after its own start. The estimates count a term in the window it ends
# in (tf_eval.method.panel: a term under way at the index date may already hold support's effect,
# so it is never pre-period); the monthly trends share it between the months it covers by their
# days (`term_share`).
TERMS = f"""
    SELECT person_id, term_start, term_end, sessions_possible, sessions_missed
    FROM attendance WHERE term_end IS NOT NULL
    UNION ALL
    -- Only terms without an end look for the child's next term (an as-of join, not a window over
    -- every term: at national scale that sort took most of the panel's time).
    SELECT a.person_id, a.term_start,
           least(coalesce(n.term_start, DATE '9999-12-31') - 1,
                 (a.term_start + to_months({config.TERM_MAX_MONTHS}))::DATE - 1),
           a.sessions_possible, a.sessions_missed
    FROM (SELECT * FROM attendance WHERE term_end IS NULL) a
    ASOF LEFT JOIN (SELECT person_id, term_start FROM attendance) n
      ON a.person_id = n.person_id AND n.term_start > a.term_start"""


# TERMS when every term has its end: the table itself. The as-of join for missing ends costs
# seconds at national scale even when it finds none, so `terms_sql` asks the store first.
TERMS_WITH_ENDS = """
    SELECT person_id, term_start, term_end, sessions_possible, sessions_missed
    FROM attendance"""


def terms_sql(store: Store) -> str:
    """The SQL of the store's terms with their ends (TERMS), the cheaper way when no term lacks
    its end (known once per open store: `store.facts`)."""
    if "terms_without_end" not in store.facts:
        sql = "SELECT count(*) AS n FROM attendance WHERE term_end IS NULL"
        store.facts["terms_without_end"] = int(store.query(sql)["n"].iloc[0])
    return TERMS if store.facts["terms_without_end"] else TERMS_WITH_ENDS


def term_share(term: str, start: str, stop: str) -> str:
    """SQL: the share of the days of term `term` (an alias of TERMS) in the window [start, stop).
    The term's length is worked out here, on the terms a query kept, rather than in TERMS: at
    national scale that was 80 million lengths for the event study's 2.5 million terms."""
    days = (
        f"greatest(0, datediff('day', greatest({term}.term_start, {start}), "
        f"least({term}.term_end + 1, {stop})))"
    )
    return f"({days} / (datediff('day', {term}.term_start, {term}.term_end) + 1))"


# Benefit spells cut so that no day is counted twice: each spell keeps only the days after the
# end of every earlier spell of the person (earlier in start order), so the pieces are disjoint and
# their days in a window add up to the days the person was on benefit there, however the spells
# overlapped. One window pass, not gaps-and-islands' two. `stop_date` is the day after the last
# day; an open spell (no end) runs to the end of the study calendar ($records_to,
# tf_eval.data.coverage). A spell wholly inside earlier ones keeps no days (start >= stop).
# {people}: a condition on person_id that keeps only the spells of the people a query will read,
# before the window sorts them (`spells_sql`).
_SPELLS = """
    SELECT person_id, greatest(start_date, coalesce(earlier_stop, start_date)) AS start_date,
           stop_date
    FROM (
        SELECT *, max(stop_date) OVER (
                   PARTITION BY person_id ORDER BY start_date, stop_date
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier_stop
        FROM (
            SELECT person_id, start_date,
                   least(coalesce(end_date, $records_to), $records_to) + 1 AS stop_date
            FROM benefit_spells WHERE start_date <= $records_to{people}
        )
    )"""


def spells_sql(people: str | None = None) -> str:
    """The SQL of the spells cut so that no day counts twice, of everyone or, with `people` (a
    relation with a person_id column), of those people only. A person's pieces depend only on
    their own spells, so leaving others out changes nothing but the sort's size: at national
    scale the event study's sample has a tenth of the spells, and its read took 3 s, not 1."""
    keep = "" if people is None else f" AND person_id IN (SELECT person_id FROM {people})"
    return _SPELLS.format(people=keep)


def by_theme(keys: Iterable[str]) -> dict[str, list[str]]:
    """Outcome keys grouped by theme (THEMES' names), themes in THEMES' order and outcomes in
    the order given; a theme with none of them is left out."""
    keys = list(keys)
    groups = {name: [k for k in keys if OUTCOMES[k].theme == name] for name in THEMES.values()}
    return {name: listed for name, listed in groups.items() if listed}


def in_theme_order(keys: Iterable[str]) -> list[str]:
    """Outcome keys theme by theme (`by_theme`), as the pages list them."""
    return [key for listed in by_theme(keys).values() for key in listed]
