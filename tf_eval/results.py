"""Engine results as the JSON of design.md section 6: counts protected by the 10-5 rule, every
estimate either shown or withheld with its reason, and every suppression listed with why."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import pandas as pd

from tf_eval import config, disclosure
from tf_eval.estimate import Estimate, Evaluation, Matching
from tf_eval.matchfile import FileMatch

_ESTIMATE_FIELDS = ("att", "se", "ci_low", "ci_high", "p_value")


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


class _Protected:
    """Builds one output's JSON, keeping the list of what it suppressed and why."""

    def __init__(self) -> None:
        self.suppressed: list[dict[str, str]] = []

    def count(self, item: str, n: int) -> int | str:
        shown = disclosure.protect_count(n)
        if shown == config.SUPPRESSED_MARK:
            self.suppressed.append({"item": item, "reason": "count of 1-9 (10-5 rule)"})
        return shown

    def estimates(self, kind: str, estimates: list[Estimate]) -> list[dict[str, Any]]:
        rows = []
        for e in estimates:
            item = f"{kind}:{e.outcome}"
            arms = (
                [e.families_treated, e.families_comparison] if e.compared else [e.families_treated]
            )
            reason = disclosure.estimate_withheld(arms, e.df_resid)
            if reason:
                self.suppressed.append({"item": item, "reason": reason})
            rows.append(
                {
                    "outcome": e.outcome,
                    **{k: None if reason else _number(getattr(e, k)) for k in _ESTIMATE_FIELDS},
                    "n_treated": self.count(f"{item}:n_treated", e.n_treated),
                    "n_comparison": self.count(f"{item}:n_comparison", e.n_comparison),
                    "families_treated": self.count(f"{item}:families_treated", e.families_treated),
                    "families_comparison": self.count(
                        f"{item}:families_comparison", e.families_comparison
                    ),
                    "suppressed": reason is not None,
                    "reason": reason,
                }
            )
        return rows

    def matching(self, matching: Matching, options: dict[str, Any]) -> dict[str, Any]:
        return {
            "options": options,
            "counts": {k: self.count(f"counts:{k}", v) for k, v in matching.counts.items()},
            "balance": _balance(matching.balance),
            "dropped_covariates": matching.dropped_covariates,
        }

    def disclosure(self) -> dict[str, Any]:
        return {"rules": disclosure.rules(), "suppressed": self.suppressed}


def _balance(balance: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "covariate": row.covariate,
            "smd_before": _number(row.smd_before),
            "smd_after": _number(row.smd_after),
            "variance_ratio_after": _number(row.variance_ratio_after),
        }
        for row in balance.itertuples()
    ]


def evaluation_json(evaluation: Evaluation) -> dict[str, Any]:
    out = _Protected()
    result = out.matching(evaluation.matching, asdict(evaluation.spec))
    result["estimates"] = out.estimates("estimate", evaluation.estimates)
    result["naive"] = out.estimates("naive", evaluation.naive)
    result["placebo"] = out.estimates("placebo", evaluation.placebo)
    result["excluded_families"] = {
        reason: out.count(f"excluded:{reason}", n) for reason, n in evaluation.excluded.items()
    }
    result["disclosure"] = out.disclosure()
    return result


def file_match_json(match: FileMatch, options: dict[str, Any]) -> dict[str, Any]:
    """As evaluation_json; here a 'family' is a cluster: the rows sharing an --id value, or one
    row when no --id is given."""
    out = _Protected()
    result = out.matching(match.matching, options)
    result["estimates"] = out.estimates("estimate", match.estimates)
    result["disclosure"] = out.disclosure()
    return result
