"""The booking form's corticosteroid check: the planned procedure's usual dose against the
patient's totals and the clinic's limits (docs/rules.md, Corticosteroid exposure). A warning,
never a refusal: the physician decides."""

from flask import flash
from sqlalchemy import select

from clinic.extensions import db
from clinic.models import Patient, ProcedureType
from clinic.services.medications.exposure import SteroidExposure, steroid_exposure
from clinic.views.common import clinic_today, record_number


def planned_steroid_exposure(form) -> SteroidExposure | None:
    """The patient's steroid totals on the planned day, when the booking form names a patient
    and a procedure that usually gives a corticosteroid; else None."""
    mrn = (form.patient_mrn.data or "").strip().upper()
    kind, _, value = (form.what.data or "").partition(":")
    procedure_id = record_number(value)
    if not mrn or kind != "procedure" or procedure_id is None:
        return None
    procedure = db.session.get(ProcedureType, procedure_id)
    if procedure is None or procedure.usual_steroid_mpe_mg is None:
        return None
    patient = db.session.execute(select(Patient).where(Patient.mrn == mrn)).scalar_one_or_none()
    if patient is None:
        return None
    return steroid_exposure(db.session, patient.id, form.day.data or clinic_today(), procedure)


def flash_steroid_warning(form) -> None:
    """After a booking, repeat the warning where the desk lands (the schedule)."""
    exposure = planned_steroid_exposure(form)
    message = exposure.warning_message() if exposure is not None else None
    if message:
        flash(message, "warning")
