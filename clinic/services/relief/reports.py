"""Relief per procedure (or physician, or condition): the report and its two CSV exports.

Database code only feeds the pure rules: one streaming query reads the completed interventions
that the filters select, one row each, with its follow-up scores already added up by the
database (``relief_sums``, held to ``relief.summarise`` by the tests); ``relief.judge`` turns
each into an outcome, and ``survival`` estimates how long relief lasts per group. Filtering,
the group key and the sums are in the SQL; nothing is queried per row, and memory holds counts
per group (durations are tallied by day), not the rows, so it stays flat however many
interventions there are. A second small query names the groups.

Decisions where the rules leave a choice (docs/rules.md, Relief report):

- The physician of an intervention is the one it was booked with; the condition is the
  patient's primary condition. Archived patients' procedures count: archiving hides a record
  from lists, it does not undo what a procedure achieved.
- Scores dated on or before the performed date never count (docs/rules.md, Relief and its duration), so the SQL
  leaves them out rather than sending them to be ignored.
- Groups are listed by procedure code, by physician name, or in the order of the conditions.
"""

import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from matplotlib.figure import Figure
from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic.models import (
    CONDITION_LABELS,
    CONDITIONS,
    Intervention,
    Patient,
    ProcedureType,
    StaffUser,
)
from clinic.services import planning
from clinic.services.filters import ReportFilters
from clinic.services.interchange.csvio import cell, days_cell, percent_cell
from clinic.services.relief import rules as relief
from clinic.services.relief import sums as relief_sums
from clinic.services.relief import survival
from clinic.services.relief.charts import PALETTE

GROUPINGS = {"procedure": "procedure type", "physician": "physician", "condition": "condition"}
STREAM_BATCH = 5000

RELIEF_SUMMARY_HEADER = [
    "procedure_code",
    "procedure_name",
    "completed",
    "evaluable",
    "responders",
    "responder_rate_pct",
    "events",
    "censored",
    "median_relief_days",
    "median_ci_low_days",
    "median_ci_high_days",
    "relief_90d_pct",
    "relief_180d_pct",
    "relief_365d_pct",
]
RELIEF_CURVE_HEADER = [
    "procedure_code",
    "day",
    "at_risk",
    "events",
    "censored",
    "relief_pct",
    "ci_low_pct",
    "ci_high_pct",
]


@dataclass(frozen=True)
class GroupSummary:
    """The relief figures of one group (docs/rules.md, Relief and its duration)."""

    key: object  # procedure type id, physician id, or condition
    code: str  # procedure code, physician username, or condition
    label: str  # procedure name, physician's full name, or condition label
    completed: int
    evaluable: int
    responders: int
    # (days, ended, how many) for the responders' relief durations, by day.
    durations: tuple[tuple[int, bool, int], ...] = ()
    km: survival.KaplanMeier | None = field(default=None, compare=False)

    @property
    def responder_rate_pct(self) -> float | None:
        """Responders / evaluable; empty when nothing was evaluable."""
        return 100 * self.responders / self.evaluable if self.evaluable else None

    @property
    def events(self) -> int:
        return sum(count for _, ended, count in self.durations if ended)

    @property
    def censored(self) -> int:
        return sum(count for _, ended, count in self.durations if not ended)

    @property
    def median_days(self) -> float | None:
        return self.km.median_days if self.km else None

    @property
    def median_ci_low_days(self) -> float | None:
        return self.km.median_ci_low_days if self.km else None

    @property
    def median_ci_high_days(self) -> float | None:
        return self.km.median_ci_high_days if self.km else None

    def relief_pct_at(self, day: int) -> float | None:
        return self.km.relief_pct_at(day) if self.km else None

    @property
    def relief_90d_pct(self) -> float | None:
        return self.relief_pct_at(90)

    @property
    def relief_180d_pct(self) -> float | None:
        return self.relief_pct_at(180)

    @property
    def relief_365d_pct(self) -> float | None:
        return self.relief_pct_at(365)

    @property
    def curve(self) -> tuple[survival.CurveRow, ...]:
        return self.km.rows if self.km else ()

    @property
    def last_day(self) -> int | None:
        return max((days for days, _, _ in self.durations), default=None)

    def duration_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return duration_arrays(self.durations)

    def at_risk_on(self, day: int) -> int:
        """Responders whose relief lasted at least ``day`` days (the chart's number at risk)."""
        return sum(count for days, _, count in self.durations if days >= day)

    @property
    def words(self) -> str:
        """The group's figures as a sentence, for the page and the chart's caption."""
        text = f"of {self.completed} completed, {self.evaluable} {_were(self.evaluable)} evaluable"
        if not self.evaluable:
            return text + ", so the responder rate is not known yet."
        text += f" and {self.responders} responded ({format_pct(self.responder_rate_pct)})"
        if not self.responders:
            return text + "."
        if self.median_days is not None:
            text += (
                f"; half of the responders' relief had ended by day {format_days(self.median_days)}"
                f" ({median_ci_words(self)})"
            )
        else:
            text += (
                "; more than half of the responders still had relief at the last follow-up"
                f" (day {self.last_day})"
            )
        horizons = [
            f"{format_pct(self.relief_pct_at(day))} at {day} days"
            for day in survival.HORIZONS
            if self.relief_pct_at(day) is not None
        ]
        if horizons:
            text += "; still relieved: " + ", ".join(horizons)
        return text + "."


