"""The booking form filled from a link: what, physician, room, patient and start (the slot finder's)."""

from datetime import datetime

from flask import abort, request
from sqlalchemy import select

from clinic.extensions import db
from clinic.forms.scheduling import MAX_RECORD_ID
from clinic.models import Patient, Room, StaffUser
from clinic.services import DomainError
from clinic.services.scheduling import lengths
from clinic.views.params import text_arg

START_FORMAT = "%Y-%m-%dT%H:%M"


def record_id_arg(name: str) -> int | None:
    """A record id from the query string, or None when it is missing or cannot be one."""
    value = request.args.get(name, type=int)
    return value if value is not None and 0 < value <= MAX_RECORD_ID else None


def physician_named(username: str) -> StaffUser:
    """The active physician with that username, else a 400 that says so."""
    physician = db.session.execute(
        select(StaffUser).where(
            StaffUser.username == username,
            StaffUser.role == "physician",
            StaffUser.active.is_(True),
        )
    ).scalar_one_or_none()
    if physician is None:
        abort(400, description=f"No active physician has the username “{username}”.")
    return physician


def room_named(name: str) -> Room:
    room = db.session.execute(
        select(Room).where(Room.name == name, Room.active.is_(True))
    ).scalar_one_or_none()
    if room is None:
        abort(400, description=f"No room in use is called “{name}”.")
    return room


def patient_with_mrn(mrn: str) -> Patient:
    patient = db.session.execute(
        select(Patient).where(Patient.mrn == mrn.upper())
    ).scalar_one_or_none()
    if patient is None:
        abort(400, description=f"No patient has the MRN “{mrn}”.")
    return patient


def what_arg() -> lengths.What | None:
    code = text_arg("what", 40)
    if code is None:
        return None
    try:
        return lengths.what_named(db.session, code)
    except DomainError as error:
        abort(400, description=error.message)


def start_arg() -> datetime | None:
    """``start`` as a clinic-time date and time (YYYY-MM-DDTHH:MM), naive."""
    text = text_arg("start", 40)  # longer than the format, so that a near miss is told it
    if text is None:
        return None
    try:
        return datetime.strptime(text, START_FORMAT)
    except ValueError:
        abort(
            400,
            description=f"The start must be written YYYY-MM-DDTHH:MM, e.g. 2026-12-07T09:30 (not “{text}”).",
        )


def fill_booking_form(form) -> None:
    """Fill the new-booking form from ``what``, ``physician``, ``room``, ``patient`` and ``start``."""
    what = what_arg()
    if what is not None:
        form.what.data = what.form_value
        form.duration_minutes.data = what.minutes
    username = text_arg("physician", 64)
    if username:
        form.physician_id.data = physician_named(username).id
    room_name = text_arg("room", 60)
    if room_name:
        form.room_id.data = room_named(room_name).id
    mrn = text_arg("patient", 40)
    if mrn:
        form.patient_mrn.data = patient_with_mrn(mrn).mrn
    start = start_arg()
    if start is not None:
        form.day.data = start.date()
        form.start_time.data = start.time()
