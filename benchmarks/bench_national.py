"""Benchmark: the whole pipeline at 10,000, 100,000 and 2,000,000 families (national scale: about
400,000 supported and 1,600,000 comparison families), stage by stage, with peak memory.

    .venv/bin/python benchmarks/bench_national.py                       # all three sizes
    .venv/bin/python benchmarks/bench_national.py --families 10000 100000
    .venv/bin/python benchmarks/bench_national.py --keep DIR            # keep the stores in DIR

For each size it builds a synthetic store with the national programme's mix (support shift -1.0:
about one family in five supported; see tf_eval/data/synth.py), then, each in a fresh process so
that its peak memory is its own:

1. **store build**: `synth.build_demo_store`;
2. **evaluation**: what `python -m tf_eval estimate` runs - the outcome panel (DuckDB), the
   propensity model, 1:1 matching with replacement exact on LA and cohort, balance, and for each
   outcome (tf_eval.data.outcomes) the three estimators (pre-level adjustment, matched DiD, doubly
   robust DiD), the naive change and the placebo (five estimates) and the event study (its
   difference quarter by quarter and its pre-trend test), in two threads, then the disclosure
   gate. Stage times come from the evaluation's own progress reports; propensity fit and
   matching are then timed alone on the same panel (best of 3);
3. **the command itself**: `python -m tf_eval estimate --db STORE --json` end to end (start-up,
   audit log and output included).

Prints Markdown tables for docs/performance.md. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
NATIONAL_SUPPORT_SHIFT = -1.0

BUILD = """
import json, resource, sys, time
from pathlib import Path
from tf_eval.data import synth
started = time.perf_counter()
counts = synth.build_demo_store(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                support_shift=float(sys.argv[4]))
print(json.dumps({"seconds": time.perf_counter() - started, "counts": counts,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

EVALUATE = """
import json, resource, sys, time
from pathlib import Path
import numpy as np
from tf_eval.data import store
from tf_eval.method.estimate import AnalysisSpec, evaluate
from tf_eval.method.matching import NearestNeighbourMatcher
from tf_eval.method.propensity import PropensityModel, design_matrices
from tf_eval.release.results import safe_evaluation

marks = []
started = time.perf_counter()
current = store.Store(Path(sys.argv[1]))
evaluation = evaluate(current, AnalysisSpec(),
                      progress=lambda f, m: marks.append((m, time.perf_counter())))
safe = safe_evaluation(evaluation)
finished = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
stages = {m: b - a for (m, a), (_, b) in zip(marks, marks[1:] + [("gate", finished)])}
families = current.query("SELECT count(*) AS n FROM families")["n"].iloc[0]

# Propensity fit and matching alone, on the panel's families (what the evaluation matched).
from tf_eval.method.panel import build_panel
units = build_panel(current).families
treated = units["treated"].to_numpy()
spec = AnalysisSpec()
design = design_matrices(units, list(spec.covariates)).model
keys = units.groupby(list(spec.exact), sort=True).ngroup().to_numpy()
fit = match = float("inf")
for _ in range(3):
    t0 = time.perf_counter()
    score = PropensityModel().fit(design, treated).predict(design)
    t1 = time.perf_counter()
    NearestNeighbourMatcher(replace=True).fit(score, treated, keys)
    t2 = time.perf_counter()
    fit, match = min(fit, t1 - t0), min(match, t2 - t1)
print(json.dumps({
    "seconds": finished - started, "peak_mib": peak, "stages": stages,
    "families": int(families), "treated": int(treated.sum()), "comparison": int((~treated).sum()),
    "people": {e.outcome: e.n_treated + e.n_comparison for e in evaluation.estimates},
    "propensity_fit": fit, "matching": match, "design_columns": design.shape[1],
    "estimates": {e.outcome: [e.att, e.se] for e in evaluation.estimates},
}))
"""


def _run(code: str, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT
    )
    if result.returncode:
        sys.exit(f"benchmark step failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _command(db: Path) -> dict:
    """`python -m tf_eval estimate` end to end, in a child of a child: its peak is its own."""
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run([sys.executable, '-m', 'tf_eval', 'estimate', '--db', sys.argv[1],"
        " '--json'], capture_output=True)\n"
        "assert r.returncode == 0, r.stderr.decode()\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        'print(\'{"seconds": %f, "peak_mib": %f}\' % (time.perf_counter() - t, peak))\n'
    )
    return _run(code, str(db))


def measure(families: int, seed: int, folder: Path, shift: float) -> dict:
    db = folder / f"national-{families}.duckdb"
    if not db.exists():
        row = {"build": _run(BUILD, str(db), str(families), str(seed), str(shift))}
    else:
        row = {"build": None}
    row["file_mib"] = db.stat().st_size / 2**20
    row["evaluation"] = _run(EVALUATE, str(db))
    row["command"] = _command(db)
    return row


def machine_speed() -> float:
    """Seconds for one 4,000 x 4,000 matrix product on this machine (best of 3): the same code
    gives this machine's times twice apart from hour to hour, and this says which hour it was
    (0.61-0.68 s at its usual speed)."""
    matrix = np.random.default_rng(0).standard_normal((4000, 4000))
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        matrix @ matrix
        best = min(best, time.perf_counter() - started)
    return best


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, nargs="+", default=[10_000, 100_000, 2_000_000])
    parser.add_argument("--seed", type=int, default=2014)
    parser.add_argument("--support-shift", type=float, default=NATIONAL_SUPPORT_SHIFT)
    parser.add_argument("--keep", type=Path, help="build stores here and reuse them if present")
    args = parser.parse_args()
    print(
        f"Machine: {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}, {platform.machine()}; "
        f"support shift {args.support_shift:+g}; machine speed (one 4,000 x 4,000 matrix "
        f"product, best of 3) {machine_speed():.2f} s\n",
        flush=True,
    )
    rows = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for families in args.families:
            started = time.perf_counter()
            rows[families] = measure(families, args.seed, folder, args.support_shift)
            print(
                f"{families:,} families measured in {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    sizes = list(rows)
    header = "| stage | " + " | ".join(f"{n:,} families" for n in sizes) + " |"
    print(header)
    print("|---|" + "---:|" * len(sizes))

    def line(label: str, cells: list[str]) -> None:
        print(f"| {label} | " + " | ".join(cells) + " |")

    evaluations = [rows[n]["evaluation"] for n in sizes]
    line(
        "supported / comparison families",
        [f"{e['treated']:,} / {e['comparison']:,}" for e in evaluations],
    )
    line("people in the matched A&E estimate", [f"{e['people']['ae_use']:,}" for e in evaluations])
    builds = [rows[n]["build"] for n in sizes]
    line("store build", [_seconds(b["seconds"]) if b else "(reused)" for b in builds])
    line("store build, peak memory", [f"{b['peak_mib']:,.0f} MiB" if b else "" for b in builds])
    line("store file", [f"{rows[n]['file_mib']:,.0f} MiB" for n in sizes])
    outcomes = len(evaluations[-1]["estimates"])
    for stage, label in (
        ("Building the outcome panel", "panel (DuckDB)"),
        ("Fitting propensity scores and matching", "propensity, matching, balance"),
        ("Estimating effects", f"estimates ({5 * outcomes}) and event studies, two threads"),
        ("Done", "disclosure gate"),
    ):
        line(label, [_seconds(e["stages"][stage]) for e in evaluations])
    line("propensity fit alone (best of 3)", [_seconds(e["propensity_fit"]) for e in evaluations])
    line("1:1 matching alone (best of 3)", [_seconds(e["matching"]) for e in evaluations])
    line(
        f"**evaluation, all {outcomes} outcomes**",
        [f"**{_seconds(e['seconds'])}**" for e in evaluations],
    )
    line("evaluation, peak memory", [f"{e['peak_mib']:,.0f} MiB" for e in evaluations])
    commands = [rows[n]["command"] for n in sizes]
    line("`python -m tf_eval estimate`, whole command", [_seconds(c["seconds"]) for c in commands])
    line("whole command, peak memory", [f"{c['peak_mib']:,.0f} MiB" for c in commands])
    print(f"\nMachine speed after the runs: {machine_speed():.2f} s")
    print("\nEstimates (ATT, s.e.) at the largest size:")
    for outcome, (att, se) in evaluations[-1]["estimates"].items():
        print(f"- {outcome}: {att:+.4f} ({se:.4f})")


if __name__ == "__main__":
    main()
