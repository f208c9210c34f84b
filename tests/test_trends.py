"""Outcomes month by month: the crisis before the index date shows, the groups part after it,
monthly A&E means match a direct count (within the gate's noise), and the page draws one chart
per outcome."""

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.tiny_store import tiny_store
from tf_eval import config
from tf_eval.data import store
from tf_eval.data.outcomes import OUTCOMES, by_theme
from tf_eval.method.estimate import AnalysisSpec, prepare
from tf_eval.method.panel import build_panel
from tf_eval.release import trends
from tf_eval.release.headlines import EFFECT_WINDOW, trend_versus_effect
from tf_eval.release.trends import monthly_trends

APP = str(config.PROJECT_ROOT / "app.py")


@pytest.fixture(scope="module")
def tables(demo_db: Path):
    return monthly_trends(store.Store(demo_db), AnalysisSpec())


def _series(table, group: str):
    frame = table.frame[table.frame["group"] == group].set_index("month")
    return frame["mean"]


def test_every_month_of_both_groups_is_there_with_protected_counts(tables) -> None:
    for table in tables.values():
        assert set(table.frame["month"]) == set(range(-12, 12))
        assert set(table.frame["group"]) == {"supported", "comparison"}
        people = table.frame["people"].dropna()
        assert ((people % 5 == 0) & (people >= 10)).all()
        shown = table.frame.dropna(subset=["mean"])
        assert ((shown["ci_low"] <= shown["mean"]) & (shown["mean"] <= shown["ci_high"])).all()


@pytest.mark.parametrize("outcome", ["offending", "worklessness", "ae_use"])
def test_the_crisis_before_support_and_the_gap_after_show(tables, outcome: str) -> None:
    supported, comparison = (_series(tables[outcome], g) for g in ("supported", "comparison"))
    assert supported[-1] > 1.3 * supported[-12]  # worse just before support
    assert comparison[-1] > 1.3 * comparison[-12]
    late = range(6, 12)  # planted effects: support lowers these outcomes
    # nanmean: a month with fewer than 10 offenders in a group is suppressed by the gate
    assert np.nanmean([supported[m] for m in late]) < np.nanmean([comparison[m] for m in late])


def test_monthly_ae_means_match_a_direct_count(demo_db: Path, tables) -> None:
    shared = store.Store(demo_db)
    panel, matching = prepare(shared, AnalysisSpec())
    families = panel.families.assign(weight=matching.weights)
    people = panel.people["ae_use"][["person_id", "family_id"]].merge(
        families[["family_id", "index_date", "weight", "treated"]]
    )
    people = people[people["weight"] > 0]
    visits = shared.query("SELECT person_id, arrival_date FROM ae_attendances")
    joined = visits.merge(people, on="person_id")
    months = (joined["arrival_date"].dt.year - joined["index_date"].dt.year) * 12 + (
        joined["arrival_date"].dt.month - joined["index_date"].dt.month
    )
    for group, flag in (("supported", True), ("comparison", False)):
        arm = people[people["treated"] == flag]
        in_month = joined[(months == 3) & (joined["treated"] == flag)]
        expected = (in_month["weight"]).sum() / arm["weight"].sum()
        # The gate adds noise of at most the largest person's weighted visits to the sum, rounds to
        # the noise's size (docs/disclosure-control.md#consistent-perturbation), then to 3
        # significant figures.
        largest = in_month.groupby("person_id")["weight"].sum().max()
        reach = largest / arm["weight"].sum() * (1 + 1 / (2 * np.sqrt(6)))
        assert abs(_series(tables["ae_use"], group)[3] - expected) <= reach + 5e-3 * expected


def test_the_page_draws_one_chart_per_outcome(demo_db: Path, monkeypatch) -> None:
    monkeypatch.setenv(config.DB_ENV_VAR, str(demo_db))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page("views/trends.py").run()
    assert not at.exception
    titles = [
        json.loads(c.proto.spec)["layout"]["title"]["text"].replace("<br>", " ")
        for c in at.get("plotly_chart")
    ]
    n, themes = len(OUTCOMES), by_theme(OUTCOMES)  # a tab per theme, for each part
    assert len(titles) == n + len(themes) and all("month by month" in t for t in titles[:n])
    # the event study, under the monthly charts, a chart per theme
    assert all("quarter by quarter" in t for t in titles[n:])
    order = [OUTCOMES[k].label for keys in themes.values() for k in keys]
    assert [t.split(" month by month")[0] for t in titles[:n]] == order
    at.radio[0].set_value(24).run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    months = [
        x for trace in spec["data"] for x in (trace["x"] if isinstance(trace["x"], list) else [])
    ]
    assert max(months) == 23  # the longer follow-up reaches further
    quarters = json.loads(at.get("plotly_chart")[n].proto.spec)
    middles = [x for trace in quarters["data"] for x in trace["x"]]
    assert min(middles) == -23 and max(middles) == 22  # quarters -24 to 21, at their middles
    assert any(
        c.value.startswith("The quarters before support, tested together") for c in at.caption
    )