def duration_arrays(
    durations: tuple[tuple[int, bool, int], ...],
) -> tuple[np.ndarray, np.ndarray]:
    """Durations tallied by day, one per responder again, as ``survival`` takes them."""
    counts = [count for _, _, count in durations]
    days = np.repeat(np.array([days for days, _, _ in durations], dtype=float), counts)
    ended = np.repeat(np.array([ended for _, ended, _ in durations], dtype=bool), counts)
    return days, ended


@dataclass(frozen=True)
class Comparison:
    """The log-rank comparison of the groups' relief curves, with its reading in words."""

    statistic: float | None
    df: int | None
    p_value: float | None
    groups: int
    words: str


def _were(count: int) -> str:
    return "was" if count == 1 else "were"


def format_pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def format_days(value: float | None) -> str:
    return "—" if value is None else str(round(value))


def median_ci_words(summary: GroupSummary) -> str:
    """'95% CI 70–101'; an end whose band never reaches one half is 'not reached'."""
    low, high = summary.median_ci_low_days, summary.median_ci_high_days
    if low is None and high is None:
        return "95% CI not estimable"
    low_text = format_days(low) if low is not None else "not reached"
    high_text = format_days(high) if high is not None else "not reached"
    return f"95% CI {low_text}–{high_text}"


def format_p(p_value: float) -> str:
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def relief_statement(filters: ReportFilters, group_by: str):
    """One query: completed interventions the filters select, each with its follow-ups summed.

    A row per intervention, not per pain score: the database adds up the scores
    (``relief_sums``) under the report's threshold.
    """
    key = {
        "procedure": Intervention.procedure_type_id,
        "physician": Intervention.physician_id,
        "condition": Patient.condition,
    }[group_by]
    chosen = select(
        Intervention.id,
        key.label("group_key"),
        Intervention.performed_on,
        Intervention.baseline_nrs,
    ).where(Intervention.status == "completed")
    if group_by == "condition" or filters.condition:
        chosen = chosen.join(Patient, Patient.id == Intervention.patient_id)
    if filters.condition:
        chosen = chosen.where(Patient.condition == filters.condition)
    if filters.date_from:
        chosen = chosen.where(Intervention.performed_on >= filters.date_from)
    if filters.date_to:
        chosen = chosen.where(Intervention.performed_on <= filters.date_to)
    if filters.physician_id:
        chosen = chosen.where(Intervention.physician_id == filters.physician_id)
    if filters.procedure_code:
        chosen = chosen.where(
            Intervention.procedure_type_id.in_(
                select(ProcedureType.id).where(ProcedureType.code == filters.procedure_code)
            )
        )
    chosen = chosen.cte("chosen")
    sums = [relief_sums.Sum(filters.threshold)]
    summed = relief_sums.per_intervention(chosen, sums)
    return select(
        chosen.c.group_key,
        chosen.c.performed_on,
        chosen.c.baseline_nrs,
        *relief_sums.columns(summed, sums),
    ).select_from(chosen.outerjoin(summed, summed.c.intervention_id == chosen.c.id))


@dataclass
class _Tally:
    completed: int = 0
    evaluable: int = 0
    responders: int = 0
    durations: Counter = field(default_factory=Counter)


def _tally(session: Session, filters: ReportFilters, group_by: str) -> dict[object, _Tally]:
    tallies: dict[object, _Tally] = {}
    planning.plan_for_every_row(session)
    # Core rows on the session's own connection, through a server-side cursor where the
    # database has one (PostgreSQL): plain tuples, fetched a batch at a time.
    rows = session.connection().execute(
        relief_statement(filters, group_by).execution_options(yield_per=STREAM_BATCH)
    )
    try:
        for group_key, performed_on, baseline, *summed in rows:
            (follow_ups,) = relief_sums.read(summed, 1)
            outcome = relief.judge(baseline, performed_on, follow_ups, filters.threshold)
            tally = tallies.get(group_key)
            if tally is None:
                tally = tallies[group_key] = _Tally()
            tally.completed += 1
            if outcome.evaluable:
                tally.evaluable += 1
            if outcome.responder:
                tally.responders += 1
                tally.durations[(outcome.relief_days, not outcome.relief_ongoing)] += 1
    finally:
        rows.close()
    return tallies


