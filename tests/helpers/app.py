"""Shared by the tests: moved out of tests.conftest so no test module imports another."""

import os
import re
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from clinic import create_app
from clinic.models import StaffUser
from clinic.services.identity import accounts

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


def make_app(database_url: str, instance_path: str, **overrides) -> Flask:
    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "t" * 40}
    config.update(overrides)
    os.environ.setdefault("CLINIC_ENV", "testing")
    app = create_app(config)
    app.instance_path = instance_path
    return app


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


_SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)


def inline_scripts(html: str) -> list[str]:
    """The page's script tags that are not the app's own files: a script written into the page
    itself (what an unescaped name would make, and what the CSP refuses to run)."""
    own = re.compile(r'\bsrc="/static/[\w.-]+\.js"')
    return [
        match.group(0) for match in _SCRIPT_TAG.finditer(html) if not own.search(match.group(1))
    ]
