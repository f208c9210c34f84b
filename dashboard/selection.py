"""The sidebar's selection (local authority and cohort), kept across pages and in the URL.

A widget's state does not carry to another page (Streamlit drops a widget's key once a page
runs without it), so the choice lives under the app's own session-state keys (`LA_KEY`,
`COHORT_KEY`): each page's selectbox starts from them and writes back to them when changed. It
is also written to the URL's query parameters (`?la=LA05&cohort=2016`) on every page, so a link
shares it; a link is read once, when a session starts, and a value the store does not hold gives
one line and All rather than an error.
"""

from __future__ import annotations

import streamlit as st

from tf_eval.governance import rules
from tf_eval.release.headlines import selection_words
from tf_eval.release.overview import Overview

LA_KEY, COHORT_KEY = "selection_la", "selection_cohort"  # the app's own keys, never a widget's
_WIDGETS = {LA_KEY: "la", COHORT_KEY: "cohort"}  # the sidebar's selectboxes
_LINK = "selection_link"  # the link's values, until a page that knows the valid ones checks them
_PARAMS = {LA_KEY: "la", COHORT_KEY: "cohort"}


def selection_in_url() -> None:
    """On every page (app.py): read the link's selection once per session, then keep the URL
    showing the selection in force, so that a link copied from any page shares it."""
    if _LINK not in st.session_state:
        st.session_state[_LINK] = {
            key: st.query_params[param]
            for key, param in _PARAMS.items()
            if param in st.query_params
        }
    pending = st.session_state[_LINK]
    for key, param in _PARAMS.items():
        value = st.session_state.get(key, pending.get(key))
        if value is None:
            if param in st.query_params:
                del st.query_params[param]
        elif st.query_params.get(param) != str(value):
            st.query_params[param] = str(value)


def _adopt_link(las: list[str], cohorts: list[int]) -> None:
    """The link's values, checked against what the store holds; one warning line for any it
    does not hold (that part falls back to All)."""
    pending = st.session_state.get(_LINK) or {}
    if not pending:
        return
    st.session_state[_LINK] = {}
    wrong = []
    la = pending.get(LA_KEY)
    if la is not None:
        found = next((code for code in las if code.lower() == str(la).strip().lower()), None)
        if found is None:
            wrong.append(f"local authority {str(la)[:20]!r}")
        st.session_state[LA_KEY] = found
    cohort = pending.get(COHORT_KEY)
    if cohort is not None:
        year = int(cohort) if str(cohort).strip().isdigit() else None
        if year not in cohorts:
            wrong.append(f"cohort {str(cohort)[:20]!r}")
            year = None
        st.session_state[COHORT_KEY] = year
    if wrong:
        st.sidebar.warning(
            f"The link's {' and '.join(wrong)} is not in this store: showing All instead.",
            icon=":material/link_off:",
        )


ALL = "All"  # the selectboxes' first option: a real value, not None, which they would show
# as an empty choice ("Choose an option") once set through session state


def _keep(key: str) -> None:
    """A selectbox changed: remember its value under the app's own key (All is None)."""
    value = st.session_state[_WIDGETS[key]]
    st.session_state[key] = None if value == ALL else value


def selection_sidebar(summary: Overview) -> tuple[str | None, int | None]:
    """The only filters a user may set (docs/disclosure-control.md): local authority and
    cohort. Kept across pages and in the URL; a selection too small to show is refused where
    results are computed."""
    table = summary.by_la_cohort.frame
    las = sorted(table["la_code"].unique())
    cohorts = sorted(int(c) for c in table["cohort"].unique())
    _adopt_link(las, cohorts)
    for key, valid in ((LA_KEY, las), (COHORT_KEY, cohorts)):
        if st.session_state.get(key) not in valid:  # e.g. a store replaced since
            st.session_state[key] = None
        chosen = st.session_state[key]
        st.session_state[_WIDGETS[key]] = ALL if chosen is None else chosen
    st.sidebar.header("Selection")
    st.sidebar.selectbox(
        "Local authority", [ALL, *las], format_func=str, key="la", on_change=_keep, args=[LA_KEY]
    )
    st.sidebar.selectbox(
        "Cohort (year identified)",
        [ALL, *cohorts],
        format_func=str,
        key="cohort",
        on_change=_keep,
        args=[COHORT_KEY],
    )
    la, cohort = st.session_state[LA_KEY], st.session_state[COHORT_KEY]
    st.sidebar.caption(
        "Only these two filters exist, and a selection with fewer than "
        f"{rules.current_rules().selection_min_families} supported or comparison families "
        "shows no results, so that no family can be singled out by comparing selections. "
        "The selection follows you to every page, and the page's link shares it."
    )
    selection_in_url()
    return la, cohort


def page_title(page: str, la: str | None, cohort: int | None) -> None:
    """The page's heading naming the selection it shows."""
    st.title(f"{page}: {selection_words(la, cohort)}")
