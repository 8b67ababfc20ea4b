"""The patient's own pain report at ``/r/<token>``: no account, no cookie, no way into the clinic.

The page shows only the patient's first name, the procedure's name and date, and the question
(or, on a diagnostic block's day, its diary). Its forms carry no session-bound CSRF token: the
secret in the URL is what a forger would need, and a hidden value derived from the link binds each
form to its own link, so a form replayed from another link is refused. Nothing here writes the
Flask session: the response sets no cookie.
"""

from dataclasses import dataclass
from datetime import date, datetime

from flask import Blueprint, Response, current_app, render_template, request

from clinic import clock
from clinic.extensions import csrf, db
from clinic.models import SelfReportLink
from clinic.security import client_address
from clinic.services import DomainError
from clinic.services.followup import diary as diaries
from clinic.services.followup import links
from clinic.services.followup.calls import offsets_of
from clinic.services.followup.schedules import due_dates
from clinic.services.identity.audit import Actor, act_as, record_event
from clinic.views.common import clinic_today, clinic_zone

bp = Blueprint("selfreport", __name__)


class LinkRefused(Exception):
    """The request named no valid link, or its address has guessed too often."""

    def __init__(self, response: Response) -> None:
        self.response = response


@bp.errorhandler(LinkRefused)
def refused(error: LinkRefused) -> Response:
    return error.response


def _open(token: str) -> SelfReportLink:
    """The valid link the token names; else the plain refusal (throttled per address)."""
    address = client_address()
    act_as(db.session, Actor(None, links.PATIENT, address))
    config = current_app.config
    retry = links.guess_retry_after(
        db.session, address, config["LINK_GUESS_WINDOW"], config["LINK_MAX_GUESSES_PER_ADDRESS"]
    )
    if retry is not None:
        response = Response(render_template("selfreport/throttled.html"), status=429)
        response.headers["Retry-After"] = str(retry)
        raise LinkRefused(response)
    link = links.find_link(db.session, token, clinic_today())
    if link is None:
        links.record_guess(db.session, address)
        db.session.commit()
        raise LinkRefused(Response(render_template("selfreport/invalid.html"), status=404))
    return link


@dataclass(frozen=True)
class PageState:
    """What the link's page shows now: the question, the diary, or when the question comes."""

    kind: str  # "question", "diary", "diary_not_yet", "not_yet"
    first_due: date | None = None
    diary_point: int | None = None
    diary_starts: datetime | None = None


def _state(link: SelfReportLink, today: date, now: datetime) -> PageState:
    intervention = link.intervention
    offsets, _ = offsets_of(intervention.procedure_type)
    dues = [d for d in due_dates(intervention.performed_on, offsets) if d > today]
    first_due = dues[0] if dues else None
    if diaries.is_diagnostic(intervention):
        # The diary's 12 hours may run past midnight: it comes before the next day's question.
        completion = diaries.completed_at(intervention)
        point = diaries.open_point(completion, now)
        if point is not None:
            return PageState("diary", first_due, diary_point=point)
        if now < completion and today == intervention.performed_on:
            return PageState("diary_not_yet", first_due, diary_starts=completion)
    if today > intervention.performed_on:
        return PageState("question", first_due)
    return PageState("not_yet", first_due)


def _render(
    token: str,
    link: SelfReportLink,
    *,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    thanks: str | None = None,
    status: int = 200,
) -> Response:
    today, now = clinic_today(), clock.utcnow()
    key = links.link_key(current_app.config)
    state = _state(link, today, now)
    entries = diaries.entries_of(db.session, link.intervention_id) if state.kind == "diary" else []
    html = render_template(
        "selfreport/page.html",
        token=token,
        link=link,
        intervention=link.intervention,
        state=state,
        entries=entries,
        diary_labels=diaries.DIARY_LABELS,
        form_tag=links.form_tag(key, link),
        errors=errors or {},
        typed=typed or {},
        thanks=thanks,
        zone=clinic_zone(),
    )
    return Response(html, status=status)


