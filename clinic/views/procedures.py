"""The physician's record: completing procedures and visits, pain scores, the pain chart."""

from datetime import date

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField

from clinic.extensions import db
from clinic.forms.procedures import (
    BLANK_MEDICATION_ROWS,
    SOURCE_CHOICES,
    CompletionForm,
    PainScoreForm,
    VisitCompletionForm,
)
from clinic.models import Booking, Intervention, PainScore, StaffUser, Visit
from clinic.security import ALL_ROLES, role_required
from clinic.services import DomainError
from clinic.services.followup.pain_scores import (
    FRONT_DESK_SOURCES,
    SOURCE_LABELS,
    SavedScore,
    record_pain_score,
)
from clinic.services.medications.given import (
    MedicationRow,
    Radiation,
    catalogue,
    medications_of,
)
from clinic.services.procedures import (
    COMPLETABLE,
    Completion,
    complete_intervention,
    complete_visit,
    normalise_levels,
)
from clinic.services.records import StaleRecord
from clinic.services.relief import charts
from clinic.services.relief.timeline import patient_outcomes
from clinic.services.scheduling import bookings as scheduling
from clinic.views.common import clinic_today, clinic_zone, form_version, record_number, saving
from clinic.views.patients import UnsavedChange, get_patient_or_404
from clinic.views.scheduling import get_booking_or_404

bp = Blueprint("procedures", __name__)

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


def drug_choices(intervention: Intervention) -> list[tuple[str, str]]:
    """The catalogue's active drugs with their unit, and any retired one this record names."""
    named = {given.drug_id for given in medications_of(db.session, intervention.id)}
    drugs = sorted(catalogue(db.session).values(), key=lambda drug: drug.name)
    return [("", "— drug —")] + [
        (str(drug.id), f"{drug.name} ({'mL' if drug.unit == 'ml' else 'mg'})")
        for drug in drugs
        if drug.active or drug.id in named
    ]


def completion_form(intervention: Intervention, from_record: bool) -> CompletionForm:
    """The procedure's completion form filled from the record as saved now (on opening it, and
    after a conflict), with its current version; or from the request."""
    choices = drug_choices(intervention)
    if not from_record:
        form = CompletionForm()
        for row in form.medications:
            row.form.drug_id.choices = choices
        return form
    given = [
        {
            "drug_id": str(medication.drug_id),
            "amount": medication.dose_mg
            if medication.dose_mg is not None
            else medication.volume_ml,
            "route_site": medication.route_site or "",
        }
        for medication in medications_of(db.session, intervention.id)
    ]
    form = CompletionForm(
        formdata=None,
        obj=intervention,
        medications=given + [{}] * BLANK_MEDICATION_ROWS,
    )
    for row in form.medications:
        row.form.drug_id.choices = choices
    form.guidance.data = intervention.guidance or ""
    form.sedation.data = intervention.sedation or ""
    form.version.data = str(intervention.version)
    form.performed_on.data = intervention.performed_on or min(
        intervention.starts_at.astimezone(clinic_zone()).date(), clinic_today()
    )
    form.laterality.data = intervention.laterality or ""
    return form


def _shown(field) -> str:
    """A form field's value as the conflict page lists it."""
    value = field.data
    if value is None or value == "":
        return ""
    if isinstance(field, SelectField):
        return str(dict(field.choices).get(value, value))
    if isinstance(value, date):
        return value.isoformat()
    if field.name == "spinal_level":
        try:
            return normalise_levels(value) or ""
        except DomainError:
            pass
    return str(value).strip()


def typed_beside_saved(typed: FlaskForm, saved: FlaskForm) -> list[UnsavedChange]:
    """The refused form's values that differ from the record as saved now (the new form's)."""
    changes = []
    for field in typed:
        if field.name in ("csrf_token", "version"):
            continue
        was, now = _shown(field), _shown(saved[field.name])
        if was != now:
            changes.append(UnsavedChange(field.label.text, was, now))
    return changes


def after_stale_completion(
    typed: FlaskForm, booking: Booking, saved_form, error: StaleRecord
) -> tuple[FlaskForm, list[UnsavedChange] | None]:
    """The form to show after a completion refused as stale, so that the next submit can save.

    When someone has since written the clinical record (completed it, or edited it), the form
    shows their record with its current version and what was typed is listed beside it, as the
    patient edit does. Otherwise the change was the desk's (moved, checked in, cancelled): there
    is no record to weigh against, so what was typed stays in the form, with the current
    version, and the page says how the booking stands now.
    """
    if booking.status == "completed":
        form = saved_form()
        form.form_errors.append(
            f"{error.message} The form now shows the record as saved now, and what you typed is "
            "listed above the form: make your changes again and save."
        )
        return form, typed_beside_saved(typed, form)
    typed.version.data = str(booking.version)
    status = scheduling.STATUS_LABELS[booking.status].lower()
    next_step = (
        "What you typed is still in the form: check it against the booking and save again."
        if booking.status in COMPLETABLE
        else f"A {status} booking cannot be completed."
    )
    typed.form_errors.append(
        f"{error.message} As saved now, the booking is "
        f"{scheduling.describe(booking, clinic_zone())}, {status}. {next_step}"
    )
    return typed, None


