"""The evidence beside every finding (issue 18; docs/method.md, Evidence beside every finding):
for each headline estimate, its checks (the placebo, balance after matching, the share of
supported families matched, sensitivity to hidden bias, power, Holm's adjustment across the
outcomes read together) and a verdict in words, "strong", "moderate", "weak" or "fails", that
the headline, the JSON and the summary all say.

Every number here is computed from what the disclosure gate has already released (estimate,
interval, standard error, coarsened degrees of freedom, p-values, balance, protected counts) or
that the gate rounded for this purpose (the outcome's SD, Rosenbaum's Gamma), and rounded again
as released numbers are, so the checks tell nothing the released results do not.

The verdict is the worst level any check gives (`VERDICTS`, best first); each check that lowers
it adds a sentence to `reasons`, the most serious first. The rules, and why each threshold, are
in docs/method.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tf_eval import config
from tf_eval.method.honest_bounds import BREAKDOWN_MAX
from tf_eval.method.sensitivity import e_values, holm, minimum_detectable_effect
from tf_eval.release import units
from tf_eval.release.bounds_words import breakdown_sentence
from tf_eval.release.disclosure import SafeEstimate, SafeEventStudy, SafeTable
from tf_eval.release.headlines import WORDING, interval_words
from tf_eval.release.precision import released_number

VERDICTS = ("strong", "moderate", "weak", "fails")  # best first
# How the headline's sentence ends for each verdict below strong, after its most serious reason.
PASSED = (
    "Every check passed: no difference a year before support and no drift apart in the quarters "
    "before it, clear of chance with the other "
    "outcomes read together, balanced and nearly complete matching, large enough a comparison, "
    "and more than a modest hidden difference needed to explain it away."
)
CHANCE = "this could be chance"
CAUTION = {"moderate": "read with care", "weak": "weak evidence", "fails": "treat with caution"}


@dataclass(frozen=True)
class Check:
    """One finding's evidence, as the JSON's `checks` rows hold it (`as_json`)."""

    outcome: str
    placebo_covers_zero: bool | None
    # The event study's joint test that the quarters before the index date show no difference
    # (tf_eval.method.event_study); None when withheld or there is none (an analysis file).
    pretrend_p_value: float | None
    max_abs_smd_after: float | None
    share_supported_matched: float | None
    mde: float | None
    e_value: float | None
    e_value_ci: float | None
    rosenbaum_gamma: float | None
    # How many times the largest quarter-to-quarter drift before support a drift after it must be
    # to explain the event study's average effect away (Rambachan and Roth's relative magnitudes;
    # BREAKDOWN_MAX means at least that); None when not computed or withheld.
    trend_breakdown: float | None
    holm_p_value: float | None
    verdict: str
    reasons: list[str]
    # The most serious reason as a clause for the headline ("families who were later supported
    # were already diverging before support"); None when the verdict is strong.
    clause: str | None = field(default=None, compare=False)

    def as_json(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "clause"}

    @property
    def caution(self) -> str | None:
        """The headline's qualification, "but <clause>: <caution>"; None when strong, or when
        chance is the reason (the headline says that of an interval across zero itself)."""
        if self.clause is None or self.clause == CHANCE:
            return None
        return f"but {self.clause}: {CAUTION[self.verdict]}"


@dataclass
class _Findings:
    """The checks that lowered a verdict: (level, sentence, clause), collected in any order."""

    found: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, level: str, sentence: str, clause: str) -> None:
        self.found.append((level, sentence, clause))

    def verdict(self) -> tuple[str, list[str], str | None]:
        ranked = sorted(self.found, key=lambda f: -VERDICTS.index(f[0]))
        if not ranked:
            return "strong", [], None
        return ranked[0][0], [sentence for _, sentence, _ in ranked], ranked[0][2]


def passing(rows: list[Check]) -> list[str]:
    """The outcomes whose finding passes its checks (strong or moderate): what a chart's title
    may count as improved."""
    return [row.outcome for row in rows if row.verdict in ("strong", "moderate")]


def _amount(outcome: str, value: float, small: bool = False) -> str:
    """A size in the outcome's display units (percentage points for proportions). With `small`
    (an effect someone expects, not an estimate), one that would round to 0 keeps two
    significant figures: "0.0" would misquote it."""
    w = WORDING.get(outcome)
    if w is None:  # an analysis file's column: its own units
        return f"{abs(value):.3g}"
    size = abs(units.shown(value, outcome))
    number = f"{size:.{w.digits}f}"
    if small and size > 0 and float(number) == 0:
        number = f"{size:.2g}"
    return number + (f" {units.unit(outcome).name}" if w.says_unit else "")


def _interval(outcome: str, e: SafeEstimate) -> str:
    w = WORDING.get(outcome)
    assert e.ci_low is not None and e.ci_high is not None
    low, high = units.shown(e.ci_low, outcome), units.shown(e.ci_high, outcome)
    return interval_words(low, high, w.digits if w else 3)


def max_abs_smd_after(balance: SafeTable) -> float | None:
    """The largest |SMD| after matching over the covariates (not the score itself), as shown."""
    frame = balance.frame
    values = frame.loc[frame["covariate"] != "distance", "smd_after"].abs().dropna()
    return None if values.empty else float(values.max())


def _no_pairs_reason(options: dict[str, object]) -> str:
    if options.get("replace", True):
        return "matching with replacement (a comparison family may stand for several)"
    return f"matching {options.get('ratio')} comparison units to each supported one"


def checks(
    estimates: list[SafeEstimate],
    placebo: list[SafeEstimate],
    balance: SafeTable,
    share_matched: float | None,
    options: dict[str, object],
    event_study: list[SafeEventStudy] | None = None,
    planted: dict[str, float] | None = None,
    stated: dict[str, float] | None = None,
) -> list[Check]:
    """One `Check` per headline estimate, from released results only. `placebo` and
    `event_study` are empty for an analysis file (no earlier window to test); `planted` holds
    the synthetic demo's planted effects and `stated` the effects an evaluator expects (used
    first), which the power check compares with the minimum detectable effect."""
    shown = [e for e in estimates if not e.withheld and e.p_value is not None]
    adjusted = dict(
        zip((e.outcome for e in shown), holm([float(e.p_value) for e in shown]), strict=True)  # type: ignore[arg-type]
    )
    smd = max_abs_smd_after(balance)
    by_outcome = {p.outcome: p for p in placebo}
    studies = {s.outcome: s for s in event_study or []}
    out = []
    for e in estimates:
        rules = e.rules
        study = studies.get(e.outcome)
        breakdown = None if study is None else study.trend_breakdown
        common = {
            "outcome": e.outcome,
            "pretrend_p_value": None if study is None else study.pretrend_p_value,
            "max_abs_smd_after": smd,
            "share_supported_matched": share_matched,
            "trend_breakdown": breakdown,
        }
        before = by_outcome.get(e.outcome)
        covers = (
            None
            if before is None or before.withheld
            else bool(before.ci_low <= 0 <= before.ci_high)  # type: ignore[operator]
        )
        if e.withheld:
            reason = f"The estimate is not shown ({e.reason}), so there is no finding to read."
            out.append(
                Check(
                    **common,
                    placebo_covers_zero=covers,
                    mde=None,
                    e_value=None,
                    e_value_ci=None,
                    rosenbaum_gamma=None,
                    holm_p_value=None,
                    verdict="fails",
                    reasons=[reason],
                    clause="it could not be shown",
                )
            )
            continue
        att, low, high, se = (float(v) for v in (e.att, e.ci_low, e.ci_high, e.se))  # type: ignore[arg-type]
        mde = released_number(minimum_detectable_effect(se, e.df or 1), rules)
        evalue, evalue_ci = e_values(att, low, high, e.outcome_sd) if e.outcome_sd else (None, None)
        evalue, evalue_ci = (
            None if v is None else released_number(v, rules) for v in (evalue, evalue_ci)
        )
        holm_p = released_number(adjusted[e.outcome], rules)
        findings = _Findings()
        _placebo(findings, e, before, covers)
        _pretrend(findings, e, study)
        crosses = low <= 0 <= high
        _significance(findings, e, crosses, holm_p, len(shown))
        _balance(findings, smd, share_matched)
        _sensitivity(findings, e, crosses, evalue_ci)
        expected = (stated or {}).get(e.outcome)
        source = "you expect" if expected is not None else "planted in this synthetic demo"
        if expected is None:
            expected = (planted or {}).get(e.outcome)
        _power(findings, e, crosses, mde, expected, source)
        verdict, reasons, clause = findings.verdict()
        reasons += _sensitivity_sentences(e, crosses, mde, evalue, evalue_ci, options)
        if not crosses and breakdown is not None:
            reasons.append(_trend_sentence(breakdown))
        if verdict == "strong":
            reasons.insert(0, PASSED)
        out.append(
            Check(
                **common,
                placebo_covers_zero=covers,
                mde=mde,
                e_value=evalue,
                e_value_ci=evalue_ci,
                rosenbaum_gamma=e.gamma,
                holm_p_value=holm_p,
                verdict=verdict,
                reasons=reasons,
                clause=clause,
            )
        )
    return out


def _trend_sentence(breakdown: float) -> str:
    """The relative-magnitudes breakdown value in words, for the event study's average quarter
    after support."""
    sentence = breakdown_sentence(None if breakdown >= BREAKDOWN_MAX else breakdown)
    return "Quarter by quarter: " + sentence[0].lower() + sentence[1:]


def _placebo(
    findings: _Findings, e: SafeEstimate, before: SafeEstimate | None, covers: bool | None
) -> None:
    if before is None:
        findings.add(
            "moderate",
            "There is no placebo test here (no earlier window), so whether the groups were "
            "already different before treatment is not checked.",
            "whether the groups already differed before is not checked",
        )
    elif before.withheld:
        findings.add(
            "moderate",
            f"The placebo a year earlier is not shown ({before.reason}), so whether the groups "
            "were already different before support is not checked.",
            "whether the groups already differed before support is not checked",
        )
    elif not covers:
        same = (before.att or 0) * (e.att or 0) > 0
        words = _interval(e.outcome, before)
        if same:
            findings.add(
                "fails",
                "Families who were later supported were already diverging from the comparison "
                f"families a year before support, in the same direction as this estimate "
                f"(placebo: {words}), so the estimate may be that difference, not the effect of "
                "support.",
                "families who were later supported were already diverging before support",
            )
        else:
            findings.add(
                "weak",
                "Families who were later supported were already diverging from the comparison "
                f"families a year before support, in the opposite direction (placebo: {words}): "
                "the groups are not alike, though that difference does not explain this estimate.",
                "the groups were already diverging before support",
            )


def drift(study: SafeEventStudy) -> float | None:
    """The direction of the gap's drift before the index date, from the released quarters: the
    least-squares slope of the differences before the index date against their months, the
    reference quarter's 0 among them (positive: the supported families' outcome was rising
    relative to the comparison's). None when a quarter before is withheld."""
    points = [(m, e.att) for m, e in study.cells.items() if m < study.reference_month]
    if not points or any(att is None for _, att in points):
        return None
    points.append((study.reference_month, 0.0))
    mean_m = sum(m for m, _ in points) / len(points)
    mean_y = sum(float(y) for _, y in points) / len(points)  # type: ignore[arg-type]
    top = sum((m - mean_m) * (float(y) - mean_y) for m, y in points)  # type: ignore[arg-type]
    return top / sum((m - mean_m) ** 2 for m, _ in points)


