"""Spinal cord stimulators: implanted devices and their programming visits."""

from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from clinic.models.base import Base, Stamped, in_list
from clinic.models.patients import Patient
from clinic.models.scheduling import Intervention, Visit

PARADIGMS = ("tonic", "burst", "high_frequency_10khz", "other")
# 95970 analysis only; 95971 simple and 95972 complex reprogramming.
ADJUSTMENT_CPT_CODES = ("95970", "95971", "95972")


class ScsDevice(Stamped, Base):
    """An implanted spinal cord stimulator."""

    __tablename__ = "scs_device"
    __table_args__ = (
        CheckConstraint(
            "explanted_on IS NULL OR explanted_on >= implanted_on", name="explant_after_implant"
        ),
        CheckConstraint(
            "explanted_on IS NULL OR explant_reason IS NOT NULL", name="explant_has_reason"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    implant_intervention_id: Mapped[int | None] = mapped_column(ForeignKey("intervention.id"))
    manufacturer: Mapped[str] = mapped_column(String(80))
    model: Mapped[str] = mapped_column(String(80))
    serial_number: Mapped[str] = mapped_column(String(80), unique=True)
    lead_locations: Mapped[str | None] = mapped_column(String(200))
    implanted_on: Mapped[date]
    explanted_on: Mapped[date | None]
    explant_reason: Mapped[str | None] = mapped_column(Text)

    patient: Mapped[Patient] = relationship()
    implant_intervention: Mapped[Intervention | None] = relationship()


class StimulatorAdjustment(Stamped, Base):
    """The programming done at a stimulator-adjustment visit."""

    __tablename__ = "stimulator_adjustment"
    __table_args__ = (
        CheckConstraint(in_list("paradigm", PARADIGMS), name="paradigm_known"),
        CheckConstraint(in_list("cpt_code", ADJUSTMENT_CPT_CODES), name="cpt_code_known"),
        CheckConstraint("amplitude_ma >= 0 AND amplitude_ma <= 30", name="amplitude_range"),
        CheckConstraint("frequency_hz > 0 AND frequency_hz <= 10000", name="frequency_range"),
        CheckConstraint("pulse_width_us > 0 AND pulse_width_us <= 1000", name="pulse_width_range"),
        CheckConstraint("battery_pct BETWEEN 0 AND 100", name="battery_pct_range"),
        CheckConstraint("pain_before BETWEEN 0 AND 10", name="pain_before_range"),
        CheckConstraint("pain_after BETWEEN 0 AND 10", name="pain_after_range"),
        CheckConstraint("program_slot BETWEEN 1 AND 32", name="program_slot_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id"), unique=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("scs_device.id"), index=True)
    program_slot: Mapped[int]
    paradigm: Mapped[str] = mapped_column(String(30))
    amplitude_ma: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    frequency_hz: Mapped[int | None]
    pulse_width_us: Mapped[int | None]
    contacts: Mapped[str | None] = mapped_column(String(120))
    impedance_ohms: Mapped[str | None] = mapped_column(String(200))
    battery_pct: Mapped[int | None]
    cpt_code: Mapped[str] = mapped_column(String(5))
    pain_before: Mapped[int | None]
    pain_after: Mapped[int | None]
    notes: Mapped[str | None] = mapped_column(Text)

    visit: Mapped[Visit] = relationship()
    device: Mapped[ScsDevice] = relationship()
