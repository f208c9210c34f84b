"""The Matching & balance page, driven by AppTest: it renders its charts and table, the form
changes the result, a bad form is explained, and a selection too small is refused with no
numbers."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tf_eval import config
from tf_eval.data import store
from tf_eval.method.panel import build_panel

APP = str(config.PROJECT_ROOT / "app.py")


@pytest.fixture
def page(open_view) -> AppTest:
    return open_view("views/matching.py")


def _titles(at: AppTest) -> list[str]:
    return [
        json.loads(c.proto.spec)["layout"]["title"]["text"].replace("<br>", " ")
        for c in at.get("plotly_chart")
    ]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_the_page_shows_balance_overlap_and_estimates(page: AppTest) -> None:
    assert not page.exception
    titles = _titles(page)
    assert titles[0].startswith("After matching") and "0.1 SD" in titles[0]
    assert titles[1] == "Propensity scores of the two groups before matching"
    assert titles[2].startswith("Support improved")
    effects = json.loads(page.get("plotly_chart")[2].proto.spec)
    names = {trace["name"] for trace in effects["data"]}
    assert len(names) == 3  # matched, naive and placebo side by side
    metrics = _metrics(page)
    assert metrics["Supported families"] == metrics["of them matched"]  # with replacement
    for value in metrics.values():
        assert value == "c" or int(value.replace(",", "")) % 5 == 0
    # The comparison families' effective size under the matching weights (issue 15, item 7),
    # in words beside the counts it is read against.
    effective = [c.value for c in page.caption if "effective sample size" in c.value]
    assert len(effective) == 1
    assert metrics["Comparisons used"] in effective[0]


def test_a_caliper_changes_the_matched_counts(page: AppTest) -> None:
    before = _metrics(page)["of them matched"]
    page.number_input[1].set_value(0.01)
    page.button[0].click().run()
    assert not page.exception
    after = _metrics(page)["of them matched"]
    assert int(after.replace(",", "")) < int(before.replace(",", ""))


def test_an_empty_covariate_list_is_explained(page: AppTest) -> None:
    page.multiselect[0].set_value([])
    page.button[0].click().run()
    assert not page.exception
    assert "choose at least one covariate" in page.error[0].value
    assert not page.metric


def test_a_small_selection_is_refused_without_numbers(page: AppTest, demo_db: Path) -> None:
    shared = store.Store(demo_db)
    small = None
    for la in sorted(shared.query("SELECT DISTINCT la_code FROM families")["la_code"]):
        for cohort in range(2014, 2021):
            families = build_panel(shared, 12, la, cohort).families
            if min(families["treated"].sum(), (~families["treated"]).sum()) < 50:
                small = (la, cohort)
                break
        if small:
            break
    assert small, "the 8,000-family test store has small LA x cohort cells"
    page.sidebar.selectbox[0].set_value(small[0])
    page.sidebar.selectbox[1].set_value(small[1]).run()
    assert not page.exception
    assert "fewer than 50" in page.info[0].value
    assert not page.metric and not page.get("plotly_chart")


def test_the_disclosure_page_lists_the_rules_and_this_sessions_suppressions(page: AppTest) -> None:
    page.number_input[1].set_value(0.001)  # a caliper so tight that little matches
    page.button[0].click().run()
    page.switch_page("views/data.py").run()  # its coverage chart withholds small years
    page.switch_page("views/disclosure.py").run()
    assert not page.exception
    rules = page.dataframe[0].value
    assert dict(zip(rules["setting"], rules["value"], strict=True))["count_threshold"] == "10"
    listed = page.dataframe[1].value
    assert len(listed) == int(page.metric[0].value) > 0
    # The suppressions listed are every one this user was shown since the server started (in a
    # test process, earlier tests' pages too), so any of the gate's rules may be among them.
    rules_of_the_gate = {
        "threshold",
        "estimate",
        "histogram",
        "dominance",
        "all-same",
        "p-ratio",
        "proportion",
    }
    assert set(listed["rule"]) <= rules_of_the_gate and "estimate" in set(listed["rule"])
    assert all(listed["why"]) and all(listed["output"])


def _where_families_went(at: AppTest):
    return next(d.value for d in at.dataframe if "how many" in d.value.columns)


@pytest.mark.parametrize("view", ["views/overview.py", "views/matching.py"])
def test_every_family_of_the_selection_is_accounted_for_by_reason(
    open_view, demo_db: Path, view: str
) -> None:
    """Issue 17 item 6: the analysis' counts reconcile with the store's: supported, comparison
    pool and each reason for leaving a family out (the panel's own) add up to every family,
    to within the rounding of each count."""
    page = open_view(view)
    assert not page.exception
    table = _where_families_went(page)
    shared = store.Store(demo_db)
    try:
        reasons = set(build_panel(shared, 12).excluded)
        families = int(shared.query("SELECT count(*) AS n FROM families")["n"].iloc[0])
    finally:
        shared.close()
    left_out = {row.removeprefix("Left out: ") for row in table["families"] if "Left out" in row}
    assert left_out == reasons and reasons
    counts = [int(v.replace(",", "")) for v in table["how many"] if v != "c"]
    assert all(c % config.COUNT_ROUNDING == 0 for c in counts)
    assert abs(sum(counts) - families) <= len(table) * (config.COUNT_ROUNDING / 2 + 3)
    if view == "views/matching.py":
        metrics = _metrics(page)
        assert table["how many"].iloc[0] == metrics["Supported families"]
        assert table["how many"].iloc[1] == metrics["Comparison pool"]
    else:
        explained = " ".join(c.value for c in page.caption)
        assert "rounded" in explained
        assert f"within {config.ATTACHED_WITHIN_MONTHS} months of identification" in explained
