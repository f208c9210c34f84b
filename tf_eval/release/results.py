"""Engine results through the disclosure gate: safe objects for the dashboard and the JSON of
the CLI, built from the same safe objects so neither can show more. Every count goes with the
cell key the engine made from its records' keys (families, people or an analysis file's rows:
tf_eval.data.record_keys), and the gate refuses a count without one."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tf_eval import config
from tf_eval.governance.rules import Suppression
from tf_eval.method.balance import effective_sizes
from tf_eval.method.estimate import (
    COMPARISON_WORDS,
    NOT_YET_SUPPORTED,
    Estimate,
    Evaluation,
    Matching,
)
from tf_eval.method.estimators import ESTIMATORS
from tf_eval.method.event_study import EventStudy
from tf_eval.method.matchfile import FileMatch
from tf_eval.method.sensitivity import Sensitivity
from tf_eval.release import disclosure, evidence, national, units
from tf_eval.release.disclosure import SafeEstimate, SafeEventStudy, SafeHistogram, SafeTable


def safe_estimate(
    kind: str, e: Estimate, sensitivity: Sensitivity | None = None, item: str | None = None
) -> SafeEstimate:
    """An engine estimate through the gate, named `item` (default "kind:outcome") in what it
    suppresses; a headline estimate's `sensitivity` (the outcome's SD and Rosenbaum's Gamma)
    goes with it for the evidence checks."""
    return disclosure.safe_estimate(
        item or f"{kind}:{e.outcome}",
        e.outcome,
        {k: getattr(e, k) for k in ("att", "se", "ci_low", "ci_high", "p_value")},
        (e.n_treated, e.n_comparison),
        (e.families_treated, e.families_comparison),
        e.compared,
        e.df_resid,
        df_t=e.df_t,
        keys=e.keys,
        sensitivity=None if sensitivity is None else (sensitivity.outcome_sd, sensitivity.gamma),
        events=e.events,
        informative=e.informative_families,
    )


def _headlines(estimates: list[Estimate], checked: list[Sensitivity] | None) -> list[SafeEstimate]:
    """The headline estimates through the gate, each with its outcome's sensitivity inputs."""
    extra = {s.outcome: s for s in checked or []}
    return [safe_estimate("estimate", e, extra.get(e.outcome)) for e in estimates]


# Propensity-score histograms use these fixed edges: never the data's own extremes.
SCORE_EDGES = [i / 20 for i in range(21)]


@dataclass(frozen=True)
class SafeMatching:
    """What may be shown about a matched sample: protected counts, balance, and the overlap of
    propensity scores (before matching) in each group."""

    counts: SafeTable  # one row per group: group, units
    balance: SafeTable
    overlap: dict[str, SafeHistogram]  # "treated", "comparison"
    dropped_covariates: list[str]
    # Each matched group's effective size under the matching weights: group, efficiency (ESS
    # over its families), families (the ESS in families, from the protected count).
    effective: SafeTable

    @property
    def suppressed(self) -> tuple[Suppression, ...]:
        histograms = tuple(s for h in self.overlap.values() for s in h.suppressed)
        parts = (self.counts, self.balance, self.effective)
        return tuple(s for part in parts for s in part.suppressed) + histograms


@dataclass(frozen=True)
class SafeResults:
    """Everything an evaluation may show, each part already through the gate."""

    options: dict[str, Any]
    matching: SafeMatching
    estimates: list[SafeEstimate]
    naive: list[SafeEstimate]
    placebo: list[SafeEstimate]
    excluded: SafeTable | None  # families left out of the panel, by reason
    # Every estimator's estimates, side by side (tf_eval.method.estimators); the headline
    # `estimates` are those of options["estimator"]. Empty for an analysis file.
    estimators: dict[str, list[SafeEstimate]] = field(default_factory=dict)
    # Each outcome's difference quarter by quarter and pre-trend test (tf_eval.method.event_study);
    # empty for an analysis file, which has no quarters.
    event_study: list[SafeEventStudy] = field(default_factory=list)
    # The synthetic demo's planted effect per outcome (engine units, outcome -> float), for the
    # power check: a constant of the demo's generator, not a statistic of anyone's records, so
    # like `options` it needs no gate; empty for a council's store.
    planted: dict[str, Any] = field(default_factory=dict)
    # The effects an evaluator said they expect (`estimate --expect`; engine units), which the
    # power check uses before any planted one: a choice, like `options`, not data.
    stated: dict[str, Any] = field(default_factory=dict)
    # The shown headline estimates' correlation across outcomes (disclosure.correlation_table),
    # for the value for money's joint draws; None for an analysis file, which has none.
    correlation: SafeTable | None = None

    @property
    def suppressed(self) -> tuple[Suppression, ...]:
        parts = [self.matching.suppressed]
        parts += [study.suppressed for study in self.event_study]  # the quarters' among them
        alternatives = [
            e
            for key, listed in self.estimators.items()
            for e in listed
            if key != self.options.get("estimator")
        ]
        shown = (*self.estimates, *self.naive, *self.placebo, *alternatives)
        parts += [e.suppressed for e in shown]
        if self.excluded is not None:
            parts.append(self.excluded.suppressed)
        return tuple(s for part in parts for s in part)


