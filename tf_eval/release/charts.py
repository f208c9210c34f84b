"""Plotly figures for the dashboard and reports, built only from the disclosure gate's safe objects
(each function refuses anything else), each with the gate's note on what it suppressed.

One look for every chart: a colour-blind-safe palette (Okabe-Ito), a title that says what the
chart shows, axis titles with units, and a footnote naming the data source and disclosure rule.
"""

from __future__ import annotations

import textwrap
from datetime import date

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tf_eval.data.outcomes import OUTCOMES, THEME_KEYS, by_theme
from tf_eval.method.covariates import covariate_words
from tf_eval.release import headlines
from tf_eval.release.disclosure import (
    Safe,
    SafeEstimate,
    SafeHistogram,
    SafeTable,
    combined_note,
)

# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
SEQUENTIAL = [[0.0, "#f7fbff"], [1.0, "#0072B2"]]
FONT = "Source Sans Pro, Arial, sans-serif"
# Every chart must read whole in the narrowest place a page draws one: the main column of a
# 1024 px screen beside the sidebar, about 560 px. Titles (18 px) and footnotes (11 px) wrap to
# these many characters a line, which fit it with room to spare (about 9 and 5.5 px a
# character); tests/test_browser.py checks in a real browser at 1024, 1400 and 1920 px.
TITLE_CHARS = 48
FOOTNOTE_WIDTH = 80
TITLE_LINE_PX, LEGEND_ROW_PX, FOOTNOTE_LINE_PX = 24, 24, 14

SOURCE_LABELS = {
    "attendance": "School attendance (terms)",
    "offences": "Proven offences",
    "benefit_spells": "Benefit spells (by start)",
    "ae_attendances": "A&E attendances",
}


def data_source(description: dict[str, str]) -> str:
    """One phrase naming where the figures come from, for footnotes and banners."""
    if description.get("kind") == "demo":
        return (
            f"SYNTHETIC demo data (seed {description.get('seed')}, "
            f"{int(description.get('families', 0)):,} families) - not real people"
        )
    return "Linked agency records"


def selection_source(source: str, la: str | None, cohort: int | None) -> str:
    """The source with the selection a chart shows, so a chart read alone says what it covers."""
    return f"{source}. Selection: {headlines.selection_words(la, cohort)}"


def whole_store_source(source: str) -> str:
    """The source of a chart of the whole store, which the sidebar's selection does not filter."""
    return f"{source}. Selection: none (every local authority and cohort in the store)"


def require(value: object, kind: type[Safe]) -> None:
    """Charts draw only what passed the gate: a raw DataFrame is a programming error."""
    if not isinstance(value, kind):
        raise TypeError(
            f"charts take a {kind.__name__} from tf_eval.release.disclosure, not {type(value)}"
        )


def _wrapped(text: str, width: int) -> list[str]:
    """Text as lines of at most `width` characters (a longer word keeps its own line)."""
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]


