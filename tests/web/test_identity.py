"""Identity and sessions: one group of tests per row of SECURITY.md's first table.

The clock is moved by replacing ``clinic.clock.utcnow``; nothing here sleeps or times anything.
"""

import json
import logging
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import config
from clinic import clock
from clinic.models import AuditEvent, StaffUser
from clinic.services import DomainError
from clinic.services.identity import accounts
from tests.helpers.app import PASSWORD, csrf_token, make_app, make_user, sign_in

COOKIE = "clinic_session"
WRONG_PASSWORD = "not the right password at all"
NEW_PASSWORD = "amber trellis gondola 5083"
WRITE_ACTIONS = ("create", "update", "archive")
ARGON2ID_HASH = re.compile(r"^\$argon2id\$v=19\$m=(?P<m>\d+),t=(?P<t>\d+),p=(?P<p>\d+)\$")
# OWASP Password Storage Cheat Sheet: Argon2id with at least 19 MiB of memory and 2 passes.
OWASP_MIN_MEMORY_KIB = 19 * 1024
OWASP_MIN_TIME_COST = 2


class FakeClock:
    """Stands in for ``clinic.clock.utcnow``: a fixed UTC instant that tests move forward."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **units: float) -> None:
        self.now += delta if delta is not None else timedelta(**units)


@pytest.fixture
def fake_clock(monkeypatch) -> FakeClock:
    fake = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    monkeypatch.setattr(clock, "utcnow", fake)
    return fake


def browser(app: Flask, address: str = "127.0.0.1") -> FlaskClient:
    """Another browser, optionally on another machine (its remote address)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def signed_in_browser(app: Flask, username: str, password: str = PASSWORD) -> FlaskClient:
    client = browser(app)
    response = sign_in(client, username, password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def assert_signed_in(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200, response.headers.get("Location")


def assert_signed_out(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"


def sign_out(client: FlaskClient) -> None:
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 302


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None, "no session cookie"
    return cookie.value


def decode_session(app: Flask, cookie_value: str) -> dict:
    return app.session_interface.get_signing_serializer(app).loads(cookie_value)


def set_cookie_attributes(header: str) -> tuple[str, dict[str, str]]:
    """``name=value; HttpOnly; SameSite=Lax`` → (name, {"httponly": "", "samesite": "Lax"})."""
    first, *attributes = (part.strip() for part in header.split(";"))
    parsed = {}
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        parsed[key.lower()] = value
    return first.partition("=")[0], parsed


def last_audit_id(session: Session) -> int:
    return session.execute(select(func.coalesce(func.max(AuditEvent.id), 0))).scalar_one()


def audit_rows_since(session: Session, audit_id: int, *actions: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.id > audit_id).order_by(AuditEvent.id)
    if actions:
        query = query.where(AuditEvent.action.in_(actions))
    return list(session.execute(query).scalars())


def admin_form(client: FlaskClient, url: str, **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf_token(client, url), **fields}


def argon2_parameters(password_hash: str) -> dict[str, int]:
    match = ARGON2ID_HASH.match(password_hash)
    assert match, f"not an Argon2id hash: {password_hash[:20]}…"
    return {key: int(value) for key, value in match.groupdict().items()}


# --- unique users --------------------------------------------------------------------------


def test_every_audited_write_from_the_web_names_the_signed_in_user(app, db_session):
    admin = make_user(db_session, "admin")
    since = last_audit_id(db_session)
    admin_browser = signed_in_browser(app, admin.username)
    response = admin_browser.post(
        "/admin/users/new",
        data=admin_form(
            admin_browser,
            "/admin/users/new",
            username="newcomer",
            full_name="Dr. Nia Newcomer",
            role="physician",
            password=NEW_PASSWORD,
            confirm=NEW_PASSWORD,
        ),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    newcomer = accounts.get_user_by_username(db_session, "newcomer")
    signed_in_browser(app, "newcomer", NEW_PASSWORD)

    writes = audit_rows_since(db_session, since, *WRITE_ACTIONS)
    assert ("create", "staff_user", str(newcomer.id), admin.id) in [
        (row.action, row.record_type, row.record_id, row.actor_id) for row in writes
    ]
    # Signing in writes too (the last sign-in time): each person's own sign-in names them.
    assert {row.actor_id for row in writes if row.record_id == str(newcomer.id)} == {
        admin.id,
        newcomer.id,
    }
    assert [
        (row.action, row.record_type, row.changes) for row in writes if row.actor_id is None
    ] == []


# --- password storage ----------------------------------------------------------------------


def test_stored_password_is_an_argon2id_hash_at_owasp_strength(db_session):
    user = make_user(db_session, "physician")
    parameters = argon2_parameters(user.password_hash)
    assert parameters["m"] >= OWASP_MIN_MEMORY_KIB
    assert parameters["t"] >= OWASP_MIN_TIME_COST
    assert PASSWORD not in user.password_hash


def test_account_created_on_the_admin_page_stores_an_argon2id_hash(client, login, db_session):
    login("admin")
    client.post(
        "/admin/users/new",
        data=admin_form(
            client,
            "/admin/users/new",
            username="webmade",
            full_name="Wendy Webmade",
            role="front_desk",
            password=NEW_PASSWORD,
            confirm=NEW_PASSWORD,
        ),
    )
    user = accounts.get_user_by_username(db_session, "webmade")
    assert user is not None
    parameters = argon2_parameters(user.password_hash)
    assert parameters["m"] >= OWASP_MIN_MEMORY_KIB
    assert parameters["t"] >= OWASP_MIN_TIME_COST


@pytest.mark.parametrize("config_class", [config.Config, config.ProductionConfig])
def test_production_argon2_settings_meet_the_owasp_minimum(config_class):
    assert config_class.ARGON2_MEMORY_COST_KIB >= OWASP_MIN_MEMORY_KIB
    assert config_class.ARGON2_TIME_COST >= OWASP_MIN_TIME_COST


# --- password policy -----------------------------------------------------------------------

SIXTY_FOUR_CHARACTERS = "kx7Qm2vR9pL4wT8nZ3bY6hJ1cF5dG0sA-river-otter-meadow-pebble-lamps"
UNICODE_PASSPHRASE = "ünïcödé pässwörd ok"
REFUSED_PASSWORDS = {
    "eleven characters": "q7Lm9vR2xZk",
    "a common password": "Password1234",
    "one repeated character": "a" * 64,
}
ACCEPTED_PASSWORDS = {
    "twelve characters": "q7Lm9vR2xZkw",
    "sixty-four characters": SIXTY_FOUR_CHARACTERS,
    "spaces and Unicode": UNICODE_PASSPHRASE,
    "all lower case, no digits or symbols": "all lowercase words drift slowly over hills",
}


def test_the_accepted_examples_have_the_lengths_they_claim():
    assert len(REFUSED_PASSWORDS["eleven characters"]) == 11
    assert len(ACCEPTED_PASSWORDS["twelve characters"]) == 12
    assert len(SIXTY_FOUR_CHARACTERS) == 64


@pytest.mark.parametrize("password", REFUSED_PASSWORDS.values(), ids=REFUSED_PASSWORDS.keys())
def test_weak_password_is_refused_with_a_reason(db_session, password):
    assert accounts.password_problem(password)
    with pytest.raises(DomainError) as refused:
        accounts.create_user(db_session, "weakling", "Wes Weakling", "physician", password)
    assert refused.value.field == "password"
    assert password not in refused.value.message
    assert accounts.get_user_by_username(db_session, "weakling") is None


@pytest.mark.parametrize("password", ACCEPTED_PASSWORDS.values(), ids=ACCEPTED_PASSWORDS.keys())
def test_long_or_unusual_password_is_accepted_and_signs_in(app, db_session, password):
    assert accounts.password_problem(password) is None
    user = make_user(db_session, "physician", password=password)
    assert accounts.passwords.verify(user.password_hash, password)
    assert_signed_in(signed_in_browser(app, user.username, password))


def test_unicode_password_signs_in_whichever_way_the_keyboard_composes_it(app, db_session):
    composed = unicodedata.normalize("NFC", UNICODE_PASSPHRASE)
    decomposed = unicodedata.normalize("NFD", UNICODE_PASSPHRASE)
    assert composed != decomposed
    user = make_user(db_session, "physician", password=composed)
    assert_signed_in(signed_in_browser(app, user.username, decomposed))


def test_command_line_refuses_a_weak_password_with_the_reason_and_writes_nothing(
    runner, db_session
):
    since = last_audit_id(db_session)
    result = runner.invoke(
        args=["users", "create", "weakling", "--role", "physician"]
        + ["--full-name", "Wes Weakling", "--password-stdin"],
        input="Password1234\n",
    )
    assert result.exit_code != 0
    assert "commonly used password" in result.stderr
    assert "Password1234" not in result.output
    assert accounts.get_user_by_username(db_session, "weakling") is None
    assert audit_rows_since(db_session, since) == []


def test_command_line_creates_an_account_with_a_good_password(runner, db_session):
    result = runner.invoke(
        args=["users", "create", "strongone", "--role", "physician"]
        + ["--full-name", "Sam Strong", "--password-stdin"],
        input=f"{UNICODE_PASSPHRASE}\n",
    )
    assert result.exit_code == 0, result.output
    user = accounts.get_user_by_username(db_session, "strongone")
    assert user is not None
    assert accounts.passwords.verify(user.password_hash, UNICODE_PASSPHRASE)


# --- brute force ---------------------------------------------------------------------------


def test_repeated_failures_lock_the_account_even_against_the_right_password(
    app, client, db_session, fake_clock
):
    user = make_user(db_session, "physician")
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]):
        assert sign_in(client, user.username, WRONG_PASSWORD).status_code == 200
    response = sign_in(client, user.username)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.get_data(as_text=True)
    # Scripts and proxies are told when to try again: after the counting window.
    window = app.config["LOGIN_THROTTLE_WINDOW"]
    assert response.headers["Retry-After"] == str(int(window.total_seconds()))
    assert_signed_out(client)


def test_locked_account_opens_again_once_the_window_has_passed(app, client, db_session, fake_clock):
    user = make_user(db_session, "physician")
    window = app.config["LOGIN_THROTTLE_WINDOW"]
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]):
        sign_in(client, user.username, WRONG_PASSWORD)
    # Knocking on a locked account does not keep it locked: only real failures count.
    fake_clock.advance(window / 2)
    assert sign_in(client, user.username, WRONG_PASSWORD).status_code == 429
    assert sign_in(client, user.username).status_code == 429
    fake_clock.advance(window / 2 + timedelta(seconds=1))
    assert sign_in(client, user.username).status_code == 302
    assert_signed_in(client)


