"""The schedule: bookings by physician and by room, by day or week; booking and its changes."""

from datetime import date, datetime, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from clinic import clock
from clinic.extensions import db
from clinic.forms.scheduling import MAX_RECORD_ID, BookingForm, RescheduleForm, StatusForm
from clinic.models import Booking, Intervention, Patient, Referral, Room, StaffUser
from clinic.security import CLINICAL_ROLES, role_required
from clinic.services import DomainError
from clinic.services.identity.audit import record_event
from clinic.services.records import StaleRecord
from clinic.services.scheduling import bookings as scheduling
from clinic.services.scheduling import grid as schedule_grid
from clinic.services.scheduling import lengths
from clinic.services.scheduling.lengths import form_lengths
from clinic.services.scheduling.sheet import day_sheet
from clinic.views.booking_params import fill_booking_form
from clinic.views.common import (
    NO_ROOM,
    clinic_today,
    clinic_zone,
    form_version,
    physician_choices,
    room_choices,
    saving,
    what_choices,
)
from clinic.views.params import date_arg, page_arg
from clinic.views.payers import payer_link
from clinic.views.slot_finder import find
from clinic.views.steroids import flash_steroid_warning, planned_steroid_exposure

bp = Blueprint("scheduling", __name__, url_prefix="/schedule")
# The slot finder (its own module): /schedule/find, endpoint scheduling.find.
bp.add_url_rule("/find", view_func=find)

SCHEDULERS = ("front_desk", "physician")
# The kind of visit booked from a procedure's row: the check that follows it up.
FOLLOW_UP_VISIT = "visit:post_procedure_check"


def get_booking_or_404(booking_id: int) -> Booking:
    booking = db.session.execute(
        select(scheduling.any_booking()).where(Booking.id == booking_id)
    ).scalar_one_or_none()
    if booking is None:
        abort(404)
    return booking


def parse_day() -> date:
    """The ``date`` the page asks for (a 400 if it cannot be read), else today."""
    return date_arg("date") or clinic_today()


def _choice_arg(name: str, choices: tuple[str, ...]) -> str:
    """A query parameter that must be one of ``choices`` (the first when absent): else a 400."""
    text = request.args.get(name)
    if not text:
        return choices[0]
    if text not in choices:
        abort(400, description=f"The {name} must be {' or '.join(choices)} (not “{text}”).")
    return text


def _grid_filter(by: str) -> str | None:
    """The one physician (username) or room (name) the grid is narrowed to, if any: a 400
    naming it when there is no such physician or room."""
    name = "physician" if by == "physician" else "room"
    key = (request.args.get(name) or "").strip() or None
    if key is None:
        return None
    model, column = (StaffUser, StaffUser.username) if by == "physician" else (Room, Room.name)
    query = select(model.id).where(column == key)
    if by == "physician":
        query = query.where(StaffUser.role == "physician")
    if len(key) > 120 or db.session.execute(query).first() is None:
        abort(400, description=f"No {name} is called “{key[:120]}”. Choose one from the list.")
    return key


@bp.route("")
@role_required(*CLINICAL_ROLES)
def index():
    """The time grid of a day or a week, a page of up to 8 physicians (or rooms) at a time."""
    day = parse_day()
    view = _choice_arg("view", ("day", "week"))
    by = _choice_arg("by", ("physician", "room"))
    key = _grid_filter(by)
    page = page_arg()
    first = day - timedelta(days=day.weekday()) if view == "week" else day
    days = [first + timedelta(days=n) for n in range(7 if view == "week" else 1)]
    zone = clinic_zone()
    grid = schedule_grid.build(db.session, days, by, zone, page, key)
    if page > grid.page.pages:
        abort(404)
    step = timedelta(days=7 if view == "week" else 1)
    return render_template(
        "scheduling/index.html",
        day=day,
        days=days,
        view=view,
        by=by,
        grid=grid,
        key=key,
        cells=grid.day_cells(day) if view == "day" else None,
        previous_day=day - step,
        next_day=day + step,
        today=clinic_today(),
        zone=zone,
        now=clock.utcnow(),
        status_labels=scheduling.STATUS_LABELS,
        next_statuses=scheduling.next_statuses,
        can_book=request_user_can_book(),
    )


