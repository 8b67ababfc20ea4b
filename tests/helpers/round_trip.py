"""Two clinics in one test: the fixtures the round-trip tests share."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask_migrate import upgrade

from clinic import demo
from clinic.extensions import db
from clinic.models import Room, StaffUser
from tests.helpers.app import (
    BACKENDS,
    TEST_DATABASE_URL,
    create_throwaway_database,
    drop_database,
    make_app,
    skip_without_postgres,
)


@contextmanager
def its_own_session() -> Iterator[None]:
    """Commands of the other clinic on its own database.

    ``db_session`` binds ``db.session`` to this test's connection whatever the app, so without
    this the other clinic's import would write into this clinic's database.
    """
    bound = db.session
    db.session = db._make_scoped_session({})
    try:
        yield  # each app context's teardown removes the session it used
    finally:
        db.session = bound


@pytest.fixture(params=BACKENDS)
def empty_clinic(request, tmp_path_factory):
    """Another clinic's empty database (migrated, with the same physicians and rooms).

    One for each test: the test fills it.
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('empty') / 'clinic.db'}"
    elif not TEST_DATABASE_URL:
        skip_without_postgres()
    else:
        url = create_throwaway_database(TEST_DATABASE_URL)
    app = make_app(url, str(tmp_path_factory.mktemp("empty-instance")))
    with its_own_session(), app.app_context():
        upgrade()
        for username, full_name in demo.PHYSICIANS:
            db.session.add(StaffUser(username=username, full_name=full_name, role="physician"))
        db.session.add_all(Room(name=name) for name in demo.ROOMS)
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()
    if request.param == "postgresql":
        drop_database(url)
