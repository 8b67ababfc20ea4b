"""The printable day sheet: each physician's bookings of one day, in time order, a page each."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from clinic.models import Booking, StaffUser
from clinic.models.scheduling import ACTIVE_BOOKING_STATUSES
from clinic.services.scheduling.bookings import any_booking


@dataclass(frozen=True)
class SheetPage:
    """One physician's page of the day sheet."""

    physician: StaffUser
    bookings: list[Booking]


def day_sheet(
    session: Session, day: date, zone: ZoneInfo, physician: StaffUser | None = None
) -> list[SheetPage]:
    """The day's active bookings (not cancelled, not no-shows) of one physician, or of every
    physician booked that day, a page each in name order. One query."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    booking = any_booking()
    statement = (
        select(booking)
        .join(booking.physician)
        .options(
            joinedload(booking.patient),
            joinedload(booking.physician),
            joinedload(booking.room),
            joinedload(booking.Intervention.procedure_type),
        )
        .where(
            booking.starts_at >= start,
            booking.starts_at < end,
            booking.status.in_(ACTIVE_BOOKING_STATUSES),
        )
        .order_by(StaffUser.full_name, StaffUser.id, booking.starts_at, booking.id)
    )
    if physician is not None:
        statement = statement.where(booking.physician_id == physician.id)
    pages: dict[int, SheetPage] = {}
    if physician is not None:
        pages[physician.id] = SheetPage(physician, [])
    for found in session.execute(statement).unique().scalars():
        pages.setdefault(found.physician_id, SheetPage(found.physician, [])).bookings.append(found)
    return list(pages.values())