def safe_matching(matching: Matching) -> SafeMatching:
    if matching.keys is None or matching.count_keys is None:
        raise ValueError("a matched sample's counts need its units' record keys")
    counts = pd.DataFrame(
        {
            "group": list(matching.counts),
            "units": list(matching.counts.values()),
            "units_key": [matching.count_keys[group] for group in matching.counts],
        }
    )
    treated = matching.treated.astype(bool)
    keys = matching.keys
    overlap = {
        "treated": disclosure.histogram(
            matching.score[treated], SCORE_EDGES, "score:treated", keys=keys[treated]
        ),
        "comparison": disclosure.histogram(
            matching.score[~treated], SCORE_EDGES, "score:comparison", keys=keys[~treated]
        ),
    }
    protected = disclosure.count_table(counts, ["units"], "counts")
    sizes = effective_sizes(treated, matching.weights)
    efficiency = {
        group: ess / matching.counts[f"{group}_matched"] if ess > 0 else math.nan
        for group, ess in sizes.items()
    }
    return SafeMatching(
        protected,
        disclosure.balance_table(matching.balance, matching.counts, "balance"),
        overlap,
        matching.dropped_covariates,
        disclosure.effective_sizes(efficiency, protected, matching.counts, "effective size"),
    )


def safe_evaluation(evaluation: Evaluation) -> SafeResults:
    """An evaluation through the disclosure gate: protected counts, balance, score histograms
    and estimates, each with what was suppressed and why. Only this may leave the engine."""
    if evaluation.excluded_keys is None:
        raise ValueError("the excluded families' counts need their cell keys")
    excluded = pd.DataFrame(
        {
            "reason": list(evaluation.excluded),
            "families": list(evaluation.excluded.values()),
            "families_key": [evaluation.excluded_keys[why] for why in evaluation.excluded],
        }
    )
    headlines = _headlines(evaluation.estimates, evaluation.sensitivity)
    correlation = evaluation.correlation
    return SafeResults(
        asdict(evaluation.spec),
        safe_matching(evaluation.matching),
        headlines,
        [safe_estimate("naive", e) for e in evaluation.naive],
        [safe_estimate("placebo", e) for e in evaluation.placebo],
        disclosure.count_table(excluded, ["families"], "excluded"),
        {
            key: [safe_estimate(f"estimate:{key}", e) for e in listed]
            for key, listed in (evaluation.by_estimator or {}).items()
        },
        [_event_study(study) for study in evaluation.event_study or []],
        dict(evaluation.planted),
        correlation=None
        if correlation is None
        else disclosure.correlation_table(correlation, headlines),
    )


def _event_study(study: EventStudy) -> SafeEventStudy:
    """One outcome's quarters through the gate, each as an estimate on its own families in that
    quarter, and the pre-trend test's p-value."""
    cells = {
        month: safe_estimate("event study", e, item=f"event study:{e.outcome}:{month:+d}")
        for month, e in study.cells
    }
    test = study.pretrend
    pretrend = None if test is None else (test.df, test.p_value)
    return disclosure.safe_event_study(
        study.outcome, study.reference_month, cells, pretrend, breakdown=study.trend_breakdown
    )


def safe_file_match(match: FileMatch, options: dict[str, Any]) -> SafeResults:
    """As safe_evaluation; here a 'family' is a cluster: the rows sharing an --id value, or one
    row when no --id is given."""
    return SafeResults(
        options,
        safe_matching(match.matching),
        _headlines(match.estimates, match.sensitivity),
        [],
        [],
        None,
    )


def _number(value: float) -> float | None:
    return None if value != value else float(value)  # NaN (suppressed or undefined) -> null


