"""The disclosure rules in force, and the checks made before any work is done.

These are policy, not the gate: the thresholds a deployment sets in one TOML file
(`disclosure.toml`, or the file named by TF_EVAL_DISCLOSURE_CONFIG), the record of one thing
withheld (`Suppression`, which the audit trail logs), and the selection floor (`check_selection`),
which the evaluation applies before it matches anyone. They sit in the lowest stage so that the
audit trail, the method and the gate (`tf_eval.release.disclosure`) all read the same rules.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from tf_eval import config

# More significant figures than this would let a released mean be inverted to its exact count.
MAX_SIGNIFICANT_FIGURES = 6


class DisclosureConfigError(ValueError):
    """The disclosure config file cannot be used; the message names the file and the setting."""


class SelectionRefused(ValueError):
    """A selection too small to show anything about without risking disclosure by differencing."""


# Bounds on the perturbation settings: noise larger than these would swamp small counts and means.
MAX_NOISE = 10  # perturbation_max
MAX_SUM_NOISE = 5  # sum_perturbation


@dataclass(frozen=True)
class Rules:
    """The disclosure rules in force, each validated so a bad config fails at start-up."""

    count_threshold: int = config.COUNT_THRESHOLD  # counts 1..threshold-1 are suppressed
    count_rounding: int = config.COUNT_ROUNDING  # other counts rounded to a multiple of this
    perturbation_max: int = config.PERTURBATION_MAX  # cell-key noise on counts, at most this
    sum_perturbation: float = config.SUM_PERTURBATION  # ... on a mean's sum, x largest contribution
    suppressed_mark: str = config.SUPPRESSED_MARK
    proportion_min: int = config.PROPORTION_MIN  # people on each side of a 0/1 rate
    dominance_n: int = config.DOMINANCE_N  # the n largest contributors ...
    dominance_k: float = config.DOMINANCE_K  # ... must be below this share of the total
    p_ratio: float = config.P_RATIO  # total minus the two largest >= this share of the largest
    estimate_min_families: int = config.ESTIMATE_MIN_FAMILIES  # per matched arm
    estimate_min_df: int = config.ESTIMATE_MIN_DF
    selection_min_families: int = config.SELECTION_MIN_FAMILIES  # differencing floor per arm
    histogram_min_bin: int = config.HISTOGRAM_MIN_BIN
    differencing_min_families: int = config.DIFFERENCING_MIN_FAMILIES  # between two outputs
    significant_figures: int = config.SIGNIFICANT_FIGURES  # of released estimates and means

    def __post_init__(self) -> None:
        for name in (
            "count_threshold",
            "count_rounding",
            "proportion_min",
            "dominance_n",
            "estimate_min_families",
            "estimate_min_df",
            "selection_min_families",
            "histogram_min_bin",
            "differencing_min_families",
            "significant_figures",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DisclosureConfigError(f"{name} must be a whole number >= 1, not {value!r}")
        if self.significant_figures > MAX_SIGNIFICANT_FIGURES:
            raise DisclosureConfigError(
                f"significant_figures must be at most {MAX_SIGNIFICANT_FIGURES}, not "
                f"{self.significant_figures!r} (more would let a mean give away its count)"
            )
        value = self.perturbation_max
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_NOISE:
            raise DisclosureConfigError(
                f"perturbation_max must be a whole number from 1 to {MAX_NOISE}, not {value!r}"
            )
        for name, low, high in (
            ("dominance_k", 0, 1),
            ("p_ratio", 0, 1),
            ("sum_perturbation", 0, MAX_SUM_NOISE),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DisclosureConfigError(f"{name} must be a number, not {value!r}")
            if not low < value <= high:
                raise DisclosureConfigError(f"{name} must be above {low} and at most {high}")
        if not isinstance(self.suppressed_mark, str) or not self.suppressed_mark.strip():
            raise DisclosureConfigError("suppressed_mark must be a non-empty string")
        assert set(RULE_DESCRIPTIONS) == {f.name for f in fields(self)}

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# What each rule means, for people reading the rules in force (the Disclosure page, the report).
RULE_DESCRIPTIONS = {
    "count_threshold": "counts from 1 to one below this are suppressed",
    "count_rounding": "every other count is rounded to a multiple of this (so is a rare 0/1 "
    "outcome's interval's df, which needs more than this many families with it in a group)",
    "perturbation_max": "before rounding, every count not suppressed gets consistent noise of at "
    "most this much (cell-key method)",
    "sum_perturbation": "the sum behind each mean or rate gets consistent noise of at most this "
    "many times its largest single contribution",
    "suppressed_mark": "how a suppressed value is shown",
    "proportion_min": "a rate needs this many people with, and this many without, the outcome; "
    "an estimate of a 0/1 outcome, this many per group compared, counted over the groups",
    "dominance_n": "dominance check: this many largest contributors ...",
    "dominance_k": "... must be under this share of the total",
    "p_ratio": "the rest of a group must sum to at least this share of its largest value",
    "estimate_min_families": "an estimate needs this many families in each group compared",
    "estimate_min_df": "an estimate needs this many residual degrees of freedom",
    "selection_min_families": "a selection needs this many supported and comparison families",
    "histogram_min_bin": "histogram bins under this are merged or suppressed",
    "differencing_min_families": "two released outputs rest on the same families or on at "
    "least this many different ones",
    "significant_figures": "estimates, means and balance are shown to this many significant "
    "figures (and never finer than one unit over the people behind them)",
}


def load_rules(path: Path | None = None) -> Rules:
    """The rules from a TOML file's [disclosure] table (defaults for what it leaves out). A
    missing default file means the defaults; a named file that is missing is an error."""
    named = path or os.environ.get(config.DISCLOSURE_CONFIG_ENV_VAR)
    file = Path(named) if named else config.DEFAULT_DISCLOSURE_CONFIG
    if not file.exists():
        if named:
            raise DisclosureConfigError(f"disclosure config {file} does not exist")
        return Rules()
    try:
        table = tomllib.loads(file.read_text(encoding="utf-8")).get("disclosure", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DisclosureConfigError(f"{file}: not valid TOML ({exc})") from None
    known = {f.name for f in fields(Rules)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise DisclosureConfigError(
            f"{file}: unknown setting {unknown[0]!r} in [disclosure] "
            f"(known: {', '.join(sorted(known))})"
        )
    try:
        return Rules(**table)
    except DisclosureConfigError as exc:
        raise DisclosureConfigError(f"{file}: {exc}") from None


@lru_cache(maxsize=1)
def current_rules() -> Rules:
    """The rules in force for this process (read once)."""
    return load_rules()


@dataclass(frozen=True)
class Suppression:
    """One thing that was not shown, the rule that withheld it, and why."""

    item: str
    rule: str
    reason: str


# The only dimensions a user may filter on.
FILTER_DIMENSIONS = ("la", "cohort", "family_type", "outcome")


def check_selection(
    filters: dict[str, object],
    treated_families: int,
    comparison_families: int,
    rules: Rules | None = None,
) -> None:
    """Refuse a selection that filters on anything but the whitelisted dimensions, or whose
    treated or comparison group is under the floor: two such selections differing by a few
    families would let someone work out figures about those families by subtraction."""
    rules = rules or current_rules()
    unknown = [k for k, v in filters.items() if v is not None and k not in FILTER_DIMENSIONS]
    if unknown:
        raise SelectionRefused(
            f"cannot filter on {unknown[0]!r}: only {', '.join(FILTER_DIMENSIONS)} are allowed"
        )
    floor = rules.selection_min_families
    if min(treated_families, comparison_families) < floor:
        chosen = ", ".join(f"{k} {v}" for k, v in filters.items() if v is not None) or "all"
        group = "supported" if treated_families < floor else "comparison"
        raise SelectionRefused(
            f"this selection ({chosen}) has fewer than {floor} {group} families, too few to "
            "show results without risking that someone could be identified; choose a wider one"
        )
