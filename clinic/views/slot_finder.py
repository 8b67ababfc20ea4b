"""The slot finder at /schedule/find: the first free slots, each a link to the filled-in booking form."""

from datetime import timedelta

from flask import render_template
from sqlalchemy import select

from clinic import clock
from clinic.extensions import db
from clinic.models import ProcedureType, Room, StaffUser
from clinic.models.scheduling import VISIT_KIND_LABELS
from clinic.security import role_required
from clinic.services.identity.audit import record_event
from clinic.services.scheduling import slots
from clinic.views.booking_params import (
    START_FORMAT,
    patient_with_mrn,
    physician_named,
    record_id_arg,
    room_named,
    what_arg,
)
from clinic.views.common import clinic_today, clinic_zone
from clinic.views.params import date_arg, text_arg

# The front desk and physicians book, so they find slots; the scheduling blueprint serves it.
FINDERS = ("front_desk", "physician")


def _choices() -> dict:
    """What the finder's form offers: procedures and visits, physicians, rooms."""
    procedures = db.session.execute(
        select(ProcedureType.code, ProcedureType.name)
        .where(ProcedureType.active.is_(True))
        .order_by(ProcedureType.name)
    ).all()
    physicians = db.session.execute(
        select(StaffUser.username, StaffUser.full_name)
        .where(StaffUser.role == "physician", StaffUser.active.is_(True))
        .order_by(StaffUser.full_name)
    ).all()
    rooms = db.session.execute(
        select(Room.name).where(Room.active.is_(True)).order_by(Room.name)
    ).scalars()
    return {
        "what_choices": [(code, f"{name} ({code})") for code, name in procedures]
        + [(kind, f"Visit: {label}") for kind, label in VISIT_KIND_LABELS.items()],
        "physician_choices": list(physicians),
        "room_choices": list(rooms),
    }


@role_required(*FINDERS)
def find():
    """The first free slots for a procedure or visit, earliest first, up to 90 days ahead."""
    zone = clinic_zone()
    asked = {
        "what": text_arg("what", 40) or "",
        "physician": text_arg("physician", 64) or "any",
        "room": text_arg("room", 60) or "",
        "patient": text_arg("patient", 40) or "",
        "from": date_arg("from") or clinic_today(),
    }
    referral_id = record_id_arg("referral_id")
    what = what_arg()
    physician = physician_named(asked["physician"]) if asked["physician"] != "any" else None
    room = room_named(asked["room"]) if asked["room"] else None
    patient = patient_with_mrn(asked["patient"]) if asked["patient"] else None
    found = None
    if what is not None:
        query = slots.SlotQuery(
            kind=what.session_kind,
            minutes=what.minutes,
            first_day=asked["from"],
            now=clock.utcnow(),
            physician_id=physician.id if physician else None,
            room_id=room.id if room else None,
            patient_id=patient.id if patient else None,
        )
        found = slots.find_slots(db.session, query, zone)
    if patient is not None:
        record_event(
            db.session,
            "view",
            record_type="patient",
            record_id=patient.id,
            details={"page": "slot finder"},
        )
        db.session.commit()
    last_day = asked["from"] + timedelta(days=slots.WINDOW_DAYS - 1)
    return render_template(
        "scheduling/find.html",
        asked=asked,
        what=what,
        physician=physician,
        room=room,
        patient=patient,
        referral_id=referral_id,
        found=found,
        last_day=last_day,
        zone=zone,
        start_format=START_FORMAT,
        **_choices(),
    )
