"""The disclosure gate: its rules and config file, its safe objects and their cell keys, every LA x
cohort selection of a demo store through the CLI, and every page's counts. Property-based checks,
the cross-check against ACRO and the differencing attacks are in test_disclosure_properties.py,
test_disclosure_acro.py and test_disclosure_attacks.py."""

import dataclasses
import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tf_eval import cli, config
from tf_eval.data import store
from tf_eval.data.record_keys import cell_key, record_keys
from tf_eval.governance import audit
from tf_eval.governance import rules as disclosure_rules
from tf_eval.governance.rules import DisclosureConfigError, Rules, SelectionRefused, check_selection
from tf_eval.method.estimate import AnalysisSpec, evaluate
from tf_eval.method.panel import build_panel
from tf_eval.release.disclosure import (
    NOT_ESTIMABLE,
    SafeTable,
    coarse_df,
    count_table,
    histogram,
    mean_table,
    safe_estimate,
)
from tf_eval.release.overview import overview
from tf_eval.release.provenance import provenance
from tf_eval.release.results import safe_evaluation
from tf_eval.release.trends import monthly_trends


def test_counts_follow_the_10_5_rule_after_noise_and_totals_come_from_shown_cells() -> None:
    frame = pd.DataFrame(
        {
            "la": ["A", "B", "C", "D", "E", "F"],
            "n": [0, 3, 9, 10, 12, 1238],
            "n_key": [0, 17, 200, 91, 45, 163],  # each cell's key: its records' keys summed
        }
    )
    safe = count_table(frame, ["n"], "t")
    assert list(safe.frame.columns) == ["la", "n"]  # the keys never leave the gate
    shown = safe.shown("n")
    assert shown[:4] == [0, "c", "c", 10]  # 10 has no room for noise: never below 10
    assert shown[4] in (10, 15) and shown[5] in (1235, 1240)  # +-2 and +-3, then to the 5
    assert safe.total("n") == 10 + shown[4] + shown[5]  # from shown cells: no suppressed 3 or 9
    assert [s.item for s in safe.suppressed] == ["t:n[la=B]", "t:n[la=C]"]
    assert {s.rule for s in safe.suppressed} == {"threshold"}
    assert safe.labels()["n"].tolist()[:3] == ["0", "c", "c"]
    assert "2 values suppressed" in safe.note() and "noise" in safe.note()
    again = count_table(frame.iloc[::-1], ["n"], "t")  # the same cells, the same output
    assert again.shown("n") == shown[::-1]


def test_the_noise_follows_the_key_and_never_shows_a_small_count() -> None:
    """Over all 256 keys each count of 10+ is spread around itself (never under 10, never more
    than 3 + 2 away), and a cell changes with its key, not with where it sits."""
    for exact in (10, 11, 12, 13, 14, 15, 47, 1238):
        frame = pd.DataFrame({"n": [exact] * 256, "n_key": range(256)})
        shown = np.array(count_table(frame, ["n"], "t").shown("n"))
        assert shown.min() >= 10 and (shown % 5 == 0).all()
        assert np.abs(shown - exact).max() <= 5
        assert abs(shown.mean() - exact) <= 2.5  # unbiased noise, then rounding
        if exact >= 13:
            assert len(set(shown)) >= 2  # the key moves it


def test_record_keys_take_one_byte_and_a_cells_key_sums_them_without_overflow() -> None:
    """The estimates hold a key per person of every outcome, so a key is one byte; a sum of
    1,000 keys of 255 (255,000) would wrap in that byte, and a cell's key must not."""
    keys = record_keys(np.full(1_000, 255 + 7 * 256))
    assert keys.dtype.itemsize == 1 and (keys == 255).all()
    assert cell_key(keys) == 255_000 % 256 == 24


def test_a_count_without_its_cell_key_is_refused() -> None:
    with pytest.raises(ValueError, match="no cell key column 'n_key'"):
        count_table(pd.DataFrame({"n": [12]}), ["n"], "t")
    with pytest.raises(ValueError, match="keys must be whole numbers from 0 to 255"):
        count_table(pd.DataFrame({"n": [12], "n_key": [256]}), ["n"], "t")
    with pytest.raises(ValueError, match="no record key column 'k'"):
        mean_table(pd.DataFrame({"g": ["a"] * 12, "v": [1.0] * 12}), ["g"], "v", "m", key="k")
    with pytest.raises(ValueError, match="need their record keys"):
        histogram(np.full(20, 0.5), [0, 1], "h", keys=None)
    numbers = {"att": 1.5, "se": 0.5, "ci_low": 0.5, "ci_high": 2.5, "p_value": 0.01}
    with pytest.raises(ValueError, match="need their cell keys"):
        safe_estimate("e", "x", numbers, (40, 60), (20, 30), True, 49, keys=None)


