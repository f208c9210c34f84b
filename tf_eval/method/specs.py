"""Named analysis specs an evaluator saves to come back to and compare.

They live in a small DuckDB file beside the store (`<store>.specs.duckdb`), like the audit log,
because the dashboard holds the store itself read-only. A spec is stored as the JSON of its
fields and validated again (AnalysisSpec) when read back.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from tf_eval import config
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.governance import private
from tf_eval.method.covariates import listed_words
from tf_eval.method.estimate import DEFAULT_COVARIATES, AnalysisSpec, EvaluationError
from tf_eval.method.estimators import ESTIMATORS
from tf_eval.method.panel import LATER_JOINERS

NAME_MAX = 60  # characters in a saved analysis' name
_TABLE = """CREATE TABLE IF NOT EXISTS analysis_specs (
    name VARCHAR PRIMARY KEY, spec JSON NOT NULL, saved_by VARCHAR NOT NULL,
    saved_at TIMESTAMP NOT NULL)"""


class SpecError(ValueError):
    """A spec cannot be saved or read; the message says why in one line."""


def specs_path(store_path: Path) -> Path:
    return store_path.with_suffix(config.SPECS_SUFFIX)


def to_json(spec: AnalysisSpec) -> str:
    return json.dumps(dataclasses.asdict(spec), sort_keys=True)


def from_json(text: str) -> AnalysisSpec:
    fields = json.loads(text)
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    try:
        return AnalysisSpec(**values)
    except (TypeError, EvaluationError) as exc:
        raise SpecError(f"a saved spec is no longer valid: {exc}") from None


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    """The specs file, owner-only (0600) from its first byte."""
    with private.owner_only_files():
        con = duckdb.connect(str(path))
    private.tighten(path)
    return con


def check_name(name: str) -> str:
    """The name as saved (trimmed), or a one-line SpecError. People name analyses in words
    ("caliper 0.2, no replacement"), so any printable character is allowed; a control
    character (a tab, a new line, a terminal escape) is not, as the name is shown on pages, in
    the audit log and on the command line; it starts with a letter or digit, never a
    spreadsheet formula's `=`, `+`, `-` or `@`."""
    name = name.strip()
    if not name:
        raise SpecError(f"give the analysis a name (1-{NAME_MAX} characters)")
    if any(unicodedata.category(c)[0] == "C" for c in name):
        raise SpecError("a name cannot hold control characters (such as a tab or a new line)")
    if len(name) > NAME_MAX:
        raise SpecError(f"a name is at most {NAME_MAX} characters; this one has {len(name)}")
    if not name[0].isalnum():
        raise SpecError("a name starts with a letter or a digit")
    return name


def save(store_path: Path, name: str, spec: AnalysisSpec, user: str) -> None:
    """Save under a new name (names are unique: an existing one is refused, not overwritten)."""
    name = check_name(name)
    con = _connect(specs_path(store_path))
    try:
        con.execute(_TABLE)
        if con.execute("SELECT 1 FROM analysis_specs WHERE name = ?", [name]).fetchall():
            raise SpecError(f"an analysis named {name!r} is already saved; choose another name")
        at = datetime.now(UTC).replace(tzinfo=None)
        con.execute(
            "INSERT INTO analysis_specs VALUES (?, ?, ?, ?)", [name, to_json(spec), user, at]
        )
    finally:
        con.close()


def named(store_path: Path, name: str) -> AnalysisSpec:
    """The spec saved under `name`; an unknown name is a SpecError naming those saved."""
    found = saved(store_path)
    if name not in found:
        choices = ", ".join(repr(n) for n in found) or "none yet"
        raise SpecError(f"no saved analysis named {name!r} for {store_path} (saved: {choices})")
    return found[name]


def describe(spec: AnalysisSpec) -> str:
    """A spec in one line of words, for captions, the board pack and the audit log: every
    choice that differs from the defaults is named (covariates and outcomes in words)."""
    caliper = f"caliper {spec.caliper} SD" if spec.caliper else "no caliper"
    replacement = "with" if spec.replace else "without"
    covariates = (
        "the default covariates"
        if set(spec.covariates) == set(DEFAULT_COVARIATES)
        else f"covariates {listed_words(spec.covariates)}"
    )
    outcomes = (
        ""
        if set(spec.outcomes) == set(OUTCOMES)
        else "; outcomes " + ", ".join(OUTCOMES[key].label for key in spec.outcomes)
    )
    return (
        f"1:{spec.ratio} {replacement} replacement, {caliper}, exact on "
        f"{listed_words(spec.exact)}, {covariates}, "
        f"{spec.follow_up_months}-month follow-up; compared with families "
        f"{'supported later' if spec.comparison == LATER_JOINERS else 'not yet supported'}; "
        f"{ESTIMATORS[spec.estimator].label.lower()}; LA {spec.la or 'all'}, cohort "
        f"{spec.cohort or 'all'}{outcomes}"
    )


def from_repr(text: str) -> AnalysisSpec | None:
    """The spec whose repr is `text` (`AnalysisSpec(outcomes=(...), ...)`, as the audit log
    records an output's spec, exactly), or None if it is not one. Read with literal_eval, field
    by field: nothing in the text is run."""
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == AnalysisSpec.__name__
        and not call.args
    ):
        return None
    try:
        fields = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg is not None}
        return AnalysisSpec(**fields)
    except (ValueError, TypeError, SyntaxError, EvaluationError):
        return None


def saved(store_path: Path) -> dict[str, AnalysisSpec]:
    """Every saved spec by name, oldest first (empty when none has been saved)."""
    path = specs_path(store_path)
    if not path.exists():
        return {}
    con = _connect(path)
    try:
        con.execute(_TABLE)
        rows = con.execute("SELECT name, spec FROM analysis_specs ORDER BY saved_at").fetchall()
    finally:
        con.close()
    return {name: from_json(text) for name, text in rows}
