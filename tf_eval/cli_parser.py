"""The command line's arguments: every command, flag and help text (`build`), and the one-line
usage error. Whatever can be judged without the store (a flag, a value, a date in the future, a
column that cannot be matched on) is checked here, so a mistake in the command line is always a
usage error, exit status 2, as argparse's own; a problem with the store, a file or the data is
exit status 1 (tf_eval.cli). Every error line starts with ERROR_PREFIX. The commands themselves
are in tf_eval.cli."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from tf_eval import config
from tf_eval.data import ingest, retention
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.governance import access
from tf_eval.method.estimate import EXACT_KEYS, MAX_RATIO, AnalysisSpec
from tf_eval.method.estimators import ESTIMATORS

ERROR_PREFIX = "tf-eval: error: "
EPILOG = (
    "Errors: one line on standard error. 'tf-eval: error: ...' with exit status 2 for a mistake "
    "in the command line (a flag or value; see COMMAND --help), 1 for a problem with the store, "
    "a file or the data; 'tf-eval: refused: ...', exit status 1, for an output the disclosure "
    "rules refuse. Nothing is written to standard output then."
)

_DB_HELP = f"store file (default: ${config.DB_ENV_VAR}, else data/tf_eval.duckdb)"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, with the prefix of every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{ERROR_PREFIX}{message} (see {self.prog} --help)\n")


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


def _expected_effect(text: str) -> tuple[str, float]:
    """OUTCOME=EFFECT, the effect in the unit the outcome's estimates are shown in."""
    outcome, equals, number = text.partition("=")
    if not equals:
        raise argparse.ArgumentTypeError(f"'{text}' is not OUTCOME=EFFECT (e.g. worklessness=-2)")
    if outcome not in OUTCOMES:
        raise argparse.ArgumentTypeError(
            f"unknown outcome '{outcome}' (choose from {', '.join(OUTCOMES)})"
        )
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{number}' is not a number") from None
    if not math.isfinite(value) or value == 0:
        raise argparse.ArgumentTypeError(
            f"the effect expected on {outcome} must be a non-zero number"
        )
    return outcome, value


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def _rate(text: str) -> float:
    """A yearly rate from 0 up to (not including) 1, as a decimal: 0.035 for 3.5%."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not (math.isfinite(value) and 0 <= value < 1):
        raise argparse.ArgumentTypeError(
            f"{text} must be at least 0 and below 1, as a decimal (0.035 for 3.5%)"
        )
    return value


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def today() -> date:
    return datetime.now(UTC).date()


def _retention_years(text: str) -> int:
    try:
        years = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    try:
        return retention.check_years(years)
    except retention.RetentionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _past_date(text: str) -> date:
    """A day that is today or before (UTC): a purge as of a future day would destroy records
    whose retention has not run out."""
    day = _date(text)
    if day > today():
        raise argparse.ArgumentTypeError(f"{day} is in the future (today is {today()})")
    return day


def _names(text: str) -> list[str]:
    """A comma-separated list of column names ('none' or '' for an empty list)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    return [] if names == ["none"] else names


def _exact_keys(text: str) -> list[str]:
    """`estimate --exact`: names from EXACT_KEYS only (match-file's are the file's columns)."""
    names = _names(text)
    unknown = [name for name in names if name not in EXACT_KEYS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"cannot match exactly on '{unknown[0]}' (choose from {', '.join(EXACT_KEYS)})"
        )
    return names


