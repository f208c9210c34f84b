"""The Value for money page, driven by AppTest (issue 20): nothing until the programme's cost is
set, then the figures, both charts and the assumptions; a bad setting or costs file is one line
and changes nothing; the settings stay for the Board pack."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.test_value import ROW, _file
from tf_eval.data.outcomes import OUTCOMES

COST = "Programme cost per supported family (£)"


@pytest.fixture
def page(open_view) -> AppTest:
    return open_view("views/value_for_money.py")


def _submit(at: AppTest, cost: float | None, **boxes: float) -> AppTest:
    inputs = {box.label: box for box in at.number_input}
    inputs[COST].set_value(cost)
    for label, value in boxes.items():
        inputs[label].set_value(value)
    next(b for b in at.button if b.label == "Show the value for money").click()
    return at.run()


def test_nothing_is_shown_until_the_programme_cost_is_set(page: AppTest) -> None:
    assert not page.exception and not page.get("plotly_chart")
    assert "no default pretends to know it" in page.info[0].value
    assert len(page.get("download_button")) == 1  # the default costs, to edit, before any cost
    _submit(page, None)
    (error,) = page.error
    assert error.value.startswith("Set the programme's cost per supported family")
    assert "value_settings" not in page.session_state
    _submit(page, 0.0)
    (error,) = page.error
    assert "cost per family must be a positive number of pounds, not 0" in error.value
    assert "\n" not in error.value and not page.get("plotly_chart")


def test_the_figures_charts_and_assumptions_once_a_cost_is_set(page: AppTest) -> None:
    _submit(page, 2500.0, **{"Years the effects last": 3})
    assert not page.exception and not page.error
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in page.get("plotly_chart")]
    assert len(titles) == 2
    assert titles[0].startswith("What support is worth per family")
    assert "against £2,500 spent" in titles[0].replace("<br>", " ")
    assert titles[1].startswith("What moves the return per £1")
    headline = next(m.value for m in page.markdown if "Each £1 spent" in m.value)
    assert "over 3 years, at 2023 prices" in headline
    shown = {m.label: m.value for m in page.metric}
    assert shown["Fiscal return per £1"] in headline  # the same figure, said twice
    assert "illustrative default unit costs" in page.warning[0].value
    table = next(d.value for d in page.dataframe if "Left out because" in d.value)
    assert set(table["Outcome"]) == {o.label for o in OUTCOMES.values()}
    assumptions = " ".join(m.value for m in page.markdown)
    assert "drawn jointly" in assumptions and "Effects last 3 years" in assumptions
    page.switch_page("views/report.py").run()  # the settings stay, for the pack among others
    said = " ".join(c.value for c in page.caption)
    assert "Value for money: a programme cost of £2,500 per family, effects lasting 3 years" in said
    page.switch_page("views/value_for_money.py").run()
    assert {b.label: b.value for b in page.number_input}[COST] == 2500
    assert len(page.get("plotly_chart")) == 2


def test_a_bad_costs_file_is_one_line_and_a_good_one_is_used(page: AppTest) -> None:
    page.file_uploader[0].upload("ours.toml", _file("burglary").encode(), "application/toml")
    _submit(page, 1000.0)
    (error,) = page.error
    assert error.value.startswith("Not used: ours.toml: unknown outcome 'burglary'")
    assert "value_settings" not in page.session_state
    page.file_uploader[0].upload("ours.toml", _file(row=ROW).encode(), "application/toml")
    _submit(page, 1000.0)
    assert not page.error and not page.warning  # the user's own costs: no illustrative warning
    table = next(d.value for d in page.dataframe if "Left out because" in d.value)
    left_out = table.set_index("Outcome")["Left out because"]
    assert left_out["A&E use"] == ""
    assert left_out["Offending"] == "the unit costs give no cost for it"
