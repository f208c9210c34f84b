"""The outcome panel: who is compared, from when, and what each person's outcomes were.

For each family in the evaluation: an index date, treated or comparison (config.py explains the
rule), family-level covariates from the 12 months before the index date, and, for each outcome of
tf_eval.outcomes, each person's measure in three windows: the placebo window (24 to 12 months
before), the pre-window (12 months before) and the follow-up (12 or 24 months after).

All of the record crunching happens in DuckDB; only per-person results come back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tf_eval import config
from tf_eval.outcomes import OUTCOMES
from tf_eval.store import Store

PLACEBO_MONTHS = 2 * config.PRE_WINDOW_MONTHS
# Family-level covariates the panel provides (beside la_code, cohort and index_quarter).
FAMILY_COVARIATES = (
    "n_adults",
    "n_children",
    "pre_attendance",
    "has_pupil",
    "pre_offending",
    "pre_worklessness",
    "pre_ae_use",
)

# A comparison family's index date: the first day of the month after it was identified, when it
# would have been attached (config.py explains the rule). tf_eval.retention counts from it too.
MONTH_AFTER_IDENTIFIED = "(date_trunc('month', identified_on) + INTERVAL 1 MONTH)::DATE"

_UNITS = f"""
WITH attach AS (
    SELECT family_id, min(attached_on) AS attached_on FROM programme GROUP BY family_id
),
fam AS (
    SELECT f.family_id, f.la_code, year(f.identified_on) AS cohort, a.attached_on,
           coalesce(a.attached_on >= f.identified_on
                    AND a.attached_on < f.identified_on + to_months($within), false) AS treated,
           CASE WHEN treated THEN a.attached_on
                ELSE {MONTH_AFTER_IDENTIFIED}
           END AS index_date
    FROM families f LEFT JOIN attach a USING (family_id)
    WHERE ($la IS NULL OR f.la_code = $la) AND ($cohort IS NULL OR year(f.identified_on) = $cohort)
)
SELECT family_id, la_code, cohort, index_date, treated,
       CASE WHEN NOT treated AND attached_on < index_date + to_months($follow_up)
                THEN 'attached to support before its follow-up ended'
            WHEN index_date - to_months($placebo) < $records_from
                 OR index_date + to_months($follow_up) > $records_to + 1
                THEN 'windows reach outside the records'
       END AS excluded
FROM fam
ORDER BY family_id
"""

_PEOPLE = """
SELECT p.person_id, p.family_id, p.role, year(u.index_date) - p.birth_year AS age,
       (u.index_date - to_months($placebo))::DATE AS w_placebo,
       (u.index_date - to_months($pre))::DATE AS w_pre,
       u.index_date AS w_index,
       (u.index_date + to_months($follow_up))::DATE AS w_end
