"""Outcomes month by month around the index date, for supported families and their matched
comparison families: the picture that shows the crisis before support, the recovery after, and
the gap the programme makes.

Each person in an outcome's population (as in the estimates) gets a value in every month from
12 before the index date to the end of follow-up: any proven offence that month (0/1), A&E
attendances that month, on an out-of-work benefit in mid-month (0/1, adults: overlapping spells
count once, and an open spell runs to the end of the study calendar), and school attendance (%)
in that calendar month, each term counting in every month it covers in proportion to its days
there (as the panel attributes terms to windows, tf_eval.data.outcomes.TERMS). The weighted
mean per group and month (matching weights) and its 95% interval (clustered by family) pass
the disclosure gate before they leave: each person's record key (tf_eval.data.record_keys) goes
with their values, so that the count of people in each group and month, and the sum behind its
mean, get the cell-key method's noise.
"""

from __future__ import annotations

import pandas as pd

from tf_eval import config
from tf_eval.data.coverage import StudyCalendar, study_calendar
from tf_eval.data.outcomes import OUTCOMES, term_share, terms_sql
from tf_eval.data.record_keys import record_keys
from tf_eval.data.store import Store
from tf_eval.method.estimate import AnalysisSpec, Matching, prepare
from tf_eval.method.panel import Panel
from tf_eval.release import disclosure
from tf_eval.release.disclosure import SafeTable

_RELATIVE = (
    "(year({d}) - year(p.index_date)) * 12 + month({d}) - month(p.index_date)"  # months from index
)
_GRID = """
    SELECT p.person_id, p.family_id, p.index_date, m.month,
           p.index_date + to_months(m.month) + INTERVAL 14 DAY AS mid
    FROM ppl p CROSS JOIN (SELECT unnest(range($first, $last)) AS month) m"""
_EVENTS = """
    WITH events AS (
        SELECT p.person_id, {relative} AS month, count(*) AS n
        FROM ppl p JOIN {table} r ON r.person_id = p.person_id
        WHERE r.{date} >= p.index_date - to_months(-$first)
          AND r.{date} < p.index_date + to_months($last) AND {where}
        GROUP BY ALL
    )
    SELECT g.person_id, g.family_id, g.month, {value} AS value
    FROM ({grid}) g LEFT JOIN events e USING (person_id, month)"""
_SHARE = term_share("t", "g.m0", "g.m1")  # a term's share of days in the calendar month
_SQL = {
    # Every outcome counted from its records (tf_eval.data.outcomes.Events): whether there was
    # any that month (0/1), or how many.
    **{
        key: _EVENTS.format(
            relative=_RELATIVE.format(d=f"r.{o.events.date}"),
            table=o.source,
            date=o.events.date,
            where=o.events.condition(),
            value="(coalesce(e.n, 0) > 0)::DOUBLE" if o.events.any else "coalesce(e.n, 0)::DOUBLE",
            grid=_GRID,
        )
        for key, o in OUTCOMES.items()
        if o.events is not None
    },
    "worklessness": f"""
        SELECT g.person_id, g.family_id, g.month, (count(r.start_date) > 0)::DOUBLE AS value
        FROM ({_GRID}) g
        LEFT JOIN benefit_spells r ON r.person_id = g.person_id
             AND r.start_date <= g.mid AND coalesce(r.end_date, $records_to) >= g.mid
        GROUP BY ALL""",
    "attendance": f"""
        SELECT g.person_id, g.family_id, g.month,
               100 * (1 - sum(t.sessions_missed * {_SHARE} ORDER BY t.term_start)
                      / sum(t.sessions_possible * {_SHARE} ORDER BY t.term_start)) AS value
        FROM (
            SELECT p.person_id, p.family_id, m.month,
                   (date_trunc('month', p.index_date) + to_months(m.month))::DATE AS m0,
                   (date_trunc('month', p.index_date) + to_months(m.month + 1))::DATE AS m1
            FROM ppl p CROSS JOIN (SELECT unnest(range($first, $last)) AS month) m
        ) g
        JOIN ({{terms}}) t
          ON t.person_id = g.person_id AND t.term_start < g.m1 AND t.term_end >= g.m0
        GROUP BY ALL""",
}
# Means of 0/1 values: the gate applies the rate rules to them.
BINARY = {"worklessness"} | {k for k, o in OUTCOMES.items() if o.any_event}
CEILING = {"attendance": 100.0}  # a percentage: no mean above it, noise or not


def person_months(
    store: Store,
    key: str,
    people: pd.DataFrame,
    months: tuple[int, int],
    calendar: StudyCalendar | None = None,
) -> pd.DataFrame:
    """Raw values (person_id, family_id, month, value) of `people` (person_id, family_id,
    index_date) in the months [first, last) from their index dates, read inside the store's
    study calendar (`calendar`, if known already). Never shown: the gate takes them from here."""
    calendar = calendar or study_calendar(store)
    params = {"first": months[0], "last": months[1]}
    if "$records_to" in _SQL[key]:
        params["records_to"] = calendar.end
    sql = _SQL[key].format(terms=terms_sql(store)) if key == "attendance" else _SQL[key]
    return store.query(sql, params, frames={"ppl": people})


def monthly_trends(
    store: Store, spec: AnalysisSpec, panel: Panel | None = None, matching: Matching | None = None
) -> dict[str, SafeTable]:
    """For each outcome of the spec: group ('supported'/'comparison'), month, mean, ci_low,
    ci_high and a protected count of people, through the gate (on `panel`, and its `matching`
    for this spec, if made already)."""
    if panel is None or matching is None:
        panel, matching = prepare(store, spec, panel=panel)
    families = panel.families[["family_id", "index_date"]].assign(
        weight=matching.weights, treated=matching.treated
    )
    families = families[families["weight"] > 0]
    first, last = -config.PRE_WINDOW_MONTHS, spec.follow_up_months
    calendar = panel.calendar or study_calendar(store)
    tables = {}
    for key in spec.outcomes:
        people = panel.people[key][["person_id", "family_id"]].merge(families, on="family_id")
        values = person_months(
            store, key, people[["person_id", "family_id", "index_date"]], (first, last), calendar
        )
        values = values.merge(people[["person_id", "weight", "treated"]], on="person_id")
        values["group"] = values["treated"].map({True: "supported", False: "comparison"})
        values["record_key"] = record_keys(values["person_id"])
        tables[key] = disclosure.weighted_mean_table(
            values.dropna(subset=["value"]),
            ["group", "month"],
            "value",
            "weight",
            "family_id",
            f"trend:{key}",
            binary=key in BINARY,
            key="record_key",
            ceiling=CEILING.get(key),
        )
    return tables
