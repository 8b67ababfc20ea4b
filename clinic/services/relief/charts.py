"""Charts drawn on the server as SVG (they print and need no script in the browser).

matplotlib's object API is used directly (no pyplot state), so charts can be drawn from
several request threads at once.
"""

import io
from dataclasses import dataclass
from datetime import date, timedelta

import matplotlib

matplotlib.use("Agg")
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "clinic", "font.size": 9})

PALETTE = ["#1f4e5f", "#c0392b", "#2e86ab", "#8e6c8a", "#d68910", "#117a65", "#5d6d7e", "#a04000"]


@dataclass(frozen=True)
class ProcedureTrace:
    """One procedure on the pain chart: when, what, its baseline and its follow-up scores."""

    label: str
    performed_on: date
    baseline: int | None
    scores: list[tuple[date, int]]


LABEL_ROWS = 3
LABEL_ROW_HEIGHT = 0.75  # in NRS points, above the top of the scale
PLOT_WIDTH_PX = 700  # about the width of the axes in the 816-pixel figure
LABEL_CHAR_PX = 5.5  # an 8-point character


def label_rows(ordered: list[ProcedureTrace], until: date | None) -> list[int]:
    """The row (0 at the bottom) of each procedure's label above the chart, so that labels of
    procedures close in time (two blocks a fortnight apart) do not print over each other."""
    if not ordered:
        return []
    first = ordered[0].performed_on - timedelta(days=7)
    last = max(
        [until or ordered[-1].performed_on]
        + [t.scores[-1][0] for t in ordered if t.scores]
        + [t.performed_on for t in ordered]
    )
    days_per_px = max((last - first).days, 30) / PLOT_WIDTH_PX
    free_from: list[float] = [float("-inf")] * LABEL_ROWS  # each row is free after this day
    rows = []
    for trace in ordered:
        start = (trace.performed_on - first).days
        row = next((r for r in range(LABEL_ROWS) if free_from[r] < start), None)
        if row is None:  # every row taken: the one that frees up first
            row = min(range(LABEL_ROWS), key=lambda r: free_from[r])
        free_from[row] = start + (len(trace.label) + 1) * LABEL_CHAR_PX * days_per_px
        rows.append(row)
    return rows


def pain_chart_svg(
    traces: list[ProcedureTrace], threshold: float, until: date | None = None
) -> bytes:
    """Pain (NRS) over time: a line per procedure from its baseline, the procedure marked, and
    the relief threshold drawn as the NRS at which relief reaches ``threshold`` percent."""
    figure = Figure(figsize=(8.5, 3.5), dpi=96)
    axes = figure.add_subplot()
    ordered = sorted(traces, key=lambda t: t.performed_on)
    rows = label_rows(ordered, until)
    for index, trace in enumerate(ordered):
        colour = PALETTE[index % len(PALETTE)]
        axes.axvline(trace.performed_on, color=colour, linewidth=1, linestyle=":")
        axes.annotate(
            trace.label,
            (trace.performed_on, 10.3 + LABEL_ROW_HEIGHT * rows[index]),
            color=colour,
            fontsize=8,
            rotation=0,
            ha="left",
            va="bottom",
            annotation_clip=False,
        )
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
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
