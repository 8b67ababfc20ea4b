"""Spinal cord stimulators: the device registry and the programming done at adjustment visits.

A device belongs to one patient and, when it was put in here, to the completed SCS-IMPLANT
procedure that implanted it. Programming is recorded against a visit of kind
``stimulator_adjustment``; recording it is what completes the visit. A device explanted on a
date takes no programming at visits after that date.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from clinic import clock
from clinic.models import (
    Intervention,
    Patient,
    ProcedureType,
    ScsDevice,
    StimulatorAdjustment,
    Visit,
)
from clinic.models.devices import ADJUSTMENT_CPT_CODES, PARADIGMS
from clinic.services import DomainError
from clinic.services.records import StaleRecord, check_version
from clinic.services.scheduling.bookings import NewBooking, book

IMPLANT_PROCEDURE_CODE = "SCS-IMPLANT"
PARADIGM_LABELS = {
    "tonic": "Tonic",
    "burst": "Burst",
    "high_frequency_10khz": "High-frequency 10 kHz",
    "other": "Other",
}
# What each programming code bills (CPT): the physician picks the one the visit was.
CPT_LABELS = {
    "95970": "Analysis only, no reprogramming",
    "95971": "Simple reprogramming",
    "95972": "Complex reprogramming",
}
HIGH_FREQUENCY_HZ = 10000
OPEN_VISIT_STATUSES = ("scheduled", "checked_in")

# The limits of each programming value, with what the physician is told when outside them.
# The forms use the same numbers and words, so the page and the service never disagree.
LIMITS: dict[str, tuple[int | Decimal, int | Decimal, str]] = {
    "program_slot": (1, 32, "The program slot is a whole number from 1 to 32."),
    "amplitude_ma": (
        Decimal("0"),
        Decimal("30"),
        "The amplitude is 0 to 30 mA, with at most 2 decimals (e.g. 3.25).",
    ),
    "frequency_hz": (1, 10000, "The frequency is a whole number of Hz from 1 to 10000."),
    "pulse_width_us": (1, 1000, "The pulse width is a whole number of µs from 1 to 1000."),
    "battery_pct": (0, 100, "The battery is a whole percentage from 0 to 100."),
    "pain_before": (0, 10, "Pain before is a whole number from 0 (none) to 10 (worst)."),
    "pain_after": (0, 10, "Pain after is a whole number from 0 (none) to 10 (worst)."),
}
TEXT_LIMITS = {
    "manufacturer": (80, "manufacturer"),
    "model": (80, "model"),
    "serial_number": (80, "serial number"),
    "lead_locations": (200, "lead locations"),
    "contacts": (120, "active contacts"),
    "impedance_ohms": (200, "impedances"),
    "notes": (4000, "notes"),
}


# --- Devices ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceDetails:
    """What the device form asks for."""

    manufacturer: str
    model: str
    serial_number: str
    implanted_on: date | None
    lead_locations: str | None = None
    implant_intervention_id: int | None = None


def device_version(device: ScsDevice) -> str:
    """A token of the device's last save, carried by its forms to refuse lost updates."""
    return device.updated_at.isoformat() if device.updated_at else ""


def check_device_version(device: ScsDevice, version: str | None) -> None:
    """Refuse a form opened before someone else saved the device; no token means no form."""
    if version is not None and version != device_version(device):
        raise StaleRecord(
            "Someone else changed this device after you opened the form. "
            "Your changes were not saved: the form now shows their version; make your changes again."
        )


def _text(value: str | None, name: str, required: bool = False) -> str | None:
    cleaned = (value or "").strip()
    limit, words = TEXT_LIMITS[name]
    if required and not cleaned:
        raise DomainError(f"Enter the {words}.", name)
    if len(cleaned) > limit:
        raise DomainError(f"Shorten the {words} to {limit} characters at most.", name)
    return cleaned or None


def normalise_serial(serial: str) -> str:
    """Serial numbers are compared and kept without surrounding spaces, in capitals."""
    return "".join(serial.split()).upper()


