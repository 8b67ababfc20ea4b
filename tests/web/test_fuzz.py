"""Hostile input to every page, for every role, on both databases: never a server error, and
never an unescaped echo of what was sent (docs/rules.md: a bad parameter is a 4xx that says what
to fix).

The pages come from the one list of pages (tests/pages.py). For each page a role may open, the
test finds the page's query parameters — every name the request's parameters are asked for
while the page is drawn (by the view, the helpers it calls, the forms it fills), those of the
forms it draws, and those of its example URLs — and sends each of them the values most likely
to break a parser or leak back (script, NUL, out-of-range numbers and dates, a long string),
then the rest of the hostile values spread over them. For a form page it posts every field of
the form with each hostile value at once (with a valid CSRF token, so the value reaches the
form and the services behind it).
"""

import re
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from werkzeug.datastructures import ImmutableMultiDict

from clinic.models import ROLES
from tests.helpers.app import csrf_token
from tests.helpers.forms import drawn_forms
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
    "0000001000000000000000000",  # leading zeros in front of a number past any column
    "1" + "0" * 5000,  # past int's 4,300 digits
    "²",  # a digit to str.isdigit, not to int
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
# Sent to every query parameter of every page; the other values are spread over them.
EVERY_PARAMETER = (
    MARKER,
    "a\x00b",
    "9223372036854775808",
    "0000001000000000000000000",
    "9999-12-31",
    "x" * 5000,
)
FIELD = re.compile(r"""<(?:input|select|textarea)\b[^>]*\bname="([^"]+)\"""")
GET_FORM = re.compile(r"""<form\b(?![^>]*method="post")[^>]*>(.*?)</form>""", re.S | re.I)
POST_FORM = re.compile(r"""<form\b[^>]*method="post"[^>]*>(.*?)</form>""", re.S | re.I)
NOT_SENT = {"csrf_token"}