def _estimate_json(e: SafeEstimate) -> dict[str, Any]:
    """One estimate, in the unit the pages show it in (tf_eval.release.units), which it names."""
    return {
        "outcome": e.outcome,
        "unit": units.unit(e.outcome).name,
        **{k: units.shown(getattr(e, k), e.outcome) for k in ("att", "se", "ci_low", "ci_high")},
        "p_value": e.p_value,
        "n_treated": e.n_treated,
        "n_comparison": e.n_comparison,
        "families_treated": e.families_treated,
        "families_comparison": e.families_comparison,
        "suppressed": e.withheld,
        "reason": e.reason,
    }


def matched_share(matching: SafeMatching) -> float | None:
    """The share of supported families the matching kept, from the protected counts as shown
    (so it tells no more than they do); None when either count is suppressed."""
    shown = dict(zip(matching.counts.frame["group"], matching.counts.shown("units"), strict=True))
    treated, matched = shown.get("treated"), shown.get("treated_matched")
    if not isinstance(treated, int | np.integer) or not isinstance(matched, int | np.integer):
        return None
    return min(1.0, round(float(matched) / float(treated), 3)) if treated else None


def effective_size_sentence(matching: SafeMatching) -> str | None:
    """The comparison group's effective size in words, from the released figures only; None when
    it is withheld or every comparison family counts once (nothing to say)."""
    row = matching.effective.frame.set_index("group").loc["comparison"]
    shown = dict(
        zip(matching.counts.frame["group"], matching.counts.labels()["units"], strict=True)
    )
    if pd.isna(row["families"]) or row["efficiency"] >= 1:
        return None
    return (
        f"Under the matching weights the {shown['comparison_matched']} comparison families used "
        f"count as much as about {int(row['families']):,} families counted once each (their "
        f"effective sample size, {row['efficiency']:.0%} of them): a family matched to several "
        "supported families counts several times, so the comparison is less precise than its "
        "count suggests."
    )


def unmatched_warning(matching: SafeMatching) -> str | None:
    """A caliper (or exact keys) that leaves supported families unmatched changes what is
    estimated: the effect for the matched ones, who may differ from the rest. Said in words when
    more than config.UNMATCHED_WARNING_SHARE of them are left out; None otherwise."""
    share, more = matched_share(matching), ""
    if share is None:  # a suppressed count of matched families: fewer than the threshold
        shown = dict(
            zip(matching.counts.frame["group"], matching.counts.shown("units"), strict=True)
        )
        treated = shown.get("treated")
        if shown.get("treated_matched") != matching.counts.rules.suppressed_mark or not (
            isinstance(treated, int | np.integer) and treated > 0
        ):
            return None
        share, more = (matching.counts.rules.count_threshold - 1) / float(treated), "more than "
    if 1 - share <= config.UNMATCHED_WARNING_SHARE:
        return None
    return (
        f"The matching left {more}{1 - share:.0%} of supported families without a comparison "
        "family (a caliper or exact keys): the estimates are the effect for the matched "
        "supported families only, who may differ from those left out."
    )


def families_in_analysis(results: SafeResults) -> list[dict[str, str]]:
    """Where each family of the selection went, as protected counts in words: supported,
    comparison pool, or left out and why (the panel's reasons). It reconciles the analysis'
    counts with the Overview's: a family attached to support counts as attached there, but here
    it is supported only if attached within config.ATTACHED_WITHIN_MONTHS of identification."""
    counts = results.matching.counts
    shown = dict(zip(counts.frame["group"], counts.labels()["units"], strict=True))
    pool = results.options.get("comparison", NOT_YET_SUPPORTED)
    later = " (some of them supported after it)" if pool == NOT_YET_SUPPORTED else ""
    rows = [
        {
            "families": "Supported: attached to support within "
            f"{config.ATTACHED_WITHIN_MONTHS} months of identification",
            "how many": shown["treated"],
        },
        {
            "families": f"Comparison pool: {COMPARISON_WORDS[pool].lower()}{later}",
            "how many": shown["comparison_pool"],
        },
    ]
    if results.excluded is not None:
        left_out = results.excluded.labels()
        rows += [
            {"families": f"Left out: {reason}", "how many": count}
            for reason, count in zip(left_out["reason"], left_out["families"], strict=True)
        ]
    return rows


