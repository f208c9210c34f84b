"""The event study (issue 18, item 1): the matched treated-minus-comparison difference quarter by
quarter, from 24 months before the index date to the end of follow-up, and a joint test that
the differences before the index date are zero (`pretrend_p_value`).

The headline estimate says how much more supported families' outcomes changed than their
comparison families' between the pre-window and the follow-up. It cannot say *when* the gap
opened. If it opened before support, the estimate may be that earlier drift rather than the
effect of support; this shows the timing (docs/method.md, "The event study").

**Measures.** Each person of an outcome's population (the panel's people, in the matched families;
at national scale in a fixed sample of families, `sample`, read while the matching runs) gets one
value per quarter relative to the index date, read in DuckDB with the outcome definitions of
tf_eval.data.outcomes: for an outcome counted from its records, whether there was any in the
quarter (0/1) or how many (any proven offence, A&E attendances); the share of its days on an
out-of-work benefit (spells merged, `spells_sql`); and the % of sessions attended in terms
overlapping it, each term shared by its days (`term_share`, as the monthly trends do: a
quarter need not hold a term's end), except that a quarter before the index date counts only terms
that ended before it (the panel's rule: a term under way at the index date may hold support's
effect).

**Reference quarter.** Every coefficient is the difference in the change from the quarter
starting 3 months before the index date (months -3 to -1, the last before identification), so
it is 0 there by definition: the usual event-study normalisation, which leaves the pre-period
coefficients free (a reference of the pre-window's mean would tie four of them together), and
puts the reference where any drift before support has gone furthest, so a drift shows as
pre-period coefficients away from 0.

**Estimator.** For each quarter, the regression of the headline (tf_eval.method.estimators): the
matching-weighted difference between supported and comparison people in the change from the
reference quarter, with the headline's outcome model (the pre-level adjustment's by default,
but for a recent level, whose quarter is the reference one; with the doubly robust DiD as the
headline, the matched DiD's, which rests on the same parallel trends), chosen once per outcome
by the thin-data rule, CR2 standard errors clustered by family and Bell-McCaffrey t intervals.
Where every person has a value in every quarter (offending, A&E use, worklessness) the quarters
share one design and one CR2 computation (`family_profile`).

**Joint test.** The pre-period coefficients b (q of them: the quarters from -24 to -6) get the
cluster-robust covariance V = sum_j s_j s_j' over families, s_j the family's CR2 terms in each
quarter's fit (Stata's `suest`, with CR2's adjustment), and the Wald statistic W = b'V^-1 b.
With few families W overstates the evidence (V is itself noisy), so W is read as Hotelling's T^2
on nu degrees of freedom: F = W (nu - q + 1) / (nu q) on (q, nu - q + 1) degrees of freedom,
with nu the smallest Bell-McCaffrey df among the pre-period coefficients (the least information
any of them rests on). studies/event_study.py measures its size and power over many demo stores.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, stats

from tf_eval import config
from tf_eval.data.coverage import StudyCalendar, study_calendar
from tf_eval.data.outcomes import OUTCOMES, spells_sql, term_share, terms_sql
from tf_eval.data.record_keys import record_keys
from tf_eval.data.store import Store
from tf_eval.method import honest_bounds
from tf_eval.method.difference import (
    Estimate,
    Inference,
    choose_outcome_model,
    family_fit,
    family_profile,
    model_columns,
)
from tf_eval.method.estimators import PRE_LEVELS, OutcomeModel
from tf_eval.method.panel import PLACEBO_MONTHS, Panel

QUARTER_MONTHS = 3
FIRST_MONTH = -PLACEBO_MONTHS  # the first quarter starts where the placebo window does
REFERENCE_MONTH = -QUARTER_MONTHS  # the last quarter before the index date: 0 by definition

# Months from the index date to the date {d} (0 in the index month), and the first month of
# its quarter. Every query returns only the quarters where something happened, in person,
# quarter (and term) order; `quarterly_matrix` fills in the rest (zeros, or no value) in numpy,
# where sums run in that order, so the same records always give the same values to the last
# digit. (A grid of every person's quarters joined to their records on date ranges, and DuckDB's
# ordered sums, took seconds at 100,000 families.)
_MONTH = "((year({d}) - year(p.index_date)) * 12 + month({d}) - month(p.index_date))"
_QUARTER = "(3 * floor(" + _MONTH + " / 3)::INTEGER)"
# The people read (`ppl`, registered from pandas: index_date a timestamp) with the first day of
# their first quarter and the day after their last as dates: compared with a record's dates in
# the join, `index_date -/+ months` was worked out and each date cast to a timestamp for every
# pair of person and record (at national scale school terms' read took 3.5 s, 1.9 s without).
_PEOPLE = """(SELECT *, (index_date - to_months(-$first))::DATE AS lo,
                 (index_date + to_months($last))::DATE AS hi FROM ppl) p"""
_INSIDE = "{d} >= p.lo AND {d} < p.hi"
# A record's overlap with the quarters it touches: `spread` rows with q0 and q1, the quarter's
# first day and the day after its last.
_SPREAD = """
    WITH spread AS (
        SELECT r.*, p.index_date,
               unnest(range({first}, {last} + 1, 3)) AS month
        FROM {people} JOIN ({table}) r ON r.person_id = p.person_id
        WHERE {overlaps}
    ), g AS (
        SELECT *, (index_date + to_months(month))::DATE AS q0,
               (index_date + to_months(month + 3))::DATE AS q1
        FROM spread WHERE month >= $first AND month < $last {keep}
    )"""
_EVENTS = f"""
    SELECT p.person_id, {_QUARTER.format(d="r.{date}")} AS month, count(*)::DOUBLE AS value
    FROM {_PEOPLE} JOIN {{table}} r ON r.person_id = p.person_id
    WHERE {_INSIDE.format(d="r.{date}")} AND {{where}}
    GROUP BY ALL ORDER BY 1, 2"""
_SHARE = term_share("g", "g.q0", "g.q1")
_SQL = {
    # Every outcome counted from its records (tf_eval.data.outcomes.Events): events per quarter.
    **{
        key: _EVENTS.format(date=o.events.date, table=o.source, where=o.events.condition())
        for key, o in OUTCOMES.items()
        if o.events is not None
    },
    # Days on benefit in the quarter, from spells cut so that no day counts twice (whole days:
    # their sum is exact in any order).
    "worklessness": _SPREAD.format(
        first=_QUARTER.format(d="r.start_date"),
        last=_QUARTER.format(d="(r.stop_date - 1)"),
        people=_PEOPLE,
        table=spells_sql("ppl"),
        overlaps="r.start_date < r.stop_date AND r.start_date < p.hi AND r.stop_date > p.lo",
        keep="",
    )
    + """
    SELECT person_id, month,
           sum(greatest(0, datediff('day', greatest(start_date, q0), least(stop_date, q1))))
               ::DOUBLE AS value
    FROM g GROUP BY ALL ORDER BY 1, 2""",
    # The sessions missed and possible of each term in each quarter it overlaps, shared by its
    # days (as the monthly trends do: a quarter need not hold a term's end); no row for a quarter
    # without school. A quarter before the index date counts only terms that ended before it: a
    # term under way at the index date holds one count of absences for its whole length,
    # support's months among them, so a share of it before the index date would carry support's
    # effect into the pre-period (the panel's rule, tf_eval.method.panel).
    "attendance": _SPREAD.format(
        first=_QUARTER.format(d="r.term_start"),
        last=_QUARTER.format(d="r.term_end"),
        people=_PEOPLE,
        table="{terms}",
        overlaps="r.term_end >= p.lo AND r.term_start < p.hi",
        keep="AND (month >= 0 OR term_end < index_date)",
    )
    + f"""
    SELECT person_id, month, sessions_missed * {_SHARE} AS missed,
           sessions_possible * {_SHARE} AS possible
    FROM g ORDER BY person_id, month, term_start""",
}


def quarters(follow_up_months: int) -> tuple[int, ...]:
    """The first month of every quarter, from -24 to the last that ends with the follow-up."""
    return tuple(range(FIRST_MONTH, follow_up_months, QUARTER_MONTHS))


@dataclass(frozen=True)
class PretrendTest:
    """The joint test that every pre-period coefficient is zero: Wald statistic W = b'V^-1 b
    over `restrictions` coefficients, read as Hotelling's T^2 on `df` degrees of freedom."""

    statistic: float
    restrictions: int
    df: float

    def p_value(self, df: float | None = None) -> float:
        """P(F > W (nu - q + 1) / (nu q)) on (q, nu - q + 1) df, nu = `df` (the disclosure gate
        passes the coarsened df it releases intervals with); NaN when nu < q."""
        nu, q = self.df if df is None else df, self.restrictions
        if not (np.isfinite(self.statistic) and np.isfinite(nu)) or nu - q + 1 < 1:
            return float("nan")
        f = self.statistic * (nu - q + 1) / (nu * q)
        return float(stats.f.sf(f, q, nu - q + 1))


