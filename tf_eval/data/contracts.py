"""What each agency extract must hold (docs/guides/data-steward.md), and checking its values.

An extract is one file per source with the agency's own identifiers (a council family reference,
a person reference used by every agency for the same person). A contract names the columns, the
type and allowed values of each, the date rules (no date before 1900 or in the future; an end on
or after its start), the key that must be unique, and the reference that must resolve in the
store. Everything here looks at the file alone; tf_eval.data.ingest checks it against the store.

Problems are counted in full and the first few, by row, are kept to show: a file of a million
bad dates must not become a million messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from tf_eval import config
from tf_eval.data.store import EPISODE_TYPES
from tf_eval.governance import untrusted

# 1-64 characters, none a control character, no space at either end (it would change the hash).
_REFERENCE = r"[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]{0,62}[^\s\x00-\x1f\x7f])?"
_CODE = r"[A-Za-z0-9]{1,16}"
_WHOLE = r"[+-]?[0-9]{1,9}"
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"


@dataclass(frozen=True)
class Column:
    """One column of an extract. `kind` is reference, code, date, year, whole or choice."""

    name: str
    kind: str
    expected: str  # what a value must be, in words, for messages
    nullable: bool = False
    choices: tuple[str, ...] = ()
    bounds: tuple[int, int] = (0, 0)  # whole numbers only
    namespace: str = ""  # references only: family or person
    optional: bool = False  # may be left out of the file (then empty): implies nullable

    @property
    def stored_as(self) -> str:
        """The store's column: a reference becomes its pseudonym (family_ref -> family_id)."""
        return f"{self.namespace}_id" if self.kind == "reference" else self.name


@dataclass(frozen=True)
class Contract:
    source: str  # the source name, which is also the store's table
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()  # unique in the file and the store; () = repeated rows are events
    ordered: tuple[tuple[str, str], ...] = ()  # (low, high): high may not be below low
    refers_to: str = ""  # the column that must name a known family or person ("" = none)
    strict: bool = True  # an unknown reference refuses the file (outcome sources: config)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        """The columns a file must hold (the others may be left out)."""
        return tuple(c.name for c in self.columns if not c.optional)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _ref(name: str, namespace: str, example: str) -> Column:
    return Column(
        name,
        "reference",
        f"a {namespace} reference (1-64 characters, e.g. {example})",
        namespace=namespace,
    )


FAMILY_REF = _ref("family_ref", "family", "FAM-000123")
PERSON_REF = _ref("person_ref", "person", "P-0001234")
_DATE_WORDS = "a date YYYY-MM-DD"

