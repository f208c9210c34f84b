"""The command line: `python -m tf_eval COMMAND` (design.md section 6).

A user mistake (bad flag, bad value, unusable store) ends with one line on stderr and a non-zero
exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import json
import math
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from tf_eval import (
    __version__,
    audit,
    config,
    disclosure,
    ingest,
    pseudonymise,
    retention,
    store,
    synth,
)
from tf_eval.estimate import EXACT_KEYS, MAX_RATIO, AnalysisSpec, EvaluationError, evaluate
from tf_eval.matchfile import match_file
from tf_eval.outcomes import OUTCOMES
from tf_eval.results import SafeResults, safe_evaluation, safe_file_match, to_json

_DB_HELP = f"store file (default: ${config.DB_ENV_VAR}, else data/tf_eval.duckdb)"


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


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def _today() -> date:
    return datetime.now(UTC).date()


def _names(text: str) -> list[str]:
    """A comma-separated list of column names ('none' or '' for an empty list)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    return [] if names == ["none"] else names


def _add_matching_flags(
    command: argparse.ArgumentParser, exact_help: str, replace_default: bool
) -> None:
    command.add_argument(
        "--ratio",
        type=_bounded_int(1, MAX_RATIO),
        default=1,
        metavar="K",
        help="comparison units per treated unit (default 1)",
    )
    command.add_argument(
        "--caliper",
        type=_positive_number,
        metavar="SD",
        help="largest score distance, in SDs of the propensity score (default none)",
    )
    command.add_argument(
        "--replace",
        action=argparse.BooleanOptionalAction,
        default=replace_default,
        help="let a comparison unit be matched more than once "
        f"(default: {'yes' if replace_default else 'no'})",
    )
    command.add_argument("--exact", type=_names, metavar="COLS", help=exact_help)
    command.add_argument("--json", action="store_true", help="print the result as JSON")


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
    target = demo.add_mutually_exclusive_group()
    target.add_argument("--db", metavar="PATH", help=_DB_HELP)
    target.add_argument(
        "--as-extracts",
        type=Path,
        metavar="DIR",
        help="instead of a store, write the records as agency extracts (one SOURCE.csv per "
        "source, with agency references) in DIR, to rehearse `ingest`",
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
    load = commands.add_parser(
        "ingest",
        help="load one agency extract (CSV or Parquet) into the store, all or nothing",
        description="Check an agency extract against its source's contract and the store, "
        "replace every identifier by its pseudonym, and load it in one transaction: any problem "
        "refuses the whole file and leaves the store unchanged. Load families, then people, "
        "then programme, then the outcome sources. A missing store is created.",
    )
    load.add_argument(
        "source", choices=ingest.SOURCES, metavar="SOURCE", help=", ".join(ingest.SOURCES)
    )
    load.add_argument("file", type=Path, metavar="FILE", help="a .csv (UTF-8) or .parquet file")
    load.add_argument("--db", metavar="PATH", help=_DB_HELP)
    estimate = commands.add_parser(
        "estimate",
        help="match supported families to comparison families and estimate the effects",
        description="Difference-in-differences estimates of the programme's effect on each "
        "outcome, on families matched by propensity score (design.md section 4), beside the "
        "naive before/after change and a placebo check. Counts are disclosure-controlled.",
    )
    estimate.add_argument("--db", metavar="PATH", help=_DB_HELP)
    estimate.add_argument(
        "--outcome",
        action="append",
        choices=list(OUTCOMES),
        metavar="KEY",
        help=f"outcome to estimate, repeatable (default all: {', '.join(OUTCOMES)})",
    )
    estimate.add_argument("--la", metavar="CODE", help="only families in this local authority")
    estimate.add_argument(
        "--cohort",
        type=_bounded_int(1900, 2100),
        metavar="YEAR",
        help="only families identified in this year",
    )
    estimate.add_argument(
        "--follow-up-months",
        type=int,
        choices=config.FOLLOW_UP_MONTHS,
        default=config.FOLLOW_UP_MONTHS[0],
        metavar="N",
        help="months of follow-up after the index date: 12 (default) or 24",
    )
    _add_matching_flags(
        estimate,
        f"match exactly on these, comma-separated, from {', '.join(EXACT_KEYS)}; "
        "'none' for no exact matching (default la_code,index_quarter)",
        replace_default=AnalysisSpec.replace,
    )
    flat = commands.add_parser(
        "match-file",
        help="the same matching on a flat analysis file (CSV or Parquet)",
        description="Propensity-score matching on a file with one row per unit: a 0/1 treatment "
        "column, covariates (text columns are treated as categories) and outcome columns. The "
        "effect is the weighted difference in matched means.",
    )
    flat.add_argument("file", metavar="FILE", type=Path, help="a .csv or .parquet file")
    flat.add_argument(
        "--db", metavar="PATH", help="store whose audit log records this run (" + _DB_HELP + ")"
    )
    flat.add_argument("--treatment", required=True, metavar="COL", help="the 0/1 treatment column")
    flat.add_argument(
        "--covariates",
        required=True,
        type=_names,
        metavar="A,B,C",
        help="covariates for the propensity score, comma-separated",
    )
    flat.add_argument(
        "--outcome",
        required=True,
        type=_names,
        metavar="COL[,COL]",
        help="outcome column(s), comma-separated",
    )
    flat.add_argument(
        "--id",
        metavar="COL",
        help="unit identifier: rows sharing it form one cluster for standard errors",
    )
    # As MatchIt's own default, so a file's results can be set beside R's.
    _add_matching_flags(flat, "match exactly on these columns, comma-separated", False)
    purge = commands.add_parser(
        "purge",
        help="destroy the records of every family whose retention period has run out",
        description="Destroy every record (family, people, programme and outcome records) of "
        "each family whose records expired: N years after the later of its index month "
        "and the newest load about it. The store is rebuilt without them in a fresh file that "
        "replaces it atomically, so nothing removed is left in its bytes. With nothing to "
        "remove the store is not touched. Every purge is written to the audit log.",
    )
    purge.add_argument("--db", metavar="PATH", help=_DB_HELP)
    purge.add_argument(
        "--retention-years",
        type=int,
        default=config.RETENTION_YEARS,
        metavar="N",
        help=f"years records are kept (default {config.RETENTION_YEARS}, the privacy notice)",
    )
    purge.add_argument(
        "--as-of",
        type=_date,
        metavar="DATE",
        help="purge what has expired by this day, YYYY-MM-DD, not in the future "
        "(default today, UTC)",
    )
    encrypt = commands.add_parser(
        "encrypt",
        help=f"encrypt a plaintext store with the key in ${config.DB_KEY_ENV_VAR}",
        description=f"Rewrite a plaintext store, encrypted with the key in "
        f"${config.DB_KEY_ENV_VAR}, into a fresh file that replaces it atomically.",
    )
    encrypt.add_argument("--db", metavar="PATH", help=_DB_HELP)
    return parser


def _print_progress(fraction: float, message: str) -> None:
    print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)