def test_safe_objects_come_only_from_the_gate() -> None:
    frame = pd.DataFrame({"n": [3]})
    with pytest.raises(TypeError, match="_token"):
        SafeTable(Rules(), (), frame, ("n",))
    with pytest.raises(TypeError, match="made only by tf_eval.release.disclosure"):
        SafeTable(Rules(), (), frame, ("n",), _token=object())


def test_rates_need_ten_on_each_side_and_magnitudes_pass_dominance_and_p_ratio() -> None:
    people = pd.DataFrame(
        {
            "g": ["rate-ok"] * 30 + ["rate-few-yes"] * 30 + ["small"] * 9,
            "v": [1] * 12 + [0] * 18 + [1] * 9 + [0] * 21 + [1] * 9,
            "k": np.arange(69) * 7 % 256,
        }
    )
    rates = mean_table(people, ["g"], "v", "r", binary=True, key="k").frame.set_index("g")
    # the sum gets noise of at most one person's contribution (1): the rate moves by <= 1/30
    assert abs(rates.loc["rate-ok", "v"] - 12 / 30) <= 1 / 30 + 0.005
    assert np.isnan(rates.loc["rate-few-yes", "v"]) and np.isnan(rates.loc["small", "v"])
    assert pd.isna(rates.loc["small", "people"])  # 9 people: the size is suppressed too
    visits = pd.DataFrame(
        {
            "g": ["spread"] * 12 + ["dominated"] * 12 + ["p-ratio"] * 12,
            "v": [1, 2, 3] * 4 + [50, 40] + [1] * 10 + [30, 1] + [0.2] * 10,
            "k": np.arange(36) * 11 % 256,
        }
    )
    safe = mean_table(visits, ["g"], "v", "m", key="k")
    shown = safe.frame.set_index("g")["v"]
    assert abs(shown["spread"] - 2) <= 3 / 12 + 0.05  # noise up to the largest value (3)
    assert np.isnan(shown["dominated"]) and np.isnan(shown["p-ratio"])
    reasons = {s.item: s.rule for s in safe.suppressed}
    # With the defaults (n=2, k=0.9, p=0.1) a p-ratio failure is always a dominance failure
    # too; a looser k (the top two at 90% now pass) shows the p-ratio check on its own.
    assert reasons == {"m:v[g=dominated]": "dominance", "m:v[g=p-ratio]": "dominance"}
    loose = mean_table(visits, ["g"], "v", "m", rules=Rules(dominance_k=0.99), key="k")
    assert {s.item: s.rule for s in loose.suppressed} == {"m:v[g=p-ratio]": "p-ratio"}


def test_an_estimate_is_withheld_for_a_small_arm_or_few_degrees_of_freedom() -> None:
    numbers = {"att": 1.5, "se": 0.5, "ci_low": 0.5, "ci_high": 2.5, "p_value": 0.01}
    keys = (1, 2, 3, 4)
    shown = safe_estimate("e", "x", numbers, (40, 60), (20, 30), True, 49, keys=keys)
    assert shown.att == 1.5 and not shown.withheld and shown.n_treated in (35, 40, 45)
    for families, df in (((9, 30), 38), ((20, 30), 9)):
        withheld = safe_estimate("e", "x", numbers, (40, 60), families, True, df, keys=keys)
        assert withheld.withheld and withheld.att is None and withheld.ci_high is None
        assert withheld.suppressed[0].rule == "estimate"
    alone = safe_estimate("e", "x", numbers, (40, 0), (20, 0), False, 19, keys=keys)
    assert not alone.withheld and alone.n_comparison == 0


