"""The evidence beside every finding (tf_eval.release.evidence): each check's rule, the verdict
and its words in the JSON, the CLI summary and the headline."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from tf_eval.data.outcomes import OUTCOMES
from tf_eval.method.honest_bounds import BREAKDOWN_MAX
from tf_eval.method.matchfile import match_file
from tf_eval.release import disclosure, evidence
from tf_eval.release.disclosure import safe_estimate
from tf_eval.release.evidence import VERDICTS
from tf_eval.release.headlines import headline
from tf_eval.release.results import SafeResults, safe_file_match, to_json
from tf_eval.release.summary import summary_lines

DATA = Path(__file__).parent / "data"
COVARIATES = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]
KEYS = [
    "outcome",
    "placebo_covers_zero",
    "pretrend_p_value",
    "max_abs_smd_after",
    "share_supported_matched",
    "mde",
    "e_value",
    "e_value_ci",
    "rosenbaum_gamma",
    "trend_breakdown",
    "holm_p_value",
    "verdict",
    "reasons",
]


def _estimate(outcome: str, att: float, low: float, high: float, sd: float | None = None):
    """A shown estimate whose released interval is (low, high) on 895 df."""
    se = (high - low) / (2 * stats.t.ppf(0.975, 895))
    p = float(2 * stats.t.sf(abs(att / se), 895))
    numbers = {"att": att, "se": se, "ci_low": low, "ci_high": high, "p_value": p}
    extra = None if sd is None else (sd, None)
    return safe_estimate(
        "e", outcome, numbers, (900, 800), (500, 400), True, 899, keys=(1, 2, 3, 4),
        sensitivity=extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def lalonde() -> SafeResults:
    """lalonde matched 1:1 without replacement with a caliper: balanced, no placebo."""
    match = match_file(DATA / "lalonde.csv", "treat", COVARIATES, ["re78"], caliper=0.05)
    return safe_file_match(match, {"ratio": 1, "replace": False})


def _balance(smd_after: float):
    """A balance table whose covariates' largest |SMD| after matching is `smd_after` (the score's
    own row, `distance`, is not a covariate and is larger)."""
    frame = pd.DataFrame(
        {
            "covariate": ["distance", "age", "educ"],
            "smd_before": [1.2, 0.3, -0.4],
            "smd_after": [0.5, -smd_after, smd_after / 2],
        }
    )
    sizes = {"treated": 500, "comparison": 900, "treated_matched": 500, "comparison_matched": 400}
    return disclosure.balance_table(frame, sizes, "balance")


def _with(results: SafeResults, estimate, placebo=None) -> SafeResults:
    return dataclasses.replace(
        results, estimates=[estimate], placebo=[] if placebo is None else [placebo]
    )


def test_the_json_has_one_check_per_outcome_with_the_contracts_keys(lalonde) -> None:
    (row,) = to_json(lalonde)["checks"]
    assert list(row) == KEYS
    assert row["outcome"] == "re78" and row["verdict"] in VERDICTS
    assert row["pretrend_p_value"] is None  # an analysis file has no quarters to test
    assert to_json(lalonde)["event_study"] == []
    assert row["share_supported_matched"] < 0.8  # the caliper's price ...
    assert any("supported families were matched" in r for r in row["reasons"])  # ... said
    # Pairs exist; the pairs' signed-rank test (no outcome model) is not significant even with
    # no hidden bias (one-sided p = 0.034 > 0.025), though the difference in means is (p = 0.023).
    assert row["rosenbaum_gamma"] == 1.0
    assert any("not significant even with no hidden bias" in r for r in row["reasons"])
    assert 1 < row["e_value_ci"] < row["e_value"]


def _study(outcome: str, before: list[float], p: float | None, withheld: bool = False):
    """An event study whose pre-period quarters (-24 to -6) have these differences and whose
    joint test has p-value `p` (None: not computable)."""
    months = range(-24, -3, 3)
    cells = {}
    for month, att in zip(months, before, strict=True):
        e = _estimate(outcome, att, att - 0.004, att + 0.004)
        if withheld and month == -24:
            e = safe_estimate(
                "e", outcome, {"att": att, "se": 0.002}, (20, 20), (5, 5), True, 8,
                keys=(1, 2, 3, 4),
            )  # fmt: skip
        cells[month] = e
    pretrend = None if p is None else (500.0, lambda df: p)
    return disclosure.safe_event_study(outcome, -3, cells, pretrend)


def test_a_pre_trend_with_the_estimates_sign_fails_the_finding(lalonde) -> None:
    """The event study's joint test below 5%, the quarters before support drifting the way the
    estimate goes (the supported families' offending falling towards the index date): the
    finding fails, with the issue's caution; drifting the other way, it is weak; a test not
    shown is not a check made (moderate); a test that passes lowers nothing."""
    estimate = _estimate("offending", -0.019, -0.027, -0.011, sd=0.2)
    falling = [0.012, 0.01, 0.008, 0.006, 0.004, 0.003, 0.001]
    from tf_eval.release.results import findings

    def check(study):
        results = dataclasses.replace(_with(lalonde, estimate), event_study=[study])
        (row,) = findings(results)
        return row

    failed = check(_study("offending", falling, 0.003))
    assert failed.verdict == "fails" and failed.pretrend_p_value == 0.003
    assert "already diverging" in failed.reasons[0] and "same direction" in failed.reasons[0]
    assert failed.caution == (
        "but families who were later supported were already diverging before support: "
        "treat with caution"
    )
    assert headline(estimate, 12, failed.caution).endswith("treat with caution.")
    rising = check(_study("offending", [-v for v in falling], 0.003))
    assert rising.verdict == "weak" and "opposite direction" in rising.reasons[0]
    passed = check(_study("offending", falling, 0.4))
    assert passed.pretrend_p_value == 0.4 and not any("diverging" in r for r in passed.reasons)
    hidden = check(_study("offending", falling, 0.003, withheld=True))
    assert hidden.pretrend_p_value is None and hidden.verdict != "strong"
    assert any("quarter before the index date is not shown" in r for r in hidden.reasons)


def test_the_trend_breakdown_is_rounded_down_shown_only_with_every_quarter_and_said() -> None:
    """The relative-magnitudes breakdown value leaves the gate rounded down to two figures (never
    claiming more robustness than found), not at all when any quarter is withheld, and reaches
    the finding as a sentence and its JSON row; at BREAKDOWN_MAX it reads "at least"."""
    estimate = _estimate("offending", -0.05, -0.06, -0.04, sd=0.2)
    placebo = _estimate("offending", 0.001, -0.01, 0.012)
    balance, pooled = _balance(0.08), {"ratio": 1, "replace": True}
    flat = [0.0] * 7
    months = range(-24, -3, 3)
    cells = {m: _estimate("offending", 0.0, -0.004, 0.004) for m in months}
    study = disclosure.safe_event_study(
        "offending", -3, cells, (500.0, lambda df: 0.6), breakdown=1.789
    )
    assert study.trend_breakdown == 1.7
    (row,) = evidence.checks([estimate], [placebo], balance, 1.0, pooled, [study])
    assert row.trend_breakdown == 1.7 and row.as_json()["trend_breakdown"] == 1.7
    assert any(
        r.startswith("Quarter by quarter:") and "more than 1.7 times" in r for r in row.reasons
    )
    hidden = _study("offending", flat, 0.6, withheld=True)
    withheld = disclosure.safe_event_study("offending", -3, hidden.cells, None, breakdown=1.789)
    assert withheld.trend_breakdown is None
    most = disclosure.safe_event_study("offending", -3, cells, None, breakdown=BREAKDOWN_MAX)
    (row,) = evidence.checks([estimate], [placebo], balance, 1.0, pooled, [most])
    assert any(
        "even if the difference in trends after support were 10 times" in r for r in row.reasons
    )
    # An interval across 0 has nothing to explain away: no sentence.
    chance = _estimate("offending", -0.005, -0.015, 0.005, sd=0.2)
    (row,) = evidence.checks([chance], [placebo], balance, 1.0, pooled, [study])
    assert row.trend_breakdown == 1.7 and not any("Quarter by quarter" in r for r in row.reasons)


def test_a_placebo_with_the_estimates_sign_fails_the_finding_in_json_summary_and_headline(
    lalonde,
) -> None:
    """The issue's example: "fell 1.9 points, but families who were later supported were already
    diverging before support: treat with caution"."""
    estimate = _estimate("offending", -0.019, -0.027, -0.011, sd=0.2)
    placebo = _estimate("offending", -0.012, -0.02, -0.004)
    result = to_json(_with(lalonde, estimate, placebo))
    (row,) = result["checks"]
    assert row["verdict"] == "fails" and row["placebo_covers_zero"] is False
    assert "already diverging" in row["reasons"][0] and "same direction" in row["reasons"][0]
    summary = "\n".join(summary_lines(result))
    assert f"{OUTCOMES['offending'].label}: fails" in summary and "already diverging" in summary
    # The same placebo with the opposite sign is a weak finding, not a failed one.
    opposite = _estimate("offending", 0.012, 0.004, 0.02)
    assert to_json(_with(lalonde, estimate, opposite))["checks"][0]["verdict"] == "weak"
    from tf_eval.release.results import findings

    (check,) = findings(_with(lalonde, estimate, placebo))
    text = headline(estimate, 12, check.caution)
    assert "fell 1.9 percentage points" in text
    assert text.endswith(
        "a fall of 1.1 to 2.7), but families who were later supported were already diverging "
        "before support: treat with caution."
    )


def test_a_finding_passing_every_check_is_strong() -> None:
    """A clear fall, a placebo around 0, good balance, everyone matched, a large E-value:
    strong, and the headline unqualified."""
    estimate = _estimate("offending", -0.05, -0.06, -0.04, sd=0.2)
    placebo = _estimate("offending", 0.001, -0.01, 0.012)
    balance, pooled = _balance(0.08), {"ratio": 1, "replace": True}
    (check,) = evidence.checks([estimate], [placebo], balance, 1.0, pooled)
    assert check.verdict == "strong", check.reasons
    assert check.caution is None and headline(estimate, 12, check.caution).endswith("6.0).")
    # By hand: the limit nearer 0, d = 0.04 / 0.2 = 0.2: RR = exp(0.182) = 1.1996, E = 1.1996 +
    # sqrt(1.1996 x 0.1996) = 1.69; the estimate, d = 0.25: RR = exp(0.2275) = 1.2555, E = 1.82.
    assert (check.e_value_ci, check.e_value) == (1.69, 1.82)
    # Each weaker check lowers it: a modest E-value, a poorer match, a chance interval.
    small = _estimate("offending", -0.05, -0.06, -0.04, sd=1.0)  # E-value of the limit 1.14
    assert evidence.checks([small], [placebo], balance, 1.0, pooled)[0].verdict == "moderate"
    for share, verdict in ((0.9, "moderate"), (0.7, "weak")):
        (row,) = evidence.checks([estimate], [placebo], balance, share, pooled)
        assert row.verdict == verdict
    for smd, verdict in ((0.2, "moderate"), (0.3, "weak")):
        (row,) = evidence.checks([estimate], [placebo], _balance(smd), 1.0, pooled)
        assert (row.verdict, row.max_abs_smd_after) == (verdict, smd)
    # No placebo could be run (an analysis file): not checked, so no better than moderate.
    assert evidence.checks([estimate], [], balance, 1.0, pooled)[0].verdict == "moderate"
    chance = _estimate("offending", -0.005, -0.015, 0.005, sd=0.2)
    (row,) = evidence.checks([chance], [placebo], balance, 1.0, pooled)
    assert row.verdict == "weak" and row.e_value_ci == 1.0
    assert any("could reliably detect" in r for r in row.reasons)  # the MDE beside a null


def test_a_planted_effect_below_the_mde_is_said_and_caps_the_verdict() -> None:
    """On the synthetic demo the power check compares the planted effect with the minimum
    detectable effect: below it, the finding says so and is no better than moderate; above it,
    nothing is said; a council's store (no planted effect) is not checked."""
    estimate = _estimate("offending", -0.05, -0.06, -0.04, sd=0.2)
    placebo = _estimate("offending", 0.001, -0.01, 0.012)
    balance, pooled = _balance(0.08), {"ratio": 1, "replace": True}
    mde = evidence.checks([estimate], [placebo], balance, 1.0, pooled)[0].mde
    assert mde is not None and 0.013 < mde < 0.015  # (1.96 + 0.84) x 0.0051
    small = evidence.checks(
        [estimate], [placebo], balance, 1.0, pooled, planted={"offending": -0.004}
    )[0]
    assert small.verdict == "moderate"
    assert any("planted in this synthetic demo (0.4 percentage points)" in r for r in small.reasons)
    large = evidence.checks(
        [estimate], [placebo], balance, 1.0, pooled, planted={"offending": -0.05}
    )[0]
    assert large.verdict == "strong" and not any("planted" in r for r in large.reasons)


def test_holm_is_across_the_outcomes_read_together(lalonde) -> None:
    """Four p-values of 0.02 each: alone each is below 0.05; read together, Holm makes each
    0.08, and the verdict says it could be chance."""
    se = 0.03 / stats.t.isf(0.01, 895)  # two-sided p = 0.02 on the gate's 895 df
    half = stats.t.ppf(0.975, 895) * se
    estimates = [
        _estimate(o, 0.03, 0.03 - half, 0.03 + half, sd=0.05)
        for o in ("attendance", "offending", "worklessness", "ae_use")
    ]
    assert {e.p_value for e in estimates} == {0.02}
    rows = evidence.checks(estimates, [], lalonde.matching.balance, 1.0, {})
    assert [r.holm_p_value for r in rows] == [0.08] * 4
    assert all(r.verdict == "weak" for r in rows)
    assert "Read together with the other 3 outcomes" in " ".join(rows[0].reasons)


def test_the_mde_is_from_the_released_se_and_coarsened_df(lalonde) -> None:
    estimate = _estimate("ae_use", 0.1, 0.05, 0.15, sd=1.0)
    (row,) = evidence.checks([estimate], [], lalonde.matching.balance, 1.0, {})
    assert estimate.df == 895
    expected = (stats.t.ppf(0.975, 895) + stats.t.ppf(0.8, 895)) * estimate.se
    assert row.mde == pytest.approx(expected, rel=5e-3)  # to 3 significant figures


def test_a_withheld_estimate_fails_with_its_reason_and_no_numbers(lalonde) -> None:
    withheld = safe_estimate(
        "e", "re78", {"att": 1.0, "se": 0.1}, (900, 800), (5, 400), True, 899, keys=(1, 2, 3, 4)
    )
    (row,) = evidence.checks([withheld], [], lalonde.matching.balance, 1.0, {})
    assert row.verdict == "fails" and row.mde is None and row.e_value is None
    assert withheld.outcome_sd is None and withheld.df is None
    assert "not shown (fewer than 10 families" in row.reasons[0]


def test_estimate_json_and_summary_carry_every_outcomes_verdict(default_demo_db: Path) -> None:
    """On the demo a new user gets: a check per outcome, the same verdicts in the JSON and the
    text summary, no Gamma under matching with replacement and the reason said."""
    from tests.test_cli import run

    output = json.loads(run("estimate", "--db", str(default_demo_db), "--json").stdout)
    rows = output["checks"]
    assert [r["outcome"] for r in rows] == [e["outcome"] for e in output["estimates"]]
    assert all(list(r) == KEYS and r["verdict"] in VERDICTS for r in rows)
    assert all(r["rosenbaum_gamma"] is None for r in rows)
    # The event study's joint test; juveniles' custody has quarters before support with fewer
    # than 10 comparison juveniles given custody (withheld), so no test.
    assert all(0 <= r["pretrend_p_value"] <= 1 for r in rows if r["outcome"] != "custody_juvenile")
    assert next(r for r in rows if r["outcome"] == "custody_juvenile")["pretrend_p_value"] is None
    quarters = output["event_study"]
    assert {tuple(q) for q in quarters} == {
        ("outcome", "months_from_index", "att", "se", "ci_low", "ci_high", "suppressed",
         "reason", "reference")
    }  # fmt: skip
    n = len(OUTCOMES)
    assert len(quarters) == n * 12 and sum(q["reference"] for q in quarters) == n
    assert [q["months_from_index"] for q in quarters[:12]] == list(range(-24, 12, 3))
    assert all(any("makes no matched pairs" in s for s in r["reasons"]) for r in rows
               if r["e_value_ci"] and r["e_value_ci"] > 1)  # fmt: skip
    for row, estimate in zip(rows, output["estimates"], strict=True):
        crosses = estimate["ci_low"] <= 0 <= estimate["ci_high"]
        assert (row["e_value_ci"] == 1.0) == crosses
        assert row["mde"] > 0 and row["holm_p_value"] >= estimate["p_value"]
        # In the estimates' own unit (percentage points for shares): (t_0.975 + t_0.8) x SE on the
        # interval's df: about 2.8 SE with many, up to 3.5 where a rare outcome's df are capped
        # (at least 5 shown; test_the_mde_is_from_the_released_se_and_coarsened_df has the rule).
        assert 2.6 < row["mde"] / estimate["se"] < 3.5
    summary = run("estimate", "--db", str(default_demo_db)).stdout
    for row in rows:
        assert f"{OUTCOMES[row['outcome']].label}: {row['verdict']}" in summary


def test_match_file_json_gives_rosenbaums_gamma_for_pairs(tmp_path: Path) -> None:
    from tests.test_cli import LALONDE, LALONDE_COVARIATES, run

    args = ["match-file", str(LALONDE), "--treatment", "treat", "--outcome", "re78"]
    args += ["--covariates", LALONDE_COVARIATES, "--db", str(tmp_path / "x.duckdb"), "--json"]
    result = run(*args)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["checks"]
    assert row["rosenbaum_gamma"] == 1.0  # 1:1 without replacement: pairs, not significant
    assert row["verdict"] == "weak" and row["placebo_covers_zero"] is None


def test_the_effects_charts_title_counts_only_findings_that_pass() -> None:
    from tf_eval.release import charts

    both = [_estimate("attendance", 2.0, 1.0, 3.0), _estimate("offending", -0.05, -0.06, -0.04)]
    title = charts.effects_chart(both, "test", 12).layout.title.text
    assert "improved all 2 outcomes" in title
    counted = charts.effects_chart(both, "test", 12, passing=["attendance"]).layout.title.text
    assert "improved 1 of 2 outcomes" in counted
