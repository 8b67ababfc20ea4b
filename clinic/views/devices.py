"""Spinal cord stimulators: registering devices, explants, and programming at adjustment visits.

Physicians write (SCS implants and programming are clinical work); every role that reads the
patient's record reads the programming history.
"""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from clinic import clock
from clinic.extensions import db
from clinic.forms.devices import (
    MANUFACTURERS,
    NO_PROCEDURE,
    AdjustmentForm,
    AdjustmentVisitForm,
    DeviceForm,
    ExplantForm,
)
from clinic.models import Patient, ScsDevice, Visit
from clinic.security import ALL_ROLES, role_required
from clinic.services import devices
from clinic.services.identity.audit import record_event
from clinic.services.records import StaleRecord
from clinic.services.scheduling import bookings
from clinic.views.common import (
    NO_ROOM,
    clinic_today,
    clinic_zone,
    form_version,
    physician_choices,
    room_choices,
    saving,
)
from clinic.views.params import id_arg

bp = Blueprint("devices", __name__)

# Implants and programming are the physician's.
WRITERS = ("physician",)
COPIED_SETTINGS = (
    "program_slot",
    "paradigm",
    "amplitude_ma",
    "frequency_hz",
    "pulse_width_us",
    "contacts",
)


def get_patient_or_404(patient_id: int) -> Patient:
    patient = db.session.get(Patient, patient_id)
    if patient is None or patient.archived:
        abort(404)
    return patient


def get_device_or_404(device_id: int) -> ScsDevice:
    device = db.session.get(ScsDevice, device_id)
    if device is None or device.patient.archived:
        abort(404)
    return device


def set_field(field, value) -> None:
    """Show ``value`` in a field, whatever was posted (dates prefer the posted text)."""
    field.data = value
    field.raw_data = None


def device_details_from(form: DeviceForm) -> devices.DeviceDetails:
    return devices.DeviceDetails(
        manufacturer=form.manufacturer.data,
        model=form.model.data,
        serial_number=form.serial_number.data,
        implanted_on=form.implanted_on.data,
        lead_locations=form.lead_locations.data,
        implant_intervention_id=form.implant_intervention_id.data or None,
    )


def adjustment_details_from(form: AdjustmentForm) -> devices.AdjustmentDetails:
    return devices.AdjustmentDetails(
        program_slot=form.program_slot.data,
        paradigm=form.paradigm.data,
        cpt_code=form.cpt_code.data,
        amplitude_ma=form.amplitude_ma.data,
        frequency_hz=form.frequency_hz.data,
        pulse_width_us=form.pulse_width_us.data,
        contacts=form.contacts.data,
        impedance_ohms=form.impedance_ohms.data,
        battery_pct=form.battery_pct.data,
        pain_before=form.pain_before.data,
        pain_after=form.pain_after.data,
        notes=form.notes.data,
    )


def device_label(device: ScsDevice) -> str:
    return f"{device.manufacturer} {device.model} (serial {device.serial_number})"


@bp.route("/patients/<int:patient_id>/stimulator")
@role_required(*ALL_ROLES)
def history(patient_id: int):
    """The patient's stimulators and programming history on one printable page."""
    patient = get_patient_or_404(patient_id)
    stimulator = devices.stimulator_history(db.session, patient.id)
    record_event(
        db.session,
        "view",
        record_type="patient",
        record_id=patient.id,
        details={"page": "stimulator"},
    )
    db.session.commit()
    return render_template("devices/history.html", patient=patient, stimulator=stimulator)


# --- Devices ---------------------------------------------------------------------------------


def _implant_choices(form: DeviceForm, patient_id: int) -> list:
    procedures = devices.implant_procedures(db.session, patient_id)
    form.implant_intervention_id.choices = [
        (NO_PROCEDURE, "— none: implanted elsewhere or not recorded here —")
    ] + [
        (
            procedure.id,
            f"{procedure.performed_on.isoformat()} {procedure.procedure_type.name}"
            f" — {procedure.physician.full_name}",
        )
        for procedure in procedures
    ]
    return procedures


