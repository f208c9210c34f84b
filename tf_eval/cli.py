"""The command line: `python -m tf_eval COMMAND` (design.md section 6).

A user mistake (bad flag, bad value, unusable store) ends with one line on stderr and a non-zero
exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from tf_eval import __version__, config, store, synth


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _bounded_int(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low:,}-{high:,}")
        return value

    return parse


def _parser() -> _Parser:
    parser = _Parser(
        prog="python -m tf_eval",
        description="tf-eval: evaluate family-support programmes on pseudonymised linked records.",
    )
    parser.add_argument("--version", action="version", version=f"tf-eval {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="build a synthetic demo store with planted effects",
        description="Build a synthetic linked store (families, people, programme and outcome "
        "records) with planted effects; the true effects go in table demo_truth. Replaces an "
        "earlier demo store at the same path, never a store holding loaded data.",
    )
    demo.add_argument(
        "--db",
        metavar="PATH",
        help=f"store file (default: ${config.DB_ENV_VAR}, else data/tf_eval.duckdb)",
    )
    demo.add_argument(
        "--families",
        type=_bounded_int(1, 5_000_000),
        default=config.DEMO_FAMILIES,
        metavar="N",
        help=f"families to generate (default {config.DEMO_FAMILIES:,})",
    )
    demo.add_argument(
        "--seed",
        type=_bounded_int(0, 2**63 - 1),
        default=config.DEMO_SEED,
        metavar="N",
        help=f"random seed (default {config.DEMO_SEED})",
    )
    return parser


def _print_progress(fraction: float, message: str) -> None:
    print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)


def _demo(args: argparse.Namespace) -> int:
    path = store.resolve_db_path(args.db)
    started = time.perf_counter()
    counts = synth.build_demo_store(path, args.families, args.seed, progress=_print_progress)
    seconds = time.perf_counter() - started
    rows = ", ".join(f"{table} {n:,}" for table, n in counts.items())
    print(f"Built demo store {path} in {seconds:.1f} s: {rows}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"demo": _demo}[args.command](args)
    except store.StoreError as exc:
        print(f"tf-eval: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tf-eval: interrupted; nothing was written", file=sys.stderr)
        return 130
