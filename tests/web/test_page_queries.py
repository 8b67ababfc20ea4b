"""No page sends a query that makes SQLite read every booking.

An outer join to a joined-table subclass of ``booking`` (an intervention, a visit) — what an
ORM ``joinedload`` of a relationship to one writes, ``LEFT OUTER JOIN (booking JOIN …)`` — is
answered by SQLite by first reading the whole ``booking`` table into a temporary one. At
50,000 patients that took a patient's page from 12 ms to 0.8 s (benchmarks/pages.py). Such a
relationship is loaded by its own query (``selectinload``) or through an inner join already
in the statement (``contains_eager``) instead. The test reads the SQL text, so it holds on
both databases and at any size.
"""

import re

import pytest
from sqlalchemy import event

from clinic.extensions import db
from tests.pages import ACTION, PAGES

OUTER_JOIN_TO_A_BOOKING_SUBCLASS = re.compile(r"LEFT OUTER JOIN \((booking|intervention|visit)\b")
ROLE_ORDER = ("front_desk", "physician", "manager", "admin")
VISITED = [page for page in PAGES if page.kind != ACTION]


@pytest.mark.parametrize("page", VISITED, ids=[page.endpoint for page in VISITED])
def test_no_page_outer_joins_a_booking_subclass(app, client, login, page_records, page):
    login(next(role for role in ROLE_ORDER if role in page.roles))
    sent: list[str] = []

    def keep(conn, cursor, statement, *args) -> None:
        sent.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", keep)
    try:
        for url in page.examples(page_records):
            assert client.get(url).status_code < 500, url
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    offending = [
        " ".join(s.split())[:300] for s in sent if OUTER_JOIN_TO_A_BOOKING_SUBCLASS.search(s)
    ]
    assert not offending, offending
