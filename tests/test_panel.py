"""The outcome panel: who is treated or compared, from which index date, and each person's
measures, checked against an independent reading of the store (tests/window_measures.py)."""

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.window_measures import measure
from tf_eval.data import store
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.method.panel import FAMILY_COVARIATES, build_panel


@pytest.fixture(scope="module")
def panel(demo_db: Path):
    return build_panel(store.Store(demo_db))


@pytest.mark.parametrize("outcome", list(OUTCOMES))
@pytest.mark.parametrize(
    "window, months", [("placebo", (-24, -12)), ("pre", (-12, 0)), ("post", (0, 12))]
)
def test_each_persons_measure_matches_an_independent_query(
    demo_db: Path, panel, outcome: str, window: str, months: tuple[int, int]
) -> None:
    with duckdb.connect(str(demo_db), read_only=True) as con:
        expected = measure(con, outcome, *months).set_index("person_id")["value"]
    got = panel.people[outcome].set_index("person_id")[window].dropna()
    # The panel keeps people measured both before and after; each of them matches exactly.
    assert len(got) > 100
    np.testing.assert_allclose(got, expected.reindex(got.index), rtol=1e-12, atol=1e-12)


def test_a_24_month_follow_up_measures_24_months(demo_db: Path) -> None:
    longer = build_panel(store.Store(demo_db), follow_up_months=24)
    with duckdb.connect(str(demo_db), read_only=True) as con:
        expected = measure(con, "worklessness", 0, 24).set_index("person_id")["value"]
    got = longer.people["worklessness"].set_index("person_id")["post"]
    np.testing.assert_allclose(got, expected.reindex(got.index), rtol=1e-12)


def test_treated_and_comparison_families_and_their_index_dates(demo_db: Path, panel) -> None:
    with duckdb.connect(str(demo_db), read_only=True) as con:
        expected = (
            con.execute(
                """SELECT f.family_id, g.attached_on,
                      (date_trunc('month', f.identified_on) + INTERVAL 1 MONTH)::DATE AS next_month
               FROM families f LEFT JOIN programme g USING (family_id)"""
            )
            .df()
            .set_index("family_id")
        )
    families = panel.families.set_index("family_id")
    treated = families[families["treated"]]
    comparison = families[~families["treated"]]
    assert (treated["index_date"] == expected.loc[treated.index, "attached_on"]).all()
    assert (comparison["index_date"] == expected.loc[comparison.index, "next_month"]).all()
    later = expected.loc[comparison.index, "attached_on"].dropna()
    assert (later >= comparison.loc[later.index, "index_date"] + pd.DateOffset(months=12)).all()
    assert 0.3 < families["treated"].mean() < 0.5
    assert set(FAMILY_COVARIATES) <= set(families.columns)
    assert families["index_quarter"].str.fullmatch(r"20\d\dQ[1-4]").all()


def test_family_covariates_are_member_means_of_pre_window_levels(panel) -> None:
    family = panel.families.iloc[0]
    members = panel.people["ae_use"]
    # ae_use covers everyone, so the family's level is the mean over all its members.
    mine = members[members["family_id"] == family["family_id"]]
    assert family["pre_ae_use"] == pytest.approx(mine["pre"].mean())


def test_a_selection_keeps_only_its_families(demo_db: Path) -> None:
    one = build_panel(store.Store(demo_db), la="LA03", cohort=2016)
    assert set(one.families["la_code"]) == {"LA03"}
    assert set(one.families["cohort"]) == {"2016"}
    assert set(one.people["ae_use"]["family_id"]) <= set(one.families["family_id"])


def _tiny_store(path: Path, families: list[tuple[int, str, date, date | None]]) -> store.Store:
    con = store.connect(path, read_only=False)
    store.create_schema(con)
    for family_id, la, identified, attached in families:
        con.execute("INSERT INTO families VALUES (?, ?, ?, 1)", [family_id, la, identified])
        con.execute(
            "INSERT INTO people VALUES (?, ?, 1980, 'F', 'adult', 1)", [family_id * 10, family_id]
        )
        if attached:
            con.execute("INSERT INTO programme VALUES (?, ?, NULL, 1)", [family_id, attached])
    con.close()
    return store.Store(path)


def test_families_that_fit_neither_group_are_left_out_with_a_reason(tmp_path: Path) -> None:
    tiny = _tiny_store(
        tmp_path / "tiny.duckdb",
        [
            (1, "LA01", date(2016, 3, 10), date(2016, 4, 1)),  # treated: attached within 3 months
            (2, "LA01", date(2016, 3, 10), None),  # comparison: never attached
            (3, "LA01", date(2016, 3, 10), date(2018, 9, 1)),  # comparison: joined much later
            (4, "LA01", date(2016, 3, 10), date(2016, 10, 1)),  # attached 7 months on: neither
            (5, "LA01", date(2022, 6, 1), None),  # follow-up would end after the records
            (6, "LA01", date(2013, 3, 1), None),  # placebo window would start before them
        ],
    )
    built = build_panel(tiny)
    assert dict(zip(built.families["family_id"], built.families["treated"], strict=True)) == {
        1: True,
        2: False,
        3: False,
    }
    assert built.excluded == {
        "attached to support before its follow-up ended": 1,
        "windows reach outside the records": 2,
    }
    # With 24 months of follow-up, the late joiner (attached 29 months on) is still comparison.
    assert 3 in set(build_panel(tiny, follow_up_months=24).families["family_id"])


def test_an_unsupported_follow_up_is_refused(demo_db: Path) -> None:
    with pytest.raises(ValueError, match="follow-up must be one of"):
        build_panel(store.Store(demo_db), follow_up_months=18)