def finish(
    fig: go.Figure,
    title: str,
    source: str,
    height: int,
    safe: Safe | str,
    legend_on_top: bool = False,
) -> go.Figure:
    """The house look: a wrapped title at the top left, the legend (if any) between it and the
    plot, and the footnote below the x-axis, every line within the width budgets above.
    `height` is the figure's height with a one-line title and a two-line footnote; the figure
    grows by what its title, legend and footnote need beyond that, so its plot keeps its size."""
    note = safe if isinstance(safe, str) else safe.note()
    produced = f"Produced {date.today():%d %B %Y} by tf-eval."
    lines = [*_wrapped(f"Source: {source}. {produced}", FOOTNOTE_WIDTH)]
    lines += _wrapped(note, FOOTNOTE_WIDTH)
    title_lines = _wrapped(title, TITLE_CHARS)
    top = 30 + TITLE_LINE_PX * len(title_lines) + (LEGEND_ROW_PX + 6) * legend_on_top
    bottom = 75 + FOOTNOTE_LINE_PX * len(lines) + 20
    plot = height - 70 - 130 + 14 * 2  # the plot area the callers sized their height for
    fig.update_layout(
        title={
            "text": "<br>".join(title_lines),
            "x": 0,
            "xanchor": "left",
            "xref": "container",
            "y": 1,
            "yanchor": "top",
            "yref": "container",
            "pad": {"l": 12, "t": 22},
            "font": {"size": 18},
        },
        font={"family": FONT, "size": 13},
        template="plotly_white",
        colorway=PALETTE,
        height=plot + top + bottom,
        margin={"l": 80, "r": 30, "t": top, "b": bottom},
        meta={"source": source, "note": note},  # the footnote's parts, for the board pack's text
    )
    if legend_on_top:  # just above the plot, below the title, from the left edge
        fig.update_layout(
            legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1, "yanchor": "bottom"}
        )
    fig.add_annotation(  # below the x-axis title, a fixed distance in pixels
        text="<br>".join(lines),
        xref="paper",
        yref="paper",
        x=0,
        y=0,
        yshift=-75,
        yanchor="top",
        xanchor="left",
        showarrow=False,
        align="left",
        font={"size": 11, "color": "#555555"},
    )
    return fig


def la_cohort_heatmap(table: SafeTable, measure: str, source: str) -> go.Figure:
    """Safe counts (`measure` of `table`) by local authority and cohort year, with each cell's
    number written on it; suppressed cells are blank and marked with the suppressed mark."""
    require(table, SafeTable)
    grid = table.frame.pivot(index="la_code", columns="cohort", values=measure)
    values = grid.astype("float64")
    labels = grid.apply(lambda column: column.map(table.count_label))
    fig = go.Figure(
        go.Heatmap(
            z=values.to_numpy(),
            x=[str(c) for c in grid.columns],
            y=list(grid.index),
            text=labels.to_numpy(),
            texttemplate="%{text}",
            colorscale=SEQUENTIAL,
            zmin=0,
            colorbar={"title": {"text": measure}},
            hovertemplate="%{y}, cohort %{x}: %{text} " + measure + "<extra></extra>",
        )
    )
    fig.update_xaxes(title="Cohort (year the family was identified)", type="category")
    fig.update_yaxes(title="Local authority", autorange="reversed", type="category")
    height = 170 + 42 * len(grid.index)
    title = f"{measure.capitalize()} by local authority and cohort"
    return finish(fig, title, source, height, table)


def coverage_chart(safe: SafeTable, source: str) -> go.Figure:
    """Records per calendar year for each source, one small panel per source (own scale)."""
    require(safe, SafeTable)
    coverage = safe.frame
    sources = [s for s in SOURCE_LABELS if s in set(coverage["source"])]
    fig = make_subplots(
        rows=len(sources),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=[SOURCE_LABELS[s] for s in sources],
    )
    for row, name in enumerate(sources, start=1):
        part = coverage[coverage["source"] == name]
        fig.add_trace(
            go.Bar(
                x=part["year"].astype(str),
                y=part["records"].astype("float64"),
                text=part["records"].map(safe.count_label),
                marker_color=PALETTE[row - 1],
                name=SOURCE_LABELS[name],
                hovertemplate="%{x}: %{text} records<extra></extra>",
                showlegend=False,
            ),
            row=row,
            col=1,
        )
        fig.update_yaxes(title_text="records", rangemode="tozero", row=row, col=1)
    # Every panel shares one year axis, in calendar order (plotly.js orders matched category axes
    # by first appearance otherwise, so spells begun before the records would trail at the end).
    years = sorted(set(coverage["year"].astype(str)))
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=years)
    fig.update_xaxes(title_text="Calendar year", row=len(sources), col=1)
    return finish(fig, "Records per year by source", source, 150 + 150 * len(sources), safe)


