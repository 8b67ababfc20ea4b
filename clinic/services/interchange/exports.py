"""The CSV exports of DESIGN.md section 5, one registry for the command line and the web.

``EXPORTS`` maps each name to an ``Export``, whose ``open(session, filters, zone)`` gives the
header and an iterator of rows (lists of cells already written as ``clinic.services.interchange.csvio``
prescribes). ``CsvStream`` turns one export into CSV text in chunks, counting the records, so
``flask --app clinic export NAME`` and ``/exports/NAME.csv`` write the same bytes (the web adds
the byte-order mark).

Streaming: every query runs with ``yield_per`` (a server-side cursor on PostgreSQL, planned for
reading every row), rows are turned into cells one at a time and nothing is collected. No export sends a query per row:
``outcomes`` reads one row per completed intervention, in (patient, intervention) order, its
follow-up scores summed by the database (``clinic.services.relief.sums``).

Filters (``ReportFilters``: ``date_from``/``date_to`` inclusive, ``threshold``):

- ``interventions`` and ``outcomes``: the performed date; ``pain-scores``: the recorded date;
  ``referrals``: the received date; ``schedule``: the scheduled date (the start, on the clinic's
  calendar); ``stimulator-adjustments``: the visit date (the start, on the clinic's calendar),
  the date the programming was done. ``patients`` is not filtered.
- ``threshold`` (percent relief that counts as relieved) applies to ``outcomes`` and the relief
  exports.

Decisions where section 5 is silent:

- Archived patients are hidden everywhere in Clinic, so they and all their records are left
  out of every export (the FHIR bundle does the same).
- ``ref``: an intervention without a source-system ref exports its id as its ref, in the form
  ``clinic:ID`` (never the bare number, which an imported ref may be), in every export that
  names interventions by ref (``interventions``, ``pain-scores``, ``outcomes``, ``schedule``),
  so that the files join on it and import back.
- ``outcomes.repeat_eligible``: whether the patient may have this procedure again *as of the
  export date* (today on the clinic's calendar), under the admin's repeat-eligibility rules
  judged by ``eligibility.assess_target`` against the patient's whole completed history up to
  that date, whatever the date filter — the same answer the patient page gives today. Empty
  when no active rule names the procedure code. The rules use their own relief thresholds; the
  export's ``threshold`` only decides ``responder`` and the relief columns.
- ``stimulator-adjustments.program`` is the program slot (1–32); ``visited_on`` is the visit's
  date on the clinic's calendar.
- ``referrals`` columns: ``referral_id,mrn,received_on,referring_clinician,referring_practice,
  condition,urgency,status,status_reason,reason``.
- ``schedule`` (interventions and visits, one row per booking) columns:
  ``booking_id,kind,mrn,physician,room,scheduled_start,scheduled_end,status,status_reason,
  procedure_code,visit_kind,intervention_id,intervention_ref,referral_id,performed_on,notes``
  — ``kind`` is ``intervention`` or ``visit``; for an intervention ``intervention_id`` is its own
  id (= ``booking_id``), for a visit the intervention it follows up (empty if none), so the
  schedule joins ``outcomes`` and ``pain-scores`` on those columns.
- Rows come in a stable order: patients by MRN, interventions by id, pain scores by
  intervention then date, outcomes by patient then performed date, referrals by received date,
  schedule and stimulator adjustments by start time (ties by id).
"""

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from operator import itemgetter
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, String, case, cast, func, select, type_coerce
from sqlalchemy.orm import Session

from clinic import clock
from clinic.models import (
    Booking,
    Intervention,
    PainScore,
    Patient,
    ProcedureType,
    Referral,
    RepeatEligibilityRule,
    Room,
    ScsDevice,
    StaffUser,
    StimulatorAdjustment,
    Visit,
)
from clinic.services import DomainError
from clinic.services.filters import ReportFilters
from clinic.services.interchange import copy_csv
from clinic.services.interchange.copy_csv import ClinicDay
from clinic.services.interchange.csvio import (
    CLINIC_REF_PREFIX,
    INTERVENTIONS_COLUMNS,
    PAIN_SCORES_COLUMNS,
    PATIENTS_COLUMNS,
    cell,
    clinic_ref,
    csv_chunks,
    days_cell,
    percent_cell,
)
from clinic.services.planning import plan_for_every_row
from clinic.services.relief import sums as relief_sums
from clinic.services.relief.eligibility import PastProcedure, Rule, assess_target, rule_from_row
from clinic.services.relief.rules import FollowUps, judge

