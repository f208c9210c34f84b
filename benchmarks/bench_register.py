"""Benchmark: what the release register adds to releasing an output (docs/performance.md).

    .venv/bin/python benchmarks/bench_register.py                          # 10,000 and 100,000
    .venv/bin/python benchmarks/bench_register.py --families 10000 --sets 2000000
    .venv/bin/python benchmarks/bench_register.py --keep DIR               # reuse stores in DIR

1. **On a store** (the national programme's mix, as benchmarks/bench_national.py builds it): the
   default evaluation, then `register.release` of its basis (matched and supported families)
   into an empty register; the same output again (found by digest); after 20 earlier releases of
   other calipers (the register's size then), a near one (refused) and a far one (compared with
   every earlier set within 10 of its size); each against the evaluation's own time.
2. **Sets alone, up to national scale** (`--sets`, no store): random pseudonyms, a first release
   (the dictionary grows by every family), the same set again, and a set 5 families away with
   20 earlier sets of about its size (each compared by XOR and popcount).

Prints Markdown tables. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from tf_eval.data import store, synth
from tf_eval.method.estimate import AnalysisSpec, evaluate
from tf_eval.release import register
from tf_eval.release.register import Basis, TooClose

NATIONAL_SUPPORT_SHIFT = -1.0
EARLIER = 20


def _timed(action) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        action()
        outcome = "released"
    except TooClose:
        outcome = "refused"
    return time.perf_counter() - started, outcome


def _neighbours(members: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Worst cases: EARLIER sets of the same size as `members`, each 12 of its families swapped
    for others (24 apart from it, 48 from one another); a set 3 away from the last of them
    (compared with every one before it is refused), and one 24 away from all (compared with
    every one, and released)."""
    fresh = np.arange(1, 12 * (EARLIER + 1) + 1, dtype=np.int64)  # not pseudonyms in use

    def swapped(k: int) -> np.ndarray:
        block = np.arange(12 * k, 12 * k + 12)
        return np.sort(np.concatenate([np.delete(members, block), fresh[block]]))

    earlier = [swapped(k) for k in range(EARLIER)]
    return earlier, earlier[-1][3:], swapped(EARLIER)


def on_store(families: int, folder: Path) -> list[str]:
    path = folder / f"bench-{families}.duckdb"
    if not path.exists():
        synth.build_demo_store(path, families, 2014, support_shift=NATIONAL_SUPPORT_SHIFT)
    register.register_path(path).unlink(missing_ok=True)
    current = store.Store(path)
    rows = []
    try:
        started = time.perf_counter()
        evaluation = evaluate(current, AnalysisSpec())
        seconds = time.perf_counter() - started
        basis = register.evaluation_basis(evaluation)
        sizes = {k: v.size for k, v in basis.parts.items()}

        def release(b: Basis) -> None:
            register.release(current, b, "bench", "bench", "bench")

        first, _ = _timed(lambda: release(basis))
        again, _ = _timed(lambda: release(basis))
        earlier, near_set, far_set = _neighbours(basis.parts["matched"])
        for members in earlier:
            release(Basis({"matched": members}))
        near, near_said = _timed(lambda: release(Basis({"matched": near_set})))
        far, far_said = _timed(lambda: release(Basis({"matched": far_set})))
        size = register.register_path(path).stat().st_size / 2**20
    finally:
        current.close()
    rows.append(
        f"| {families:,} | {sizes['matched']:,} + {sizes['supported']:,} | {seconds:.2f} s | "
        f"{first * 1000:.0f} ms ({first / seconds:.0%}) | {again * 1000:.0f} ms | "
        f"{near * 1000:.0f} ms ({near_said}) | {far * 1000:.0f} ms ({far_said}) | {size:.1f} MiB |"
    )
    return rows


class _Stand:
    """What release() needs of a store: where it is and what kind."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def info(self) -> dict[str, str]:
        return {"kind": "real", "created_at": "bench"}


def sets_alone(size: int, folder: Path) -> str:
    rng = np.random.default_rng(16)
    ids = np.unique(rng.integers(2**40, 2**62, size=size + size // 100))[:size]
    stand = _Stand(folder / f"sets-{size}.duckdb")
    register.register_path(stand.path).unlink(missing_ok=True)

    def release(members: np.ndarray) -> None:
        register.release(stand, Basis({"matched": members}), "bench", "bench", "bench")

    first, _ = _timed(lambda: release(ids))
    again, _ = _timed(lambda: release(ids))
    earlier, near_set, far_set = _neighbours(ids)
    for members in earlier:
        release(members)
    near, said = _timed(lambda: release(near_set))
    far, far_said = _timed(lambda: release(far_set))
    megabytes = register.register_path(stand.path).stat().st_size / 2**20
    return (
        f"| {size:,} | {first:.2f} s | {again * 1000:.0f} ms | {near * 1000:.0f} ms ({said}) | "
        f"{far * 1000:.0f} ms ({far_said}) | {megabytes:.0f} MiB |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--sets", type=int, nargs="*", default=[100_000, 2_000_000])
    parser.add_argument("--keep", type=Path, help="build stores here and reuse them if present")
    args = parser.parse_args()
    print(f"Machine: {platform.platform()}, {platform.processor() or 'cpu'}\n")
    with tempfile.TemporaryDirectory(prefix="tf-eval-bench-register-") as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        warm = _Stand(Path(temporary) / "warm-up.duckdb")  # load DuckDB and numpy first
        register.release(warm, Basis({"matched": np.arange(100)}), "bench", "bench", "bench")
        print(
            "| families | matched + supported | evaluation | first release | same again | "
            f"near, after {EARLIER} | far, after {EARLIER + 1} | register file |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for families in args.families:
            for row in on_store(families, folder):
                print(row, flush=True)
        print(
            f"\n| families in the set | first release | same again | near, after {EARLIER} | "
            f"far, after {EARLIER + 1} | register file |"
        )
        print("|---:|---:|---:|---:|---:|---:|")
        for size in args.sets:
            print(sets_alone(size, folder), flush=True)


if __name__ == "__main__":
    main()