def test_a_lower_configured_limit_locks_the_account_sooner(
    app, client, db_session, fake_clock, monkeypatch
):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_ACCOUNT", 2)
    user = make_user(db_session, "physician")
    sign_in(client, user.username, WRONG_PASSWORD)
    sign_in(client, user.username, WRONG_PASSWORD)
    assert sign_in(client, user.username).status_code == 429


def test_failures_from_one_address_throttle_every_account_tried_from_it(
    app, db_session, fake_clock
):
    user = make_user(db_session, "physician")
    attacker = browser(app, "203.0.113.9")
    for number in range(app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"]):
        assert sign_in(attacker, f"guess{number}", WRONG_PASSWORD).status_code == 200
    response = sign_in(attacker, user.username)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.get_data(as_text=True)
    # The account itself is not locked: its owner signs in from another machine.
    assert sign_in(browser(app, "198.51.100.4"), user.username).status_code == 302
    fake_clock.advance(app.config["LOGIN_THROTTLE_WINDOW"] + timedelta(seconds=1))
    assert sign_in(attacker, user.username).status_code == 302


# --- generic login errors ------------------------------------------------------------------


def masked_body(response, username: str) -> str:
    """The page with what legitimately differs (CSRF token, the typed username) blanked."""
    body = response.get_data(as_text=True)
    body = re.sub(r'(name="csrf_token"[^>]*value=")[^"]+"', r'\1CSRF"', body)
    return body.replace(f'value="{username}"', 'value="USERNAME"')


def failed_sign_in(app: Flask, username: str, password: str):
    response = sign_in(browser(app), username, password)
    return response.status_code, masked_body(response, username)


@pytest.mark.parametrize(
    "failure", ["unknown username", "deactivated account", "account without a password"]
)
def test_failed_sign_in_looks_the_same_whatever_the_reason(app, db_session, failure):
    user = make_user(db_session, "physician")
    wrong_password = failed_sign_in(app, user.username, WRONG_PASSWORD)
    assert wrong_password[0] == 200
    assert "Unknown username or wrong password" in wrong_password[1]
    if failure == "unknown username":
        other = failed_sign_in(app, "nobody.by.that.name", WRONG_PASSWORD)
    elif failure == "deactivated account":
        retired = make_user(db_session, "physician")
        accounts.set_active(db_session, retired, False)
        db_session.commit()
        other = failed_sign_in(app, retired.username, PASSWORD)
    else:
        accounts.create_user(db_session, "nopassword", "Nora Nopassword", "physician", None)
        db_session.commit()
        other = failed_sign_in(app, "nopassword", PASSWORD)
    assert other == wrong_password


def test_throttling_looks_the_same_for_unknown_and_real_accounts(app, db_session):
    user = make_user(db_session, "physician")
    for username in (user.username, "nobody.by.that.name"):
        for _ in range(app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]):
            sign_in(browser(app, "192.0.2.1"), username, WRONG_PASSWORD)
    real = failed_sign_in(app, user.username, WRONG_PASSWORD)
    unknown = failed_sign_in(app, "nobody.by.that.name", WRONG_PASSWORD)
    assert real[0] == 429
    assert unknown == real