def medication_rows(form: CompletionForm) -> list[MedicationRow]:
    """The medications typed on the completion form, as the service checks them."""
    return [
        MedicationRow(
            record_number(row.form.drug_id.data),
            row.form.amount.data,
            row.form.route_site.data,
        )
        for row in form.medications
    ]


def _complete_intervention(intervention: Intervention):
    form = completion_form(intervention, from_record=request.method == "GET")
    unsaved = None
    if form.validate_on_submit():
        with saving(form, shown_by_view=(StaleRecord,)) as saved:
            complete_intervention(
                db.session,
                intervention,
                form_version(form.version.data),
                Completion(
                    performed_on=form.performed_on.data,
                    baseline_nrs=form.baseline_nrs.data,
                    spinal_level=form.spinal_level.data,
                    laterality=form.laterality.data,
                    complications=form.complications.data,
                    notes=form.notes.data,
                    medications=medication_rows(form),
                    radiation=Radiation(
                        guidance=form.guidance.data or None,
                        fluoro_seconds=form.fluoro_seconds.data,
                        air_kerma_mgy=form.air_kerma_mgy.data,
                        sedation=form.sedation.data or None,
                    ),
                ),
                clinic_today(),
                zone=clinic_zone(),
            )
        if saved:
            flash(
                f"Completed: {intervention.procedure_type.name} for {intervention.patient.full_name}.",
                "success",
            )
            return redirect(url_for("patients.show", patient_id=intervention.patient_id))
        if isinstance(saved.error, StaleRecord):
            intervention = get_booking_or_404(intervention.id)
            form, unsaved = after_stale_completion(
                form,
                intervention,
                lambda: completion_form(intervention, from_record=True),
                saved.error,
            )
    return render_template(
        "procedures/complete_intervention.html",
        form=form,
        intervention=intervention,
        unsaved=unsaved,
    )


def visit_completion_form(
    visit: Visit, interventions: list[Intervention], from_record: bool
) -> VisitCompletionForm:
    """The visit's completion form filled from the record as saved now (its notes, and the score
    taken at it), with its current version; or from the request."""
    form = VisitCompletionForm(formdata=None, obj=visit) if from_record else VisitCompletionForm()
    form.intervention_id.choices = [
        (0, "— no score at this visit —"),
        *intervention_choices(interventions),
    ]
    if from_record:
        form.version.data = str(visit.version)
        score = db.session.execute(
            select(PainScore)
            .where(PainScore.visit_id == visit.id)
            .order_by(PainScore.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if score is not None:
            form.intervention_id.data = score.intervention_id
            form.nrs.data, form.percent_relief.data = score.nrs, score.percent_relief
        else:
            form.intervention_id.data = visit.intervention_id or 0
    return form


def _complete_visit(visit: Visit):
    interventions = completed_interventions(visit.patient_id)
    form = visit_completion_form(visit, interventions, from_record=request.method == "GET")
    unsaved = None
    if form.validate_on_submit():
        with saving(form, shown_by_view=(StaleRecord,)) as saved:
            complete_visit(db.session, visit, form_version(form.version.data), form.notes.data)
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
        if saved:
            flash(f"Visit completed for {visit.patient.full_name}.", "success")
            return redirect(url_for("patients.show", patient_id=visit.patient_id))
        if isinstance(saved.error, StaleRecord):
            visit = get_booking_or_404(visit.id)
            interventions = completed_interventions(visit.patient_id)
            form, unsaved = after_stale_completion(
                form,
                visit,
                lambda: visit_completion_form(visit, interventions, from_record=True),
                saved.error,
            )
    return render_template(
        "procedures/complete_visit.html", form=form, visit=visit, unsaved=unsaved
    )


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
        with saving(form) as saved:
            result = record_pain_score(
                db.session,
                intervention,
                form.recorded_on.data,
                form.nrs.data,
                form.percent_relief.data,
                form.source.data,
                current_user.id,
                today=clinic_today(),
            )
            # Worded before the commit, which would expire what it reads.
            message = score_saved_message(result, patient.full_name)
        if saved:
            flash(message, "success")
            return redirect(url_for("patients.show", patient_id=patient.id))
    return render_template(
        "procedures/new_score.html", form=form, patient=patient, has_procedures=bool(interventions)
    )


@bp.route("/patients/<int:patient_id>/pain-chart.svg")
@role_required(*ALL_ROLES)
def pain_chart(patient_id: int):
    """The patient's pain over time as an SVG image (the page shows it in an <img>)."""
    patient = get_patient_or_404(patient_id)
    threshold = request.args.get("threshold", default=50, type=float)
    if not 0 < threshold <= 100:
        abort(400, description="The threshold is a percentage of relief above 0, up to 100.")
    width = request.args.get("width", default=816, type=int)
    if width not in charts.PAIN_CHART_WIDTHS:
        abort(400, description="The chart is drawn 816 or 360 pixels wide.")
    outcomes = patient_outcomes(db.session, patient.id, clinic_today(), threshold)
    svg = charts.pain_chart_svg(
        outcomes.chart_traces(), threshold, until=clinic_today(), width=width
    )
    response = Response(svg, mimetype="image/svg+xml")
    # An image document: its own styles are inline (matplotlib), and it may run nothing.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
