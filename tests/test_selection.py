"""The sidebar's selection (local authority and cohort) as a user meets it (issue 17, item 1):
kept across pages in the app's own session state and in the URL, read back from a shared link,
a bad value in a link one warning and All, and named in every title and chart footnote."""

import json
from pathlib import Path

import pytest
from pypdf import PdfReader
from streamlit.testing.v1 import AppTest

from tf_eval import config
from tf_eval.data import store
from tf_eval.data.outcomes import by_theme
from tf_eval.method.estimate import AnalysisSpec, evaluate
from tf_eval.release import headlines, pack_contents, report
from tf_eval.release.results import findings, safe_evaluation

APP = str(config.PROJECT_ROOT / "app.py")
LA = "LA05"
SELECTION_PAGES = ["views/overview.py", "views/trends.py", "views/impact.py", "views/matching.py"]


def _sidebar_choice(at: AppTest, label: str):
    return next(box for box in at.sidebar.selectbox if box.label == label)


def _footnotes(at: AppTest) -> list[str]:
    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return [f["layout"]["annotations"][-1]["text"].replace("<br>", " ") for f in figures]


@pytest.fixture
def app(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv(config.DB_ENV_VAR, str(demo_db))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    return at


def test_a_chosen_local_authority_follows_the_user_to_every_page(app: AppTest) -> None:
    _sidebar_choice(app, "Local authority").set_value(LA).run()
    for view in [*SELECTION_PAGES, "views/report.py", "views/data.py", "views/overview.py"]:
        app.switch_page(view).run()
        assert not app.exception, view
        assert app.session_state["selection_la"] == LA, view
        assert app.query_params.get("la") in (LA, [LA]), view
        if view == "views/data.py":  # not filtered by the selection: it has no sidebar choice
            continue
        assert _sidebar_choice(app, "Local authority").value == LA, view
        assert f"local authority {LA}" in app.title[0].value, view
        for footnote in _footnotes(app):  # what a chart covers, on the chart itself
            assert (
                f"Selection: local authority {LA}, all cohorts." in footnote
                or "Selection: none (every local authority and cohort in the store)" in footnote
            ), view
        assert any(f"local authority {LA}, all cohorts" in f for f in _footnotes(app)) or (
            not _footnotes(app)
        ), view


def test_the_numbers_shown_are_the_chosen_local_authoritys(app: AppTest, demo_db: Path) -> None:
    """Chosen on Impact, shown on the Overview after a visit elsewhere: the sentences and the
    chart's dots are those of the local authority's own evaluation, not of all families."""
    app.switch_page("views/impact.py").run()
    _sidebar_choice(app, "Local authority").set_value(LA).run()
    results = safe_evaluation(evaluate(store.Store(demo_db), AnalysisSpec(la=LA)))
    themes = by_theme(e.outcome for e in results.estimates)  # a chart per theme (issue 19)
    drawn = [
        trace
        for chart in app.get("plotly_chart")[: len(themes)]
        for trace in json.loads(chart.proto.spec)["data"]
    ]
    matched = [t["x"][0] for t in drawn if t["legendgroup"] == "matched"]
    estimates = {e.outcome: e for e in results.estimates}
    order = [estimates[k] for keys in themes.values() for k in keys]
    # A withheld estimate (a rare outcome in LA05 of the 8,000-family demo) draws no dot.
    shown = [e for e in order if not e.withheld]
    assert len(shown) >= 5 and matched == pytest.approx([headlines.scaled(e)[0] for e in shown])
    app.switch_page("views/trends.py").run()
    app.switch_page("views/overview.py").run()
    shown = app.markdown[0].value
    for estimate, check in zip(results.estimates, findings(results), strict=True):
        assert headlines.headline(estimate, 12, check.caution) in shown


def test_a_shared_link_opens_with_its_selection(demo_db: Path, monkeypatch) -> None:
    monkeypatch.setenv(config.DB_ENV_VAR, str(demo_db))
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["la"] = LA
    at.query_params["cohort"] = "2016"
    at.run()
    assert not at.exception
    assert _sidebar_choice(at, "Local authority").value == LA
    assert _sidebar_choice(at, "Cohort (year identified)").value == 2016
    assert "local authority LA05, families identified in 2016" in at.title[0].value


@pytest.mark.parametrize("params", [{"la": "LA99"}, {"cohort": "1999"}, {"cohort": "soon"}])
def test_a_bad_value_in_a_link_is_one_warning_and_all(demo_db: Path, monkeypatch, params) -> None:
    monkeypatch.setenv(config.DB_ENV_VAR, str(demo_db))
    at = AppTest.from_file(APP, default_timeout=300)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception
    warnings = [w.value for w in at.sidebar.warning]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "showing All" in warnings[0]
    assert _sidebar_choice(at, "Local authority").value == "All"
    assert _sidebar_choice(at, "Cohort (year identified)").value == "All"


def test_the_board_pack_is_built_for_the_selection_and_says_so(
    app: AppTest, demo_db: Path, tmp_path: Path
) -> None:
    """Chosen on the Overview, the pack built on the Board pack page is the local authority's,
    named on its first page and under every chart of the analysis."""
    _sidebar_choice(app, "Local authority").set_value(LA).run()
    app.switch_page("views/report.py").run()
    assert f"LA {LA}" in app.caption[0].value
    app.button[0].click().run()
    assert not app.exception and not app.error
    spec, _ = app.session_state["board_pack"]
    assert spec == AnalysisSpec(la=LA)
    current = store.Store(demo_db)
    try:
        contents = pack_contents.gather(current, spec)
    finally:
        current.close()
    report.write_pack(contents, tmp_path, report.find_browser())
    reader = PdfReader(tmp_path / report.PDF_NAME)
    first = " ".join(reader.pages[0].extract_text().split())
    assert f"(local authority {LA}, all cohorts)" in first
    pages = [" ".join(page.extract_text().split()) for page in reader.pages]
    effects = next(page for page in pages if "Figure 1 of" in page)  # after the opening
    assert f"Selection: local authority {LA}, all cohorts" in effects
