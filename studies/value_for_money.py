"""Coverage of the value-for-money intervals (issue 20): how often the 95% interval of the return
per pound spent covers the planted truth x unit cost, drawing the outcomes jointly with the
estimates' correlation (as released) and, beside it, independently; and whether the engine's
correlation of two outcomes' estimates is the correlation their estimates show across seeds.

    .venv/bin/python studies/value_for_money.py --seeds 100 --workers 2
    .venv/bin/python studies/value_for_money.py --seeds 50 --first-seed 51 --out /tmp/vfm-2.csv
    .venv/bin/python studies/value_for_money.py --from /tmp/vfm-*.csv

Each seed builds a fresh demo store (20,000 families by default, its truths kept by family as
studies/monte_carlo.py does) and, for the whole store, one LA and one LA x cohort (the Monte
Carlo study's specs of those names), runs the evaluation, the disclosure gate and the value for
money with the default unit costs, one year undiscounted, as the command line would: only
estimates the gate shows, at their released precision, people per family from the released
counts. The truth is the same sum with each outcome's planted effect (over the supported
families the matching kept) in place of its estimate. The programme's cost divides the interval
and the truth alike, so the coverage of the return per pound is that of the benefit per family,
whatever the cost.

Reports per spec, measure and draws (joint or independent): the seeds, the coverage, the mean
truth and estimate (pounds per family), and the spread of the seeds' estimates over the
interval's implied standard error (half-width / 1.96): 1 when the draws have the spread right,
above 1 when the interval is too narrow. Then, for pairs of outcomes whose estimates rest on the
same families, the correlation of the whole store's estimates' errors (estimate less truth)
across seeds beside the engine's mean over the seeds and the first's Monte Carlo standard error,
(1 - r^2) / sqrt(seeds).
Not part of the test run (about 25 s a seed on two busy cores); tests/test_value.py and
tests/test_joint.py check the machinery.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "studies"))

from monte_carlo import SPECS, matched_truth, seed_store  # noqa: E402

from tf_eval.method.estimate import Evaluation, evaluate  # noqa: E402
from tf_eval.method.unit_costs import read_costs, units_avoided_per_year  # noqa: E402
from tf_eval.method.value_model import MEASURES, Settings  # noqa: E402
from tf_eval.release.results import SafeResults, safe_evaluation  # noqa: E402
from tf_eval.release.value import ValueSettings, value_for_money  # noqa: E402

STUDIED = ("default", "one LA", "one LA x cohort")
# Pairs of outcomes of the same people or families, for the correlation check.
PAIRS = (
    ("offending", "juvenile_conviction"),
    ("offending", "custody_adult"),
    ("custody_juvenile", "juvenile_conviction"),
    ("attendance", "ae_use"),
    ("ae_use", "looked_after"),
)
COST = 1000.0  # pounds per family: any cost scales the interval and the truth alike


def value_rows(results: SafeResults, truth: dict[str, float]) -> list[dict]:
    """The return per pound's interval and its truth, fiscal and economic, with the draws joint
    (the released correlation) and independent (none), for one evaluation's released results
    and the planted truth of each outcome (engine units, for the families it rests on)."""
    months = int(results.options["follow_up_months"])
    settings = ValueSettings(Settings(COST, years=1, discount=0.0), read_costs())
    rows = []
    apart = dataclasses.replace(results, correlation=None)
    for draws, released in (("joint", results), ("independent", apart)):
        vfm = value_for_money(released, settings)
        if draws == "joint" and vfm.correlation is None:
            raise ValueError("the released results hold no correlation to draw with")
        target = dict.fromkeys(MEASURES, 0.0)
        for r in vfm.outcomes:
            if r.benefit is None or r.cost is None or r.people_per_family is None:
                continue
            units = truth[r.outcome] * units_avoided_per_year(r.outcome, months)
            for m in MEASURES:
                target[m] += units * r.people_per_family * getattr(r.cost, m) / COST
        for m in MEASURES:
            found = vfm.figures.ratio[m]
            rows.append(
                {
                    "measure": m,
                    "draws": draws,
                    "outcomes": sum(r.benefit is not None for r in vfm.outcomes),
                    "truth": target[m],
                    "estimate": found.estimate,
                    "low": found.low,
                    "high": found.high,
                    "covered": found.low <= target[m] <= found.high,
                }
            )
    return rows


def _errors(evaluation: Evaluation, truth: dict[str, float]) -> dict[str, float]:
    """The whole store's estimates' errors (estimate less the planted truth: across seeds the
    truth moves too, with the families drawn, and that is no error) and the engine's
    correlation of each pair, for the check."""
    found = {f"error:{e.outcome}": e.att - truth[e.outcome] for e in evaluation.estimates}
    if evaluation.correlation is not None:
        for a, b in PAIRS:
            found[f"r:{a}:{b}"] = float(evaluation.correlation.loc[a, b])
    return found


def one_seed(seed: int, families: int) -> list[dict]:
    """Every studied spec's value-for-money rows on one seed's demo store."""
    rows = []
    with seed_store(seed, families) as (shared, family_truth):
        for name in STUDIED:
            spec = SPECS[name]
            evaluation = evaluate(shared, spec)
            kept = evaluation.matching.treated.astype(bool) & (evaluation.matching.weights > 0)
            ids = evaluation.family_ids[kept]
            truth = matched_truth(family_truth, ids, spec.follow_up_months)
            extra = _errors(evaluation, truth) if name == "default" else {}
            for row in value_rows(safe_evaluation(evaluation), truth):
                rows.append({"seed": seed, "spec": name, **row, **extra})
    return rows


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    groups = rows.assign(implied_se=(rows["high"] - rows["low"]) / (2 * 1.96)).groupby(
        ["spec", "measure", "draws"], sort=False
    )
    table = groups.agg(
        seeds=("seed", "nunique"),
        coverage=("covered", "mean"),
        truth=("truth", "mean"),
        estimate=("estimate", "mean"),
        sd=("estimate", "std"),
        implied_se=("implied_se", "mean"),
    )
    table["sd_over_se"] = table["sd"] / table["implied_se"]
    return table.reset_index()


def correlations(rows: pd.DataFrame) -> pd.DataFrame:
    """Per pair: the correlation of the whole store's estimates' errors across seeds, the
    engine's mean and spread over the seeds, and the former's Monte Carlo standard error."""
    seeds = rows[rows["spec"] == "default"].drop_duplicates("seed")
    out = []
    for a, b in PAIRS:
        both = seeds[[f"error:{a}", f"error:{b}", f"r:{a}:{b}"]].dropna()
        across = float(np.corrcoef(both[f"error:{a}"], both[f"error:{b}"])[0, 1])
        out.append(
            {
                "pair": f"{a} / {b}",
                "seeds": len(both),
                "across_seeds": across,
                "mc_se": (1 - across**2) / np.sqrt(len(both)),
                "engine": both[f"r:{a}:{b}"].mean(),
                "engine_sd": both[f"r:{a}:{b}"].std(),
            }
        )
    return pd.DataFrame(out)


def markdown(table: pd.DataFrame, pairs: pd.DataFrame) -> str:
    lines = [
        "| spec | measure | draws | seeds | coverage | mean truth (£ per £1) | mean estimate | "
        "SD / SE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.spec} | {r.measure} | {r.draws} | {r.seeds} | {r.coverage:.1%} | "
            f"{r.truth:.3f} | {r.estimate:.3f} | {r.sd_over_se:.2f} |"
        )
    lines += [
        "",
        "| outcomes | seeds | correlation across seeds (MC SE) | engine's, mean (SD) |",
        "|---|---|---|---|",
    ]
    for r in pairs.itertuples():
        lines.append(
            f"| {r.pair} | {r.seeds} | {r.across_seeds:.2f} ({r.mc_se:.2f}) | "
            f"{r.engine:.2f} ({r.engine_sd:.2f}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--families", type=int, default=20_000)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write every seed's rows to this CSV")
    saved = "summarise CSVs written by --out (runs of seeds in batches) instead of running"
    parser.add_argument("--from", dest="saved", type=Path, nargs="+", help=saved)
    args = parser.parse_args()
    if args.saved:
        rows = pd.concat([pd.read_csv(path) for path in args.saved], ignore_index=True)
    else:
        seeds = list(range(args.first_seed, args.first_seed + args.seeds))
        found: list[dict] = []
        with ProcessPoolExecutor(args.workers) as pool:
            sizes = [args.families] * len(seeds)
            for done, batch in enumerate(pool.map(one_seed, seeds, sizes)):
                found.extend(batch)
                print(f"seed {done + 1} of {len(seeds)} done", file=sys.stderr, flush=True)
        rows = pd.DataFrame(found)
        if args.out:
            rows.to_csv(args.out, index=False)
    print(f"{rows['seed'].nunique()} seeds\n")
    print(markdown(summarise(rows), correlations(rows)))


if __name__ == "__main__":
    main()