def _check_serial_free(session: Session, serial: str, device_id: int | None) -> None:
    statement = (
        select(ScsDevice)
        .options(joinedload(ScsDevice.patient))
        .where(func.upper(ScsDevice.serial_number) == serial)
    )
    if device_id is not None:
        statement = statement.where(ScsDevice.id != device_id)
    holder = session.execute(statement).scalars().first()
    if holder is not None:
        raise DomainError(_serial_taken_message(serial, holder), "serial_number")


def _serial_taken_message(serial: str, holder: ScsDevice) -> str:
    return (
        f"Serial number {serial} is already registered to {holder.patient.full_name} "
        f"(MRN {holder.patient.mrn}), a {holder.manufacturer} {holder.model} implanted on "
        f"{holder.implanted_on.isoformat()}. Check the serial on the device card."
    )


def _implant_intervention(
    session: Session, patient_id: int, intervention_id: int | None, device_id: int | None
) -> Intervention | None:
    """The completed SCS-IMPLANT procedure of this patient that put the device in, if named."""
    if intervention_id is None:
        return None
    intervention = session.get(Intervention, intervention_id)
    if intervention is None or intervention.patient_id != patient_id:
        raise DomainError(
            "Choose one of this patient's own implant procedures, or none.",
            "implant_intervention_id",
        )
    if intervention.procedure_type.code != IMPLANT_PROCEDURE_CODE:
        raise DomainError(
            f"That procedure is a {intervention.procedure_type.name.lower()}, not a spinal cord "
            "stimulator implant: choose the implant procedure, or none.",
            "implant_intervention_id",
        )
    if intervention.status != "completed" or intervention.performed_on is None:
        raise DomainError(
            "That implant procedure has not been completed yet: complete it first, "
            "or register the device without it.",
            "implant_intervention_id",
        )
    statement = select(ScsDevice).where(ScsDevice.implant_intervention_id == intervention_id)
    if device_id is not None:
        statement = statement.where(ScsDevice.id != device_id)
    other = session.execute(statement).scalars().first()
    if other is not None:
        raise DomainError(
            f"That implant procedure already put in device {other.serial_number} "
            f"({other.manufacturer} {other.model}): choose another procedure, or none.",
            "implant_intervention_id",
        )
    return intervention


def _check_device_details(
    session: Session,
    patient_id: int,
    details: DeviceDetails,
    zone: ZoneInfo,
    device: ScsDevice | None = None,
) -> dict:
    """Every rule of a device's details; returns the cleaned values to store."""
    today = clinic_today(zone)
    manufacturer = _text(details.manufacturer, "manufacturer", required=True)
    model = _text(details.model, "model", required=True)
    _text(details.serial_number, "serial_number", required=True)
    serial = normalise_serial(details.serial_number)
    lead_locations = _text(details.lead_locations, "lead_locations")
    device_id = device.id if device is not None else None
    intervention = _implant_intervention(
        session, patient_id, details.implant_intervention_id, device_id
    )
    implanted_on = details.implanted_on
    if implanted_on is None:
        if intervention is None:
            raise DomainError("Enter the implant date as YYYY-MM-DD.", "implanted_on")
        implanted_on = intervention.performed_on
    if implanted_on > today:
        raise DomainError(
            f"The implant date cannot be in the future (today is {today.isoformat()}).",
            "implanted_on",
        )
    if intervention is not None and implanted_on != intervention.performed_on:
        raise DomainError(
            f"The implant procedure was performed on {intervention.performed_on.isoformat()}: "
            "use that date, or choose no procedure.",
            "implanted_on",
        )
    if device is not None:
        if device.explanted_on is not None and implanted_on > device.explanted_on:
            raise DomainError(
                f"The device was explanted on {device.explanted_on.isoformat()}: "
                "the implant date must be on or before it.",
                "implanted_on",
            )
        first = _programming_day(session, device.id, zone, last=False)
        if first is not None and implanted_on > first:
            raise DomainError(
                f"Programming was recorded on {first.isoformat()}: "
                "the implant date must be on or before it.",
                "implanted_on",
            )
    _check_serial_free(session, serial, device_id)
    return dict(
        manufacturer=manufacturer,
        model=model,
        serial_number=serial,
        lead_locations=lead_locations,
        implanted_on=implanted_on,
        implant_intervention_id=intervention.id if intervention else None,
    )


