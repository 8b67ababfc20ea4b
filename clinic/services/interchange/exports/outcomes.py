"""The ``outcomes`` export: relief per completed intervention under the export's threshold, and
whether the patient may have the procedure again as of the export date."""

from collections.abc import Sequence
from datetime import date
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from clinic import clock
from clinic.models import RepeatEligibilityRule
from clinic.services.filters import ReportFilters
from clinic.services.interchange.csvio import cell, days_cell, percent_cell
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
from clinic.services.relief.eligibility import PastProcedure, Rule, assess_target, rule_from_row
from clinic.services.relief.rules import FollowUps, judge

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


def rule_thresholds(rules: Sequence[Rule]) -> list[float]:
    """Each threshold an active repeat-eligibility rule judges a prior's relief by, once."""
    thresholds: list[float] = []
    for rule in rules:
        if rule.active and rule.min_relief_pct not in thresholds:
            thresholds.append(rule.min_relief_pct)
    return thresholds


def outcome_sums(
    filters: ReportFilters, rules: Sequence[Rule], today: date | None
) -> list[relief_sums.Sum]:
    """The export's own sum (every score, as the patient page counts them), then one per rule
    threshold counting the scores known today (as the patient page judges eligibility)."""
    return [relief_sums.Sum(filters.threshold)] + [
        relief_sums.Sum(threshold, today) for threshold in rule_thresholds(rules)
    ]


def outcomes_statements(
    filters: ReportFilters,
    zone: ZoneInfo,
    rules: Sequence[Rule] = (),
    today: date | None = None,
) -> list[Select]:
    """Completed interventions in (patient, intervention) order, each with its follow-ups summed.

    The database sums the follow-ups (``relief_sums``) as ``outcome_sums`` says: under the
    export's threshold, and under each rule's counting the scores recorded up to ``today``.
    """
    completed = booking.c.status == "completed"
    narrowed: list[ColumnElement[bool]] = [not_archived]
    window = on_dates(intervention.c.performed_on, filters)
    if window:
        # Only patients with a completed intervention in the range; their whole history is read.
        narrowed.append(
            booking.c.patient_id.in_(
                select(booking.c.patient_id)
                .select_from(intervention.join(booking, booking.c.id == intervention.c.id))
                .where(completed, *window)
            )
        )
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
    sums = outcome_sums(filters, rules, today)
    summed = relief_sums.per_intervention(history, sums)
    statement = (
        select(history, *relief_sums.columns(summed, sums))
        .select_from(history.outerjoin(summed, summed.c.intervention_id == history.c.id))
        .order_by(history.c.patient_id, history.c.id)
    )
    return [statement]


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
    follow_ups: list[FollowUps]  # in ``outcome_sums`` order: the export's own first


_PATIENT = itemgetter(0)
_OWN_COLUMNS = len(Completed._fields) - 1


def outcomes_export(session: Session, filters: ReportFilters, zone: ZoneInfo) -> Opened:
    """One row per completed intervention: its relief under the threshold, and repeat eligibility.

    One row per completed intervention comes from the database, its follow-up scores already
    summed, in (patient, intervention) order; a patient's completed history is held only while
    that patient's rows are written, because ``repeat_eligible`` judges it as a whole.
    """
    today = clock.utcnow().astimezone(zone).date()
    rules = [rule_from_row(row) for row in session.execute(select(RepeatEligibilityRule)).scalars()]
    sums = outcome_sums(filters, rules, today)
    thresholds = rule_thresholds(rules)  # those of sums[1:]
    (statement,) = outcomes_statements(filters, zone, rules, today)

    def rows() -> Rows:
        result = stream_rows(session, statement)
        try:
            for _, group in groupby(result, key=_PATIENT):
                history = [
                    Completed(
                        *row[:_OWN_COLUMNS],
                        relief_sums.read(row[_OWN_COLUMNS:], len(sums)),
                    )
                    for row in group
                ]
                yield from _patient_outcomes(history, thresholds, filters, rules, today)
        finally:
            result.close()

    return OUTCOMES_HEADER, rows()


def _patient_outcomes(
    group: list[Completed],
    thresholds: list[float],
    filters: ReportFilters,
    rules: list[Rule],
    today: date,
) -> Rows:
    """The outcome rows of one patient's completed interventions within the date range."""
    history = [
        PastProcedure(
            row.id,
            row.code,
            row.performed_on,
            row.baseline_nrs,
            # Each rule threshold's sum, counting the scores known today.
            summed=dict(zip(thresholds, row.follow_ups[1:], strict=True)),
        )
        for row in group
        if row.performed_on is not None
    ]
    eligible: dict[str, str] = {}
    group.sort(key=lambda row: (row.performed_on or date.min, row.id))
    for row in group:
        if not within(row.performed_on, filters):
            continue
        outcome = judge(row.baseline_nrs, row.performed_on, row.follow_ups[0], filters.threshold)
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
            cell(outcome.responder),
            days_cell(outcome.onset_days),
            days_cell(outcome.relief_days),
            cell(outcome.relief_ongoing),
            cell(outcome.last_followup_on),
            eligible[row.code],
        ]