# Rows fetched from the cursor at a time; memory holds about this many rows.
BATCH_ROWS = 1000
# Characters of CSV text handed to the writer (file, stdout or HTTP) at a time.
CHUNK_CHARS = 64 * 1024
DEFAULT_THRESHOLD = 50

Rows = Iterator[Sequence[str]]
Opened = tuple[Sequence[str], Rows]

patient = Patient.__table__
booking = Booking.__table__
intervention = Intervention.__table__
visit = Visit.__table__
procedure_type = ProcedureType.__table__
staff_user = StaffUser.__table__
room = Room.__table__
pain_score = PainScore.__table__
referral = Referral.__table__
scs_device = ScsDevice.__table__
adjustment = StimulatorAdjustment.__table__

PATIENTS_HEADER = PATIENTS_COLUMNS
INTERVENTIONS_HEADER = INTERVENTIONS_COLUMNS
PAIN_SCORES_HEADER = PAIN_SCORES_COLUMNS
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


@dataclass(frozen=True)
class Export:
    """One export: its name, what it holds (for the /exports page) and how to produce it.

    A *plain* export (``produce`` None) is its one SELECT: the columns, labelled with their CSV
    names, are its header and each value is written as its cell, by Python or, on PostgreSQL,
    by the database itself (``CsvStream``).
    """

    name: str
    title: str
    contains: str
    dated_by: str | None  # what --from/--to apply to; None when the export is not filtered
    uses_threshold: bool
    produce: Callable[[Session, ReportFilters, ZoneInfo], Opened] | None
    # The SELECTs the export streams, for a bare read of the same rows (benchmarks/exports.py);
    # None for the relief tables, which the relief report's module reads.
    statements: Callable[[ReportFilters, ZoneInfo], list[Select]] | None = None

    @property
    def plain(self) -> bool:
        return self.produce is None

    def statement(self, filters: ReportFilters, zone: ZoneInfo) -> Select:
        """The one SELECT of a plain export."""
        assert self.plain and self.statements is not None
        [statement] = self.statements(filters, zone)
        return statement

    def open(self, session: Session, filters: ReportFilters, zone: ZoneInfo) -> Opened:
        """The header and the rows (lists of CSV cells) of this export under ``filters``."""
        if self.produce is not None:
            return self.produce(session, filters, zone)
        statement = self.statement(filters, zone)
        return header_of(statement), _cells(session, statement, zone)


def _stream(session: Session, statement: Select) -> Iterator[Any]:
    """The rows of ``statement`` from a server-side cursor, ``BATCH_ROWS`` at a time."""
    result = session.execute(statement.execution_options(yield_per=BATCH_ROWS))
    try:
        # A batch at a time (one fetchmany), not a row at a time through the result's buffer.
        for batch in result.partitions():
            yield from batch
    finally:
        result.close()


def _on_dates(column: Any, filters: ReportFilters) -> list[ColumnElement[bool]]:
    """Conditions keeping a date column within the filter's dates (inclusive)."""
    conditions = []
    if filters.date_from is not None:
        conditions.append(column >= filters.date_from)
    if filters.date_to is not None:
        conditions.append(column <= filters.date_to)
    return conditions


def _on_calendar(column: Any, filters: ReportFilters, zone: ZoneInfo) -> list[ColumnElement[bool]]:
    """Conditions keeping a UTC timestamp within the filter's dates on the clinic's calendar."""
    conditions = []
    if filters.date_from is not None:
        conditions.append(column >= _midnight(filters.date_from, zone))
    if filters.date_to is not None:
        conditions.append(column < _midnight(filters.date_to + timedelta(days=1), zone))
    return conditions


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(UTC)


def _within(day: date | None, filters: ReportFilters) -> bool:
    if filters.date_from is None and filters.date_to is None:
        return True
    if day is None:
        return False
    if filters.date_from is not None and day < filters.date_from:
        return False
    return filters.date_to is None or day <= filters.date_to