@bp.route("/sheet")
@role_required(*SCHEDULERS)
def sheet():
    """The printable day sheet: a page per physician (or the one asked for), bookings in order."""
    day = parse_day()
    username = (request.args.get("physician") or "").strip()
    physician = None
    if username:
        physician = db.session.execute(
            select(StaffUser).where(
                StaffUser.username == username[:64], StaffUser.role == "physician"
            )
        ).scalar_one_or_none()
        if physician is None:
            abort(
                400,
                description=f"No physician is called “{username[:120]}”. Choose one from the list.",
            )
    zone = clinic_zone()
    pages = day_sheet(db.session, day, zone, physician)
    page = render_template(
        "scheduling/sheet.html", day=day, pages=pages, physician=physician, zone=zone
    )
    # The sheet lists patients by name and MRN: its printing is a view of their records.
    record_event(
        db.session,
        "view",
        record_type="day_sheet",
        details={
            "date": day.isoformat(),
            "physician": username or "all",
            "bookings": [b.id for p in pages for b in p.bookings],
        },
    )
    db.session.commit()
    return page


def request_user_can_book() -> bool:
    from flask_login import current_user

    return current_user.role in SCHEDULERS


def _populate_slot_choices(form) -> None:
    form.physician_id.choices = physician_choices()
    form.room_id.choices = room_choices()


@bp.route("/new", methods=["GET", "POST"])
@role_required(*SCHEDULERS)
def new():
    """Book a procedure or a visit for a patient."""
    form = BookingForm()
    form.what.choices = what_choices()
    _populate_slot_choices(form)
    if request.method == "GET":
        patient = _record_named_by_arg(Patient, "patient_id")
        if patient is not None:
            form.patient_mrn.data = patient.mrn
        referral = _record_named_by_arg(Referral, "referral_id")
        if referral is not None:
            form.referral_id.data = referral.id
            form.patient_mrn.data = referral.patient.mrn
        form.day.data = parse_day()
        followed = _record_named_by_arg(Intervention, "intervention_id")
        if followed is not None:
            _follow_up_of(form, followed)
        fill_booking_form(form)
    if not form.validate_on_submit():
        # The hidden links have no place on the page to show an error: say it at the top.
        for hidden in (form.referral_id, form.follows_intervention_id):
            form.form_errors.extend(hidden.errors)
    else:
        with saving(form) as saved:
            booking = _book_from_form(form)
        if saved:
            flash(f"Booked: {scheduling.describe(booking, clinic_zone())}.", "success")
            flash_steroid_warning(form)  # corticosteroid limits (medications)
            return redirect(url_for("scheduling.index", date=form.day.data.isoformat()))
    referral = db.session.get(Referral, form.referral_id.data) if form.referral_id.data else None
    followed = (
        db.session.get(Intervention, form.follows_intervention_id.data)
        if form.follows_intervention_id.data
        else None
    )
    return render_template(
        "scheduling/new.html",
        form=form,
        referral=referral,
        followed=followed,
        lengths=form_lengths(db.session),
        finder_link=_finder_link(form),
        steroids=planned_steroid_exposure(form),  # corticosteroid limits (medications)
        payer_link=payer_link(form.patient_mrn.data, form.what.data),  # the payer's page
    )


def _finder_link(form: BookingForm) -> str:
    """The slot finder asked for what the form holds so far (what, physician, patient, date)."""
    what = lengths.what_of_form_value(db.session, form.what.data or "")
    offered = dict(form.physician_id.choices)  # only an offered physician: never a stray id
    physician = (
        db.session.get(StaffUser, form.physician_id.data)
        if form.physician_id.data in offered
        else None
    )
    return url_for(
        "scheduling.find",
        what=what.code if what else None,
        physician=physician.username if physician else None,
        patient=(form.patient_mrn.data or "").strip() or None,
        referral_id=form.referral_id.data,
        **{"from": form.day.data.isoformat() if form.day.data else None},
    )


