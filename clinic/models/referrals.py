"""Referrals: how patients arrive, and the triage pipeline they move through."""

from datetime import date

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
    version: Mapped[int] = mapped_column(default=1)

    patient: Mapped[Patient] = relationship()

    __mapper_args__ = {"version_id_col": version}
