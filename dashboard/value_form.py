"""The value-for-money settings a user chooses on the Value for money page, kept across pages (the
Board pack takes them): the programme's cost per family, how long effects last and fade, the
discount rate and, optionally, their own unit costs file.

They are a choice, like the selection, not data: the programme's cost has no default (nothing
here pretends to know it), and an uploaded costs file is read in memory, checked whole, and used
only if every line of it is sound; a mistake is one line on the page and changes nothing.
"""

from __future__ import annotations

import streamlit as st

from tf_eval import config
from tf_eval.governance import untrusted
from tf_eval.method.unit_costs import CostsError, read_costs
from tf_eval.method.value_model import Settings, SettingsError
from tf_eval.release.value import ValueSettings

VALUE_KEY = "value_settings"  # the app's own key: a ValueSettings, once a cost is set
_FORM = "value-settings"


def value_settings() -> ValueSettings | None:
    """The settings chosen on the Value for money page, None until a programme cost is set."""
    return st.session_state.get(VALUE_KEY)


def value_form() -> ValueSettings | None:
    """The settings form, filled with what was chosen; returns the settings in force (None until
    the programme's cost is set). A bad cost or costs file gets one line and changes nothing."""
    chosen = value_settings()
    model = chosen.model if chosen else None
    with st.form(_FORM):
        cost = st.number_input(
            "Programme cost per supported family (£)",
            min_value=0.0,
            value=None if model is None else model.programme_cost,
            step=100.0,
            format="%.0f",
            placeholder="not set",
            help="What support costs per family, in pounds at the unit costs' price year. No "
            "default: only you know it.",
        )
        left, middle, right = st.columns(3)
        years = left.number_input(
            "Years the effects last",
            min_value=1,
            max_value=config.VFM_MAX_YEARS,
            value=model.years if model else config.VFM_YEARS,
            help="1: only the year measured. Longer is an assumption the data cannot check.",
        )
        decay = middle.number_input(
            "Fading each year (%)",
            min_value=0.0,
            max_value=99.0,
            value=100 * (model.decay if model else config.VFM_DECAY),
            step=5.0,
            help="The share of the effect lost each year after the first.",
        )
        discount = right.number_input(
            "Discount rate (% a year)",
            min_value=0.0,
            max_value=99.0,
            value=100 * (model.discount if model else config.DISCOUNT_RATE),
            step=0.5,
            help=f"The Green Book's is {config.DISCOUNT_RATE:.1%}.",
        )
        upload = st.file_uploader(
            "Your unit costs (optional; a TOML file like the default one)",
            type=["toml"],
            max_upload_size=1,  # megabytes, the least it takes; read_costs allows far less
            help="Without one, the illustrative default table is used: check its figures "
            "before use.",
        )
        first, second = st.columns(2)
        use = first.form_submit_button("Show the value for money", type="primary")
        clear = second.form_submit_button("Clear (back to the default unit costs)")
    if clear:
        st.session_state.pop(VALUE_KEY, None)
        st.rerun()
    if not use:
        return chosen
    if cost is None:
        st.error(
            "Set the programme's cost per supported family: no default pretends to know it.",
            icon=":material/error:",
        )
        return chosen
    try:
        if upload is not None:
            costs, name = read_costs(upload.getvalue(), upload.name), upload.name
        elif chosen is not None:  # the file uploaded before stays until another replaces it
            costs, name = chosen.costs, chosen.costs_file
        else:
            costs, name = read_costs(), None
        settings = Settings(float(cost), int(years), decay / 100, discount / 100)
    except (CostsError, SettingsError) as exc:
        st.error(f"Not used: {untrusted.markdown(exc)}.", icon=":material/error:")
        return chosen
    st.session_state[VALUE_KEY] = ValueSettings(settings, costs, name)
    st.rerun()
