"""Small helpers shared by the views: the clinic's clock and zone, choices, saving a form."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


def show_domain_error(form: FlaskForm, error: DomainError, field: str | None = None) -> None:
    """Put a service's refusal next to the field it names (else ``field``), or atop the form."""
    name = error.field or field
    target = form[name] if name and name in form else None
    if target is not None:
        target.errors = (
            [*target.errors, error.message] if isinstance(target.errors, list) else [error.message]
        )
    else:
        form.form_errors.append(error.message)


@dataclass
class Saved:
    """What became of a ``saving`` block: true once committed, else the refusal it met."""

    error: DomainError | None = None
    committed: bool = False

    def __bool__(self) -> bool:
        return self.committed


@contextmanager
def saving(
    form: FlaskForm | None = None,
    field: str | None = None,
    *,
    shown_by_view: tuple[type[DomainError], ...] = (),
) -> Iterator[Saved]:
    """The request's one commit: the block's work is committed when it ends; a service's refusal
    (``DomainError``) is rolled back and shown on the form, on the field it names (else ``field``,
    else atop the form), with what was typed kept. Refusals of the ``shown_by_view`` types, and
    every refusal when there is no form, are rolled back and left in ``.error`` for the view to
    show its own way. Any other exception is rolled back and propagates."""
    saved = Saved()
    try:
        yield saved
    except DomainError as error:
        db.session.rollback()
        saved.error = error
        if form is not None and not isinstance(error, shown_by_view):
            show_domain_error(form, error, field)
    except Exception:
        db.session.rollback()
        raise
    else:
        db.session.commit()
        saved.committed = True


def form_version(text: str | None) -> int | None:
    """The record version a form was opened at; a missing or garbled one is None (out of date)."""
    return record_number(text)


def record_number(text: str | None) -> int | None:
    """A record's id or version as a form sent it: None unless a whole number that an integer
    column holds (ASCII digits: "²" is a digit to ``str.isdigit``, not to ``int``)."""
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None