def _pretrend(findings: _Findings, e: SafeEstimate, study: SafeEventStudy | None) -> None:
    """The event study's joint test: a p-value below EVIDENCE_ALPHA fails the finding when the
    drift before support has the estimate's sign (continued, it could be the estimate), and makes
    it weak otherwise, as the placebo does; withheld, the check is not made (moderate)."""
    if study is None:
        return
    p = study.pretrend_p_value
    if p is None:
        findings.add(
            "moderate",
            f"The test of the quarters before support is not shown ({study.pretrend_reason}), "
            "so whether the groups were already drifting apart is not checked.",
            "whether the groups were already drifting apart is not checked",
        )
        return
    if p >= config.EVIDENCE_ALPHA:
        return
    slope = drift(study) or 0.0
    said = f"the quarters before the index date differ: joint test p = {p:g}"
    if slope * float(e.att or 0) > 0:
        findings.add(
            "fails",
            "Families who were later supported were already diverging from the comparison "
            f"families before support, in the same direction as this estimate ({said}), so the "
            "estimate may be that earlier drift, not the effect of support.",
            "families who were later supported were already diverging before support",
        )
    else:
        findings.add(
            "weak",
            "Families who were later supported were already diverging from the comparison "
            f"families before support, in the opposite direction ({said}): the groups are not "
            "alike, though that drift does not explain this estimate.",
            "the groups were already diverging before support",
        )


