"""Person-level outcome measures in a window around the index date, written in SQL straight from
docs/method.md for the tests: an independent reading of the store, not the generator's code.

DuckDB's greatest()/least() skip NULLs, so a person with no spell (NULL dates after the LEFT
JOIN) must be caught explicitly or they would score a whole window.

Index date: the first day of the month of identification, for every family. Treated: attached
within 3 months of identification (inclusive); families attached later but within 12 months of
the index date are neither. Age: whole years from the first day of the birth month (July if
unknown) to the index month; born in the index month or later is not yet born. A school term
counts in the window it ends in. Benefit days are counted one by one (each day once, however
many spells cover it; an open spell runs to the demo's last day, 2022-12-31).
"""

import duckdb
import pandas as pd

PEOPLE = """
WITH fam AS (
    SELECT f.family_id, date_trunc('month', f.identified_on)::DATE AS idx,
           coalesce(g.attached_on BETWEEN f.identified_on
                    AND f.identified_on + INTERVAL 3 MONTH, false) AS treated
    FROM families f LEFT JOIN programme g USING (family_id)
    -- neither supported nor a comparison: attached later, but within 12 months of the index
    WHERE NOT coalesce(g.attached_on > f.identified_on + INTERVAL 3 MONTH
                       AND g.attached_on < date_trunc('month', f.identified_on) + INTERVAL 12 MONTH,
                       false)
),
ppl AS (
    SELECT p.person_id, p.family_id, fam.treated,
           CASE WHEN make_date(p.birth_year, coalesce(p.birth_month, 7), 1) < fam.idx
                THEN datediff('month', make_date(p.birth_year, coalesce(p.birth_month, 7), 1),
                              date_trunc('month', fam.idx)) // 12
                ELSE -1 END AS age,
           (fam.idx + to_months({start}))::DATE AS w0,
           (fam.idx + to_months({stop}))::DATE AS w1
    FROM people p JOIN fam USING (family_id)
)
"""

# Whether a person has any record of `table` meeting `which`, dated by `date` in the window, for
# the people aged `ages` at the index date.
_ANY = """
        SELECT ppl.person_id, ppl.family_id, ppl.treated, (count(r.person_id) > 0)::DOUBLE AS value
        FROM ppl LEFT JOIN {table} r
          ON r.person_id = ppl.person_id AND {which} AND r.{date} >= w0 AND r.{date} < w1
        WHERE age BETWEEN {ages} GROUP BY ALL"""

MEASURES = {
    "ae_use": """
        SELECT ppl.person_id, ppl.family_id, ppl.treated, count(a.person_id)::DOUBLE AS value
        FROM ppl LEFT JOIN ae_attendances a
          ON a.person_id = ppl.person_id AND a.arrival_date >= w0 AND a.arrival_date < w1
        WHERE age >= 0 GROUP BY ALL""",
    "offending": """
        SELECT ppl.person_id, ppl.family_id, ppl.treated, (count(o.person_id) > 0)::DOUBLE AS value
        FROM ppl LEFT JOIN offences o
          ON o.person_id = ppl.person_id AND o.offence_date >= w0 AND o.offence_date < w1
        WHERE age >= 10 GROUP BY ALL""",
    "attendance": """
        SELECT ppl.person_id, ppl.family_id, ppl.treated,
               100 * (1 - sum(a.sessions_missed) / sum(a.sessions_possible)) AS value
        FROM ppl JOIN attendance a
          ON a.person_id = ppl.person_id AND a.term_end >= w0 AND a.term_end < w1
        WHERE age BETWEEN 5 AND 15 GROUP BY ALL""",
    "worklessness": """
        , days AS (
            SELECT DISTINCT ppl.person_id, d.day
            FROM ppl JOIN benefit_spells b ON b.person_id = ppl.person_id,
                 unnest(range(greatest(b.start_date, w0),
                              least(coalesce(b.end_date, DATE '2022-12-31') + 1, w1),
                              INTERVAL 1 DAY)) AS d(day)
        )
        SELECT ppl.person_id, ppl.family_id, ppl.treated,
               (SELECT count(*) FROM days WHERE days.person_id = ppl.person_id)
               / datediff('day', w0, w1) AS value
        FROM ppl
        WHERE age BETWEEN 18 AND 64""",
    "looked_after": _ANY.format(
        table="social_care",
        which="r.episode_type = 'looked_after'",
        date="start_date",
        ages="0 AND 17",
    ),
    "child_protection": _ANY.format(
        table="social_care",
        which="r.episode_type = 'child_protection_plan'",
        date="start_date",
        ages="0 AND 17",
    ),
    "custody_adult": _ANY.format(
        table="offences", which="r.disposal = 'custody'", date="offence_date", ages="18 AND 200"
    ),
    "custody_juvenile": _ANY.format(
        table="offences", which="r.disposal = 'custody'", date="offence_date", ages="10 AND 17"
    ),
    "juvenile_conviction": _ANY.format(
        table="offences", which="r.disposal <> 'caution'", date="offence_date", ages="10 AND 17"
    ),
}


def measure(con: duckdb.DuckDBPyConnection, outcome: str, start: int, stop: int) -> pd.DataFrame:
    """person_id, family_id, treated, value for `outcome` over months [start, stop) from index."""
    return con.execute(PEOPLE.format(start=start, stop=stop) + MEASURES[outcome]).df()


def pre_post(con: duckdb.DuckDBPyConnection, outcome: str) -> pd.DataFrame:
    """Each person's 12-month pre and post measure (people measured in both windows only)."""
    pre = measure(con, outcome, -12, 0).rename(columns={"value": "pre"})
    post = measure(con, outcome, 0, 12)[["person_id", "value"]].rename(columns={"value": "post"})
    return pre.merge(post, on="person_id")
