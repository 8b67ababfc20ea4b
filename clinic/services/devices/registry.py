"""The device registry: registering a patient's stimulator, correcting it, and its explant.

A device belongs to one patient and, when it was put in here, to the completed SCS-IMPLANT
procedure that implanted it. A device explanted on a date takes no programming at visits after
that date.
"""

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from clinic import clock
from clinic.models import Intervention, Patient, ScsDevice, StimulatorAdjustment, Visit
from clinic.services import DomainError
from clinic.services.devices.limits import clean_text
from clinic.services.records import StaleRecord

IMPLANT_PROCEDURE_CODE = "SCS-IMPLANT"


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
    manufacturer = clean_text(details.manufacturer, "manufacturer", required=True)
    model = clean_text(details.model, "model", required=True)
    clean_text(details.serial_number, "serial_number", required=True)
    serial = normalise_serial(details.serial_number)
    lead_locations = clean_text(details.lead_locations, "lead_locations")
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
        first = programming_day(session, device.id, zone, last=False)
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


def programming_day(session: Session, device_id: int, zone: ZoneInfo, last: bool) -> date | None:
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
    last = programming_day(session, device.id, zone, last=True)
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
