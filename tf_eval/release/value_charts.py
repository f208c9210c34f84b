"""The value-for-money charts, in the house look of tf_eval.release.charts (its `finish`: wrapped
title, legend above the plot, footnote with the source and the disclosure note, the margin as
wide as the row labels), drawn from a
ValueForMoney only, which tf_eval.release.value builds from gated estimates and the user's
settings. A chart module of its own: charts.py is at the size a module may grow to."""

from __future__ import annotations

import plotly.graph_objects as go

from tf_eval.data.outcomes import OUTCOMES
from tf_eval.method.value_model import MEASURES
from tf_eval.release.charts import PALETTE, finish, room_for_labels
from tf_eval.release.value import ValueForMoney, pounds, rounded

LOOKS = {"fiscal": (PALETTE[0], "circle"), "economic": (PALETTE[1], "diamond")}
NAMES = {"fiscal": "Fiscal (public purse)", "economic": "Economic (society)"}
TOTAL = "All outcomes"
SENSITIVITY_ROWS = 8  # the largest swings; the rest move the figures less


def _require(vfm: object) -> None:
    if not isinstance(vfm, ValueForMoney):
        raise TypeError(f"value charts take a ValueForMoney, not {type(vfm)}")


def _note(vfm: ValueForMoney) -> str:
    out = [OUTCOMES[r.outcome].label for r in vfm.outcomes if r.withheld_because]
    left = f" Left out: {', '.join(out)} (the page and the table say why)." if out else ""
    drawn = "jointly, with their correlation" if vfm.correlation else "independently"
    return (
        f"Pounds at {vfm.settings.costs.price_year} prices, present value per supported family; "
        f"95% intervals from the estimates' own (outcomes drawn {drawn}).{left} {vfm.note}"
    )


def benefits_chart(vfm: ValueForMoney, source: str) -> go.Figure:
    """Each outcome's benefit per supported family, fiscal and economic, with its 95% interval,
    and all outcomes together, beside a line at the programme's cost per family."""
    _require(vfm)
    rows = [r for r in vfm.outcomes if r.benefit is not None]
    labels = [OUTCOMES[r.outcome].label for r in rows] + [TOTAL]
    fig = go.Figure()
    for m in MEASURES:
        colour, symbol = LOOKS[m]
        intervals = [r.benefit[m] for r in rows] + [vfm.figures.per_family[m]]  # type: ignore[index]
        fig.add_trace(
            go.Scatter(
                x=[i.estimate for i in intervals],
                y=labels,
                mode="markers",
                marker={"color": colour, "size": 11, "symbol": symbol},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [i.high - i.estimate for i in intervals],
                    "arrayminus": [i.estimate - i.low for i in intervals],
                    "color": colour,
                    "thickness": 2,
                },
                name=NAMES[m],
                offsetgroup=m,  # side by side on each row, not on top of each other
                orientation="h",
                customdata=[[pounds(i.low), pounds(i.high)] for i in intervals],
                hovertemplate=f"{NAMES[m]}: £%{{x:,.3r}} (95% interval %{{customdata[0]}} to "
                "%{customdata[1]})<extra>%{y}</extra>",
            )
        )
    cost = vfm.settings.model.programme_cost
    fig.add_vline(x=0, line_color="#555555", line_width=1)
    fig.add_vline(x=cost, line_dash="dash", line_color="#555555")
    fig.update_yaxes(autorange="reversed", ticksuffix=" ")
    fig.update_xaxes(
        title_text=f"£ per supported family ({vfm.settings.costs.price_year} prices)",
        tickprefix="£",
        tickformat=",",
    )
    fig.update_layout(scattermode="group")
    total = vfm.figures.per_family
    title = (
        f"What support is worth per family: {pounds(total['fiscal'].estimate)} to the public "
        f"purse, {pounds(total['economic'].estimate)} to society, against {pounds(cost)} spent"
    )
    note = f"The dashed line is the programme's cost per family. {_note(vfm)}"
    figure = finish(fig, title, source, 200 + 46 * len(labels), note, legend_on_top=True)
    return room_for_labels(figure, labels)


def sensitivity_chart(vfm: ValueForMoney, source: str) -> go.Figure:
    """The one-way sensitivity (a tornado): for each setting moved either way, the range of the
    benefit per pound spent, fiscal and economic, beside the figures as chosen and £1."""
    _require(vfm)
    rows = vfm.sensitivity[:SENSITIVITY_ROWS]
    labels = [f"{r.label}<br>{r.low_case} to {r.high_case}" for r in rows]
    fig = go.Figure()
    for m in MEASURES:
        colour, _ = LOOKS[m]
        low = [min(r.low[m], r.high[m]) for r in rows]
        high = [max(r.low[m], r.high[m]) for r in rows]
        fig.add_trace(
            go.Bar(
                x=[h - lo for lo, h in zip(low, high, strict=True)],
                base=low,
                y=labels,
                orientation="h",
                marker={"color": colour},
                name=NAMES[m],
                customdata=[
                    [pounds(r.low[m], True), pounds(r.high[m], True), r.low_case, r.high_case]
                    for r in rows
                ],
                hovertemplate=f"{NAMES[m]}: %{{customdata[0]}} at %{{customdata[2]}}, "
                "%{customdata[1]} at %{customdata[3]}<extra>%{y}</extra>",
            )
        )
        chosen = vfm.figures.ratio[m].estimate
        fig.add_vline(x=chosen, line_color=colour, line_width=2)
    fig.add_vline(x=1, line_dash="dash", line_color="#555555")
    fig.update_yaxes(autorange="reversed", ticksuffix=" ")
    fig.update_xaxes(title_text="£ returned per £1 spent", tickprefix="£")
    fig.update_layout(barmode="group")
    ratio = vfm.figures.ratio
    title = (
        f"What moves the return per £1 (now £{rounded(ratio['fiscal'].estimate):.2f} fiscal, "
        f"£{rounded(ratio['economic'].estimate):.2f} economic)"
    )
    note = (
        "Each bar: the return per £1 with one setting moved, the rest as chosen (solid lines); "
        f"the dashed line, £1, is where support pays for itself. {_note(vfm)}"
    )
    figure = finish(fig, title, source, 200 + 52 * len(labels), note, legend_on_top=True)
    return room_for_labels(figure, [line for label in labels for line in label.split("<br>")])