# What each kind of estimate is called on a chart (the row's label, short enough for the
# narrowest chart, and in full when hovered), and its colour. Rows are labelled on the chart
# itself: a legend below the panels ran into the footnote on narrow screens.
# Each kind has its own marker shape too, so that none is told apart by colour alone.
ESTIMATE_KINDS = {
    "matched": ("Estimate", "Supported vs matched families (the estimate)", PALETTE[0]),
    "naive": ("Naive change", "Naive before/after change", PALETTE[5]),
    "placebo": ("Placebo", "Placebo, before support", "#7f7f7f"),
}
ESTIMATE_SYMBOLS = {"matched": "circle", "naive": "diamond", "placebo": "square"}
# How the pack's words name each kind's marker (PALETTE[5] is Okabe-Ito's orange vermilion).
ESTIMATE_LOOKS = {"matched": "blue circle", "naive": "orange diamond", "placebo": "grey square"}


def effects_chart(
    matched: list[SafeEstimate],
    source: str,
    follow_up_months: int,
    naive: list[SafeEstimate] | None = None,
    placebo: list[SafeEstimate] | None = None,
    passing: list[str] | None = None,
) -> go.Figure:
    """One panel per outcome (each in its own unit) with each estimate and its 95% interval, a
    zero line, and withheld estimates named rather than drawn. The title counts the outcomes
    support improved (naming their theme when they share one), and, given `passing` (the
    outcomes whose verdict passes: tf_eval.release.evidence.passing), only those among them;
    withheld estimates are counted apart."""
    kinds = {"matched": matched, "naive": naive or [], "placebo": placebo or []}
    for estimates in kinds.values():
        for estimate in estimates:
            require(estimate, SafeEstimate)
    outcomes = [e.outcome for e in matched]
    fig = _outcome_panels(outcomes)
    for row, outcome in enumerate(outcomes, start=1):
        for kind, estimates in kinds.items():
            label, name, colour = ESTIMATE_KINDS[kind]
            found = [e for e in estimates if e.outcome == outcome]
            if not found:
                continue
            numbers = headlines.scaled(found[0])
            if numbers is None:
                continue
            fig.add_trace(
                _interval_marker(
                    numbers, label, name, colour, ESTIMATE_SYMBOLS[kind], legendgroup=kind
                ),
                row=row,
                col=1,
            )
        fig.add_vline(x=0, line_color="#555555", line_width=1, row=row, col=1)
        headline = next(e for e in matched if e.outcome == outcome)
        if headline.withheld:  # an empty panel says why, in its middle
            across, down = (
                fig.layout[f"{axis}axis{row if row > 1 else ''}"].domain for axis in "xy"
            )
            fig.add_annotation(
                text="<br>".join(
                    _wrapped(f"Estimate not shown: {headline.reason}", FOOTNOTE_WIDTH)
                ),
                x=sum(across) / 2,
                y=sum(down) / 2,
                xref="paper",
                yref="paper",
                showarrow=False,
                font={"size": 11, "color": "#555555"},  # the footnote's, within its width
            )
        # First row at the top, with room above it for its value (not under the panel's title).
        drawn = sum(1 for t in fig.select_traces(row=row, col=1))
        fig.update_yaxes(ticksuffix=" ", range=[max(drawn, 1) - 0.5, -0.9], row=row, col=1)
    fig.update_xaxes(zeroline=False)
    improved = [headlines.improved(e) for e in matched]
    counted = [passing is None or e.outcome in passing for e in matched]
    good = sum(1 for i, ok in zip(improved, counted, strict=True) if i and ok)
    withheld = sum(1 for e in matched if e.withheld)
    title = headlines.improved_title(outcomes, good, follow_up_months, withheld)
    safe: list[Safe] = [e for estimates in kinds.values() for e in estimates]
    return finish(fig, title, source, 170 + 150 * len(outcomes), combined_note(safe))