def findings(results: SafeResults) -> list[evidence.Check]:
    """The evidence checks and verdict of each headline estimate (the same on every surface)."""
    return evidence.checks(
        results.estimates,
        results.placebo,
        results.matching.balance,
        matched_share(results.matching),
        results.options,
        results.event_study,
        results.planted,
        results.stated,
    )


def event_study_json(results: SafeResults) -> list[dict[str, Any]]:
    """Every outcome's quarters, the reference quarter (0 by definition, `reference`: true)
    among them, in the unit the pages show (tf_eval.release.units)."""
    rows = []
    for study in results.event_study:
        cells: dict[int, SafeEstimate | None] = {**study.cells, study.reference_month: None}
        for month in sorted(cells):
            e = cells[month]
            numbers = {k: None for k in ("att", "se", "ci_low", "ci_high")}
            if e is None:
                numbers["att"] = 0.0
            else:
                numbers = {k: units.shown(getattr(e, k), e.outcome) for k in numbers}
            rows.append(
                {
                    "outcome": study.outcome,
                    "months_from_index": month,
                    **numbers,
                    "suppressed": e is not None and e.withheld,
                    "reason": None if e is None else e.reason,
                    "reference": e is None,
                }
            )
    return rows


def to_json(results: SafeResults, data_source: str | None = None) -> dict[str, Any]:
    """The JSON of `estimate --json` (plus naive, placebo and exclusions when present).
    `data_source` names where the records come from (tf_eval.release.charts.data_source: it says
    when they are synthetic), for an evaluation of a store."""
    counts = results.matching.counts
    out: dict[str, Any] = {
        **({"data_source": data_source} if data_source else {}),
        "options": results.options,
        "counts": dict(zip(counts.frame["group"], counts.shown("units"), strict=True)),
        # Every statistic of the balance table (tf_eval.method.balance.COLUMNS): SMDs, raw
        # differences in means (cobalt's statistic for a 0/1 covariate), variance ratios (null
        # for 0/1 covariates) and the largest eCDF gaps, before and after matching.
        "balance": [
            {name: value if name == "covariate" else _number(value) for name, value in row.items()}
            for row in results.matching.balance.frame.to_dict("records")
        ],
        "dropped_covariates": results.matching.dropped_covariates,
        "matched_share": matched_share(results.matching),
        # Kish's effective sample size of each matched group under the matching weights, as a
        # share of its families and in families (from the protected count); null if withheld.
        "effective_sizes": {
            row["group"]: {
                "efficiency": _number(row["efficiency"]),
                "families": None if pd.isna(row["families"]) else int(row["families"]),
            }
            for row in results.matching.effective.frame.to_dict("records")
        },
        "estimates": [_estimate_json(e) for e in results.estimates],
    }
    # Each headline finding's evidence and verdict (tf_eval.release.evidence), from the released
    # numbers above only.
    # The minimum detectable effect in the unit every estimate is shown in (units.py).
    out["checks"] = [
        {**check.as_json(), "mde": units.shown(check.mde, check.outcome)}
        for check in findings(results)
    ]
    # The difference quarter by quarter from 24 months before the index date (tf_eval.method.
    # event_study); empty for an analysis file (it has no dates).
    out["event_study"] = event_study_json(results)
    # The national impact study's published figures for the outcomes both measure: constants
    # of the publication, beside (not through) the gate.
    beside = national.national_json([e.outcome for e in results.estimates])
    if beside is not None:
        out["national_study"] = beside
    warning = unmatched_warning(results.matching)
    if warning:
        out["warnings"] = [warning]
    if results.estimators:
        headline = ESTIMATORS[results.options["estimator"]]
        out["estimator"] = {
            "name": headline.key,
            "label": headline.label,
            "assumption": headline.assumption,
        }
        out["estimators"] = [
            {"estimator": key, "assumption": ESTIMATORS[key].assumption, **_estimate_json(e)}
            for key, listed in results.estimators.items()
            for e in listed
        ]
    if results.naive or results.placebo:
        out["naive"] = [_estimate_json(e) for e in results.naive]
        out["placebo"] = [_estimate_json(e) for e in results.placebo]
    if results.excluded is not None:
        excluded = results.excluded
        out["excluded_families"] = dict(
            zip(excluded.frame["reason"], excluded.shown("families"), strict=True)
        )
    out["disclosure"] = {
        "rules": counts.rules.as_dict(),
        "suppressed": [asdict(s) for s in results.suppressed],
    }
    return out