def test_an_estimate_of_a_rare_event_needs_ten_people_with_it_and_without_it() -> None:
    """Issue 19: an estimate of a 0/1 outcome is withheld, with its reason, when the people it
    compares (both groups together) hold fewer than 10 per group with the event, or without it,
    in its window, as a rate would be; a one-group estimate (the naive change) is judged on its
    supported group alone. The groups are pooled, not each held to 10 (that selected biased
    estimates: docs/disclosure-control.md#estimates), so 18 and 2 pass where 12 and 7 do not. An
    estimate the engine could not compute (nobody had the event) keeps that reason."""
    numbers = {"att": -0.02, "se": 0.01, "ci_low": -0.04, "ci_high": 0.0, "p_value": 0.05}
    keys = (1, 2, 3, 4)

    def shown(events, people=(200, 150), compared=True, values=numbers):
        return safe_estimate(
            "e", "x", values, people, (60, 40), compared, 90, keys=keys, events=events
        )

    assert not shown((10, 10)).withheld and not shown(None).withheld
    assert not shown((18, 2)).withheld
    for events, people in (((12, 7), (200, 150)), ((0, 19), (200, 150)), ((190, 141), (200, 150))):
        withheld = shown(events, people)
        assert withheld.withheld and withheld.att is None and withheld.se is None
        assert withheld.ci_low is None and withheld.ci_high is None and withheld.p_value is None
        assert withheld.reason == (
            "fewer than 20 people with the outcome, or without it, among those compared"
        )
        assert [(s.item, s.rule) for s in withheld.suppressed][0] == ("e", "estimate")
        assert withheld.n_treated is not None  # the groups' sizes are shown, as for any estimate
    assert not shown((10, 0), (200, 0), compared=False).withheld
    one = shown((9, 30), (200, 150), compared=False)  # its one group alone
    assert (
        one.reason == "fewer than 10 people with the outcome, or without it, among those compared"
    )
    nothing = {k: float("nan") for k in numbers}
    assert shown((0, 0), values=nothing).reason == NOT_ESTIMABLE
    strict = Rules(proportion_min=20)
    assert safe_estimate(
        "e", "x", numbers, (200, 150), (60, 40), True, 90, strict, keys=keys, events=(25, 14)
    ).withheld


def test_histogram_bins_are_fixed_and_small_ones_merged() -> None:
    edges = [0, 0.25, 0.5, 0.75, 1]
    values = np.r_[np.full(30, 0.1), np.full(4, 0.3), np.full(40, 0.6), np.full(12, 0.9)]
    keys = np.arange(values.size) * 13 % 256
    safe = histogram(values, edges, "h", keys=keys)
    assert safe.edges == (0, 0.5, 0.75, 1)
    exact = (34, 40, 12)  # after merging; each shown after noise, to the nearest 5
    assert all(abs(s - e) <= 5 and s >= 10 for s, e in zip(safe.bin_counts, exact, strict=True))
    few = histogram(np.full(7, 0.5), edges, "h", keys=range(7))  # all together still under 10
    assert few.bin_counts == (None,) and few.edges == (0, 1) and few.suppressed
    outside = np.r_[np.full(20, -5.0), np.full(20, 0.8)]
    outside = histogram(outside, edges, "h", keys=np.zeros(40, dtype=int))
    assert outside.edges[0] == 0 and outside.edges[-1] == 1  # never the data's extremes


def test_selections_are_whitelisted_and_floored() -> None:
    check_selection({"la": "LA01", "cohort": 2016}, 50, 50)
    with pytest.raises(SelectionRefused, match="fewer than 50 supported families"):
        check_selection({"la": "LA01", "cohort": 2016}, 49, 500)
    with pytest.raises(SelectionRefused, match="fewer than 50 comparison families"):
        check_selection({"la": "LA01"}, 500, 3)
    with pytest.raises(SelectionRefused, match="cannot filter on 'postcode'"):
        check_selection({"postcode": "AB1"}, 500, 500)