def _ref(ref: str | None, intervention_id: int | None) -> str | None:
    """An intervention's ref, or ``clinic:ID`` for one created in Clinic (which has none).

    Not the bare id: an imported intervention may well have the ref ``2``, and two
    interventions exported under one ref would import back as one.
    """
    if ref is not None:
        return ref
    return None if intervention_id is None else clinic_ref(intervention_id)


_active = patient.c.archived.is_(False)


# --- the plain exports: one SELECT whose columns are the CSV's ----------------------------------
#
# ``patients``, ``interventions``, ``pain-scores``, ``stimulator-adjustments``, ``referrals`` and
# ``schedule`` are each one SELECT whose columns, in order, are the export's columns (labelled
# with their CSV names), each written as ``csvio.cell`` writes its value: computed values such as
# ``clinic:ID`` refs are worked out in the SELECT itself. In Python every fetched value becomes
# its cell (``_cells``); on PostgreSQL the database writes the records itself (``copy_csv``).


def header_of(statement: Select) -> list[str]:
    """A plain export's header: its SELECT's column labels, which are the CSV's column names."""
    return [column.key for column in statement.selected_columns]


def _sql_ref(ref: Any, intervention_id: Any) -> ColumnElement[str]:
    """An intervention's ref in SQL, or ``clinic:ID`` for one created in Clinic (see ``_ref``)."""
    return func.coalesce(ref, CLINIC_REF_PREFIX + cast(intervention_id, String))


def _cells(session: Session, statement: Select, zone: ZoneInfo) -> Rows:
    """The rows of a plain export's SELECT, each value written as its CSV cell."""
    days = [
        number
        for number, column in enumerate(statement.selected_columns)
        if isinstance(column.type, ClinicDay)
    ]
    for row in _stream(session, statement):
        cells = [cell(value, zone) for value in row]
        for number in days:
            cells[number] = cell(row[number].astimezone(zone).date())
        yield cells


def patients_statements(filters: ReportFilters, zone: ZoneInfo) -> list[Select]:
    """The SELECT of ``patients``: every patient not archived, by MRN."""
    return [
        (
            select(
                patient.c.mrn,
                patient.c.first_name,
                patient.c.last_name,
                patient.c.date_of_birth,
                patient.c.sex,
                patient.c.phone,
                patient.c.email,
                patient.c.condition,
            )
            .where(_active)
            .order_by(patient.c.mrn)
        )
    ]


def interventions_statements(filters: ReportFilters, zone: ZoneInfo) -> list[Select]:
    """The SELECT of ``interventions``: by id, performed in the range when one is given."""
    statement = (
        select(
            _sql_ref(intervention.c.ref, intervention.c.id).label("ref"),
            patient.c.mrn,
            procedure_type.c.code.label("procedure_code"),
            staff_user.c.username.label("physician"),
            booking.c.starts_at.label("scheduled_start"),
            booking.c.ends_at.label("scheduled_end"),
            room.c.name.label("room"),
            booking.c.status,
            intervention.c.performed_on,
            intervention.c.baseline_nrs,
            intervention.c.spinal_level,
            intervention.c.laterality,
            booking.c.notes,
        )
        .select_from(
            intervention.join(booking, booking.c.id == intervention.c.id)
            .join(patient, patient.c.id == booking.c.patient_id)
            .join(procedure_type, procedure_type.c.id == intervention.c.procedure_type_id)
            .join(staff_user, staff_user.c.id == booking.c.physician_id)
            .outerjoin(room, room.c.id == booking.c.room_id)
        )
        .where(_active, *_on_dates(intervention.c.performed_on, filters))
        .order_by(intervention.c.id)
    )
    return [statement]


def pain_scores_statements(filters: ReportFilters, zone: ZoneInfo) -> list[Select]:
    """The SELECT of ``pain-scores``: by intervention and date, recorded in the range."""
    statement = (
        select(
            _sql_ref(intervention.c.ref, pain_score.c.intervention_id).label("intervention_ref"),
            pain_score.c.recorded_on,
            pain_score.c.nrs,
            pain_score.c.percent_relief,
            pain_score.c.source,
        )
        .select_from(
            pain_score.join(intervention, intervention.c.id == pain_score.c.intervention_id).join(
                patient, patient.c.id == pain_score.c.patient_id
            )
        )
        .where(_active, *_on_dates(pain_score.c.recorded_on, filters))
        .order_by(pain_score.c.intervention_id, pain_score.c.recorded_on)
    )
    return [statement]


