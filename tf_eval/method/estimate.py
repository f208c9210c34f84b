"""The evaluation: match supported families to comparison families and estimate what changed.

`evaluate` runs the method (docs/method.md) end to end on a store: the panel, the propensity
score, nearest neighbour matching, balance, and for each outcome the ATT by three estimators side
by side (tf_eval.method.estimators: the pre-level adjustment, the matched DiD and the doubly
robust DiD, each resting on its own assumption), the naive before/after change of supported
families, and a placebo: the headline estimator a year earlier, on two pre-windows. The shared
regression machinery (CR2 standard errors, Bell-McCaffrey t intervals, the thin-data rule) is in
tf_eval.method.difference; its names are re-exported here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from tf_eval import config
from tf_eval.data.demo_truth import planted_effects
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.data.record_keys import record_keys
from tf_eval.data.store import Store
from tf_eval.governance.rules import check_selection
from tf_eval.method.difference import (
    OUTCOME_MODELS,
    Estimate,
    EvaluationError,
    Inference,
    family_difference,
    weighted_difference,
)
from tf_eval.method.estimators import (
    DR_DID,
    ESTIMATORS,
    MATCHED_DID,
    PRE_LEVELS,
    RECENT_COLUMN,
    OutcomeModel,
    doubly_robust_estimate,
    doubly_robust_estimates,
    event_counts,
    matched_estimate,
    matched_pair,
    outcome_covariate_parts,
    with_events,
)
from tf_eval.method.event_study import (
    EventStudy,
    QuarterlyReads,
    event_study,
    read_quarters,
    sample,
)
from tf_eval.method.joint import Contributions
from tf_eval.method.panel import (
    COMPARISON_POOLS,
    COMPARISON_WORDS,
    FAMILY_COVARIATES,
    NOT_YET_SUPPORTED,
    Panel,
    build_panel,
)
from tf_eval.method.sensitivity import Sensitivity, sensitivity
from tf_eval.method.tasks import run_shared
from tf_eval.method.unit_matching import Matching, match_units

__all__ = [
    "COMPARISON_POOLS",
    "COMPARISON_WORDS",
    "OUTCOME_MODELS",
    "AnalysisSpec",
    "Estimate",
    "Evaluation",
    "EvaluationError",
    "Inference",
    "Matching",
    "evaluate",
    "family_difference",
    "match_units",
    "prepare",
    "weighted_difference",
]

Progress = Callable[[float, str], None]

DEFAULT_COVARIATES = ("la_code", "cohort", *FAMILY_COVARIATES)
# The outcomes' pre-window levels: in a small selection a rare event's (custody, a child looked
# after) may be above zero in a few families of a group, or of one group only, and is then left
# out of the matching (`match_units`, `too_rare`) rather than separating the model.
PRE_LEVELS_COVARIATES = tuple(c for c in FAMILY_COVARIATES if c.startswith("pre_"))
# Columns a matched pair may be required to share.
EXACT_KEYS = ("la_code", "index_quarter", "cohort", "has_pupil")
# LA x cohort by default: every family's windows already start at its own identification month,
# so the quarter is not needed for timing, and exact on it split the families into ~200 small
# strata whose distant matches left the outcome model to bridge (docs/method.md, Matching).
DEFAULT_EXACT = ("la_code", "cohort")
MAX_RATIO = 10


@dataclass(frozen=True)
class AnalysisSpec:
    """Every choice an evaluator can make (docs/method.md), validated on creation."""

    outcomes: tuple[str, ...] = tuple(OUTCOMES)
    covariates: tuple[str, ...] = DEFAULT_COVARIATES
    ratio: int = 1
    caliper: float | None = None
    # With replacement by default: when supported families are a large share of those identified
    # (about 38% in the demo), matching without replacement runs out of close comparison
    # families and leaves standardised differences of 0.3-0.4 that bias the estimates.
    replace: bool = True
    exact: tuple[str, ...] = DEFAULT_EXACT
    follow_up_months: int = config.FOLLOW_UP_MONTHS[0]
    la: str | None = None
    cohort: int | None = None
    # Which estimator the headline estimates use (all are shown side by side) and which families
    # are compared with the supported (docs/method.md).
    estimator: str = config.DEFAULT_ESTIMATOR
    comparison: str = NOT_YET_SUPPORTED

    def __post_init__(self) -> None:
        unknown = [o for o in self.outcomes if o not in OUTCOMES]
        if unknown or not self.outcomes:
            raise EvaluationError(
                f"unknown outcome {unknown[0]!r} (choose from {', '.join(OUTCOMES)})"
                if unknown
                else "choose at least one outcome"
            )
        unknown = [c for c in self.covariates if c not in DEFAULT_COVARIATES]
        if unknown or not self.covariates:
            raise EvaluationError(
                f"unknown covariate {unknown[0]!r} (choose from {', '.join(DEFAULT_COVARIATES)})"
                if unknown
                else "choose at least one covariate"
            )
        unknown = [c for c in self.exact if c not in EXACT_KEYS]
        if unknown:
            raise EvaluationError(
                f"cannot match exactly on {unknown[0]!r} (choose from {', '.join(EXACT_KEYS)})"
            )
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, int):
            raise EvaluationError("ratio must be a whole number")
        if not 1 <= self.ratio <= MAX_RATIO:
            raise EvaluationError(f"ratio must be between 1 and {MAX_RATIO}")
        if self.caliper is not None and not (np.isfinite(self.caliper) and self.caliper > 0):
            raise EvaluationError("caliper must be a positive number of standard deviations")
        if self.estimator not in ESTIMATORS:
            raise EvaluationError(
                f"unknown estimator {self.estimator!r} (choose from {', '.join(ESTIMATORS)})"
            )
        if self.comparison not in COMPARISON_POOLS:
            raise EvaluationError(
                f"unknown comparison {self.comparison!r} (choose from "
                f"{', '.join(COMPARISON_POOLS)})"
            )
        if self.follow_up_months not in config.FOLLOW_UP_MONTHS:
            raise EvaluationError(
                f"follow-up must be {' or '.join(map(str, config.FOLLOW_UP_MONTHS))} months"
            )


@dataclass(frozen=True)
class Evaluation:
    spec: AnalysisSpec
    matching: Matching
    estimates: list[Estimate]  # matched difference-in-differences
    naive: list[Estimate]  # supported families' own before/after change
    placebo: list[Estimate]  # matched DiD between the placebo window and the pre-window
    excluded: dict[str, int]  # families left out of the panel, by reason
    family_ids: np.ndarray  # each matching row's family (pseudonyms; for the release register)
    excluded_keys: dict[str, int] | None = None  # their cell keys, for the gate's noise
    # Every estimator's estimates (tf_eval.method.estimators), the spec's own among them.
    by_estimator: dict[str, list[Estimate]] | None = None
    # What the evidence checks need beyond the estimates, per outcome (tf_eval.method.sensitivity).
    sensitivity: list[Sensitivity] | None = None
    # Each outcome's difference quarter by quarter and pre-trend test (tf_eval.method.event_study).
    event_study: list[EventStudy] | None = None
    # The demo's planted effect per outcome for this selection (tf_eval.data.demo_truth), for the
    # power check; empty for a council's store.
    planted: dict[str, float] = field(default_factory=dict)
    # The headline estimates' correlation across outcomes (tf_eval.method.joint), outcomes x
    # outcomes; None where no estimate gave its families' contributions (CR1).
    correlation: pd.DataFrame | None = None


def store_selection(
    store: Store, la: str | None, cohort: int | None
) -> tuple[str | None, int | None]:
    """A local authority and cohort as the store holds them: an LA code in any case ('la05' is
    LA05), and for one the store lacks an error naming those it has, so that nobody has to guess
    which codes or years exist."""
    if la is not None:
        known = store.query("SELECT DISTINCT la_code FROM families ORDER BY 1")["la_code"].tolist()
        same = [code for code in known if code.casefold() == la.casefold()]
        if not same:
            raise EvaluationError(
                f"unknown local authority {la!r} (the store has {', '.join(known) or 'none'})"
            )
        la = la if la in same else same[0]
    if cohort is not None:
        sql = "SELECT DISTINCT year(identified_on) AS cohort FROM families ORDER BY 1"
        years = [int(year) for year in store.query(sql)["cohort"]]
        if cohort not in years:
            raise EvaluationError(
                f"no families identified in {cohort} (the store's cohorts: "
                f"{', '.join(map(str, years)) or 'none'})"
            )
    return la, cohort


def prepare(
    store: Store,
    spec: AnalysisSpec,
    progress: Progress | None = None,
    panel: Panel | None = None,
) -> tuple[Panel, Matching]:
    """The outcome panel and the matched sample for one spec (what every result builds on). A
    selection under the differencing floor raises disclosure.SelectionRefused first. `panel`,
    if given, is this spec's panel built earlier (the dashboard keeps it while an evaluator
    changes only the matching)."""
    report = progress or (lambda fraction, message: None)
    panel = selection_panel(store, spec, report, panel)
    return panel, match_panel(panel, spec, report)


def selection_panel(
    store: Store, spec: AnalysisSpec, report: Progress, panel: Panel | None = None
) -> Panel:
    """`prepare`'s panel (`panel` itself, if given and built for this spec), checked against
    the differencing floor."""
    la, _ = store_selection(store, spec.la, spec.cohort)
    if la != spec.la:
        raise EvaluationError(f"local authority {spec.la!r} is written {la!r} in the store")
    report(0.0, "Building the outcome panel")
    if panel is None:
        panel = build_panel(store, spec.follow_up_months, spec.la, spec.cohort, spec.comparison)
    elif (panel.follow_up_months, panel.comparison) != (spec.follow_up_months, spec.comparison):
        raise ValueError("the panel given was built for another follow-up or comparison")
    if panel.families.empty:
        raise EvaluationError("no families in this selection")
    supported = int(panel.families["treated"].sum())
    check_selection(
        {"la": spec.la, "cohort": spec.cohort}, supported, len(panel.families) - supported
    )
    return panel


def match_panel(
    panel: Panel,
    spec: AnalysisSpec,
    report: Progress,
    on_design: Callable[[pd.DataFrame], None] | None = None,
) -> Matching:
    """`prepare`'s matching of the panel's families (`on_design` as `match_units`')."""
    report(0.5, "Fitting propensity scores and matching")
    families = panel.families
    return match_units(
        families,
        families["treated"].to_numpy(),
        list(spec.covariates),
        list(spec.exact),
        spec.ratio,
        spec.caliper,
        spec.replace,
        record_keys(families["family_id"]),
        PRE_LEVELS_COVARIATES,
        on_design,
    )


def evaluate(
    store: Store,
    spec: AnalysisSpec,
    progress: Progress | None = None,
    panel: Panel | None = None,
    inference: Inference | None = None,
) -> Evaluation:
    """Run the whole evaluation for one spec (on `panel` if it was built already); `inference`
    (default CR2 with Bell-McCaffrey df and the thin-data rule) says how uncertainty is
    computed."""
    report = progress or (lambda fraction, message: None)
    how = inference or Inference()
    panel = selection_panel(store, spec, report, panel)
    # Beyond the event study's cap its sample is drawn before matching and its records need no
    # matching: one thread reads them, outcome by outcome, while this one matches (at national
    # scale seconds of DuckDB's work beside numpy's). Under the cap the event study reads the
    # matched families alone, later. A failure anywhere cancels the reads not yet started and
    # waits for the one under way.
    reader, modeller = ThreadPoolExecutor(1), ThreadPoolExecutor(1)
    try:
        chosen = sample(panel.families["family_id"].to_numpy())
        reads = {
            key: reader.submit(read_quarters, store, panel, key, chosen)
            for key in (spec.outcomes if not chosen.all() else ())
        }
        if reads:  # then hand back what DuckDB kept of them (Store.release)
            reader.submit(store.release)
        # The outcome model needs the propensity model's design alone: another thread builds it
        # while this one fits and matches (at national scale 2.4 s, on one core after the reads).
        treated = panel.families["treated"].to_numpy()
        recent = panel.families.filter(regex=RECENT_COLUMN)
        built: list[Future[OutcomeModel]] = []
        matching = match_panel(
            panel,
            spec,
            report,
            lambda design: built.append(
                modeller.submit(
                    lambda: OutcomeModel.of(*outcome_covariate_parts(design, treated, recent))
                )
            ),
        )
        model = built[0].result()
        # The outcome model holds all the estimates need of the propensity model's design; the
        # evaluation keeps its columns alone (at national scale the rows were 365 MB held to the
        # end, through the estimates' peak). A copy: the empty slice alone is a view that keeps
        # every row's memory.
        matching = dataclasses.replace(matching, covariates=matching.covariates.iloc[:0].copy())
        return _estimate(store, spec, panel, matching, model, reads, report, how)
    finally:
        reader.shutdown(wait=True, cancel_futures=True)
        modeller.shutdown(wait=True)


def _estimate(
    store: Store,
    spec: AnalysisSpec,
    panel: Panel,
    matching: Matching,
    model: OutcomeModel,
    reads: dict[str, Future[QuarterlyReads]],
    report: Progress,
    how: Inference,
) -> Evaluation:
    """`evaluate`'s estimates on the matched panel, the event study's from `reads`."""
    report(0.7, "Estimating effects")
    treated, weight, families = matching.treated, matching.weights, matching.keys
    # Every supported family's own change, matched or not: what a naive report would show.
    everyone = np.ones(len(treated))
    tasks: list[tuple[str, Callable[[], Any]]] = []  # (kind, computation), outcome order
    # Outcomes of the same people (children in care and on a protection plan; juveniles' custody
    # and convictions) share one doubly robust fit: its propensity score and regression are
    # most of its cost and depend on the people alone.
    same_people: list[tuple[np.ndarray, dict[str, tuple]]] = []
    contributions = Contributions(len(treated))  # the headline estimates' (tf_eval.method.joint)
    for key in spec.outcomes:
        people = panel.people[key]
        rows = people["family_row"].to_numpy()
        keys = (record_keys(people["person_id"]), families)
        change = (people["post"] - people["pre"]).to_numpy()
        tasks.append(
            (
                "naive",
                partial(
                    family_difference,
                    key,
                    change,
                    rows,
                    treated,
                    everyone,
                    False,
                    None,
                    keys,
                    inference=how,
                ),
            )
        )
        # The placebo: the headline estimator applied a year earlier, to the change between the
        # placebo and pre-windows, where support cannot have acted (docs/method.md).
        has = people["placebo"].notna().to_numpy()
        earlier = (people["pre"] - people["placebo"]).to_numpy()[has]
        some = (keys[0][has], families)
        # The two matched estimators share one task and one gathering of the matched families
        # (estimators.matched_pair); where the placebo's people are the headline's (all but
        # school attendance), a matched headline's placebo is fitted with it.
        together = spec.estimator != DR_DID and has.all()
        own = contributions if spec.estimator != DR_DID else None
        pair = (key, change, earlier if together else None, spec.estimator, rows, treated, weight)
        tasks.append(("matched", partial(matched_pair, *pair, model, keys, how, own)))
        _join_group(same_people, key, people["person_id"].to_numpy(), (change, rows, keys))
        if together:
            continue
        if spec.estimator == DR_DID:
            placebo_task = partial(
                doubly_robust_estimate, key, earlier, rows[has], treated, model, some, how
            )
        else:
            placebo_task = partial(
                matched_estimate,
                spec.estimator,
                key,
                earlier,
                rows[has],
                treated,
                weight,
                model,
                some,
                how,
            )
        tasks.append(("placebo", placebo_task))
    own = contributions if spec.estimator == DR_DID else None
    for _, group in same_people:
        change, rows, keys = zip(*group.values(), strict=True)
        robust = (tuple(group), change, rows[0], treated, model, keys[0], how, own)
        tasks.append((DR_DID, partial(doubly_robust_estimates, *robust)))
    # The estimates are independent: two threads share the work (numpy's and scipy's linear
    # algebra and DuckDB release the GIL), each taking the next task as it finishes one
    # (`tasks.run_shared`): first the event study (each outcome's difference quarter by quarter,
    # which lets its records go), then the doubly robust estimates, the longest, then the
    # regressions. A doubly robust estimate holds copies of every family's covariates: no two
    # run at once, so at national scale memory peaks at one of them beside a regression (which
    # copies the outcome model's rows of the matched families alone).
    for key in spec.outcomes:
        tasks.append(
            (
                "event study",
                partial(
                    _event_study,
                    reads,
                    key,
                    partial(
                        event_study, store, panel, treated, weight, model, key, spec.estimator, how
                    ),
                ),
            )
        )
    # What each estimate of a 0/1 outcome rests on: its people with the event, per group (last,
    # filling the threads' ends).
    counted_outcomes = [key for key in spec.outcomes if OUTCOMES[key].any_event]
    first_count = len(tasks)
    for key in counted_outcomes:
        tasks.append(("events", partial(event_counts, panel.people[key], treated, weight)))
    done = run_shared(tasks, ("event study", DR_DID), heavy=(DR_DID,))
    by_estimator: dict[str, list[Estimate]] = {key: [] for key in ESTIMATORS}
    naive, placebo = [], []
    quarterly = []
    doubly_robust: dict[str, Estimate] = {}
    events = dict(zip(counted_outcomes, done[first_count:], strict=True))
    for (kind, _), estimate in zip(tasks, done, strict=True):
        if kind == DR_DID:
            doubly_robust.update((e.outcome, e) for e in estimate)
        elif kind == "matched":
            for estimator in (MATCHED_DID, PRE_LEVELS):
                by_estimator[estimator].append(estimate[estimator])
            if "placebo" in estimate:
                placebo.append(estimate["placebo"])
        elif kind == "event study":
            quarterly.append(estimate)
        elif kind == "naive":
            naive.append(estimate)
        elif kind == "placebo":
            placebo.append(estimate)
    by_estimator[DR_DID] = [doubly_robust[key] for key in spec.outcomes]

    def counted(kind: str, e: Estimate) -> Estimate:
        if e.outcome not in events:
            return e
        return with_events(kind, e, events[e.outcome], spec.estimator)

    by_estimator = {kind: [counted(kind, e) for e in found] for kind, found in by_estimator.items()}
    naive = [counted("naive", e) for e in naive]
    placebo = [counted("placebo", e) for e in placebo]
    report(1.0, "Done")
    family_ids = panel.families["family_id"].to_numpy()
    # Each outcome's sensitivity rests on its headline estimate's sign: the two threads share
    # them too (at national scale 1.4 s on one).
    checked = run_shared(
        [
            ("sensitivity", partial(_sensitivity, panel, matching, key, estimate.att))
            for key, estimate in zip(spec.outcomes, by_estimator[spec.estimator], strict=True)
        ],
        first=(),
        heavy=(),
    )
    return Evaluation(
        spec,
        matching,
        by_estimator[spec.estimator],
        naive,
        placebo,
        panel.excluded,
        family_ids,
        panel.excluded_keys,
        by_estimator,
        checked,
        quarterly,
        planted_effects(store, spec.follow_up_months, spec.la, spec.cohort),
        contributions.correlation(spec.outcomes),
    )


def _join_group(
    groups: list[tuple[np.ndarray, dict[str, tuple]]], key: str, people: np.ndarray, item: tuple
) -> None:
    """Add outcome `key` (its `people`, person_ids in order, and `item`) to the group of the
    outcome with the same people, or start a group."""
    for first, members in groups:
        if np.array_equal(first, people):
            members[key] = item
            return
    groups.append((people, {key: item}))


def _event_study(
    reads: dict[str, Future[QuarterlyReads]], outcome: str, study: Callable[..., EventStudy]
) -> EventStudy:
    """`study` (an outcome's event_study) from its records read during the matching if they
    were (let go once used)."""
    return study(read=reads.pop(outcome).result() if outcome in reads else None)


def _sensitivity(panel: Panel, matching: Matching, outcome: str, att: float) -> Sensitivity:
    """One outcome's outcome SD (its follow-up level among matched people) and, where there are
    pairs, Rosenbaum's Gamma on the matched families' differences in mean change."""
    people = panel.people[outcome]
    rows = people["family_row"].to_numpy()
    change = (people["post"] - people["pre"]).to_numpy(dtype=float)
    n = len(matching.treated)
    with np.errstate(invalid="ignore", divide="ignore"):
        family_change = np.bincount(rows, change, n) / np.bincount(rows, minlength=n)
    return sensitivity(
        outcome,
        people["post"].to_numpy(dtype=float),
        family_change,
        matching.treated[rows].astype(bool),
        matching.weights[rows],
        matching.pairs,
        att,
    )
