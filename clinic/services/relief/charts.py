"""Charts drawn on the server as SVG (they print and need no script in the browser).

matplotlib's object API is used directly (no pyplot state), so charts can be drawn from
several request threads at once. matplotlib is imported by ``new_figure``, when a chart is first
drawn, not when the app starts: most processes never draw one.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from clinic.services.relief.rules import format_percent

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from clinic.services.relief.reports import GroupSummary

_MATPLOTLIB_SET_UP: list[bool] = []  # set up once per process, on the first chart


def new_figure(width_in: float, height_in: float, dpi: int = 96):
    """A matplotlib ``Figure`` of that size, matplotlib set up for SVG on first use."""
    import matplotlib

    if not _MATPLOTLIB_SET_UP:
        matplotlib.use("Agg")
        matplotlib.rcParams.update(
            {"svg.fonttype": "none", "svg.hashsalt": "clinic", "font.size": 9}
        )
        _MATPLOTLIB_SET_UP.append(True)
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=dpi)


PALETTE = ["#1f4e5f", "#c0392b", "#2e86ab", "#8e6c8a", "#d68910", "#117a65", "#5d6d7e", "#a04000"]


@dataclass(frozen=True)
class ProcedureTrace:
    """One procedure on the pain chart: when, what, its baseline and its follow-up scores."""

    label: str
    performed_on: date
    baseline: int | None
    scores: list[tuple[date, int]]
    short_label: str | None = None  # drawn instead when the label has no room (the code)


LABEL_ROWS = 3
LABEL_ROW_HEIGHT = 0.75  # in NRS points, above the top of the scale
PLOT_MARGIN_PX = 116  # the figure's width less the axes' (700 of 816 pixels)
LABEL_CHAR_PX = 6.7  # an 8-point character, on average (measured)


def label_rows(
    ordered: list[ProcedureTrace], until: date | None, width: int = 816
) -> list[tuple[int, str] | None]:
    """The row (0 at the bottom) and text of each procedure's label above the chart, so that
    labels of procedures close in time (two blocks a fortnight apart) never print over each
    other.

    A label goes on the lowest row free where it starts. Where the next procedure starts before
    the whole label would end, the short form (the code) is drawn instead, so that a cluster of
    procedures keeps a label each; a label with no row free is left out (None): its line keeps
    its colour, and the caption under the chart names every procedure. Years of history crowd the
    axis — six procedures in one year of a five-year chart — and the phone's chart is narrower.
    """
    if not ordered:
        return []
    first = ordered[0].performed_on - timedelta(days=7)
    last = max(
        [until or ordered[-1].performed_on]
        + [t.scores[-1][0] for t in ordered if t.scores]
        + [t.performed_on for t in ordered]
    )
    days_per_px = max((last - first).days, 30) / (width - PLOT_MARGIN_PX)

    def ends(start: int, text: str) -> float:
        return start + (len(text) + 1) * LABEL_CHAR_PX * days_per_px

    free_from: list[float] = [float("-inf")] * LABEL_ROWS  # each row is free after this day
    placed: list[tuple[int, str] | None] = []
    for index, trace in enumerate(ordered):
        start = (trace.performed_on - first).days
        row = next((r for r in range(LABEL_ROWS) if free_from[r] < start), None)
        if row is None:
            placed.append(None)
            continue
        text = trace.label
        following = ordered[index + 1] if index + 1 < len(ordered) else None
        if (
            trace.short_label
            and following is not None
            and (following.performed_on - first).days < ends(start, text)
        ):
            text = trace.short_label
        free_from[row] = ends(start, text)
        placed.append((row, text))
    return placed


# The widths the pain chart is drawn for: a desktop's and a phone's. Drawn at the width it is
# shown at, its 8-point labels are 10.7 px on screen (a chart scaled down to fit would not be).
PAIN_CHART_WIDTHS = {816: 336, 360: 300}


def pain_chart_svg(
    traces: list[ProcedureTrace], threshold: float, until: date | None = None, width: int = 816
) -> bytes:
    """Pain (NRS) over time: a line per procedure from its baseline, the procedure marked, and
    the relief threshold drawn as the NRS at which relief reaches ``threshold`` percent."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    figure = new_figure(width / 96, PAIN_CHART_WIDTHS[width] / 96)
    axes = figure.add_subplot()
    ordered = sorted(traces, key=lambda t: t.performed_on)
    labels = label_rows(ordered, until, width)
    drawn = []  # (label, its row, its short form) of each label drawn, in time order
    for index, trace in enumerate(ordered):
        colour = PALETTE[index % len(PALETTE)]
        axes.axvline(trace.performed_on, color=colour, linewidth=1, linestyle=":")
        if labels[index] is not None:
            row, text = labels[index]
            label = axes.annotate(
                text,
                (trace.performed_on, 10.3 + LABEL_ROW_HEIGHT * row),
                color=colour,
                fontsize=8,
                rotation=0,
                ha="left",
                va="bottom",
                annotation_clip=False,
            )
            drawn.append((label, row, trace.short_label))
        dates = [d for d, _ in trace.scores]
        values = [v for _, v in trace.scores]
        if trace.baseline is not None:
            dates.insert(0, trace.performed_on)
            values.insert(0, trace.baseline)
            relieved_at = trace.baseline * (1 - threshold / 100)
            end = (trace.scores[-1][0] if trace.scores else trace.performed_on) + timedelta(days=7)
            axes.hlines(
                relieved_at, trace.performed_on, end, colors=colour, linestyles="--", linewidth=0.8
            )
        axes.plot(
            dates,
            values,
            marker="o",
            markersize=3.5,
            linewidth=1.4,
            color=colour,
            label=trace.label,
        )
    axes.set_ylim(-0.3, 10.3)
    axes.set_yticks(range(0, 11, 2))
    axes.set_ylabel("Pain (NRS 0–10)")
    axes.grid(axis="y", color="#dddddd", linewidth=0.6)
    axes.spines[["top", "right"]].set_visible(False)
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    if until is not None and traces:
        start = min(t.performed_on for t in traces) - timedelta(days=7)
        axes.set_xlim(start, max(until, start + timedelta(days=30)))
    figure.tight_layout()
    _part_labels(figure, drawn)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _part_labels(figure: Figure, drawn: list) -> None:
    """Measure the labels as laid out and part any two that still touch on a row: the earlier
    one shortened to its code, or failing that the later one left out.

    ``label_rows`` places them by an estimate of the text's width and of the plot's, which the
    layout then moves (a label hanging past the right edge narrows the plot); shortening or
    leaving a label out can only widen the plot again, which moves the labels apart, so after
    the layout is done again no two touch.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    gap = 3  # pixels between two labels on one row

    def touches(label, following) -> bool:
        ends = label.get_window_extent(renderer).x1 + gap
        return ends > following.get_window_extent(renderer).x0

    for _ in range(4):
        changed = False
        for row in {row for _, row, _ in drawn}:
            previous = None  # the last label left showing on this row, and its short form
            for label, on, short in drawn:
                if on != row or not label.get_visible():
                    continue
                if previous is not None and touches(previous[0], label):
                    changed = True
                    if previous[1] and previous[0].get_text() != previous[1]:
                        previous[0].set_text(previous[1])
                    if touches(previous[0], label):
                        label.set_visible(False)
                        continue
                previous = (label, short)
        if not changed:
            return
        figure.tight_layout()


# The relief report's Kaplan–Meier chart --------------------------------------------------------------------

CHART_WIDTH_IN = 8.5
CHART_DPI = 96


def chart_size(groups: int) -> tuple[float, float]:
    """The chart's size in inches: the curves, plus a line of the at-risk table per group."""
    return CHART_WIDTH_IN, 3.9 + 0.5 + 0.22 * max(groups, 1)