# --- outcomes: relief per completed intervention -----------------------------------------------


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
    narrowed: list[ColumnElement[bool]] = [_active]
    window = _on_dates(intervention.c.performed_on, filters)
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
        result = _stream(session, statement)
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
        if not _within(row.performed_on, filters):
            continue
        outcome = judge(row.baseline_nrs, row.performed_on, row.follow_ups[0], filters.threshold)
        if row.code not in eligible:
            assessment = assess_target(rules, row.code, history, today)
            eligible[row.code] = cell(assessment.eligible) if assessment.checks else ""
        yield [
            cell(row.id),
            cell(_ref(row.ref, row.id)),
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


# --- stimulator programming, referrals, the schedule ---------------------------------------------


def stimulator_adjustments_statements(filters: ReportFilters, zone: ZoneInfo) -> list[Select]:
    """The SELECT of ``stimulator-adjustments``: by visit start, visited in the range."""
    statement = (
        select(
            adjustment.c.visit_id,
            patient.c.mrn,
            scs_device.c.serial_number.label("device_serial"),
            type_coerce(booking.c.starts_at, ClinicDay()).label("visited_on"),
            adjustment.c.program_slot.label("program"),
            adjustment.c.paradigm,
            adjustment.c.amplitude_ma,
            adjustment.c.frequency_hz,
            adjustment.c.pulse_width_us,
            adjustment.c.contacts,
            adjustment.c.impedance_ohms,
            adjustment.c.battery_pct,
            adjustment.c.cpt_code,
            adjustment.c.pain_before,
            adjustment.c.pain_after,
            adjustment.c.notes,
        )
        .select_from(
            adjustment.join(booking, booking.c.id == adjustment.c.visit_id)
            .join(patient, patient.c.id == booking.c.patient_id)
            .join(scs_device, scs_device.c.id == adjustment.c.device_id)
        )
        .where(_active, *_on_calendar(booking.c.starts_at, filters, zone))
        .order_by(booking.c.starts_at, adjustment.c.visit_id)
    )
    return [statement]


def referrals_statements(filters: ReportFilters, zone: ZoneInfo) -> list[Select]:
    """The SELECT of ``referrals``: by received date, received in the range."""
    statement = (
        select(
            referral.c.id.label("referral_id"),
            patient.c.mrn,
            referral.c.received_on,
            referral.c.referring_clinician,
            referral.c.referring_practice,
            referral.c.condition,
            referral.c.urgency,
            referral.c.status,
            referral.c.status_reason,
            referral.c.reason,
        )
        .select_from(referral.join(patient, patient.c.id == referral.c.patient_id))
        .where(_active, *_on_dates(referral.c.received_on, filters))
        .order_by(referral.c.received_on, referral.c.id)
    )
    return [statement]


def schedule_statements(filters: ReportFilters, zone: ZoneInfo) -> list[Select]:
    """The SELECT of ``schedule``: every booking by start, scheduled in the range.

    For an intervention ``intervention_id`` is its own id, for a visit the intervention it
    follows up (empty if none), and ``intervention_ref`` that intervention's ref.
    """
    followed = intervention.alias("followed")
    own = booking.c.kind == "intervention"
    statement = (
        select(
            booking.c.id.label("booking_id"),
            booking.c.kind,
            patient.c.mrn,
            staff_user.c.username.label("physician"),
            room.c.name.label("room"),
            booking.c.starts_at.label("scheduled_start"),
            booking.c.ends_at.label("scheduled_end"),
            booking.c.status,
            booking.c.status_reason,
            procedure_type.c.code.label("procedure_code"),
            visit.c.visit_kind,
            case((own, booking.c.id), else_=visit.c.intervention_id).label("intervention_id"),
            case(
                (own, _sql_ref(intervention.c.ref, booking.c.id)),
                else_=_sql_ref(followed.c.ref, visit.c.intervention_id),
            ).label("intervention_ref"),
            intervention.c.referral_id,
            intervention.c.performed_on,
            booking.c.notes,
            booking.c.desk_note,
        )
        .select_from(
            booking.join(patient, patient.c.id == booking.c.patient_id)
            .join(staff_user, staff_user.c.id == booking.c.physician_id)
            .outerjoin(room, room.c.id == booking.c.room_id)
            .outerjoin(intervention, intervention.c.id == booking.c.id)
            .outerjoin(procedure_type, procedure_type.c.id == intervention.c.procedure_type_id)
            .outerjoin(visit, visit.c.id == booking.c.id)
            .outerjoin(followed, followed.c.id == visit.c.intervention_id)
        )
        .where(_active, *_on_calendar(booking.c.starts_at, filters, zone))
        .order_by(booking.c.starts_at, booking.c.id)
    )
    return [statement]


# --- the relief report's tables (clinic.services.relief.reports) ---------------------------------------

_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _report_cell(value: object) -> str:
    """A cell of the relief report's tables: numbers as they come, text formula-safe."""
    if isinstance(value, str):
        return value if _NUMBER.fullmatch(value) else cell(value)
    return cell(value)


def _report_rows(rows: Iterable[Sequence[object]]) -> Rows:
    for row in rows:
        yield [_report_cell(value) for value in row]


def relief_summary_export(session: Session, filters: ReportFilters, zone: ZoneInfo) -> Opened:
    """The relief summary per procedure type, from the relief report's own module."""
    from clinic.services.relief.reports import relief_summary_export as summary

    header, rows = summary(session, filters)
    return list(header), _report_rows(rows)


def relief_curve_export(session: Session, filters: ReportFilters, zone: ZoneInfo) -> Opened:
    """The Kaplan–Meier relief curve per procedure type, from the relief report's own module."""
    from clinic.services.relief.reports import relief_curve_export as curve

    header, rows = curve(session, filters)
    return list(header), _report_rows(rows)


PERFORMED = "performed date"
EXPORTS: dict[str, Export] = {
    export.name: export
    for export in (
        Export(
            "relief-summary",
            "Relief summary",
            "Per procedure type: completed, evaluable, responders and responder rate, relief "
            "events and censored, median relief with its 95% interval, relief at 90, 180 and "
            "365 days.",
            PERFORMED,
            True,
            relief_summary_export,
        ),
        Export(
            "relief-curve",
            "Relief curve",
            "Per procedure type, the Kaplan–Meier curve of relief: one row per day with an event "
            "or a censoring, with those at risk and the 95% band.",
            PERFORMED,
            True,
            relief_curve_export,
        ),
        Export(
            "outcomes",
            "Outcomes",
            "One row per completed intervention: baseline, follow-ups, best relief, responder, "
            "onset and duration of relief, and whether a repeat is eligible today.",
            PERFORMED,
            True,
            outcomes_export,
            outcomes_statements,
        ),
        Export(
            "patients",
            "Patients",
            "Every patient (not archived): MRN, name, date of birth, sex, contact, condition. "
            "The import's columns.",
            None,
            False,
            None,  # plain: its SELECT is its CSV
            patients_statements,
        ),
        Export(
            "interventions",
            "Interventions",
            "Every intervention: ref, patient, procedure, physician, times, room, status, "
            "performed date, baseline, level, side, notes. The import's columns.",
            PERFORMED,
            False,
            None,  # plain: its SELECT is its CSV
            interventions_statements,
        ),
        Export(
            "pain-scores",
            "Pain scores",
            "Every pain score: intervention ref, date, NRS, percent relief, source. The import's "
            "columns.",
            "recorded date",
            False,
            None,  # plain: its SELECT is its CSV
            pain_scores_statements,
        ),
        Export(
            "stimulator-adjustments",
            "Stimulator adjustments",
            "Every spinal cord stimulator programming visit: device, program, paradigm, "
            "amplitude, frequency, pulse width, contacts, impedance, battery, pain before and "
            "after.",
            "visit date",
            False,
            None,  # plain: its SELECT is its CSV
            stimulator_adjustments_statements,
        ),
        Export(
            "referrals",
            "Referrals",
            "Every referral: patient, received date, referring clinician and practice, "
            "condition, urgency, status and reason.",
            "received date",
            False,
            None,  # plain: its SELECT is its CSV
            referrals_statements,
        ),
        Export(
            "schedule",
            "Schedule",
            "Interventions and visits together, one row per booking: patient, physician, room, "
            "times, status, procedure or kind of visit.",
            "scheduled date",
            False,
            None,  # plain: its SELECT is its CSV
            schedule_statements,
        ),
    )
}


class CsvStream:
    """The CSV text of one export in chunks of about ``CHUNK_CHARS``, counting its records.

    Iterate it once; ``rows`` is the number of records written so far (the header not counted)
    and ``finished`` turns true when the last one was. Nothing is read before iteration starts.

    On PostgreSQL a plain export is written by the database (``copy_csv``: ``COPY`` of its
    SELECT with every cell formatted in SQL), the same bytes several times faster; ``in_database``
    False writes it in Python there too (the tests compare the two).
    """

    def __init__(
        self,
        export: Export,
        session: Session,
        filters: ReportFilters,
        zone: ZoneInfo,
        *,
        bom: bool = False,
        chunk_chars: int | None = None,
        in_database: bool = True,
    ) -> None:
        self.export = export
        self.session = session
        self.filters = filters
        self.zone = zone
        self.bom = bom
        self.chunk_chars = chunk_chars or CHUNK_CHARS
        self.in_database = (
            in_database and export.plain and session.get_bind().dialect.name == "postgresql"
        )
        self.rows = 0
        self.finished = False

    def _counted(self, rows: Rows) -> Rows:
        for row in rows:
            # Counted as the writer takes it: the rows in what was sent (or is about to be).
            self.rows += 1
            yield row

    def __iter__(self) -> Iterator[str]:
        if self.in_database:
            yield from self._copied()
            return
        plan_for_every_row(self.session)
        header, rows = self.export.open(self.session, self.filters, self.zone)
        counted = self._counted(rows)
        try:
            yield from csv_chunks(header, counted, self.chunk_chars, bom=self.bom)
            self.finished = True
        finally:
            counted.close()
            if hasattr(rows, "close"):
                rows.close()

    def _copied(self) -> Iterator[str]:
        """A plain export's CSV as PostgreSQL writes it, the header first."""
        statement = self.export.statement(self.filters, self.zone)
        header = header_of(statement)
        yield from csv_chunks(header, [], self.chunk_chars, bom=self.bom)
        for written, rows in copy_csv.chunks(self.session, statement, self.zone, self.chunk_chars):
            self.rows += rows
            yield written
        self.finished = True

    def audit_details(self) -> dict[str, object]:
        """What the audit row of this export records: its name, filters and rows written."""
        return {
            "name": self.export.name,
            "filters": self.filters.as_audit_details(),
            "rows": self.rows,
            "complete": self.finished,
        }


def get_export(name: str) -> Export:
    """The export called ``name``, or a ``DomainError`` listing the names there are."""
    export = EXPORTS.get(name)
    if export is None:
        raise DomainError(
            f"There is no export called {name!r}. Choose one of: {', '.join(EXPORTS)}.", "name"
        )
    return export


def parse_day(given: str | None, option: str) -> date | None:
    """A ``YYYY-MM-DD`` filter date, or a ``DomainError`` saying how to write it."""
    if given is None or not given.strip():
        return None
    try:
        if not _ISO_DAY.fullmatch(given.strip()):
            raise ValueError(given)
        return date.fromisoformat(given.strip())
    except ValueError:
        raise DomainError(
            f"{option} {given!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-01-31.", option
        ) from None


def parse_threshold(given: str | None, option: str = "--threshold") -> int:
    """The percent relief that counts as relieved: a whole number from 1 to 100 (default 50)."""
    if given is None or not str(given).strip():
        return DEFAULT_THRESHOLD
    try:
        value = int(str(given).strip())
    except ValueError:
        value = None
    if value is None or not 1 <= value <= 100:
        raise DomainError(
            f"{option} {given!r} is not a threshold: give the percent relief that counts as "
            "relieved, a whole number from 1 to 100 (e.g. 30, 50 or 80).",
            option,
        )
    return value


def make_filters(date_from: date | None, date_to: date | None, threshold: int) -> ReportFilters:
    """The filters of an export, refusing a range that ends before it starts."""
    if date_from is not None and date_to is not None and date_from > date_to:
        raise DomainError(
            f"--from {date_from} is after --to {date_to}: give the earlier date first.", "--to"
        )
    return ReportFilters(date_from=date_from, date_to=date_to, threshold=threshold)
