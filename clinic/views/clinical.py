"""The physician's record: completing procedures and visits, pain scores, the pain chart."""

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from clinic.extensions import db
from clinic.forms.clinical import (
    SOURCE_CHOICES,
    CompletionForm,
    PainScoreForm,
    VisitCompletionForm,
)
from clinic.models import Intervention, StaffUser, Visit
from clinic.security import ALL_ROLES, role_required
from clinic.services import DomainError, charts
from clinic.services.outcomes import patient_outcomes
from clinic.services.pain_scores import (
    FRONT_DESK_SOURCES,
    SOURCE_LABELS,
    SavedScore,
    record_pain_score,
)
from clinic.services.procedures import Completion, complete_intervention, complete_visit
from clinic.views.common import clinic_today, clinic_zone, show_domain_error
from clinic.views.patients import get_patient_or_404
from clinic.views.schedule import get_booking_or_404

bp = Blueprint("clinical", __name__)

SCORE_RECORDERS = ("front_desk", "physician")


def completed_interventions(patient_id: int) -> list[Intervention]:
    return list(
        db.session.execute(
            select(Intervention)
            .where(Intervention.patient_id == patient_id, Intervention.status == "completed")
            .order_by(Intervention.performed_on.desc())
        ).scalars()
    )


def intervention_choices(interventions: list[Intervention]) -> list[tuple[int, str]]:
    return [
        (i.id, f"{i.procedure_type.name}, performed {i.performed_on.isoformat()}")
        for i in interventions
    ]


@bp.route("/schedule/bookings/<int:booking_id>/complete", methods=["GET", "POST"])
@role_required("physician")
def complete(booking_id: int):
    """Complete a procedure (baseline pain, level, side, complications) or a visit (notes, score)."""
    booking = get_booking_or_404(booking_id)
    if isinstance(booking, Intervention):
        return _complete_intervention(booking)
    if booking.visit_kind == "stimulator_adjustment":
        # Such a visit is completed by recording its programming.
        return redirect(url_for("devices.visit_programming", visit_id=booking.id))
    return _complete_visit(booking)


def _complete_intervention(intervention: Intervention):
    form = CompletionForm(obj=intervention) if request.method == "GET" else CompletionForm()
    if request.method == "GET":
        form.version.data = str(intervention.version)
        form.performed_on.data = intervention.performed_on or min(
            intervention.starts_at.astimezone(clinic_zone()).date(), clinic_today()
        )
        form.laterality.data = intervention.laterality or ""
    if form.validate_on_submit():
        try:
            complete_intervention(
                db.session,
                intervention,
                int(form.version.data or 0),
                Completion(
                    performed_on=form.performed_on.data,
                    baseline_nrs=form.baseline_nrs.data,
                    spinal_level=form.spinal_level.data,
                    laterality=form.laterality.data,
                    complications=form.complications.data,
                    notes=form.notes.data,
                ),
                clinic_today(),
                zone=clinic_zone(),
            )
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
        else:
            db.session.commit()
            flash(
                f"Completed: {intervention.procedure_type.name} for {intervention.patient.full_name}.",
                "success",
            )
            return redirect(url_for("patients.show", patient_id=intervention.patient_id))
    return render_template(
        "clinical/complete_intervention.html", form=form, intervention=intervention
    )


