"""The follow-up call list: calls overdue, due today and coming up; phone scores and call attempts."""

from datetime import date

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from clinic.clock import EARLIEST_DAY, LATEST_DAY
from clinic.extensions import db
from clinic.forms.followup import AttemptForm, CallForm, ScoreForm
from clinic.models import Intervention
from clinic.security import role_required
from clinic.services.followup import calls as followups
from clinic.services.followup import pain_scores
from clinic.views.common import clinic_today, clinic_zone, saving
from clinic.views.params import page_arg

bp = Blueprint("followup", __name__, url_prefix="/worklist")

CALLERS = ("front_desk", "physician")
# Each group of the list shows this many calls a page; its count is always the whole group's.
CALLS_PER_PAGE = 25
PAGE_ARGS = {group: f"{group}_page" for group in followups.GROUPS}


def current_pages() -> dict[str, int]:
    """The page of each group the clerk is on (``overdue_page=2``…), 1 when not given."""
    return {group: page_arg(name) for group, name in PAGE_ARGS.items()}


def back_to_list():
    """After a call is recorded, the list at the pages the clerk was working on."""
    pages = current_pages()
    return redirect(
        url_for(
            "followup.index",
            **{PAGE_ARGS[group]: page for group, page in pages.items() if page > 1},
        )
    )


def render_list(
    score_form: ScoreForm | None = None,
    failed: Intervention | None = None,
    failed_due_on: date | None = None,
):
    """The call list for today, a page of each group; after a refused score, that call's form
    keeps what was typed."""
    pages = current_pages()
    calls = followups.call_list(db.session, clinic_today(), page_size=CALLS_PER_PAGE, pages=pages)
    return render_template(
        "followup/index.html",
        calls=calls,
        page_query={PAGE_ARGS[group]: page for group, page in pages.items() if page > 1},
        page_args=PAGE_ARGS,
        score_form=score_form,
        failed=failed,
        failed_key=f"{failed.id}-{failed_due_on.isoformat()}" if failed and failed_due_on else None,
        zone=clinic_zone(),
    )


def chosen_call(form: CallForm) -> tuple[Intervention, date] | None:
    """The call a form was posted from, or None if the page was tampered with or is out of date."""
    form.intervention_id.validate(form)
    form.due_on.validate(form)
    if form.intervention_id.errors or form.due_on.errors:
        return None
    try:
        due_on = date.fromisoformat(form.due_on.data)
    except ValueError:
        return None
    if not EARLIEST_DAY <= due_on <= LATEST_DAY:
        return None  # no call is due then: a page tampered with (its window could not be drawn)
    intervention = db.session.get(Intervention, int(form.intervention_id.data))
    if intervention is None or intervention.patient.archived:
        return None
    return intervention, due_on


def describe_patient(intervention: Intervention) -> str:
    return f"{intervention.patient.full_name} (MRN {intervention.patient.mrn})"


def saved_message(
    intervention: Intervention, due_on: date, saved: pain_scores.SavedScore, today: date
) -> tuple[str, str]:
    """The flash after a score: whom it was for, what they said, and whether the call is done."""
    score = saved.score
    said = f"NRS {score.nrs}" + (
        f", {score.percent_relief}% relief" if score.percent_relief is not None else ""
    )
    who = describe_patient(intervention)
    call = followups.call_label(intervention, due_on)
    opens, closes = followups.window(due_on)
    if not opens <= today <= closes:
        # A page left open for days: the score is kept, but this call's window has passed.
        return (
            f"Saved for {who}: {said}. It is outside the {call}'s window "
            f"({opens.isoformat()} to {closes.isoformat()}), so that call is not completed by it.",
            "warning",
        )
    if saved.replaced is not None:
        return f"Updated today's score for {who}: NRS {saved.replaced.nrs} → {said}.", "success"
    return f"Saved for {who}: {said}. {call.capitalize()} done.", "success"


@bp.route("")
@role_required(*CALLERS)
def index():
    """Follow-up calls overdue, due today and coming up, each due call with its score form."""
    return render_list()


@bp.route("/score", methods=["POST"])
@role_required(*CALLERS)
def record_score():
    """Save the NRS (and percent relief) a patient gave on the phone today; the call is done."""
    form = ScoreForm()
    chosen = chosen_call(form)
    if chosen is None:
        flash("That call is no longer on the list. Nothing was saved.", "danger")
        return back_to_list()
    intervention, due_on = chosen
    if form.validate_on_submit():
        today = clinic_today()
        with saving(form) as saved:
            result = pain_scores.record_pain_score(
                db.session,
                intervention,
                today,
                form.nrs.data,
                form.percent_relief.data,
                "phone",
                current_user.id,
                today=today,
            )
        if saved:
            flash(*saved_message(intervention, due_on, result, today))
            return back_to_list()
    return render_list(score_form=form, failed=intervention, failed_due_on=due_on)


@bp.route("/attempt", methods=["POST"])
@role_required(*CALLERS)
def record_attempt():
    """Count a call that reached nobody: no answer keeps it on the list, the others close it."""
    form = AttemptForm()
    chosen = chosen_call(form)
    if chosen is None or not form.validate_on_submit():
        flash(
            "Choose No answer, Unreachable or Declined on a call from the list. Nothing was saved.",
            "danger",
        )
        return back_to_list()
    intervention, due_on = chosen
    with saving() as saved:
        call = followups.record_call_attempt(
            db.session,
            intervention,
            due_on,
            form.outcome.data,
            expected_attempts=int(form.attempts.data) if form.attempts.data else None,
        )
    if not saved:
        flash(f"{describe_patient(intervention)}: {saved.error.message}", "danger")
        return back_to_list()
    label = followups.OUTCOME_LABELS[form.outcome.data]
    attempts = f"{call.attempts} attempt{'s' if call.attempts != 1 else ''}"
    if call.outcome is None:
        flash(
            f"{label}: {describe_patient(intervention)}, {attempts} so far. "
            "The call stays on the list.",
            "info",
        )
    else:
        closed = followups.call_label(intervention, due_on).capitalize()
        flash(
            f"{label}: {describe_patient(intervention)} after {attempts}. {closed} closed.", "info"
        )
    return back_to_list()
