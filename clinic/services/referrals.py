"""Referral intake and the triage pipeline: received → triaged → scheduled → completed.

A referral leaves the pipeline as ``declined`` (the clinic will not see the patient) or
``cancelled`` (the referrer or patient withdrew), always with a reason. It follows its
bookings: it becomes ``scheduled`` when a procedure is booked from it (``scheduling.book``),
``completed`` when that procedure is done, and goes back to ``triaged``, needing rebooking,
when its booking is cancelled or missed and nothing else is booked (``follow_dropped_booking``);
a clerk or physician may also move it by hand. Each change of status records when it happened
(``Referral.status_changed_at``).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import CompoundSelect, Select, and_, case, false, func, or_, select, union_all
from sqlalchemy.orm import Session, contains_eager, joinedload
from sqlalchemy.orm.exc import StaleDataError

from clinic.models import CONDITIONS, URGENCIES, Intervention, Patient, Referral
from clinic.models.patients import not_archived
from clinic.models.scheduling import ACTIVE_BOOKING_STATUSES
from clinic.services import DomainError
from clinic.services.records import StaleRecord, check_version

# The board's columns, in pipeline order; the closed states are listed apart.
OPEN_STATUSES = ("received", "triaged", "scheduled", "completed")
# On the board whatever their age; the others only for RECENT_DAYS after they moved there.
WAITING_STATUSES = ("received", "triaged", "scheduled")
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
# Where a referral may go next by hand. Nothing goes back by hand (a referral triaged by
# mistake is cancelled with that reason and logged again); only a dropped booking sends a
# scheduled referral back to triage (``follow_dropped_booking``).
TRANSITIONS: dict[str, frozenset[str]] = {
    "received": frozenset({"triaged", "declined", "cancelled"}),
    "triaged": frozenset({"scheduled", "declined", "cancelled"}),
    "scheduled": frozenset({"completed", "declined", "cancelled"}),
    "completed": frozenset(),
    "declined": frozenset(),
    "cancelled": frozenset(),
}
NEEDS_REASON = frozenset(CLOSED_STATUSES)
# Closed and completed referrals stay on the board this long after their status changed.
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


def follow_dropped_booking(session: Session, intervention: Intervention) -> None:
    """A cancelled or missed booking of a scheduled referral that has no other active booking
    sends the referral back to triage, marked "needs rebooking" (top of that column)."""
    referral = intervention.referral
    if referral is None or referral.status != "scheduled":
        return
    others = session.execute(
        select(func.count())
        .select_from(Intervention)
        .where(
            Intervention.referral_id == referral.id,
            Intervention.id != intervention.id,
            Intervention.status.in_(ACTIVE_BOOKING_STATUSES),
        )
    ).scalar_one()
    if others == 0:
        referral.status = "triaged"
        referral.needs_rebooking = True


def age_days(referral: Referral, today: date) -> int:
    """Whole days since the referral was received."""
    return (today - referral.received_on).days


def is_overdue(referral: Referral, today: date, urgent_days: int, routine_days: int) -> bool:
    """Still waiting for triage longer than its urgency allows (more than N days since received)."""
    if referral.status != "received":
        return False
    limit = urgent_days if referral.urgency == "urgent" else routine_days
    return age_days(referral, today) > limit


# The board shows at most this many cards a column (and rows of the closed list): the most
# urgent first. A column's count is always whole; the rest are a link away, a page at a time.
CARDS_PER_COLUMN = 20
LIST_PAGE_SIZE = 50


@dataclass(frozen=True)
class BoardScope:
    """Which referrals the board (or one status's full list) counts and shows."""

    today: date
    since: datetime  # completed or closed after this instant are still shown
    urgent_days: int
    routine_days: int
    urgency: str | None = None

    def overdue(self):
        """SQL: still waiting for triage longer than its urgency allows (as ``is_overdue``)."""
        urgent_cutoff = self.today - timedelta(days=self.urgent_days)
        routine_cutoff = self.today - timedelta(days=self.routine_days)
        return and_(
            Referral.status == "received",
            case(
                (Referral.urgency == "urgent", Referral.received_on < urgent_cutoff),
                else_=Referral.received_on < routine_cutoff,
            ),
        )

    def where(self, statuses: tuple[str, ...]):
        """SQL: the referrals of these statuses that the board holds (open, or closed lately).

        Written so that an index answers: each open status whole, each finished one by its
        status and the time it moved there; archived patients from their own short index.
        """
        waiting = [status for status in statuses if status in WAITING_STATUSES]
        finished = [status for status in statuses if status not in WAITING_STATUSES]
        held = []
        if waiting:
            held.append(Referral.status.in_(waiting))
        if finished:
            held.append(Referral.status.in_(finished) & (Referral.status_changed_at >= self.since))
        shown = [or_(false(), *held), not_archived(Referral.patient_id)]
        if self.urgency in URGENCIES:
            shown.append(Referral.urgency == self.urgency)
        return and_(*shown)

    def counts(self) -> CompoundSelect:
        """Each status's count of the referrals the board holds.

        The statuses still waiting, and those finished lately, are counted apart: each part then
        reads one index alone (asked at once, PostgreSQL read the table for thousands of rows).
        """
        finished = tuple(s for s in OPEN_STATUSES + CLOSED_STATUSES if s not in WAITING_STATUSES)
        return union_all(
            *(
                select(Referral.status, func.count())
                .where(self.where(statuses))
                .group_by(Referral.status)
                for statuses in (WAITING_STATUSES, finished)
            )
        )

    def statement(
        self, statuses: tuple[str, ...], limit: int, offset: int = 0
    ) -> Select[tuple[Referral]]:
        """A page of the referrals of these statuses in the board's order: overdue, urgent,
        then oldest; or, for those finished, the most recent first.

        The page is chosen from the referrals alone (the index holds what they are sorted by);
        only its rows are joined to their patients.
        """
        order = self.order(statuses)
        page = self.page_ids(statuses, limit, offset).subquery()
        return (
            select(Referral)
            .join(page, page.c.id == Referral.id)
            .join(Referral.patient)
            .options(contains_eager(Referral.patient))
            .order_by(*order)
        )

    def page_ids(self, statuses: tuple[str, ...], limit: int, offset: int = 0) -> Select:
        """The ids of a page of these statuses' referrals, in the board's order."""
        return (
            select(Referral.id)
            .where(self.where(statuses))
            .order_by(*self.order(statuses))
            .limit(limit)
            .offset(offset)
        )

    def order(self, statuses: tuple[str, ...]) -> tuple:
        """The board's order for these statuses (see ``statement``)."""
        if set(statuses) <= {"completed", *CLOSED_STATUSES}:
            # What finished or closed lately: the most recent first.
            order = (Referral.status_changed_at.desc(), Referral.id.desc())
        else:
            order = (
                case((self.overdue(), 0), else_=1),
                # Sent back by a cancelled or missed booking: to be booked again first.
                case((Referral.needs_rebooking, 0), else_=1),
                case((Referral.urgency == "urgent", 0), else_=1),
                Referral.received_on,
                Referral.id,
            )
        return order


@dataclass(frozen=True)
class Column:
    """One status on the board: how many referrals it holds, and the first few of them."""

    status: str
    count: int
    referrals: list[Referral]

    @property
    def more(self) -> int:
        """How many are not shown on the board (a link away)."""
        return self.count - len(self.referrals)


@dataclass
class Board:
    """The pipeline as the board shows it: a column per status, and the bookings each led to."""

    columns: dict[str, Column]
    closed: Column
    bookings: dict[int, list[Intervention]]
    overdue: set[int]  # of the cards shown
    overdue_count: int  # of all


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
    """Count the pipeline by status and show each column's most urgent cards.

    A constant number of queries however long the clinic's history: one count per status, one
    capped list per column, and the bookings of the cards shown.
    """
    scope = BoardScope(today, now - timedelta(days=RECENT_DAYS), urgent_days, routine_days, urgency)
    # The statuses still waiting, and those finished lately, counted apart: each then reads one
    # index alone (one either way would have PostgreSQL read the table for thousands of rows).
    counts = dict(session.execute(scope.counts()).all())
    overdue_count = session.execute(
        select(func.count())
        .select_from(Referral)
        .where(scope.where(("received",)), scope.overdue())
    ).scalar_one()

    def column(status: str, statuses: tuple[str, ...]) -> Column:
        shown = session.execute(scope.statement(statuses, CARDS_PER_COLUMN)).scalars()
        return Column(status, sum(counts.get(s, 0) for s in statuses), list(shown))

    columns = {status: column(status, (status,)) for status in OPEN_STATUSES}
    closed = column("closed", CLOSED_STATUSES)
    cards = [r for c in columns.values() for r in c.referrals]
    overdue = {r.id for r in cards if is_overdue(r, today, urgent_days, routine_days)}
    linked = [r.id for r in cards if r.status in ("scheduled", "completed") or r.needs_rebooking]
    return Board(columns, closed, referral_bookings(session, linked), overdue, overdue_count)


def status_page(
    session: Session,
    status: str,
    page: int,
    today: date,
    now: datetime,
    urgent_days: int,
    routine_days: int,
    urgency: str | None = None,
) -> tuple[int, list[Referral]]:
    """One page of a status's whole list in the board's order, and how many it holds in all."""
    scope = BoardScope(today, now - timedelta(days=RECENT_DAYS), urgent_days, routine_days, urgency)
    statuses = CLOSED_STATUSES if status == "closed" else (status,)
    total = session.execute(
        select(func.count()).select_from(Referral).where(scope.where(statuses))
    ).scalar_one()
    shown = session.execute(
        scope.statement(statuses, LIST_PAGE_SIZE, (page - 1) * LIST_PAGE_SIZE)
    ).scalars()
    return total, list(shown)
