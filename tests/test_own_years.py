"""A council's own extracts, from years the demo does not use (2018-2026), loaded with `ingest` and
evaluated: the study calendar comes from the records, no family is left out for the calendar, and
the estimates land within 3 standard errors of the truth planted in the same records (issue 15)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tf_eval import config
from tf_eval.data import coverage, ingest, store, synth
from tf_eval.data.contracts import SOURCES
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.method.estimate import AnalysisSpec, evaluate
from tf_eval.method.panel import build_panel

FAMILIES, SEED = 8000, 32
CALENDAR = synth.DemoCalendar(
    records_from=date(2018, 1, 1),
    records_to=date(2026, 6, 30),
    identified_from=date(2020, 1, 1),
    identified_to=date(2024, 6, 30),
)


@pytest.fixture(scope="module")
def own_years(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """The extracts loaded into a store of real data, and the demo store of the same records
    (for its planted truth)."""
    folder = tmp_path_factory.mktemp("own-years")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(config.PSEUDO_KEY_ENV_VAR, "k" * 16 + "own-years-test-key-0123456789")
        patch.setenv(config.PSEUDO_KEY_FILE_ENV_VAR, str(folder / "unused.key"))
        synth.write_demo_extracts(folder / "extracts", FAMILIES, SEED, calendar=CALENDAR)
        synth.build_demo_store(folder / "demo.duckdb", FAMILIES, SEED, calendar=CALENDAR)
        db = folder / "real.duckdb"
        for source in SOURCES:
            ingest.ingest_file(folder / "extracts" / f"{source}.csv", source, db, "tester")
        yield db, folder / "demo.duckdb"


def test_the_extracts_run_from_2018_to_2026(own_years: tuple[Path, Path]) -> None:
    with duckdb.connect(str(own_years[0]), read_only=True) as con:
        sql = "SELECT min(arrival_date), max(arrival_date) FROM ae_attendances"
        first, last = con.execute(sql).fetchall()[0]
    assert (first.year, last.year) == (2018, 2026)


def test_each_load_records_its_sources_coverage(own_years: tuple[Path, Path]) -> None:
    with duckdb.connect(str(own_years[0]), read_only=True) as con:
        recorded = dict(
            con.execute(
                "SELECT source, last_month FROM coverage WHERE first_month IS NOT NULL"
            ).fetchall()
        )
    assert set(recorded) == set(coverage.SOURCES)
    assert recorded["attendance"] == date(2026, 3, 1)  # the last whole term ends in March


def test_the_calendar_is_the_records_own(own_years: tuple[Path, Path]) -> None:
    panel = build_panel(store.Store(own_years[0]))
    assert panel.calendar is not None
    # The attendance extract's last whole term ends in March 2026 (the summer term would run past
    # the records' end in June), so the sources cover January 2018 to March 2026 together.
    assert (panel.calendar.start, panel.calendar.end) == (date(2018, 1, 1), date(2026, 3, 31))
    reasons = set(panel.excluded)
    assert "windows reach outside the records" not in reasons
    # Families identified in 2023-2024, whose follow-up runs past 2022, are all there.
    assert (panel.families["cohort"].astype(int) >= 2023).sum() > 1000


@pytest.mark.parametrize("follow_up", config.FOLLOW_UP_MONTHS)
def test_the_estimates_land_on_the_planted_truth(
    own_years: tuple[Path, Path], follow_up: int
) -> None:
    db, demo = own_years
    with duckdb.connect(str(demo), read_only=True) as con:
        truth = dict(
            con.execute(
                "SELECT outcome, true_att FROM demo_truth WHERE la_code IS NULL "
                "AND cohort IS NULL AND follow_up_months = ?",
                [follow_up],
            ).fetchall()
        )
    evaluation = evaluate(store.Store(db), AnalysisSpec(follow_up_months=follow_up))
    assert {e.outcome for e in evaluation.estimates} == set(OUTCOMES)
    for e in evaluation.estimates:
        assert abs(e.att - truth[e.outcome]) < 3 * e.se, (e.outcome, e.att, e.se, truth)
