"""Referral intake and the triage pipeline: received → triaged → scheduled → completed.

A referral leaves the pipeline as ``declined`` (the clinic will not see the patient) or
``cancelled`` (the referrer or patient withdrew), always with a reason. It normally becomes
``scheduled`` when a procedure is booked from it (``scheduling.book``) and ``completed`` when
that procedure is done; a clerk or physician may also move it by hand.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, contains_eager, joinedload
from sqlalchemy.orm.exc import StaleDataError

from clinic.models import CONDITIONS, URGENCIES, Intervention, Patient, Referral
from clinic.services import DomainError
from clinic.services.records import StaleRecord, check_version

# The board's columns, in pipeline order; the closed states are listed apart.
OPEN_STATUSES = ("received", "triaged", "scheduled", "completed")
CLOSED_STATUSES = ("declined", "cancelled")
STATUS_LABELS = {
    "received": "Received",
    "triaged": "Triaged",
    "scheduled": "Scheduled",
    "completed": "Completed",
    "declined": "Declined",
    "cancelled": "Cancelled",
}
URGENCY_LABELS = {"routine": "Routine", "urgent": "Urgent"}
# Where a referral may go next by hand. Nothing goes back: a referral triaged by mistake is
# cancelled with that reason and logged again.
TRANSITIONS: dict[str, frozenset[str]] = {
    "received": frozenset({"triaged", "declined", "cancelled"}),
    "triaged": frozenset({"scheduled", "declined", "cancelled"}),
    "scheduled": frozenset({"completed", "declined", "cancelled"}),
    "completed": frozenset(),
    "declined": frozenset(),
    "cancelled": frozenset(),
}
NEEDS_REASON = frozenset(CLOSED_STATUSES)
# Closed and completed referrals stay on the board this long after their last change.
RECENT_DAYS = 30


@dataclass(frozen=True)
class NewReferral:
    """What the intake form asks for; an empty condition means the patient's own."""

    patient_id: int
    referring_clinician: str
    received_on: date
    reason: str
    urgency: str
    condition: str | None = None
    referring_practice: str | None = None


def patient_by_mrn(session: Session, mrn: str) -> Patient:
    """The active patient with this MRN, or a refusal that says how to find one."""
    mrn = (mrn or "").strip().upper()
    if not mrn:
        raise DomainError("Enter the patient's MRN.", "patient_mrn")
    patient = session.execute(select(Patient).where(Patient.mrn == mrn)).scalar_one_or_none()
    if patient is None or patient.archived:
        raise DomainError(
            f"No active patient has MRN {mrn}. Find the patient on the Patients page "
            "(or register them) and use the MRN shown there.",
            "patient_mrn",
        )
    return patient


def log_referral(session: Session, details: NewReferral, today: date) -> Referral:
    """Log a referral as ``received``, refusing what the clinic could not act on."""
    patient = session.get(Patient, details.patient_id)
    if patient is None or patient.archived:
        raise DomainError("Choose a registered, active patient.", "patient_mrn")
    clinician = (details.referring_clinician or "").strip()
    if not clinician:
        raise DomainError("Enter the referring clinician's name.", "referring_clinician")
    if len(clinician) > 120:
        raise DomainError("Shorten the clinician's name to 120 characters.", "referring_clinician")
    practice = (details.referring_practice or "").strip() or None
    if practice is not None and len(practice) > 160:
        raise DomainError("Shorten the practice name to 160 characters.", "referring_practice")
    if details.received_on > today:
        raise DomainError(
            f"The received date cannot be after today ({today.isoformat()}).", "received_on"
        )
    if details.received_on < patient.date_of_birth:
        raise DomainError(
            "The received date is before the patient was born; check the year.", "received_on"
        )
    reason = (details.reason or "").strip()
    if not reason:
        raise DomainError("Enter the reason for referral.", "reason")
    condition = details.condition or patient.condition
    if condition not in CONDITIONS:
        raise DomainError("Choose the condition from the list.", "condition")
    if details.urgency not in URGENCIES:
        raise DomainError("Choose routine or urgent.", "urgency")
    referral = Referral(
        patient=patient,
        referring_clinician=clinician,
        referring_practice=practice,
        received_on=details.received_on,
        reason=reason,
        condition=condition,
        urgency=details.urgency,
        status="received",
    )
    session.add(referral)
    session.flush()
    return referral