def _complete_visit(visit: Visit):
    form = VisitCompletionForm(obj=visit) if request.method == "GET" else VisitCompletionForm()
    interventions = completed_interventions(visit.patient_id)
    form.intervention_id.choices = [
        (0, "— no score at this visit —"),
        *intervention_choices(interventions),
    ]
    if request.method == "GET":
        form.version.data = str(visit.version)
        form.intervention_id.data = visit.intervention_id or 0
    if form.validate_on_submit():
        try:
            complete_visit(db.session, visit, int(form.version.data or 0), form.notes.data)
            if form.intervention_id.data:
                if form.nrs.data is None:
                    raise DomainError(
                        "Enter the pain now (NRS), or choose “no score at this visit”.", "nrs"
                    )
                intervention = next(
                    (i for i in interventions if i.id == form.intervention_id.data), None
                )
                if intervention is None:
                    raise DomainError(
                        "Choose one of the patient's completed procedures.", "intervention_id"
                    )
                record_pain_score(
                    db.session,
                    intervention,
                    visit.starts_at.astimezone(clinic_zone()).date(),
                    form.nrs.data,
                    form.percent_relief.data,
                    "visit",
                    current_user.id,
                    today=clinic_today(),
                    visit_id=visit.id,
                )
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
        else:
            db.session.commit()
            flash(f"Visit completed for {visit.patient.full_name}.", "success")
            return redirect(url_for("patients.show", patient_id=visit.patient_id))
    return render_template("clinical/complete_visit.html", form=form, visit=visit)


def source_choices(role: str) -> list[tuple[str, str]]:
    """How a score may have been reported, by who records it: the desk never at a visit."""
    if role == "front_desk":
        return [choice for choice in SOURCE_CHOICES if choice[0] in FRONT_DESK_SOURCES]
    return SOURCE_CHOICES


def score_saved_message(saved: SavedScore, patient_name: str) -> str:
    """The flash after a score; an edit says what it replaced, how and by whom it was taken."""
    score = saved.score
    on = score.recorded_on.isoformat()
    if saved.replaced is None:
        return f"Recorded pain {score.nrs}/10 on {on} for {patient_name}."
    was = saved.replaced
    recorder = db.session.get(StaffUser, was.recorded_by_id) if was.recorded_by_id else None
    how = SOURCE_LABELS.get(was.source, was.source) + (
        f", recorded by {recorder.full_name}" if recorder is not None else ""
    )
    return (
        f"Updated the score {score.nrs}/10 on {on} for {patient_name}; "
        f"it replaced {was.nrs}/10 ({how})."
    )


@bp.route("/patients/<int:patient_id>/pain-scores/new", methods=["GET", "POST"])
@role_required(*SCORE_RECORDERS)
def new_score(patient_id: int):
    """Quick entry of a pain score for one of the patient's completed procedures."""
    patient = get_patient_or_404(patient_id)
    interventions = completed_interventions(patient.id)
    form = PainScoreForm()
    form.intervention_id.choices = intervention_choices(interventions)
    form.source.choices = source_choices(current_user.role)
    if request.method == "GET":
        form.recorded_on.data = clinic_today()
        form.source.data = "visit" if current_user.role == "physician" else "phone"
        form.intervention_id.data = request.args.get("intervention_id", type=int)
    if form.validate_on_submit():
        intervention = next(i for i in interventions if i.id == form.intervention_id.data)
        try:
            saved = record_pain_score(
                db.session,
                intervention,
                form.recorded_on.data,
                form.nrs.data,
                form.percent_relief.data,
                form.source.data,
                current_user.id,
                today=clinic_today(),
            )
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
        else:
            message = score_saved_message(saved, patient.full_name)
            db.session.commit()
            flash(message, "success")
            return redirect(url_for("patients.show", patient_id=patient.id))
    return render_template(
        "clinical/new_score.html", form=form, patient=patient, has_procedures=bool(interventions)
    )


@bp.route("/patients/<int:patient_id>/pain-chart.svg")
@role_required(*ALL_ROLES)
def pain_chart(patient_id: int):
    """The patient's pain over time as an SVG image (the page shows it in an <img>)."""
    patient = get_patient_or_404(patient_id)
    threshold = request.args.get("threshold", default=50, type=float)
    if not 0 < threshold <= 100:
        abort(400)
    outcomes = patient_outcomes(db.session, patient.id, clinic_today(), threshold)
    svg = charts.pain_chart_svg(outcomes.chart_traces(), threshold, until=clinic_today())
    response = Response(svg, mimetype="image/svg+xml")
    # An image document: its own styles are inline (matplotlib), and it may run nothing.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
