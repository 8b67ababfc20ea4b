"""Referrals: intake, the triage pipeline board, and the bookings referrals lead to."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from clinic import clock
from clinic.extensions import db
from clinic.forms.referrals import MoveForm, ReferralForm
from clinic.models import CONDITION_LABELS, Intervention, Patient, Referral
from clinic.security import CLINICAL_ROLES, role_required
from clinic.services import referrals
from clinic.services.identity.audit import record_event
from clinic.services.scheduling import bookings as scheduling
from clinic.views.common import clinic_today, form_version, saving
from clinic.views.params import id_arg, page_arg

bp = Blueprint("referrals", __name__, url_prefix="/referrals")

# Logging referrals and moving them through triage: the front desk and physicians.
TRIAGERS = ("front_desk", "physician")


def get_referral_or_404(referral_id: int) -> Referral:
    referral = db.session.execute(
        select(Referral).options(joinedload(Referral.patient)).where(Referral.id == referral_id)
    ).scalar_one_or_none()
    if referral is None or referral.patient.archived:
        abort(404)
    return referral


def overdue_limits() -> tuple[int, int]:
    """Days a referral may wait for triage: (urgent, routine)."""
    config = current_app.config
    return config["REFERRAL_OVERDUE_DAYS_URGENT"], config["REFERRAL_OVERDUE_DAYS_ROUTINE"]


def can_triage() -> bool:
    return current_user.role in TRIAGERS


@bp.route("")
@role_required(*CLINICAL_ROLES)
def index():
    """The pipeline by status, most urgent first, with counts; or one status's whole list."""
    urgency = request.args.get("urgency")
    urgency = urgency if urgency in referrals.URGENCY_LABELS else None
    status = request.args.get("status")
    if status and status not in (*referrals.OPEN_STATUSES, "closed"):
        abort(
            400,
            description="The status must be one of "
            f"{', '.join((*referrals.OPEN_STATUSES, 'closed'))} (not “{status}”).",
        )
    urgent_days, routine_days = overdue_limits()
    today = clinic_today()
    shared = {
        "urgency": urgency,
        "today": today,
        "urgent_days": urgent_days,
        "routine_days": routine_days,
        "recent_days": referrals.RECENT_DAYS,
        "status_labels": {**referrals.STATUS_LABELS, "closed": "Declined and cancelled"},
        "urgency_labels": referrals.URGENCY_LABELS,
        "can_triage": can_triage(),
    }
    if status:
        page = page_arg()
        total, shown = referrals.status_page(
            db.session, status, page, today, clock.utcnow(), urgent_days, routine_days, urgency
        )
        return render_template(
            "referrals/list.html",
            status=status,
            page=page,
            total=total,
            shown=shown,
            pages=max(1, -(-total // referrals.LIST_PAGE_SIZE)),
            **shared,
        )
    pipeline = referrals.board(
        db.session, today, clock.utcnow(), urgent_days, routine_days, urgency
    )
    return render_template("referrals/index.html", board=pipeline, **shared)


@bp.route("/new", methods=["GET", "POST"])
@role_required(*TRIAGERS)
def new():
    """Log a referral for a registered patient; it enters the pipeline as received."""
    form = ReferralForm()
    patient = None
    if request.method == "GET":
        patient = db.session.get(Patient, id_arg("patient_id") or 0)
        if patient is not None and not patient.archived:
            form.patient_mrn.data = patient.mrn
        else:
            patient = None
        form.received_on.data = clinic_today()
    if form.validate_on_submit():
        with saving(form) as saved:
            patient = referrals.patient_by_mrn(db.session, form.patient_mrn.data)
            referral = referrals.log_referral(
                db.session,
                referrals.NewReferral(
                    patient_id=patient.id,
                    referring_clinician=form.referring_clinician.data,
                    referring_practice=form.referring_practice.data,
                    received_on=form.received_on.data,
                    reason=form.reason.data,
                    condition=form.condition.data or None,
                    urgency=form.urgency.data,
                ),
                clinic_today(),
            )
        if saved:
            flash(
                f"Logged {'an urgent' if referral.urgency == 'urgent' else 'a routine'} referral for {patient.full_name} (MRN {patient.mrn}) "
                f"from {referral.referring_clinician}. It is waiting under Received.",
                "success",
            )
            return redirect(url_for("referrals.index"))
        patient = None
    urgent_days, routine_days = overdue_limits()
    return render_template(
        "referrals/new.html",
        form=form,
        patient=patient,
        urgent_days=urgent_days,
        routine_days=routine_days,
    )


def render_referral(referral: Referral, move_form: MoveForm):
    """The referral page, with the bookings it led to and what can be done next."""
    bookings = (
        db.session.execute(
            select(Intervention)
            .options(
                joinedload(Intervention.procedure_type),
                joinedload(Intervention.physician),
                joinedload(Intervention.room),
            )
            .where(Intervention.referral_id == referral.id)
            .order_by(Intervention.starts_at, Intervention.id)
        )
        .unique()
        .scalars()
        .all()
    )
    today = clinic_today()
    urgent_days, routine_days = overdue_limits()
    return render_template(
        "referrals/show.html",
        referral=referral,
        bookings=bookings,
        move_form=move_form,
        age=referrals.age_days(referral, today),
        overdue=referrals.is_overdue(referral, today, urgent_days, routine_days),
        next_statuses=referrals.TRANSITIONS[referral.status],
        status_labels=referrals.STATUS_LABELS,
        urgency_labels=referrals.URGENCY_LABELS,
        booking_labels=scheduling.STATUS_LABELS,
        condition_labels=CONDITION_LABELS,
        can_triage=can_triage(),
    )


@bp.route("/<int:referral_id>")
@role_required(*CLINICAL_ROLES)
def show(referral_id: int):
    """One referral: who sent it and why, its status, and the bookings it led to. Audited."""
    referral = get_referral_or_404(referral_id)
    page = render_referral(referral, MoveForm(formdata=None))
    record_event(db.session, "view", record_type="referral", record_id=referral.id)
    db.session.commit()
    return page


@bp.route("/<int:referral_id>/status", methods=["POST"])
@role_required(*TRIAGERS)
def move(referral_id: int):
    """Triage, mark scheduled or completed, or decline/cancel with a reason."""
    referral = get_referral_or_404(referral_id)
    form = MoveForm()
    if not form.validate_on_submit():
        flash("Choose what to do with the referral.", "danger")
        return redirect(url_for("referrals.show", referral_id=referral_id))
    with saving(form) as saved:
        referrals.move_referral(
            db.session,
            referral,
            form_version(form.version.data),
            form.status.data,
            form.reason.data,
        )
    if not saved:
        # The page shows the referral as it is now, so the next try carries its version.
        return render_referral(get_referral_or_404(referral_id), form)
    patient = referral.patient
    label = referrals.STATUS_LABELS[referral.status]
    flash(
        f"{label}: referral for {patient.full_name} (MRN {patient.mrn}) "
        f"from {referral.referring_clinician}.",
        "success",
    )
    if form.return_to.data == "board":
        return redirect(url_for("referrals.index"))
    return redirect(url_for("referrals.show", referral_id=referral_id))