def _significance(
    findings: _Findings, e: SafeEstimate, crosses: bool, holm_p: float | None, outcomes: int
) -> None:
    if crosses:
        findings.add(
            "weak",
            "The interval includes no difference, so this could be chance.",
            CHANCE,
        )
    elif holm_p is not None and holm_p >= config.EVIDENCE_ALPHA:
        findings.add(
            "weak",
            f"Read together with the other {outcomes - 1} outcome{'s' * (outcomes != 2)}, "
            f"this could be chance (Holm-adjusted p = {holm_p:g}).",
            "with the other outcomes read together, this could be chance",
        )


def _balance(findings: _Findings, smd: float | None, share: float | None) -> None:
    if smd is not None and smd > config.SMD_GOOD:
        poor = smd > config.SMD_POOR
        findings.add(
            "weak" if poor else "moderate",
            "The matched groups still differ in their records: the largest standardised "
            f"difference after matching is {smd:g} standard deviations (good balance is within "
            f"{config.SMD_GOOD:g}"
            + (f"; beyond {config.SMD_POOR:g} the outcome model extrapolates)." if poor else ")."),
            "the matched groups still differ in their records",
        )
    if share is not None and share < 1 - config.UNMATCHED_WARNING_SHARE:
        level = "weak" if share < config.MATCHED_SHARE_POOR else "moderate"
        findings.add(
            level,
            f"Only {share:.0%} of supported families were matched: the estimate is the effect "
            "for them, who may differ from the rest.",
            f"only {share:.0%} of supported families were matched",
        )