CONTRACTS: dict[str, Contract] = {
    c.source: c
    for c in (
        Contract(
            "families",
            (
                FAMILY_REF,
                Column("la_code", "code", "a local authority code (letters and digits)"),
                Column("identified_on", "date", _DATE_WORDS),
            ),
            key=("family_ref",),
        ),
        Contract(
            "people",
            (
                PERSON_REF,
                FAMILY_REF,
                Column("birth_year", "year", "a year from 1900 to this year"),
                Column(
                    "birth_month",
                    "whole",
                    "a month 1-12, or empty when unknown",
                    nullable=True,
                    bounds=(1, 12),
                    optional=True,
                ),
                Column("sex", "choice", "F or M", choices=("F", "M")),
                Column("role", "choice", "adult or child", choices=("adult", "child")),
            ),
            key=("person_ref",),
            refers_to="family_ref",
        ),
        Contract(
            "programme",
            (
                FAMILY_REF,
                Column("attached_on", "date", _DATE_WORDS),
                Column(
                    "ended_on", "date", "a date YYYY-MM-DD, or empty while support goes on", True
                ),
            ),
            key=("family_ref",),
            ordered=(("attached_on", "ended_on"),),
            refers_to="family_ref",
        ),
        Contract(
            "attendance",
            (
                PERSON_REF,
                Column("term_start", "date", _DATE_WORDS),
                Column(
                    "term_end",
                    "date",
                    "a date YYYY-MM-DD (the term's last day), or empty",
                    nullable=True,
                    optional=True,
                ),
                Column("sessions_possible", "whole", "a whole number 1-999", bounds=(1, 999)),
                Column("sessions_missed", "whole", "a whole number 0-999", bounds=(0, 999)),
            ),
            key=("person_ref", "term_start"),
            ordered=(("sessions_missed", "sessions_possible"), ("term_start", "term_end")),
            refers_to="person_ref",
            strict=False,
        ),
        Contract(
            "offences",
            (
                PERSON_REF,
                Column("offence_date", "date", _DATE_WORDS),
                Column(
                    "disposal",
                    "choice",
                    "caution, conviction or custody",
                    choices=("caution", "conviction", "custody"),
                ),
            ),
            refers_to="person_ref",
            strict=False,
        ),
        Contract(
            "benefit_spells",
            (
                PERSON_REF,
                Column("start_date", "date", _DATE_WORDS),
                Column(
                    "end_date", "date", "a date YYYY-MM-DD, or empty while the claim goes on", True
                ),
                Column(
                    "benefit", "choice", "JSA, ESA, IS or UC", choices=("JSA", "ESA", "IS", "UC")
                ),
            ),
            key=("person_ref", "start_date"),
            ordered=(("start_date", "end_date"),),
            refers_to="person_ref",
            strict=False,
        ),
        Contract(
            "ae_attendances",
            (PERSON_REF, Column("arrival_date", "date", _DATE_WORDS)),
            refers_to="person_ref",
            strict=False,
        ),
        Contract(
            "social_care",
            (
                PERSON_REF,
                Column(
                    "episode_type",
                    "choice",
                    "child_in_need, child_protection_plan or looked_after",
                    choices=EPISODE_TYPES,
                ),
                Column("start_date", "date", _DATE_WORDS),
                Column(
                    "end_date",
                    "date",
                    "a date YYYY-MM-DD, or empty while the episode goes on",
                    True,
                ),
            ),
            key=("person_ref", "episode_type", "start_date"),
            ordered=(("start_date", "end_date"),),
            refers_to="person_ref",
            strict=False,
        ),
    )
}
SOURCES = tuple(CONTRACTS)  # in load order: references before the records that use them


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file: where (row = CSV line or Parquet row) and what was expected."""

    file: str
    message: str
    row: int | None = None
    column: str | None = None
    row_label: str = "line"

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file} {self.row_label} {self.row}"
        text = f"{where}{'' if self.column is None else ', ' + self.column}: {self.message}"
        return untrusted.plain(text)  # values and names from the file: one line, no escapes


@dataclass
class Problems:
    """Every problem found in one file, counted; the first few by row kept to show."""

    file: str
    row_label: str = "line"
    total: int = field(default=0, init=False)
    _kept: list[Problem] = field(default_factory=list, init=False, repr=False)

    def add(self, message: str, row: int | None = None, column: str | None = None) -> None:
        self.total += 1
        self._kept.append(Problem(self.file, message, row, column, self.row_label))
        self._prune()

    def add_rows(
        self, rows: np.ndarray, column: str | None, describe: Callable[[int], str]
    ) -> None:
        """One problem per entry of `rows` (row numbers, ascending); describe(i) words the i-th.
        Only the first few are worded: no later one can be among the first shown."""
        for i in range(min(len(rows), config.INGEST_PROBLEMS_SHOWN)):
            self._kept.append(Problem(self.file, describe(i), int(rows[i]), column, self.row_label))
        self.total += len(rows)
        self._prune()

    def shown(self) -> list[Problem]:
        """The first problems: whole-file ones, then by row (checks run in column order)."""
        ordered = sorted(self._kept, key=lambda p: (p.row is not None, p.row or 0))
        return ordered[: config.INGEST_PROBLEMS_SHOWN]

    def report(self) -> str:
        """A first line naming the file and the count, then one line per problem shown."""
        noun = "problem" if self.total == 1 else "problems"
        shown = self.shown()
        lines = [untrusted.plain(f"{self.file} refused, nothing loaded: {self.total:,} {noun}")]
        lines += [f"  {problem}" for problem in shown]
        if self.total > len(shown):
            lines.append(f"  and {self.total - len(shown):,} more")
        return "\n".join(lines)

    def _prune(self) -> None:
        if len(self._kept) > 2 * config.INGEST_PROBLEMS_SHOWN:
            self._kept = self.shown()

    def __bool__(self) -> bool:
        return self.total > 0


def check_values(
    text: pd.DataFrame, rows: np.ndarray, contract: Contract, problems: Problems
) -> pd.DataFrame:
    """Check every value of an extract read as text (one column per contract column, `rows` its
    row numbers) and return the values typed: dates as datetime64, numbers as Int64, text as is.
    Values that fail a check are recorded in `problems` and left missing in the result."""
    typed = pd.DataFrame(index=text.index)
    valid = {}
    for column in contract.columns:
        values = text[column.name].astype("string[pyarrow]")  # vectorised text checks
        typed[column.name], valid[column.name] = _parse(values, column, rows, problems)
    for low, high in contract.ordered:
        _check_order(text, typed, valid[low] & valid[high], rows, contract, (low, high), problems)
    if contract.key:
        _check_unique(text, rows, contract, problems)
    return typed


def _check_order(
    text: pd.DataFrame,
    typed: pd.DataFrame,
    both: np.ndarray,
    rows: np.ndarray,
    contract: Contract,
    pair: tuple[str, str],
    problems: Problems,
) -> None:
    """An end before its start, or sessions missed above sessions possible."""
    low, high = pair
    wrong = both & _holds(typed[high] < typed[low])
    if contract.column(high).kind == "date":
        flagged, other, word = high, low, "before"
    else:
        flagged, other, word = low, high, "more than"
    _flag(
        problems,
        rows,
        wrong,
        contract.column(flagged),
        text[flagged],
        lambda v, i: f"'{v}' is {word} {other} '{text[other].iloc[i]}'",
    )


def _parse(
    values: pd.Series, column: Column, rows: np.ndarray, problems: Problems
) -> tuple[pd.Series, np.ndarray]:
    """Check one column's values; return them typed, and where they were valid (not empty)."""
    expected = column.expected
    present = _holds(values.ne(""))
    if not column.nullable:
        _flag(
            problems, rows, ~present, column, values, lambda v, i: f"is empty; expected {expected}"
        )
    if column.kind == "date":
        return _parse_dates(values, column, rows, problems, present)
    if column.kind in ("choice", "reference", "code"):
        if column.kind == "choice":
            fits = _holds(values.isin(column.choices))
        else:
            fits = _holds(values.str.fullmatch(_REFERENCE if column.kind == "reference" else _CODE))
        bad = present & ~fits
        _flag(problems, rows, bad, column, values, lambda v, i: f"'{v}' is not {expected}")
        return values.where(~bad, None), present & fits
    shape = present & ~_holds(values.str.fullmatch(_WHOLE))
    _flag(problems, rows, shape, column, values, lambda v, i: f"'{v}' is not a whole number")
    numbers = pd.to_numeric(values.where(present & ~shape), errors="coerce").astype("Int64")
    low, high = (1900, date.today().year) if column.kind == "year" else column.bounds
    outside = present & ~shape & ~_holds(numbers.between(low, high))
    _flag(problems, rows, outside, column, values, lambda v, i: f"'{v}' is not {expected}")
    ok = present & ~shape & ~outside
    return numbers.where(ok), ok


