"""Access control: every route, every role, checked on the server (DESIGN.md section 7).

ROUTE_ROLES is the matrix. A route added to the app without an entry here fails
``test_every_route_is_in_the_matrix``, so nobody ships a page without deciding who may see it.
"""

from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from clinic.extensions import db
from clinic.models import ROLES, AuditEvent, ScsDevice
from tests.conftest import csrf_token, make_user
from tests.factories import PatientFactory, ReferralFactory, VisitFactory

ALL = frozenset(ROLES)
# Every role reads the referral pipeline and the schedule (DESIGN.md section 7).
CLINICAL = frozenset({"front_desk", "physician", "manager", "admin"})
# Booking and changing bookings: the front desk and physicians (section 1: managers never
# edit clinical records, administrators keep accounts).
SCHEDULERS = frozenset({"front_desk", "physician"})
# Registering and editing patients: the front desk, physicians, and administrators (who alone
# may correct an MRN); managers read.
REGISTRARS = frozenset({"front_desk", "physician", "admin"})

# endpoint -> (a concrete URL, the roles allowed). ``{patient_id}``, ``{user_id}`` and
# ``{booking_id}`` are filled from records the test creates. Routes that only take POST are
# tried with a POST carrying a CSRF token and no form data (which must change nothing).
ROUTE_ROLES: dict[str, tuple[str, frozenset[str]]] = {
    "dashboard.home": ("/", ALL),
    "patients.index": ("/patients", ALL),
    "patients.show": ("/patients/{patient_id}", ALL),
    "patients.new": ("/patients/new", REGISTRARS),
    "patients.edit": ("/patients/{patient_id}/edit", REGISTRARS),
    "patients.archive": ("/patients/{patient_id}/archive", REGISTRARS),
    "referrals.index": ("/referrals", CLINICAL),
    "referrals.new": ("/referrals/new", SCHEDULERS),
    "referrals.show": ("/referrals/{referral_id}", CLINICAL),
    "referrals.move": ("/referrals/{referral_id}/status", SCHEDULERS),
    "scheduling.index": ("/schedule", CLINICAL),
    "scheduling.new": ("/schedule/new", SCHEDULERS),
    "scheduling.show": ("/schedule/bookings/{booking_id}", CLINICAL),
    "scheduling.reschedule": ("/schedule/bookings/{booking_id}/reschedule", SCHEDULERS),
    "scheduling.change_status": ("/schedule/bookings/{booking_id}/status", SCHEDULERS),
    "procedures.complete": ("/schedule/bookings/{booking_id}/complete", frozenset({"physician"})),
    "procedures.new_score": ("/patients/{patient_id}/pain-scores/new", SCHEDULERS),
    "procedures.pain_chart": ("/patients/{patient_id}/pain-chart.svg", ALL),
    "followup.index": ("/worklist", frozenset({"front_desk", "physician"})),
    "followup.record_score": ("/worklist/score", frozenset({"front_desk", "physician"})),
    "followup.record_attempt": ("/worklist/attempt", frozenset({"front_desk", "physician"})),
    # Sharing a record as FHIR: physicians and administrators (issue 6).
    "fhir.patient_bundle": ("/patients/{patient_id}/fhir.json", frozenset({"physician", "admin"})),
    # Spinal cord stimulators: physicians write; everyone who reads the record reads them.
    "devices.history": ("/patients/{patient_id}/stimulator", ALL),
    "devices.new": ("/patients/{patient_id}/devices/new", frozenset({"physician"})),
    "devices.edit": ("/devices/{device_id}/edit", frozenset({"physician"})),
    "devices.explant": ("/devices/{device_id}/explant", frozenset({"physician"})),
    "devices.new_adjustment": ("/devices/{device_id}/adjustments/new", frozenset({"physician"})),
    "devices.visit_programming": (
        "/devices/visits/{booking_id}/programming",
        frozenset({"physician"}),
    ),
    "relief.relief": ("/reports/relief", frozenset({"physician", "manager", "admin"})),
    "relief.relief_chart": (
        "/reports/relief/chart.svg",
        frozenset({"physician", "manager", "admin"}),
    ),
    "exports.index": ("/exports", frozenset({"manager", "admin"})),
    "exports.download": ("/exports/patients.csv", frozenset({"manager", "admin"})),
    "imports.index": ("/imports", frozenset({"manager", "admin"})),
    "imports.preview": ("/imports/preview", frozenset({"manager", "admin"})),
    "imports.confirm": ("/imports/confirm", frozenset({"manager", "admin"})),
    "admin.users": ("/admin/users", frozenset({"admin"})),
    "admin.new_user": ("/admin/users/new", frozenset({"admin"})),
    "admin.edit_user": ("/admin/users/{user_id}", frozenset({"admin"})),
    "admin.rooms": ("/admin/rooms", frozenset({"admin"})),
    "admin.edit_room": ("/admin/rooms/new", frozenset({"admin"})),
    "admin.procedures": ("/admin/procedures", frozenset({"admin"})),
    "admin.edit_procedure": ("/admin/procedures/new", frozenset({"admin"})),
    "admin.eligibility_rules": ("/admin/eligibility-rules", frozenset({"admin"})),
    "admin.edit_eligibility_rule": ("/admin/eligibility-rules/1", frozenset({"admin"})),
}

