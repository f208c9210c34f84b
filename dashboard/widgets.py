"""What every page draws the same way: the sidebar's selection, charts, tables, and the one line
shown instead of a traceback when a page has a bug."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from tf_eval.governance import rules, untrusted
from tf_eval.release.overview import Overview

# Shown instead of a traceback when a page has a bug (app.py); tests look for it.
INTERNAL_ERROR = "tf-eval hit an internal error on this page"


def selection_sidebar(summary: Overview) -> tuple[str | None, int | None]:
    """The only filters a user may set (docs/disclosure-control.md): local authority and
    cohort. Kept across pages; a selection too small to show is refused where results are
    computed."""
    table = summary.by_la_cohort.frame
    las = sorted(table["la_code"].unique())
    cohorts = sorted(int(c) for c in table["cohort"].unique())
    st.sidebar.header("Selection")
    la = st.sidebar.selectbox("Local authority", [None, *las], format_func=_all, key="la")
    cohort = st.sidebar.selectbox(
        "Cohort (year identified)", [None, *cohorts], format_func=_all, key="cohort"
    )
    st.sidebar.caption(
        "Only these two filters exist, and a selection with fewer than "
        f"{rules.current_rules().selection_min_families} supported or comparison families "
        "shows no results, so that no family can be singled out by comparing selections."
    )
    return la, cohort


def _all(value: object) -> str:
    return "All" if value is None else str(value)


def table(data: pd.DataFrame | list[dict[str, Any]], **options: Any) -> None:
    """Every table the same way: st.dataframe, with each text cell made safe for the CSV a
    reader may download from it (a file name or user starting with = + - @ gets a leading
    quote, so a spreadsheet does not run it) and its control characters shown as escapes."""
    frame = pd.DataFrame(data)

    def safe(value: object) -> object:
        return untrusted.csv_cell(untrusted.plain(value)) if isinstance(value, str) else value

    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].map(safe)
    st.dataframe(frame, **options)


def chart(figure, name: str) -> None:
    """Every chart the same way: full width, and the camera button saves a PNG at twice the
    size, for board packs and slides."""
    st.plotly_chart(
        figure,
        width="stretch",
        config={
            "displaylogo": False,
            "toImageButtonOptions": {"format": "png", "scale": 2, "filename": f"tf-eval-{name}"},
        },
    )