def _follow_up_of(form: BookingForm, procedure: Intervention) -> None:
    """Preselect the visit that follows up a procedure: its patient, a post-procedure check
    linked to it, and the physician who did it (while they still practise here)."""
    form.follows_intervention_id.data = procedure.id
    form.patient_mrn.data = procedure.patient.mrn
    form.what.data = FOLLOW_UP_VISIT
    if procedure.physician_id in dict(form.physician_id.choices):
        form.physician_id.data = procedure.physician_id


def _id_arg(name: str) -> int | None:
    """A record id from the query string, or None when it is missing or cannot be one."""
    value = request.args.get(name, type=int)
    return value if value is not None and 0 < value <= MAX_RECORD_ID else None


def _record_named_by_arg(model, name: str):
    record_id = _id_arg(name)
    return db.session.get(model, record_id) if record_id is not None else None


def _book_from_form(form: BookingForm) -> Booking:
    db.session.commit()  # end the sign-in's read: the booking's unit of work starts with the lock
    scheduling.lock_schedule(db.session)
    patient = db.session.execute(
        select(Patient).where(Patient.mrn == form.patient_mrn.data.strip().upper())
    ).scalar_one_or_none()
    if patient is None:
        raise DomainError(
            f"No patient has MRN {form.patient_mrn.data.strip()}. Find the patient first.",
            "patient_mrn",
        )
    kind, _, value = form.what.data.partition(":")
    minutes = form.duration_minutes.data
    if minutes is None:  # left empty: the procedure's or visit's default length
        what = lengths.what_of_form_value(db.session, form.what.data)
        if what is None:
            raise DomainError("Choose a procedure or a kind of visit.", "what")
        minutes = form.duration_minutes.data = what.minutes
    starts_at, ends_at = scheduling.local_slot_times(
        form.day.data, form.start_time.data, minutes, clinic_zone()
    )
    return scheduling.book(
        db.session,
        scheduling.NewBooking(
            patient_id=patient.id,
            physician_id=form.physician_id.data,
            room_id=form.room_id.data or None,
            starts_at=starts_at,
            ends_at=ends_at,
            procedure_type_id=int(value) if kind == "procedure" else None,
            visit_kind=value if kind == "visit" else None,
            referral_id=form.referral_id.data,
            follows_intervention_id=form.follows_intervention_id.data,
            desk_note=form.desk_note.data,
            book_anyway=form.book_anyway.data,
        ),
        clinic_zone(),
    )


@bp.route("/bookings/<int:booking_id>")
@role_required(*CLINICAL_ROLES)
def show(booking_id: int):
    """One booking with what can be done to it next."""
    booking = get_booking_or_404(booking_id)
    zone = clinic_zone()
    return render_template(
        "scheduling/show.html",
        booking=booking,
        description=scheduling.describe(booking, zone),
        status_labels=scheduling.STATUS_LABELS,
        next_statuses=scheduling.next_statuses(booking, zone),
        not_yet=scheduling.not_yet(booking, zone),
        can_book=request_user_can_book(),
        status_form=StatusForm(version=booking.version),
    )


def _offer_as_it_is(form, booking) -> None:
    """Keep the booking's own physician and room among the choices, even when no longer in use:
    otherwise the form would show the first one offered, and a move would silently hand the
    booking to another physician (the move itself then says the physician must be active)."""
    if booking.physician_id not in dict(form.physician_id.choices):
        name = f"{booking.physician.full_name} (inactive)"
        form.physician_id.choices.insert(0, (booking.physician_id, name))
    if booking.room_id is not None and booking.room_id not in dict(form.room_id.choices):
        form.room_id.choices.insert(1, (booking.room_id, f"{booking.room.name} (not in use)"))


