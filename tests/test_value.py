"""Value for money (issue 20): the unit costs file and its one-line errors, the model's figures
checked by hand, the intervals' coverage of a planted truth on synthetic draws, and the release
step (only gated estimates enter; a withheld one leaves its outcome out with the reason)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tf_eval import config
from tf_eval.data import store
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.method.estimate import AnalysisSpec, Evaluation, evaluate
from tf_eval.method.unit_costs import (
    UNITS,
    CostsError,
    parse_costs,
    read_costs,
    units_avoided_per_year,
)
from tf_eval.method.value_model import (
    OutcomeInput,
    Settings,
    SettingsError,
    persistence,
    sensitivity,
    value,
)
from tf_eval.release import disclosure
from tf_eval.release.results import SafeResults, safe_evaluation
from tf_eval.release.value import (
    ValueSettings,
    assumptions,
    headline,
    value_for_money,
    value_json,
)

ROW = 'fiscal = 100\neconomic = 150\nagency = "NHS"\nprice_year = 2023\nsource = "a table"\n'


def _file(outcome: str = "ae_use", row: str = ROW, extra: str = "") -> str:
    return f'title = "Ours"\n{extra}[costs.{outcome}]\n{row}'


# --- the unit costs file ------------------------------------------------------------------------


def test_the_default_costs_are_illustrative_and_cost_every_outcome() -> None:
    costs = read_costs()
    assert "illustrative" in costs.title.lower() and "check" in costs.title.lower()
    assert {c.outcome for c in costs.costs} == set(OUTCOMES)
    assert all(c.economic >= c.fiscal >= 0 and c.agency and c.source for c in costs.costs)
    assert 2000 < costs.price_year <= 2100
    text = config.DEFAULT_UNIT_COSTS.read_text()
    assert "ILLUSTRATIVE" in text and all(UNITS[k].words in text for k in OUTCOMES)


def test_a_users_file_is_read_as_written() -> None:
    costs = parse_costs(_file(), "ours.toml")
    assert costs.title == "Ours" and costs.price_year == 2023
    (cost,) = costs.costs
    assert (cost.outcome, cost.fiscal, cost.economic, cost.agency) == ("ae_use", 100, 150, "NHS")


@pytest.mark.parametrize(
    "text, complaint",
    [
        (_file("burglary"), "ours.toml: unknown outcome 'burglary' (choose from attendance,"),
        (_file(row=ROW.replace("= 100", "= -5")), "[costs.ae_use]: fiscal must not be negative"),
        (
            _file(row=ROW.replace("price_year = 2023\n", "")),
            "[costs.ae_use]: price_year is missing",
        ),
        (_file(row=ROW.replace("2023", '"last year"')), "price_year must be a year such as 2023"),
        (_file(row=ROW.replace("economic = 150\n", "")), "[costs.ae_use]: economic is missing"),
        (_file(row=ROW.replace("= 150", '= "lots"')), "economic must be a number of pounds"),
        (_file(row=ROW + "colour = 1\n"), "[costs.ae_use]: unknown setting 'colour'"),
        (_file(row=ROW.replace('agency = "NHS"\n', "")), "[costs.ae_use]: agency is missing"),
        (_file() + "[costs.offending]\n" + ROW.replace("2023", "2019"), "price years differ"),
        ("title = [", "ours.toml: not valid TOML"),
        ('title = "x"\n', "ours.toml: no unit costs"),
        (_file(extra="currency = 1\n"), "ours.toml: unknown setting 'currency'"),
    ],
)
def test_a_bad_costs_file_gets_one_line_naming_the_file_and_the_fault(
    text: str, complaint: str
) -> None:
    with pytest.raises(CostsError) as caught:
        parse_costs(text, "ours.toml")
    message = str(caught.value)
    assert complaint in message and "\n" not in message and message.startswith("ours.toml")


def test_a_costs_file_that_is_not_text_or_too_large_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CostsError, match="up.toml: not UTF-8 text"):
        read_costs(b"\xff\xfe\x00", "up.toml")
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (config.UNIT_COSTS_MAX_BYTES + 1))
    with pytest.raises(CostsError, match="larger than a costs file can be"):
        read_costs(big)
    with pytest.raises(CostsError, match="cannot be read"):
        read_costs(tmp_path / "missing.toml")


def test_each_effect_becomes_units_avoided_a_year_with_the_good_direction() -> None:
    assert units_avoided_per_year("attendance", 12) == pytest.approx(1.9)  # more attended
    assert units_avoided_per_year("attendance", 24) == pytest.approx(1.9)  # a rate already
    assert units_avoided_per_year("worklessness", 24) == -1  # a share of days: years on benefit
    assert units_avoided_per_year("offending", 12) == -1  # a fall is a saving
    assert units_avoided_per_year("ae_use", 24) == -0.5  # two years' events, per year


# --- the model, by hand ---------------------------------------------------------------------------


def _input(outcome: str, effect: float, se: float, people: float, fiscal: float, economic: float):
    return OutcomeInput(outcome, effect, se, None, people, -1.0, fiscal, economic)


INPUTS = [
    _input("ae_use", -0.2, 0.05, 3.0, 200.0, 250.0),  # 0.6 attendances avoided per family
    _input("offending", -0.03, 0.02, 1.5, 5000.0, 12000.0),  # 0.045 offenders a year
]


def test_persistence_discounts_and_decays_by_hand() -> None:
    assert persistence(1, 0.0, 0.035) == 1
    assert persistence(3, 0.0, 0.0) == 3
    assert persistence(2, 0.5, 0.0) == pytest.approx(1.5)
    assert persistence(2, 0.0, 0.035) == pytest.approx(1 + 1 / 1.035)
    assert persistence(3, 0.1, 0.035) == pytest.approx(1 + 0.9 / 1.035 + 0.81 / 1.035**2)


def test_one_undiscounted_year_is_the_sum_of_effect_times_unit_cost() -> None:
    figures = value(INPUTS, Settings(1000.0, years=1, discount=0.0))
    fiscal = 0.2 * 3.0 * 200 + 0.03 * 1.5 * 5000  # 120 + 225
    economic = 0.2 * 3.0 * 250 + 0.03 * 1.5 * 12000  # 150 + 540
    assert figures.per_family["fiscal"].estimate == pytest.approx(fiscal)
    assert figures.per_family["economic"].estimate == pytest.approx(economic)
    assert figures.ratio["fiscal"].estimate == pytest.approx(fiscal / 1000)
    for m in ("fiscal", "economic"):  # by outcome sums to the total
        parts = sum(f[m].estimate for f in figures.by_outcome.values())
        assert parts == pytest.approx(figures.per_family[m].estimate)
        assert figures.per_family[m].low < figures.per_family[m].estimate
        assert figures.per_family[m].estimate < figures.per_family[m].high


def test_doubling_the_programme_cost_halves_the_ratio_and_its_interval() -> None:
    once = value(INPUTS, Settings(1000.0, years=4, decay=0.2))
    twice = value(INPUTS, Settings(2000.0, years=4, decay=0.2))
    for m in ("fiscal", "economic"):
        a, b = once.ratio[m], twice.ratio[m]
        assert (b.estimate, b.low, b.high) == pytest.approx((a.estimate / 2, a.low / 2, a.high / 2))
        assert once.per_family[m] == twice.per_family[m]  # the benefit does not depend on it
    lasting = persistence(4, 0.2, config.DISCOUNT_RATE)
    assert once.per_family["fiscal"].estimate == pytest.approx(345 * lasting)


def test_the_interval_of_one_outcome_is_its_estimates_interval_in_pounds() -> None:
    """One outcome, normal draws: the benefit's interval is the effect's 95% interval times the
    pounds per unit of effect (within the draws' Monte Carlo error)."""
    (only,) = INPUTS[:1]
    figures = value([only], Settings(500.0, discount=0.0), n=200_000)
    pounds = 3.0 * 200  # per unit of effect avoided
    found = figures.by_outcome["ae_use"]["fiscal"]
    assert found.low == pytest.approx((0.2 - 1.96 * 0.05) * pounds, rel=0.01)
    assert found.high == pytest.approx((0.2 + 1.96 * 0.05) * pounds, rel=0.01)


def test_the_intervals_cover_a_planted_truth_about_95_percent_of_the_time() -> None:
    """400 replications: estimates drawn around known true effects with their standard errors,
    the model's per-family interval checked against truth x unit cost."""
    truth = [-0.15, -0.02, 0.01]
    ses = [0.05, 0.015, 0.02]
    people, fiscal = [3.0, 1.5, 1.2], [200.0, 5000.0, 9000.0]
    settings = Settings(1000.0, years=3, decay=0.1)
    target = persistence(3, 0.1, config.DISCOUNT_RATE) * sum(
        -t * p * c for t, p, c in zip(truth, people, fiscal, strict=True)
    )
    rng = np.random.default_rng(2024)
    covered = 0
    for rep in range(400):
        inputs = [
            _input(k, t + s * rng.standard_normal(), s, p, c, c)
            for k, t, s, p, c in zip(
                ("ae_use", "offending", "worklessness"), truth, ses, people, fiscal, strict=True
            )
        ]
        found = value(inputs, settings, n=1000, seed=rep).per_family["fiscal"]
        covered += found.low <= target <= found.high
    assert 0.91 <= covered / 400 <= 0.985, covered


def test_the_sensitivity_moves_one_setting_at_a_time() -> None:
    settings = Settings(1000.0, years=1, discount=0.0)
    rows = {r.label: r for r in sensitivity(INPUTS, settings, {"ae_use": "A&E", "offending": "O"})}
    base = 0.345
    cost = rows["Programme cost per family"]
    assert cost.low["fiscal"] == pytest.approx(base / 1.25)
    assert cost.high["fiscal"] == pytest.approx(base / 0.75)
    assert rows["All unit costs"].high["fiscal"] == pytest.approx(base * 1.25)
    assert rows["A&E: unit cost"].high["fiscal"] == pytest.approx(base + 0.25 * 0.12)
    years = rows["Years effects last"]
    assert years.high["fiscal"] == pytest.approx(base * config.VFM_SENSITIVITY_YEARS)
    swings = [abs(r.high["economic"] - r.low["economic"]) for r in rows.values()]
    assert swings == sorted(swings, reverse=True)  # largest first


@pytest.mark.parametrize(
    "settings, complaint",
    [
        ({"programme_cost": 0.0}, "programme's cost per family must be a positive number"),
        ({"programme_cost": float("nan")}, "programme's cost per family must be a positive"),
        ({"years": 0}, "years an effect lasts must be 1-30"),
        ({"decay": 1.0}, "decay must be from 0 up to"),
        ({"discount": -0.01}, "discount rate must be from 0 up to"),
    ],
)
def test_a_bad_setting_is_one_line(settings: dict, complaint: str) -> None:
    with pytest.raises(SettingsError, match=complaint) as caught:
        Settings(**{"programme_cost": 1000.0, **settings})
    assert "\n" not in str(caught.value)


# --- from released estimates ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluation(demo_db: Path) -> Evaluation:
    current = store.Store(demo_db)
    try:
        return evaluate(current, AnalysisSpec())
    finally:
        current.close()


@pytest.fixture(scope="module")
def results(evaluation: Evaluation) -> SafeResults:
    return safe_evaluation(evaluation)


def _matched(results: SafeResults) -> int:
    counts = results.matching.counts
    return dict(zip(counts.frame["group"], counts.shown("units"), strict=True))["treated_matched"]


def test_from_released_estimates_one_year_undiscounted_is_effect_times_cost(
    results: SafeResults,
) -> None:
    costs = read_costs()
    vfm = value_for_money(results, ValueSettings(Settings(2500.0, discount=0.0), costs))
    expected = {"fiscal": 0.0, "economic": 0.0}
    for e in results.estimates:  # by hand, from the released numbers
        row = next(r for r in vfm.outcomes if r.outcome == e.outcome)
        if e.withheld:  # the 8,000-family demo's juveniles' custody: too few with the event
            assert row.benefit is None and row.withheld_because == (
                f"its estimate is not shown ({e.reason})"
            )
            continue
        people = e.n_treated / _matched(results)
        units = e.att * units_avoided_per_year(e.outcome, 12) * people
        cost = costs.get(e.outcome)
        assert row.withheld_because is None and row.people_per_family == pytest.approx(people)
        for m in expected:
            expected[m] += units * getattr(cost, m)
            assert row.benefit[m].estimate == pytest.approx(units * getattr(cost, m))
    for m, total in expected.items():
        assert vfm.figures.per_family[m].estimate == pytest.approx(total)
        assert vfm.figures.ratio[m].estimate == pytest.approx(total / 2500)
    out = value_json(vfm, results.options)
    assert set(out) >= {"options", "ratio", "per_family", "by_outcome", "break_even_cost"}
    assert out["per_family"]["cost"] == 2500 and len(out["by_outcome"]) == len(OUTCOMES)
    assert out["break_even_cost"]["fiscal"] == out["per_family"]["fiscal"]
    total = sum(row["fiscal"]["estimate"] for row in out["by_outcome"] if row["fiscal"])
    assert total == pytest.approx(out["per_family"]["fiscal"]["estimate"], rel=0.01)


def test_a_withheld_estimate_leaves_its_outcome_out_with_the_reason(results: SafeResults) -> None:
    numbers = {"att": 5.0, "se": 1.0, "ci_low": 3.0, "ci_high": 7.0, "p_value": 0.0}
    withheld = disclosure.safe_estimate(
        "e", "attendance", numbers, (40, 40), (6, 6), True, 5, keys=(1, 2, 3, 4)
    )
    assert withheld.withheld
    changed = dataclasses.replace(
        results, estimates=[withheld if e.outcome == "attendance" else e for e in results.estimates]
    )
    settings = ValueSettings(Settings(2500.0), read_costs())
    full, without = value_for_money(results, settings), value_for_money(changed, settings)
    row = next(r for r in without.outcomes if r.outcome == "attendance")
    assert row.benefit is None
    assert row.withheld_because == f"its estimate is not shown ({withheld.reason})"
    attendance = next(r for r in full.outcomes if r.outcome == "attendance").benefit
    for m in ("fiscal", "economic"):
        drop = full.figures.per_family[m].estimate - without.figures.per_family[m].estimate
        assert drop == pytest.approx(attendance[m].estimate)
    row_json = next(
        r for r in value_json(without, {})["by_outcome"] if r["outcome"] == "attendance"
    )
    assert row_json["fiscal"] is None and "not shown" in row_json["withheld_because"]


def test_an_outcome_the_costs_leave_out_is_named(results: SafeResults) -> None:
    costs = parse_costs(_file(), "ours.toml")  # A&E use only
    vfm = value_for_money(results, ValueSettings(Settings(100.0), costs, "ours.toml"))
    shown = [r.outcome for r in vfm.outcomes if r.benefit is not None]
    assert shown == ["ae_use"]
    withheld = {e.outcome for e in results.estimates if e.withheld}
    assert all(
        r.withheld_because == "the unit costs give no cost for it"
        for r in vfm.outcomes
        if r.outcome != "ae_use" and r.outcome not in withheld
    )
    assert "'Ours'" in value_json(vfm, {})["assumptions"][0]


# --- the estimates' correlation: released, and drawn with ---------------------------------------


def test_the_correlation_is_released_rounded_among_shown_estimates_only(
    evaluation: Evaluation, results: SafeResults
) -> None:
    """The engine's correlation is a matrix over outcomes (nothing per family); the gate
    releases it to two decimals, and an outcome whose estimate is withheld has no row or column,
    however the engine's correlation reads. (An attacker's view: nothing finer than the hundredth
    is there to difference, and a withheld outcome leaves no trace.)"""
    engine = evaluation.correlation
    assert engine is not None and engine.shape == (len(evaluation.estimates),) * 2
    assert np.allclose(engine, engine.T) and (np.diag(engine) == 1).all()
    table = results.correlation
    assert table is not None and not table.counts and not table.suppressed
    frame = table.frame.set_index("outcome")
    listed = [e.outcome for e in results.estimates if not e.withheld]
    assert list(frame.index) == list(frame.columns) == listed
    assert np.array_equal(frame.to_numpy(), np.round(frame.to_numpy(), 2))
    assert np.abs(frame.to_numpy() - engine.loc[listed, listed].to_numpy()).max() <= 0.005 + 1e-12
    # Offending and a juvenile's conviction are counted on the same young people: their
    # estimates move together.
    assert frame.loc["offending", "juvenile_conviction"] > 0.2
    numbers = {"att": 5.0, "se": 1.0, "ci_low": 3.0, "ci_high": 7.0, "p_value": 0.0}
    withheld = disclosure.safe_estimate(
        "e", "attendance", numbers, (40, 40), (6, 6), True, 5, keys=(1, 2, 3, 4)
    )
    shown = [withheld if e.outcome == "attendance" else e for e in results.estimates]
    released = disclosure.correlation_table(engine, shown).frame.set_index("outcome")
    assert "attendance" not in released.index and "attendance" not in released.columns
    assert len(released) == sum(not e.withheld for e in shown) == len(listed) - 1


def test_the_value_for_money_draws_jointly_with_the_released_correlation(
    results: SafeResults,
) -> None:
    """With the released correlation the draws are joint, and every surface says so; without
    one (an analysis file) they are independent, said so too. The point figures are the same,
    and each outcome keeps its own interval (within the draws' Monte Carlo error)."""
    settings = ValueSettings(Settings(2500.0), read_costs())
    joint = value_for_money(results, settings)
    alone = value_for_money(dataclasses.replace(results, correlation=None), settings)
    assert joint.correlation is not None and alone.correlation is None
    assert list(joint.correlation) == [r.outcome for r in joint.outcomes if r.benefit]
    assert any("drawn jointly" in line for line in assumptions(joint))
    assert any("drawn independently" in line for line in assumptions(alone))
    for m in ("fiscal", "economic"):
        assert joint.figures.ratio[m].estimate == alone.figures.ratio[m].estimate
    out = value_json(joint, {})
    assert out["options"]["joint_draws"] and out["correlation"] == joint.correlation
    assert value_json(alone, {})["correlation"] is None
    for mine, theirs in zip(joint.outcomes, alone.outcomes, strict=True):
        if mine.benefit is None:  # withheld: in neither
            assert theirs.benefit is None
            continue
        one, other = mine.benefit["economic"], theirs.benefit["economic"]
        assert one.high - one.low == pytest.approx(other.high - other.low, rel=0.05)


# --- the command line -----------------------------------------------------------------------------


def test_vfm_json_gives_the_figures_of_the_released_estimates(
    demo_db: Path,
    evaluation: Evaluation,
    results: SafeResults,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`vfm --json` on the default analysis: the interface of issue 20, with the figures the
    released estimates give in this process (the same store, spec and draws); then the summary
    in words. The evaluation is this module's (the command's path to it is `estimate`'s, tested
    in test_cli.py), so that it is not computed twice more."""
    from tf_eval import cli

    monkeypatch.setattr(cli, "evaluate", lambda *_, **__: evaluation)
    args = ["vfm", "--db", str(demo_db), "--programme-cost", "1200", "--years", "3"]
    assert cli.main([*args, "--decay", "0.2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    settings = ValueSettings(Settings(1200.0, years=3, decay=0.2), read_costs())
    expected = value_json(value_for_money(results, settings), out["options"]["analysis"])
    assert {k: out[k] for k in expected} == expected
    assert out["data_source"].startswith("SYNTHETIC")
    assert out["options"]["illustrative_costs"] and out["options"]["discount"] == 0.035
    for m in ("fiscal", "economic"):
        ratio = out["ratio"][m]
        assert ratio["ci_low"] < ratio["estimate"] < ratio["ci_high"]
    assert cli.main(args) == 0  # the summary: what the page says, in words
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Data: SYNTHETIC") and lines[1].startswith("Each £1 spent")
    assert "Assumptions:" in lines


@pytest.mark.parametrize(
    "args, complaint",
    [
        ([], "the following arguments are required: --programme-cost"),
        (["--programme-cost", "0"], "--programme-cost: 0 must be a positive number"),
        (["--programme-cost", "£900"], "--programme-cost: '£900' is not a number"),
        (["--programme-cost", "900", "--years", "31"], "--years: 31 is outside 1-30"),
        (["--programme-cost", "900", "--decay", "1"], "--decay: 1 must be at least 0 and below 1"),
        (["--programme-cost", "900", "--discount", "3.5"], "--discount: 3.5 must be at least 0"),
        (["--out", "p", "--years", "3"], "report: --years needs --programme-cost"),
    ],
)
def test_vfm_refuses_a_bad_flag_in_one_line(
    args: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tf_eval import cli

    command = "report" if "--out" in args else "vfm"  # the board pack takes the same settings
    with pytest.raises(SystemExit) as stopped:
        cli.main([command, *args])
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("tf-eval: error: ") and complaint in captured.err
    assert captured.err.count("\n") == 1 and captured.out == ""


def test_vfm_refuses_a_bad_costs_file_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tf_eval import cli

    costs = tmp_path / "costs.toml"
    costs.write_text(_file(row=ROW.replace("= 150", "= -150")))
    missing = tmp_path / "no-store.duckdb"  # never opened: the file is checked first
    assert (
        cli.main(["vfm", "--db", str(missing), "--costs", str(costs), "--programme-cost", "9"]) == 1
    )
    captured = capsys.readouterr()
    assert captured.err == (
        f"tf-eval: error: {costs}: [costs.ae_use]: economic must not be negative (-150)\n"
    )
    assert captured.out == "" and not missing.exists()


# --- the coverage study ---------------------------------------------------------------------------


def test_the_coverage_study_checks_each_seeds_return_against_truth_times_cost(
    results: SafeResults,
) -> None:
    """studies/value_for_money.py's rows for one evaluation, with the demo's planted effects as
    the truth: the truth is the sum over valued outcomes of truth x units a year x people per
    family x unit cost, per pound; the joint and the independent draws share the point figure
    (the study itself runs seeds of the demo; docs/method.md has its figures)."""
    import importlib.util

    path = config.PROJECT_ROOT / "studies" / "value_for_money.py"
    spec = importlib.util.spec_from_file_location("value_study", path)
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    rows = pd.DataFrame(study.value_rows(results, results.planted)).set_index(["measure", "draws"])
    costs, matched = read_costs(), _matched(results)
    for m in ("fiscal", "economic"):
        by_hand = sum(
            results.planted[e.outcome]
            * units_avoided_per_year(e.outcome, 12)
            * e.n_treated
            / matched
            * getattr(costs.get(e.outcome), m)
            for e in results.estimates
            if not e.withheld
        )
        assert rows.loc[(m, "joint"), "truth"] == pytest.approx(by_hand / study.COST)
        joint, independent = rows.loc[(m, "joint")], rows.loc[(m, "independent")]
        shown = sum(not e.withheld for e in results.estimates)
        assert joint["estimate"] == independent["estimate"] and joint["outcomes"] == shown
        assert (joint["low"], joint["high"]) != (independent["low"], independent["high"])
    table = study.summarise(rows.reset_index().assign(seed=1, spec="default"))
    assert list(table["draws"]) == ["joint", "joint", "independent", "independent"]


def test_with_no_outcome_valued_there_are_no_figures_not_zeros(results: SafeResults) -> None:
    costs = parse_costs(_file("attendance"), "ours.toml")  # attendance only ...
    numbers = {"att": 5.0, "se": 1.0, "ci_low": 3.0, "ci_high": 7.0, "p_value": 0.0}
    withheld = disclosure.safe_estimate(
        "e", "attendance", numbers, (40, 40), (6, 6), True, 5, keys=(1, 2, 3, 4)
    )  # ... and its estimate withheld
    changed = dataclasses.replace(
        results, estimates=[withheld if e.outcome == "attendance" else e for e in results.estimates]
    )
    vfm = value_for_money(changed, ValueSettings(Settings(900.0), costs, "ours.toml"))
    assert not vfm.valued and vfm.sensitivity == []
    assert headline(vfm).startswith("No outcome could be valued")
    out = value_json(vfm, {})
    assert out["ratio"]["fiscal"] == {"estimate": None, "ci_low": None, "ci_high": None}
    assert out["break_even_cost"]["economic"]["estimate"] is None
    assert all(row["withheld_because"] for row in out["by_outcome"])


def test_the_charts_keep_the_house_layout(results: SafeResults) -> None:
    """The budgets every chart keeps (tests/test_chart_layout.py): wrapped title and footnote
    lines, the legend above the plot, the footnote's left edge moved with the label margin."""
    from tf_eval.release import charts, value_charts

    vfm = value_for_money(results, ValueSettings(Settings(3000.0, years=3), read_costs()))
    for figure in (
        value_charts.benefits_chart(vfm, "SYNTHETIC demo"),
        value_charts.sensitivity_chart(vfm, "SYNTHETIC demo"),
    ):
        assert all(
            len(line) <= charts.TITLE_CHARS for line in figure.layout.title.text.split("<br>")
        )
        footnote = figure.layout.annotations[-1]
        assert footnote.text.startswith("Source:")
        assert all(len(line) <= charts.FOOTNOTE_WIDTH for line in footnote.text.split("<br>"))
        assert figure.layout.legend.y >= 1
        assert footnote.xshift == 80 - figure.layout.margin.l  # back to the chart's left edge
    tornado = value_charts.sensitivity_chart(vfm, "SYNTHETIC demo")
    fiscal = tornado.data[0]
    assert len(fiscal.y) == min(8, len(vfm.sensitivity))
    first = vfm.sensitivity[0]  # drawn from the lower end to the higher
    low, high = sorted((first.low["fiscal"], first.high["fiscal"]))
    assert (fiscal.base[0], fiscal.base[0] + fiscal.x[0]) == pytest.approx((low, high))
