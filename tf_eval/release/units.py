"""The one unit each outcome's effects are given in, on every surface: the pages and charts, the
command line's JSON and summary, and the board pack's tables. Shares (offending, worklessness, the
shares of children looked after or on a plan and of people given custody or convicted) are in
percentage points, as the pages have always shown them: a JSON that said -0.0194 beside a page
that said 1.9 read as two different findings.

The engine works in each measure's own unit (`Outcome.unit`: a proportion for offending). The
conversion is made here, after the gate has rounded, on the number as released, in decimal, so
that -0.0194 becomes -1.94 (not -1.9400000000000002): it tells no more than the released number.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tf_eval.data.outcomes import OUTCOMES


@dataclass(frozen=True)
class Unit:
    name: str  # as written after a number or in an axis title
    scale: int  # released value x scale = the value shown


PERCENTAGE_POINTS = "percentage points"
UNITS = {
    "attendance": Unit(PERCENTAGE_POINTS, 1),  # measured in % of sessions already
    "offending": Unit(PERCENTAGE_POINTS, 100),
    "worklessness": Unit(PERCENTAGE_POINTS, 100),
    "ae_use": Unit(OUTCOMES["ae_use"].unit, 1),
    "looked_after": Unit(PERCENTAGE_POINTS, 100),
    "child_protection": Unit(PERCENTAGE_POINTS, 100),
    "custody_adult": Unit(PERCENTAGE_POINTS, 100),
    "custody_juvenile": Unit(PERCENTAGE_POINTS, 100),
    "juvenile_conviction": Unit(PERCENTAGE_POINTS, 100),
}
assert set(UNITS) == set(OUTCOMES)

# An analysis file's outcome column (`match-file`): its effect is in the column's own unit.
FILE_UNIT = Unit("the outcome column's own unit", 1)


def unit(outcome: str) -> Unit:
    """The unit an outcome's effects are shown in (an analysis file's column: its own)."""
    return UNITS.get(outcome, FILE_UNIT)


def shown(value: float | None, outcome: str) -> float | None:
    """A released effect (or interval end, or standard error) in the unit it is shown in; None
    stays None (withheld)."""
    if value is None:
        return None
    scale = unit(outcome).scale
    return value if scale == 1 else float(Decimal(repr(value)) * scale) + 0.0
