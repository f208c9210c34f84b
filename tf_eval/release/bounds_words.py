"""The relative-magnitudes breakdown value (tf_eval.method.honest_bounds) as one plain sentence:
how much larger than anything seen before support a difference in trends after it would have to
be to explain the effect away. Kept apart from evidence.py so it can be joined to a finding
once the event study is released.
"""

from __future__ import annotations

from tf_eval.method.honest_bounds import BREAKDOWN_MAX
from tf_eval.release.precision import rounded_down


def _times(value: float) -> str:
    """A breakdown value to two significant figures, rounded down, so the sentence never claims
    more robustness than was found."""
    return f"{rounded_down(value):g}"


def breakdown_sentence(breakdown: float | None, period: str = "quarter") -> str:
    """One sentence for a breakdown value: None (robust past BREAKDOWN_MAX), 0.0 (the interval
    includes no effect even with parallel trends) or the largest multiple that still leaves the
    interval clear of no effect; `period` names the event study's periods."""
    if breakdown is None:
        return (
            "The interval still excludes no effect even if the difference in trends after "
            f"support were {BREAKDOWN_MAX:g} times the largest seen between {period}s before it."
        )
    if breakdown == 0.0:
        return (
            "Even if the two groups' trends had stayed exactly parallel after support, the "
            "interval would include no effect, so no difference in trends is needed to explain "
            "this away."
        )
    return (
        "The interval still excludes no effect unless the difference in trends after support "
        f"were more than {_times(breakdown)} times the largest seen between {period}s before it."
    )
