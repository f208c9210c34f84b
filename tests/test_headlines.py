"""Plain-words findings: direction, units, intervals turned round for falls, withheld ones."""

from scipy import stats

from tf_eval.data.outcomes import OUTCOMES
from tf_eval.release.disclosure import safe_estimate
from tf_eval.release.headlines import (
    estimator_rows,
    headline,
    improved,
    improved_title,
    narrow_interval_note,
)


def _estimate(outcome: str, att: float, low: float, high: float, families: int = 500):
    """An estimate whose released interval is (low, high): the gate recomputes the interval from
    att and se (with 895 df, 899 rounded down to a multiple of 5), so se is set to give it."""
    se = (high - low) / (2 * stats.t.ppf(0.975, 895))
    numbers = {"att": att, "se": se, "ci_low": low, "ci_high": high, "p_value": 0.01}
    counts = ((900, 800), (families, 400))
    return safe_estimate("e", outcome, numbers, *counts, True, 899, keys=(1, 2, 3, 4))


def test_a_rise_in_attendance_reads_as_percentage_points() -> None:
    text = headline(_estimate("attendance", 2.104, 1.43, 2.77), 12)
    assert text == (
        "School attendance rose 2.1 percentage points more than in similar families over the "
        "12 months after the family was identified (95% CI: a rise of 1.4 to 2.8)."
    )
    assert improved(_estimate("attendance", 2.104, 1.43, 2.77)) is True


def test_a_fall_in_a_proportion_is_a_positive_amount_and_its_interval_a_fall_too() -> None:
    text = headline(_estimate("offending", -0.0194, -0.0273, -0.0115), 24)
    assert "fell 1.9 percentage points" in text and "(95% CI: a fall of 1.1 to 2.7)" in text
    assert "24 months" in text and "chance" not in text
    assert improved(_estimate("offending", -0.0194, -0.0273, -0.0115)) is True


def test_an_interval_across_zero_says_it_could_be_chance() -> None:
    estimate = _estimate("ae_use", 0.02, -0.01, 0.05)
    assert "could be chance" in headline(estimate, 12) and improved(estimate) is None
    assert improved(_estimate("ae_use", 0.04, 0.01, 0.07)) is False  # more A&E use is worse


def test_an_interval_across_zero_is_written_the_way_the_chart_draws_it() -> None:
    """Issue 17 item 5: the chart draws -0.8 from -2.8 to +1.2; the sentence said "fell 0.8
    (95% CI -1.2 to 2.8)", an interval with the opposite sign to the chart's."""
    text = headline(_estimate("offending", -0.008, -0.028, 0.012), 12)
    assert "fell 0.8 percentage points" in text
    assert "(95% CI: between a fall of 2.8 and a rise of 1.2)" in text
    rise = headline(_estimate("ae_use", 0.02, -0.01, 0.05), 12)
    assert "rose 0.02" in rise and "(95% CI: between a fall of 0.01 and a rise of 0.05)" in rise


def test_a_withheld_estimate_gives_its_reason_and_no_number() -> None:
    text = headline(_estimate("worklessness", -0.05, -0.06, -0.04, families=6), 12)
    assert text.startswith("Worklessness: not shown (fewer than 10 families")
    assert not any(ch.isdigit() for ch in text.replace("10", ""))


def test_the_estimators_side_by_side_are_one_row_per_outcome_in_display_units() -> None:
    """Issue 15, item 3: every estimator's estimate of each outcome, next to each other, with
    true minus signs (a leading '-' reads as a formula in a spreadsheet) and the withheld one
    said to be so."""
    withheld = _estimate("offending", -0.02, -0.03, -0.01, families=5)  # under the floor
    estimators = {
        "matched_did": [_estimate("attendance", 2.104, 1.43, 2.77), withheld],
        "pre_level_adjustment": [
            _estimate("attendance", 1.9, 1.2, 2.6),
            _estimate("offending", -0.0194, -0.0273, -0.0115),
        ],
        "doubly_robust_did": [
            _estimate("attendance", 2.0, 1.5, 2.5),
            _estimate("offending", -0.018, -0.024, -0.012),
        ],
    }
    rows = estimator_rows(estimators)
    assert [r["Outcome"] for r in rows] == ["School attendance", "Offending"]
    minus = "\u2212"
    assert rows[0]["Matched DiD"] == "2.1 (1.4 to 2.8)"
    assert rows[1]["Pre-level adjustment"] == f"{minus}1.9 ({minus}2.7 to {minus}1.1)"
    assert rows[1]["Doubly robust DiD"] == f"{minus}1.8 ({minus}2.4 to {minus}1.2)"
    assert rows[1]["Matched DiD"] == "not shown"


def test_a_charts_title_counts_withheld_estimates_apart() -> None:
    """A withheld estimate is neither an improvement nor a failure: "0 of 4" with three withheld
    read as support failing four times."""
    crime = ["offending", "custody_adult", "custody_juvenile", "juvenile_conviction"]
    when = "in the 12 months after families were identified"
    assert (
        improved_title(crime, 2, 12) == f"Support improved 2 of 4 crime and justice outcomes {when}"
    )
    assert (
        improved_title(crime, 4, 12) == f"Support improved all 4 crime and justice outcomes {when}"
    )
    assert improved_title(crime, 0, 12, withheld=3) == (
        f"Support improved 0 of 1 crime and justice outcome shown {when} (3 not shown)"
    )
    assert improved_title(crime, 2, 12, withheld=2) == (
        f"Support improved all 2 crime and justice outcomes shown {when} (2 not shown)"
    )
    assert improved_title(crime, 0, 12, withheld=4) == (
        f"No estimate of these crime and justice outcomes can be shown {when}"
    )
    assert improved_title(["custody_adult"], 0, 12, withheld=1) == (
        f"Adults given custody: no estimate can be shown {when}"
    )


def test_the_rarest_outcomes_intervals_are_said_to_run_narrow_only_where_they_are_shown() -> None:
    """Juvenile convictions' and juveniles' custody's intervals covered the truth 93-94% of
    the time over 550 seeds of the Monte Carlo study (docs/method.md): a page that shows them
    says so; one that shows neither (or withholds them) says nothing of them."""
    shown = {k: _estimate(k, -0.01, -0.02, 0.0) for k in OUTCOMES}
    both = narrow_interval_note(
        [shown["attendance"], shown["custody_juvenile"], shown["juvenile_conviction"]]
    )
    assert both is not None
    assert "rarest outcomes (juveniles given custody and juvenile convictions)" in both
    assert "93-94% of the time, not 95%" in both
    withheld = _estimate("custody_juvenile", -0.01, -0.02, 0.0, families=6)
    one = narrow_interval_note([withheld, shown["juvenile_conviction"]])
    assert one is not None and "(juvenile convictions)" in one and "custody" not in one
    assert narrow_interval_note([shown["attendance"], shown["offending"]]) is None
    assert narrow_interval_note([withheld]) is None
    assert narrow_interval_note([]) is None
