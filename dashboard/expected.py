"""The effects an evaluator expects, which each finding's power check measures the comparison
against, kept across pages.

The command line takes them as `estimate --expect OUTCOME=EFFECT`; here the Impact page's form
sets them, in the unit each outcome is shown in. Every finding that `get_results` returns (the
Overview's, the Impact page's and the board pack's) is then checked against them before any effect
planted in the synthetic demo. They are a choice, like the selection, not data: they change no
estimate, only whether a finding says its comparison is too small to detect them.
"""

from __future__ import annotations

import math

import streamlit as st

from tf_eval.data.outcomes import OUTCOMES
from tf_eval.release import units

EXPECTED_KEY = "expected_effects"  # outcome -> effect in the engine's unit; the app's own key
_FORM = "expected-effects"


def expected() -> dict[str, float]:
    """The effects expected now (engine units: a share, not percentage points), by outcome."""
    return dict(st.session_state.get(EXPECTED_KEY, {}))


def _widget(outcome: str) -> str:
    return f"expected-{outcome}"


def expected_form(outcomes: tuple[str, ...]) -> None:
    """The form that sets the expected effects: a box per outcome (empty: none expected), a
    button to check against them and one to clear them; a zero gets one line saying why not."""
    chosen = expected()
    with st.expander("Effects you expect", expanded=bool(chosen)):
        st.caption(
            "Enter the effect support was expected to have, in each outcome's unit (a fall as a "
            "negative number), and each finding's power check says whether this comparison is "
            "large enough to detect it, here, on the Overview and in the board pack. Leave a "
            "box empty to use no expectation for that outcome."
        )
        with st.form(_FORM, border=False):
            values = {}
            for key in outcomes:
                unit = units.unit(key)
                current = chosen.get(key)
                values[key] = st.number_input(
                    f"{OUTCOMES[key].label} ({unit.name})",
                    value=None if current is None else units.shown(current, key),
                    format="%g",
                    placeholder="none",
                    key=_widget(key),
                )
            left, right = st.columns(2)
            use = left.form_submit_button("Check against these", type="primary")
            clear = right.form_submit_button("Clear")
    if clear:
        for key in outcomes:
            st.session_state.pop(_widget(key), None)
        st.session_state[EXPECTED_KEY] = {}
        st.rerun()
    if use:
        unusable = [
            OUTCOMES[key].label
            for key, value in values.items()
            if value is not None and (value == 0 or not math.isfinite(value))
        ]
        if unusable:
            st.error(
                f"An expected effect must be a number other than 0 ({', '.join(unusable)}): "
                "leave the box empty to expect nothing.",
                icon=":material/error:",
            )
            return
        st.session_state[EXPECTED_KEY] = {
            key: value / units.unit(key).scale for key, value in values.items() if value is not None
        }
        st.rerun()
