"""Finding, registering and editing patients, and reading a patient's record."""

from dataclasses import dataclass
from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from clinic.extensions import db
from clinic.forms.patients import SEX_CHOICES, ArchiveForm, PatientForm
from clinic.models import CONDITION_LABELS, Patient, Referral
from clinic.models.medications import GUIDANCE_LABELS, SEDATION_LABELS
from clinic.security import ALL_ROLES, role_required
from clinic.services.devices import stimulator_history
from clinic.services.followup.diary import diary_results
from clinic.services.identity.audit import record_event
from clinic.services.medications.exposure import steroid_exposure
from clinic.services.medications.given import medications_by_intervention
from clinic.services.patients import (
    MRN_EDITORS,
    LikelyDuplicate,
    PatientDetails,
    archive_patient,
    normalise_mrn,
    patient_page,
    register_patient,
    update_patient,
)
from clinic.services.records import StaleRecord
from clinic.services.relief.timeline import patient_outcomes
from clinic.services.scheduling import bookings as scheduling
from clinic.views.common import clinic_today, clinic_zone, form_version, saving
from clinic.views.params import page_arg

bp = Blueprint("patients", __name__, url_prefix="/patients")

RELIEF_THRESHOLDS = (30, 50, 80)

REGISTRARS = ("front_desk", "physician", "admin")


def get_patient_or_404(patient_id: int) -> Patient:
    patient = db.session.get(Patient, patient_id)
    if patient is None or patient.archived:
        abort(404)
    return patient


def details_from(form: PatientForm) -> PatientDetails:
    return PatientDetails(
        first_name=form.first_name.data,
        last_name=form.last_name.data,
        date_of_birth=form.date_of_birth.data,
        sex=form.sex.data,
        condition=form.condition.data,
        phone=form.phone.data,
        email=form.email.data,
        email_consent=form.email_consent.data,
        email_consent_on=form.email_consent_on.data,
    )


# Longer than any name, MRN or date of birth typed to find a patient.
SEARCH_LONGEST = 100


@bp.route("")
@role_required(*ALL_ROLES)
def index():
    """Patients, most recently seen first; or those matching a name, MRN or date of birth."""
    query = request.args.get("q", "").strip()
    if len(query) > SEARCH_LONGEST:
        # Said on the page, with the search kept to shorten (a search of hundreds of words
        # would also be past what SQLite can look up in one statement).
        return render_template(
            "patients/list.html", page=None, query=query, longest=SEARCH_LONGEST
        ), 400
    page = patient_page(db.session, query, page_arg(), current_app.config["PATIENTS_PER_PAGE"])
    return render_template("patients/list.html", page=page, query=query)


@bp.route("/new", methods=["GET", "POST"])
@role_required(*REGISTRARS)
def new():
    """Register a patient; the MRN is generated. A likely duplicate must be confirmed."""
    form = PatientForm()
    del form.mrn  # generated, never typed
    duplicates = []
    if form.validate_on_submit():
        with saving(form) as saved:
            patient = register_patient(
                db.session, details_from(form), clinic_today(), form.register_anyway.data
            )
        if saved:
            flash(f"Registered {patient.full_name} with MRN {patient.mrn}.", "success")
            return redirect(url_for("patients.show", patient_id=patient.id))
        if isinstance(saved.error, LikelyDuplicate):
            duplicates = saved.error.matches
    return render_template(
        "patients/form.html", form=form, patient=None, duplicates=duplicates, unsaved=None
    )


def edit_form(patient: Patient, from_record: bool) -> PatientForm:
    """The edit form filled from the record (on opening it, and after a conflict) or from the
    request; only an administrator's carries the MRN, so anyone else's posted MRN is ignored."""
    if from_record:
        form = PatientForm(formdata=None, obj=patient)
        form.version.data = str(patient.version)
    else:
        form = PatientForm()
    if current_user.role not in MRN_EDITORS:
        del form.mrn
    return form


@dataclass(frozen=True)
class UnsavedChange:
    """A field the user changed in a form that was refused: what they typed, what is saved now."""

    label: str
    typed: str
    saved: str


def _shown(name: str, value) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, date):
        return value.isoformat()
    if name == "sex":
        return dict(SEX_CHOICES).get(value, value)
    if name == "condition":
        return CONDITION_LABELS.get(value, value)
    return str(value).strip()


