"""Requests and pages (SECURITY.md): CSRF, escaping, headers, caching, error pages, redirects,
and recovery after the database drops the app's connections."""

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

import clinic.views.patients
from clinic import clock
from clinic.extensions import db, login_manager
from clinic.models import Patient, StaffUser
from clinic.security import is_safe_next
from clinic.services.identity.accounts import passwords
from tests.factories import (
    InterventionFactory,
    PatientFactory,
    ReferralFactory,
    VisitFactory,
    procedure_type,
)
from tests.helpers.app import PASSWORD, csrf_token, inline_scripts, make_app, make_user

SCRIPT = "<script>alert(1)</script>"
ESCAPED_SCRIPT = "&lt;script&gt;"


@pytest.fixture
def extra_app_guard():
    """Building a second app re-binds process-wide objects (the login manager's callbacks and
    the password hasher's parameters); put them back so later tests see the test app's."""
    saved = (
        login_manager._user_callback,
        login_manager.unauthorized_callback,
        passwords.hasher,
        passwords.dummy_hash,
    )
    yield
    (
        login_manager._user_callback,
        login_manager.unauthorized_callback,
        passwords.hasher,
        passwords.dummy_hash,
    ) = saved


# CSRF ----------------------------------------------------------------------------------------


def test_csrf_protection_is_on_in_tests(app):
    assert app.config.get("WTF_CSRF_ENABLED", True) is True


def test_logout_without_csrf_token_is_refused_with_400(client, login):
    login("front_desk")
    response = client.post("/logout")
    assert response.status_code == 400
    assert client.get("/").status_code == 200, "the refused logout signed the user out"


