"""What every page draws the same way: charts, tables, and the one line
shown instead of a traceback when a page has a bug."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from tf_eval.data.outcomes import THEME_KEYS, by_theme
from tf_eval.governance import untrusted

# Shown instead of a traceback when a page has a bug (app.py); tests look for it.
INTERNAL_ERROR = "tf-eval hit an internal error on this page"


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


def theme_tabs(outcomes: list[str]) -> list[tuple[Any, list[str], str]]:
    """A tab per theme of the outcomes given (education, crime and justice, ...), each with the
    count of its outcomes, so nine outcomes' charts are read a theme at a time, not as one long
    column: (the tab to draw in, its outcomes, a name for the charts' files). One theme needs no
    tabs: its outcomes are drawn on the page."""
    groups = by_theme(outcomes)
    names = [THEME_KEYS[theme] for theme in groups]
    if len(groups) == 1:
        return [(st.container(), next(iter(groups.values())), names[0])]
    tabs = st.tabs([f"{theme} ({len(keys)})" for theme, keys in groups.items()])
    return list(zip(tabs, groups.values(), names, strict=True))


def themed_charts(figures: dict[str, Any], outcomes: list[str], name: str) -> None:
    """Charts keyed by theme (tf_eval.release.charts.effects_by_theme), each in its theme's tab,
    saved as `name-THEME`."""
    for tab, _, key in theme_tabs(outcomes):
        with tab:
            chart(figures[key], f"{name}-{key}")
