"""Hostile input to every page, for every role, on both databases: never a server error, and
never an unescaped echo of what was sent (docs/rules.md: a bad parameter is a 4xx that says what
to fix).

The pages come from the one list of pages (tests/pages.py). For each page a role may open, the
test sends each hostile value once, spread over the page's query parameters — those its view
reads (found in the view's source) and those of the forms it draws — and, for a form page,
posts every field of the form with each hostile value at once (with a valid CSRF token, so the
value reaches the form and the services behind it).
"""

import inspect
import re
from itertools import cycle
from urllib.parse import urlencode, urlsplit

import pytest

from clinic.models import ROLES
from tests.helpers.app import csrf_token
from tests.pages import ACTION, FILE, FORM, HTML, pages_for

MARKER = "<script>fuzz()</script>"
HOSTILE = (
    MARKER,
    "'\";--",
    "",
    " ",
    "-1",
    "0",
    "2147483648",
    "9223372036854775808",
    "1e309",
    "NaN",
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "2026-13",
    "25:61",
    "a\x00b",
    "\x1b[31m",
    "\u202egnp.exe",
    "../../etc/passwd",
    "x" * 5000,
)
# Query parameters every view reads, as they appear in the source (``request.args.get("q")``,
# ``date_arg("date")``, ``_id_arg("referral_id")``).
ARG_IN_SOURCE = re.compile(r"""(?:args\.get|_arg)\(\s*["']([a-z_]+)["']""")
FIELD = re.compile(r"""<(?:input|select|textarea)\b[^>]*\bname="([^"]+)\"""")
GET_FORM = re.compile(r"""<form\b(?![^>]*method="post")[^>]*>(.*?)</form>""", re.S | re.I)
POST_FORM = re.compile(r"""<form\b[^>]*method="post"[^>]*>(.*?)</form>""", re.S | re.I)
NOT_SENT = {"csrf_token"}


def view_parameters(app, endpoint: str) -> set[str]:
    """The query parameters the endpoint's module reads."""
    module = inspect.getmodule(app.view_functions[endpoint])
    return set(ARG_IN_SOURCE.findall(inspect.getsource(module)))


def form_fields(html: str, pattern: re.Pattern) -> set[str]:
    return {name for body in pattern.findall(html) for name in FIELD.findall(body)} - NOT_SENT


def assert_handled(response, sent: str) -> None:
    """No server error, and what was sent comes back escaped if at all."""
    assert response.status_code < 500, (response.status_code, sent)
    if response.mimetype == "text/html":
        assert MARKER not in response.get_data(as_text=True), sent


@pytest.fixture
def hostile_client(client, login, page_records):
    """``visit(role)``: the pages ``role`` may open, with their example URLs, signed in."""

    def visit(role: str):
        login(role)
        # Downloads and images of a page are fuzzed through the page itself, but for the CSV
        # exports, whose filters are parameters of their own.
        for page in pages_for(role, (HTML, FORM, FILE)):
            if page.kind == FILE and not page.url.startswith("/exports/"):
                continue
            yield page, page.example(page_records)

    return visit


@pytest.mark.parametrize("role", ROLES)
def test_hostile_query_parameters_get_a_4xx_or_the_page_never_a_5xx(
    app, client, hostile_client, role
):
    for page, url in hostile_client(role):
        first = client.get(url)
        assert first.status_code < 500, url
        names = view_parameters(app, page.endpoint)
        if first.mimetype == "text/html":
            names |= form_fields(first.get_data(as_text=True), GET_FORM)
        names |= {key for variant in page.variants for key in _query_names(variant)}
        if not names:
            continue
        path = urlsplit(url).path
        for value, name in zip(HOSTILE, cycle(sorted(names)), strict=False):
            sent = f"{path}?{urlencode({name: value})}"
            assert_handled(client.get(sent), sent)


@pytest.mark.parametrize("role", ROLES)
def test_hostile_form_fields_get_a_message_never_a_5xx(app, client, hostile_client, role):
    for page, url in hostile_client(role):
        if page.kind != FORM:
            continue
        html = client.get(url).get_data(as_text=True)
        fields = form_fields(html, POST_FORM)
        if not fields:
            continue
        for value in HOSTILE:
            data = {name: value for name in fields}
            data["csrf_token"] = csrf_token(client, url)
            assert_handled(client.post(url, data=data), f"POST {url} all fields = {value!r}")


@pytest.mark.parametrize("role", ROLES)
def test_hostile_posts_to_actions_never_give_a_5xx(client, login, page_records, role):
    login(role)
    token = csrf_token(client, "/patients")
    for page in pages_for(role, (ACTION,)):
        url = page.example(page_records)
        for value in HOSTILE:
            data = {
                name: value
                for name in (
                    "status",
                    "reason",
                    "version",
                    "outcome",
                    "intervention_id",
                    "due_on",
                    "nrs",
                    "percent_relief",
                    "attempts",
                    "return_to",
                    "token",
                )
            }
            data["csrf_token"] = token
            assert_handled(client.post(url, data=data), f"POST {url} = {value!r}")


def _query_names(url: str) -> list[str]:
    query = urlsplit(url).query
    return [part.split("=", 1)[0] for part in query.split("&") if part]