def test_login_without_csrf_token_is_refused_with_400(client, db_session):
    user = make_user(db_session, "front_desk")
    response = client.post("/login", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302, "signed in without a CSRF token"


def test_new_user_without_csrf_token_is_refused_with_400(client, login, db_session):
    login("admin")
    response = client.post(
        "/admin/users/new",
        data={
            "username": "csrf.victim",
            "full_name": "Made By Forgery",
            "role": "admin",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert response.status_code == 400
    made = db_session.execute(
        select(func.count()).select_from(StaffUser).where(StaffUser.username == "csrf.victim")
    ).scalar_one()
    assert made == 0


def test_new_user_with_csrf_token_is_saved(client, login, db_session):
    """The control for the test above: the same form with its token goes through."""
    login("admin")
    response = client.post(
        "/admin/users/new",
        data={
            "username": "csrf.control",
            "full_name": "Made Properly",
            "role": "front_desk",
            "password": PASSWORD,
            "confirm": PASSWORD,
            "csrf_token": csrf_token(client, "/admin/users/new"),
        },
    )
    assert response.status_code == 302
    made = db_session.execute(
        select(func.count()).select_from(StaffUser).where(StaffUser.username == "csrf.control")
    ).scalar_one()
    assert made == 1


# XSS -----------------------------------------------------------------------------------------


@dataclass
class ScriptedRecords:
    """A patient named like a script, with something on every page that lists patients."""

    patient: Patient
    referral_id: int
    booking_id: int
    booked_on: date


@pytest.fixture
def scripted_patient(app, db_session) -> ScriptedRecords:
    patient = PatientFactory(first_name=SCRIPT)
    zone = ZoneInfo(app.config["CLINIC_TIMEZONE"])
    today = clock.clinic_today(app.config["CLINIC_TIMEZONE"])
    referral = ReferralFactory(patient=patient)
    # On the schedule tomorrow …
    booked_on = today + timedelta(days=1)
    starts_at = datetime.combine(booked_on, clock_time(10), tzinfo=zone)
    visit = VisitFactory(
        patient=patient, starts_at=starts_at, ends_at=starts_at + timedelta(minutes=20)
    )
    # … and on the call list: a procedure performed two weeks ago has its 2-week call due today.
    performed_on = today - timedelta(days=14)
    performed_at = datetime.combine(performed_on, clock_time(9), tzinfo=zone)
    InterventionFactory(
        patient=patient,
        procedure_type=procedure_type("ESI-TF"),
        status="completed",
        performed_on=performed_on,
        baseline_nrs=7,
        starts_at=performed_at,
        ends_at=performed_at + timedelta(minutes=30),
    )
    db_session.commit()
    return ScriptedRecords(patient, referral.id, visit.id, booked_on)


@pytest.mark.parametrize(
    "url",
    [
        "/patients",
        "/patients?q=script",
        f"/patients?q={SCRIPT}",
        "/patients/{id}",
        "/patients/{id}/edit",
        "/referrals",
        "/referrals/{referral_id}",
        "/schedule?date={day}",
        "/schedule?date={day}&view=week",
        "/schedule/bookings/{booking_id}",
        "/worklist",
    ],
)
def test_patient_named_script_renders_escaped(client, login, scripted_patient, url):
    login("front_desk")
    records = scripted_patient
    response = client.get(
        url.format(
            id=records.patient.id,
            referral_id=records.referral_id,
            booking_id=records.booking_id,
            day=records.booked_on.isoformat(),
        )
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert SCRIPT not in body
    assert inline_scripts(body) == []
    assert ESCAPED_SCRIPT in body
    assert records.patient.last_name in body, "the patient is not on the page at all"


def test_a_script_typed_into_a_refused_patient_edit_renders_escaped(client, login, db_session):
    """The conflict page repeats what was typed: escaped, like everything else."""
    login("front_desk")
    patient = PatientFactory(last_name="Escapee")
    db_session.commit()
    url = f"/patients/{patient.id}/edit"
    data = {
        "csrf_token": csrf_token(client, url),
        "first_name": SCRIPT,
        "last_name": "Escapee",
        "date_of_birth": patient.date_of_birth.isoformat(),
        "sex": patient.sex,
        "condition": patient.condition,
        "version": str(patient.version + 1),  # as if someone else had saved meanwhile
    }
    response = client.post(url, data=data)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Your changes were not saved" in body
    assert f"<td>{ESCAPED_SCRIPT}alert(1)&lt;/script&gt;</td>" in body
    assert inline_scripts(body) == []


# Headers -------------------------------------------------------------------------------------


def fetch_sample_page(kind: str, client, login, db_session):
    if kind == "login":
        return client.get("/login"), 200
    if kind == "csrf_failure":
        return client.post("/login", data={"username": "x", "password": "y"}), 400
    if kind == "forbidden":
        login("front_desk")
        return client.get("/admin/users"), 403
    login("physician")
    if kind == "home":
        return client.get("/"), 200
    if kind == "patient":
        patient = PatientFactory()
        db_session.commit()
        return client.get(f"/patients/{patient.id}"), 200
    if kind == "not_found":
        return client.get("/no-such-page"), 404
    if kind == "method_not_allowed":
        return client.get("/logout"), 405
    raise AssertionError(kind)


def csp_directives(header: str) -> dict[str, str]:
    directives = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition(" ")
        if name:
            directives[name.lower()] = value.strip()
    return directives


SAMPLE_PAGES = [
    "login",
    "home",
    "patient",
    "not_found",
    "forbidden",
    "csrf_failure",
    "method_not_allowed",
]


@pytest.mark.parametrize("kind", SAMPLE_PAGES)
def test_pages_carry_a_strict_content_security_policy(client, login, db_session, kind):
    response, status = fetch_sample_page(kind, client, login, db_session)
    assert response.status_code == status
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no CSP on the {kind} page"
    directives = csp_directives(header)
    assert directives.get("object-src") == "'none'"
    assert directives.get("base-uri") == "'none'"
    assert directives.get("frame-ancestors") == "'none'"
    assert "'unsafe-inline'" not in header
    assert "default-src" in directives


@pytest.mark.parametrize("kind", SAMPLE_PAGES)
def test_pages_carry_nosniff_and_a_referrer_policy(client, login, db_session, kind):
    response, status = fetch_sample_page(kind, client, login, db_session)
    assert response.status_code == status
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") in {
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    }


@pytest.mark.parametrize("kind", SAMPLE_PAGES)
def test_no_hsts_outside_production(client, login, db_session, kind):
    response, _ = fetch_sample_page(kind, client, login, db_session)
    assert "Strict-Transport-Security" not in response.headers


def test_hsts_is_sent_in_production(app, database_url, tmp_path, monkeypatch, extra_app_guard):
    monkeypatch.setenv("CLINIC_ENV", "production")
    production = make_app(database_url, str(tmp_path), SECRET_KEY=secrets.token_hex(20))
    assert production.config["ENV_NAME"] == "production"
    for url, status in [("/login", 200), ("/no-such-page", 404)]:
        response = production.test_client().get(url)
        assert response.status_code == status
        hsts = response.headers.get("Strict-Transport-Security", "")
        max_age = int(hsts.split("max-age=")[1].split(";")[0]) if "max-age=" in hsts else 0
        assert max_age >= 31536000, f"HSTS missing or shorter than a year on {url}: {hsts!r}"
        assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    with production.app_context():
        db.engine.dispose()


# Caching -------------------------------------------------------------------------------------


def test_signed_in_patient_page_is_not_cached(client, login, db_session):
    login("front_desk")
    patient = PatientFactory()
    db_session.commit()
    response = client.get(f"/patients/{patient.id}")
    assert response.status_code == 200
    assert "no-store" in response.headers.get("Cache-Control", "")


def test_signed_in_patient_list_is_not_cached(client, login, db_session):
    login("front_desk")
    PatientFactory()
    db_session.commit()
    response = client.get("/patients")
    assert response.status_code == 200
    assert "no-store" in response.headers.get("Cache-Control", "")


# Errors --------------------------------------------------------------------------------------


def test_unexpected_error_shows_the_generic_500_page(
    app, client, login, monkeypatch, caplog, db_session
):
    marker = "secret-" + "marker"  # built here so the marker is not in any source line

    def broken_search(session, query, page, per_page):
        raise RuntimeError(marker)

    login("front_desk")
    monkeypatch.setitem(app.config, "SHOW_ERROR_PAGES", True)
    monkeypatch.setattr(clinic.views.patients, "patient_page", broken_search)
    with caplog.at_level(logging.ERROR):
        response = client.get("/patients?q=anything")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Traceback" not in body
    assert marker not in body
    assert "RuntimeError" not in body
    assert "Something went wrong" in body
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert "frame-ancestors 'none'" in response.headers.get("Content-Security-Policy", "")
    # Logged for the administrators, but without the message, which can hold patient data.
    assert "RuntimeError" in caplog.text
    assert marker not in caplog.text


def test_debug_is_off_in_the_test_and_production_configurations(app):
    from config import ProductionConfig

    assert not app.debug
    assert not getattr(ProductionConfig, "DEBUG", False)


# Safe redirects ------------------------------------------------------------------------------


def sign_in_with_next(client, username: str, target: str):
    return client.post(
        "/login",
        query_string={"next": target},
        data={"username": username, "password": PASSWORD, "csrf_token": csrf_token(client)},
    )


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
    ],
)
def test_sign_in_ignores_a_next_off_this_site(client, db_session, target):
    user = make_user(db_session, "front_desk")
    response = sign_in_with_next(client, user.username, target)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost")
    assert location.path == "/"


def test_sign_in_follows_a_next_on_this_site(client, db_session):
    user = make_user(db_session, "front_desk")
    response = sign_in_with_next(client, user.username, "/patients")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost")
    assert location.path == "/patients"


def test_signed_in_visit_to_login_ignores_a_next_off_this_site(client, login):
    login("front_desk")
    response = client.get("/login", query_string={"next": "https://evil.example"})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/"
    assert "evil.example" not in response.headers["Location"]


@pytest.mark.parametrize(
    "target",
    ["/", "/patients", "/patients?q=smith", "/patients/12", "/reports/relief?threshold=30"],
)
def test_is_safe_next_accepts_paths_on_this_site(target):
    assert is_safe_next(target)


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "patients",
        "https://evil.example",
        "http://evil.example/patients",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "https:evil.example",
        "javascript:alert(1)",
        " //evil.example",
    ],
)
def test_is_safe_next_refuses_anything_else(target):
    assert not is_safe_next(target)


