"""The command line: `python -m tf_eval COMMAND` (the README's table lists the commands).

A user mistake (bad flag, bad value, unusable store) ends with one line on stderr and a non-zero
exit status, never a traceback. Text from outside (file names, values, paths) is echoed through
`untrusted.plain`, so it cannot drive the terminal. Every file and folder a command creates is
owner-only (the umask is set to 077 first), and output closed early (`| head`) ends quietly.
"""

from __future__ import annotations

import argparse
import getpass
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from tf_eval import config
from tf_eval.data import ingest, pseudonymise, retention, store, synth
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.governance import access, audit, private, rules, untrusted
from tf_eval.method import specs
from tf_eval.method.estimate import EXACT_KEYS, MAX_RATIO, AnalysisSpec, EvaluationError, evaluate
from tf_eval.method.estimators import ESTIMATORS
from tf_eval.method.matchfile import match_file
from tf_eval.release import charts, pack_contents, provenance, register, report
from tf_eval.release.results import SafeResults, safe_evaluation, safe_file_match, to_json
from tf_eval.release.summary import summary_lines

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
    parser.add_argument("--version", action="version", version=f"tf-eval {config.VERSION}")
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
        "outcome, on families matched by propensity score (docs/method.md), beside the "
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
    estimate.add_argument(
        "--estimator",
        choices=list(ESTIMATORS),
        default=config.DEFAULT_ESTIMATOR,
        metavar="NAME",
        help="the estimator of the headline estimates; all are reported side by side "
        f"({', '.join(ESTIMATORS)}; default {config.DEFAULT_ESTIMATOR})",
    )
    estimate.add_argument(
        "--comparison",
        choices=["not-yet-supported", "later-joiners"],
        default="not-yet-supported",
        metavar="POOL",
        help="who supported families are compared with: families not yet supported when their "
        "follow-up ends (default), or only those among them supported later "
        "(not-yet-supported or later-joiners)",
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
    users = commands.add_parser(
        "users",
        help="manage dashboard accounts and their roles",
        description="Accounts for the dashboard, kept in the accounts file "
        f"(${config.ACCOUNTS_FILE_ENV_VAR}, else ~/.config/tf-eval/accounts.json; owner-only). "
        "Roles: " + "; ".join(f"{role} ({who})" for role, who in access.ROLES.items()) + ".",
    )
    actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="add an account",
        description="Add an account. Its password is asked for twice (never given as a flag); "
        "--password-stdin reads it from the first line of standard input instead, for scripts. "
        "--oidc adds an e-mail address that signs in through OIDC, with no password.",
    )
    add.add_argument("name", metavar="NAME", help="login name or e-mail address")
    add.add_argument("--role", required=True, choices=list(access.ROLES), metavar="ROLE",
                     help=", ".join(access.ROLES))  # fmt: skip
    how = add.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    how.add_argument("--oidc", action="store_true", help="no password: signs in through OIDC")
    remove = actions.add_parser("remove", help="remove an account")
    remove.add_argument("name", metavar="NAME")
    actions.add_parser("list", help="list accounts: names, roles and how they sign in")
    pack = commands.add_parser(
        "report",
        help="write the board pack: a PDF, every chart as PNG and SVG, the tables as CSV",
        description="Write the board pack of one analysis into DIR: board-pack.pdf (headline "
        "findings, one page per chart, the method, the disclosure rules, provenance), every "
        "chart as PNG (2x) and SVG, the table behind each as CSV, and manifest.json (files, "
        "sha256, provenance). Everything has passed the disclosure gate. The charts are drawn "
        f"by a headless Chromium (`{config.BROWSER_INSTALL_HINT}`). DIR must be new, empty or "
        "an earlier pack (replaced whole).",
    )
    pack.add_argument("--db", metavar="PATH", help=_DB_HELP)
    pack.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the pack")
    pack.add_argument(
        "--spec",
        metavar="NAME",
        help="a saved analysis (saved on the dashboard's Matching & balance page); "
        "default: the default analysis of all families",
    )
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
        print(f"tf-eval: error: {untrusted.plain(exc)}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    files = ", ".join(f"{source}.csv {n:,}" for source, n in counts.items())
    print(untrusted.plain(f"Wrote demo extracts to {args.as_extracts} in {seconds:.1f} s: {files}"))
    return 0


def _ingest(args: argparse.Namespace) -> int:
    path = store.resolve_db_path(args.db)
    loaded = ingest.ingest_file(args.file, args.source, path, getpass.getuser(), role="cli")
    line = untrusted.plain(
        f"Loaded {loaded.file_name} into {path} as load {loaded.load_id}: {loaded.rows:,} records"
    )
    if loaded.rows < loaded.offered:
        line += f" ({loaded.offered - loaded.rows:,} naming no known person were dropped)"
    print(line)
    return 0


def _read_password(from_stdin: bool) -> str:
    """The new password: the first line of stdin, or typed twice at a prompt that hides it."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != password:
        raise access.AccountsError("the two passwords differ; nothing was changed")
    return password


def _users(args: argparse.Namespace) -> int:
    path = access.accounts_path()
    who = getpass.getuser()
    if args.action == "list":
        accounts = access.load_accounts(path)
        if not accounts:
            print(f"No accounts in {path}.")
        for account in accounts.values():
            how = "password" if account.local else "OIDC"
            print(f"{account.name}\t{account.role}\t{how}")
        return 0
    if args.action == "add":
        access.normalise_name(args.name)  # a bad name is refused before asking for a password
        password = None if args.oidc else _read_password(args.password_stdin)
        account = access.add_account(args.name, args.role, password, path)
        print(f"Added {account.name} ({account.role}) to {path}")
    else:
        account = access.remove_account(args.name, path)
        print(f"Removed {account.name} ({account.role}) from {path}")
    # Recorded in the audit log of the store the dashboard uses ($TF_EVAL_DB, else the default).
    action = {"add": "account added", "remove": "account removed"}[args.action]
    detail = {"account": account.name, "role": account.role}
    audit.append(store.resolve_db_path(), who, "cli", action, [detail])
    return 0


def _release(
    results: SafeResults,
    output: str,
    db: Path,
    as_json: bool,
    spec: object,
    data_source: str | None = None,
) -> int:
    """Log the run and what the gate suppressed, then print: nothing is released without its
    audit record, whether or not anything was suppressed."""
    user = getpass.getuser()
    audit.record_suppressions(db, output, results.suppressed, user, "cli")
    detail = {"output": output, "spec": spec, "suppressed": len(results.suppressed)}
    audit.append(db, user, "cli", "estimate", [detail])
    result = to_json(results, data_source)
    if as_json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print("\n".join(summary_lines(result)))
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
        estimator=args.estimator,
        comparison=args.comparison.replace("-", " "),
    )
    path = store.resolve_db_path(args.db)
    current = store.Store(path)
    try:
        evaluation = evaluate(current, spec, progress=_print_progress)
        source = charts.data_source(current.info())  # says when the records are synthetic
        # Before anything is printed: refused if it rests on nearly the same families as an
        # output released before (tf_eval.release.register).
        basis = register.evaluation_basis(evaluation)
        register.release(current, basis, f"estimate {spec}", getpass.getuser(), "cli")
    except rules.SelectionRefused as exc:
        detail = {"output": "estimate", "spec": str(spec), "reason": str(exc)}
        audit.append(path, getpass.getuser(), "cli", "refused", [detail])
        raise
    finally:
        current.close()
    return _release(safe_evaluation(evaluation), "estimate", path, args.json, str(spec), source)


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
    return _release(safe_file_match(match, options), "match-file", path, args.json, options)


def _report(args: argparse.Namespace) -> int:
    """Check everything a user can get wrong first, then compute, then write the pack whole."""
    started = time.perf_counter()
    path = store.resolve_db_path(args.db)
    report.check_out(args.out)
    spec = specs.named(path, args.spec) if args.spec else AnalysisSpec()
    report.find_browser()
    current = store.Store(path)
    try:
        contents = pack_contents.gather(
            current, spec, progress=_print_progress, released_by=(getpass.getuser(), "cli")
        )
    except rules.SelectionRefused as exc:
        detail = {"output": "board pack", "spec": str(spec), "reason": str(exc)}
        audit.append(path, getpass.getuser(), "cli", "refused", [detail])
        raise
    finally:
        current.close()
    manifest = report.publish(
        contents, args.out, path, getpass.getuser(), "cli", args.spec, _print_progress
    )
    kinds = [entry["kind"] for entry in manifest["files"]]
    print(
        f"Wrote the board pack to {untrusted.plain(args.out)} in "
        f"{time.perf_counter() - started:.1f} s: "
        f"{report.PDF_NAME}, {kinds.count('chart') // 2} charts as PNG and SVG, "
        f"{kinds.count('table')} tables as CSV, {report.MANIFEST_NAME}"
    )
    return 0


def _purge(args: argparse.Namespace) -> int:
    years = retention.check_years(args.retention_years)
    as_of = retention.check_as_of(args.as_of or _today(), _today())
    path = store.resolve_db_path(args.db)
    result = retention.purge(path, years, as_of)
    if any(result.removed.values()):  # the release register forgets the families destroyed
        purged = store.Store(path)
        try:
            register.forget_absent(purged)
        finally:
            purged.close()
    removed = provenance.removed_table(result)
    # The protected counts, as printed: exact ones could tell how many records one family had.
    shown = dict(zip(removed.frame["table"], removed.shown("removed"), strict=True))
    audit.append(
        path,
        getpass.getuser(),
        "cli",
        "purge",
        [{"as_of": as_of, "retention_years": years, "removed": shown}],
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
    register.encrypt(path)  # it holds pseudonyms: protected as the store is
    audit.append(path, getpass.getuser(), "cli", "encrypt", [{"store": str(path)}])
    print(f"Encrypted {path} with the key in ${config.DB_KEY_ENV_VAR}.")
    return 0


def _error(exc: BaseException) -> str:
    """An error for the terminal: each of its lines (a refused extract's report has one per
    problem) with control characters shown as escapes."""
    return "\n".join(untrusted.plain(line) for line in str(exc).splitlines() or [""])


def _quietly_closed() -> int:
    """Standard output was closed early (`| head -1`): stop without a traceback, and point it
    at /dev/null so that Python's final flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141  # as a program stopped by SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    private.owner_only_umask()  # every file and folder a command writes is owner-only
    try:
        return _main(argv)
    except BrokenPipeError:
        return _quietly_closed()


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    commands = {
        "demo": _demo,
        "ingest": _ingest,
        "estimate": _estimate,
        "match-file": _match_file,
        "users": _users,
        "report": _report,
        "purge": _purge,
        "encrypt": _encrypt,
    }
    try:
        rules.current_rules()  # a bad disclosure config stops every command at the start
        return commands[args.command](args)
    except rules.SelectionRefused as exc:
        print(f"tf-eval: refused: {_error(exc)}", file=sys.stderr)
        return 1
    except (
        store.StoreError,
        EvaluationError,
        rules.DisclosureConfigError,
        audit.AuditError,
        ingest.IngestError,
        pseudonymise.PseudonymKeyError,
        access.AccountsError,
        report.ReportError,
        specs.SpecError,
        retention.RetentionError,
        register.RegisterError,
    ) as exc:
        print(f"tf-eval: error: {_error(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tf-eval: interrupted; nothing was written", file=sys.stderr)
        return 130
