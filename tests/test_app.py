"""The dashboard, driven by Streamlit's AppTest: it runs, labels demo data, and shows only
protected counts."""

import base64
import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tf_eval import config
from tf_eval.data import synth
from tf_eval.data.outcomes import OUTCOMES, THEMES, by_theme
from tf_eval.governance import audit, rules

APP = str(config.PROJECT_ROOT / "app.py")
THEMED = len(by_theme(OUTCOMES))  # the Overview's effects charts: one per theme, in tabs


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def _numbers(values) -> np.ndarray:
    """Plotly arrays arrive as lists or as base64 `bdata` typed arrays."""
    if isinstance(values, dict) and "bdata" in values:
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"]))
    return np.array(values, dtype=float).ravel()


def _shown_counts(figure: dict) -> np.ndarray:
    counts = [_numbers(trace.get("z", trace.get("y"))) for trace in figure["data"]]
    values = np.concatenate([c.ravel() for c in counts]).astype(float)
    return values[~np.isnan(values)]


@pytest.fixture
def app(demo_db: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv(config.DB_ENV_VAR, str(demo_db))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    return at


def test_overview_renders_with_titled_charts(app: AppTest) -> None:
    assert not app.exception
    titles = [figure["layout"]["title"]["text"] for figure in _figures(app)]
    assert titles[THEMED:] == ["Families by local authority and cohort"]
    for figure in _figures(app):
        footnote = figure["layout"]["annotations"][-1]["text"].replace("<br>", " ")
        assert "SYNTHETIC" in footnote and "rounded to the nearest 5" in footnote
        assert "suppressed." in footnote  # how many, or that nothing was
        assert f"Produced {date.today():%d %B %Y}" in footnote


def test_demo_data_is_labelled_synthetic(app: AppTest) -> None:
    assert any("Synthetic data" in warning.value for warning in app.warning)


def test_every_count_shown_is_rounded_and_none_is_small(app: AppTest) -> None:
    shown = np.concatenate([_shown_counts(figure) for figure in _figures(app)[THEMED:]])
    metrics = [float(metric.value.replace(",", "")) for metric in app.metric[:3]]
    for value in np.concatenate([shown, metrics]):
        assert value % config.COUNT_ROUNDING == 0
        assert not 0 < value < config.COUNT_THRESHOLD


def test_choosing_a_measure_changes_the_chart(app: AppTest) -> None:
    families = _shown_counts(_figures(app)[THEMED]).sum()
    app.radio[0].set_value("people").run()
    figure = _figures(app)[THEMED]
    assert figure["layout"]["title"]["text"] == "People by local authority and cohort"
    assert _shown_counts(figure).sum() > families


def test_a_missing_store_named_by_the_user_is_explained(tmp_path: Path, monkeypatch) -> None:
    missing = tmp_path / "typo.duckdb"
    monkeypatch.setenv(config.DB_ENV_VAR, str(missing))
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert "No store at" in at.error[0].value and "python -m tf_eval demo" in at.error[0].value
    assert not missing.exists()


def test_first_run_builds_the_demo_store_with_progress(tmp_path: Path, monkeypatch) -> None:
    default = tmp_path / "data" / "tf_eval.duckdb"
    monkeypatch.delenv(config.DB_ENV_VAR, raising=False)
    monkeypatch.setattr(config, "DEFAULT_DB_PATH", default)
    monkeypatch.setattr(config, "DEMO_FAMILIES", 1500)
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert default.exists()
    assert any("Synthetic demo store ready" in toast.value for toast in at.toast)
    assert not at.main.info, "the building notice is cleared once the store is ready"
    assert len(at.get("plotly_chart")) == THEMED + 1
    assert "demo built" in audit.read(default)["action"].tolist()


def test_a_bad_disclosure_config_stops_the_dashboard(
    demo_db: Path, tmp_path: Path, monkeypatch
) -> None:
    bad = tmp_path / "disclosure.toml"
    bad.write_text("[disclosure]\ncount_rounding = 0\n")
    monkeypatch.setenv(config.DB_ENV_VAR, str(demo_db))
    monkeypatch.setenv(config.DISCLOSURE_CONFIG_ENV_VAR, str(bad))
    rules.current_rules.cache_clear()
    try:
        at = AppTest.from_file(APP, default_timeout=30).run()
    finally:
        rules.current_rules.cache_clear()
    assert not at.exception
    assert "count_rounding must be a whole number" in at.error[0].value
    assert not at.get("plotly_chart") and not at.metric


def test_overview_leads_with_the_effects_in_plain_words(app: AppTest) -> None:
    sentences = app.markdown[0].value
    assert "School attendance rose" in sentences and "more than in similar families" in sentences
    assert sentences.count("95% CI") == len(OUTCOMES)
    for effects in _figures(app)[:THEMED]:
        footnote = effects["layout"]["annotations"][-1]["text"].replace("<br>", " ")
        assert "at least 10 families in each group" in footnote


def test_overview_groups_the_outcomes_by_theme(app: AppTest) -> None:
    """Issue 19 item 4: the headlines under their themes, in order, and a tab per theme whose
    chart holds that theme's outcomes only, its title counting them by theme."""
    sentences = app.markdown[0].value
    places = [sentences.index(f"**{theme}**") for theme in THEMES.values()]
    assert places == sorted(places)
    for theme, outcomes in by_theme(OUTCOMES).items():
        block = sentences[sentences.index(f"**{theme}**") :].split("\n\n")[0]
        assert block.count("95% CI") + block.count("not shown") == len(outcomes)
    groups = by_theme(OUTCOMES)
    assert [tab.label for tab in app.tabs] == [f"{t} ({len(k)})" for t, k in groups.items()]
    for figure, (theme, outcomes) in zip(_figures(app), groups.items(), strict=False):
        panels = [a["text"] for a in figure["layout"]["annotations"][: len(outcomes)]]
        assert [p.split(" (")[0] for p in panels] == [OUTCOMES[k].label for k in outcomes]
        title = figure["layout"]["title"]["text"].replace("<br>", " ")
        single = f"{OUTCOMES[outcomes[0]].label}: "
        assert (
            title.startswith(single) if len(outcomes) == 1 else f"{theme.lower()} outcomes" in title
        )


def test_every_chart_downloads_as_a_png_at_twice_the_size(app: AppTest) -> None:
    for chart in app.get("plotly_chart"):
        options = json.loads(chart.proto.config)["toImageButtonOptions"]
        assert options["format"] == "png" and options["scale"] == 2


def test_a_bug_in_a_page_shows_one_line_not_a_traceback(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dashboard

    def broken():
        raise RuntimeError("a bug")

    monkeypatch.setenv(config.DB_ENV_VAR, str(demo_db))
    monkeypatch.setattr(dashboard, "get_provenance", broken)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("views/data.py").run()
    assert not at.exception
    assert dashboard.INTERNAL_ERROR in at.error[0].value and "a bug" not in at.error[0].value


def test_a_replaced_store_is_shown_without_a_restart(tmp_path: Path, monkeypatch) -> None:
    """A load or a demo rebuild replaces the store file; the next run shows the new data."""
    path = tmp_path / "replaced.duckdb"
    synth.build_demo_store(path, 1500, 3)
    monkeypatch.setenv(config.DB_ENV_VAR, str(path))
    at = AppTest.from_file(APP, default_timeout=120).run()
    before = at.metric[0].value
    synth.build_demo_store(path, 3000, 3)
    at.run()
    assert not at.exception
    assert int(at.metric[0].value.replace(",", "")) > int(before.replace(",", "")) + 1000