FROM people p JOIN units u USING (family_id)
"""

_WINDOWS = {
    "placebo": ("w_placebo", "w_pre"),
    "pre": ("w_pre", "w_index"),
    "post": ("w_index", "w_end"),
}


def _counts(table: str, date: str, any_event: bool) -> str:
    """Events per person and window (or whether there was any), 0 when there were none."""
    columns = []
    for window, (start, stop) in _WINDOWS.items():
        count = f"count(r.{date}) FILTER (WHERE r.{date} >= {start} AND r.{date} < {stop})"
        columns.append(
            f"({count} > 0)::DOUBLE AS {window}" if any_event else f"{count}::DOUBLE AS {window}"
        )
    return f"""
        SELECT p.person_id, p.family_id, {", ".join(columns)}
        FROM ppl p LEFT JOIN {table} r
          ON r.person_id = p.person_id AND r.{date} >= p.w_placebo AND r.{date} < p.w_end
        WHERE {{population}}
        GROUP BY p.person_id, p.family_id
        ORDER BY p.person_id"""


def _attendance() -> str:
    """% of possible sessions attended in each window; NULL where the child had no term."""
    columns = []
    for window, (start, stop) in _WINDOWS.items():
        inside = f"FILTER (WHERE r.term_start >= {start} AND r.term_start < {stop})"
        columns.append(
            f"100 * (1 - sum(r.sessions_missed) {inside} / sum(r.sessions_possible) {inside}) "
            f"AS {window}"
        )
    return f"""
        SELECT p.person_id, p.family_id, {", ".join(columns)}
        FROM ppl p JOIN attendance r
          ON r.person_id = p.person_id AND r.term_start >= p.w_placebo AND r.term_start < p.w_end
        WHERE {{population}}
        GROUP BY p.person_id, p.family_id
        ORDER BY p.person_id"""


def _worklessness() -> str:
    """Share of each window's days on an out-of-work benefit (a spell with no end is ongoing
    at the end of the records). A person with no spell has no joined row: DuckDB's
    greatest()/least() skip NULLs, so that case is caught before any clamping."""
    columns = []
    for window, (start, stop) in _WINDOWS.items():
        days = (
            f"greatest(0, datediff('day', greatest(r.start_date, {start}), "
            f"least(r.stop_date, {stop})))"
        )
        columns.append(
            f"coalesce(sum(CASE WHEN r.person_id IS NOT NULL THEN {days} END), 0)"
            f" / any_value(datediff('day', {start}, {stop})) AS {window}"
        )
    return f"""
        SELECT p.person_id, p.family_id, {", ".join(columns)}
        FROM ppl p LEFT JOIN (
            SELECT person_id, start_date,
                   coalesce(end_date, $records_to) + 1 AS stop_date
            FROM benefit_spells
        ) r ON r.person_id = p.person_id AND r.start_date < p.w_end AND r.stop_date > p.w_placebo
        WHERE {{population}}
        GROUP BY p.person_id, p.family_id
        ORDER BY p.person_id"""


# Every measure comes back in person order: DuckDB's parallel GROUP BY returns rows in any order,
# and the same selection must give the same output to the last digit (design.md section 5).
_MEASURES = {
    "attendance": _attendance(),
    "offending": _counts("offences", "offence_date", any_event=True),
    "worklessness": _worklessness(),
    "ae_use": _counts("ae_attendances", "arrival_date", any_event=False),
}


def _population(key: str) -> str:
    outcome = OUTCOMES[key]
    upper = "" if outcome.max_age is None else f" AND p.age <= {outcome.max_age}"
    return f"p.age >= {outcome.min_age}{upper}"


@dataclass(frozen=True)
class Panel:
    """Everything the matching and the estimates need, and nothing about anyone else."""

    families: pd.DataFrame  # sorted by family_id: la_code, cohort, index_quarter, treated, ...
    people: dict[str, pd.DataFrame]  # outcome -> person_id, family_id, placebo, pre, post
    excluded: dict[str, int]  # why families were left out -> how many
    follow_up_months: int


def build_panel(
    store: Store, follow_up_months: int = 12, la: str | None = None, cohort: int | None = None
) -> Panel:
    """The panel for one selection (all families, or one LA and/or identification year)."""
    if follow_up_months not in config.FOLLOW_UP_MONTHS:
        raise ValueError(f"follow-up must be one of {config.FOLLOW_UP_MONTHS} months")
    params = {
        "within": config.ATTACHED_WITHIN_MONTHS,
        "follow_up": follow_up_months,
        "placebo": PLACEBO_MONTHS,
        "records_from": config.RECORDS_FROM,
        "records_to": config.RECORDS_TO,
        "la": la,
        "cohort": cohort,
    }
    units = store.query(_UNITS, params)
    excluded = units["excluded"].value_counts().to_dict()
    units = units[units["excluded"].isna()].drop(columns="excluded").reset_index(drop=True)
    people = store.query(
        _PEOPLE,
        {"placebo": PLACEBO_MONTHS, "pre": config.PRE_WINDOW_MONTHS, "follow_up": follow_up_months},
        frames={"units": units[["family_id", "index_date"]]},
    )
    measures = {
        key: store.query(
            sql.format(population=_population(key)),
            {"records_to": config.RECORDS_TO} if "$records_to" in sql else None,
            frames={"ppl": people},
        )
        for key, sql in _MEASURES.items()
    }
    families = _family_covariates(units, people, measures)
    outcome_people = {
        key: frame.dropna(subset=["pre", "post"]).reset_index(drop=True)
        for key, frame in measures.items()
    }
    return Panel(families, outcome_people, excluded, follow_up_months)


def _family_covariates(
    units: pd.DataFrame, people: pd.DataFrame, measures: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """Household composition and each outcome's pre-window level, averaged over the family's
    members in that outcome's population. A family with no member in a population gets 0 (and,
    for school attendance, has_pupil = 0), so the model can still use every family."""
    families = units.set_index("family_id")
    year = families["index_date"].dt.year.astype(str)
    quarter = families["index_date"].dt.quarter.astype(str)
    families["index_quarter"] = year + "Q" + quarter
    families["cohort"] = families["cohort"].astype(str)
    roles = people.groupby(["family_id", "role"]).size().unstack(fill_value=0)
    families["n_adults"] = roles.get("adult", 0)
    families["n_children"] = roles.get("child", 0)
    for key, frame in measures.items():
        pre = frame.dropna(subset=["pre"]).groupby("family_id")["pre"].mean()
        families[f"pre_{key}"] = pre
    families["has_pupil"] = families["pre_attendance"].notna().astype(np.int64)
    families[[c for c in FAMILY_COVARIATES if c.startswith("pre_")]] = families[
        [c for c in FAMILY_COVARIATES if c.startswith("pre_")]
    ].fillna(0.0)
    families[["n_adults", "n_children"]] = families[["n_adults", "n_children"]].fillna(0)
    return families.reset_index()
