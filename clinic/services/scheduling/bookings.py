"""Booking procedures and visits, and moving them through their day.

A physician, a room and a patient hold at most one active booking (not cancelled, not a
no-show) at any moment. The database enforces it — exclusion constraints on PostgreSQL,
triggers on SQLite — so two clerks saving at once cannot both win; this module checks first
so that the clerk is told which booking is in the way.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, joinedload, with_polymorphic

from clinic import clock
from clinic.clock import on_the_clock
from clinic.models import (
    Booking,
    Intervention,
    Patient,
    ProcedureType,
    Referral,
    Room,
    StaffUser,
    Visit,
)
from clinic.models.scheduling import ACTIVE_BOOKING_STATUSES, VISIT_KINDS
from clinic.models.sessions import SESSION_KIND_LABELS, PhysicianSession, SessionException
from clinic.services import DomainError, referrals
from clinic.services.identity.audit import record_event
from clinic.services.records import check_version
from clinic.services.scheduling import sessions

MAX_DURATION_MINUTES = 12 * 60


def overlapping(booking, starts_at: datetime, ends_at: datetime) -> list:
    """The conditions of a booking that overlaps ``starts_at``–``ends_at``.

    The start's lower bound follows from the overlap and the longest booking (no booking lasts
    more than 12 hours); it lets the database read the bookings near the time through its index
    on the start, rather than every booking that started before the end since the clinic opened.
    """
    return [
        booking.starts_at < ends_at,
        booking.starts_at > starts_at - timedelta(minutes=MAX_DURATION_MINUTES),
        booking.ends_at > starts_at,
    ]


# Where a booking may go next; completing is the physician's (clinical record).
TRANSITIONS = {
    "scheduled": {"checked_in", "cancelled", "no_show"},
    "checked_in": {"completed", "cancelled", "scheduled"},
    "completed": set(),
    "cancelled": set(),
    "no_show": set(),
}
STATUS_LABELS = {
    "scheduled": "Scheduled",
    "checked_in": "Checked in",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "no_show": "No-show",
}


class BookingClash(DomainError):
    """The slot is taken: the message names who or what is already booked, and when."""


class OutsideSessions(DomainError):
    """The slot is free but outside the physician's sessions or the room's hours: ask first."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(
            "Outside the usual hours: " + " ".join(reasons) + " Tick “Book anyway” to book it "
            "all the same, or find a free slot.",
            "book_anyway",
        )
        self.reasons = reasons


class ScheduleBusy(DomainError):
    """Another booking was saved at the same moment; the operation may simply be tried again."""


@dataclass(frozen=True)
class Slot:
    """When, who, where: what a booking occupies."""

    patient_id: int
    physician_id: int
    room_id: int | None
    starts_at: datetime
    ends_at: datetime


def any_booking():
    """Bookings loaded as their own kind (intervention or visit) in one query."""
    return with_polymorphic(Booking, [Intervention, Visit])