@dataclass(frozen=True)
class EventStudy:
    """One outcome's quarters (`cells`: the first month of each, from the index date, beside its
    estimate; the reference quarter is not among them) and its pre-trend test (None when it
    cannot be computed: a pre-period coefficient not estimable, or CR1)."""

    outcome: str
    reference_month: int
    cells: list[tuple[int, Estimate]]
    pretrend: PretrendTest | None
    # The cluster-robust (CR2) covariance of every quarter's coefficient, in `cells` order (None
    # under CR1): what relative-magnitudes bounds need (tf_eval.method.honest_bounds).
    covariance: np.ndarray | None = field(default=None, compare=False, repr=False)
    # How many times the largest quarter-to-quarter drift before support a drift after it must be
    # to bring the average post-support quarter's robust interval to no effect (`trend_breakdown`).
    trend_breakdown: float | None = None


def quarterly_matrix(
    store: Store,
    key: str,
    people: pd.DataFrame,
    months: tuple[int, ...],
    calendar: StudyCalendar | None = None,
) -> np.ndarray:
    """Raw values of `people` (person_id, index_date; sorted by person_id, each once) in the
    quarters starting at `months`: people x quarters, NaN where a person has no value (school
    attendance in a quarter without school). Never shown: the event study's fits take them."""
    params = {"first": months[0], "last": months[-1] + QUARTER_MONTHS}
    sql = _SQL[key].format(terms=terms_sql(store)) if key == "attendance" else _SQL[key]
    if "$records_to" in sql:
        params["records_to"] = (calendar or study_calendar(store)).end
    # As numpy arrays, not a frame: at national scale a frame of the 4 million rows of school
    # terms cost 1.6 s more.
    with store.cursor() as cursor:
        cursor.register("ppl", people)
        found = cursor.execute(sql, params).fetchnumpy()
    ids = people["person_id"].to_numpy()
    row = np.searchsorted(ids, found["person_id"])
    column = (found["month"] - months[0]) // QUARTER_MONTHS
    shape = (len(ids), len(months))
    if key != "attendance":
        values = np.zeros(shape)
        values[row, column] = found["value"]
        if OUTCOMES[key].any_event:
            values = (values > 0).astype(float)
        elif key == "worklessness":  # days on benefit over the quarter's days
            index = people["index_date"].to_numpy().astype("datetime64[M]")
            starts = index[:, None] + np.array(months + (months[-1] + QUARTER_MONTHS,))
            days = np.diff(starts.astype("datetime64[D]"), axis=1).astype(float)
            values = values / days
        return values
    # Each quarter's terms, summed one after another in the order returned (person, quarter,
    # term): the same records give the same value to the last digit.
    cell = row * len(months) + column
    first = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]]) if cell.size else cell
    values = np.full(shape, np.nan)
    if cell.size:
        missed = np.add.reduceat(found["missed"], first)
        possible = np.add.reduceat(found["possible"], first)
        values.flat[cell[first]] = 100 * (1 - missed / possible)
    return values


