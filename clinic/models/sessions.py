"""Physicians' sessions (a weekly template and dated exceptions) and the visits' default lengths.

A session is a stretch of a physician's week kept for procedures or for clinic visits,
optionally in one room. Exceptions take a day or part of a day off, or add an extra session on
one date. Times are minutes of the clinic's wall clock (0 = midnight, 1440 = the next midnight).
"""

from datetime import date

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from clinic.models.base import Base, Stamped, in_list
from clinic.models.scheduling import VISIT_KINDS, Room
from clinic.models.staff import StaffUser

SESSION_KINDS = ("procedures", "clinic")
SESSION_KIND_LABELS = {"procedures": "Procedures", "clinic": "Clinic"}
EXCEPTION_CHANGES = ("off", "extra")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Seeded default lengths of the visits, in minutes (admin-editable afterwards).
VISIT_DEFAULT_MINUTES = {
    "consult": 30,
    "follow_up": 20,
    "post_procedure_check": 15,
    "stimulator_adjustment": 30,
}


class PhysicianSession(Stamped, Base):
    """One session of a physician's weekly template: a weekday, from start to end, a kind."""

    __tablename__ = "physician_session"
    __table_args__ = (
        CheckConstraint(in_list("kind", SESSION_KINDS), name="kind_known"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint(
            "start_minute >= 0 AND end_minute <= 1440 AND end_minute > start_minute",
            name="minutes_in_day",
        ),
        Index("ix_physician_session_physician_weekday", "physician_id", "weekday"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    physician_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    # Monday is 0, as Python's date.weekday().
    weekday: Mapped[int]
    start_minute: Mapped[int]
    end_minute: Mapped[int]
    kind: Mapped[str] = mapped_column(String(20))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("room.id"))

    physician: Mapped[StaffUser] = relationship()
    room: Mapped[Room | None] = relationship()


class SessionException(Stamped, Base):
    """A dated change to a physician's template: time off (``off``) or an extra session."""

    __tablename__ = "session_exception"
    __table_args__ = (
        CheckConstraint(in_list("change", EXCEPTION_CHANGES), name="change_known"),
        CheckConstraint(f"kind IS NULL OR {in_list('kind', SESSION_KINDS)}", name="kind_known"),
        CheckConstraint("change = 'off' OR kind IS NOT NULL", name="extra_has_kind"),
        CheckConstraint(
            "start_minute >= 0 AND end_minute <= 1440 AND end_minute > start_minute",
            name="minutes_in_day",
        ),
        Index("ix_session_exception_day_physician", "day", "physician_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    physician_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    day: Mapped[date]
    change: Mapped[str] = mapped_column(String(10))
    # A whole day off is 0..1440.
    start_minute: Mapped[int]
    end_minute: Mapped[int]
    # The extra session's kind and room; empty for time off.
    kind: Mapped[str | None] = mapped_column(String(20))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("room.id"))
    note: Mapped[str | None] = mapped_column(String(200))

    physician: Mapped[StaffUser] = relationship()
    room: Mapped[Room | None] = relationship()


class VisitKindLength(Stamped, Base):
    """How long a kind of visit lasts by default (the booking form and the slot finder use it)."""

    __tablename__ = "visit_kind_length"
    __table_args__ = (
        CheckConstraint(in_list("visit_kind", VISIT_KINDS), name="visit_kind_known"),
        CheckConstraint("default_minutes BETWEEN 5 AND 720", name="default_minutes_range"),
    )

    visit_kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    default_minutes: Mapped[int]