def effects_by_theme(
    matched: list[SafeEstimate],
    source: str,
    follow_up_months: int,
    naive: list[SafeEstimate] | None = None,
    placebo: list[SafeEstimate] | None = None,
    passing: list[str] | None = None,
) -> dict[str, go.Figure]:
    """`effects_chart` for each theme's outcomes (outcomes.by_theme), keyed by the theme's short
    name (outcomes.THEME_KEYS): nine outcomes read a theme at a time, not as one long column."""
    estimates = {e.outcome: e for e in matched}
    return {
        THEME_KEYS[theme]: effects_chart(
            [estimates[k] for k in keys],
            source,
            follow_up_months,
            naive=[e for e in naive or [] if e.outcome in keys],
            placebo=[e for e in placebo or [] if e.outcome in keys],
            passing=passing,
        )
        for theme, keys in by_theme(estimates).items()
    }


# The two compared analyses: colour and marker shape, so neither is told apart by colour alone.
COMPARED_LOOKS = ((PALETTE[0], "circle"), (PALETTE[1], "diamond"))
ROW_LABEL_CHARS = 24  # an analysis' name as a row label (in full when hovered)


def comparison_chart(
    analyses: dict[str, list[SafeEstimate]], source: str, follow_up: str
) -> go.Figure:
    """Two saved analyses' estimates (by name) with their 95% intervals, one panel per outcome
    and a row per analysis, so that both are read on the same axis (a withheld estimate is not
    drawn: the table beside the chart says so). Outcomes are those both analyses estimate;
    `follow_up` says the follow-up in words (the analyses may differ)."""
    for estimates in analyses.values():
        for estimate in estimates:
            require(estimate, SafeEstimate)
    first = next(iter(analyses.values()))
    outcomes = [
        e.outcome
        for e in first
        if all(any(o.outcome == e.outcome for o in listed) for listed in analyses.values())
    ]
    labels = [_short(name) for name in analyses]
    if len(set(labels)) < len(labels):  # names alike in their first characters: number them
        labels = [f"{i}: {label}" for i, label in enumerate(labels, start=1)]
    fig = _outcome_panels(outcomes)
    for row, outcome in enumerate(outcomes, start=1):
        for (name, estimates), label, (colour, symbol) in zip(
            analyses.items(), labels, COMPARED_LOOKS, strict=True
        ):
            numbers = headlines.scaled(next(e for e in estimates if e.outcome == outcome))
            if numbers is None:  # withheld: the table beside the chart says why
                continue
            fig.add_trace(
                _interval_marker(numbers, label, _escaped(name), colour, symbol),
                row=row,
                col=1,
            )
        fig.add_vline(x=0, line_color="#555555", line_width=1, row=row, col=1)
        fig.update_yaxes(ticksuffix=" ", range=[len(analyses) - 0.5, -0.9], row=row, col=1)
    fig.update_xaxes(zeroline=False)
    title = f"The two analyses' effects on one scale, outcome by outcome ({follow_up})"
    safe: list[Safe] = [e for estimates in analyses.values() for e in estimates]
    figure = finish(fig, title, source, 170 + 150 * len(outcomes), combined_note(safe))
    return room_for_labels(figure, labels)


def stacked_spacing(rows: int, share: float) -> float:
    """make_subplots' vertical_spacing for `rows` stacked panels: `share` of the plot between
    each two of up to four panels, and beyond four the gap four would have, since the plot
    grows with its panels. A fixed share squeezed nine outcomes' panels into 4% of the plot."""
    return 0.0 if rows < 2 else min(share, share * 4 / rows)


def _outcome_panels(outcomes: list[str]) -> go.Figure:
    """One panel per outcome, stacked, each titled with the outcome and its unit."""
    return make_subplots(
        rows=len(outcomes),
        cols=1,
        vertical_spacing=stacked_spacing(len(outcomes), 0.12),
        subplot_titles=[f"{OUTCOMES[o].label} ({headlines.display_unit(o)})" for o in outcomes],
    )


