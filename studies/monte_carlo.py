"""Monte Carlo check of the method: bias and 95% CI coverage of the matched DiD per outcome.

    .venv/bin/python studies/monte_carlo.py                 # 100 seeds of 20,000 families
    .venv/bin/python studies/monte_carlo.py --seeds 200 --families 10000 --workers 2

Each seed builds a fresh demo store (tf_eval.data.synth) and runs the default evaluation
(tf_eval.method.estimate), then compares each estimate with that store's planted truth. Reports, per
outcome: the mean truth, bias (mean estimate - truth), RMSE, how often the 95% CI covered the
truth, the mean CI width; the same for the naive before/after change; and how often the placebo
CI covered zero. Not part of the test run (it takes minutes); figures go in docs/method.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tf_eval.data import store, synth  # noqa: E402
from tf_eval.method.estimate import AnalysisSpec, evaluate  # noqa: E402


def one_seed(seed: int, families: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mc.duckdb"
        synth.build_demo_store(path, families, seed)
        with duckdb.connect(str(path), read_only=True) as con:
            truth = dict(con.execute("SELECT outcome, true_att FROM demo_truth").fetchall())
        shared = store.Store(path)
        evaluation = evaluate(shared, AnalysisSpec())
        shared.close()
    rows = []
    for kind, estimates in (
        ("matched", evaluation.estimates),
        ("naive", evaluation.naive),
        ("placebo", evaluation.placebo),
    ):
        for e in estimates:
            target = 0.0 if kind == "placebo" else truth[e.outcome]
            rows.append(
                {
                    "seed": seed,
                    "kind": kind,
                    "outcome": e.outcome,
                    "truth": target,
                    "estimate": e.att,
                    "covered": e.ci_low <= target <= e.ci_high,
                    "width": e.ci_high - e.ci_low,
                }
            )
    return rows


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    results = results.assign(error=results["estimate"] - results["truth"])
    table = results.groupby(["kind", "outcome"], sort=False).agg(
        truth=("truth", "mean"),
        bias=("error", "mean"),
        rmse=("error", lambda e: float(np.sqrt(np.mean(e**2)))),
        coverage=("covered", "mean"),
        ci_width=("width", "mean"),
        seeds=("seed", "nunique"),
    )
    # Bias's own Monte Carlo error, to judge whether it is distinguishable from zero.
    table["bias_se"] = results.groupby(["kind", "outcome"], sort=False)["error"].sem()
    return table.reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--families", type=int, default=20_000)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    with ProcessPoolExecutor(args.workers) as pool:
        rows = [
            r for batch in pool.map(one_seed, seeds, [args.families] * args.seeds) for r in batch
        ]
    table = summarise(pd.DataFrame(rows))
    print(
        f"{args.seeds} seeds x {args.families:,} families, default evaluation "
        "(1:1 nearest neighbour, exact on LA and index quarter, 12-month follow-up)\n"
    )
    print(
        "| estimate | outcome | mean truth | bias (MC s.e.) | RMSE | 95% CI coverage | "
        "mean CI width |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in table.itertuples():
        print(
            f"| {r.kind} | {r.outcome} | {r.truth:+.4f} | {r.bias:+.4f} ({r.bias_se:.4f}) | "
            f"{r.rmse:.4f} | {r.coverage:.0%} | {r.ci_width:.4f} |"
        )


if __name__ == "__main__":
    main()