def quarterly_values(
    store: Store, key: str, people: pd.DataFrame, months: tuple[int, ...]
) -> pd.DataFrame:
    """`quarterly_matrix` as rows (person_id, month, value) of the cells with a value."""
    people = people.sort_values("person_id").reset_index(drop=True)
    values = quarterly_matrix(store, key, people, months)
    person, quarter = np.nonzero(np.isfinite(values))
    return pd.DataFrame(
        {
            "person_id": people["person_id"].to_numpy()[person],
            "month": np.array(months)[quarter],
            "value": values[person, quarter],
        }
    )


@dataclass(frozen=True)
class QuarterlyReads:
    """One outcome's quarterly values for the people of the families the event study reads
    (`families`, per panel family: `sample`): `people` (person_id, family_row; by person_id) and
    `grid` (people x quarters, as `quarterly_matrix`)."""

    families: np.ndarray
    people: pd.DataFrame
    grid: np.ndarray


def read_quarters(store: Store, panel: Panel, outcome: str, families: np.ndarray) -> QuarterlyReads:
    """The quarterly values of `outcome`'s people in `families` (a mask of the panel's). It needs
    no matching: `tf_eval.method.estimate.evaluate` reads them while the matching runs."""
    people = panel.people[outcome]
    people = people.loc[families[people["family_row"].to_numpy()], ["person_id", "family_row"]]
    people = people.sort_values("person_id").reset_index(drop=True)
    index_dates = panel.families["index_date"].to_numpy()[people["family_row"].to_numpy()]
    frame = pd.DataFrame({"person_id": people["person_id"], "index_date": index_dates})
    grid = quarterly_matrix(store, outcome, frame, quarters(panel.follow_up_months), panel.calendar)
    return QuarterlyReads(families, people, grid)