# Served to anyone: static files, and signing in and out.
PUBLIC_URLS = {"auth.login": "/login", "auth.logout": "/logout"}
STATIC_ENDPOINTS = {"static", "bootstrap.static"}
PUBLIC_ENDPOINTS = STATIC_ENDPOINTS | set(PUBLIC_URLS)

# Pages whose GET renders a form and whose POST saves it; any other rule that accepts a
# state-changing method must refuse GET.
FORM_PAGES = {
    "auth.login",
    "patients.new",
    "patients.edit",
    "referrals.new",
    "admin.new_user",
    "admin.edit_user",
    "admin.edit_room",
    "admin.edit_procedure",
    "admin.edit_eligibility_rule",
    "scheduling.new",
    "scheduling.reschedule",
    "devices.new",
    "devices.edit",
    "devices.explant",
    "devices.new_adjustment",
    "procedures.complete",
    "procedures.new_score",
}
MUTATING_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

ALLOWED = [
    (endpoint, role)
    for endpoint, (_, roles) in ROUTE_ROLES.items()
    for role in ROLES
    if role in roles
]
REFUSED = [
    (endpoint, role)
    for endpoint, (_, roles) in ROUTE_ROLES.items()
    for role in ROLES
    if role not in roles
]


def case_id(case: tuple[str, str]) -> str:
    return f"{case[0]}-{case[1]}"


@pytest.fixture
def records(db_session) -> dict[str, int]:
    """The records the matrix URLs point at: a patient, a staff account and a booking."""
    patient = PatientFactory()
    staff = make_user(db_session, "front_desk")
    booking = VisitFactory(patient=patient)
    device = ScsDevice(
        patient=patient,
        manufacturer="Abbott",
        model="Proclaim XR",
        serial_number="MATRIX-0001",
        implanted_on=date(2024, 1, 15),
    )
    db_session.add(device)
    referral = ReferralFactory(patient=patient)
    db_session.commit()
    return {
        "patient_id": patient.id,
        "user_id": staff.id,
        "booking_id": booking.id,
        "device_id": device.id,
        "referral_id": referral.id,
    }


SAMPLE_IDS = {"device_id": 1, "patient_id": 1, "user_id": 1, "booking_id": 1, "referral_id": 1}


def url_for_endpoint(endpoint: str, records: dict[str, int]) -> str:
    url, _ = ROUTE_ROLES[endpoint]
    return url.format(**records)


def takes_get(app, endpoint: str) -> bool:
    return any("GET" in rule.methods for rule in app.url_map.iter_rules(endpoint))


def get_endpoints(app) -> list[str]:
    return [endpoint for endpoint in ROUTE_ROLES if takes_get(app, endpoint)]


def request_matrix_url(app, client, endpoint: str, records: dict[str, int]):
    """GET the page; a POST-only route gets an empty form with a valid CSRF token."""
    url = url_for_endpoint(endpoint, records)
    if takes_get(app, endpoint):
        return client.get(url)
    signed_in = client.get("/login").status_code == 302
    token = csrf_token(client, "/" if signed_in else "/login")
    return client.post(url, data={"csrf_token": token})


def rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint not in STATIC_ENDPOINTS]


def test_every_route_is_in_the_matrix(app):
    missing = sorted(
        {rule.endpoint for rule in app.url_map.iter_rules()} - PUBLIC_ENDPOINTS - set(ROUTE_ROLES)
    )
    assert not missing, (
        f"routes without an entry in ROUTE_ROLES (decide which roles may use them): {missing}"
    )


def test_matrix_names_only_routes_that_exist(app):
    adapter = app.url_map.bind("localhost")
    for endpoint, (url, _) in ROUTE_ROLES.items():
        concrete = url.format(**SAMPLE_IDS)
        method = "GET" if takes_get(app, endpoint) else "POST"
        matched, _ = adapter.match(concrete, method=method)
        assert matched == endpoint, f"{concrete} reaches {matched}, not {endpoint}"