def _flush_device(session: Session, device: ScsDevice, new: bool) -> None:
    """Write the device; a serial saved by someone else in the meantime is named, not a 500."""
    try:
        with session.begin_nested():
            if new:
                session.add(device)
            session.flush()
    except IntegrityError as error:
        if "serial_number" not in str(error.orig) and "uq_scs_device" not in str(error.orig):
            raise
        raise DomainError(
            f"Serial number {device.serial_number} was just registered by someone else. "
            "Check the serial on the device card.",
            "serial_number",
        ) from None
    except StaleDataError:
        raise StaleRecord(
            "Someone else changed this device while you were saving. Open it again."
        ) from None


def register_device(
    session: Session, patient: Patient, details: DeviceDetails, zone: ZoneInfo
) -> ScsDevice:
    """Register a patient's implanted stimulator: unique serial, implant date not in the future."""
    if patient.archived:
        raise DomainError("This patient's record is archived: no device can be added to it.")
    values = _check_device_details(session, patient.id, details, zone)
    device = ScsDevice(patient_id=patient.id, **values)
    _flush_device(session, device, new=True)
    return device


def update_device(
    session: Session,
    device: ScsDevice,
    version: str | None,
    details: DeviceDetails,
    zone: ZoneInfo,
) -> None:
    """Correct a device's details under the same rules as registering it."""
    check_device_version(device, version)
    values = _check_device_details(session, device.patient_id, details, zone, device)
    for name, value in values.items():
        setattr(device, name, value)
    _flush_device(session, device, new=False)


def clinic_day(instant: datetime, zone: ZoneInfo) -> date:
    """The date on the clinic's wall calendar of a UTC instant."""
    return instant.astimezone(zone).date()


def clinic_today(zone: ZoneInfo) -> date:
    return clinic_day(clock.utcnow(), zone)


def _programming_day(session: Session, device_id: int, zone: ZoneInfo, last: bool) -> date | None:
    """The clinic date of the device's first (or last) programming visit, if any."""
    starts_at = session.execute(
        select(Visit.starts_at)
        .join(StimulatorAdjustment, StimulatorAdjustment.visit_id == Visit.id)
        .where(StimulatorAdjustment.device_id == device_id)
        .order_by(Visit.starts_at.desc() if last else Visit.starts_at)
        .limit(1)
    ).scalar_one_or_none()
    return None if starts_at is None else clinic_day(starts_at, zone)


def record_explant(
    session: Session,
    device: ScsDevice,
    version: str | None,
    explanted_on: date | None,
    reason: str | None,
    zone: ZoneInfo,
) -> None:
    """Record (or correct) when and why a device was taken out; programming stops there."""
    check_device_version(device, version)
    today = clinic_today(zone)
    if explanted_on is None:
        raise DomainError("Enter the explant date as YYYY-MM-DD.", "explanted_on")
    if explanted_on > today:
        raise DomainError(
            f"The explant date cannot be in the future (today is {today.isoformat()}).",
            "explanted_on",
        )
    if explanted_on < device.implanted_on:
        raise DomainError(
            f"The device was implanted on {device.implanted_on.isoformat()}: "
            "the explant date must be on or after it.",
            "explanted_on",
        )
    last = _programming_day(session, device.id, zone, last=True)
    if last is not None and explanted_on < last:
        raise DomainError(
            f"Programming was recorded on {last.isoformat()}: "
            "the explant date must be on or after the last programming.",
            "explanted_on",
        )
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(
            "Say why the device was explanted (e.g. infection, lead migration, loss of effect).",
            "explant_reason",
        )
    if len(reason) > 4000:
        raise DomainError("Shorten the reason to 4000 characters at most.", "explant_reason")
    device.explanted_on = explanted_on
    device.explant_reason = reason
    _flush_device(session, device, new=False)


