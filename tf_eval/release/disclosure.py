"""The disclosure-control gate: the only way an aggregate leaves the engine.

Raw aggregates (exact counts, per-person values, estimates with exact group sizes) go in; *safe
objects* come out, each carrying the values that may be shown and the list of what was
suppressed and why. Charts, pages, exports and the CLI accept only safe objects. A safe object
can be made only here: its constructor demands a private token, so building one elsewhere fails
loudly rather than quietly skipping the rules (tests/test_architecture.py checks the rest).

The rules and their defaults (ONS 10-5 rule, ACRO's threshold, dominance and p-ratio checks,
OpenSAFELY's totals from protected cells) live in `tf_eval.governance.rules.Rules`; a deployment
can change them in one TOML file (`disclosure.toml`, or the file named by
TF_EVAL_DISCLOSURE_CONFIG).

Every count and every sum behind a mean is perturbed consistently by the cell-key method
(tf_eval.release.perturbation) before it is rounded, so each function here takes cell keys
beside the counts (a count column `n` comes with its key column `n_key`; per-record values with
a column of record keys) and fails when they are missing: there is no unperturbed way out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tf_eval.data.record_keys import cell_key
from tf_eval.governance.rules import Rules, Suppression, current_rules
from tf_eval.release import perturbation
from tf_eval.release.estimate_rules import (
    estimate_reason,
    events_reason,
    released_correlation,
    released_df,
    released_estimate,
)
from tf_eval.release.mean_rules import mean_reason, released_mean
from tf_eval.release.precision import coarse_df, released_columns, released_number, rounded_down

_GATE = object()  # the private token: only this module can construct safe objects
KEY_SUFFIX = "_key"  # a count column `n` comes with its cell key column `n_key`
# Why an estimate the engine could not compute (no balancing weights, collinear covariates...).
NOT_ESTIMABLE = "it could not be estimated from these families (no solution, or none had the event)"


@dataclass(frozen=True)
class Safe:
    """What every safe object carries: the rules applied and what was suppressed."""

    rules: Rules
    suppressed: tuple[Suppression, ...]
    _token: object = field(repr=False, compare=False, kw_only=True)

    def __post_init__(self) -> None:
        if self._token is not _GATE:
            raise TypeError(
                f"{type(self).__name__} objects are made only by "
                "tf_eval.release.disclosure's functions"
            )

    def note(self) -> str:
        """The disclosure note for under a figure: the rule that applied and what it withheld."""
        n = len(self.suppressed)
        withheld = "nothing was suppressed" if n == 0 else f"{n} value{'s' * (n != 1)} suppressed"
        return f"{self.rule_text()} Here {withheld}."

    def rule_text(self) -> str:
        r = self.rules
        return (
            f"Disclosure control: counts rounded to the nearest {r.count_rounding} after small "
            f"consistent noise (at most {r.perturbation_max}), counts of "
            f"1-{r.count_threshold - 1} suppressed ({r.suppressed_mark}), totals summed from "
            "shown cells, means rounded after noise."
        )


@dataclass(frozen=True)
class SafeTable(Safe):
    """A table whose count columns passed the 10-5 rule (nullable integers, <NA> = suppressed)
    and whose value columns passed the group-size and dominance rules (NaN = suppressed)."""

    frame: pd.DataFrame
    counts: tuple[str, ...]
    values: tuple[str, ...] = ()

    def table(self) -> pd.DataFrame:
        """A copy to plot or export (suppressed cells are <NA>/NaN)."""
        return self.frame.copy()

    def labels(self) -> pd.DataFrame:
        """A copy with every count written as people read it: '1,235' or the suppressed mark."""
        shown = self.frame.copy()
        for column in self.counts:
            shown[column] = shown[column].map(self.count_label)
        return shown

    def total(self, column: str) -> int:
        """A total summed from the shown cells, so it reveals nothing they do not."""
        if column not in self.counts:
            raise KeyError(f"{column!r} is not a count column")
        return int(self.frame[column].sum(skipna=True))

    def count_label(self, value: object) -> str:
        return self.rules.suppressed_mark if pd.isna(value) else f"{int(value):,}"

    def shown(self, column: str) -> list[int | str]:
        """A count column as machine-readable output writes it: ints, or the suppressed mark."""
        if column not in self.counts:
            raise KeyError(f"{column!r} is not a count column")
        mark = self.rules.suppressed_mark
        return [mark if pd.isna(v) else int(v) for v in self.frame[column]]


@dataclass(frozen=True)
class SafeEstimate(Safe):
    """An effect estimate that may be shown, or the reason it may not (every number None)."""

    outcome: str
    att: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_treated: int | str  # people, 10-5 protected
    n_comparison: int | str
    families_treated: int | str
    families_comparison: int | str
    reason: str | None  # why it was withheld
    # For the evidence checks (tf_eval.release.evidence), None when withheld or not given: the
    # interval's coarsened degrees of freedom, the outcome's SD and Rosenbaum's Gamma, rounded.
    df: int | None = None
    outcome_sd: float | None = None
    gamma: float | None = None

    @property
    def withheld(self) -> bool:
        return self.reason is not None

    def rule_text(self) -> str:
        r = self.rules
        return (
            f"Estimates shown only with at least {r.estimate_min_families} families in each "
            f"group compared (for a 0/1 outcome, {r.proportion_min} people a group with it and as "
            f"many without, counted over both, and over {r.count_rounding} families with it in the "
            f"smaller group) and {r.estimate_min_df} residual degrees of freedom, to "
            f"{r.significant_figures} significant figures, with intervals whose degrees of "
            f"freedom are rounded down to a multiple of {r.count_rounding}; "
            + super().rule_text()[len("Disclosure control: ") :]
        )


@dataclass(frozen=True)
class SafeEventStudy(Safe):
    """One outcome's quarters (by their first month from the index date; the reference, 0 by
    definition, is not among them), each gated as an estimate on its own families, and the
    pre-trend test's p-value or why it is withheld, and the relative-magnitudes breakdown value
    (`trend_breakdown`); `suppressed` holds the quarters' too."""

    outcome: str
    reference_month: int
    cells: dict[int, SafeEstimate]
    pretrend_p_value: float | None
    pretrend_reason: str | None
    trend_breakdown: float | None = None

    def rule_text(self) -> str:
        r = self.rules
        return (
            f"Each quarter is shown only with at least {r.estimate_min_families} families in each "
            f"group in that quarter (for a 0/1 outcome, {r.proportion_min} people a group with it "
            f"and as many without, counted over both) and {r.estimate_min_df} residual degrees of "
            f"freedom, to "
            f"{r.significant_figures} significant figures, with intervals whose degrees of "
            f"freedom are rounded down to a multiple of {r.count_rounding}."
        )


