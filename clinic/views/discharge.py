"""The discharge sheet with the self-report link and its QR code; issuing and revoking the link;
a diagnostic block's diary typed from paper."""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import segno
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, NumberRange, Optional, ValidationError

from clinic import clock
from clinic.extensions import db
from clinic.models import Intervention
from clinic.models.selfreport import DIARY_MINUTES
from clinic.security import role_required
from clinic.services.followup import diary as diaries
from clinic.services.followup import links
from clinic.services.followup.calls import offsets_of
from clinic.services.followup.schedules import due_dates
from clinic.services.identity.audit import record_event
from clinic.views.common import clinic_today, clinic_zone, saving
from clinic.views.patients import get_patient_or_404

bp = Blueprint("discharge", __name__, url_prefix="/patients")

SHEET_ROLES = ("front_desk", "physician")

# What to expect after each kind of procedure, in the patient's words (docs/rules.md).
WHAT_TO_EXPECT = {
    "epidural": [
        "Your legs may feel numb or heavy for a few hours: do not drive today.",
        "The pain can be worse for one to three days before the steroid starts to work, "
        "usually within a week.",
    ],
    "facet": [
        "The numbing medicine works within minutes and wears off within hours; the steroid, "
        "if given, may take several days to help.",
        "Soreness where the needles went in is common for a day or two.",
    ],
    "ablation": [
        "Soreness or a sunburn-like feeling at the needle sites is common for one to two weeks.",
        "Relief usually begins two to four weeks after the procedure.",
    ],
    "neuromodulation": [
        "Keep the dressing clean and dry, and avoid bending, lifting or twisting until your "
        "physician says otherwise.",
    ],
    "other": ["Rest today and resume your usual activity tomorrow unless told otherwise."],
}
DIAGNOSTIC_EXPECT = [
    "The block only numbs the nerves for a few hours: that is the test. Today, do things that "
    "usually hurt and note how much better you are.",
    "Record your pain on your phone (the link below) right after, and at 30 minutes, 1, 2, 4, 6 "
    "and 8 hours after the block. No phone? Write it on the back of this sheet and bring it.",
]
WARNING_SIGNS = (
    "Call the clinic at once, or emergency services, for fever, new weakness or numbness that "
    "lasts, severe headache, or loss of bladder or bowel control."
)


def get_intervention_or_404(patient_id: int, intervention_id: int) -> Intervention:
    """The patient's intervention; 404 when either is unknown or they do not belong together."""
    patient = get_patient_or_404(patient_id)
    intervention = db.session.get(Intervention, intervention_id)
    if intervention is None or intervention.patient_id != patient.id:
        abort(404)
    return intervention


def public_url() -> str:
    return current_app.config["CLINIC_PUBLIC_URL"] or request.url_root


@dataclass(frozen=True)
class QrCode:
    """A QR code as one SVG path over a square of ``size`` modules (quiet zone included)."""

    size: int
    path: str


def qr_code(url: str) -> QrCode:
    """The link as a QR code, drawn by the template as inline SVG (no script, no inline style)."""
    qr = segno.make(url, error="m")
    moves = []
    rows = list(qr.matrix_iter(border=4))
    for y, row in enumerate(rows):
        moves.extend(f"M{x} {y}h1v1h-1z" for x, dark in enumerate(row) if dark)
    return QrCode(len(rows), "".join(moves))


@bp.get("/<int:patient_id>/interventions/<int:intervention_id>/discharge")
@role_required(*SHEET_ROLES)
def sheet(patient_id: int, intervention_id: int):
    """The printable discharge sheet: the link and its QR code, what to expect, when we ask."""
    intervention = get_intervention_or_404(patient_id, intervention_id)
    today = clinic_today()
    link = links.link_of(db.session, intervention.id)
    url = None
    if links.is_active(link, today):
        url = links.link_for(link, links.link_key(current_app.config), public_url())
    completed = intervention.status == "completed" and intervention.performed_on is not None
    dues = []
    if completed:
        offsets, _ = offsets_of(intervention.procedure_type)
        dues = due_dates(intervention.performed_on, offsets)
    record_event(
        db.session,
        "view",
        record_type="intervention",
        record_id=intervention.id,
        details={"page": "discharge sheet", "link_shown": url is not None},
    )
    db.session.commit()
    diagnostic = bool(intervention.procedure_type.diagnostic)
    return render_template(
        "discharge/sheet.html",
        patient=intervention.patient,
        intervention=intervention,
        completed=completed,
        link=link,
        url=url,
        qr=qr_code(url) if url else None,
        dues=dues,
        expect=(DIAGNOSTIC_EXPECT if diagnostic else [])
        + WHAT_TO_EXPECT.get(intervention.procedure_type.category, WHAT_TO_EXPECT["other"]),
        warning=WARNING_SIGNS,
        diagnostic=diagnostic,
        form=FlaskForm(),
        today=today,
        printed_at=clock.utcnow().astimezone(clinic_zone()),
    )