def unsaved_changes(form: PatientForm, patient: Patient) -> list[UnsavedChange]:
    """The refused form's values that differ from the record as it is now, to show beside it."""
    changes = []
    for field in form:
        if field.name in ("csrf_token", "version", "register_anyway"):
            continue
        typed = field.data
        if field.name == "mrn" and typed:
            typed = normalise_mrn(typed)
        typed, saved = _shown(field.name, typed), _shown(field.name, getattr(patient, field.name))
        if typed != saved:
            changes.append(UnsavedChange(field.label.text, typed, saved))
    return changes


@bp.route("/<int:patient_id>/edit", methods=["GET", "POST"])
@role_required(*REGISTRARS)
def edit(patient_id: int):
    """Edit contact and demographic details (an administrator also the MRN). A form opened before
    someone else saved is refused; the page then shows their version, with what was typed."""
    patient = get_patient_or_404(patient_id)
    form = edit_form(patient, from_record=request.method == "GET")
    unsaved = None
    if form.validate_on_submit():
        with saving(form, shown_by_view=(StaleRecord,)) as saved:
            update_patient(
                db.session,
                patient,
                form_version(form.version.data),
                details_from(form),
                clinic_today(),
                mrn=form.mrn.data if "mrn" in form else None,
                editor=current_user._get_current_object(),
            )
        if saved:
            flash(f"Saved {patient.full_name} (MRN {patient.mrn}).", "success")
            return redirect(url_for("patients.show", patient_id=patient.id))
        if isinstance(saved.error, StaleRecord):
            # Saving again must be possible: the form takes the record as saved now, with its
            # current version, and what the user typed is listed so that nothing is lost.
            patient = get_patient_or_404(patient_id)
            unsaved = unsaved_changes(form, patient)
            form = edit_form(patient, from_record=True)
            form.form_errors.append(
                f"{saved.error.message} The form now shows what they saved, and what you typed "
                "is listed above the form: make your changes again and save."
            )
    return render_template(
        "patients/form.html", form=form, patient=patient, duplicates=[], unsaved=unsaved
    )


@bp.route("/<int:patient_id>/archive", methods=["POST"])
@role_required(*REGISTRARS)
def archive(patient_id: int):
    """Archive a patient: the record stays, hidden from lists and search."""
    patient = get_patient_or_404(patient_id)
    form = ArchiveForm()
    if form.validate_on_submit():
        with saving() as saved:
            archive_patient(db.session, patient, form_version(form.version.data) or 0)
        if not saved:
            flash(saved.error.message, "danger")
            return redirect(url_for("patients.show", patient_id=patient_id))
        flash(f"Archived {patient.full_name} (MRN {patient.mrn}). The record is kept.", "success")
        return redirect(url_for("patients.index"))
    abort(400)


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
    booking = scheduling.any_booking()
    bookings = (
        db.session.execute(
            select(booking)
            .options(
                joinedload(booking.physician),
                joinedload(booking.room),
                joinedload(booking.Intervention.procedure_type),
            )
            .where(booking.patient_id == patient.id)
            .order_by(booking.starts_at.desc())
        )
        .unique()
        .scalars()
        .all()
    )
    threshold = request.args.get("threshold", default=50, type=int)
    if threshold not in RELIEF_THRESHOLDS:
        threshold = 50
    outcomes = patient_outcomes(db.session, patient.id, clinic_today(), threshold)
    page = render_template(
        "patients/show.html",
        patient=patient,
        referrals=referrals,
        bookings=bookings,
        outcomes=outcomes,
        thresholds=RELIEF_THRESHOLDS,
        zone=clinic_zone(),
        status_labels=scheduling.STATUS_LABELS,
        archive_form=ArchiveForm(version=patient.version),
        stimulator=stimulator_history(db.session, patient.id),
        medications=medications_by_intervention(db.session, patient.id),
        exposure=steroid_exposure(db.session, patient.id, clinic_today()),
        diaries=diary_results(
            db.session, [p.intervention.id for p in outcomes.procedures], threshold
        ),
        guidance_labels=GUIDANCE_LABELS,
        sedation_labels=SEDATION_LABELS,
    )
    # Rendered before the view is audited and committed: a commit expires what the page reads.
    record_event(db.session, "view", record_type="patient", record_id=patient.id)
    db.session.commit()
    return page
