"""Fixtures: one migrated database per backend, and each test inside a rolled-back transaction.

Every test that asks for ``app`` runs once on SQLite and, when ``TEST_DATABASE_URL`` is set,
once more on PostgreSQL in a throwaway database created and dropped by this run.
"""

import os
import re
import uuid
from collections.abc import Iterator

import flask_sqlalchemy.session
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from clinic import create_app
from clinic.extensions import db
from clinic.models import StaffUser
from clinic.services.identity import accounts
from tests import factories

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
PASSWORD = "quiet harbour lantern 2917"
BACKENDS = ["sqlite", "postgresql"]


def skip_without_postgres() -> None:
    """Skip a PostgreSQL test when no server is named; in CI (CLINIC_REQUIRE_POSTGRES), fail."""
    if os.environ.get("CLINIC_REQUIRE_POSTGRES"):
        pytest.fail("CLINIC_REQUIRE_POSTGRES is set but TEST_DATABASE_URL is not")
    pytest.skip(
        "PostgreSQL tests need TEST_DATABASE_URL, e.g. postgresql://postgres@127.0.0.1/postgres"
    )


def create_throwaway_database(base_url: str) -> str:
    url = make_url(base_url).set(drivername="postgresql+psycopg")
    name = f"clinic_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


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


def make_app(database_url: str, instance_path: str, **overrides) -> Flask:
    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "t" * 40}
    config.update(overrides)
    os.environ.setdefault("CLINIC_ENV", "testing")
    app = create_app(config)
    app.instance_path = instance_path
    return app


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


CSRF_PATTERN = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def csrf_token(client: FlaskClient, url: str = "/login") -> str:
    """The CSRF token of the form on ``url``, as a browser would send it back."""
    html = client.get(url).get_data(as_text=True)
    match = CSRF_PATTERN.search(html)
    assert match, f"no CSRF token on {url}"
    return match.group(1) or match.group(2)


def make_user(session: Session, role: str, username: str | None = None, **kwargs) -> StaffUser:
    user = accounts.create_user(
        session,
        username or f"{role.replace('_', '')}{uuid.uuid4().hex[:6]}",
        kwargs.pop("full_name", f"Test {role}"),
        role,
        kwargs.pop("password", PASSWORD),
    )
    session.commit()
    return user


def sign_in(
    client: FlaskClient, username: str, password: str = PASSWORD, next_url: str | None = None
):
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(
        url,
        data={"username": username, "password": password, "csrf_token": csrf_token(client)},
    )


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
    bookings, a room, a stimulator, a referral; shared by the role, fuzz and page tests."""
    from datetime import date, timedelta

    from clinic.models import ScsDevice
    from tests.pages import SAMPLE_IDS

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
    }