def _labels(session: Session, group_by: str, keys) -> dict[object, tuple[str, str]]:
    """(code, label) for each group key, in one query (none for conditions)."""
    if group_by == "condition":
        return {key: (key, CONDITION_LABELS.get(key, key)) for key in keys}
    if not keys:
        return {}
    if group_by == "procedure":
        rows = session.execute(
            select(ProcedureType.id, ProcedureType.code, ProcedureType.name).where(
                ProcedureType.id.in_(keys)
            )
        )
    else:
        rows = session.execute(
            select(StaffUser.id, StaffUser.username, StaffUser.full_name).where(
                StaffUser.id.in_(keys)
            )
        )
    return {key: (code, label) for key, code, label in rows}


def relief_summary(
    session: Session, filters: ReportFilters, group_by: str = "procedure"
) -> list[GroupSummary]:
    """Relief per group: counts, responder rate, Kaplan–Meier median and horizons, the curve.

    A group appears when at least one completed intervention in it matches the filters.
    """
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPINGS)}, not {group_by!r}")
    tallies = _tally(session, filters, group_by)
    labels = _labels(session, group_by, list(tallies))
    summaries = []
    for key, tally in tallies.items():
        code, label = labels.get(key, (str(key), str(key)))
        durations = tuple(
            (days, ended, count) for (days, ended), count in sorted(tally.durations.items())
        )
        summaries.append(
            GroupSummary(
                key=key,
                code=code,
                label=label,
                completed=tally.completed,
                evaluable=tally.evaluable,
                responders=tally.responders,
                durations=durations,
                km=survival.kaplan_meier(*duration_arrays(durations)) if durations else None,
            )
        )
    if group_by == "procedure":
        summaries.sort(key=lambda s: s.code)
    elif group_by == "physician":
        summaries.sort(key=lambda s: (s.label.casefold(), s.code))
    else:
        order = {condition: index for index, condition in enumerate(CONDITIONS)}
        summaries.sort(key=lambda s: (order.get(s.key, len(order)), s.code))
    return summaries


def log_rank(summaries: list[GroupSummary]) -> Comparison:
    """The log-rank comparison across the groups that have responders, read out in words."""
    compared = [s for s in summaries if s.durations]
    result = survival.log_rank([s.duration_arrays() for s in compared])
    if result is None:
        if len(compared) < 2:
            words = (
                "The log-rank test needs at least two groups with responders; "
                f"{'only one group has' if len(compared) == 1 else 'no group has'} any."
            )
        else:
            words = "No responder's relief has ended yet in any group, so the curves cannot be compared."
        return Comparison(None, None, None, len(compared), words)
    if result.p_value < 0.05:
        reading = (
            f"The relief curves of the {result.groups} groups differ by more than chance "
            "would readily explain"
        )
    else:
        reading = (
            f"The relief curves of the {result.groups} groups do not differ by more than "
            "chance could explain"
        )
    words = (
        f"{reading} (log-rank χ² = {result.statistic:.2f} on {result.df} degree"
        f"{'' if result.df == 1 else 's'} of freedom, {format_p(result.p_value)})."
    )
    return Comparison(result.statistic, result.df, result.p_value, result.groups, words)


def relief_summary_export(
    session: Session, filters: ReportFilters
) -> tuple[list[str], Iterator[list[str]]]:
    """The ``relief-summary`` export: a row per procedure type with a completed intervention."""

    def rows() -> Iterator[list[str]]:
        for s in relief_summary(session, filters, "procedure"):
            yield [
                cell(s.code),
                cell(s.label),
                str(s.completed),
                str(s.evaluable),
                str(s.responders),
                percent_cell(s.responder_rate_pct),
                str(s.events),
                str(s.censored),
                days_cell(s.median_days),
                days_cell(s.median_ci_low_days),
                days_cell(s.median_ci_high_days),
                percent_cell(s.relief_90d_pct),
                percent_cell(s.relief_180d_pct),
                percent_cell(s.relief_365d_pct),
            ]

    return list(RELIEF_SUMMARY_HEADER), rows()


def relief_curve_export(
    session: Session, filters: ReportFilters
) -> tuple[list[str], Iterator[list[str]]]:
    """The ``relief-curve`` export: per procedure type, a row per day with an event or censoring."""

    def rows() -> Iterator[list[str]]:
        for s in relief_summary(session, filters, "procedure"):
            for row in s.curve:
                yield [
                    cell(s.code),
                    days_cell(row.day),
                    str(row.at_risk),
                    str(row.events),
                    str(row.censored),
                    percent_cell(row.relief_pct),
                    percent_cell(row.ci_low_pct),
                    percent_cell(row.ci_high_pct),
                ]

    return list(RELIEF_CURVE_HEADER), rows()


# The Kaplan–Meier chart --------------------------------------------------------------------

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
    figure = Figure(figsize=(width, height), dpi=CHART_DPI)
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
    axes.set_ylabel(f"Still relieved (≥ {relief.format_percent(threshold)}%), % of responders")
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
