"""The ``outcomes`` export: relief per completed intervention under the export's threshold, and
whether the patient may have the procedure again as of the export date.

A diagnostic block with a pain diary is a responder when its diary's peak relief reaches the
threshold, and the repeat-eligibility rules judge it by that peak; its day-based figures
(best relief, onset, relief days) still come from the follow-up scores alone (docs/rules.md,
The diagnostic-block diary)."""

from collections.abc import Sequence
from datetime import date
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from clinic import clock
from clinic.services.filters import ReportFilters
from clinic.services.followup.diary import DiaryResult
from clinic.services.interchange.csvio import cell, days_cell, percent_cell
from clinic.services.interchange.exports.eligibility import (
    diaries_by_patient,
    end_of_day,
    judged_diaries,
    judged_diaries_statement,
    judged_scores_statement,
    past_procedure,
    scores_by_patient,
)
from clinic.services.interchange.exports.reading import (
    Opened,
    Rows,
    booking,
    export_ref,
    intervention,
    not_archived,
    on_dates,
    patient,
    procedure_type,
    staff_user,
    stream_rows,
    within,
)
from clinic.services.relief import sums as relief_sums
from clinic.services.relief.eligibility import Regions, Rule, assess_target
from clinic.services.relief.payers import load_regions, load_rules
from clinic.services.relief.rules import FollowUps, Score, judge

OUTCOMES_HEADER = (
    "intervention_id",
    "ref",
    "mrn",
    "procedure_code",
    "physician",
    "performed_on",
    "spinal_level",
    "laterality",
    "baseline_nrs",
    "followups",
    "best_relief_pct",
    "responder",
    "onset_days",
    "relief_days",
    "relief_ongoing",
    "last_followup_on",
    "repeat_eligible",
)


def outcome_sums(filters: ReportFilters) -> list[relief_sums.Sum]:
    """The export's own sum: every score, under its threshold, as the patient page counts them."""
    return [relief_sums.Sum(filters.threshold)]


def patients_narrowed(filters: ReportFilters) -> list[ColumnElement[bool]]:
    """Archived patients left out; with a date range, only patients with a completed
    intervention in it (their whole history is read)."""
    narrowed: list[ColumnElement[bool]] = [not_archived]
    window = on_dates(intervention.c.performed_on, filters)
    if window:
        narrowed.append(
            booking.c.patient_id.in_(
                select(booking.c.patient_id)
                .select_from(intervention.join(booking, booking.c.id == intervention.c.id))
                .where(booking.c.status == "completed", *window)
            )
        )
    return narrowed


def outcomes_statements(
    filters: ReportFilters,
    zone: ZoneInfo,
    rules: Sequence[Rule] = (),
    today: date | None = None,
) -> list[Select]:
    """Completed interventions in (patient, intervention) order, each with its follow-ups summed
    by the database (``relief_sums``) under the export's threshold; then the scores the
    repeat-eligibility rules judge and the diagnostic blocks' diary entries (known ``today``),
    in patient order beside them."""
    completed = booking.c.status == "completed"
    narrowed = patients_narrowed(filters)
    today = today or clock.utcnow().astimezone(zone).date()
    history = (
        select(
            booking.c.patient_id,
            intervention.c.id,
            intervention.c.ref,
            patient.c.mrn,
            procedure_type.c.code,
            staff_user.c.username,
            intervention.c.performed_on,
            intervention.c.spinal_level,
            intervention.c.laterality,
            intervention.c.baseline_nrs,
        )
        .select_from(
            intervention.join(booking, booking.c.id == intervention.c.id)
            .join(patient, patient.c.id == booking.c.patient_id)
            .join(procedure_type, procedure_type.c.id == intervention.c.procedure_type_id)
            .join(staff_user, staff_user.c.id == booking.c.physician_id)
        )
        .where(completed, *narrowed)
        .cte("history")
    )
    sums = outcome_sums(filters)
    summed = relief_sums.per_intervention(history, sums)
    statement = (
        select(history, *relief_sums.columns(summed, sums))
        .select_from(history.outerjoin(summed, summed.c.intervention_id == history.c.id))
        .order_by(history.c.patient_id, history.c.id)
    )
    return [
        statement,
        judged_scores_statement(rules, today, narrowed),
        judged_diaries_statement(end_of_day(today, zone), narrowed),
    ]


