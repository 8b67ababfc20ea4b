"""The views' one place that commits or rolls back: ``saving(form)`` (clinic/views/common.py)."""

import pytest
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import StringField

from clinic.extensions import db
from clinic.models import Room
from clinic.services import DomainError
from clinic.services.records import StaleRecord
from clinic.views.common import saving


class RoomNameForm(FlaskForm):
    name = StringField("Name")
    note = StringField("Note")


@pytest.fixture
def form(app, db_session):
    """A submitted form, validated, as a view holds it when it saves."""
    with app.test_request_context(method="POST", data={"name": "Suite 9", "note": "by the lift"}):
        form = RoomNameForm(meta={"csrf": False})
        assert form.validate()
        yield form


def rooms_called(db_session, name: str) -> int:
    return db_session.execute(
        select(func.count()).select_from(Room).where(Room.name == name)
    ).scalar_one()


def test_saving_commits_the_block_when_it_ends(form, db_session):
    with saving(form) as saved:
        db.session.add(Room(name=form.name.data))
    assert saved and saved.committed and saved.error is None
    db.session.rollback()  # nothing left to undo: the block's work is committed
    assert rooms_called(db_session, "Suite 9") == 1
    assert form.errors == {}


def test_a_refusal_is_rolled_back_and_shown_on_the_field_it_names(form, db_session):
    with saving(form) as saved:
        db.session.add(Room(name=form.name.data))
        db.session.flush()
        raise DomainError("That name is taken.", "name")
    assert not saved
    assert isinstance(saved.error, DomainError)
    assert rooms_called(db_session, "Suite 9") == 0
    assert form.name.errors == ["That name is taken."]
    assert form.form_errors == []
    assert form.name.data == "Suite 9", "what was typed is kept"


def test_a_refusal_naming_no_field_goes_to_the_views_field_else_atop_the_form(form, db_session):
    with saving(form, "note") as saved:
        raise DomainError("Write a shorter note.")
    assert not saved
    assert form.note.errors == ["Write a shorter note."]
    with saving(form):
        raise DomainError("The room list changed; try again.")
    assert form.form_errors == ["The room list changed; try again."]
    with saving(form):
        raise DomainError("No such field on this form.", "colour")
    assert form.form_errors[-1] == "No such field on this form."


def test_refusals_the_view_shows_itself_are_rolled_back_and_left_to_it(form, db_session):
    with saving(form, shown_by_view=(StaleRecord,)) as saved:
        db.session.add(Room(name=form.name.data))
        db.session.flush()
        raise StaleRecord("Someone else saved it.")
    assert isinstance(saved.error, StaleRecord)
    assert rooms_called(db_session, "Suite 9") == 0
    assert form.errors == {} and form.form_errors == []


def test_without_a_form_the_refusal_is_left_for_the_view_to_say(app, db_session):
    with app.test_request_context(), saving() as saved:
        db.session.add(Room(name="Suite 10"))
        db.session.flush()
        raise DomainError("Not now.")
    assert not saved and saved.error.message == "Not now."
    assert rooms_called(db_session, "Suite 10") == 0


def test_any_other_exception_is_rolled_back_and_propagates(form, db_session):
    with pytest.raises(ZeroDivisionError), saving(form) as saved:
        db.session.add(Room(name=form.name.data))
        db.session.flush()
        _ = 1 / 0
    assert not saved and saved.error is None
    assert rooms_called(db_session, "Suite 9") == 0
    assert form.errors == {} and form.form_errors == []
