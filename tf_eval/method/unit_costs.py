"""Unit costs for value for money: what one unit of each outcome costs the public purse (fiscal)
and society (economic), who bears it, the price year and the source, read from one editable TOML
file (`unit_costs.toml`, illustrative; a council gives its own), and the unit each outcome is
costed in with the conversion from its measured effect.

The unit of each outcome is fixed here, not in the file: the conversion from an effect measured
per person over the follow-up window to units per person per year depends on how the outcome is
measured (docs/method.md#value-for-money), so a file that could rename the unit could silently
cost the wrong thing. A file's mistakes are each one line naming the file, the outcome and what
is wrong; nothing of a refused file is used.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tf_eval import config
from tf_eval.data.outcomes import OUTCOMES


class CostsError(ValueError):
    """A unit-costs file cannot be used; the message names the file, the outcome and the fault."""


# How an outcome's effect becomes units a year: "sessions" (percentage points of sessions attended,
# to days of school missed), "share" (a share of the window's days, to years on benefit: already a
# yearly rate) or "window" (events, or 0/1 for any, in the window: spread evenly over its years).
_SESSIONS, _SHARE, _WINDOW = "sessions", "share", "window"


@dataclass(frozen=True)
class CostUnit:
    words: str  # the unit one cost is for, after "per"
    kind: str  # _SESSIONS, _SHARE or _WINDOW


UNITS: dict[str, CostUnit] = {
    "attendance": CostUnit("day of school missed", _SESSIONS),
    "offending": CostUnit("person with a proven offence in a year", _WINDOW),
    "worklessness": CostUnit("year on an out-of-work benefit", _SHARE),
    "ae_use": CostUnit("A&E attendance", _WINDOW),
    "looked_after": CostUnit("child starting a period looked after", _WINDOW),
    "child_protection": CostUnit("child protection plan starting", _WINDOW),
    "custody_adult": CostUnit("adult given a custodial sentence", _WINDOW),
    "custody_juvenile": CostUnit("young person given a custodial sentence", _WINDOW),
    "juvenile_conviction": CostUnit("young person convicted", _WINDOW),
}
assert set(UNITS) == set(OUTCOMES)


def units_avoided_per_year(outcome: str, follow_up_months: int) -> float:
    """Costed units avoided a year per person for an effect of 1 in the engine's unit: a gain in
    attendance or a fall in anything else is a saving, so the sign follows the good direction. A
    0/1 "any in the window" effect is spread over the window's years as if each person had at
    most one event (close for rare events; docs/method.md says when it is not)."""
    kind = UNITS[outcome].kind
    if kind == _SESSIONS:
        factor = config.SCHOOL_DAYS_PER_YEAR / 100  # percentage points of sessions -> days
    elif kind == _SHARE:
        factor = 1.0
    else:
        factor = 12 / follow_up_months
    return factor if OUTCOMES[outcome].good_direction == "up" else -factor


@dataclass(frozen=True)
class UnitCost:
    outcome: str
    fiscal: float  # pounds per unit, at the table's price year
    economic: float
    agency: str
    source: str


@dataclass(frozen=True)
class UnitCosts:
    """A validated table: every cost in pounds of one price year."""

    title: str
    price_year: int
    costs: tuple[UnitCost, ...]

    def get(self, outcome: str) -> UnitCost | None:
        return next((c for c in self.costs if c.outcome == outcome), None)

    def scaled(self, factor: float) -> UnitCosts:
        """Every cost times `factor` (the sensitivity chart's unit costs +-)."""
        costs = tuple(
            UnitCost(c.outcome, c.fiscal * factor, c.economic * factor, c.agency, c.source)
            for c in self.costs
        )
        return UnitCosts(self.title, self.price_year, costs)


_FIELDS = {"fiscal", "economic", "agency", "price_year", "source"}
_TOP = {"title", "costs"}


def _cost(where: str, value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CostsError(f"{where}: {name} must be a number of pounds, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise CostsError(f"{where}: {name} must not be negative ({value:g})")
    return float(value)


def _text(where: str, row: dict[str, object], name: str) -> str:
    value = row.get(name)
    if not isinstance(value, str) or not value.strip():
        raise CostsError(f"{where}: {name} is missing (say who bears the cost and its source)")
    return value.strip()


def _row(file: str, outcome: str, row: object) -> tuple[UnitCost, int]:
    where = f"{file}: [costs.{outcome}]"
    if outcome not in OUTCOMES:
        raise CostsError(f"{file}: unknown outcome '{outcome}' (choose from {', '.join(OUTCOMES)})")
    if not isinstance(row, dict):
        raise CostsError(f"{where} must be a table of fiscal, economic, agency, price_year, source")
    unknown = sorted(set(row) - _FIELDS)
    if unknown:
        raise CostsError(
            f"{where}: unknown setting '{unknown[0]}' (use {', '.join(sorted(_FIELDS))})"
        )
    for name in ("fiscal", "economic"):
        if name not in row:
            raise CostsError(f"{where}: {name} is missing")
    year = row.get("price_year")
    if year is None:
        raise CostsError(f"{where}: price_year is missing (the year its pounds are in)")
    if isinstance(year, bool) or not isinstance(year, int) or not 1990 <= year <= 2100:
        raise CostsError(f"{where}: price_year must be a year such as 2023, not {year!r}")
    fiscal, economic = (
        _cost(where, row["fiscal"], "fiscal"),
        _cost(where, row["economic"], "economic"),
    )
    cost = UnitCost(
        outcome, fiscal, economic, _text(where, row, "agency"), _text(where, row, "source")
    )
    return cost, year


def parse_costs(text: str, file: str) -> UnitCosts:
    """A costs table from TOML text (`file` names it in errors); CostsError on the first fault."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CostsError(f"{file}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise CostsError(f"{file}: unknown setting '{unknown[0]}' (outcomes go under [costs.KEY])")
    table = data.get("costs")
    if not isinstance(table, dict) or not table:
        raise CostsError(f"{file}: no unit costs (one [costs.KEY] table per outcome)")
    rows = [_row(file, outcome, row) for outcome, row in table.items()]
    years = {year for _, year in rows}
    if len(years) > 1:
        listed = ", ".join(f"{cost.outcome} {year}" for cost, year in rows)
        raise CostsError(
            f"{file}: price years differ ({listed}); restate them in one year's pounds"
        )
    title = data.get("title", Path(file).name)
    if not isinstance(title, str):
        raise CostsError(f"{file}: title must be text")
    return UnitCosts(title.strip() or Path(file).name, years.pop(), tuple(c for c, _ in rows))


def default_costs_text() -> str:
    """The default file as it is, comments and all: the template a user edits."""
    return config.DEFAULT_UNIT_COSTS.read_text(encoding="utf-8")


def _too_large(file: str) -> CostsError:
    return CostsError(
        f"{file}: larger than a costs file can be ({config.UNIT_COSTS_MAX_BYTES // 1024} KB)"
    )


def read_costs(source: Path | bytes | None = None, name: str | None = None) -> UnitCosts:
    """The costs of a file (a path, or an upload's bytes named `name`), else the default table."""
    if source is None:
        source = config.DEFAULT_UNIT_COSTS
    file = name or (str(source) if isinstance(source, Path) else "the costs file")
    if isinstance(source, Path):
        try:
            if source.stat().st_size > config.UNIT_COSTS_MAX_BYTES:
                raise _too_large(file)  # before reading it into memory
            source = source.read_bytes()
        except OSError as exc:
            raise CostsError(f"{file}: cannot be read ({exc.strerror or exc})") from None
    if len(source) > config.UNIT_COSTS_MAX_BYTES:
        raise _too_large(file)
    try:
        text = source.decode("utf-8")
    except UnicodeDecodeError:
        raise CostsError(f"{file}: not UTF-8 text (save it as UTF-8 TOML)") from None
    return parse_costs(text, file)
