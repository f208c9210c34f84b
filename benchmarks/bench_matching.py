"""Benchmark: how long nearest-neighbour matching takes on large samples, alone and with the
propensity-score fit before it.

    .venv/bin/python benchmarks/bench_matching.py
    .venv/bin/python benchmarks/bench_matching.py --treated 10000 100000 --repeats 5

Matching alone: treated scores come from Beta(3, 2) and controls' from Beta(2, 3), four controls per
treated unit: the pools overlap but thin out at opposite ends, as real propensity scores do. Fit and
match: 12 standard-normal covariates, treatment drawn from a logistic model that makes about one
unit in five treated; the logistic fit, the scores and 1:1 matching are timed together. Each setting
is timed `--repeats` times and the best is kept (the others measure the machine's other work).
Prints a Markdown table for docs/performance.md. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tf_eval.method.matching import NearestNeighbourMatcher  # noqa: E402
from tf_eval.method.propensity import PropensityModel  # noqa: E402

CONTROLS_PER_TREATED = 4
STRATA = 200


def sample(n_treated: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores, treatment flags (shuffled rows) and exact keys for one benchmark sample."""
    rng = np.random.default_rng(seed)
    n_control = CONTROLS_PER_TREATED * n_treated
    score = np.concatenate([rng.beta(3, 2, n_treated), rng.beta(2, 3, n_control)])
    treated = np.arange(score.size) < n_treated
    rows = rng.permutation(score.size)
    return score[rows], treated[rows], rng.integers(0, STRATA, score.size)


def measure(matcher: NearestNeighbourMatcher, data: tuple, exact: bool, repeats: int) -> dict:
    score, treated, keys = data
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        matcher.fit(score, treated, keys if exact else None)
        best = min(best, time.perf_counter() - started)
    found = matcher.match_matrix_[matcher.match_matrix_ >= 0]
    return {
        "seconds": best,
        "matched": np.count_nonzero((matcher.match_matrix_ >= 0).any(axis=1)),
        "controls": np.unique(found).size,
    }


def fit_and_match(n_treated: int, seed: int, repeats: int) -> dict:
    """Propensity fit + scores + 1:1 matching on a sample with about n_treated treated units."""
    rng = np.random.default_rng(seed)
    n = (1 + CONTROLS_PER_TREATED) * n_treated
    X = pd.DataFrame(rng.standard_normal((n, 12)), columns=[f"x{i}" for i in range(12)])
    logit = X.to_numpy() @ rng.uniform(-0.4, 0.4, 12) - 1.45
    treated = rng.random(n) < 1 / (1 + np.exp(-logit))
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        score = PropensityModel().fit(X, treated).predict(X)
        matcher = NearestNeighbourMatcher().fit(score, treated)
        best = min(best, time.perf_counter() - started)
    return {
        "seconds": best,
        "treated": int(treated.sum()),
        "controls": int((~treated).sum()),
        "matched": np.count_nonzero(matcher.match_matrix_ >= 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--treated", type=int, nargs="+", default=[10_000, 100_000, 250_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    largest = max(args.treated)
    settings = [
        (n, "1:1, without replacement", NearestNeighbourMatcher(), False) for n in args.treated
    ]
    settings += [
        (largest, f"1:1, {STRATA} exact strata", NearestNeighbourMatcher(), True),
        (largest, "1:2, without replacement", NearestNeighbourMatcher(ratio=2), False),
        (largest, "1:1, with replacement", NearestNeighbourMatcher(replace=True), False),
        (largest, "1:1, caliper 0.05 SD", NearestNeighbourMatcher(caliper=0.05), False),
    ]
    print(
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, {platform.machine()}; best of {args.repeats}\n"
    )
    print("| treated | controls | matching | time | treated matched | controls used |")
    print("|---:|---:|---|---:|---:|---:|")
    samples = {n: sample(n, args.seed) for n in sorted(set(args.treated))}
    for n, label, matcher, exact in settings:
        row = measure(matcher, samples[n], exact, args.repeats)
        print(
            f"| {n:,} | {CONTROLS_PER_TREATED * n:,} | {label} | {row['seconds']:.2f} s | "
            f"{row['matched']:,} | {row['controls']:,} |",
            flush=True,
        )
    for n in args.treated:
        row = fit_and_match(n, args.seed, args.repeats)
        print(
            f"| {row['treated']:,} | {row['controls']:,} | propensity fit (12 covariates) + "
            f"1:1 | {row['seconds']:.2f} s | {row['matched']:,} | {row['matched']:,} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