def _interval_marker(
    numbers: tuple[float, float, float],
    label: str,
    name: str,
    colour: str,
    symbol: str,
    **extra: str,
) -> go.Scatter:
    """One estimate as a marker on row `label` with its 95% interval as error bars, its value
    written above it (said as well as drawn) and in the hover text."""
    att, low, high = numbers
    return go.Scatter(
        x=[att],
        y=[label],
        mode="markers+text",
        marker={"color": colour, "size": 11, "symbol": symbol},
        text=[f"{att:.3g}"],
        textposition="top center",
        textfont={"size": 11, "color": colour},
        error_x={
            "type": "data",
            "symmetric": False,
            "array": [high - att],
            "arrayminus": [att - low],
            "color": colour,
            "thickness": 2,
        },
        name=name,
        showlegend=False,
        hovertemplate=f"{name}: %{{x:.3g}} (95% CI {low:.3g} to {high:.3g})<extra></extra>",
        **extra,
    )


LABEL_CHAR_PX = 7  # about what a character of a 13 px row label takes


def room_for_labels(fig: go.Figure, labels: list[str]) -> go.Figure:
    """A left margin as wide as the longest row label ("Worklessness, year before"), with the
    footnote where every chart has it: anchored to the plot, it moved right with the margin and
    ran off the chart at 1024 px."""
    margin = max(fig.layout.margin.l, 20 + LABEL_CHAR_PX * max(map(len, labels), default=0))
    shift = fig.layout.margin.l - margin
    fig.update_layout(margin={"l": margin})
    fig.layout.annotations[-1].xshift = shift  # the footnote (finish adds it last)
    return fig


def _short(name: str) -> str:
    """An analysis' name as a row label: escaped, and cut to ROW_LABEL_CHARS with an ellipsis."""
    cut = name if len(name) <= ROW_LABEL_CHARS else name[: ROW_LABEL_CHARS - 1] + "\u2026"
    return _escaped(cut)


