"""Access control: every route, every role, checked on the server (docs/rules.md, Roles).

The matrix is the list of pages in tests/pages.py. A route added to the app without an entry
there fails ``test_every_route_is_in_the_matrix``, so nobody ships a page without deciding who
may see it.
"""

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from clinic.extensions import db
from clinic.models import ROLES, AuditEvent
from tests.helpers.app import csrf_token
from tests.pages import (
    ACTION,
    BY_ENDPOINT,
    FORM,
    PAGES,
    PUBLIC_ENDPOINTS,
    PUBLIC_URLS,
    SAMPLE_IDS,
    STATIC_ENDPOINTS,
)

# Pages whose GET renders a form and whose POST saves it; any other rule that accepts a
# state-changing method must refuse GET.
FORM_PAGES = {"auth.login"} | {page.endpoint for page in PAGES if page.kind == FORM}
MUTATING_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

ALLOWED = [(page.endpoint, role) for page in PAGES for role in ROLES if role in page.roles]
REFUSED = [(page.endpoint, role) for page in PAGES for role in ROLES if role not in page.roles]


def case_id(case: tuple[str, str]) -> str:
    return f"{case[0]}-{case[1]}"


@pytest.fixture
def records(page_records) -> dict[str, int]:
    """The records the page list's URLs point at (tests/conftest.py: ``page_records``)."""
    return page_records


def url_for_endpoint(endpoint: str, records: dict[str, int]) -> str:
    return BY_ENDPOINT[endpoint].example(records)


def takes_get(app, endpoint: str) -> bool:
    return any("GET" in rule.methods for rule in app.url_map.iter_rules(endpoint))


def get_endpoints(app) -> list[str]:
    return [page.endpoint for page in PAGES if takes_get(app, page.endpoint)]


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
        {rule.endpoint for rule in app.url_map.iter_rules()} - PUBLIC_ENDPOINTS - set(BY_ENDPOINT)
    )
    assert not missing, (
        f"routes without an entry in PAGES in tests/pages.py (decide which roles may use them): "
        f"{missing}"
    )


def test_matrix_names_only_routes_that_exist(app):
    adapter = app.url_map.bind("localhost")
    for page in PAGES:
        method = "GET" if takes_get(app, page.endpoint) else "POST"
        for concrete in page.examples(SAMPLE_IDS):
            matched, _ = adapter.match(urlsplit(concrete).path, method=method)
            assert matched == page.endpoint, f"{concrete} reaches {matched}, not {page.endpoint}"
        assert (page.kind == ACTION) == (method == "POST"), (
            f"{page.endpoint}: a POST-only route is an ACTION, and an ACTION is POST-only"
        )


@pytest.mark.parametrize(("endpoint", "role"), ALLOWED, ids=map(case_id, ALLOWED))
def test_allowed_role_gets_the_page(app, client, login, records, endpoint, role):
    login(role)
    response = request_matrix_url(app, client, endpoint, records)
    if takes_get(app, endpoint):
        assert response.status_code == 200
        for url in BY_ENDPOINT[endpoint].examples(records)[1:]:
            assert client.get(url).status_code == 200, url
    else:
        assert response.status_code not in (401, 403) and response.status_code < 500


@pytest.mark.parametrize(("endpoint", "role"), REFUSED, ids=map(case_id, REFUSED))
def test_other_roles_are_refused_with_403(app, client, login, records, endpoint, role):
    login(role)
    response = request_matrix_url(app, client, endpoint, records)
    assert response.status_code == 403


@pytest.mark.parametrize("endpoint", list(BY_ENDPOINT))
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
    """Every row of every table except the append-only audit trail and derived caches."""
    db_session.expire_all()
    contents = {}
    for table in db.metadata.sorted_tables:
        if table.name == "audit_event" or table.info.get("cache"):
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
    known = {**PUBLIC_URLS, **{page.endpoint: page.url for page in PAGES}}
    post_only = [
        rule for rule in rules(app) if rule.methods & MUTATING_METHODS and "GET" not in rule.methods
    ]
    assert any(rule.endpoint == "auth.logout" for rule in post_only)
    for rule in post_only:
        url = known[rule.endpoint].format(**records)
        assert client.get(url).status_code == 405, rule.endpoint