def event_study(
    store: Store,
    panel: Panel,
    treated: np.ndarray,
    weights: np.ndarray,
    model: OutcomeModel,
    outcome: str,
    estimator: str,
    inference: Inference | None = None,
    read: QuarterlyReads | None = None,
) -> EventStudy:
    """One outcome's event study on the matched families (weights > 0) of `panel` among those
    `sample` keeps, from `read` (`read_quarters` of that sample), or reading those families'
    records here."""
    how = inference or Inference()
    if read is None:
        chosen = sample(panel.families["family_id"].to_numpy()) & (weights > 0)
        read = read_quarters(store, panel, outcome, chosen)
    weights = np.where(read.families, weights, 0.0)
    months = quarters(panel.follow_up_months)
    matched = weights[read.people["family_row"].to_numpy()] > 0
    people = read.people.loc[matched].reset_index(drop=True)
    grid = read.grid[matched]
    reference = months.index(REFERENCE_MONTH)
    change = grid - grid[:, [reference]]  # NaN where either quarter has no value
    others = [i for i in range(len(months)) if i != reference]
    rows = people["family_row"].to_numpy()
    keys = (record_keys(people["person_id"]), record_keys(panel.families["family_id"]))
    # Not the recent level (estimators.outcome_covariates): its quarter is the reference one.
    x, thin = model.columns(outcome, own_level=estimator == PRE_LEVELS, recent=False)
    with_reference = np.zeros(len(treated), dtype=bool)
    with_reference[rows[np.isfinite(grid[:, reference])]] = True
    keep = with_reference & (weights > 0)
    name, _ = choose_outcome_model(x, thin, keep, int(keep.sum()), True, how)
    chosen = model_columns(name, x, thin)
    cells, terms = _fits(outcome, change[:, others], rows, treated, weights, chosen, keys, how)
    cells = [dataclasses.replace(e, outcome_model=name) for e in cells]
    if OUTCOMES[outcome].any_event:  # each quarter's people with the event, per group
        had, arm = grid[:, others] > 0, treated[rows].astype(bool)
        counts = zip(had[arm].sum(axis=0), had[~arm].sum(axis=0), strict=True)
        cells = [
            dataclasses.replace(e, events=(int(a), int(b)))
            for e, (a, b) in zip(cells, counts, strict=True)
        ]
    before = [i for i, m in enumerate(months[j] for j in others) if m < REFERENCE_MONTH]
    pretrend = None if terms is None else _pretrend([cells[i] for i in before], terms[:, before])
    covariance = None if terms is None else terms.T @ terms
    study = EventStudy(
        outcome,
        REFERENCE_MONTH,
        [(months[j], e) for j, e in zip(others, cells, strict=True)],
        pretrend,
        covariance,
    )
    # Searched here, in the estimates' threads, rather than at the gate: 0.2 s per outcome.
    return dataclasses.replace(study, trend_breakdown=trend_breakdown(study))


