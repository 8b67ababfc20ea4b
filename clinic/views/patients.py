"""Finding patients and reading a patient's record."""

from flask import Blueprint, abort, current_app, render_template, request
from sqlalchemy import select

from clinic.extensions import db
from clinic.models import Booking, Patient, Referral
from clinic.security import ALL_ROLES, role_required
from clinic.services.audit import record_event
from clinic.services.patients import patient_search

bp = Blueprint("patients", __name__, url_prefix="/patients")


def get_patient_or_404(patient_id: int) -> Patient:
    patient = db.session.get(Patient, patient_id)
    if patient is None or patient.archived:
        abort(404)
    return patient


@bp.route("")
@role_required(*ALL_ROLES)
def index():
    """Patients, most recently seen first; or those matching a name, MRN or date of birth."""
    query = request.args.get("q", "").strip()
    page = db.paginate(
        patient_search(query),
        per_page=current_app.config["PATIENTS_PER_PAGE"],
        error_out=False,
        count=True,
    )
    return render_template("patients/list.html", page=page, query=query)


@bp.route("/<int:patient_id>")
@role_required(*ALL_ROLES)
def show(patient_id: int):
    """The patient's timeline: referrals, procedures and visits. Every view is audited."""
    patient = get_patient_or_404(patient_id)
    referrals = (
        db.session.execute(
            select(Referral)
            .where(Referral.patient_id == patient.id)
            .order_by(Referral.received_on.desc())
        )
        .scalars()
        .all()
    )
    bookings = (
        db.session.execute(
            select(Booking)
            .where(Booking.patient_id == patient.id)
            .order_by(Booking.starts_at.desc())
        )
        .scalars()
        .all()
    )
    record_event(db.session, "view", record_type="patient", record_id=patient.id)
    db.session.commit()
    return render_template(
        "patients/show.html", patient=patient, referrals=referrals, bookings=bookings
    )
