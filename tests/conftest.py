"""Fixtures: one migrated database per backend, and each test inside a rolled-back transaction.

Every test that asks for ``app`` runs once on SQLite and, when ``TEST_DATABASE_URL`` is set,
once more on PostgreSQL in a throwaway database created and dropped by this run.
"""

from collections.abc import Iterator
from datetime import date, timedelta

import flask_sqlalchemy.session
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from clinic import clock
from clinic.extensions import db
from clinic.models import ScsDevice, StaffUser
from tests import factories
from tests.helpers.app import (
    BACKENDS,
    TEST_DATABASE_URL,
    create_throwaway_database,
    drop_database,
    make_app,
    make_user,
    sign_in,
    skip_without_postgres,
)
from tests.pages import SAMPLE_IDS


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> Iterator[str]:
    """A fresh, empty database of each backend for this test run."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'clinic.db'}"
        return
    if not TEST_DATABASE_URL:
        skip_without_postgres()
    url = create_throwaway_database(TEST_DATABASE_URL)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def backend(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory) -> Flask:
    """The app on a database migrated once by running the Alembic migrations."""
    app = make_app(database_url, str(tmp_path_factory.mktemp("instance")))
    with app.app_context():
        upgrade()
    return app


class BoundSession(flask_sqlalchemy.session.Session):
    """Flask-SQLAlchemy's session, but using the connection it was given (the test's)."""

    def get_bind(self, *args, **kwargs):
        return self.bind


@pytest.fixture
def db_session(app: Flask) -> Iterator[Session]:
    """A session for the test's own reads and writes; every request shares its transaction.

    The outer transaction is rolled back at the end, so tests never see each other's data.
    Commits inside the app become savepoint releases (``join_transaction_mode``).
    """
    with app.app_context():
        engine = db.engine
    connection = engine.connect()
    transaction = connection.begin()
    options = {"bind": connection, "join_transaction_mode": "create_savepoint"}
    original = db.session
    db.session = db._make_scoped_session({"class_": BoundSession, **options})
    session = BoundSession(db=db, **options)
    factories.bind(session)
    try:
        yield session
    finally:
        session.close()
        db.session = original
        transaction.rollback()
        connection.close()


@pytest.fixture
def client(app: Flask, db_session: Session) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask, db_session: Session):
    return app.test_cli_runner()


@pytest.fixture
def login(client: FlaskClient, db_session: Session):
    """``login(role)`` creates a user with that role and signs the test client in as them."""

    def login_as(role: str, **kwargs) -> StaffUser:
        user = make_user(db_session, role, **kwargs)
        response = sign_in(client, user.username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return login_as


@pytest.fixture
def page_records(db_session: Session) -> dict[str, int]:
    """The records the page list's URLs point at (tests/pages.py): a patient, a staff account,
    bookings, a room, a stimulator, a referral, a block; shared by the role and fuzz tests."""
    patient = factories.PatientFactory()
    staff = make_user(db_session, "front_desk")
    booking = factories.VisitFactory(patient=patient)
    intervention = factories.InterventionFactory(
        patient=patient, starts_at=booking.starts_at + timedelta(hours=2)
    )
    room = factories.RoomFactory()
    device = ScsDevice(
        patient=patient,
        manufacturer="Abbott",
        model="Proclaim XR",
        serial_number="MATRIX-0001",
        implanted_on=date(2024, 1, 15),
    )
    db_session.add(device)
    referral = factories.ReferralFactory(patient=patient)
    block = factories.InterventionFactory(
        patient=patient,
        procedure_type=factories.procedure_type("MBB"),
        starts_at=booking.starts_at + timedelta(hours=4),
    )
    # Done two weeks ago: its 2-week call is due today, so the call list draws its score and
    # attempt forms, and the patient's pain-score form is drawn (it needs a completed procedure).
    factories.completed_intervention(
        clock.clinic_today("UTC") - timedelta(days=14), "ESI-TF", patient=patient
    )
    db_session.commit()
    return {
        **SAMPLE_IDS,  # the rooms, procedures and eligibility rules the migrations create
        "patient_id": patient.id,
        "user_id": staff.id,
        "booking_id": booking.id,
        "intervention_id": intervention.id,
        "visit_id": booking.id,
        "room_id": room.id,
        "device_id": device.id,
        "referral_id": referral.id,
        "intervention_patient_id": patient.id,
        "block_id": block.id,
        "block_patient_id": patient.id,
    }


# Fixtures that tests of several layers share, defined beside what they need.
from tests.helpers.imports import catalogue  # noqa: E402, F401
from tests.helpers.round_trip import empty_clinic, its_own_session  # noqa: E402, F401