def local_slot_times(
    day: date, start: time, duration_minutes: int, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    """A clinic-time date, start time and duration as a UTC start and end."""
    if duration_minutes < 1:
        raise DomainError("The duration must be at least 1 minute.", "duration_minutes")
    if duration_minutes > MAX_DURATION_MINUTES:
        raise DomainError("A booking cannot last more than 12 hours.", "duration_minutes")
    if start.second or start.microsecond:
        raise DomainError("Bookings start on a whole minute.", "start_time")
    starts_at = datetime.combine(day, start, tzinfo=zone)
    if not on_the_clock(starts_at):
        raise DomainError(
            f"{day.isoformat()} {start:%H:%M} does not exist in the clinic's time zone "
            f"({zone.key}): the clocks go forward then. Choose another start.",
            "start_time",
        )
    # The length in elapsed time: wall-clock arithmetic (an aware datetime plus a timedelta)
    # would make a 30-minute booking across the clocks going back last 90 minutes.
    ends_at = starts_at.astimezone(UTC) + timedelta(minutes=duration_minutes)
    return starts_at, ends_at.astimezone(zone)


def describe(booking: Booking, zone: ZoneInfo) -> str:
    """'09:00–09:30 Transforaminal epidural steroid injection for Ana Smith (MRN C0000012) in Suite 1'."""
    start = booking.starts_at.astimezone(zone)
    end = booking.ends_at.astimezone(zone)
    what = (
        booking.procedure_type.name
        if isinstance(booking, Intervention)
        else booking.kind_label.lower()
    )
    where = f" in {booking.room.name}" if booking.room else ""
    day = start.strftime("%Y-%m-%d")
    return (
        f"{day} {start:%H:%M}–{end:%H:%M} {what} for {booking.patient.full_name} "
        f"(MRN {booking.patient.mrn}) with {booking.physician.full_name}{where}"
    )


def find_clashes(session: Session, slot: Slot, exclude_id: int | None = None) -> list[Booking]:
    """Active bookings that overlap the slot for the same physician, room or patient."""
    booking = any_booking()
    conditions = [booking.physician_id == slot.physician_id, booking.patient_id == slot.patient_id]
    if slot.room_id is not None:
        conditions.append(booking.room_id == slot.room_id)
    statement = (
        select(booking)
        .options(
            joinedload(booking.patient), joinedload(booking.physician), joinedload(booking.room)
        )
        .where(
            booking.status.in_(ACTIVE_BOOKING_STATUSES),
            *overlapping(booking, slot.starts_at, slot.ends_at),
            or_(*conditions),
        )
        .order_by(booking.starts_at)
    )
    if exclude_id is not None:
        statement = statement.where(booking.id != exclude_id)
    return list(session.execute(statement).unique().scalars())


def clash_error(slot: Slot, clashes: list[Booking], zone: ZoneInfo) -> BookingClash:
    """One message naming, for each booking in the way, who or what it already holds."""
    reasons = []
    for other in clashes:
        held = []
        if other.physician_id == slot.physician_id:
            held.append(other.physician.full_name)
        if slot.room_id is not None and other.room_id == slot.room_id:
            held.append(other.room.name)
        if other.patient_id == slot.patient_id:
            held.append("the patient" if held else "The patient")
        verb = "is" if len(held) == 1 else "are"
        reasons.append(f"{' and '.join(held)} {verb} already booked: {describe(other, zone)}.")
    return BookingClash(" ".join(reasons) + " Choose another time, physician or room.")


def _check_slot(
    session: Session, slot: Slot, zone: ZoneInfo, exclude_id: int | None = None
) -> None:
    physician = session.get(StaffUser, slot.physician_id)
    if physician is None or physician.role != "physician" or not physician.active:
        raise DomainError("Choose an active physician.", "physician_id")
    patient = session.get(Patient, slot.patient_id)
    if patient is None or patient.archived:
        raise DomainError("Choose a registered, active patient.", "patient_id")
    if slot.room_id is not None:
        room = session.get(Room, slot.room_id)
        if room is None or not room.active:
            raise DomainError("Choose an open room.", "room_id")
    clashes = find_clashes(session, slot, exclude_id)
    if clashes:
        raise clash_error(slot, clashes, zone)


def minutes_label(minute_of_day: int) -> str:
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"


def outside_reasons(session: Session, slot: Slot, kind: str, zone: ZoneInfo) -> list[str]:
    """Why the slot lies outside the physician's sessions of ``kind`` or its room's hours.

    Procedures belong in procedure sessions, visits in clinic sessions. A physician with no
    sessions recorded at all (no weekly template, no dated exception) is not held to them:
    their week has not been set up. Empty when the slot is inside both.
    """
    reasons = []
    local_start = slot.starts_at.astimezone(zone)
    local_end = slot.ends_at.astimezone(zone)
    has_sessions = session.execute(
        select(PhysicianSession.id)
        .where(PhysicianSession.physician_id == slot.physician_id)
        .union_all(
            select(SessionException.id).where(SessionException.physician_id == slot.physician_id)
        )
        .limit(1)
    ).first()
    if has_sessions is not None:
        spans = sessions.sessions_between(
            session, local_start.date(), local_end.date(), zone, [slot.physician_id]
        )
        if not sessions.within_sessions(
            spans, slot.physician_id, kind, slot.starts_at, slot.ends_at
        ):
            physician = session.get(StaffUser, slot.physician_id)
            that_day = [
                f"{s.starts_at.astimezone(zone):%H:%M}–{s.ends_at.astimezone(zone):%H:%M} "
                f"{SESSION_KIND_LABELS[s.kind].lower()}"
                for s in spans
                if s.day == local_start.date()
            ]
            known = f" (that day: {', '.join(that_day)})" if that_day else " (none that day)"
            what = "procedure" if kind == "procedures" else "clinic"
            reasons.append(f"{physician.full_name} has no {what} session at that time{known}.")
    if slot.room_id is not None:
        room = session.get(Room, slot.room_id)
        start_minute = local_start.hour * 60 + local_start.minute
        end_minute = (
            (local_end.date() - local_start.date()).days * 24 * 60
            + local_end.hour * 60
            + local_end.minute
        )
        if start_minute < room.opens_at_minute or end_minute > room.closes_at_minute:
            reasons.append(
                f"{room.name} is open {minutes_label(room.opens_at_minute)}–"
                f"{minutes_label(room.closes_at_minute)}."
            )
    return reasons


def _ask_or_audit(
    session: Session, slot: Slot, kind: str, zone: ZoneInfo, book_anyway: bool
) -> list[str]:
    """Refuse a slot outside sessions or hours unless booked anyway; the reasons, if any."""
    reasons = outside_reasons(session, slot, kind, zone)
    if reasons and not book_anyway:
        raise OutsideSessions(reasons)
    return reasons


def _audit_booked_anyway(
    session: Session, booking: Booking, reasons: list[str], moved: bool
) -> None:
    """The audit row of a booking made or moved outside sessions or opening hours."""
    if reasons:
        record_event(
            session,
            "update" if moved else "create",
            record_type="booking",
            record_id=booking.id,
            details={"booked_anyway": "outside sessions or opening hours", "reasons": reasons},
        )


def _flush_booking(
    session: Session,
    slot: Slot,
    zone: ZoneInfo,
    exclude_id: int | None = None,
    new: Booking | None = None,
) -> None:
    """Write the booking in a savepoint; a clash that slipped in since the check is named.

    The database (exclusion constraint or trigger) has the last word; if it refuses, the
    savepoint is rolled back, so the session stays usable and nothing is half-written.
    """
    try:
        with session.begin_nested():
            if new is not None:
                session.add(new)
            session.flush()
    except IntegrityError as error:
        if "overlap" not in str(error.orig):
            raise
        with session.no_autoflush:
            clashes = find_clashes(session, slot, exclude_id)
        if clashes:
            raise clash_error(slot, clashes, zone) from None
        raise BookingClash(
            "That time was just taken by another booking. Choose another time.", "start_time"
        ) from None
    except OperationalError as error:
        message = str(error.orig).lower()
        if "locked" not in message and "busy" not in message:
            raise
        raise ScheduleBusy(
            "Another booking was being saved at the same moment. Save again."
        ) from None


@dataclass(frozen=True)
class NewBooking:
    """What the booking form asks for."""

    patient_id: int
    physician_id: int
    room_id: int | None
    starts_at: datetime
    ends_at: datetime
    procedure_type_id: int | None = None
    visit_kind: str | None = None
    referral_id: int | None = None
    follows_intervention_id: int | None = None
    # The desk's note for the day; never the clinical notes, which only the physician writes.
    desk_note: str | None = None
    # Booked although outside the physician's sessions or the room's hours (audited).
    book_anyway: bool = False


def lock_schedule(session: Session) -> None:
    """On SQLite, take the database's write lock before reading anything to check against.

    Call it first in the unit of work. SQLite runs one writer at a time; a transaction that has
    already read cannot wait for the lock (its snapshot would be stale) and fails at once, so
    a booking transaction starts by writing: a no-op UPDATE that waits its turn (busy_timeout)
    and then sees every booking committed before it. PostgreSQL needs nothing here: its
    exclusion constraints refuse an overlap whatever the order of events.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE booking SET id = id WHERE 0"))


def _patients_open_referral(
    session: Session, referral_id: int | None, patient_id: int
) -> Referral | None:
    """The referral a booking is made from: it must be this patient's and still open."""
    if referral_id is None:
        return None
    referral = session.get(Referral, referral_id)
    if referral is None:
        raise DomainError(
            "The referral being booked does not exist: book from the patient's own referral."
        )
    if referral.patient_id != patient_id:
        raise DomainError(
            "The referral being booked is for another patient: book from the patient's own referral."
        )
    if referral.status in ("declined", "cancelled", "completed"):
        raise DomainError(
            f"That referral is {referral.status}; a new referral is needed to book from it."
        )
    return referral


def _patients_intervention(
    session: Session, intervention_id: int | None, patient_id: int
) -> Intervention | None:
    """The procedure a visit follows up: it must be one of this patient's own."""
    if intervention_id is None:
        return None
    intervention = session.get(Intervention, intervention_id)
    if intervention is None:
        raise DomainError(
            "The procedure this visit follows up does not exist: "
            "book the follow-up from the patient's procedure."
        )
    if intervention.patient_id != patient_id:
        raise DomainError(
            "The procedure this visit follows up is another patient's: "
            "book the follow-up from this patient's own procedure."
        )
    return intervention


def book(session: Session, request: NewBooking, zone: ZoneInfo) -> Booking:
    """Book an intervention (with a procedure type) or a visit (with a kind), refusing clashes."""
    lock_schedule(session)
    slot = Slot(
        request.patient_id,
        request.physician_id,
        request.room_id,
        request.starts_at,
        request.ends_at,
    )
    if (request.procedure_type_id is None) == (request.visit_kind is None):
        raise DomainError("Choose either a procedure or a kind of visit.", "what")
    if request.visit_kind is not None and request.visit_kind not in VISIT_KINDS:
        raise DomainError("Choose a known kind of visit.", "what")
    _check_slot(session, slot, zone)
    kind = "procedures" if request.procedure_type_id is not None else "clinic"
    reasons = _ask_or_audit(session, slot, kind, zone, request.book_anyway)
    referral = _patients_open_referral(session, request.referral_id, slot.patient_id)
    followed = _patients_intervention(session, request.follows_intervention_id, slot.patient_id)
    common = dict(
        patient_id=slot.patient_id,
        physician_id=slot.physician_id,
        room_id=slot.room_id,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        desk_note=(request.desk_note or "").strip() or None,
    )
    if request.procedure_type_id is not None:
        procedure_type = session.get(ProcedureType, request.procedure_type_id)
        if procedure_type is None or not procedure_type.active:
            raise DomainError("Choose a procedure from the catalogue.", "what")
        booking: Booking = Intervention(procedure_type=procedure_type, referral=referral, **common)
        if referral is not None and referral.status in ("received", "triaged"):
            referral.status = "scheduled"
    else:
        booking = Visit(visit_kind=request.visit_kind, intervention=followed, **common)
    _flush_booking(session, slot, zone, new=booking)
    _audit_booked_anyway(session, booking, reasons, moved=False)
    return booking


def reschedule(
    session: Session,
    booking: Booking,
    version: int | None,
    starts_at: datetime,
    ends_at: datetime,
    physician_id: int,
    room_id: int | None,
    zone: ZoneInfo,
    book_anyway: bool = False,
) -> None:
    """Move a booking to another time, physician or room, under the same clash and session rules."""
    lock_schedule(session)
    check_version(booking, version)
    if booking.status not in ("scheduled", "checked_in"):
        raise DomainError(f"A {STATUS_LABELS[booking.status].lower()} booking cannot be moved.")
    slot = Slot(booking.patient_id, physician_id, room_id, starts_at, ends_at)
    _check_slot(session, slot, zone, exclude_id=booking.id)
    kind = "procedures" if isinstance(booking, Intervention) else "clinic"
    reasons = _ask_or_audit(session, slot, kind, zone, book_anyway)
    booking.starts_at, booking.ends_at = starts_at, ends_at
    booking.physician_id, booking.room_id = physician_id, room_id
    _flush_booking(session, slot, zone, exclude_id=booking.id)
    _audit_booked_anyway(session, booking, reasons, moved=True)


def too_early(booking: Booking, status: str, zone: ZoneInfo, now: datetime) -> str | None:
    """Why the booking cannot take that status yet, or None.

    A patient is checked in on the booking's day (clinic time) or later, and is a no-show only
    once the booking's start has passed: neither can happen to a booking still to come.
    """
    local_start = booking.starts_at.astimezone(zone)
    if status == "checked_in" and now.astimezone(zone).date() < local_start.date():
        return (
            f"A patient can be checked in only on the day of the booking "
            f"({local_start:%a %d %b %Y}), not before."
        )
    if status == "no_show" and now < booking.starts_at:
        return (
            f"A patient can be marked a no-show only once the booking has started "
            f"({local_start:%a %d %b %Y %H:%M})."
        )
    return None


def next_statuses(booking: Booking, zone: ZoneInfo, now: datetime | None = None) -> set[str]:
    """The statuses the desk can give the booking now (completing is the physician's)."""
    now = now or clock.utcnow()
    return {
        status
        for status in TRANSITIONS[booking.status] - {"completed"}
        if too_early(booking, status, zone, now) is None
    }


def not_yet(booking: Booking, zone: ZoneInfo, now: datetime | None = None) -> str | None:
    """When a booking still to come can be checked in and marked a no-show, for its page."""
    now = now or clock.utcnow()
    if "no_show" not in TRANSITIONS[booking.status] or not too_early(booking, "no_show", zone, now):
        return None
    local_start = booking.starts_at.astimezone(zone)
    if too_early(booking, "checked_in", zone, now):
        return (
            f"Check-in opens on the day, {local_start:%a %d %b %Y}; "
            f"a no-show can be marked from {local_start:%H:%M} that day."
        )
    return f"A no-show can be marked from {local_start:%H:%M}."


def change_status(
    session: Session,
    booking: Booking,
    version: int | None,
    status: str,
    reason: str | None = None,
    *,
    zone: ZoneInfo,
    now: datetime | None = None,
) -> None:
    """Check in (from the booking's day), cancel (with a reason) or mark a no-show (from its start).

    A cancelled or missed procedure sends its referral back to triage when nothing else is booked.
    """
    check_version(booking, version)
    if status not in TRANSITIONS[booking.status]:
        raise DomainError(
            f"A booking that is {STATUS_LABELS[booking.status].lower()} cannot become {STATUS_LABELS.get(status, status).lower()}."
        )
    if status == "completed":
        raise DomainError(
            "Completing a procedure or visit is done by the physician from its record."
        )
    refusal = too_early(booking, status, zone, now or clock.utcnow())
    if refusal:
        raise DomainError(refusal)
    if status == "cancelled" and not (reason or "").strip():
        raise DomainError("Say why the booking is cancelled.", "reason")
    booking.status = status
    booking.status_reason = (reason or "").strip() or None
    if status in ("cancelled", "no_show") and isinstance(booking, Intervention):
        referrals.follow_dropped_booking(session, booking)
    if status == "checked_in":
        # "Most recently seen first" on the patient list.
        session.get(Patient, booking.patient_id).last_seen_at = booking.starts_at
    session.flush()


def bookings_between(session: Session, start: datetime, end: datetime) -> list[Booking]:
    """Every booking starting in [start, end), with what the schedule shows, in one query."""
    booking = any_booking()
    return list(
        session.execute(
            select(booking)
            .options(
                joinedload(booking.patient),
                joinedload(booking.physician),
                joinedload(booking.room),
                joinedload(booking.Intervention.procedure_type),
            )
            .where(booking.starts_at >= start, booking.starts_at < end)
            .order_by(booking.starts_at, booking.id)
        )
        .unique()
        .scalars()
    )