@dataclass(frozen=True)
class SafeHistogram(Safe):
    """Counts in fixed bins (edges chosen by the caller, never from the data's extremes); bins
    under the floor are merged with a neighbour, and whatever still falls short is suppressed."""

    edges: tuple[float, ...]  # len(counts) + 1, after merging
    bin_counts: tuple[int | None, ...]  # 10-5 protected; None = suppressed

    def rule_text(self) -> str:
        return (
            f"Bins with fewer than {self.rules.histogram_min_bin} units are merged with a "
            "neighbour or suppressed; " + super().rule_text()[len("Disclosure control: ") :]
        )


def combined_note(items: list[Safe]) -> str:
    """One disclosure note for a figure built from several safe objects."""
    rules: list[str] = []
    for item in items:
        if item.rule_text() not in rules:
            rules.append(item.rule_text())
    n = sum(len(item.suppressed) for item in items)
    withheld = "nothing was suppressed" if n == 0 else f"{n} value{'s' * (n != 1)} suppressed"
    return f"{' '.join(rules)} Here {withheld}."


# --- counts -------------------------------------------------------------------------------------


def _protect(exact: pd.Series, keys: object, rules: Rules) -> pd.Series:
    """The 10-5 rule with cell-key noise: 0 stays 0, 1 to threshold - 1 is suppressed (<NA>),
    and every other count gets its noise from the p-table (never taking it below the threshold)
    and is then rounded to the nearest multiple of the rounding base."""
    exact = exact.astype("int64")
    if (exact < 0).any():
        raise ValueError("counts cannot be negative")
    cells = perturbation.check_keys(keys, len(exact))
    noisy = perturbation.perturb_counts(exact.to_numpy(), cells, rules)
    base = rules.count_rounding
    rounded = pd.Series((noisy + base // 2) // base * base, index=exact.index)
    small = (exact > 0) & (exact < rules.count_threshold)
    return rounded.astype("Int64").mask(small)


def count_table(
    frame: pd.DataFrame,
    counts: list[str],
    item: str,
    rules: Rules | None = None,
    ratios: dict[str, tuple[str, str]] | None = None,
) -> SafeTable:
    """Apply the 10-5 rule, with cell-key noise, to every count column of an aggregate table.
    Each count column `n` needs its cell key column `n_key` (the sum of its records' keys modulo
    256: tf_eval.data.record_keys), which is dropped; the other columns are labels (dimension
    values), passed through. `item` names the output in suppression records. `ratios`
    (name -> (numerator, denominator)) are computed from the protected cells only, so they reveal
    nothing the shown counts do not."""
    rules = rules or current_rules()
    key_columns = [f"{column}{KEY_SUFFIX}" for column in counts]
    missing = [k for k in key_columns if k not in frame.columns]
    if missing:
        raise ValueError(
            f"{item}: count column {missing[0][: -len(KEY_SUFFIX)]!r} has no cell key column "
            f"{missing[0]!r}; every count is perturbed by its records' keys"
        )
    out = frame.drop(columns=key_columns)
    suppressed = []
    labels = [c for c in out.columns if c not in counts]
    for column in counts:
        protected = _protect(frame[column], frame[f"{column}{KEY_SUFFIX}"], rules)
        for i in np.flatnonzero(protected.isna().to_numpy()):
            where = ", ".join(f"{k}={frame[k].iloc[i]}" for k in labels)
            suppressed.append(
                Suppression(
                    f"{item}:{column}[{where}]",
                    "threshold",
                    f"count of 1-{rules.count_threshold - 1}",
                )
            )
        out[column] = protected
    for name, (top, bottom) in (ratios or {}).items():
        out[name] = (out[top] / out[bottom].where(out[bottom] > 0)).astype("float64")
    values = tuple(ratios or ())
    return SafeTable(rules, tuple(suppressed), out, tuple(counts), values, _token=_GATE)


def count(
    value: int, key: int, item: str, rules: Rules | None = None
) -> tuple[int | str, list[Suppression]]:
    """One count, with its cell key, as output shows it (a multiple of the rounding base after
    cell-key noise, or the suppressed mark)."""
    rules = rules or current_rules()
    shown = _protect(pd.Series([value]), [key], rules).iloc[0]
    if pd.isna(shown):
        return rules.suppressed_mark, [
            Suppression(item, "threshold", f"count of 1-{rules.count_threshold - 1}")
        ]
    return int(shown), []


# --- rates and magnitudes -----------------------------------------------------------------------


def _record_keys(group: pd.DataFrame, key: str, item: str) -> np.ndarray:
    if key not in group.columns:
        raise ValueError(
            f"{item}: no record key column {key!r}; every group size and sum is perturbed by "
            "its records' keys"
        )
    return perturbation.check_keys(group[key].to_numpy(), len(group))


def mean_table(
    people: pd.DataFrame,
    by: list[str],
    value: str,
    item: str,
    binary: bool = False,
    rules: Rules | None = None,
    *,
    key: str,
) -> SafeTable:
    """Group means of a per-person value (a rate for a 0/1 value, else a magnitude such as A&E
    visits), each shown only if its group passes the threshold and, for rates, has enough
    people on each side, or for magnitudes the dominance and p-ratio checks. `key` names the
    column of each person's record key: a shown mean's sum gets cell-key noise and the mean is
    rounded to what the noise supports. The group sizes come back as a protected count column
    `people`. A group whose members all have the same value (say, no A&E visit at all) is
    withheld: its mean would tell each one's value."""
    rules = rules or current_rules()
    rows, suppressed = [], []
    for labels, group in people.groupby(by, sort=True, dropna=False):
        labels = labels if isinstance(labels, tuple) else (labels,)
        values = group[value].to_numpy(dtype=float)
        finite = np.isfinite(values)
        values = values[finite]
        cell = cell_key(_record_keys(group, key, item)[finite])
        why = mean_reason(values, binary, rules)
        label = ", ".join(f"{k}={v}" for k, v in zip(by, labels, strict=True))
        mean = math.nan
        if why:
            suppressed.append(Suppression(f"{item}:{value}[{label}]", *why))
        else:
            mean = released_mean(values, np.ones(values.size), cell, binary, rules, None)[0]
        rows.append(
            {
                **dict(zip(by, labels, strict=True)),
                value: mean,
                "people": values.size,
                "people_key": cell,
            }
        )
    frame = pd.DataFrame(rows, columns=[*by, value, "people", "people_key"])
    return _with_people(frame, (value,), suppressed, item, rules)


def _with_people(
    frame: pd.DataFrame,
    values: tuple[str, ...],
    suppressed: list[Suppression],
    item: str,
    rules: Rules,
) -> SafeTable:
    """A table of group values (already judged) with its `people` column (and `people_key`)
    under the 10-5 rule with cell-key noise."""
    counted = count_table(frame, ["people"], item, rules)
    shown = released_columns(counted.frame, values, rules, people="people")
    return SafeTable(
        rules,
        tuple(suppressed) + counted.suppressed,
        shown,
        ("people",),
        values,
        _token=_GATE,
    )


def weighted_mean_table(
    people: pd.DataFrame,
    by: list[str],
    value: str,
    weight: str,
    cluster: str,
    item: str,
    binary: bool = False,
    rules: Rules | None = None,
    *,
    key: str,
    ceiling: float | None = None,
) -> SafeTable:
    """Weighted group means (e.g. with matching weights) and their 95% intervals, standard
    errors clustered by `cluster` (families). Each group is judged by mean_table's rules on the
    people behind its mean; a withheld group shows no mean and no interval. A shown mean's
    weighted sum gets cell-key noise from the group's record keys (column `key`), and the mean
    and its interval (centred on the noisy mean, rounded outwards) are rounded to what the noise
    supports;
    `ceiling` is the value's natural maximum, if any (100 for a percentage)."""
    rules = rules or current_rules()
    rows, suppressed = [], []
    for labels, group in people.groupby(by, sort=True):
        labels = labels if isinstance(labels, tuple) else (labels,)
        y = group[value].to_numpy(dtype=float)
        w = group[weight].to_numpy(dtype=float)
        cell = cell_key(_record_keys(group, key, item))
        named = dict(zip(by, labels, strict=True))
        why = mean_reason(y, binary, rules)
        mean = low = high = math.nan
        if why:
            where = ", ".join(f"{k}={v}" for k, v in named.items())
            suppressed.append(Suppression(f"{item}:{value}[{where}]", *why))
        else:
            total = w.sum()
            exact = float((w * y).sum() / total)
            per_cluster = pd.Series(w * (y - exact)).groupby(group[cluster].to_numpy()).sum()
            g = len(per_cluster)
            se = math.sqrt(g / max(g - 1, 1) * float((per_cluster**2).sum())) / total
            mean, places = released_mean(y, w, cell, binary, rules, ceiling)
            low, high = perturbation.round_out(mean - 1.96 * se, mean + 1.96 * se, places)
        rows.append(
            {
                **named,
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "people": y.size,
                "people_key": cell,
            }
        )
    frame = pd.DataFrame(rows, columns=[*by, "mean", "ci_low", "ci_high", "people", "people_key"])
    return _with_people(frame, ("mean", "ci_low", "ci_high"), suppressed, item, rules)


# --- estimates ----------------------------------------------------------------------------------


def safe_estimate(
    item: str,
    outcome: str,
    numbers: dict[str, float],
    people: tuple[int, int],
    families: tuple[int, int],
    compared: bool,
    df_resid: int,
    rules: Rules | None = None,
    *,
    keys: tuple[int, int, int, int] | None,
    df_t: int | None = None,
    sensitivity: tuple[float, float | None] | None = None,
    events: tuple[int, int] | None = None,
    informative: int | None = None,
) -> SafeEstimate:
    """An estimate (att and se in `numbers`) through the gate. `people` and `families` are (treated,
    comparison); a one-group estimate (compared=False) is judged on its treated families alone and
    reports no comparison group. `keys` are the cell keys of the people and families counted, in the
    same order (people treated, people comparison, families treated, families comparison): the
    counts get cell-key noise. `df_resid` (clusters - parameters) decides whether it may be shown;
    the released 95% interval and p-value are recomputed from att and se with `df_t` (the t
    distribution's: Bell-McCaffrey's; default df_resid) coarsened, and every number is rounded
    (`released_number`), so none can be inverted to a count. The outcome's SD and Rosenbaum's Gamma
    (`sensitivity`) go out only beside a shown estimate, to its significant figures (the SD no finer
    than its people's count allows, as a mean). For a 0/1 outcome, `events` (people with the event
    per group) and `informative` (families with its rarer answer in the smaller group, capping
    `df_t`) must pass `events_reason`."""
    rules = rules or current_rules()
    if keys is None:
        raise ValueError(f"{item}: an estimate's counts need their cell keys")
    arms = [families[0], families[1]] if compared else [families[0]]
    reason = estimate_reason(arms, df_resid, rules)
    suppressed = [Suppression(item, "estimate", reason)] if reason else []
    shown = {}
    for name, value, key in zip(
        ("n_treated", "n_comparison", "families_treated", "families_comparison"),
        (*people, *families),
        keys,
        strict=True,
    ):
        shown[name], why = count(value, key, f"{item}:{name}", rules)
        suppressed += why
    # A one-group estimate, a plain mean of its people's changes, steps by their count; a
    # comparison's (a regression coefficient) is no count's multiple: significant figures do.
    people_behind = None if compared else shown["n_treated"]
    dof, released = df_resid if df_t is None else df_t, (None,) * 5
    if not reason:  # a rare outcome's df, capped by its `informative` families, is a count
        released = released_estimate(numbers, dof, people_behind, rules, informative)
    if reason is None and released[0] is None:  # the engine found no estimate (NaN): say so
        reason = NOT_ESTIMABLE
        suppressed.append(Suppression(item, "estimate", reason))
    if reason is None and events is not None:
        reason = events_reason(events, people, compared, rules, informative)
        if reason:
            suppressed.append(Suppression(item, "estimate", reason))
            released = (None,) * 5
    extra: dict[str, float | int | None] = {}
    if reason is None:
        extra["df"] = released_df(dof, rules, informative)
        if sensitivity is not None:
            sd, gamma = sensitivity
            extra["outcome_sd"] = released_number(sd, rules, shown["n_treated"])
            extra["gamma"] = None if gamma is None else released_number(gamma, rules)
    return SafeEstimate(
        rules,
        tuple(suppressed),
        outcome,
        *released,
        **shown,
        reason=reason,
        **extra,
        _token=_GATE,
    )


def safe_event_study(
    outcome: str,
    reference_month: int,
    cells: dict[int, SafeEstimate],
    pretrend: tuple[float, Callable[[float], float]] | None,
    rules: Rules | None = None,
    breakdown: float | None = None,
) -> SafeEventStudy:
    """Quarters already through `safe_estimate`, and the pre-trend test (its df, and its p-value
    as a function of df): the p-value goes out only when every quarter before the reference is
    shown, on the df coarsened as an interval's are, rounded; `breakdown` (to two significant
    figures, rounded down; BREAKDOWN_MAX means at least that) only when every quarter is."""
    rules = rules or current_rules()
    before = [e for month, e in cells.items() if month < reference_month]
    p = None if pretrend is None else pretrend[1](coarse_df(pretrend[0], rules))
    reason = None
    if any(e.withheld for e in before):
        reason = "a quarter before the index date is not shown"
    elif p is None or not math.isfinite(p):
        reason = "it could not be computed from these families"
    item = f"event study:{outcome}:pre-trend test"
    suppressed = tuple(s for e in cells.values() for s in e.suppressed)  # the quarters' too
    suppressed += (Suppression(item, "estimate", reason),) if reason and before else ()
    shown = None if reason or p is None else released_number(p, rules)
    every = not any(e.withheld for e in cells.values())
    bound = rounded_down(breakdown) if breakdown is not None and every else None
    return SafeEventStudy(
        rules, suppressed, outcome, reference_month, cells, shown, reason, bound, _token=_GATE
    )


# --- histograms ---------------------------------------------------------------------------------


def histogram(
    values: np.ndarray,
    edges: list[float],
    item: str,
    rules: Rules | None = None,
    *,
    keys: np.ndarray | None,
) -> SafeHistogram:
    """Count `values` into the fixed bins `edges` (values outside are clipped into the end
    bins, so no bin edge reveals an extreme), merge each bin under the floor with its smaller
    neighbour until every bin reaches it, then apply the 10-5 rule with cell-key noise (`keys`:
    each value's record key). If even one bin holding everything is under the floor, the whole
    histogram is suppressed."""
    rules = rules or current_rules()
    edges_list = [float(e) for e in edges]
    if len(edges_list) < 2 or any(b <= a for a, b in zip(edges_list, edges_list[1:], strict=False)):
        raise ValueError("histogram edges must be at least two increasing numbers")
    values = np.asarray(values, dtype=float)
    if keys is None:
        raise ValueError(f"{item}: a histogram's counts need their record keys")
    record = perturbation.check_keys(keys, values.size)
    clipped = np.clip(values, edges_list[0], edges_list[-1])
    exact = list(np.histogram(clipped, bins=edges_list)[0].astype(int))
    sums = list(np.histogram(clipped, bins=edges_list, weights=record)[0].astype(np.int64))
    floor = rules.histogram_min_bin
    while len(exact) > 1 and any(0 < c < floor for c in exact):
        i = next(j for j, c in enumerate(exact) if 0 < c < floor)
        left = exact[i - 1] if i > 0 else None
        right = exact[i + 1] if i + 1 < len(exact) else None
        j = i - 1 if right is None or (left is not None and left <= right) else i + 1
        low, high = min(i, j), max(i, j)
        exact[low : high + 1] = [exact[low] + exact[high]]
        sums[low : high + 1] = [sums[low] + sums[high]]
        del edges_list[high]
    shown, suppressed = [], []
    for k, c in enumerate(exact):
        bin_item = f"{item}:bin[{edges_list[k]:g},{edges_list[k + 1]:g})"
        value, why = count(c, cell_key([sums[k]]), bin_item, rules)
        if 0 < c < floor and not why:  # the floor can exceed the count threshold
            why = [Suppression(f"{item}:bin{k}", "histogram", f"bin of fewer than {floor}")]
            value = rules.suppressed_mark
        shown.append(None if value == rules.suppressed_mark else int(value))
        suppressed += why
    return SafeHistogram(rules, tuple(suppressed), tuple(edges_list), tuple(shown), _token=_GATE)


# --- the estimates' correlation -------------------------------------------------------------------


def correlation_table(
    correlation: pd.DataFrame, estimates: list[SafeEstimate], rules: Rules | None = None
) -> SafeTable:
    """The headline estimates' correlation across outcomes as it may be shown
    (`released_correlation`): a row (`outcome`) and a column per shown estimate, rounded."""
    frame = released_correlation(correlation, [e.outcome for e in estimates if not e.withheld])
    values = tuple(frame.columns[1:])
    return SafeTable(rules or current_rules(), (), frame, (), values, _token=_GATE)


# --- balance ------------------------------------------------------------------------------------


# Balance statistics are read against 0.1 standard deviations: thousandths are plenty, and
# rounding there turns floating-point noise (6.7e-17 after exact matching) into 0.
BALANCE_DECIMALS = 3


def balance_table(
    balance: pd.DataFrame, group_sizes: dict[str, int], item: str, rules: Rules | None = None
) -> SafeTable:
    """Balance statistics (SMDs, variance ratios) are functions of group means and variances:
    shown only when every group they describe (each arm, before and after matching) holds at
    least as many units as an estimate needs families."""
    rules = rules or current_rules()
    values = tuple(c for c in balance.columns if c != "covariate")
    out = released_columns(balance, values, rules, decimals=BALANCE_DECIMALS)
    small = [k for k, n in group_sizes.items() if n < rules.estimate_min_families]
    suppressed: tuple[Suppression, ...] = ()
    if small:
        out[list(values)] = np.nan
        suppressed = (
            Suppression(
                f"{item}:balance",
                "threshold",
                f"fewer than {rules.estimate_min_families} units in a group ({small[0]})",
            ),
        )
    return SafeTable(rules, suppressed, out, (), values, _token=_GATE)


def effective_sizes(
    efficiency: dict[str, float],
    counts: SafeTable,
    exact: dict[str, int],
    item: str,
    rules: Rules | None = None,
) -> SafeTable:
    """Each matched group's effective size (Kish's ESS under the matching weights) as it may be
    shown: its `efficiency` (ESS over the group's units, 0 to 1), rounded as `released_number`
    rounds a figure about that many families (hundredths from 100, tenths below), and the
    effective number of families: that share of the group's *protected* count, rounded to the
    rounding base. The ESS itself is never released: with equal weights it is the exact count,
    which the count's noise hides. `counts` holds the matched groups ("treated_matched",
    "comparison_matched") as shown; `exact` their exact sizes, for balance's group-size rule."""
    rules = rules or current_rules()
    shown = dict(zip(counts.frame["group"], counts.frame["units"], strict=True))
    rows, suppressed = [], []
    for group, share in efficiency.items():
        units = shown[f"{group}_matched"]
        small = exact[f"{group}_matched"] < rules.estimate_min_families
        if small or pd.isna(units) or not math.isfinite(share):
            rows.append((group, math.nan, pd.NA))
            suppressed.append(
                Suppression(
                    f"{item}:{group}",
                    "threshold",
                    f"fewer than {rules.estimate_min_families} matched units in the group",
                )
            )
            continue
        shown_share = released_number(share, rules, int(units), decimals=2)
        base = rules.count_rounding
        rows.append((group, shown_share, int(round(shown_share * int(units) / base)) * base))
    frame = pd.DataFrame(rows, columns=["group", "efficiency", "families"])
    frame["families"] = frame["families"].astype("Int64")
    return SafeTable(rules, tuple(suppressed), frame, ("families",), ("efficiency",), _token=_GATE)