@pytest.mark.parametrize(
    "text, complaint",
    [
        ("[disclosure]\ncount_rounding = 0\n", "count_rounding must be a whole number >= 1"),
        ("[disclosure]\ncount_threshold = 'ten'\n", "count_threshold must be a whole number"),
        ("[disclosure]\ndominance_k = 1.5\n", "dominance_k must be above 0 and at most 1"),
        ("[disclosure]\nperturbation_max = 0\n", "perturbation_max must be a whole number from 1"),
        ("[disclosure]\nperturbation_max = 2.5\n", "perturbation_max must be a whole number"),
        ("[disclosure]\nsum_perturbation = 0\n", "sum_perturbation must be above 0 and at most 5"),
        ("[disclosure]\nsum_perturbation = 'lots'\n", "sum_perturbation must be a number"),
        ("[disclosure]\nthreshhold = 10\n", "unknown setting 'threshhold'"),
        ("[disclosure\n", "not valid TOML"),
    ],
)
def test_a_bad_disclosure_config_is_one_clear_error(
    tmp_path: Path, text: str, complaint: str
) -> None:
    path = tmp_path / "disclosure.toml"
    path.write_text(text)
    with pytest.raises(DisclosureConfigError, match=complaint) as caught:
        disclosure_rules.load_rules(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_the_config_file_changes_the_rules(tmp_path: Path) -> None:
    path = tmp_path / "disclosure.toml"
    path.write_text(
        "[disclosure]\ncount_threshold = 20\ncount_rounding = 10\nperturbation_max = 1\n"
    )
    rules = disclosure_rules.load_rules(path)
    assert (rules.count_threshold, rules.count_rounding, rules.p_ratio) == (20, 10, 0.1)
    assert rules.perturbation_max == 1
    frame = pd.DataFrame({"n": [15, 26, 26, 26], "n_key": [0, 0, 100, 200]})
    safe = count_table(frame, ["n"], "t", rules)
    assert safe.shown("n") == ["c", 30, 30, 30]  # 26 +- 1 is 25 to 27: always 30


def test_the_shipped_config_holds_the_design_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_EVAL_DISCLOSURE_CONFIG", raising=False)
    assert config.DEFAULT_DISCLOSURE_CONFIG.exists()
    assert disclosure_rules.load_rules() == Rules()


def test_the_cli_stops_on_a_bad_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "disclosure.toml"
    path.write_text("[disclosure]\np_ratio = -1\n")
    monkeypatch.setenv("TF_EVAL_DISCLOSURE_CONFIG", str(path))
    disclosure_rules.current_rules.cache_clear()
    try:
        assert cli.main(["estimate", "--db", str(tmp_path / "none.duckdb")]) == 1
    finally:
        disclosure_rules.current_rules.cache_clear()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "p_ratio must be above 0" in err


# --- every LA x cohort selection of a demo store through the CLI --------------------------------


def _selections(path: Path) -> list[dict[str, object]]:
    families = store.Store(path).query(
        "SELECT DISTINCT la_code, year(identified_on) AS cohort FROM families"
    )
    las, cohorts = sorted(families["la_code"].unique()), sorted(families["cohort"].unique())
    return (
        [{"la": la} for la in las]
        + [{"cohort": int(c)} for c in cohorts]
        + [{"la": la, "cohort": int(c)} for la in las for c in cohorts]
    )


def _arms(path: Path, selection: dict[str, object]) -> tuple[int, int]:
    panel = build_panel(store.Store(path), 12, selection.get("la"), selection.get("cohort"))
    supported = int(panel.families["treated"].sum())
    return supported, len(panel.families) - supported


def _counts_in(output: dict) -> list[object]:
    rows = [*output["estimates"], *output["naive"], *output["placebo"]]
    keys = ("n_treated", "n_comparison", "families_treated", "families_comparison")
    return [
        *output["counts"].values(),
        *output["excluded_families"].values(),
        *(row[k] for row in rows for k in keys),
    ]


def test_every_la_and_cohort_selection_is_safe_or_refused(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = refused = 0
    for selection in _selections(demo_db):
        flags = [f for k, v in selection.items() for f in (f"--{k}", str(v))]
        code = cli.main(["estimate", "--db", str(demo_db), "--json", *flags])
        out, err = capsys.readouterr()
        supported, comparison = _arms(demo_db, selection)
        if min(supported, comparison) < 50:
            assert code == 1 and out == "", selection
            last = err.strip().splitlines()[-1]  # after the progress lines
            assert last.startswith("tf-eval: refused: ") and "fewer than 50" in last
            assert "Traceback" not in err
            refused += 1
            continue
        assert code == 0, (selection, err)
        output = json.loads(out)
        for value in _counts_in(output):
            assert value == "c" or (value % 5 == 0 and (value == 0 or value >= 10)), selection
        for row in [*output["estimates"], *output["placebo"]]:
            if not row["suppressed"]:
                assert row["families_treated"] != "c" and row["families_comparison"] != "c"
                assert row["att"] is not None
        shown += 1
    assert shown >= 10 and refused >= 5  # the store is sized so both happen
    log = audit.read(demo_db)
    assert (log["action"] == "refused").sum() >= refused


def test_the_same_selection_always_gives_the_same_output(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = []
    for _ in range(2):
        assert cli.main(["estimate", "--db", str(demo_db), "--la", "LA02", "--json"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]


# --- cell keys from the engine to every page ------------------------------------------------------


def test_the_engine_hands_the_gate_each_familys_key_and_the_gate_needs_them(
    demo_db: Path,
) -> None:
    """Families are keyed by their own pseudonym (not, say, by their matching group), and an
    evaluation whose keys are missing is refused rather than shown unperturbed."""
    spec = AnalysisSpec(la="LA01")
    evaluation = evaluate(store.Store(demo_db), spec)
    families = build_panel(store.Store(demo_db), 12, "LA01").families["family_id"]
    assert (evaluation.matching.keys == record_keys(families)).all()
    assert all(e.keys is not None for e in [*evaluation.estimates, *evaluation.placebo])
    safe_evaluation(evaluation)  # with its keys, fine
    unkeyed = [
        dataclasses.replace(evaluation, excluded_keys=None),
        dataclasses.replace(
            evaluation, matching=dataclasses.replace(evaluation.matching, keys=None)
        ),
        dataclasses.replace(
            evaluation, estimates=[dataclasses.replace(evaluation.estimates[0], keys=None)]
        ),
    ]
    for broken in unkeyed:
        with pytest.raises(ValueError, match="key"):
            safe_evaluation(broken)


def _count_tables(demo_db: Path) -> dict[str, SafeTable]:
    shared = store.Store(demo_db)
    found = overview(shared)
    sources = provenance(shared, date(2030, 1, 1))
    results = safe_evaluation(evaluate(shared, AnalysisSpec()))
    tables = {
        "overview": found.by_la_cohort,
        "coverage": found.coverage,
        "loads": sources.loads,
        "linkage": sources.linkage,
        "retention": sources.retention.by_year,
        "matched": results.matching.counts,
        "excluded": results.excluded,
    }
    for key, table in monthly_trends(shared, AnalysisSpec(la="LA05")).items():
        tables[f"trend {key}"] = table
    return tables


def test_every_count_a_page_shows_is_perturbed_safe_and_totals_add_up(demo_db: Path) -> None:
    """The disclosure sweep for perturbed output: on every page's tables no count is 1-9, every
    count is a multiple of 5, no cell key leaves the gate, and every total is the sum of the
    shown cells."""
    for name, table in _count_tables(demo_db).items():
        assert not any(c.endswith("_key") for c in table.frame.columns), name
        for column in table.counts:
            shown = [v for v in table.shown(column) if v != "c"]
            assert all(v == 0 or (v >= 10 and v % 5 == 0) for v in shown), (name, column)
            assert table.total(column) == sum(shown), (name, column)


def test_released_degrees_of_freedom_cannot_be_a_family_count() -> None:
    """Rounded down to a multiple of 5 where they could be families - 1 (an estimate that may be
    shown has at least 10 families, so 9 or more); below that only to a whole number, so a
    Bell-McCaffrey df of 4.7 gives t(4), not t(1)."""
    rules = Rules()
    assert [coarse_df(df, rules) for df in (9, 9.5, 12, 14.9, 899)] == [5, 5, 10, 10, 895]
    assert [coarse_df(df, rules) for df in (0.4, 1.7, 4.7, 8.99)] == [1, 1, 4, 8]


def test_an_estimate_the_engine_could_not_compute_is_withheld_with_its_reason() -> None:
    """The doubly robust DiD finds no solution for some small selections (issue 15): its NaN
    must leave the gate as a withheld estimate with a reason, never as numbers of None that a
    page would try to draw, and the suppression is recorded for the audit log."""
    nan = float("nan")
    numbers = {"att": nan, "se": nan, "ci_low": nan, "ci_high": nan, "p_value": nan}
    safe = safe_estimate(
        "estimate:doubly_robust_did:offending",
        "offending",
        numbers,
        (900, 800),
        (300, 400),
        True,
        600,
        keys=(1, 2, 3, 4),
    )
    assert safe.withheld and safe.reason == NOT_ESTIMABLE
    assert safe.att is None and safe.ci_low is None
    assert any(s.reason == NOT_ESTIMABLE for s in safe.suppressed)
