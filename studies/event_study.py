"""Monte Carlo check of the event study (tf_eval.method.event_study): over many demo stores, how
often each pre-period quarter's 95% interval covers 0 (the truth: support cannot act before the
index date) and how often the joint pre-trend test rejects at 5%, on the default demo (its size:
about 5% is right) and on the variant whose supported families diverge over the year before
support (`pre_divergence`: its power). As the Monte Carlo study does, it counts what the
disclosure gate shows: a quarter or a pre-trend test withheld (a rare outcome's, at one LA) is
seen by no one, and the table says what share was shown.

    .venv/bin/python studies/event_study.py                              # 100 seeds, both demos
    .venv/bin/python studies/event_study.py --seeds 60 --stores '/tmp/mcs/s{seed}.duckdb'
    .venv/bin/python studies/event_study.py --demo divergent --seeds 20 --out /tmp/es.csv

`--stores PATTERN` reads existing default demo stores (20,000 families, seed in the name)
instead of building them (read-only copies: nothing is written to them). Not part of the test
run; its table is in docs/method.md ("The event study").
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tf_eval import config  # noqa: E402
from tf_eval.data import store, synth  # noqa: E402
from tf_eval.method.estimate import AnalysisSpec, evaluate  # noqa: E402
from tf_eval.method.event_study import REFERENCE_MONTH  # noqa: E402
from tf_eval.release.results import safe_evaluation  # noqa: E402

SPECS: dict[str, AnalysisSpec] = {
    "default": AnalysisSpec(),
    "24 months": AnalysisSpec(follow_up_months=24),
    "one LA": AnalysisSpec(la="LA03"),
}
DEMOS = {"default": 0.0, "divergent": synth.PRE_DIVERGENCE_DEMO}


def one_seed(seed: int, families: int, divergence: float, pattern: str | None) -> list[dict]:
    """Every pre-period quarter and pre-trend test of every spec on one seed's demo store."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="es-") as folder:
        path = Path(folder) / "es.duckdb"
        if pattern and not divergence:
            shutil.copyfile(pattern.format(seed=seed), path)
        else:
            synth.build_demo_store(path, families, seed, pre_divergence=divergence)
        shared = store.Store(path)
        try:
            for name, spec in SPECS.items():
                evaluation = evaluate(shared, spec)
                released = {s.outcome: s for s in safe_evaluation(evaluation).event_study}
                for study in evaluation.event_study or []:
                    p = None if study.pretrend is None else study.pretrend.p_value()
                    gated = released[study.outcome]
                    for month, e in study.cells:
                        rows.append(
                            {
                                "seed": seed,
                                "spec": name,
                                "outcome": study.outcome,
                                "month": month,
                                "estimate": e.att,
                                "se": e.se,
                                "covered": e.ci_low <= 0 <= e.ci_high,
                                "pretrend_p": p,
                                # What a user would see: the quarter, and the test's p-value.
                                "shown": not gated.cells[month].withheld,
                                "pretrend_shown": gated.pretrend_p_value is not None,
                            }
                        )
        finally:
            shared.close()
    return rows


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Per spec and outcome, over what the disclosure gate shows (as the Monte Carlo study
    counts: a quarter or a test withheld is seen by no one): coverage of 0 by the pre-period
    quarters' intervals (all of them, and the worst quarter), and the joint test's rejection
    rate at 5%; with the share of pre-period quarters and of tests shown, and `seeds`, how many
    seeds' tests were shown (none: no row's test was)."""
    before = results[results["month"] < REFERENCE_MONTH]
    tests = results.drop_duplicates(["seed", "spec", "outcome"])
    quarters_shown = before.groupby(["spec", "outcome"], sort=False)["shown"].mean()
    tests_shown = tests.groupby(["spec", "outcome"], sort=False)["pretrend_shown"].mean()
    before = before[before["shown"]]
    tests = tests[tests["pretrend_shown"]]
    coverage = before.groupby(["spec", "outcome"], sort=False)["covered"].mean()
    worst = (
        before.groupby(["spec", "outcome", "month"], sort=False)["covered"]
        .mean()
        .groupby(["spec", "outcome"], sort=False)
        .min()
    )
    z = before["estimate"] / before["se"]
    spread = before.assign(z=z).groupby(["spec", "outcome"], sort=False)["z"].std()
    rejected = tests.groupby(["spec", "outcome"], sort=False)["pretrend_p"].agg(
        lambda p: float((p.dropna() < config.EVIDENCE_ALPHA).mean())
    )
    seeds = tests.groupby(["spec", "outcome"], sort=False)["seed"].nunique()
    return pd.DataFrame(
        {
            "seeds": seeds,
            "quarters_shown": quarters_shown,
            "tests_shown": tests_shown,
            "pre_coverage": coverage,
            "worst_quarter": worst,
            "sd_of_t": spread,
            "rejects": rejected,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--families", type=int, default=config.DEMO_FAMILIES)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--demo", choices=[*DEMOS, "both"], default="both")
    parser.add_argument("--stores", help="existing default demo stores, e.g. /tmp/s{seed}.duckdb")
    parser.add_argument("--out", type=Path, help="write every quarter's estimate as CSV")
    args = parser.parse_args()
    demos = list(DEMOS) if args.demo == "both" else [args.demo]
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    frames = []
    for demo in demos:
        with ProcessPoolExecutor(args.workers) as pool:
            jobs = [
                pool.submit(one_seed, seed, args.families, DEMOS[demo], args.stores)
                for seed in seeds
            ]
            rows = [row for job in jobs for row in job.result()]
        frame = pd.DataFrame(rows).assign(demo=demo)
        frames.append(frame)
        print(f"\n{demo} demo, {len(seeds)} seeds of {args.families:,} families")
        print(summarise(frame).round(3).to_string())
    if args.out:
        pd.concat(frames).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