# Database restarts ---------------------------------------------------------------------------


def stale_session_cookie(client) -> None:
    """A cookie naming a server-side session that does not exist: the next request must look
    it up in the database (and finds nothing), so the request really uses a connection."""
    with client.session_transaction() as cookie:
        cookie["_user_id"] = "no-such-session-token"
        cookie["last_seen"] = time.time()


def test_app_recovers_after_the_database_drops_its_connections(
    app, backend, database_url, tmp_path, extra_app_guard
):
    if backend != "postgresql":
        pytest.skip("connection termination is a PostgreSQL test")
    app2 = make_app(database_url, str(tmp_path))
    client = app2.test_client()
    stale_session_cookie(client)
    first = client.get("/login")
    assert first.status_code == 200
    assert "Your session has ended" in first.get_data(as_text=True)
    with app2.app_context():
        pool = db.engine.pool
    assert pool.checkedin() >= 1, "the first request left no pooled connection to drop"

    killer = create_engine(database_url, poolclass=NullPool)
    try:
        with killer.connect() as connection:
            terminated = connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).all()
    finally:
        killer.dispose()
    assert any(row[0] for row in terminated)

    stale_session_cookie(client)
    second = client.get("/login")
    assert second.status_code == 200
    assert "Your session has ended" in second.get_data(as_text=True)
    with app2.app_context():
        db.engine.dispose()