def _demo(args: argparse.Namespace) -> int:
    if args.as_extracts:
        return _demo_extracts(args)
    path = store.resolve_db_path(args.db)
    started = time.perf_counter()
    counts = synth.build_demo_store(path, args.families, args.seed, progress=_print_progress)
    seconds = time.perf_counter() - started
    built = {"families": args.families, "seed": args.seed}
    audit.append(path, getpass.getuser(), "cli", "demo built", [built])
    rows = ", ".join(f"{table} {n:,}" for table, n in counts.items())
    print(f"Built demo store {path} in {seconds:.1f} s: {rows}")
    return 0


def _demo_extracts(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        counts = synth.write_demo_extracts(
            args.as_extracts, args.families, args.seed, progress=_print_progress
        )
    except OSError as exc:
        print(f"tf-eval: error: {exc}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    files = ", ".join(f"{source}.csv {n:,}" for source, n in counts.items())
    print(f"Wrote demo extracts to {args.as_extracts} in {seconds:.1f} s: {files}")
    return 0


def _ingest(args: argparse.Namespace) -> int:
    path = store.resolve_db_path(args.db)
    loaded = ingest.ingest_file(args.file, args.source, path, getpass.getuser(), role="cli")
    line = (
        f"Loaded {loaded.file_name} into {path} as load {loaded.load_id}: {loaded.rows:,} records"
    )
    if loaded.rows < loaded.offered:
        line += f" ({loaded.offered - loaded.rows:,} naming no known person were dropped)"
    print(line)
    return 0


def _p(value: float) -> str:
    return "p<0.001" if value < 0.001 else f"p={value:.3f}"


def _print_estimates(result: dict) -> None:
    """A plain-text summary for a person at a terminal (the JSON has everything)."""
    counts = result["counts"]
    print(
        f"Matched {counts['treated_matched']} of {counts['treated']} treated units with "
        f"{counts['comparison_matched']} of {counts['comparison_pool']} comparison units."
    )
    naive = {row["outcome"]: row for row in result.get("naive", [])}
    for row in result["estimates"]:
        if row["suppressed"]:
            print(f"{row['outcome']:>13}: withheld ({row['reason']})")
            continue
        line = (
            f"{row['outcome']:>13}: {row['att']:+.4f} "
            f"(95% CI {row['ci_low']:+.4f} to {row['ci_high']:+.4f}, {_p(row['p_value'])})"
        )
        if row["outcome"] in naive and not naive[row["outcome"]]["suppressed"]:
            line += f"; naive before/after {naive[row['outcome']]['att']:+.4f}"
        print(line)


def _release(results: SafeResults, output: str, db: Path, as_json: bool) -> int:
    """Log what the gate suppressed, then print: nothing is released without its audit record."""
    audit.record_suppressions(db, output, results.suppressed, getpass.getuser(), "cli")
    result = to_json(results)
    if as_json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        _print_estimates(result)
    return 0


def _estimate(args: argparse.Namespace) -> int:
    spec = AnalysisSpec(
        outcomes=tuple(dict.fromkeys(args.outcome or OUTCOMES)),
        ratio=args.ratio,
        caliper=args.caliper,
        replace=args.replace,
        exact=tuple(args.exact) if args.exact is not None else AnalysisSpec.exact,
        follow_up_months=args.follow_up_months,
        la=args.la,
        cohort=args.cohort,
    )
    path = store.resolve_db_path(args.db)
    current = store.Store(path)
    try:
        evaluation = evaluate(current, spec, progress=_print_progress)
    except disclosure.SelectionRefused as exc:
        audit.append(
            path, getpass.getuser(), "cli", "refused", [{"output": "estimate", "reason": str(exc)}]
        )
        raise
    finally:
        current.close()
    return _release(safe_evaluation(evaluation), "estimate", path, args.json)


def _match_file(args: argparse.Namespace) -> int:
    options = {
        "file": str(args.file),
        "treatment": args.treatment,
        "covariates": args.covariates,
        "outcomes": args.outcome,
        "id": args.id,
        "ratio": args.ratio,
        "caliper": args.caliper,
        "replace": args.replace,
        "exact": args.exact or [],
    }
    match = match_file(
        args.file,
        args.treatment,
        args.covariates,
        args.outcome,
        args.id,
        args.ratio,
        args.caliper,
        args.replace,
        args.exact,
    )
    path = store.resolve_db_path(args.db)
    return _release(safe_file_match(match, options), "match-file", path, args.json)


def _purge(args: argparse.Namespace) -> int:
    years = retention.check_years(args.retention_years)
    as_of = retention.check_as_of(args.as_of or _today(), _today())
    path = store.resolve_db_path(args.db)
    result = retention.purge(path, years, as_of)
    removed = result.safe_removed()
    audit.append(
        path,
        getpass.getuser(),
        "cli",
        "purge",
        [{"as_of": as_of, "retention_years": years, "removed": result.removed}],
    )
    if not any(result.removed.values()):
        print(f"Nothing to purge in {path}: no family's {years}-year retention ended by {as_of}.")
        return 0
    counts = ", ".join(
        f"{table} {label}" for table, label in removed.labels().itertuples(index=False)
    )
    print(f"Purged {path} as of {as_of} ({years}-year retention), records removed: {counts}")
    print(removed.note())
    return 0


def _encrypt(args: argparse.Namespace) -> int:
    path = store.resolve_db_path(args.db)
    store.encrypt(path)
    audit.append(path, getpass.getuser(), "cli", "encrypt", [{"store": str(path)}])
    print(f"Encrypted {path} with the key in ${config.DB_KEY_ENV_VAR}.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {
        "demo": _demo,
        "ingest": _ingest,
        "estimate": _estimate,
        "match-file": _match_file,
        "purge": _purge,
        "encrypt": _encrypt,
    }
    try:
        disclosure.current_rules()  # a bad disclosure config stops every command at the start
        return commands[args.command](args)
    except disclosure.SelectionRefused as exc:
        print(f"tf-eval: refused: {exc}", file=sys.stderr)
        return 1
    except (
        store.StoreError,
        EvaluationError,
        disclosure.DisclosureConfigError,
        audit.AuditError,
        ingest.IngestError,
        pseudonymise.PseudonymKeyError,
        retention.RetentionError,
    ) as exc:
        print(f"tf-eval: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tf-eval: interrupted; nothing was written", file=sys.stderr)
        return 130
