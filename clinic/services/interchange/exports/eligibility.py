"""The ``eligibility`` export, and the patients' histories that it and ``outcomes`` judge.

Three streamed statements, whatever the number of patients: the completed interventions in
(patient, performed date, id) order; the pain scores the rules judge — of interventions whose
code a rule names, recorded on or before the day of the assessment — in (patient,
intervention, date) order; and the diary entries of diagnostic blocks written by the end of that
day, whose peak relief judges the block where it has a diary (docs/rules.md, The
diagnostic-block diary). ``ByPatient`` walks the last two alongside the first, so one patient's
history is held at a time and memory stays flat.
"""

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, time, timedelta
from itertools import groupby
from operator import itemgetter
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from clinic import clock
from clinic.services.filters import ReportFilters
from clinic.services.followup.diary import DiaryPoint, DiaryResult, judge_diary
from clinic.services.interchange.csvio import cell
from clinic.services.interchange.exports.reading import (
    Opened,
    Rows,
    booking,
    diary_entry,
    intervention,
    not_archived,
    pain_score,
    patient,
    procedure_type,
    stream_rows,
)
from clinic.services.relief.eligibility import (
    Assessment,
    PastProcedure,
    Regions,
    Rule,
    assess_patient,
)
from clinic.services.relief.payers import load_regions, load_rules
from clinic.services.relief.rules import DEFAULT_THRESHOLD, Score

ELIGIBILITY_HEADER = (
    "mrn",
    "procedure_code",
    "region",
    "as_of",
    "eligible",
    "rule",
    "reason",
    "deciding_dates",
)

_completed = booking.c.status == "completed"


def named_codes(rules: Sequence[Rule]) -> list[str]:
    """Every procedure code an active rule names, as prior or target."""
    codes: set[str] = set()
    for rule in rules:
        if rule.active:
            codes |= rule.prior_codes | rule.target_codes
    return sorted(codes)


def judged_scores_statement(
    rules: Sequence[Rule], on: date, narrowed: Sequence[ColumnElement[bool]] = ()
) -> Select:
    """The follow-up scores the rules judge, in (patient, intervention, date) order."""
    return (
        select(
            booking.c.patient_id,
            pain_score.c.intervention_id,
            pain_score.c.recorded_on,
            pain_score.c.nrs,
            pain_score.c.percent_relief,
        )
        .select_from(
            pain_score.join(intervention, intervention.c.id == pain_score.c.intervention_id)
            .join(booking, booking.c.id == intervention.c.id)
            .join(patient, patient.c.id == booking.c.patient_id)
            .join(procedure_type, procedure_type.c.id == intervention.c.procedure_type_id)
        )
        .where(
            _completed,
            not_archived,
            procedure_type.c.code.in_(named_codes(rules)),
            pain_score.c.recorded_on > intervention.c.performed_on,
            pain_score.c.recorded_on <= on,
            *narrowed,
        )
        .order_by(booking.c.patient_id, pain_score.c.intervention_id, pain_score.c.recorded_on)
    )


def judged_diaries_statement(
    known_before: datetime | None = None, narrowed: Sequence[ColumnElement[bool]] = ()
) -> Select:
    """The diary entries of completed diagnostic blocks (written before ``known_before`` when
    given), with the block's baseline, in (patient, intervention, time point) order."""
    known = [diary_entry.c.recorded_at < known_before] if known_before is not None else []
    return (
        select(
            booking.c.patient_id,
            diary_entry.c.intervention_id,
            intervention.c.baseline_nrs,
            diary_entry.c.minutes_after,
            diary_entry.c.nrs,
            diary_entry.c.percent_relief,
        )
        .select_from(
            diary_entry.join(intervention, intervention.c.id == diary_entry.c.intervention_id)
            .join(booking, booking.c.id == intervention.c.id)
            .join(patient, patient.c.id == booking.c.patient_id)
            .join(procedure_type, procedure_type.c.id == intervention.c.procedure_type_id)
        )
        .where(_completed, not_archived, procedure_type.c.diagnostic.is_(True), *known, *narrowed)
        .order_by(booking.c.patient_id, diary_entry.c.intervention_id, diary_entry.c.minutes_after)
    )


def end_of_day(on: date, zone: ZoneInfo) -> datetime:
    """The instant ``on`` ends on the clinic's calendar: what was written before it is known that day."""
    return datetime.combine(on + timedelta(days=1), time(), tzinfo=zone)


Item = TypeVar("Item")


class ByPatient(Generic[Item]):
    """Walks a stream in (patient, intervention, …) order in step with another stream in
    ascending patient order: ``take(patient_id)`` gives that patient's items per intervention,
    skipping any patient passed over. ``item`` makes one item of a row (its columns after the
    patient and intervention ids)."""

    def __init__(self, rows: Iterator[Any], item: Callable[[Any], Item]) -> None:
        self._rows = rows
        self._item = item
        self._next: Any = next(rows, None)

    def take(self, patient_id: int) -> dict[int, list[Item]]:
        found: dict[int, list[Item]] = defaultdict(list)
        while self._next is not None and self._next[0] <= patient_id:
            row = self._next
            if row[0] == patient_id:
                found[row[1]].append(self._item(row))
            self._next = next(self._rows, None)
        return found

    def close(self) -> None:
        close = getattr(self._rows, "close", None)
        if close is not None:
            close()