def _sensitivity(
    findings: _Findings,
    e: SafeEstimate,
    crosses: bool,
    evalue_ci: float | None,
) -> None:
    if crosses:
        return  # nothing to explain away
    if evalue_ci is not None and evalue_ci < config.E_VALUE_MODERATE:
        findings.add(
            "moderate",
            "A modest unmeasured difference between the groups could explain this away (the "
            f"E-value of the interval's limit nearer no effect is {evalue_ci:g}, below "
            f"{config.E_VALUE_MODERATE:g}).",
            "a modest unmeasured difference between the groups could explain it",
        )
    if e.gamma is not None and e.gamma <= 1:
        findings.add(
            "moderate",
            "In the matched pairs, the signed-rank test (without the outcome model) is not "
            "significant even with no hidden bias (Rosenbaum's Gamma is 1).",
            "the matched pairs alone do not show it clearly",
        )
    elif e.gamma is not None and e.gamma < config.GAMMA_MODERATE:
        findings.add(
            "moderate",
            "In the matched pairs, a small hidden bias could explain this away (Rosenbaum's "
            f"Gamma is {e.gamma:g}, below {config.GAMMA_MODERATE:g}).",
            "a small hidden bias in the matched pairs could explain it",
        )


def _power(
    findings: _Findings,
    e: SafeEstimate,
    crosses: bool,
    mde: float | None,
    expected: float | None,
    source: str,
) -> None:
    """The MDE against the estimate, and against the effect expected (`source` says whose:
    "you expect" or "planted in this synthetic demo")."""
    if mde is None:
        return
    if expected is not None and abs(expected) < mde:
        findings.add(
            "moderate",
            f"The effect {source} ({_amount(e.outcome, abs(expected), small=True)}) is smaller "
            f"than the minimum detectable effect ({_amount(e.outcome, mde)}, at 80% power): a "
            "comparison this small would often miss it, or overstate it when it finds it.",
            f"the comparison is too small to detect the effect {source} reliably",
        )
    if not crosses and abs(float(e.att or 0)) < mde:
        findings.add(
            "moderate",
            f"The estimate is smaller than the minimum detectable effect "
            f"({_amount(e.outcome, mde)}, at 80% power): an estimate that clears significance "
            "in a comparison this small tends to overstate the true effect.",
            "the comparison is too small to measure an effect this size reliably",
        )


def _sensitivity_sentences(
    e: SafeEstimate,
    crosses: bool,
    mde: float | None,
    evalue: float | None,
    evalue_ci: float | None,
    options: dict[str, object],
) -> list[str]:
    """The plain sentences of sensitivity and power that every finding carries."""
    said = []
    if crosses and mde is not None:  # what a finding of no clear effect cannot rule out
        said.append(
            "The comparison could reliably detect (80% power, 5% two-sided) an effect of "
            f"{_amount(e.outcome, mde)} or more; smaller effects could be missed."
        )
    if crosses or evalue is None:
        return said
    if evalue_ci is not None and evalue_ci >= config.E_VALUE_MODERATE:  # else a reason says it
        said.append(
            "An unmeasured difference between the groups would need to be tied to both support "
            f"and this outcome by a risk ratio of about {evalue_ci:g} each, beyond the records "
            f"matched on, to explain this away (the E-value of the interval's limit nearer no "
            f"effect; {evalue:g} for the estimate itself)."
        )
    if e.gamma is not None and e.gamma >= config.GAMMA_MODERATE:
        said.append(
            "In the matched pairs, an unmeasured difference would need to make one family of a "
            f"pair {e.gamma:g} times as likely as the other to be supported to explain this "
            "away (Rosenbaum's Gamma)."
        )
    elif e.gamma is None:
        said.append(f"No Rosenbaum's Gamma: {_no_pairs_reason(options)} makes no matched pairs.")
    return said