def _escaped(text: str) -> str:
    """A person's text in a chart: plotly reads <b> and the like as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


BALANCE_THRESHOLD = 0.1  # |SMD| under this is conventionally balanced (cobalt's default line)


def love_plot(balance: SafeTable, source: str) -> go.Figure:
    """Absolute standardised mean differences before and after matching, one row per covariate
    (in words: "Local authority LA01", not MatchIt's `la_codeLA01`), with the 0.1 line; the title
    says how many are still over it."""
    require(balance, SafeTable)
    frame = balance.frame.iloc[::-1]  # plotly draws the first row at the bottom
    before, after = frame["smd_before"].abs(), frame["smd_after"].abs()
    names = [covariate_words(name) for name in frame["covariate"]]
    fig = go.Figure()
    for values, name, symbol, colour in (
        (before, "Before matching", "circle-open", PALETTE[5]),
        (after, "After matching", "circle", PALETTE[0]),
    ):
        fig.add_trace(
            go.Scatter(
                x=values,
                y=names,
                mode="markers",
                name=name,
                marker={"symbol": symbol, "size": 9, "color": colour, "line": {"width": 2}},
                hovertemplate="%{y}: |SMD| %{x:.3f}<extra>" + name + "</extra>",
            )
        )
    fig.add_vline(x=BALANCE_THRESHOLD, line_dash="dash", line_color="#555555")
    fig.update_xaxes(title="Absolute standardised mean difference (SD units)", rangemode="tozero")
    # Labels clear of the dots, and the margin as wide as the longest covariate's words.
    fig.update_yaxes(title=None, type="category", ticksuffix=" ")
    if after.isna().all():
        title = "Balance is not shown for groups this small"
    else:
        over = int((after > BALANCE_THRESHOLD).sum())
        title = (
            f"After matching every covariate is within {BALANCE_THRESHOLD} SD"
            if over == 0
            else f"After matching {over} covariate{'s' * (over != 1)} still differ by more "
            f"than {BALANCE_THRESHOLD} SD"
        )
    figure = finish(fig, title, source, 160 + 22 * len(frame), balance, legend_on_top=True)
    return room_for_labels(figure, names)


def overlap_chart(treated: SafeHistogram, comparison: SafeHistogram, source: str) -> go.Figure:
    """Propensity-score distributions of the two groups before matching, as protected counts in
    fixed bins (merged where small), so the evaluator can see where they overlap."""
    require(treated, SafeHistogram)
    require(comparison, SafeHistogram)
    fig = go.Figure()
    for histogram, name, colour in (
        (treated, "Supported families", PALETTE[0]),
        (comparison, "Comparison pool", PALETTE[1]),
    ):
        edges = histogram.edges
        fig.add_trace(
            go.Bar(
                x=[(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)],
                width=[b - a for a, b in zip(edges, edges[1:], strict=False)],
                y=[float("nan") if c is None else c for c in histogram.bin_counts],
                name=name,
                marker_color=colour,
                opacity=0.6,
                customdata=[f"{a:.2f}-{b:.2f}" for a, b in zip(edges, edges[1:], strict=False)],
                hovertemplate="score %{customdata}: %{y} families<extra>" + name + "</extra>",
            )
        )
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title="Propensity score (chance of being supported)", range=[0, 1])
    fig.update_yaxes(title="families", rangemode="tozero")
    title = "Propensity scores of the two groups before matching"
    note = combined_note([treated, comparison])
    return finish(fig, title, source, 420, note, legend_on_top=True)


def breakdown_chart(
    estimates: dict[str, SafeEstimate],
    outcome: str,
    dimension: str,
    source: str,
    refused: list[str],
) -> go.Figure:
    """One outcome's matched estimate in each group (local authority or cohort), with 95%
    intervals and a zero line. Groups whose selection was refused or whose estimate was withheld
    are named in the footnote, not drawn."""
    for estimate in estimates.values():
        require(estimate, SafeEstimate)
    shown = {g: headlines.scaled(e) for g, e in estimates.items()}
    drawn = {g: n for g, n in shown.items() if n is not None}
    groups = list(drawn)[::-1]  # first group at the top
    fig = go.Figure(
        go.Scatter(
            x=[drawn[g][0] for g in groups],
            y=groups,
            mode="markers",
            marker={"color": PALETTE[0], "size": 10},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [drawn[g][2] - drawn[g][0] for g in groups],
                "arrayminus": [drawn[g][0] - drawn[g][1] for g in groups],
                "color": PALETTE[0],
                "thickness": 2,
            },
            hovertemplate="%{y}: %{x:.3g}<extra></extra>",
            showlegend=False,
        )
    )
    fig.add_vline(x=0, line_color="#555555", line_width=1)
    fig.update_xaxes(title=f"Effect ({headlines.display_unit(outcome)}), 95% CI")
    fig.update_yaxes(title=dimension, type="category")
    missing = refused + [g for g, n in shown.items() if n is None]
    note = combined_note(list(estimates.values()))
    if missing:
        note += f" Not shown (too few families): {', '.join(missing)}."
    title = f"{OUTCOMES[outcome].label}: effect by {dimension.lower()}"
    return finish(fig, title, source, 160 + 34 * max(len(groups), 1), note)


def retention_chart(table: SafeTable, source: str) -> go.Figure:
    """Families by the year their retention period ends (protected counts)."""
    require(table, SafeTable)
    frame = table.frame
    fig = go.Figure(
        go.Bar(
            x=frame["ends"].astype(str),
            y=frame["families"].astype("float64"),
            text=frame["families"].map(table.count_label),
            marker_color=PALETTE[2],
            hovertemplate="retention ends %{x}: %{text} families<extra></extra>",
        )
    )
    fig.update_xaxes(title="Year the retention period ends", type="category")
    fig.update_yaxes(title="families", rangemode="tozero")
    return finish(fig, "When families' records must be destroyed", source, 380, table)
