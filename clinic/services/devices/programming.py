"""The programming done at stimulator-adjustment visits: its values checked against their limits,
and recorded against a visit of kind ``stimulator_adjustment``, which recording completes."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from clinic.models import Patient, ScsDevice, StimulatorAdjustment, Visit
from clinic.models.devices import ADJUSTMENT_CPT_CODES, PARADIGMS
from clinic.services import DomainError
from clinic.services.devices.limits import HIGH_FREQUENCY_HZ, LIMITS, clean_text
from clinic.services.devices.registry import clinic_day, clinic_today
from clinic.services.records import StaleRecord, check_version
from clinic.services.scheduling.bookings import NewBooking, book

OPEN_VISIT_STATUSES = ("scheduled", "checked_in")


@dataclass(frozen=True)
class AdjustmentDetails:
    """What the programming form asks for (docs/rules.md, Stimulators)."""

    program_slot: int | None
    paradigm: str
    cpt_code: str
    amplitude_ma: Decimal | None = None
    frequency_hz: int | None = None
    pulse_width_us: int | None = None
    contacts: str | None = None
    impedance_ohms: str | None = None
    battery_pct: int | None = None
    pain_before: int | None = None
    pain_after: int | None = None
    notes: str | None = None


def _in_range(name: str, value, required: bool = False) -> None:
    """A programming value inside its limits: whole numbers, except the amplitude (mA)."""
    low, high, message = LIMITS[name]
    if value is None:
        if required:
            raise DomainError(message, name)
        return
    if name == "amplitude_ma":
        valid = isinstance(value, Decimal) and value.is_finite()
    else:
        valid = isinstance(value, int) and not isinstance(value, bool)
    if not valid or not low <= value <= high:
        raise DomainError(message, name)


def check_adjustment_details(details: AdjustmentDetails) -> dict:
    """Every rule of the programming values; returns the cleaned values to store."""
    _in_range("program_slot", details.program_slot, required=True)
    if details.paradigm not in PARADIGMS:
        raise DomainError(
            "Choose the paradigm: tonic, burst, high-frequency 10 kHz or other.", "paradigm"
        )
    if details.cpt_code not in ADJUSTMENT_CPT_CODES:
        raise DomainError(
            "Choose what the visit was: 95970 analysis only, 95971 simple or "
            "95972 complex reprogramming.",
            "cpt_code",
        )
    amplitude = details.amplitude_ma
    if isinstance(amplitude, int) and not isinstance(amplitude, bool):
        amplitude = Decimal(amplitude)
    _in_range("amplitude_ma", amplitude)
    if amplitude is not None:
        # Numeric(5, 2) would round 3.456 silently; the physician says which value was set.
        if amplitude != amplitude.quantize(Decimal("0.01")):
            raise DomainError(LIMITS["amplitude_ma"][2], "amplitude_ma")
        amplitude = amplitude.quantize(Decimal("0.01"))
    for name in ("frequency_hz", "pulse_width_us", "battery_pct", "pain_before", "pain_after"):
        _in_range(name, getattr(details, name))
    if (
        details.paradigm == "high_frequency_10khz"
        and details.frequency_hz is not None
        and details.frequency_hz != HIGH_FREQUENCY_HZ
    ):
        raise DomainError(
            "High-frequency 10 kHz stimulation runs at 10000 Hz: correct the frequency "
            "or choose another paradigm.",
            "frequency_hz",
        )
    return dict(
        program_slot=details.program_slot,
        paradigm=details.paradigm,
        cpt_code=details.cpt_code,
        amplitude_ma=amplitude,
        frequency_hz=details.frequency_hz,
        pulse_width_us=details.pulse_width_us,
        contacts=clean_text(details.contacts, "contacts"),
        impedance_ohms=clean_text(details.impedance_ohms, "impedance_ohms"),
        battery_pct=details.battery_pct,
        pain_before=details.pain_before,
        pain_after=details.pain_after,
        notes=clean_text(details.notes, "notes"),
    )


def _check_device_on(device: ScsDevice, patient_id: int, day: date) -> None:
    """The device is the patient's and was in the patient on ``day``."""
    if device.patient_id != patient_id:
        raise DomainError("That device belongs to another patient: choose this patient's device.")
    if day < device.implanted_on:
        raise DomainError(
            f"The device was implanted on {device.implanted_on.isoformat()}, after this visit "
            f"({day.isoformat()}): choose a visit on or after the implant date.",
        )
    if device.explanted_on is not None and day > device.explanted_on:
        raise DomainError(
            f"The device was explanted on {device.explanted_on.isoformat()}, before this visit "
            f"({day.isoformat()}): programming can only be recorded while it is implanted.",
        )