def test_a_term_counts_in_every_month_it_covers_by_its_days(tmp_path: Path) -> None:
    """Hand-made terms (tests/tiny_store.py), each child's index date 2016-11-01 (month 0)."""
    terms = [
        # Child 51: 2016-04-01, no end, next term in September: capped at 4 months, so
        # Apr-Jul 2016 (months -7..-4), 0 of 116 missed: 100% in each.
        {
            "person_id": 51,
            "term_start": date(2016, 4, 1),
            "sessions_possible": 116,
            "sessions_missed": 0,
        },
        # Sep-Dec 2016 (months -2..1): 28 of 140 missed, 80% in each month it covers.
        {
            "person_id": 51,
            "term_start": date(2016, 9, 1),
            "term_end": date(2016, 12, 31),
            "sessions_possible": 140,
            "sessions_missed": 28,
        },
        # 2017-01-01, no end: to the day before the next term, Jan-Mar 2017 (months 2..4): 90%.
        {
            "person_id": 51,
            "term_start": date(2017, 1, 1),
            "sessions_possible": 120,
            "sessions_missed": 12,
        },
        {
            "person_id": 51,
            "term_start": date(2017, 4, 1),
            "sessions_possible": 110,
            "sessions_missed": 22,
        },  # no end, no next term: Apr-Jul 2017 (months 5..8), 80%
        # Child 52: two short terms sharing September 2016. 09-01..09-15 (15 days, 5 of 10
        # missed) and 09-16..10-15 (30 days, 0 of 30 missed): September holds all of the first
        # and half of the second, 5 missed of 10 + 15 possible = 80%; October the rest, 100%.
        {
            "person_id": 52,
            "term_start": date(2016, 9, 1),
            "term_end": date(2016, 9, 15),
            "sessions_possible": 10,
            "sessions_missed": 5,
        },
        {
            "person_id": 52,
            "term_start": date(2016, 9, 16),
            "term_end": date(2016, 10, 15),
            "sessions_possible": 30,
            "sessions_missed": 0,
        },
    ]
    current = tiny_store(
        tmp_path / "terms.duckdb",
        [(5, date(2016, 10, 15), None)],
        [(51, 5, 2008, 9, "child"), (52, 5, 2009, 2, "child")],
        {"attendance": terms},
    )
    people = pd.DataFrame(
        {"person_id": [51, 52], "family_id": [5, 5], "index_date": pd.Timestamp(2016, 11, 1)}
    )
    values = trends.person_months(current, "attendance", people, (-12, 12))
    cells = zip(values["person_id"], values["month"], values["value"], strict=True)
    got = {(p, m): v for p, m, v in cells}
    expected = {(51, m): 100.0 for m in (-7, -6, -5, -4)}
    expected |= {(51, m): 80.0 for m in (-2, -1, 0, 1)}
    expected |= {(51, m): 90.0 for m in (2, 3, 4)}
    expected |= {(51, m): 80.0 for m in (5, 6, 7, 8)}
    expected |= {(52, -2): 80.0, (52, -1): 100.0}
    assert got.keys() == expected.keys()
    for cell, value in expected.items():
        assert got[cell] == pytest.approx(value, rel=1e-12), cell


def test_an_open_benefit_spell_runs_to_the_end_of_the_records(tmp_path: Path) -> None:
    """Records 2014-01 to 2025-12; person 21 (index 2023-04-01) on benefit from 2022-10-01,
    open: on benefit mid-month in every month from 6 before the index date to 11 after."""
    current = tiny_store(
        tmp_path / "open.duckdb",
        [(2, date(2023, 3, 10), None)],
        [(21, 2, 1990, 1, "adult")],
        {"benefit_spells": [{"person_id": 21, "start_date": date(2022, 10, 1)}]},
        (date(2014, 1, 1), date(2025, 12, 1)),
    )
    people = pd.DataFrame(
        {"person_id": [21], "family_id": [2], "index_date": pd.Timestamp(2023, 4, 1)}
    )
    values = trends.person_months(current, "worklessness", people, (-12, 12))
    values = values.set_index("month")["value"]
    assert values.to_dict() == {m: float(m >= -6) for m in range(-12, 12)}


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_the_page_says_truly_why_a_months_gap_is_smaller_than_the_effect(
    demo_db: Path, outcome: str
) -> None:
    """Issue 17 item 10: the effect's measure over the follow-up (the panel's `post`) against the
    same people's monthly values (the trends' own reading): for an outcome the page says is
    counted over the whole follow-up, the window's mean is several months' worth of a month's;
    for one it says is averaged, it is about one month's."""
    current = store.Store(demo_db)
    try:
        panel = build_panel(current, 12)
        people = panel.people[outcome].merge(
            panel.families[["family_id", "index_date"]], on="family_id"
        )
        people = people.sample(n=min(len(people), 3000), random_state=1)
        monthly = trends.person_months(
            current, outcome, people[["person_id", "family_id", "index_date"]], (0, 12)
        )
    finally:
        current.close()
    month_mean = monthly.dropna(subset=["value"]).groupby("person_id")["value"].mean().mean()
    ratio = people["post"].mean() / month_mean
    kind, _ = EFFECT_WINDOW[outcome]
    if kind == "total":
        assert ratio > 3, ratio
        assert "over the whole 12-month follow-up" in trend_versus_effect(outcome, 12)
    else:
        assert 0.8 < ratio < 1.25, ratio
        assert "averaged over" in trend_versus_effect(outcome, 12)


def test_each_chart_of_the_page_says_how_its_months_relate_to_the_effect(
    demo_db: Path, monkeypatch
) -> None:
    monkeypatch.setenv(config.DB_ENV_VAR, str(demo_db))
    at = AppTest.from_file(str(config.PROJECT_ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("views/trends.py").run()
    at.radio[0].set_value(24).run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    for outcome in OUTCOMES:
        under = [c for c in captions if c.startswith(f"{OUTCOMES[outcome].label}:")]
        assert len(under) == 1 and "24-month follow-up" in under[0], (outcome, captions)
    gathered = [OUTCOMES[k].label for k, (kind, _) in EFFECT_WINDOW.items() if kind == "total"]
    assert all(label in captions[0] for label in gathered)
    assert "support began" not in " ".join(captions)