def move_referral(
    session: Session,
    referral: Referral,
    version: int | None,
    new_status: str,
    reason: str | None = None,
) -> None:
    """Move a referral one step along the pipeline, or close it (declined/cancelled) with a reason."""
    check_version(referral, version)
    if new_status not in STATUS_LABELS:
        raise DomainError("Choose what to do with the referral.")
    if new_status not in TRANSITIONS[referral.status]:
        raise DomainError(
            f"A {STATUS_LABELS[referral.status].lower()} referral cannot be marked "
            f"{STATUS_LABELS[new_status].lower()}."
        )
    reason = (reason or "").strip()
    if new_status in NEEDS_REASON and not reason:
        verb = "declined" if new_status == "declined" else "cancelled"
        raise DomainError(f"Say why the referral is {verb}.", "reason")
    if len(reason) > 500:
        raise DomainError("Shorten the reason to 500 characters.", "reason")
    referral.status = new_status
    referral.status_reason = reason if new_status in NEEDS_REASON else None
    try:
        session.flush()
    except StaleDataError:
        # Another clerk saved the referral between our read and our write.
        raise StaleRecord(
            "Someone else changed this referral at the same moment. "
            "Nothing was saved: look at it again and choose what to do."
        ) from None


def age_days(referral: Referral, today: date) -> int:
    """Whole days since the referral was received."""
    return (today - referral.received_on).days


def is_overdue(referral: Referral, today: date, urgent_days: int, routine_days: int) -> bool:
    """Still waiting for triage longer than its urgency allows (more than N days since received)."""
    if referral.status != "received":
        return False
    limit = urgent_days if referral.urgency == "urgent" else routine_days
    return age_days(referral, today) > limit


def board_statement(since: datetime, urgency: str | None = None) -> Select[tuple[Referral]]:
    """Open referrals, plus those completed or closed since ``since``, with their patients."""
    statement = (
        select(Referral)
        .join(Referral.patient)
        .options(contains_eager(Referral.patient))
        .where(
            Patient.archived.is_(False),
            Referral.status.in_(("received", "triaged", "scheduled"))
            | (Referral.updated_at >= since),
        )
        .order_by(Referral.received_on, Referral.id)
    )
    if urgency in URGENCIES:
        statement = statement.where(Referral.urgency == urgency)
    return statement


@dataclass
class Board:
    """The pipeline as the board shows it: a list per status, and the bookings each led to."""

    columns: dict[str, list[Referral]]
    closed: list[Referral]
    bookings: dict[int, list[Intervention]]
    overdue: set[int]

    @property
    def overdue_count(self) -> int:
        return len(self.overdue)


def referral_bookings(session: Session, referral_ids: list[int]) -> dict[int, list[Intervention]]:
    """The interventions booked from each referral, in one query however many referrals."""
    found: dict[int, list[Intervention]] = {referral_id: [] for referral_id in referral_ids}
    if not referral_ids:
        return found
    interventions = session.execute(
        select(Intervention)
        .options(joinedload(Intervention.procedure_type))
        .where(Intervention.referral_id.in_(referral_ids))
        .order_by(Intervention.starts_at, Intervention.id)
    ).scalars()
    for intervention in interventions:
        found[intervention.referral_id].append(intervention)
    return found


def board(
    session: Session,
    today: date,
    now: datetime,
    urgent_days: int,
    routine_days: int,
    urgency: str | None = None,
) -> Board:
    """Group the pipeline by status; within a status, overdue first, then urgent, then oldest."""
    since = now - timedelta(days=RECENT_DAYS)
    referrals = list(session.execute(board_statement(since, urgency)).unique().scalars())
    overdue = {r.id for r in referrals if is_overdue(r, today, urgent_days, routine_days)}
    columns: dict[str, list[Referral]] = {status: [] for status in OPEN_STATUSES}
    closed: list[Referral] = []
    for referral in sorted(
        referrals,
        key=lambda r: (r.id not in overdue, r.urgency != "urgent", r.received_on, r.id),
    ):
        if referral.status in columns:
            columns[referral.status].append(referral)
        else:
            closed.append(referral)
    closed.sort(key=lambda r: r.updated_at, reverse=True)
    linked = [r.id for r in referrals if r.status in ("scheduled", "completed")]
    return Board(columns, closed, referral_bookings(session, linked), overdue)
