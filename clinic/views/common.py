"""Small helpers shared by the views: the clinic's clock and zone, choices, domain errors on forms."""

from datetime import date
from zoneinfo import ZoneInfo

from flask import current_app
from flask_wtf import FlaskForm
from sqlalchemy import select

from clinic import clock
from clinic.extensions import db
from clinic.models import ProcedureType, Room, StaffUser
from clinic.models.scheduling import VISIT_KIND_LABELS
from clinic.services import DomainError

NO_ROOM = 0


def clinic_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["CLINIC_TIMEZONE"])


def clinic_today() -> date:
    return clock.clinic_today(current_app.config["CLINIC_TIMEZONE"])


def physician_choices() -> list[tuple[int, str]]:
    physicians = db.session.execute(
        select(StaffUser)
        .where(StaffUser.role == "physician", StaffUser.active.is_(True))
        .order_by(StaffUser.full_name)
    ).scalars()
    return [(user.id, user.full_name) for user in physicians]


def room_choices(allow_none: bool = True) -> list[tuple[int, str]]:
    rooms = db.session.execute(
        select(Room).where(Room.active.is_(True)).order_by(Room.name)
    ).scalars()
    return ([(NO_ROOM, "— no room —")] if allow_none else []) + [
        (room.id, room.name) for room in rooms
    ]


def what_choices() -> list[tuple[str, str]]:
    """Procedures from the catalogue, then the kinds of visit, as one list."""
    procedures = db.session.execute(
        select(ProcedureType).where(ProcedureType.active.is_(True)).order_by(ProcedureType.name)
    ).scalars()
    return (
        [("", "— choose —")]
        + [(f"procedure:{p.id}", f"{p.name} ({p.code})") for p in procedures]
        + [(f"visit:{kind}", f"Visit: {label}") for kind, label in VISIT_KIND_LABELS.items()]
    )


def show_domain_error(form: FlaskForm, error: DomainError) -> None:
    """Put a service's refusal next to the field it is about, or at the top of the form."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = (
            [*field.errors, error.message] if isinstance(field.errors, list) else [error.message]
        )
    else:
        form.form_errors.append(error.message)