@pytest.mark.parametrize(("endpoint", "role"), ALLOWED, ids=map(case_id, ALLOWED))
def test_allowed_role_gets_the_page(app, client, login, records, endpoint, role):
    login(role)
    response = request_matrix_url(app, client, endpoint, records)
    if takes_get(app, endpoint):
        assert response.status_code == 200
    else:
        assert response.status_code not in (401, 403) and response.status_code < 500


@pytest.mark.parametrize(("endpoint", "role"), REFUSED, ids=map(case_id, REFUSED))
def test_other_roles_are_refused_with_403(app, client, login, records, endpoint, role):
    login(role)
    response = request_matrix_url(app, client, endpoint, records)
    assert response.status_code == 403


@pytest.mark.parametrize("endpoint", list(ROUTE_ROLES))
def test_anonymous_visitor_is_sent_to_login_with_next(app, client, records, endpoint):
    url = url_for_endpoint(endpoint, records)
    response = request_matrix_url(app, client, endpoint, records)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    if takes_get(app, endpoint):
        assert parse_qs(location.query)["next"] == [url]


def test_anonymous_visitor_keeps_the_query_in_next(client):
    response = client.get("/patients?q=smith")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == ["/patients?q=smith"]


def test_refused_request_writes_an_access_denied_audit_row(client, login, db_session):
    user = login("front_desk")
    response = client.get("/admin/users")
    assert response.status_code == 403
    rows = (
        db_session.execute(
            select(AuditEvent).where(
                AuditEvent.action == "access_denied", AuditEvent.actor_id == user.id
            )
        )
        .scalars()
        .all()
    )
    assert len(rows) == 1
    assert rows[0].details["path"] == "/admin/users"
    assert rows[0].details["method"] == "GET"
    assert rows[0].occurred_at is not None


def test_allowed_request_writes_no_access_denied_row(client, login, db_session):
    user = login("admin")
    assert client.get("/admin/users").status_code == 200
    denied = db_session.execute(
        select(AuditEvent).where(
            AuditEvent.action == "access_denied", AuditEvent.actor_id == user.id
        )
    ).all()
    assert denied == []


def snapshot(db_session) -> dict[str, list[tuple]]:
    """Every row of every table except the append-only audit trail."""
    db_session.expire_all()
    contents = {}
    for table in db.metadata.sorted_tables:
        if table.name == "audit_event":
            continue
        statement = select(table).order_by(*table.primary_key.columns)
        contents[table.name] = [tuple(row) for row in db_session.execute(statement)]
    return contents


@pytest.mark.parametrize("role", ROLES)
def test_get_changes_nothing(client, login, records, db_session, role):
    login(role)
    before = snapshot(db_session)
    audit_before = db_session.execute(select(AuditEvent.id)).scalars().all()
    for endpoint in get_endpoints(client.application):
        response = client.get(url_for_endpoint(endpoint, records))
        assert response.status_code in (200, 403), endpoint
    after = snapshot(db_session)
    for table in before:
        assert len(after[table]) == len(before[table]), f"GET changed the row count of {table}"
        assert after[table] == before[table], f"GET changed rows of {table}"
    # The trail may grow by the reads (views, downloads) it records, and nothing else.
    new_actions = set(
        db_session.execute(
            select(AuditEvent.action).where(AuditEvent.id.not_in(audit_before))
        ).scalars()
    )
    assert new_actions <= {"view", "access_denied", "export"}


def test_state_changing_rules_answer_get_only_on_form_pages(app):
    offenders = sorted(
        rule.endpoint
        for rule in rules(app)
        if rule.methods & MUTATING_METHODS
        and "GET" in rule.methods
        and rule.endpoint not in FORM_PAGES
    )
    assert not offenders, f"these routes change state yet answer GET: {offenders}"


def test_logout_refuses_get_with_405(client, login):
    login("front_desk")
    response = client.get("/logout")
    assert response.status_code == 405
    # Still signed in: a link or an <img src="/logout"> cannot sign anyone out.
    assert client.get("/").status_code == 200


def test_every_post_only_rule_refuses_get_with_405(app, client, records):
    known = {**PUBLIC_URLS, **{endpoint: url for endpoint, (url, _) in ROUTE_ROLES.items()}}
    post_only = [
        rule for rule in rules(app) if rule.methods & MUTATING_METHODS and "GET" not in rule.methods
    ]
    assert any(rule.endpoint == "auth.logout" for rule in post_only)
    for rule in post_only:
        url = known[rule.endpoint].format(**records)
        assert client.get(url).status_code == 405, rule.endpoint
