"""Referrals: how patients arrive, and the triage pipeline they move through."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, event, false, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from clinic import clock
from clinic.models.base import Base, Stamped, in_list
from clinic.models.patients import CONDITIONS, Patient

REFERRAL_STATUSES = ("received", "triaged", "scheduled", "completed", "declined", "cancelled")
URGENCIES = ("routine", "urgent")


class Referral(Stamped, Base):
    """A referral from another clinician, moved received → triaged → scheduled → completed."""

    __tablename__ = "referral"
    __table_args__ = (
        CheckConstraint(in_list("status", REFERRAL_STATUSES), name="status_known"),
        CheckConstraint(in_list("urgency", URGENCIES), name="urgency_known"),
        CheckConstraint(in_list("condition", CONDITIONS), name="condition_known"),
        CheckConstraint(
            "status NOT IN ('declined', 'cancelled') OR status_reason IS NOT NULL",
            name="closed_has_reason",
        ),
        # The board's completed and closed columns: what moved there in the last 30 days,
        # counted and sorted from the index alone (in the columns' order, most recent first;
        # the patient beside it, for "not archived", and the urgency, for the board's filter).
        Index(
            "ix_referral_status_changed",
            "status",
            "status_changed_at",
            "id",
            "patient_id",
            "urgency",
        ),
        # The board's open columns, sorted from the index alone (no table reads): every column
        # the cards are ordered by, the patient, and the id (which SQLite keeps in any index
        # and PostgreSQL only when named).
        Index(
            "ix_referral_board",
            "status",
            "needs_rebooking",
            "urgency",
            "received_on",
            "patient_id",
            "id",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    referring_clinician: Mapped[str] = mapped_column(String(120))
    referring_practice: Mapped[str | None] = mapped_column(String(160))
    received_on: Mapped[date] = mapped_column(index=True)
    reason: Mapped[str] = mapped_column(Text)
    condition: Mapped[str] = mapped_column(String(40))
    urgency: Mapped[str] = mapped_column(String(10), default="routine")
    status: Mapped[str] = mapped_column(String(20), default="received", index=True)
    status_reason: Mapped[str | None] = mapped_column(Text)
    # When the status last changed: the board's completed and closed columns go by it, not by
    # ``updated_at``, which any edit moves. Set by ``_status_changed`` below on every change.
    status_changed_at: Mapped[datetime] = mapped_column(
        default=lambda: clock.utcnow(), server_default=func.now()
    )
    # Its booking was cancelled or missed and nothing else is booked: back in triage, to be
    # booked again (docs/rules.md, "Referrals follow their bookings"). Cleared when it moves on.
    needs_rebooking: Mapped[bool] = mapped_column(default=False, server_default=false())
    version: Mapped[int] = mapped_column(default=1)

    patient: Mapped[Patient] = relationship()

    __mapper_args__ = {"version_id_col": version}


@event.listens_for(Referral.status, "set")
def _status_changed(referral: Referral, value: str, old_value, initiator) -> None:
    """Each status change records when it happened; leaving triage clears "needs rebooking"."""
    if value != old_value:
        referral.status_changed_at = clock.utcnow()
        if value != "triaged":
            referral.needs_rebooking = False
