"""Saved analysis specs: saved by name beside the store, read back validated, compared side by
side on the Matching & balance page."""

import json
import re
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tf_eval import config
from tf_eval.method import specs
from tf_eval.method.estimate import AnalysisSpec

APP = str(config.PROJECT_ROOT / "app.py")


def test_a_spec_round_trips_and_names_are_unique(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    assert specs.saved(db) == {}
    tight = AnalysisSpec(caliper=0.2, replace=False, exact=("la_code",), la="LA02")
    specs.save(db, "  tight caliper ", tight, "ann")
    specs.save(db, "default", AnalysisSpec(), "ann")
    assert specs.saved(db) == {"tight caliper": tight, "default": AnalysisSpec()}
    with pytest.raises(specs.SpecError, match="already saved"):
        specs.save(db, "default", tight, "bob")
    for bad, complaint in [
        ("", "give the analysis a name"),
        ("   ", "give the analysis a name"),
        ("x" * 61, "at most 60 characters; this one has 61"),
        ("new\nline", "control characters"),
        ("esc\x1b[31m", "control characters"),
        ("=SUM(A1)", "starts with a letter or a digit"),
    ]:
        with pytest.raises(specs.SpecError, match=re.escape(complaint)):
            specs.save(db, bad, tight, "bob")
    specs.save(db, "caliper 0.2, no replacement (LA02: 2024/25)", tight, "bob")
    assert specs.specs_path(db) == tmp_path / "s.specs.duckdb" and not db.exists()


def test_a_saved_spec_that_is_no_longer_valid_is_reported() -> None:
    with pytest.raises(specs.SpecError, match="no longer valid: ratio must be between 1 and 10"):
        specs.from_json(json.dumps({"ratio": 99}))


def test_saving_two_analyses_compares_them_side_by_side(
    demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, db)
    monkeypatch.setenv(config.DB_ENV_VAR, str(db))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page("views/matching.py").run()
    assert "Save two analyses" in at.main.info[-1].value
    at.text_input[0].set_value("default")  # in a form: set, then submit in the same run
    at.button[1].click().run()
    assert "Saved as 'default'" in at.success[0].value
    at.number_input[1].set_value(0.05)  # caliper
    at.button[0].click().run()
    at.text_input[0].set_value("caliper 0.05")
    at.button[1].click().run()
    assert not at.exception
    assert list(specs.saved(db)) == ["default", "caliper 0.05"]
    compare = [m.value for m in at.metric if m.label == "Supported families matched"]
    assert len(compare) == 2 and compare[0] != compare[1]  # the caliper drops some
    at.text_input[0].set_value("default")
    at.button[1].click().run()
    assert "already saved" in at.error[0].value


def test_the_placeholders_own_name_is_saved_and_a_refused_name_stays_typed(
    demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17 item 9: the name the form suggests ("caliper 0.2, no replacement") is saved; a
    name with a control character or too long is refused in one line and stays in the box, so
    the user can mend it; after a save the box is empty for the next one."""
    db = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, db)
    monkeypatch.setenv(config.DB_ENV_VAR, str(db))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page("views/matching.py").run()
    box = at.text_input(key="save_name")
    suggested = box.placeholder.removeprefix("e.g. ")

    def save() -> None:
        next(b for b in at.button if b.label == "Save analysis").click().run()

    for bad, complaint in [
        ("tab\there", "control characters"),
        ("x" * 61, "at most 60 characters"),
    ]:
        at.text_input(key="save_name").set_value(bad)
        save()
        assert not at.exception
        assert len(at.error) == 1 and complaint in at.error[0].value
        assert "\n" not in at.error[0].value
        assert at.text_input(key="save_name").value == bad  # kept, to be mended
    at.text_input(key="save_name").set_value(suggested)
    save()
    assert not at.exception and not at.error
    assert f"Saved as {suggested!r}" in at.success[0].value
    assert list(specs.saved(db)) == [suggested]
    assert at.text_input(key="save_name").value == ""
