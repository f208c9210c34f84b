"""The command line: `python -m tf_eval COMMAND` (the README's table lists the commands).

A user mistake ends with one line on stderr, never a traceback: `tf-eval: error: ...` with exit
status 2 for the command line itself (tf_eval.cli_parser), 1 for the store, a file or the data;
`tf-eval: refused: ...` (1) for the disclosure rules. No library's warning reaches the terminal
(`main`). Text from outside (file names, values, paths) is echoed through
`untrusted.plain`, so it cannot drive the terminal. Every file and folder a command creates is
owner-only (the umask is set to 077 first), and output closed early (`| head`) ends quietly.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from tf_eval import cli_parser, config
from tf_eval.data import ingest, pseudonymise, retention, store, synth
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.governance import access, audit, private, rules, untrusted
from tf_eval.method import specs
from tf_eval.method.estimate import AnalysisSpec, EvaluationError, evaluate, store_selection
from tf_eval.method.matchfile import match_file
from tf_eval.method.unit_costs import CostsError, read_costs
from tf_eval.method.value_model import Settings, SettingsError
from tf_eval.release import charts, pack_contents, provenance, register, report, units
from tf_eval.release.results import SafeResults, safe_evaluation, safe_file_match, to_json
from tf_eval.release.summary import summary_lines
from tf_eval.release.value import ValueSettings, value_for_money, value_json
from tf_eval.release.value import summary_lines as value_lines


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
        print(f"{cli_parser.ERROR_PREFIX}{untrusted.plain(exc)}", file=sys.stderr)
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
        la, _ = store_selection(current, spec.la, spec.cohort)  # a cohort it lacks: an error
        spec = replace(spec, la=la)  # as the store writes it: --la la05 is LA05
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
    results = safe_evaluation(evaluation)
    if args.expect:  # in the unit shown, back to the engine's
        stated = {o: value / units.unit(o).scale for o, value in args.expect}
        results = replace(results, stated=stated)
    return _release(results, "estimate", path, args.json, str(spec), source)


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
    value = _value_settings(args)
    report.find_browser()
    current = store.Store(path)
    try:
        contents = pack_contents.gather(
            current,
            spec,
            progress=_print_progress,
            released_by=(getpass.getuser(), "cli"),
            value=value,
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


def _value_settings(args: argparse.Namespace) -> ValueSettings | None:
    """The value-for-money settings given (`vfm`, `report`), the costs file read and checked;
    None without a programme cost."""
    if args.programme_cost is None:
        return None
    return ValueSettings(
        Settings(args.programme_cost, args.years, args.decay, args.discount),
        read_costs(args.costs),
        None if args.costs is None else str(args.costs),
    )


def _vfm(args: argparse.Namespace) -> int:
    """The costs file and the saved analysis are checked before anything is computed; the
    estimates behind the figures are released (register, audit) as `estimate`'s are."""
    path = store.resolve_db_path(args.db)
    settings = _value_settings(args)
    assert settings is not None  # --programme-cost is required
    spec = specs.named(path, args.spec) if args.spec else AnalysisSpec()
    user = getpass.getuser()
    current = store.Store(path)
    try:
        evaluation = evaluate(current, spec, progress=_print_progress)
        source = charts.data_source(current.info())
        basis = register.evaluation_basis(evaluation)
        register.release(current, basis, f"value for money {spec}", user, "cli")
    except rules.SelectionRefused as exc:
        detail = {"output": "value for money", "spec": str(spec), "reason": str(exc)}
        audit.append(path, user, "cli", "refused", [detail])
        raise
    finally:
        current.close()
    results = safe_evaluation(evaluation)
    vfm = value_for_money(results, settings)
    audit.record_suppressions(path, "value for money", results.suppressed, user, "cli")
    detail = {
        "output": "value for money",
        "spec": str(spec),
        "programme_cost": args.programme_cost,
        "costs": settings.costs.title,
        "suppressed": len(results.suppressed),
    }
    audit.append(path, user, "cli", "estimate", [detail])
    if args.json:
        out = {"data_source": source, **value_json(vfm, json.loads(specs.to_json(spec)))}
        json.dump(out, sys.stdout, indent=2)
        print()
    else:
        for line in [f"Data: {source}.", *value_lines(vfm)]:
            print(untrusted.plain(line))  # the costs file's title and sources are its own text
    return 0


def _purge(args: argparse.Namespace) -> int:
    years, as_of = args.retention_years, args.as_of or cli_parser.today()  # checked by argparse
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
    with warnings.catch_warnings():
        # Libraries' warnings are for their developers: pandas 2.x read through DuckDB printed
        # 8-9 FutureWarnings on every `ingest`. tf-eval's own problems are errors (above), never
        # warnings. `python -W ...` (or PYTHONWARNINGS) still shows them to whoever asks.
        if not sys.warnoptions:
            warnings.simplefilter("ignore")
        try:
            return _main(argv)
        except BrokenPipeError:
            return _quietly_closed()


def _main(argv: Sequence[str] | None) -> int:
    args = cli_parser.parse(argv)
    commands = {
        "demo": _demo,
        "ingest": _ingest,
        "estimate": _estimate,
        "match-file": _match_file,
        "users": _users,
        "report": _report,
        "vfm": _vfm,
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
        CostsError,
        SettingsError,
    ) as exc:
        print(f"{cli_parser.ERROR_PREFIX}{_error(exc)}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        raise  # output closed early: `main` ends quietly
    except OSError as exc:  # a file or folder the system refused (permissions, a full disk)
        print(f"{cli_parser.ERROR_PREFIX}{_error(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tf-eval: interrupted; nothing was written", file=sys.stderr)
        return 130