@bp.route("/patients/<int:patient_id>/devices/new", methods=["GET", "POST"])
@role_required(*WRITERS)
def new(patient_id: int):
    """Register a patient's implanted stimulator, linked to the implant procedure done here."""
    patient = get_patient_or_404(patient_id)
    form = DeviceForm()
    procedures = _implant_choices(form, patient.id)
    if request.method == "GET":
        linked = set(
            db.session.execute(
                select(ScsDevice.implant_intervention_id).where(ScsDevice.patient_id == patient.id)
            ).scalars()
        )
        unlinked = [procedure for procedure in procedures if procedure.id not in linked]
        if unlinked:
            form.implant_intervention_id.data = unlinked[0].id
            form.implanted_on.data = unlinked[0].performed_on
        else:
            form.implant_intervention_id.data = NO_PROCEDURE
    if form.validate_on_submit():
        with saving(form) as saved:
            device = devices.register_device(
                db.session, patient, device_details_from(form), clinic_zone()
            )
        if saved:
            flash(
                f"Registered {device_label(device)} for {patient.full_name}, "
                f"implanted {device.implanted_on.isoformat()}.",
                "success",
            )
            return redirect(url_for("devices.history", patient_id=patient.id))
    return render_template(
        "devices/device_form.html",
        form=form,
        patient=patient,
        device=None,
        manufacturers=MANUFACTURERS,
    )


@bp.route("/devices/<int:device_id>/edit", methods=["GET", "POST"])
@role_required(*WRITERS)
def edit(device_id: int):
    """Correct a device's details; a form opened before someone else saved is refused."""
    device = get_device_or_404(device_id)
    patient = device.patient
    form = DeviceForm(obj=device) if request.method == "GET" else DeviceForm()
    _implant_choices(form, patient.id)
    if request.method == "GET":
        form.implant_intervention_id.data = device.implant_intervention_id or NO_PROCEDURE
        form.version.data = devices.device_version(device)
    if form.validate_on_submit():
        with saving(form) as saved:
            devices.update_device(
                db.session, device, form.version.data, device_details_from(form), clinic_zone()
            )
        if saved:
            flash(f"Saved {device_label(device)}.", "success")
            return redirect(url_for("devices.history", patient_id=patient.id))
        if isinstance(saved.error, StaleRecord):
            _show_current_device(form, device)
    return render_template(
        "devices/device_form.html",
        form=form,
        patient=patient,
        device=device,
        manufacturers=MANUFACTURERS,
    )


def _show_current_device(form: DeviceForm, device: ScsDevice) -> None:
    """After a lost-update refusal, the form shows what the other person saved."""
    for name in ("manufacturer", "model", "serial_number", "lead_locations", "implanted_on"):
        set_field(getattr(form, name), getattr(device, name))
    set_field(form.implant_intervention_id, device.implant_intervention_id or NO_PROCEDURE)
    form.version.data = devices.device_version(device)


@bp.route("/devices/<int:device_id>/explant", methods=["GET", "POST"])
@role_required(*WRITERS)
def explant(device_id: int):
    """Record (or correct) when and why the device was taken out."""
    device = get_device_or_404(device_id)
    patient = device.patient
    form = ExplantForm()
    if request.method == "GET":
        form.explanted_on.data = device.explanted_on or clinic_today()
        form.explant_reason.data = device.explant_reason
        form.version.data = devices.device_version(device)
    if form.validate_on_submit():
        with saving(form) as saved:
            devices.record_explant(
                db.session,
                device,
                form.version.data,
                form.explanted_on.data,
                form.explant_reason.data,
                clinic_zone(),
            )
        if saved:
            flash(
                f"Recorded the explant of {device_label(device)} on "
                f"{device.explanted_on.isoformat()}.",
                "success",
            )
            return redirect(url_for("devices.history", patient_id=patient.id))
        if isinstance(saved.error, StaleRecord):
            set_field(form.explanted_on, device.explanted_on or clinic_today())
            set_field(form.explant_reason, device.explant_reason)
            form.version.data = devices.device_version(device)
    return render_template("devices/explant.html", form=form, patient=patient, device=device)


# --- Programming -----------------------------------------------------------------------------


def _visit_for_programming(visit_id: int) -> Visit:
    visit = db.session.get(Visit, visit_id)
    if visit is None or visit.patient.archived:
        abort(404)
    return visit


def _prefill_from_last_programming(form: AdjustmentForm, device: ScsDevice):
    """Programming starts from the device's current settings; measurements start empty."""
    last = devices.last_settings(db.session, device.id)
    if last is not None:
        for name in COPIED_SETTINGS:
            getattr(form, name).data = getattr(last, name)
    return last