# --- session fixation ----------------------------------------------------------------------


def test_signing_in_starts_a_new_session(app, client, db_session):
    user = make_user(db_session, "physician")
    token = csrf_token(client)
    before = session_cookie(client)
    response = client.post(
        "/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    after = session_cookie(client)
    assert after != before
    # Nothing planted in the session before sign-in survives it.
    pre_login = decode_session(app, before)
    assert pre_login.get("csrf_token")
    client.get("/")
    assert pre_login["csrf_token"] not in decode_session(app, session_cookie(client)).values()
    # And the cookie from before sign-in does not become a signed-in one.
    planted = browser(app)
    planted.set_cookie(COOKIE, before)
    assert_signed_out(planted)


# --- server-side logout --------------------------------------------------------------------


def test_copied_cookie_is_useless_after_logout(app, client, login):
    login("physician")
    copied = session_cookie(client)
    thief = browser(app)
    thief.set_cookie(COOKIE, copied)
    assert_signed_in(thief)  # a copied cookie is a sign-in until the owner signs out

    sign_out(client)
    assert_signed_out(client)
    replay = browser(app)
    replay.set_cookie(COOKIE, copied)
    assert_signed_out(replay)


# --- deactivation / password change --------------------------------------------------------


def edit_account(admin_browser: FlaskClient, user: StaffUser, **changes: str):
    url = f"/admin/users/{user.id}"
    fields = {"full_name": user.full_name, "role": user.role, "active": "y"}
    fields.update(changes)
    fields = {key: value for key, value in fields.items() if value is not None}
    return admin_browser.post(url, data=admin_form(admin_browser, url, **fields))


@pytest.mark.parametrize(
    "change",
    [
        {"active": None},
        {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        {"role": "manager"},
    ],
    ids=["deactivated", "password changed", "role changed"],
)
def test_account_change_by_an_admin_signs_out_every_browser_of_that_person(app, db_session, change):
    admin = make_user(db_session, "admin")
    user = make_user(db_session, "physician")
    admin_browser = signed_in_browser(app, admin.username)
    desk, laptop = signed_in_browser(app, user.username), signed_in_browser(app, user.username)
    assert_signed_in(desk)
    assert_signed_in(laptop)

    response = edit_account(admin_browser, user, **change)
    assert response.status_code == 302, response.get_data(as_text=True)

    assert_signed_out(laptop)
    assert_signed_out(desk)
    assert_signed_in(admin_browser)


@pytest.mark.parametrize(
    "change",
    [
        lambda session, user: accounts.set_active(session, user, False),
        lambda session, user: accounts.set_password(session, user, NEW_PASSWORD),
    ],
    ids=["deactivated", "password changed"],
)
def test_account_change_by_a_service_signs_out_the_other_browser_at_once(app, db_session, change):
    user = make_user(db_session, "physician")
    first, second = signed_in_browser(app, user.username), signed_in_browser(app, user.username)
    change(db_session, user)
    db_session.commit()
    assert_signed_out(second)
    assert_signed_out(first)


def test_new_password_works_and_old_one_does_not(app, db_session):
    user = make_user(db_session, "physician")
    accounts.set_password(db_session, user, NEW_PASSWORD)
    db_session.commit()
    assert sign_in(browser(app), user.username, PASSWORD).status_code == 200
    assert sign_in(browser(app), user.username, NEW_PASSWORD).status_code == 302


def test_command_line_deactivation_signs_the_person_out(app, runner, db_session):
    user = make_user(db_session, "physician")
    desk = signed_in_browser(app, user.username)
    result = runner.invoke(args=["users", "deactivate", user.username])
    assert result.exit_code == 0, result.output
    assert_signed_out(desk)


# --- idle timeout --------------------------------------------------------------------------


def test_fifteen_idle_minutes_sign_the_user_out(client, login, fake_clock):
    login("physician")
    copied = session_cookie(client)
    fake_clock.advance(minutes=16)
    response = client.get("/")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"
    assert "without activity" in client.get("/login").get_data(as_text=True)
    # The server ended the session too: replayed at a moment its own idle stamp would allow
    # (a minute after sign-in), the old cookie still does not come back to life.
    fake_clock.advance(minutes=-15)
    client.set_cookie(COOKIE, copied)
    assert_signed_out(client)


def test_each_request_restarts_the_idle_clock(client, login, fake_clock):
    login("physician")
    for _ in range(4):  # an hour in all, never fifteen minutes apart
        fake_clock.advance(minutes=14)
        assert_signed_in(client)


def test_idle_timeout_is_configurable(app, client, login, fake_clock, monkeypatch):
    monkeypatch.setitem(app.config, "IDLE_TIMEOUT", timedelta(minutes=5))
    login("physician")
    fake_clock.advance(minutes=4)
    assert_signed_in(client)
    fake_clock.advance(minutes=6)
    assert_signed_out(client)


# --- absolute timeout ----------------------------------------------------------------------


def test_twelve_hours_end_the_session_however_busy_the_user(app, client, login, fake_clock):
    login("physician")
    assert app.config["ABSOLUTE_TIMEOUT"] <= timedelta(hours=12)
    step = timedelta(minutes=10)
    elapsed = timedelta()
    while elapsed + step <= app.config["ABSOLUTE_TIMEOUT"]:
        fake_clock.advance(step)
        elapsed += step
        response = client.get("/")
        assert response.status_code == 200, f"signed out after only {elapsed}"
    fake_clock.advance(step)
    assert_signed_out(client)


# --- cookies -------------------------------------------------------------------------------


def test_session_cookie_is_httponly_samesite_lax_and_not_remembered(client, db_session):
    user = make_user(db_session, "physician")
    assert 'name="remember' not in client.get("/login").get_data(as_text=True)
    response = sign_in(client, user.username)
    assert response.status_code == 302
    cookies = [set_cookie_attributes(h) for h in response.headers.getlist("Set-Cookie")]
    assert [name for name, _ in cookies] == [COOKIE]  # no remember_token
    attributes = cookies[0][1]
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"
    assert "secure" not in attributes  # plain http in tests and development
    # A browser-session cookie: gone when the browser closes.
    assert "expires" not in attributes
    assert "max-age" not in attributes


@pytest.fixture
def production_env(monkeypatch):
    """``CLINIC_ENV=production`` for one test, keeping the test run's password hasher."""
    monkeypatch.setenv("CLINIC_ENV", "production")
    monkeypatch.setattr(accounts.passwords, "hasher", accounts.passwords.hasher)
    monkeypatch.setattr(accounts.passwords, "dummy_hash", accounts.passwords.dummy_hash)


def test_production_cookie_is_secure(production_env, tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'clinic.db'}", str(tmp_path / "instance"))
    assert app.config["ENV_NAME"] == "production"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/login")
    name, attributes = set_cookie_attributes(response.headers["Set-Cookie"])
    assert name == COOKIE
    assert {"secure", "httponly"} <= attributes.keys()
    assert attributes["samesite"] == "Lax"
    # The production app hashes with the production settings.
    parameters = argon2_parameters(accounts.passwords.hash(PASSWORD))
    assert parameters["m"] == config.ProductionConfig.ARGON2_MEMORY_COST_KIB
    assert parameters["t"] == config.ProductionConfig.ARGON2_TIME_COST


@pytest.mark.parametrize("secret_key", [None, "", "too-short-a-key", "change-me"], ids=repr)
def test_production_refuses_to_start_without_a_real_secret_key(
    production_env, tmp_path, secret_key
):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        make_app(
            f"sqlite:///{tmp_path / 'clinic.db'}",
            str(tmp_path / "instance"),
            SECRET_KEY=secret_key,
        )


# --- audit ---------------------------------------------------------------------------------


def test_sign_ins_failures_and_sign_outs_are_audited_with_who_where_and_when(
    app, db_session, fake_clock
):
    user = make_user(db_session, "physician")
    since = last_audit_id(db_session)
    address = "192.0.2.44"
    desk = browser(app, address)
    start = fake_clock.now
    sign_in(desk, user.username, WRONG_PASSWORD)
    sign_in(desk, "nobody.by.that.name", WRONG_PASSWORD)
    fake_clock.advance(minutes=1)
    assert sign_in(desk, user.username).status_code == 302
    fake_clock.advance(minutes=1)
    sign_out(desk)

    rows = audit_rows_since(db_session, since, "login", "login_failed", "logout")
    assert [(row.action, row.actor_name, row.client_address, row.occurred_at) for row in rows] == [
        ("login_failed", user.username, address, start),
        ("login_failed", "nobody.by.that.name", address, start),
        ("login", user.username, address, start + timedelta(minutes=1)),
        ("logout", user.username, address, start + timedelta(minutes=2)),
    ]
    assert [row.actor_id for row in rows if row.action in ("login", "logout")] == [user.id] * 2
    assert rows[0].record_id == str(user.id)
    assert all(row.occurred_at.utcoffset() == timedelta(0) for row in rows)


def test_idle_sign_out_is_audited_against_the_user(client, login, db_session, fake_clock):
    user = login("physician")
    since = last_audit_id(db_session)
    fake_clock.advance(minutes=16)
    assert_signed_out(client)
    rows = audit_rows_since(db_session, since, "logout")
    assert [(row.actor_id, row.record_id) for row in rows] == [(user.id, str(user.id))]


def test_passwords_never_reach_the_audit_trail_or_the_logs(app, db_session, runner, caplog):
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # SQL and its parameters
    caplog.set_level(logging.DEBUG)  # last: it also sets the capturing handler's level
    first = "marker-one cobalt quill 8841"
    second = "marker-two saffron kettle 1907"
    third = "marker-three juniper anvil 6620"
    weak = "marker4abcd"  # 11 characters: refused
    admin = make_user(db_session, "admin")
    since = last_audit_id(db_session)

    admin_browser = signed_in_browser(app, admin.username)
    created = admin_browser.post(
        "/admin/users/new",
        data=admin_form(
            admin_browser,
            "/admin/users/new",
            username="marked",
            full_name="Mark Marked",
            role="physician",
            password=first,
            confirm=first,
        ),
    )
    assert created.status_code == 302
    user = accounts.get_user_by_username(db_session, "marked")
    assert sign_in(browser(app), "marked", first + " typo").status_code == 200
    signed_in_browser(app, "marked", first)
    assert edit_account(admin_browser, user, password=second, confirm=second).status_code == 302
    reset = runner.invoke(
        args=["users", "reset-password", "marked", "--password-stdin"], input=f"{third}\n"
    )
    assert reset.exit_code == 0, reset.output
    refused = runner.invoke(
        args=["users", "reset-password", "marked", "--password-stdin"], input=f"{weak}\n"
    )
    assert refused.exit_code != 0

    markers = ("marker-one", "marker-two", "marker-three", weak)
    rows = audit_rows_since(db_session, since)
    trail = json.dumps(
        [[row.actor_name, row.changes, row.details] for row in rows], ensure_ascii=False
    )
    assert "[redacted]" in trail  # the password changes were audited, without the password
    for marker in markers:
        assert marker not in trail
        assert marker not in caplog.text
        assert marker not in reset.output + refused.output
    db_session.refresh(user)
    assert user.password_hash not in trail


@pytest.mark.parametrize("zone", ["Nowhere/Zone", "", "../etc/passwd"], ids=repr)
def test_an_unknown_clinic_time_zone_stops_the_app_naming_the_setting(tmp_path, zone):
    with pytest.raises(RuntimeError, match="CLINIC_TIMEZONE must be a time zone name"):
        make_app(
            f"sqlite:///{tmp_path / 'clinic.db'}",
            str(tmp_path / "instance"),
            CLINIC_TIMEZONE=zone,
        )


@pytest.mark.parametrize("value", ["notaport", "25.0", "-1", "٢٥"], ids=repr)
def test_a_number_setting_that_is_not_a_number_stops_the_app_naming_it(monkeypatch, value):
    monkeypatch.setenv("MAIL_PORT", value)
    with pytest.raises(RuntimeError, match=r"MAIL_PORT must be a whole number \(not "):
        config._int("MAIL_PORT", 25)
    monkeypatch.setenv("MAIL_PORT", " 2525 ")
    assert config._int("MAIL_PORT", 25) == 2525