def _parse_dates(
    values: pd.Series, column: Column, rows: np.ndarray, problems: Problems, present: np.ndarray
) -> tuple[pd.Series, np.ndarray]:
    """Written YYYY-MM-DD, a real day, from 1900 and not after today."""
    shape = present & ~_holds(values.str.fullmatch(_DATE))
    _flag(
        problems,
        rows,
        shape,
        column,
        values,
        lambda v, i: f"'{v}' is not a date written YYYY-MM-DD",
    )
    earliest = config.EARLIEST_RECORD_DATE
    year = pd.to_numeric(values.str.slice(0, 4).where(present & ~shape), errors="coerce")
    early = _holds(year < earliest.year)
    _flag(problems, rows, early, column, values, lambda v, i: f"'{v}' is before {earliest}")
    candidates = present & ~shape & ~early
    dates = pd.to_datetime(values.where(candidates), format="%Y-%m-%d", errors="coerce")
    impossible = candidates & _holds(dates.isna())
    _flag(problems, rows, impossible, column, values, lambda v, i: f"'{v}' is not a real date")
    today = pd.Timestamp(date.today())
    future = _holds(dates > today)
    _flag(
        problems,
        rows,
        future,
        column,
        values,
        lambda v, i: f"'{v}' is in the future (today is {today:%Y-%m-%d})",
    )
    ok = candidates & ~impossible & ~future
    return dates.where(ok), ok


def _holds(condition: pd.Series) -> np.ndarray:
    """A test's result as plain booleans; a missing value (NA) does not hold."""
    return condition.astype("boolean").fillna(False).to_numpy(dtype=bool)


def _flag(
    problems: Problems,
    rows: np.ndarray,
    bad: np.ndarray,
    column: Column,
    values: pd.Series,
    describe: Callable[[str, int], str],
) -> None:
    """Record a problem at each row where `bad` holds; describe(value, position) words it."""
    positions = np.flatnonzero(bad)
    problems.add_rows(
        rows[positions], column.name, lambda i: describe(values.iloc[positions[i]], positions[i])
    )


def _check_unique(
    text: pd.DataFrame, rows: np.ndarray, contract: Contract, problems: Problems
) -> None:
    """Flag every record after the first with the same key."""
    key = list(contract.key)
    positions = np.flatnonzero(text.duplicated(subset=key, keep="first").to_numpy())
    if not positions.size:
        return
    first = pd.Series(rows, index=text.index).groupby([text[k] for k in key]).transform("first")
    what = " and ".join(key)
    problems.add_rows(
        rows[positions],
        key[0],
        lambda i: (
            f"repeats {problems.row_label} {first.iloc[positions[i]]} "
            f"(same {what}; each must be unique)"
        ),
    )
