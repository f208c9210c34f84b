"""Issue 17 item 16, the smaller things: the Load page on a demo store says before the upload
that it takes no loads; the Disclosure page's list survives a reload and names the page each
suppression was withheld from; Impact's breakdown by group is a table. (A deep link to the
first page's own name is tested in a real browser: tests/test_browser.py.)"""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tf_eval import config

APP = str(config.PROJECT_ROOT / "app.py")


def test_the_load_page_on_a_demo_store_says_it_takes_no_loads_before_any_upload(
    open_view,
) -> None:
    page = open_view("views/load.py")
    assert not page.exception
    assert any("takes no loads" in info.value for info in page.info)
    assert page.button[0].disabled  # nothing to press that would only be refused


def test_the_disclosure_list_survives_a_reload_and_names_each_page(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.DB_ENV_VAR, str(demo_db))
    first = AppTest.from_file(APP, default_timeout=300)
    first.run()
    first.switch_page("views/data.py").run()  # its coverage chart withholds small years
    assert not first.exception
    reloaded = AppTest.from_file(APP, default_timeout=300)  # a new session, as after a reload
    reloaded.run()
    reloaded.switch_page("views/disclosure.py").run()
    assert not reloaded.exception
    listed = reloaded.dataframe[1].value
    assert len(listed) == int(reloaded.metric[0].value) > 0
    assert "Data & linkage" in set(listed["page"])
    # A value is listed under the pages that draw it (the records-per-year chart), not under
    # every page that counted it (every page takes the overview, for the sidebar).
    for page, value in zip(listed["page"], listed["value"], strict=True):
        if value.startswith("coverage records"):
            assert page in {"Data & linkage", "Board pack"}, (page, value)
        # In words, not the gate's record ("overview:coverage:records[source=benefit_spells,
        # year=2005]", issue 17 item 11).
        assert not {"_", "[", "="} & set(value), value


def test_the_breakdown_by_group_is_a_table(open_view) -> None:
    page = open_view("views/impact.py")
    assert not page.exception
    table = next(d.value for d in page.dataframe if "Local authority" in d.value.columns)
    drawn = page.get("plotly_chart")[-1].proto.spec
    assert len(table) >= 4
    assert all(f'"{group}"' in drawn for group in table["Local authority"])  # the chart's groups
    assert "Effect (percentage points)" in table.columns and "95% interval" in table.columns
    assert all(table["Reading"])
    assert not [m.value for m in page.markdown if m.value.startswith("- **LA0")]
