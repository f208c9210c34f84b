"""Outcomes month by month: the crisis before the index date shows, the groups part after it,
monthly A&E means match a direct count (within the gate's noise), and the page draws one chart
per outcome."""

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tf_eval import config
from tf_eval.data import store
from tf_eval.method.estimate import AnalysisSpec, prepare
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
    assert len(titles) == 4 and all("month by month" in t for t in titles)
    at.radio[0].set_value(24).run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    months = [
        x for trace in spec["data"] for x in (trace["x"] if isinstance(trace["x"], list) else [])
    ]
    assert max(months) == 23  # the longer follow-up reaches further
