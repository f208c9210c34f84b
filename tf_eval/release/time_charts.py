"""Charts over time, in the house look of tf_eval.release.charts: each outcome month by month
around the index date (supported and matched comparison families), and the gap between them
quarter by quarter (the event study)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tf_eval.data.outcomes import OUTCOMES
from tf_eval.release import headlines
from tf_eval.release.charts import PALETTE, finish, require, stacked_spacing
from tf_eval.release.disclosure import SafeEventStudy, SafeTable, combined_note

TREND_GROUPS = {
    "supported": ("Supported families", PALETTE[0], "rgba(0, 114, 178, 0.18)"),
    "comparison": ("Matched comparison families", PALETTE[1], "rgba(230, 159, 0, 0.22)"),
}


def trend_chart(table: SafeTable, outcome: str, source: str) -> go.Figure:
    """Monthly means with 95% bands for supported and matched comparison families, months
    counted from the index date (0 = the month the family was identified); suppressed months are
    gaps."""
    require(table, SafeTable)
    scale, axis = headlines.TREND_AXIS[outcome]
    fig = go.Figure()
    for group, (name, colour, fill) in TREND_GROUPS.items():
        part = table.frame[table.frame["group"] == group].sort_values("month")
        months = part["month"].tolist()
        # One band per run of shown months: a suppressed month leaves a gap, not a wrong shape.
        shown = part["mean"].notna().to_numpy()
        runs = np.split(np.arange(len(part)), np.flatnonzero(np.diff(shown.astype(int))) + 1)
        for run in (r for r in runs if shown[r[0]]):
            band = part.iloc[run]
            x = band["month"].tolist()
            fig.add_trace(
                go.Scatter(
                    x=x + x[::-1],
                    y=(band["ci_high"] * scale).tolist() + (band["ci_low"] * scale).tolist()[::-1],
                    fill="toself",
                    fillcolor=fill,
                    mode="lines",
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=group,
                )
            )
        fig.add_trace(
            go.Scatter(
                x=months,
                y=part["mean"] * scale,
                mode="lines+markers",
                name=name,
                line={"color": colour, "width": 2.5},
                marker={"size": 5},
                legendgroup=group,
                hovertemplate="month %{x}: %{y:.3g}<extra>" + name + "</extra>",
            )
        )
    fig.add_vline(
        x=-0.5,
        line_dash="dash",
        line_color="#555555",
        annotation_text="identified",
        annotation_position="top right",
    )
    fig.update_xaxes(title="Months from the month the family was identified (0)", dtick=3)
    # Attendance sits near 90%: from zero its changes would be invisible.
    fig.update_yaxes(title=axis, rangemode="normal" if outcome == "attendance" else "tozero")
    title = f"{OUTCOMES[outcome].label} month by month: supported and matched comparison families"
    return finish(fig, title, source, 470, table, legend_on_top=True)


def event_study_chart(studies: list[SafeEventStudy], source: str) -> go.Figure:
    """One panel per outcome: the difference between supported and matched comparison families
    in the change since the quarter before identification (the reference, hollow, 0 by
    definition), quarter by quarter with 95% intervals, each quarter drawn at its middle month;
    a withheld quarter is a gap. Each panel's title gives the pre-trend test's p-value."""
    for study in studies:
        require(study, SafeEventStudy)
    titles = []
    for study in studies:
        p = study.pretrend_p_value
        test = "not shown" if p is None else ("p < 0.001" if p < 0.001 else f"p = {p:.3g}")
        unit = headlines.display_unit(study.outcome)
        titles.append(f"{OUTCOMES[study.outcome].label} ({unit}); before support: {test}")
    fig = make_subplots(
        rows=max(len(studies), 1),
        cols=1,
        vertical_spacing=stacked_spacing(len(studies), 0.1),
        subplot_titles=titles,
    )
    for row, study in enumerate(studies, start=1):
        shown = [(m, headlines.scaled(e)) for m, e in sorted(study.cells.items())]
        shown = [(m, n) for m, n in shown if n is not None]
        x = [m + 1 for m, _ in shown]
        att = [n[0] for _, n in shown]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=att,
                mode="markers",
                marker={"color": PALETTE[0], "size": 8},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [n[2] - n[0] for _, n in shown],
                    "arrayminus": [n[0] - n[1] for _, n in shown],
                    "color": PALETTE[0],
                },
                showlegend=False,
                hovertemplate="quarter from month %{x}: %{y:.3g}<extra></extra>",
            ),
            row=row,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=[study.reference_month + 1],
                y=[0],
                mode="markers",
                marker={"color": "white", "size": 8, "line": {"color": PALETTE[0], "width": 2}},
                showlegend=False,
                hovertemplate="reference quarter: 0 by definition<extra></extra>",
            ),
            row=row,
            col=1,
        )
        fig.add_hline(y=0, line_color="#555555", line_width=1, row=row, col=1)
        fig.add_vline(x=-0.5, line_dash="dash", line_color="#555555", row=row, col=1)
        fig.update_xaxes(dtick=3, row=row, col=1)
    fig.update_xaxes(
        title="Months from the month the family was identified (0); each quarter at its middle",
        row=max(len(studies), 1),
        col=1,
    )
    title = "The gap between supported and matched comparison families, quarter by quarter"
    return finish(fig, title, source, 170 + 190 * len(studies), combined_note(list(studies)))