# --- Programming -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AdjustmentDetails:
    """What the programming form asks for (DESIGN.md section 2, stimulator adjustment)."""

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
        contacts=_text(details.contacts, "contacts"),
        impedance_ohms=_text(details.impedance_ohms, "impedance_ohms"),
        battery_pct=details.battery_pct,
        pain_before=details.pain_before,
        pain_after=details.pain_after,
        notes=_text(details.notes, "notes"),
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
            ),
            zone,
        )
        adjustment = record_adjustment(session, visit, device, details, zone)
    return adjustment


# --- The programming history -----------------------------------------------------------------


@dataclass
class DeviceHistory:
    """One device and its programming, most recent first."""

    device: ScsDevice
    adjustments: list[StimulatorAdjustment] = field(default_factory=list)

    @property
    def explanted(self) -> bool:
        return self.device.explanted_on is not None


@dataclass
class StimulatorHistory:
    """A patient's stimulators, implanted ones first, each with its programming history."""

    patient_id: int
    devices: list[DeviceHistory]
    paradigm_labels: ClassVar[dict[str, str]] = PARADIGM_LABELS
    cpt_labels: ClassVar[dict[str, str]] = CPT_LABELS

    @property
    def implanted(self) -> list[ScsDevice]:
        return [entry.device for entry in self.devices if not entry.explanted]

    def __bool__(self) -> bool:
        return bool(self.devices)


def stimulator_history(session: Session, patient_id: int) -> StimulatorHistory:
    """The patient's devices with their programming visits, in two queries whatever their number."""
    devices = (
        session.execute(
            select(ScsDevice)
            .options(joinedload(ScsDevice.implant_intervention))
            .where(ScsDevice.patient_id == patient_id)
            .order_by(
                ScsDevice.explanted_on.is_not(None),
                ScsDevice.implanted_on.desc(),
                ScsDevice.id.desc(),
            )
        )
        .unique()
        .scalars()
        .all()
    )
    history = {device.id: DeviceHistory(device) for device in devices}
    if history:
        adjustments = (
            session.execute(
                select(StimulatorAdjustment)
                .join(StimulatorAdjustment.visit)
                .options(joinedload(StimulatorAdjustment.visit).joinedload(Visit.physician))
                .where(StimulatorAdjustment.device_id.in_(history))
                .order_by(Visit.starts_at.desc(), StimulatorAdjustment.id.desc())
            )
            .unique()
            .scalars()
            .all()
        )
        for adjustment in adjustments:
            history[adjustment.device_id].adjustments.append(adjustment)
    return StimulatorHistory(patient_id, list(history.values()))


def last_settings(session: Session, device_id: int) -> StimulatorAdjustment | None:
    """The device's most recent programming: the settings a new programming starts from."""
    return (
        session.execute(
            select(StimulatorAdjustment)
            .join(StimulatorAdjustment.visit)
            .options(joinedload(StimulatorAdjustment.visit))
            .where(StimulatorAdjustment.device_id == device_id)
            .order_by(Visit.starts_at.desc(), StimulatorAdjustment.id.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )


def implant_procedures(session: Session, patient_id: int) -> list[Intervention]:
    """The patient's completed SCS-IMPLANT procedures, most recent first (the device form's choices)."""
    return list(
        session.execute(
            select(Intervention)
            .join(Intervention.procedure_type)
            .where(
                Intervention.patient_id == patient_id,
                Intervention.status == "completed",
                ProcedureType.code == IMPLANT_PROCEDURE_CODE,
            )
            .order_by(Intervention.performed_on.desc())
        ).scalars()
    )


def open_adjustment_visits(session: Session, patient_id: int) -> list[Visit]:
    """The patient's stimulator-adjustment visits still waiting for their programming."""
    return list(
        session.execute(
            select(Visit)
            .options(joinedload(Visit.physician), joinedload(Visit.room))
            .where(
                Visit.patient_id == patient_id,
                Visit.visit_kind == "stimulator_adjustment",
                Visit.status.in_(OPEN_VISIT_STATUSES),
            )
            .order_by(Visit.starts_at)
        ).scalars()
    )
