"""A rare 0/1 outcome's estimate rests on the few families holding its rarer answer: they are
counted once per outcome (`event_counts`), and an estimate's degrees of freedom are at most
config.RARE_EVENT_DF_PER_FAMILY (2) per such family of the smaller group beyond the first
(`with_events`), on the panel's estimates and on an analysis file's alike. docs/method.md
("Every LA x cohort") has the Monte Carlo study behind the rule."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tf_eval.data import store
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.method.difference import Estimate
from tf_eval.method.estimate import AnalysisSpec, evaluate, prepare
from tf_eval.method.estimators import DR_DID, Events, event_counts, rare_event_df, with_df_at_most
from tf_eval.method.matchfile import match_file


def _estimate(att: float = 0.02, se: float = 0.01, df: float = 30.0) -> Estimate:
    half = float(stats.t.ppf(0.975, df)) * se
    return Estimate("looked_after", True, att, se, att - half, att + half,
                    float(2 * stats.t.sf(abs(att / se), df)), 100, 80, 60, 40, 50, df, "CR2",
                    "pre-levels")  # fmt: skip


def test_event_counts_count_people_and_the_families_holding_the_rarer_answer() -> None:
    """Six families by hand: 0-2 supported (2 not matched), 3-5 comparison (5 not matched; 4
    matched twice). The people with the event per group, and per group the families with
    someone with the event or with someone without, whichever are fewer; a placebo's among the
    people with a pre-window alone."""
    treated = np.array([1, 1, 1, 0, 0, 0])
    weights = np.array([1.0, 1.0, 0.0, 1.0, 2.0, 0.0])
    people = pd.DataFrame(
        {
            "family_row": [0, 0, 1, 2, 3, 3, 4, 5, 5],
            "post": [1, 1, 0, 1, 1, 0, 0, 1, 1],
            "pre": [0, 1, 0, 1, 1, 0, 1, 0, 0],
            "placebo": [0.0, 1.0, 0.0, 1.0, 1.0, np.nan, 1.0, 0.0, np.nan],
        }
    )
    counts = event_counts(people, treated, weights)
    # Matched, follow-up: supported people with it 2 (family 0), families with it {0}, without
    # {1}; comparison: 1 person (family 3), with it {3}, without {3, 4}.
    assert counts[("post", True)] == Events((2, 1), (1, 1))
    # Every family: supported with it {0, 2} (3 people), without {1}; comparison with it {3, 5}
    # (3 people), without {3, 4}.
    assert counts[("post", False)] == Events((3, 3), (1, 2))
    # Placebo (pre-window), people with one: family 3's second child and family 5's second have
    # none. Matched supported: with it {0} (1 person), without {0, 1}; comparison with it {3, 4},
    # without none.
    assert counts[("pre", True)] == Events((1, 2), (1, 0))
    assert counts[("pre", False)] == Events((2, 2), (2, 1))


def test_the_degrees_of_freedom_are_capped_and_the_interval_follows() -> None:
    e = _estimate(df=30.0)
    capped = with_df_at_most(e, 5)
    half = float(stats.t.ppf(0.975, 5)) * e.se
    assert capped.df_t == 5 and capped.att == e.att and capped.se == e.se
    assert capped.ci_low == pytest.approx(e.att - half) and capped.ci_high == pytest.approx(
        e.att + half
    )
    assert capped.p_value == pytest.approx(2 * stats.t.sf(2.0, 5))
    assert capped.ci_high - capped.ci_low > e.ci_high - e.ci_low
    assert with_df_at_most(e, 30) == e and with_df_at_most(e, 200) == e  # never raised
    nothing = _estimate(se=float("nan"))
    assert with_df_at_most(nothing, 3) is nothing


def test_each_rare_outcome_estimate_is_capped_by_its_families(demo_db: Path) -> None:
    """One LA x cohort of the 8,000-family demo, where a child looked after or a child
    protection plan is a handful of families per group. Every estimate of a 0/1 outcome (each
    estimator, the placebo, the naive change) has degrees of freedom at most twice the families
    holding the rarer answer in the smaller group less one, counted here by hand from the
    engine's panel and matching; the cap binds somewhere (so the rule is at work), and each
    interval is the t interval on the degrees of freedom given."""
    current = store.Store(demo_db)
    spec = AnalysisSpec(la="LA02", cohort=2016)
    try:
        panel, matching = prepare(current, spec)
        evaluation = evaluate(current, spec, panel=panel)
    finally:
        current.close()
    treated = matching.treated.astype(bool)
    matched = matching.weights > 0

    def informative(outcome: str, window: str, every: bool, groups: int) -> int:
        people = panel.people[outcome]
        if window == "pre":
            people = people[people["placebo"].notna()]
        rows = people["family_row"].to_numpy()
        had = people[window].to_numpy() > 0
        fewest = []
        for arm in (True, False)[:groups]:
            mine = (treated[rows] == arm) & (every | matched[rows])
            fewest.append(min(np.unique(rows[mine & had]).size, np.unique(rows[mine & ~had]).size))
        return min(fewest)

    kinds = [
        *((key, e) for key, found in (evaluation.by_estimator or {}).items() for e in found),
        *(("placebo", e) for e in evaluation.placebo),
        *(("naive", e) for e in evaluation.naive),
    ]
    bound = checked = 0
    for kind, e in kinds:
        if not OUTCOMES[e.outcome].any_event or not np.isfinite(e.se):
            continue
        every = kind in ("naive", DR_DID)
        window = "pre" if kind == "placebo" else "post"
        cap = max(2 * (informative(e.outcome, window, every, 2 if e.compared else 1) - 1), 1)
        assert e.df_t <= cap, (kind, e.outcome, e.df_t, cap)
        bound += e.df_t == cap
        half = float(stats.t.ppf(0.975, e.df_t)) * e.se
        assert e.ci_high - e.att == pytest.approx(half, rel=1e-9), (kind, e.outcome)
        checked += 1
    assert checked >= 20 and bound >= 3, (checked, bound)


def test_an_analysis_files_rare_column_is_capped_by_its_clusters(tmp_path: Path) -> None:
    """A 0/1 outcome column of an analysis file: the clusters (families) with the rarer answer
    cap its degrees of freedom as the panel's do. 300 rows in families of 3; the event in 8
    comparison families."""
    rng = np.random.default_rng(3)
    n = 300
    family = np.arange(n) // 3
    treat = (family % 2 == 0).astype(int)
    x = rng.normal(size=n) + 0.3 * treat
    comparison_families = np.unique(family[treat == 0])
    event_families = rng.choice(comparison_families, 8, replace=False)
    y = (np.isin(family, event_families) & (rng.random(n) < 0.7)).astype(int)
    y[(treat == 1) & (rng.random(n) < 0.1)] = 1
    frame = pd.DataFrame({"family": family, "treat": treat, "x": x, "y": y})
    path = tmp_path / "rare.csv"
    frame.to_csv(path, index=False)
    result = match_file(path, "treat", ["x"], ["y"], id_column="family", replace=True)
    e = result.estimates[0]
    # The matched comparison families with the event, counted by hand.
    kept = result.matching.weights > 0
    with_event = np.unique(family[kept & (treat == 0) & (y == 1)]).size
    assert 0 < with_event <= 8
    assert e.df_t <= max(2 * (with_event - 1), 1)


def test_the_cap_is_two_degrees_of_freedom_per_family_beyond_the_first() -> None:
    assert [rare_event_df(k) for k in (0, 1, 2, 6, 11)] == [1, 1, 2, 10, 20]