def sample(family_ids: np.ndarray) -> np.ndarray:
    """Which of the panel's families the event study reads (a mask): all of them, or with more
    than config.EVENT_STUDY_MAX_FAMILIES a fixed sample of about that many, its matched families
    then taking part with their weights as matched. The event study is a diagnostic whose
    precision at that size is ample (its pre-trend test is never short of power there), while
    its cost grows with every family; drawn before matching, it lets the records be read while
    the matching runs. Each family is in or out by bits 8-23 of its pseudonym (not the low 8,
    its record key for the cell-key noise), so the same store always gives the same sample,
    supported and comparison families alike: the weighted differences estimate the same
    quantities, with the sample's intervals."""
    ids = np.asarray(family_ids, dtype=np.int64)
    if ids.size <= config.EVENT_STUDY_MAX_FAMILIES:
        return np.ones(ids.size, dtype=bool)
    share = config.EVENT_STUDY_MAX_FAMILIES / ids.size
    return ((ids >> 8) & 0xFFFF) < share * 0x10000


def trend_breakdown(study: EventStudy) -> float | None:
    """How many times the largest quarter-to-quarter drift before support a drift after it must
    be to bring the average post-support quarter's robust interval to no effect (Rambachan and
    Roth's relative magnitudes, tf_eval.method.honest_bounds; BREAKDOWN_MAX: at least that).
    None without the quarters' covariance, with a quarter not estimable, or with more than
    config.BOUNDS_MAX_POST_QUARTERS after the index date (the search's cost grows as C(2T, T))."""
    months = [month for month, _ in study.cells]
    beta = np.array([e.att for _, e in study.cells])
    post = sum(month >= 0 for month in months)
    pre = len(months) - post
    if study.covariance is None or not np.isfinite(beta).all() or pre < 1:
        return None
    if not 1 <= post <= config.BOUNDS_MAX_POST_QUARTERS:
        return None
    try:
        found = honest_bounds.breakdown(beta, study.covariance, pre, post)
    except ValueError:  # a covariance not positive definite: no bound, nothing shown
        return None
    return honest_bounds.BREAKDOWN_MAX if found is None else found


def _fits(
    outcome: str,
    change: np.ndarray,
    rows: np.ndarray,
    treated: np.ndarray,
    weights: np.ndarray,
    adjust: np.ndarray | None,
    keys: tuple[np.ndarray, np.ndarray],
    how: Inference,
) -> tuple[list[Estimate], np.ndarray | None]:
    """Each quarter's estimate and each family's CR2 terms (families x quarters; None under
    CR1). Quarters known for every person share one fit; otherwise each is fitted alone, on the
    people with a value there (school attendance: not every child has a term in every quarter)."""
    known = np.isfinite(change)
    if how.variance == "CR2" and known.all() and change.size:
        return family_profile(outcome, change, rows, treated, weights, adjust, keys)
    whole = Inference(how.variance, 0)  # the model was chosen once for every quarter
    cells, terms = [], np.zeros((len(treated), change.shape[1]))
    for i in range(change.shape[1]):
        has = known[:, i]
        estimate, own = family_fit(
            outcome,
            change[has, i],
            rows[has],
            treated,
            weights,
            True,
            adjust,
            (keys[0][has], keys[1]),
            inference=whole,
            scores=how.variance == "CR2",
        )
        cells.append(estimate)
        if own is not None:
            terms[:, i] = own
    return cells, terms if how.variance == "CR2" else None


def _pretrend(cells: list[Estimate], terms: np.ndarray) -> PretrendTest | None:
    """The joint Wald test of the pre-period coefficients (module docstring); None when one of
    them could not be estimated, or their covariance is singular to working precision (a rare
    outcome whose few events leave the quarters' differences all but tied together)."""
    b = np.array([e.att for e in cells])
    dfs = np.array([e.df_t for e in cells])
    if not (np.isfinite(b).all() and np.isfinite(dfs).all() and np.isfinite(terms).all()):
        return None
    covariance = terms.T @ terms
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", linalg.LinAlgWarning)
            statistic = float(b @ linalg.solve(covariance, b, assume_a="pos"))
    except (linalg.LinAlgError, linalg.LinAlgWarning, ValueError):
        return None
    return PretrendTest(statistic, len(cells), float(dfs.min()))


__all__ = [
    "FIRST_MONTH",
    "QUARTER_MONTHS",
    "REFERENCE_MONTH",
    "EventStudy",
    "PretrendTest",
    "QuarterlyReads",
    "event_study",
    "quarterly_values",
    "read_quarters",
    "sample",
    "trend_breakdown",
    "quarters",
]
