"""The Data & linkage page: coverage by source and year in calendar order, the loads behind the
store with protected row counts, and when families' retention periods end."""

import json
from datetime import UTC, datetime

import pytest
from streamlit.testing.v1 import AppTest

from tf_eval import config

APP = str(config.PROJECT_ROOT / "app.py")


@pytest.fixture
def page(open_view) -> AppTest:
    return open_view("views/data.py")


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_the_page_shows_coverage_loads_and_retention(page: AppTest) -> None:
    assert not page.exception
    coverage, retention = _figures(page)
    assert coverage["layout"]["title"]["text"] == "Records per year by source"
    assert retention["layout"]["title"]["text"] == "When families' records must be destroyed"
    # A demo store's records were all loaded at its build: they expire together, 7 years on.
    ends = [int(x) for x in retention["data"][0]["x"]]
    assert ends == [datetime.now(UTC).year + config.RETENTION_YEARS]
    built = datetime.now(UTC)
    upcoming = f"The next records expire in {built.year + config.RETENTION_YEARS}-{built:%m}"
    assert not page.error and upcoming in page.success[0].value
    loads = page.dataframe[0].value
    assert set(loads["source"]) >= {"families", "people", "attendance", "ae_attendances"}
    assert all(r == "c" or int(r.replace(",", "")) % 5 == 0 for r in loads["rows"])
    assert any("Synthetic data" in w.value for w in page.warning)


def test_years_run_in_order_on_the_coverage_chart(page: AppTest) -> None:
    """Benefit spells that began before the records window must not trail after 2022."""
    layout = _figures(page)[0]["layout"]
    axes = [value for key, value in layout.items() if key.startswith("xaxis")]
    for axis in axes:
        years = axis["categoryarray"]
        assert axis["categoryorder"] == "array" and years == sorted(years) and "2012" in years


def test_linkage_is_shown_per_source_from_protected_counts(page: AppTest) -> None:
    linkage = page.dataframe[1].value
    assert set(linkage["source"]) >= {"people", "attendance", "offences", "ae_attendances"}
    assert (linkage["share_linked"] == 1.0).all()  # the demo is generated linked
    assert all(int(n.replace(",", "")) % 5 == 0 for n in linkage["offered"])


def test_the_months_the_records_cover_and_the_study_calendar_are_shown(page: AppTest) -> None:
    text = "\n".join(m.value for m in page.markdown)
    assert "**Months covered**" in text
    # In words, not the store's table names.
    for source in (
        "School attendance",
        "Proven offences",
        "Out-of-work benefit spells",
        "A&E attendances",
        "Families identified",
    ):
        assert f"- {source}: " in text, source
    assert "ae_attendances" not in text and "benefit_spells" not in text
    assert "- A&E attendances: 2012-01 to 2022-12" in text
    assert "**Study calendar: 2012-01 to 2022-12**" in text