@bp.get("/r/<token>")
def show(token: str) -> Response:
    """The patient's page for their link (each opening audited as a use of the link)."""
    link = _open(token)
    record_event(
        db.session,
        "link_used",
        record_type="intervention",
        record_id=link.intervention_id,
        details={"generation": link.generation, "opened": True},
    )
    db.session.commit()
    return _render(token, link)


def _whole_number(value: str, field: str, errors: dict[str, str], message: str) -> int | None:
    value = (value or "").strip().rstrip("%").strip()
    if not value:
        return None
    # ASCII digits only ("²" is a digit to str.isdigit, not to int), and few of them: the
    # largest answer is 100, and a number thousands of digits long is not made at all.
    if not (value.isascii() and value.isdigit()) or len(value) > 6:
        errors[field] = message
        return None
    return int(value)


def _read_answer(form) -> tuple[int | None, int | None, dict[str, str]]:
    errors: dict[str, str] = {}
    nrs = _whole_number(
        form.get("nrs", ""), "nrs", errors, "Choose your pain as one of the numbers 0 to 10."
    )
    if nrs is None and "nrs" not in errors:
        errors["nrs"] = "Choose your pain: one of the numbers from 0 (no pain) to 10."
    elif nrs is not None and nrs > 10:
        errors["nrs"] = f"Your pain must be a number from 0 to 10, not {nrs}."
    percent = _whole_number(
        form.get("percent_relief", ""),
        "percent_relief",
        errors,
        "How much better you are must be a whole number from 0 to 100, or left empty.",
    )
    if percent is not None and percent > 100:
        errors["percent_relief"] = (
            f"How much better you are must be from 0 to 100 percent, not {percent}."
        )
    return nrs, percent, errors


def _check_bound(link: SelfReportLink, errors: dict[str, str]) -> None:
    key = links.link_key(current_app.config)
    if request.form.get("link", "") != links.form_tag(key, link):
        errors["form"] = (
            "This answer came from a page of another link, so it was not saved. "
            "Please answer again on this page."
        )


@bp.post("/r/<token>/answer")
@csrf.exempt
def answer(token: str) -> Response:
    """Record the patient's answer to the question as today's self-reported score."""
    link = _open(token)
    nrs, percent, errors = _read_answer(request.form)
    _check_bound(link, errors)
    typed = {"percent_relief": request.form.get("percent_relief", "")[:10]}
    if errors:
        return _render(token, link, errors=errors, typed=typed, status=400)
    try:
        links.answer_question(db.session, link, nrs, percent, clinic_today())
    except DomainError as error:
        db.session.rollback()
        return _render(
            token, link, errors={error.field or "form": error.message}, typed=typed, status=400
        )
    db.session.commit()
    return _render(token, link, thanks="Thank you. Your answer has been sent to the clinic.")


@bp.post("/r/<token>/diary")
@csrf.exempt
def diary(token: str) -> Response:
    """Record the patient's diary entry for the time point open now."""
    link = _open(token)
    nrs, percent, errors = _read_answer(request.form)
    _check_bound(link, errors)
    typed = {"percent_relief": request.form.get("percent_relief", "")[:10]}
    minutes = request.form.get("minutes_after", "")
    if not (minutes.isascii() and minutes.isdigit()) or len(minutes) > 6:
        errors["form"] = "This diary entry names no time point; please answer again."
    if errors:
        return _render(token, link, errors=errors, typed=typed, status=400)
    try:
        entry = diaries.record_self_reported_entry(
            db.session, link.intervention, int(minutes), nrs, percent, clock.utcnow()
        )
    except DomainError as error:
        db.session.rollback()
        field = error.field if error.field in ("nrs", "percent_relief") else "form"
        return _render(token, link, errors={field: error.message}, typed=typed, status=400)
    record_event(
        db.session,
        "link_used",
        record_type="intervention",
        record_id=link.intervention_id,
        details={
            "generation": link.generation,
            "diary_minutes_after": entry.minutes_after,
            "nrs": nrs,
            "percent_relief": percent,
        },
    )
    db.session.commit()
    label = diaries.DIARY_LABELS[entry.minutes_after]
    return _render(token, link, thanks=f"Thank you. Your pain {label} is in your diary.")
