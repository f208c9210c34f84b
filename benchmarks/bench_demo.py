"""Benchmark: how long the synthetic demo store takes to build, its peak memory and file size.

    .venv/bin/python benchmarks/bench_demo.py                   # default size and 400,000
    .venv/bin/python benchmarks/bench_demo.py --families 20000 100000

Each build runs in its own process so its peak memory is its own. Prints a Markdown table for
docs/performance.md. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tf_eval import config  # noqa: E402

BUILD = """
import json, resource, sys, time
from pathlib import Path
from tf_eval.data import synth
started = time.perf_counter()
counts = synth.build_demo_store(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
print(json.dumps({"seconds": time.perf_counter() - started, "counts": counts,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(families: int, seed: int, folder: Path) -> dict:
    path = folder / f"demo-{families}.duckdb"
    result = subprocess.run(
        [sys.executable, "-c", BUILD, str(path), str(families), str(seed)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if result.returncode:
        sys.exit(f"build of {families:,} families failed:\n{result.stderr}")
    row = json.loads(result.stdout.strip().splitlines()[-1])
    row["families"] = families
    row["file_mib"] = path.stat().st_size / 2**20
    path.unlink()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, nargs="+", default=[config.DEMO_FAMILIES, 400_000])
    parser.add_argument("--seed", type=int, default=config.DEMO_SEED)
    args = parser.parse_args()
    print(
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.machine()}\n"
    )
    print("| families | people | outcome records | build time | peak memory | store file |")
    print("|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for families in args.families:
            row = measure(families, args.seed, Path(folder))
            counts = row["counts"]
            records = sum(
                counts[t] for t in ("attendance", "offences", "benefit_spells", "ae_attendances")
            )
            print(
                f"| {families:,} | {counts['people']:,} | {records:,} | "
                f"{row['seconds']:.1f} s | {row['peak_mib']:,.0f} MiB | "
                f"{row['file_mib']:,.0f} MiB |",
                flush=True,
            )


if __name__ == "__main__":
    main()