class AskedParameters(ImmutableMultiDict):
    """A request's parameters that note every name they are asked for, whoever asks."""

    asked: set[str] = set()

    def _note(self, key) -> None:
        if isinstance(key, str):
            AskedParameters.asked.add(key)

    def get(self, key, *args, **kwargs):
        self._note(key)
        return super().get(key, *args, **kwargs)

    def getlist(self, key, *args, **kwargs):
        self._note(key)
        return super().getlist(key, *args, **kwargs)

    def __getitem__(self, key):
        self._note(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        self._note(key)
        return super().__contains__(key)


def asked_parameters(client, url: str) -> set[str]:
    """The query parameters the page asks for while it is drawn (with one unknown parameter
    given, so that a form filled only from a non-empty query is filled too)."""
    AskedParameters.asked = set()
    separator = "&" if "?" in url else "?"
    response = client.get(f"{url}{separator}fuzz_probe=1")
    assert response.status_code < 500, url
    return AskedParameters.asked - {"fuzz_probe"}


def form_fields(html: str, pattern: re.Pattern) -> set[str]:
    return {name for body in pattern.findall(html) for name in FIELD.findall(body)} - NOT_SENT


def assert_handled(response, sent: str) -> None:
    """No server error, and what was sent comes back escaped if at all."""
    assert response.status_code < 500, (response.status_code, sent)
    if response.mimetype == "text/html":
        assert MARKER not in response.get_data(as_text=True), sent


@pytest.fixture
def hostile_client(app, client, login, page_records, monkeypatch):
    """``visit(role)``: the pages ``role`` may open, with their example URLs, signed in; every
    request's parameters note the names they are asked for (``asked_parameters``)."""
    monkeypatch.setattr(app.request_class, "parameter_storage_class", AskedParameters)

    def visit(role: str):
        login(role)
        # Downloads and images too: a chart's filters and a CSV export's are parameters of
        # their own, which its page's links hold but the page does not ask for.
        for page in pages_for(role, (HTML, FORM, FILE)):
            yield page, page.example(page_records)

    return visit


@pytest.mark.parametrize("role", ROLES)
def test_hostile_query_parameters_get_a_4xx_or_the_page_never_a_5xx(
    client, hostile_client, page_records, role
):
    for page, url in hostile_client(role):
        first = client.get(url)
        assert first.status_code < 500, url
        drawn = set()
        if first.mimetype == "text/html":
            drawn = form_fields(first.get_data(as_text=True), GET_FORM)
        # Each example URL (a variant may lead the view elsewhere, e.g. a status's whole list
        # and its pages), with its own parameters kept and one of them, or another, made hostile.
        for example in page.examples(page_records):
            names = sorted(asked_parameters(client, example) | drawn)
            parts = urlsplit(example)
            kept = dict(parse_qsl(parts.query))
            rest = [value for value in HOSTILE if value not in EVERY_PARAMETER]
            sends = [(name, value) for name in names for value in EVERY_PARAMETER]
            sends += [(names[i % len(names)], value) for i, value in enumerate(rest) if names]
            for name, value in sends:
                sent = f"{parts.path}?{urlencode({**kept, name: value})}"
                assert_handled(client.get(sent), sent)


@pytest.mark.parametrize("role", ROLES)
def test_hostile_form_fields_get_a_message_never_a_5xx(
    app, client, hostile_client, page_records, role
):
    for page, _ in hostile_client(role):
        if page.kind != FORM:
            continue
        for url in page.examples(page_records):  # e.g. completing a visit, and a procedure
            html = client.get(url).get_data(as_text=True)
            fields = form_fields(html, POST_FORM)
            if not fields:
                continue
            for value in HOSTILE:
                data = {name: value for name in fields}
                data["csrf_token"] = csrf_token(client, url)
                assert_handled(client.post(url, data=data), f"POST {url} all fields = {value!r}")


@pytest.mark.parametrize("role", ROLES)
def test_hostile_posts_to_actions_never_give_a_5xx(client, hostile_client, page_records, role):
    # An action (a button's form on another page) gets every field of every form the role's
    # pages draw, each hostile value in all of them at once.
    fields = set()
    for _, url in hostile_client(role):
        response = client.get(url)
        if response.mimetype == "text/html":
            fields |= form_fields(response.get_data(as_text=True), POST_FORM)
    token = csrf_token(client, "/patients")
    for page in pages_for(role, (ACTION,)):
        url = page.example(page_records)
        for value in HOSTILE:
            data = {name: value for name in fields}
            data["csrf_token"] = token
            assert_handled(client.post(url, data=data), f"POST {url} = {value!r}")


# One field made odd, the others as the page drew them (those drawn empty typed in as a clerk
# would): the odd value then reaches the code behind the form's other checks, where a post with
# every field hostile stops at the first refusal. That is how a call-list score for the year
# 9999 was saved and then answered with a server error.
ODD = (
    MARKER,
    "a\x00b",
    "-1",
    "²",
    "0000001000000000000000000",
    "1" + "0" * 5000,
    "9999-12-31",
    "0001-01-01",
)
NOT_POSTED = ("/logout",)  # signing out would end the test's session


@pytest.mark.parametrize("role", ROLES)
def test_one_hostile_field_with_the_rest_as_drawn_never_gives_a_5xx(
    client, hostile_client, page_records, role
):
    posted = set()
    for _, url in hostile_client(role):
        response = client.get(url)
        if response.mimetype != "text/html":
            continue
        for form in drawn_forms(response.get_data(as_text=True), f"http://localhost{url}"):
            action = urlsplit(form.action)
            path = action.path + (f"?{action.query}" if action.query else "")
            if action.path in posted or action.path in NOT_POSTED:
                continue  # each action once: the first form that posts to it
            posted.add(action.path)
            for name in sorted(set(form.values) - NOT_SENT):
                for value in ODD:
                    sent = f"POST {path} {name}={value[:24]!r}"
                    assert_handled(client.post(path, data={**form.values, name: value}), sent)
    assert posted, "no form was posted"
    assert client.get("/").status_code == 200, "the role was signed out on the way"
