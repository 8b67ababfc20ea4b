"""The procedure catalogue, rooms, and bookings: interventions (procedures) and outpatient visits.

Interventions and visits share one ``booking`` table (joined-table inheritance), so the rule
that a physician, room or patient holds one active booking at a time is a single constraint
over one table, whichever kind of booking it is.
"""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from clinic.models.base import Base, Stamped, in_list
from clinic.models.medications import GUIDANCES, SEDATIONS
from clinic.models.patients import Patient
from clinic.models.referrals import Referral
from clinic.models.staff import StaffUser

PROCEDURE_CATEGORIES = ("epidural", "facet", "ablation", "neuromodulation", "other")
BOOKING_STATUSES = ("scheduled", "checked_in", "completed", "cancelled", "no_show")
ACTIVE_BOOKING_STATUSES = ("scheduled", "checked_in", "completed")
LATERALITIES = ("left", "right", "bilateral", "midline")
VISIT_KINDS = ("consult", "follow_up", "post_procedure_check", "stimulator_adjustment")
VISIT_KIND_LABELS = {
    "consult": "Consult",
    "follow_up": "Follow-up",
    "post_procedure_check": "Post-procedure check",
    "stimulator_adjustment": "Stimulator adjustment",
}
DEFAULT_FOLLOWUP_SCHEDULE = "2w 6w 3m 6m 12m"


class ProcedureType(Stamped, Base):
    """An entry of the procedure catalogue (admin-editable, seeded by the first migration)."""

    __tablename__ = "procedure_type"
    __table_args__ = (
        CheckConstraint(in_list("category", PROCEDURE_CATEGORIES), name="category_known"),
        CheckConstraint("default_minutes BETWEEN 5 AND 720", name="default_minutes_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(20))
    cpt_code: Mapped[str | None] = mapped_column(String(40))
    # When follow-up calls fall due after the performed date: weeks (w), months (m) or days (d).
    followup_schedule: Mapped[str] = mapped_column(String(100), default=DEFAULT_FOLLOWUP_SCHEDULE)
    # How long a booking of it lasts by default (the booking form and the slot finder use it).
    default_minutes: Mapped[int] = mapped_column(default=30, server_default="30")
    # A diagnostic block (seeded: MBB): on its day the self-report link is a pain diary.
    diagnostic: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The usual corticosteroid dose of one, methylprednisolone-equivalent mg (admin-edited; empty
    # for a procedure without a steroid): the booking form warns when it would pass a limit.
    usual_steroid_mpe_mg: Mapped[Decimal | None] = mapped_column(Numeric(8, 1))
    active: Mapped[bool] = mapped_column(default=True)


class Room(Stamped, Base):
    """A procedure suite or consulting room that can hold one booking at a time."""

    __tablename__ = "room"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    opens_at_minute: Mapped[int] = mapped_column(default=7 * 60)
    closes_at_minute: Mapped[int] = mapped_column(default=19 * 60)
    active: Mapped[bool] = mapped_column(default=True)


class Booking(Stamped, Base):
    """A slot of a physician's, a room's and a patient's time: an intervention or a visit."""

    __tablename__ = "booking"
    __table_args__ = (
        CheckConstraint(in_list("status", BOOKING_STATUSES), name="status_known"),
        CheckConstraint(in_list("kind", ("intervention", "visit")), name="kind_known"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_booking_starts_at", "starts_at"),
        Index("ix_booking_physician_starts", "physician_id", "starts_at"),
        Index("ix_booking_patient_starts", "patient_id", "starts_at"),
        Index("ix_booking_room_starts", "room_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    physician_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("room.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    status_reason: Mapped[str | None] = mapped_column(Text)
    # The physician's clinical notes, written when the procedure or visit is completed.
    notes: Mapped[str | None] = mapped_column(Text)
    # The front desk's note for the day ("needs a wheelchair"), written when booking; kept apart
    # from the clinical notes, which the front desk must never edit (docs/rules.md, Roles).
    desk_note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)

    patient: Mapped[Patient] = relationship()
    physician: Mapped[StaffUser] = relationship()
    room: Mapped[Room | None] = relationship()

    __mapper_args__ = {
        "polymorphic_on": "kind",
        "polymorphic_identity": "booking",
        "version_id_col": version,
    }


class Intervention(Booking):
    """A scheduled procedure; once completed it carries the baseline pain the outcome is measured from."""

    __tablename__ = "intervention"
    __table_args__ = (
        CheckConstraint("baseline_nrs BETWEEN 0 AND 10", name="baseline_nrs_range"),
        CheckConstraint(
            f"laterality IS NULL OR {in_list('laterality', LATERALITIES)}", name="laterality_known"
        ),
        # On PostgreSQL it holds the id too, so that the procedures never performed (every
        # cancellation and no-show of a clinic's history) are read from the index alone.
        Index("ix_intervention_performed_on", "performed_on", postgresql_include=["id"]),
        CheckConstraint(
            f"guidance IS NULL OR {in_list('guidance', GUIDANCES)}", name="guidance_known"
        ),
        CheckConstraint(
            f"sedation IS NULL OR {in_list('sedation', SEDATIONS)}", name="sedation_known"
        ),
        CheckConstraint("fluoro_seconds BETWEEN 0 AND 3600", name="fluoro_seconds_range"),
        CheckConstraint("air_kerma_mgy BETWEEN 0 AND 5000", name="air_kerma_mgy_range"),
    )

    id: Mapped[int] = mapped_column(ForeignKey("booking.id"), primary_key=True)
    # The source system's own id for imported interventions, and the key for re-import.
    ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    procedure_type_id: Mapped[int] = mapped_column(ForeignKey("procedure_type.id"), index=True)
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referral.id"), index=True)
    performed_on: Mapped[date | None]
    baseline_nrs: Mapped[int | None]
    spinal_level: Mapped[str | None] = mapped_column(String(40))
    laterality: Mapped[str | None] = mapped_column(String(10))
    complications: Mapped[str | None] = mapped_column(Text)
    # How it was guided, the radiation it took and the sedation given (docs/rules.md).
    guidance: Mapped[str | None] = mapped_column(String(20))
    fluoro_seconds: Mapped[int | None]
    air_kerma_mgy: Mapped[Decimal | None] = mapped_column(Numeric(7, 1))
    sedation: Mapped[str | None] = mapped_column(String(20))

    procedure_type: Mapped[ProcedureType] = relationship()
    referral: Mapped[Referral | None] = relationship()

    __mapper_args__ = {"polymorphic_identity": "intervention"}


class Visit(Booking):
    """An outpatient visit: consult, follow-up, post-procedure check or stimulator adjustment."""

    __tablename__ = "visit"
    __table_args__ = (CheckConstraint(in_list("visit_kind", VISIT_KINDS), name="visit_kind_known"),)

    id: Mapped[int] = mapped_column(ForeignKey("booking.id"), primary_key=True)
    visit_kind: Mapped[str] = mapped_column(String(30))
    intervention_id: Mapped[int | None] = mapped_column(ForeignKey("intervention.id"), index=True)

    intervention: Mapped[Intervention | None] = relationship(foreign_keys=[intervention_id])

    __mapper_args__ = {"polymorphic_identity": "visit", "inherit_condition": id == Booking.id}

    @property
    def kind_label(self) -> str:
        return VISIT_KIND_LABELS[self.visit_kind]