def _add_matching_flags(
    command: argparse.ArgumentParser, exact_help: str, replace_default: bool, exact_type=_names
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
    command.add_argument("--exact", type=exact_type, metavar="COLS", help=exact_help)
    command.add_argument("--json", action="store_true", help="print the result as JSON")


def build() -> argparse.ArgumentParser:
    """Every command and flag of `python -m tf_eval`."""
    parser = _Parser(
        prog="python -m tf_eval",
        description="tf-eval: evaluate family-support programmes on pseudonymised linked records.",
        epilog=EPILOG,
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
    estimate.add_argument(
        "--la", metavar="CODE", help="only families in this local authority (any case: la05)"
    )
    estimate.add_argument(
        "--cohort",
        type=_bounded_int(1900, 2100),
        metavar="YEAR",
        help="only families identified in this year (one the store holds)",
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
    estimate.add_argument(
        "--expect",
        action="append",
        type=_expected_effect,
        metavar="OUTCOME=EFFECT",
        help="an effect you expect, in the unit the outcome is shown in (worklessness=-2: 2 "
        "percentage points less), repeatable: a finding whose comparison is too small to detect "
        "it reliably says so",
    )
    _add_matching_flags(
        estimate,
        f"match exactly on these, comma-separated, from {', '.join(EXACT_KEYS)}; "
        "'none' for no exact matching (default la_code,cohort)",
        replace_default=AnalysisSpec.replace,
        exact_type=_exact_keys,
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
    _add_value_flags(pack, required=False)
    _add_vfm(commands)
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
        type=_retention_years,
        default=config.RETENTION_YEARS,
        metavar="N",
        help=f"years records are kept (default {config.RETENTION_YEARS}, the privacy notice)",
    )
    purge.add_argument(
        "--as-of",
        type=_past_date,
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


def _add_value_flags(command: argparse.ArgumentParser, required: bool) -> None:
    """The value-for-money settings, shared by `vfm` and `report` (whose pack then has them)."""
    command.add_argument(
        "--costs",
        type=Path,
        metavar="FILE",
        help="unit costs, a TOML file like unit_costs.toml (default: that file, whose figures "
        "are illustrative)",
    )
    command.add_argument(
        "--programme-cost",
        required=required,
        type=_positive_number,
        metavar="GBP",
        help="what the programme costs per supported family, in pounds at the unit costs' "
        "price year (no default: only you know it)"
        + ("" if required else "; without it the pack says value for money is not set"),
    )
    command.add_argument(
        "--years",
        type=_bounded_int(1, config.VFM_MAX_YEARS),
        default=config.VFM_YEARS,
        metavar="N",
        help=f"years the effects last (default {config.VFM_YEARS}: the year measured)",
    )
    command.add_argument(
        "--decay",
        type=_rate,
        default=config.VFM_DECAY,
        metavar="RATE",
        help="share of the effect lost each year after the first, 0-1 (default 0)",
    )
    command.add_argument(
        "--discount",
        type=_rate,
        default=config.DISCOUNT_RATE,
        metavar="RATE",
        help=f"yearly discount rate, 0-1 (default {config.DISCOUNT_RATE}, the Green Book's)",
    )


def _add_vfm(commands: argparse._SubParsersAction) -> None:
    """`vfm`: value for money of one analysis' estimates (docs/method.md#value-for-money)."""
    vfm = commands.add_parser(
        "vfm",
        help="what the measured effects are worth per supported family, against the programme's "
        "cost",
        description="Value for money of one analysis: each outcome's effect per supported family "
        "a year, times its unit cost (fiscal and economic), over the years it lasts, discounted, "
        "against the programme's cost per family: the benefit per family and per pound spent and "
        "the break-even cost, with 95% intervals from the estimates' own, and a one-way "
        "sensitivity. Only estimates the disclosure rules show enter. Money is in pounds at the "
        "unit costs' price year.",
    )
    vfm.add_argument("--db", metavar="PATH", help=_DB_HELP)
    vfm.add_argument(
        "--spec",
        metavar="NAME",
        help="a saved analysis (default: the default analysis of all families)",
    )
    _add_value_flags(vfm, required=True)
    vfm.add_argument("--json", action="store_true", help="print the result as JSON")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line parsed and checked: a value-for-money setting given to `report` without
    the programme's cost would be silently unused, so it is a usage error."""
    parser = build()
    args = parser.parse_args(argv)
    if args.command == "report" and args.programme_cost is None:
        given = [
            flag
            for flag, value, default in (
                ("--costs", args.costs, None),
                ("--years", args.years, config.VFM_YEARS),
                ("--decay", args.decay, config.VFM_DECAY),
                ("--discount", args.discount, config.DISCOUNT_RATE),
            )
            if value != default
        ]
        if given:
            parser.error(f"report: {given[0]} needs --programme-cost (the pack's value for money)")
    return args