@bp.route("/devices/<int:device_id>/adjustments/new", methods=["GET", "POST"])
@role_required(*WRITERS)
def new_adjustment(device_id: int):
    """Record the programming of a stimulator: at a booked visit (?visit_id=) or one held now."""
    device = get_device_or_404(device_id)
    zone = clinic_zone()
    visit_id = id_arg("visit_id")
    visit = _visit_for_programming(visit_id) if visit_id else None
    form = AdjustmentForm() if visit is not None else AdjustmentVisitForm()
    if isinstance(form, AdjustmentVisitForm):
        form.physician_id.choices = physician_choices()
        form.room_id.choices = room_choices()
    last = None
    if request.method == "GET":
        last = _prefill_from_last_programming(form, device)
        if visit is not None:
            form.visit_version.data = str(visit.version)
        else:
            now = clock.utcnow().astimezone(zone)
            form.physician_id.data = current_user.id
            form.room_id.data = NO_ROOM
            form.day.data = now.date()
            form.start_time.data = now.replace(
                minute=now.minute - now.minute % 5, second=0, microsecond=0
            ).time()
    if form.validate_on_submit():
        with saving(form) as saved:
            if visit is not None:
                adjustment = devices.record_adjustment(
                    db.session,
                    visit,
                    device,
                    adjustment_details_from(form),
                    zone,
                    form_version(form.visit_version.data) or 0,
                )
            else:
                adjustment = _record_with_new_visit(form, device_id)
        if saved:
            when = adjustment.visit.starts_at.astimezone(zone)
            flash(
                f"Recorded the programming of {device_label(adjustment.device)} for "
                f"{adjustment.device.patient.full_name} on {when:%Y-%m-%d %H:%M}: program "
                f"{adjustment.program_slot}, {devices.PARADIGM_LABELS[adjustment.paradigm].lower()}, "
                f"CPT {adjustment.cpt_code}. The visit is completed.",
                "success",
            )
            return redirect(url_for("devices.history", patient_id=adjustment.device.patient_id))
        if isinstance(saved.error, StaleRecord) and visit is not None:
            form.visit_version.data = str(visit.version)
    device = get_device_or_404(device_id)
    patient = device.patient
    open_visits = (
        [
            open_visit
            for open_visit in devices.open_adjustment_visits(db.session, patient.id)
            if devices.clinic_day(open_visit.starts_at, zone) <= clinic_today()
        ]
        if visit is None
        else []
    )
    return render_template(
        "devices/adjustment_form.html",
        form=form,
        device=device,
        patient=patient,
        visit=visit,
        visit_description=bookings.describe(visit, zone) if visit is not None else None,
        last=last,
        open_visits=open_visits,
        stimulator=devices.stimulator_history(db.session, patient.id),
        stimulator_actions=False,
    )


def _record_with_new_visit(form: AdjustmentVisitForm, device_id: int):
    """Book the visit being held now and record its programming, under the schedule lock."""
    db.session.commit()  # end the sign-in's read: the booking's unit of work starts with the lock
    bookings.lock_schedule(db.session)
    device = get_device_or_404(device_id)
    zone = clinic_zone()
    starts_at, ends_at = bookings.local_slot_times(
        form.day.data, form.start_time.data, form.duration_minutes.data, zone
    )
    return devices.record_adjustment_visit(
        db.session,
        device.patient,
        device,
        form.physician_id.data,
        form.room_id.data or None,
        starts_at,
        ends_at,
        zone,
        adjustment_details_from(form),
    )


@bp.route("/devices/visits/<int:visit_id>/programming")
@role_required(*WRITERS)
def visit_programming(visit_id: int):
    """From a booked stimulator-adjustment visit to the programming form of the patient's device."""
    visit = _visit_for_programming(visit_id)
    stimulator = devices.stimulator_history(db.session, visit.patient_id)
    implanted = stimulator.implanted
    open_for_programming = (
        visit.visit_kind == "stimulator_adjustment" and visit.status in devices.OPEN_VISIT_STATUSES
    )
    if open_for_programming and len(implanted) == 1:
        return redirect(
            url_for("devices.new_adjustment", device_id=implanted[0].id, visit_id=visit.id)
        )
    return render_template(
        "devices/choose_device.html",
        visit=visit,
        patient=visit.patient,
        description=bookings.describe(visit, clinic_zone()),
        open_for_programming=open_for_programming,
        implanted=implanted,
        status_labels=bookings.STATUS_LABELS,
    )
