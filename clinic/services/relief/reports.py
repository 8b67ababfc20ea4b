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

The figures of a selection are computed once per change of the data (``relief_report``): they
are kept in the database (``cache``) and read back by the page, its chart and the exports until
a pain score, an intervention, a patient's condition or a procedure code changes. The names of
the groups are read afresh each time. NumPy, SciPy and matplotlib are imported only to compute
or draw, never to read kept figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic.models import (
    CONDITION_LABELS,
    CONDITIONS,
    Drug,
    Intervention,
    MedicationGiven,
    Patient,
    ProcedureType,
    StaffUser,
)
from clinic.services import planning
from clinic.services.filters import NO_STEROID, ReportFilters
from clinic.services.interchange.csvio import cell, days_cell, percent_cell
from clinic.services.relief import cache, survival
from clinic.services.relief import rules as relief
from clinic.services.relief import sums as relief_sums

# The report's chart, drawn from its figures: named here for the page that shows both.

if TYPE_CHECKING:
    import numpy as np

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
    import numpy as np

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


def steroid_given(steroid: str):
    """SQL: the intervention had this corticosteroid (a drug's name), or none at all
    (``NO_STEROID``): the filter that compares relief by drug."""
    given = (
        select(MedicationGiven.id)
        .join(Drug, Drug.id == MedicationGiven.drug_id)
        .where(MedicationGiven.intervention_id == Intervention.id, Drug.equivalent_mg.is_not(None))
    )
    if steroid == NO_STEROID:
        return ~given.exists()
    return given.where(Drug.name == steroid).exists()


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
    if filters.steroid:
        chosen = chosen.where(steroid_given(filters.steroid))
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


@dataclass(frozen=True)
class ReliefReport:
    """The report's figures for one selection: a summary per group, and their comparison."""

    summaries: list[GroupSummary]
    comparison: Comparison


def relief_report(
    session: Session, filters: ReportFilters, group_by: str = "procedure"
) -> ReliefReport:
    """The relief report, from the figures kept for this selection when the data is unchanged.

    Otherwise computed (``computed_figures``) and kept in the caller's transaction: the caller
    commits to keep them for the next reader, on any server.
    """
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPINGS)}, not {group_by!r}")
    # The data version's triggers do not watch the medications given: a selection by the
    # corticosteroid given is computed afresh, never kept.
    figures = cache.kept_or_computed(
        session,
        filters,
        group_by,
        lambda: computed_figures(session, filters, group_by),
        keep=not filters.steroid,
    )
    return _report_from(session, figures, group_by)


def relief_summary(
    session: Session, filters: ReportFilters, group_by: str = "procedure"
) -> list[GroupSummary]:
    """Relief per group: counts, responder rate, Kaplan–Meier median and horizons, the curve.

    A group appears when at least one completed intervention in it matches the filters.
    """
    return relief_report(session, filters, group_by).summaries


def computed_figures(session: Session, filters: ReportFilters, group_by: str) -> dict:
    """The report's figures from the data, as plain values (what ``cache`` keeps).

    The groups are in the report's order, and the log-rank test takes them in that order.
    """
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
    _sort(summaries, group_by)
    compared = [s for s in summaries if s.durations]
    result = survival.log_rank([s.duration_arrays() for s in compared])
    return {
        "groups": [
            {
                "key": s.key,
                "completed": s.completed,
                "evaluable": s.evaluable,
                "responders": s.responders,
                "durations": [list(duration) for duration in s.durations],
                "km": None if s.km is None else asdict(s.km),
            }
            for s in summaries
        ],
        "log_rank": None if result is None else asdict(result),
        "compared": len(compared),
    }


def _sort(summaries: list[GroupSummary], group_by: str) -> None:
    """By procedure code, by physician name, or in the order of the conditions."""
    if group_by == "procedure":
        summaries.sort(key=lambda s: s.code)
    elif group_by == "physician":
        summaries.sort(key=lambda s: (s.label.casefold(), s.code))
    else:
        order = {condition: index for index, condition in enumerate(CONDITIONS)}
        summaries.sort(key=lambda s: (order.get(s.key, len(order)), s.code))


def _report_from(session: Session, figures: dict, group_by: str) -> ReliefReport:
    """Summaries named and ordered, and the comparison in words, from the figures."""
    keys = [group["key"] for group in figures["groups"]]
    labels = _labels(session, group_by, keys)
    summaries = []
    for group in figures["groups"]:
        key = group["key"]
        code, label = labels.get(key, (str(key), str(key)))
        km = group["km"]
        summaries.append(
            GroupSummary(
                key=key,
                code=code,
                label=label,
                completed=group["completed"],
                evaluable=group["evaluable"],
                responders=group["responders"],
                durations=tuple(
                    (days, bool(ended), count) for days, ended, count in group["durations"]
                ),
                km=None
                if km is None
                else survival.KaplanMeier(
                    **{**km, "rows": tuple(survival.CurveRow(**row) for row in km["rows"])}
                ),
            )
        )
    _sort(summaries, group_by)
    result = figures["log_rank"]
    comparison = _comparison(
        None if result is None else survival.LogRank(**result), figures["compared"]
    )
    return ReliefReport(summaries, comparison)


def log_rank(summaries: list[GroupSummary]) -> Comparison:
    """The log-rank comparison across the groups that have responders, read out in words."""
    compared = [s for s in summaries if s.durations]
    return _comparison(survival.log_rank([s.duration_arrays() for s in compared]), len(compared))


def _comparison(result: survival.LogRank | None, compared: int) -> Comparison:
    """The log-rank result in words (``compared``: how many groups have responders)."""
    if result is None:
        if compared < 2:
            words = (
                "The log-rank test needs at least two groups with responders; "
                f"{'only one group has' if compared == 1 else 'no group has'} any."
            )
        else:
            words = "No responder's relief has ended yet in any group, so the curves cannot be compared."
        return Comparison(None, None, None, compared, words)
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
