"""The attacks of issue 16, played as an attacker would, through what tf-eval releases: two
analyses resting on all but one of the same families; intervals and means inverted to exact
counts; a refused selection rebuilt by subtraction; estimates with as many parameters as
families. Each of these tests failed on the code before the release register, the coarsened
intervals and the residual-df rule (docs/disclosure-control.md, "Differencing between outputs").

The attacker knows the rules an output says are in force (its `disclosure.rules`), and the
method (docs/method.md): a 95% interval is att +/- t(df) x se, with df = families - 1 (rounded
down to a multiple of the rounding base where the rules say so); a naive change is the mean of
its people's changes, whole numbers for A&E visits and offending. A released number is known
to the precision it is written with.
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from streamlit.testing.v1 import AppTest

from tf_eval import cli, config
from tf_eval.data import store
from tf_eval.data.outcomes import OUTCOMES, by_theme
from tf_eval.governance import audit
from tf_eval.governance.rules import current_rules
from tf_eval.method import specs
from tf_eval.method.estimate import AnalysisSpec, Inference, evaluate, family_difference, prepare
from tf_eval.method.panel import build_panel
from tf_eval.release import charts, register, results, units
from tf_eval.release import national as national_figures

BESIDE_THE_STORE = register.register_path  # the real one (conftest gives each test its own)


def _estimate(db: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, dict, str]:
    """`estimate --json` in this process: exit status, output (empty when refused), stderr."""
    code = cli.main(["estimate", "--db", str(db), "--json", *flags])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out else {}, err


def _half_unit(value: float) -> float:
    """Half a unit in the last digit the value is written with (0.005 for 2.45), plus a sliver
    for the arithmetic that made it: how precisely a released number is known."""
    exponent = Decimal(repr(value)).normalize().as_tuple().exponent
    return 0.5 * 10.0**exponent + 1e-12 * abs(value)


def _shown(count: object) -> range:
    """The exact counts a released count allows: perturbed by at most perturbation_max, then
    rounded to 5, so within 2 + perturbation_max (10 or more)."""
    spread = 2 + current_rules().perturbation_max
    return range(max(int(count) - spread, 10), int(count) + spread + 1)


# --- inversions ---------------------------------------------------------------------------------


def _families_fitting(row: dict, rules: dict, compared: bool) -> set[int]:
    """Every family count G that the released att, se and 95% interval fit: the interval is
    att +/- t x se with G - 1 degrees of freedom, or those rounded down to a multiple of the
    rounding base when the output's rules say numbers are coarsened (significant_figures)."""
    att, se, low, high = (row[k] for k in ("att", "se", "ci_low", "ci_high"))
    ha, hs, hl, hh = (_half_unit(v) for v in (att, se, low, high))
    arms = (
        [row["families_treated"], row["families_comparison"]]
        if compared
        else [row["families_treated"]]
    )
    lowest, highest = sum(_shown(n).start for n in arms), sum(_shown(n).stop - 1 for n in arms)
    coarse = "significant_figures" in rules
    fits = set()
    for families in range(lowest, highest + 1):
        df = families - 1
        if coarse:
            df = max(1, df // rules["count_rounding"] * rules["count_rounding"])
        q = stats.t.ppf(0.975, df)
        high_range = (att - ha + q * (se - hs), att + ha + q * (se + hs))
        low_range = (att - ha - q * (se + hs), att + ha - q * (se - hs))
        if high_range[0] <= high + hh and high_range[1] >= high - hh:
            if low_range[0] <= low + hl and low_range[1] >= low - hl:
                fits.add(families)
    return fits


def _people_and_sums(row: dict) -> set[tuple[int, int]]:
    """Every (people, sum of their changes) a released naive mean of whole-number changes fits
    (a share's is in percentage points, as its `unit` says: 100 times the mean)."""
    scale = units.unit(row["outcome"]).scale
    mean, half = row["att"] / scale, _half_unit(row["att"]) / scale
    fits = set()
    for people in _shown(row["n_treated"]):
        low, high = people * (mean - half), people * (mean + half)
        fits |= {(people, total) for total in range(int(np.ceil(low)), int(np.floor(high)) + 1)}
    return fits


def _minus(whole: set[int], parts: list[set[int]]) -> set[int]:
    """Every value of whole - sum(parts) the candidate sets allow."""
    rebuilt = set(whole)
    for part in parts:
        rebuilt = {a - b for a in rebuilt for b in part}
    return rebuilt


# --- attack 1: two analyses, all but one family the same ----------------------------------------


def _calipers_one_family_apart(db: Path) -> tuple[float, float]:
    """Two calipers whose matched families differ by exactly one (bisection: with replacement,
    a wider caliper only adds families)."""
    current = store.Store(db)
    try:
        panel, _ = prepare(current, AnalysisSpec())
        ids = panel.families["family_id"].to_numpy()

        def matched(caliper: float) -> set[int]:
            _, matching = prepare(current, AnalysisSpec(caliper=caliper), panel=panel)
            return set(ids[matching.weights > 0].tolist())

        low, high = 0.01, 0.40
        below, above = matched(low), matched(high)
        for _ in range(40):
            if len(below ^ above) == 1:
                return low, high
            middle = round((low + high) / 2, 8)
            between = matched(middle)
            if between != below:
                high, above = middle, between
            else:
                low, below = middle, between
    finally:
        current.close()
    raise AssertionError("no two calipers one family apart")


@pytest.fixture
def own_store(demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the demo store whose register sits beside it, as in a deployment (so another
    process, the command line or the dashboard, finds it)."""
    path = tmp_path / "store.duckdb"
    shutil.copyfile(demo_db, path)
    monkeypatch.setattr(register, "register_path", BESIDE_THE_STORE)
    return path


def test_a_second_analysis_one_family_apart_is_refused_on_every_surface(
    own_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Attack 1: two analyses differing only in caliper, one family apart. The first is released;
    the second is refused, by `estimate` and by `report`, in one line, audited, with nothing on
    standard output and no pack written; the register beside the store is owner-only."""
    first, second = _calipers_one_family_apart(own_store)
    code, released, _ = _estimate(own_store, capsys, "--caliper", str(first))
    assert code == 0 and released["estimates"][0]["att"] is not None

    code, refused, err = _estimate(own_store, capsys, "--caliper", str(second))
    assert code == 1 and refused == {}
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith(
            "tf-eval: refused: this analysis rests on nearly the same families as one released on "
        )
    )
    assert "fewer than 10 differ" in err and "Traceback" not in err

    specs.save(own_store, "one more family", AnalysisSpec(caliper=second), "evaluator")
    out = tmp_path / "pack"
    assert (
        cli.main(["report", "--db", str(own_store), "--out", str(out), "--spec", "one more family"])
        == 1
    )
    err = capsys.readouterr().err
    assert "refused: this analysis rests on nearly the same families" in err
    assert not out.exists()

    log = audit.read(own_store, actions=["refused"])
    reasons = [json.loads(d)["reason"] for d in log["detail"]]
    assert sum("nearly the same families" in r for r in reasons) == 2
    assert BESIDE_THE_STORE(own_store).stat().st_mode & 0o777 == 0o600
    # Outputs on the same families (the same analysis again) are released as before.
    assert _estimate(own_store, capsys, "--caliper", str(first))[0] == 0


def test_a_viewer_cannot_build_the_pack_of_an_analysis_one_family_from_a_released_one(
    own_store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack 1 on the dashboard, across people and processes: an evaluator releases one
    analysis on the command line; any viewer can build the board pack of any saved analysis,
    and the one a family apart is refused before a chart is drawn."""
    first, second = _calipers_one_family_apart(own_store)
    assert _estimate(own_store, capsys, "--caliper", str(first))[0] == 0
    specs.save(own_store, "one more family", AnalysisSpec(caliper=second), "evaluator")

    monkeypatch.setenv(config.DB_ENV_VAR, str(own_store))
    at = AppTest.from_file(str(config.PROJECT_ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("views/report.py").run()
    next(box for box in at.selectbox if box.label == "Analysis").set_value("one more family").run()
    next(b for b in at.button if b.label == "Build the board pack").click().run()
    assert not at.exception
    said = " ".join(info.value for info in at.info)
    assert "this analysis rests on nearly the same families as one released on" in said
    assert not at.get("download_button")
    log = audit.read(own_store, actions=["refused"])
    assert any("nearly the same families" in d for d in log["detail"])


# --- attack 2: intervals and means inverted to exact counts -------------------------------------


def test_no_released_interval_or_naive_mean_gives_back_an_exact_count_or_sum(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Attack 2: (ci_high - att) / se is the t quantile of families - 1 degrees of freedom, so
    the interval gave the exact family count; and of the people counts the rounded count allows,
    only the true one made the naive mean x people a whole number. Now several counts (and
    sums) fit everything released, and the true one among them."""
    checked = withheld = 0
    for flags in ([], ["--la", "LA01"]):
        code, output, _ = _estimate(demo_db, capsys, *flags)
        assert code == 0
        rules = output["disclosure"]["rules"]
        spec = AnalysisSpec(la=flags[1] if flags else None)
        current = store.Store(demo_db)
        try:
            exact = evaluate(current, spec)
        finally:
            current.close()
        for kind, compared in (("estimates", True), ("naive", False), ("placebo", True)):
            for row, truth in zip(output[kind], getattr(exact, kind), strict=True):
                if row["att"] is None:  # withheld (a rare event in LA01): nothing to invert
                    assert row["reason"] and truth.events is not None, (kind, row["outcome"])
                    withheld += 1
                    continue
                families = truth.families_treated + truth.families_comparison * compared
                fits = _families_fitting(row, rules, compared)
                # Since issue 15 an interval's df are Bell-McCaffrey's, not families - 1: the
                # attacker's inversion finds several counts or none, never the true one alone.
                assert fits != {families}, (kind, row["outcome"], fits)
                checked += 1
        for row, truth in zip(output["naive"], exact.naive, strict=True):
            if row["outcome"] in ("ae_use", "offending"):  # whole-number changes
                fits = _people_and_sums(row)
                pair = (truth.n_treated, round(truth.att * truth.n_treated))
                assert pair in fits and len({n for n, _ in fits}) >= 2, row["outcome"]
                assert len({total for _, total in fits}) >= 2, row["outcome"]
    assert checked + withheld == 2 * 3 * len(OUTCOMES) and withheld <= 2 * 3 * 5, withheld


# --- attack 3: a refused selection rebuilt by subtraction ---------------------------------------


def _one_refused_cohort(db: Path) -> tuple[str, int, list[int]]:
    """A local authority with exactly one cohort refused on its own: (LA, that cohort, the
    others)."""
    current = store.Store(db)
    try:
        families = build_panel(current, 12).families
    finally:
        current.close()
    families = families.assign(cohort=families["cohort"].astype(int))
    arms = families.groupby(["la_code", "cohort"])["treated"].agg(["sum", "count"])
    refused = arms[(arms["sum"] < 50) | (arms["count"] - arms["sum"] < 50)].index
    for la in sorted(arms.index.get_level_values(0).unique()):
        theirs = [c for (a, c) in refused if a == la]
        if len(theirs) == 1:
            others = [c for (a, c) in arms.index if a == la and c != theirs[0]]
            return la, theirs[0], others
    raise AssertionError("no local authority with exactly one refused cohort")


def test_a_refused_selection_cannot_be_rebuilt_from_the_wider_one_minus_the_rest(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Attack 3: the refused cell = its local authority minus that authority's other cohorts,
    all released by `estimate --json`. Before, the difference gave the refused cell's exact
    supported families (from the intervals), people and sums of changes (from the naive means);
    now each rebuilt value could be any of several, and the figure a page draws carries the same
    numbers as the JSON, no more."""
    la, refused, others = _one_refused_cohort(demo_db)
    code, _, err = _estimate(demo_db, capsys, "--la", la, "--cohort", str(refused))
    assert code == 1 and "refused: this selection" in err
    whole = _estimate(demo_db, capsys, "--la", la)[1]
    parts = [_estimate(demo_db, capsys, "--la", la, "--cohort", str(c))[1] for c in others]
    assert all(parts)

    current = store.Store(demo_db)
    try:
        exact = {key: evaluate(current, AnalysisSpec(la=la, cohort=key)) for key in [None, *others]}
    finally:
        current.close()
    rules = whole["disclosure"]["rules"]
    current = store.Store(demo_db)
    try:
        safe = results.safe_evaluation(evaluate(current, AnalysisSpec(la=la)))
    finally:
        current.close()
    figure = charts.effects_chart(safe.estimates, "test", 12, naive=safe.naive)
    plotted = [t.x[0] for t in figure.data if t.name.startswith("Naive")]
    for outcome in ("offending", "ae_use"):
        index = [r["outcome"] for r in whole["naive"]].index(outcome)
        rows = [whole["naive"][index]] + [p["naive"][index] for p in parts]
        truths = [exact[None].naive[index]] + [exact[c].naive[index] for c in others]
        true_families = truths[0].families_treated - sum(t.families_treated for t in truths[1:])
        true_people = truths[0].n_treated - sum(t.n_treated for t in truths[1:])
        if any(r["att"] is None for r in rows):  # a rare event withheld in a cohort: the
            assert outcome == "offending"  # attacker has one part fewer to subtract
            continue
        sums = [round(t.att * t.n_treated) for t in truths]
        true_sum = sums[0] - sum(sums[1:])
        assert 0 < true_families < 50  # the refused cell's own supported families

        families = [_families_fitting(r, rules, compared=False) for r in rows]
        fits = [_people_and_sums(r) for r in rows]
        people = [{n for n, _ in f} for f in fits]
        totals = [{s for _, s in f} for f in fits]
        for rebuilt, truth in (
            (_minus(families[0], families[1:]), true_families),
            (_minus(people[0], people[1:]), true_people),
            (_minus(totals[0], totals[1:]), true_sum),
        ):
            assert truth in rebuilt and len(rebuilt) >= 2, (outcome, truth, sorted(rebuilt)[:5])

        # The Impact page's figure holds what the JSON holds: the same rounded numbers.
        assert plotted[index] == rows[0]["att"]


# --- attack 4: as many parameters as families ---------------------------------------------------


def test_an_estimate_with_as_many_parameters_as_families_is_withheld() -> None:
    """Attack 4: 24 families and 24 parameters (intercept, treatment, 11 covariates and their
    interactions) fit every family exactly; the standard error was ~1e-12 and the estimate was
    released because 24 - 1 >= 10. Residual degrees of freedom count the parameters."""
    rng = np.random.default_rng(16)
    families, people = 24, 72
    family_row = np.repeat(np.arange(families), 3)
    treated = np.arange(families) < 12
    change = rng.normal(size=people)
    adjust = rng.normal(size=(families, 11))
    keys = (rng.integers(0, 256, people), rng.integers(0, 256, families))  # record keys
    whole = Inference("CR2", 0)  # the whole outcome model, however few the families
    estimate = family_difference(
        "ae_use",
        change,
        family_row,
        treated,
        np.ones(families),
        adjust=adjust,
        keys=keys,
        inference=whole,
    )
    assert (estimate.families_treated, estimate.families_comparison) == (12, 12)
    shown = results.safe_estimate("estimate", estimate)
    assert shown.withheld and shown.att is None and shown.se is None
    assert shown.reason == "fewer than 10 residual degrees of freedom"
    # By default (issue 15) so thin a sample drops the outcome model: 2 parameters, no exact fit.
    default = family_difference(
        "ae_use", change, family_row, treated, np.ones(families), adjust=adjust, keys=keys
    )
    assert default.outcome_model == "none" and default.df_resid == families - 2
    assert default.se > 0.1


@pytest.mark.parametrize(
    "flags", [["--caliper", "0.0001"], ["--cohort", "2016", "--caliper", "0.0001"]]
)
def test_a_tiny_caliper_is_one_clear_line_per_outcome_never_a_traceback(
    demo_db: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    """Attack 4: a tiny caliper matched 25 families (released with se ~ 0), or in one cohort
    left an outcome with no supported family (a 30-line traceback). Each estimate is now
    withheld with its reason, in one line, or (since issue 15, without the outcome model such
    thin data cannot carry) an honest interval on a plain weighted difference."""
    code = cli.main(["estimate", "--db", str(demo_db), *flags])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err and "Warning" not in err
    lines = out.strip().splitlines()
    # The data, the matched count, the note that nearly every supported family was left out
    # (issue 15, item 5), the headline estimator, one line per outcome (a placebo line only if a
    # placebo could be shown, a line of pre-trend tests only if one could), each outcome's
    # verdict and reasons (issue 18), then the other two estimators'.
    assert lines[0].startswith("Data: SYNTHETIC") and lines[1].startswith("Matched ")
    assert lines[2].startswith("Note: The matching left")
    assert lines[3].startswith("Estimator: Pre-level adjustment (assumes ")
    # The effects under their themes' headings (issue 19), then the national study's figures.
    n, themes = len(OUTCOMES), by_theme(OUTCOMES)
    block = lines[4 : 4 + n + len(themes)]
    assert [line for line in block if not line.startswith("  ")] == [f"{t}:" for t in themes]
    effects = [line for line in block if line.startswith("  ")]
    for line in effects:
        assert "not shown (" in line or "95% CI" in line, line
    evidence = next(i for i, line in enumerate(lines) if line.startswith("Evidence ("))
    national = next(i for i, line in enumerate(lines) if line.startswith("National study ("))
    others = lines.index("Other estimators (the same units; the JSON has their intervals):")
    assert 4 + n + len(themes) <= evidence <= 6 + n + len(themes)
    assert others == national + 1 + len(national_figures.FIGURES) and len(lines) == others + 1 + n
    verdicts = [x for x in lines[evidence + 1 : national] if not x.startswith(" " * 4)]
    assert len(verdicts) == n
    for line, shown in zip(verdicts, effects, strict=True):
        assert line.endswith(": fails") if "not shown" in shown else not line.endswith("strong")
    for line in lines[others + 1 :]:
        assert "Matched DiD " in line and "Doubly robust DiD " in line, line