def _day_ticks(last_day: float) -> list[int]:
    """Round steps (a week to a year) giving at most eight ticks up to the last day."""
    for step in (7, 14, 30, 90, 180, 365, 730):
        if last_day / step <= 6:
            break
    return list(range(0, int(last_day) + step, step))


def relief_chart_svg(summaries: list[GroupSummary], threshold: float, grouped_by: str) -> bytes:
    """Kaplan–Meier curves of relief per group with 95% bands, and the numbers at risk below."""
    charted = [s for s in summaries if s.km is not None]
    width, height = chart_size(len(charted))
    figure = new_figure(width, height, CHART_DPI)
    if charted:
        _draw_curves(figure, charted, threshold, grouped_by)
    else:
        _draw_no_curve(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _draw_no_curve(figure: Figure) -> None:
    """Say why there is no chart: no responder, so no relief duration."""
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.text(
        0.5,
        0.5,
        "No responders in this selection: there is no relief duration to chart.",
        ha="center",
        va="center",
        fontsize=11,
        color="#333333",
    )


def _draw_curves(
    figure: Figure, charted: list[GroupSummary], threshold: float, grouped_by: str
) -> None:
    """The curves above and the at-risk table below, on one axis of days since the procedure."""
    width, height = chart_size(len(charted))
    last_day = max(s.last_day for s in charted) or 1
    names = [s.code if grouped_by == "procedure" else s.label for s in charted]
    # Room on the left for the at-risk table's row names (about 0.075 in a character).
    longest = max(len(name) for name in names)
    left = min(0.32, (0.45 + 0.075 * longest) / width)
    right = max(0.62, 1 - (0.55 + 0.07 * longest) / width)
    ticks = _day_ticks(last_day)
    grid = figure.add_gridspec(2, 1, height_ratios=[3.9, 0.5 + 0.22 * len(charted)], hspace=0.08)
    axes = figure.add_subplot(grid[0])
    table = figure.add_subplot(grid[1], sharex=axes)
    for index, summary in enumerate(charted):
        colour = PALETTE[index % len(PALETTE)]
        _draw_curve(axes, summary, names[index], colour)
        _draw_at_risk(table, summary, len(charted) - 1 - index, names[index], colour, ticks)
    _style_curves(axes, threshold, ticks)
    _style_at_risk(table, len(charted))
    figure.subplots_adjust(left=left, right=right, top=0.97, bottom=0.6 / height)


def _draw_curve(axes, summary: GroupSummary, name: str, colour: str) -> None:
    """One group's curve from 100% at day 0, its 95% band, and ticks where follow-up ended."""
    import numpy as np

    rows = summary.curve
    days = [0.0] + [row.day for row in rows]
    relief_pct = [100.0] + [row.relief_pct for row in rows]
    low = [100.0] + [np.nan if row.ci_low_pct is None else row.ci_low_pct for row in rows]
    high = [100.0] + [np.nan if row.ci_high_pct is None else row.ci_high_pct for row in rows]
    axes.step(days, relief_pct, where="post", color=colour, linewidth=1.8, label=name)
    axes.fill_between(days, low, high, step="post", color=colour, alpha=0.14, linewidth=0)
    censored = [row for row in rows if row.censored]
    axes.plot(
        [row.day for row in censored],
        [row.relief_pct for row in censored],
        linestyle="none",
        marker="|",
        markersize=7,
        color=colour,
    )


def _draw_at_risk(
    table, summary: GroupSummary, y: int, name: str, colour: str, ticks: list[int]
) -> None:
    """One group's line of the at-risk table: its name, then the number at risk at each tick."""
    table.text(
        -0.035,
        y,
        name,
        transform=table.get_yaxis_transform(),
        ha="right",
        va="center",
        color=colour,
        fontsize=8,
        fontweight="bold",
    )
    for tick in ticks:
        table.text(tick, y, str(summary.at_risk_on(tick)), ha="center", va="center", fontsize=8)


def _style_curves(axes, threshold: float, ticks: list[int]) -> None:
    """The curves' axes: percent still relieved, the median line at 50%, the legend beside."""
    axes.axhline(50, color="#888888", linewidth=0.8, linestyle="--")
    axes.set_ylim(0, 102)
    axes.set_yticks(range(0, 101, 25))
    axes.set_ylabel(f"Still relieved (≥ {format_percent(threshold)}%), % of responders")
    axes.grid(color="#e3e3e3", linewidth=0.6)
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_xlim(0, ticks[-1])
    axes.set_xticks(ticks)
    axes.tick_params(labelbottom=False)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _style_at_risk(table, groups: int) -> None:
    """The at-risk table's axes: a row per group, the days below."""
    table.set_ylim(-0.6, groups - 0.4)
    table.set_yticks([])
    table.spines[["top", "right", "left"]].set_visible(False)
    table.set_xlabel("Days since the procedure")
    table.set_title("Number at risk", loc="left", fontsize=8, color="#333333", pad=2)