def record_adjustment(
    session: Session,
    visit: Visit,
    device: ScsDevice,
    details: AdjustmentDetails,
    zone: ZoneInfo,
    visit_version: int | None = None,
) -> StimulatorAdjustment:
    """Record the programming done at a stimulator-adjustment visit; the visit becomes completed."""
    if visit_version is not None:
        check_version(visit, visit_version)
    if not isinstance(visit, Visit) or visit.visit_kind != "stimulator_adjustment":
        what = visit.kind_label.lower() if isinstance(visit, Visit) else "procedure"
        raise DomainError(
            f"That booking is a {what}, not a stimulator adjustment visit: "
            "book a stimulator adjustment visit for the programming."
        )
    if visit.status not in OPEN_VISIT_STATUSES:
        if visit.status == "completed":
            raise DomainError(
                "This visit is already completed: its programming is on the patient's record."
            )
        state = "cancelled" if visit.status == "cancelled" else "marked a no-show"
        raise DomainError(
            f"This visit was {state}: programming can only be recorded at a visit that "
            "takes place. Book a new stimulator adjustment visit."
        )
    day = clinic_day(visit.starts_at, zone)
    if day > clinic_today(zone):
        raise DomainError(
            f"This visit is booked for {day.isoformat()}: programming is recorded on the day "
            "of the visit, not before."
        )
    _check_device_on(device, visit.patient_id, day)
    values = check_adjustment_details(details)
    adjustment = StimulatorAdjustment(visit_id=visit.id, device_id=device.id, **values)
    visit.status = "completed"
    patient = session.get(Patient, visit.patient_id)
    if patient.last_seen_at is None or patient.last_seen_at < visit.starts_at:
        patient.last_seen_at = visit.starts_at  # "most recently seen first" on the patient list
    try:
        with session.begin_nested():
            session.add(adjustment)
            session.flush()
    except IntegrityError as error:
        if "visit_id" not in str(error.orig) and "uq_stimulator_adjustment" not in str(error.orig):
            raise
        raise DomainError(
            "Programming was just recorded for this visit by someone else: "
            "see it on the patient's record."
        ) from None
    except StaleDataError:
        raise StaleRecord(
            "Someone else changed this visit while you were saving (moved, cancelled or "
            "completed it). Nothing was saved: open the visit again."
        ) from None
    return adjustment


def record_adjustment_visit(
    session: Session,
    patient: Patient,
    device: ScsDevice,
    physician_id: int,
    room_id: int | None,
    starts_at: datetime,
    ends_at: datetime,
    zone: ZoneInfo,
    details: AdjustmentDetails,
) -> StimulatorAdjustment:
    """The patient is here now: book the adjustment visit (clash rules apply) and record it.

    One unit of work: if the booking or the programming is refused, neither is kept.
    """
    # Refuse bad programming values and a wrong device before touching the schedule.
    check_adjustment_details(details)
    _check_device_on(device, patient.id, clinic_day(starts_at, zone))
    with session.begin_nested():
        visit = book(
            session,
            NewBooking(
                patient_id=patient.id,
                physician_id=physician_id,
                room_id=room_id,
                starts_at=starts_at,
                ends_at=ends_at,
                visit_kind="stimulator_adjustment",
                follows_intervention_id=device.implant_intervention_id,
                # The patient is here now: outside a session it is still recorded (audited).
                book_anyway=True,
            ),
            zone,
        )
        adjustment = record_adjustment(session, visit, device, details, zone)
    return adjustment