class Completed(NamedTuple):
    """A completed intervention of the ``outcomes`` export, its follow-ups summed per threshold.

    A named tuple, not SQLAlchemy's row: its fields are read a dozen times per intervention,
    and a row's attribute lookup is about ten times slower.
    """

    patient_id: int
    id: int
    ref: str | None
    mrn: str
    code: str
    username: str
    performed_on: date | None
    spinal_level: str | None
    laterality: str | None
    baseline_nrs: int | None
    follow_ups: list[FollowUps]  # in ``outcome_sums`` order


_PATIENT = itemgetter(0)
_OWN_COLUMNS = len(Completed._fields) - 1


def outcomes_export(session: Session, filters: ReportFilters, zone: ZoneInfo) -> Opened:
    """One row per completed intervention: its relief under the threshold, and repeat eligibility.

    One row per completed intervention comes from the database, its follow-up scores already
    summed, in (patient, intervention) order; a patient's completed history is held only while
    that patient's rows are written, because ``repeat_eligible`` judges it as a whole.
    """
    today = clock.utcnow().astimezone(zone).date()
    rules = load_rules(session)
    regions = load_regions(session)
    sums = outcome_sums(filters)
    statement, judged, diary_entries = outcomes_statements(filters, zone, rules, today)

    def rows() -> Rows:
        scores = scores_by_patient(stream_rows(session, judged))
        diaries = diaries_by_patient(stream_rows(session, diary_entries))
        result = stream_rows(session, statement)
        try:
            for patient_id, group in groupby(result, key=_PATIENT):
                history = [
                    Completed(
                        *row[:_OWN_COLUMNS],
                        relief_sums.read(row[_OWN_COLUMNS:], len(sums)),
                    )
                    for row in group
                ]
                blocks = judged_diaries(diaries.take(patient_id), filters.threshold)
                yield from _patient_outcomes(
                    history, scores.take(patient_id), blocks, regions, filters, rules, today
                )
        finally:
            result.close()
            scores.close()
            diaries.close()

    return OUTCOMES_HEADER, rows()


def _patient_outcomes(
    group: list[Completed],
    scores: dict[int, list[Score]],
    diaries: dict[int, DiaryResult],
    regions: Regions,
    filters: ReportFilters,
    rules: list[Rule],
    today: date,
) -> Rows:
    """The outcome rows of one patient's completed interventions within the date range.

    ``repeat_eligible``: may this procedure be done again in this region, today — judged once
    per (code, region), on the scores known today.
    """
    history = [
        past_procedure(
            row.id,
            row.code,
            row.performed_on,
            row.baseline_nrs,
            row.spinal_level,
            scores,
            regions,
            diaries,
        )
        for row in group
        if row.performed_on is not None and row.performed_on <= today
    ]
    eligible: dict[tuple[str, str | None], str] = {}
    group.sort(key=lambda row: (row.performed_on or date.min, row.id))
    for row in group:
        if not within(row.performed_on, filters):
            continue
        region = regions.region_of(row.code, row.spinal_level)
        if (row.code, region) not in eligible:
            assessment = assess_target(rules, row.code, history, today, region)
            eligible[row.code, region] = cell(assessment.eligible) if assessment.checks else ""
        outcome = judge(row.baseline_nrs, row.performed_on, row.follow_ups[0], filters.threshold)
        diary = diaries.get(row.id)
        responder = outcome.responder
        if diary is not None and diary.responder is not None:
            responder = diary.responder
        if row.code not in eligible:
            assessment = assess_target(rules, row.code, history, today)
            eligible[row.code] = cell(assessment.eligible) if assessment.checks else ""
        yield [
            cell(row.id),
            cell(export_ref(row.ref, row.id)),
            cell(row.mrn),
            cell(row.code),
            cell(row.username),
            cell(row.performed_on),
            cell(row.spinal_level),
            cell(row.laterality),
            cell(row.baseline_nrs),
            cell(outcome.followups),
            percent_cell(outcome.best_relief_pct),
            cell(responder),
            days_cell(outcome.onset_days),
            days_cell(outcome.relief_days),
            cell(outcome.relief_ongoing),
            cell(outcome.last_followup_on),
            eligible[row.code, region],
        ]