@bp.post("/<int:patient_id>/interventions/<int:intervention_id>/link")
@role_required(*SHEET_ROLES)
def issue_link(patient_id: int, intervention_id: int):
    """Issue the procedure's self-report link (audited) and go back to the sheet."""
    intervention = get_intervention_or_404(patient_id, intervention_id)
    form = FlaskForm()
    if form.validate_on_submit():
        with saving() as saved:
            links.issue_link(
                db.session,
                intervention,
                links.link_key(current_app.config),
                current_user.id,
                clinic_today(),
            )
        if saved:
            flash("Self-report link issued: print the sheet for the patient.", "success")
        else:
            flash(saved.error.message, "danger")
    return redirect(url_for(".sheet", patient_id=patient_id, intervention_id=intervention_id))


@bp.post("/<int:patient_id>/interventions/<int:intervention_id>/link/revoke")
@role_required(*SHEET_ROLES)
def revoke_link(patient_id: int, intervention_id: int):
    """Revoke the procedure's self-report link (audited); a new one can then be issued."""
    intervention = get_intervention_or_404(patient_id, intervention_id)
    form = FlaskForm()
    if form.validate_on_submit():
        with saving() as saved:
            links.revoke_link(db.session, intervention, clinic_today())
        if saved:
            flash("The link was revoked: it no longer works. Issue a new one if needed.", "success")
        else:
            flash(saved.error.message, "danger")
    return redirect(url_for(".sheet", patient_id=patient_id, intervention_id=intervention_id))


class PaperDiaryForm(FlaskForm):
    minutes_after = SelectField(
        "Time point",
        choices=[(m, diaries.DIARY_LABELS[m].capitalize()) for m in DIARY_MINUTES],
        coerce=int,
    )
    nrs = IntegerField(
        "Pain (NRS 0–10)",
        validators=[
            InputRequired("Enter the pain the patient wrote, 0 to 10."),
            NumberRange(0, 10, "The pain must be a whole number from 0 to 10."),
        ],
    )
    percent_relief = IntegerField(
        "Percent relief (optional)",
        validators=[Optional(), NumberRange(0, 100, "Percent relief is from 0 to 100.")],
    )
    written_at = StringField(
        "Time written (HH:MM, clinic time)",
        validators=[InputRequired("Enter the time the patient wrote the entry, as HH:MM.")],
    )

    def validate_written_at(self, field) -> None:
        try:
            datetime.strptime(field.data.strip(), "%H:%M")
        except ValueError as error:
            raise ValidationError("Write the time as HH:MM, for example 14:30.") from error


def written_after_the_block(intervention, written: time, zone: ZoneInfo) -> datetime:
    """When the patient wrote an entry at ``written`` on the clock: the first such time at or
    after the block began, on its performed day — so 02:30 after an evening block is the night
    after, not the small hours before it."""
    began = intervention.starts_at.astimezone(zone)
    day = intervention.performed_on or began.date()
    began = datetime.combine(day, began.time(), tzinfo=zone)
    moment = datetime.combine(day, written, tzinfo=zone)
    if moment < began:
        moment = datetime.combine(day + timedelta(days=1), written, tzinfo=zone)
    return moment.astimezone(UTC)


@bp.route("/<int:patient_id>/interventions/<int:intervention_id>/diary", methods=["GET", "POST"])
@role_required(*SHEET_ROLES)
def paper_diary(patient_id: int, intervention_id: int):
    """Type a diagnostic block's diary that the patient kept on paper, one entry at a time."""
    intervention = get_intervention_or_404(patient_id, intervention_id)
    if not intervention.procedure_type.diagnostic:
        abort(404)
    form = PaperDiaryForm()
    if form.validate_on_submit():
        written = datetime.strptime(form.written_at.data.strip(), "%H:%M").time()
        recorded_at = written_after_the_block(intervention, written, clinic_zone())
        with saving(form) as saved:
            diaries.record_paper_entry(
                db.session,
                intervention,
                form.minutes_after.data,
                form.nrs.data,
                form.percent_relief.data,
                recorded_at,
                current_user.id,
                clock.utcnow(),
            )
        if saved:
            flash("Diary entry saved.", "success")
            return redirect(request.path)
    entries = diaries.entries_of(db.session, intervention.id)
    result = diaries.diary_results(db.session, [intervention.id]).get(intervention.id)
    return render_template(
        "discharge/diary.html",
        patient=intervention.patient,
        intervention=intervention,
        form=form,
        entries=entries,
        result=result,
        labels=diaries.DIARY_LABELS,
        zone=clinic_zone(),
        completion=diaries.completed_at(intervention),
    )