@bp.route("/bookings/<int:booking_id>/reschedule", methods=["GET", "POST"])
@role_required(*SCHEDULERS)
def reschedule(booking_id: int):
    """Move a booking to another time, physician or room."""
    booking = get_booking_or_404(booking_id)
    zone = clinic_zone()
    form = RescheduleForm()
    _populate_slot_choices(form)
    _offer_as_it_is(form, booking)
    if request.method == "GET":
        _show_booking_as_it_is(form, booking, zone)
    if form.validate_on_submit():
        db.session.commit()  # the move's unit of work starts with the schedule lock
        scheduling.lock_schedule(db.session)
        booking = get_booking_or_404(booking_id)
        with saving(form, shown_by_view=(StaleRecord,)) as saved:
            starts_at, ends_at = scheduling.local_slot_times(
                form.day.data, form.start_time.data, form.duration_minutes.data, zone
            )
            scheduling.reschedule(
                db.session,
                booking,
                form_version(form.version.data),
                starts_at,
                ends_at,
                form.physician_id.data,
                form.room_id.data or None,
                zone,
                book_anyway=form.book_anyway.data,
            )
        if saved:
            flash(f"Moved: {scheduling.describe(booking, zone)}.", "success")
            return redirect(url_for("scheduling.index", date=form.day.data.isoformat()))
        if isinstance(saved.error, StaleRecord):
            # Someone saved the booking since the form was opened: show it as it is now, with
            # its current version, so that the next submit is judged against what it holds.
            asked = _asked_for(form)
            booking = get_booking_or_404(booking_id)
            form = RescheduleForm(formdata=None)
            _populate_slot_choices(form)
            _show_booking_as_it_is(form, booking, zone)
            form.form_errors += [
                saved.error.message,
                f"The form now shows the booking as it is; you had asked for {asked}.",
            ]
    return render_template("scheduling/reschedule.html", form=form, booking=booking)


def _show_booking_as_it_is(form: RescheduleForm, booking: Booking, zone) -> None:
    """Fill the move form with the booking's current time, physician, room and version."""
    local_start = booking.starts_at.astimezone(zone)
    form.day.data = local_start.date()
    form.start_time.data = local_start.time()
    form.duration_minutes.data = int((booking.ends_at - booking.starts_at).total_seconds() // 60)
    form.physician_id.data = booking.physician_id
    form.room_id.data = booking.room_id or NO_ROOM
    form.version.data = str(booking.version)


def _asked_for(form: RescheduleForm) -> str:
    """The move a refused form asked for, in words: 'Tue 05 Mar 2030 10:00–10:45 with … in …'."""
    start = datetime.combine(form.day.data, form.start_time.data)
    end = start + timedelta(minutes=form.duration_minutes.data)
    physician = dict(form.physician_id.choices).get(form.physician_id.data, "another physician")
    room = dict(form.room_id.choices).get(form.room_id.data) if form.room_id.data else None
    where = f" in {room}" if room else ", no room"
    return f"{start:%a %d %b %Y %H:%M}–{end:%H:%M} with {physician}{where}"


@bp.route("/bookings/<int:booking_id>/status", methods=["POST"])
@role_required(*SCHEDULERS)
def change_status(booking_id: int):
    """Check in, cancel with a reason, or mark a no-show."""
    booking = get_booking_or_404(booking_id)
    form = StatusForm()
    if form.validate_on_submit():
        with saving() as saved:
            scheduling.change_status(
                db.session,
                booking,
                form_version(form.version.data),
                form.status.data,
                form.reason.data,
                zone=clinic_zone(),
            )
        if not saved:
            stale = isinstance(saved.error, StaleRecord)
            shown = " The booking is shown as it is now." if stale else ""
            flash(saved.error.message + shown, "danger")
            return redirect(url_for("scheduling.show", booking_id=booking_id))
        flash(
            f"{scheduling.STATUS_LABELS[booking.status]}: {scheduling.describe(booking, clinic_zone())}.",
            "success",
        )
        day = booking.starts_at.astimezone(clinic_zone()).date()
        return redirect(url_for("scheduling.index", date=day.isoformat()))
    flash("Choose what to do with the booking.", "danger")
    return redirect(url_for("scheduling.show", booking_id=booking_id))