def scores_by_patient(rows: Iterator[Any]) -> "ByPatient[Score]":
    """The judged scores (``judged_scores_statement``) patient by patient."""
    return ByPatient(rows, lambda row: Score(row[2], row[3], row[4]))


def diaries_by_patient(rows: Iterator[Any]) -> "ByPatient[tuple[int | None, DiaryPoint]]":
    """The diary entries (``judged_diaries_statement``) patient by patient, with the baseline."""
    return ByPatient(rows, lambda row: (row[2], DiaryPoint(row[3], row[4], row[5])))


def judged_diaries(
    entries: dict[int, list[tuple[int | None, DiaryPoint]]], threshold: float
) -> dict[int, DiaryResult]:
    """Each block's diary result under ``threshold``, by intervention id."""
    return {
        intervention_id: judge_diary(
            intervention_id, rows[0][0], [point for _, point in rows], threshold
        )
        for intervention_id, rows in entries.items()
    }


def past_procedure(
    intervention_id: int,
    code: str,
    performed_on: date,
    baseline: int | None,
    level: str | None,
    scores: dict[int, list[Score]],
    regions: Regions,
    diaries: dict[int, DiaryResult] | None = None,
) -> PastProcedure:
    """A completed intervention as the eligibility engine takes it; a diagnostic block with a
    diary is judged by its peak relief."""
    diary = (diaries or {}).get(intervention_id)
    return PastProcedure(
        intervention_id,
        code,
        performed_on,
        baseline,
        scores.get(intervention_id, ()),
        region=regions.region_of(code, level),
        level=level,
        peak_relief_pct=None if diary is None else diary.peak_relief,
    )


def history_statement() -> Select:
    """Every completed intervention with a performed date, in (patient, date, id) order."""
    return (
        select(
            booking.c.patient_id,
            patient.c.mrn,
            intervention.c.id,
            procedure_type.c.code,
            intervention.c.performed_on,
            intervention.c.baseline_nrs,
            intervention.c.spinal_level,
        )
        .select_from(
            intervention.join(booking, booking.c.id == intervention.c.id)
            .join(patient, patient.c.id == booking.c.patient_id)
            .join(procedure_type, procedure_type.c.id == intervention.c.procedure_type_id)
        )
        .where(_completed, not_archived, intervention.c.performed_on.is_not(None))
        .order_by(booking.c.patient_id, intervention.c.performed_on, intervention.c.id)
    )


def eligibility_statements(filters: ReportFilters, zone: ZoneInfo) -> list[Select]:
    """The SELECTs the export streams (for a bare read of the same rows)."""
    on = filters.as_of or clock.utcnow().astimezone(zone).date()
    return [
        history_statement(),
        judged_scores_statement([], on),
        judged_diaries_statement(end_of_day(on, zone)),
    ]


def reason_text(assessment: Assessment) -> tuple[str, str, str]:
    """The ``rule``, ``reason`` and ``deciding_dates`` cells of one assessment."""
    checks = assessment.deciding_checks
    if not checks:
        return "", "No rule applies to this history", ""
    rules = " ".join(check.rule.code for check in checks)
    reasons = "; ".join(reason for check in checks for reason in check.reasons)
    dates = sorted({day for check in checks for day in check.deciding_dates})
    return rules, reasons, " ".join(str(day) for day in dates)


def eligibility_export(session: Session, filters: ReportFilters, zone: ZoneInfo) -> Opened:
    """One row per patient, target procedure and region a rule names from the history, judged
    as of ``filters.as_of`` (today on the clinic's calendar by default)."""
    on = filters.as_of or clock.utcnow().astimezone(zone).date()
    rules = load_rules(session)
    regions = load_regions(session)

    def rows() -> Rows:
        scores = scores_by_patient(stream_rows(session, judged_scores_statement(rules, on)))
        diaries = diaries_by_patient(
            stream_rows(session, judged_diaries_statement(end_of_day(on, zone)))
        )
        result = stream_rows(session, history_statement().where(intervention.c.performed_on <= on))
        try:
            for _, group in groupby(result, key=itemgetter(0)):
                yield from _patient_rows(list(group), scores, diaries, rules, regions, on)
        finally:
            result.close()
            scores.close()
            diaries.close()

    return ELIGIBILITY_HEADER, rows()


def _patient_rows(
    group: list[Any],
    scores: "ByPatient[Score]",
    diaries: "ByPatient[tuple[int | None, DiaryPoint]]",
    rules: list[Rule],
    regions: Regions,
    on: date,
) -> Rows:
    patient_id, mrn = group[0][0], group[0][1]
    judged = scores.take(patient_id)
    # Only the peak is read: it does not depend on the threshold.
    blocks = judged_diaries(diaries.take(patient_id), DEFAULT_THRESHOLD)
    history = [
        past_procedure(row[2], row[3], row[4], row[5], row[6], judged, regions, blocks)
        for row in group
    ]
    for assessment in assess_patient(rules, history, on, regions):
        rule, reason, dates = reason_text(assessment)
        yield [
            cell(mrn),
            cell(assessment.target_code),
            cell(assessment.region),
            cell(on),
            cell(assessment.eligible),
            cell(rule),
            cell(reason),
            cell(dates),
        ]
