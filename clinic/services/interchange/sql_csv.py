"""CSV records written by PostgreSQL itself, for the plain exports: each record one text value.

A plain export (``patients``, ``interventions``, ``pain-scores``, ``referrals``, ``schedule``,
``stimulator-adjustments``) is one SELECT whose columns are its CSV columns. In Python each of
its cells is formatted by ``csvio.cell`` and quoted by the ``csv`` module; on PostgreSQL the
SELECT is rewritten so that its one column is the whole record as ``csv.writer`` would write
it, and Python only reads those records from a server-side cursor, a batch at a time, and joins
them into chunks. At hundreds of thousands of rows that is several times faster than fetching
the values and formatting each cell, and faster than ``COPY … TO STDOUT`` too, which hands
Python one message per record (README, Performance).

How each value is written, by the SQL type of its column (``csvio`` has the rules):

- text: a leading ``'`` when it begins with a formula character (= + - @ tab CR LF; PostgreSQL
  text holds no NUL); empty text as an empty cell;
- whole numbers and decimals: as PostgreSQL writes them (``3.50`` for a NUMERIC(5,2), as
  Python's ``str(Decimal)``);
- booleans: ``true`` / ``false``;
- dates: ``YYYY-MM-DD``; timestamps: ``YYYY-MM-DDTHH:MM`` in the clinic's zone; a timestamp
  marked ``ClinicDay``: its date on the clinic's calendar;
- a NULL: an empty cell.

A cell is quoted exactly when ``csv.writer`` with ``QUOTE_MINIMAL`` quotes it: it holds a comma,
a double quote, a CR or an LF; its quotes are doubled. Cells are joined by commas and each record
ends CRLF, as the exports' records do. The tests write every plain export both ways on
PostgreSQL, over awkward text, and compare the bytes.
"""

import itertools
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Integer,
    Numeric,
    Select,
    String,
    Text,
    case,
    cast,
    func,
    literal,
)
from sqlalchemy.orm import Session

from clinic.models.base import UTCDateTime
from clinic.services.interchange.csvio import FORMULA_STARTS
from clinic.services.planning import plan_for_every_row


class ClinicDay(UTCDateTime):
    """A UTC timestamp exported as its date on the clinic's calendar (``visited_on``)."""

    cache_ok = True


# The code points of the formula characters; PostgreSQL text holds no NUL, so not that one.
_FORMULA_CODES = [ord(start) for start in FORMULA_STARTS if start != "\0"]
_DAY = "YYYY-MM-DD"
_MINUTE = 'YYYY-MM-DD"T"HH24:MI'
# A cell holding one of these is quoted (csv.writer, QUOTE_MINIMAL, records ending CRLF).
_NEEDS_QUOTES = '[",\r\n]'
# Records read from the server-side cursor at a time: memory holds about this many (a few
# hundred kB). Each read is a round trip: 360,000 pain scores took 1.0 s a thousand at a time,
# 0.65 s five thousand at a time.
BATCH_RECORDS = 5000
_CURSOR_NUMBERS = itertools.count(1)


def text_value(value: ColumnElement) -> ColumnElement:
    """SQL for a text column's value as the CSV cell holds it: formula-safe."""
    # ascii() is the code point of the first character: far cheaper than comparing substrings.
    return case((func.ascii(value).in_(_FORMULA_CODES), "'" + value), else_=value)


def quoted(value: ColumnElement) -> ColumnElement:
    """SQL for a text cell as ``csv.writer`` writes it: in quotes, its quotes doubled, when it
    holds a comma, a quote, a CR or an LF; empty for NULL."""
    return case(
        (value.regexp_match(_NEEDS_QUOTES), '"' + func.replace(value, '"', '""') + '"'),
        else_=func.coalesce(value, ""),
    )


def sql_cell(column: ColumnElement, zone: ZoneInfo) -> ColumnElement:
    """SQL for one column of a plain export as its CSV cell (see the module's rules)."""
    kind = column.type
    if isinstance(kind, ClinicDay):
        value = func.to_char(func.timezone(zone.key, column), _DAY)
    elif isinstance(kind, UTCDateTime | DateTime):
        value = func.to_char(func.timezone(zone.key, column), _MINUTE)
    elif isinstance(kind, Date):
        value = func.to_char(column, _DAY)
    elif isinstance(kind, Boolean):
        value = case((column, "true"), (column.is_(False), "false"))
    elif isinstance(kind, Integer | Numeric):
        value = cast(column, Text)
    elif isinstance(kind, String):
        return quoted(text_value(column))
    else:
        raise TypeError(f"no CSV cell for {column} of type {kind!r}")
    # Dates, numbers and booleans never hold a comma, a quote or a line break.
    return func.coalesce(value, "")


def records(statement: Select, zone: ZoneInfo) -> Select:
    """``statement`` with its columns made into one: the CSV record, CRLF at its end."""
    cells = [sql_cell(column, zone) for column in statement.selected_columns]
    record: ColumnElement = cells[0]
    for cell in cells[1:]:
        record = record + "," + cell
    return statement.with_only_columns((record + literal("\r\n")).label("record"))


def chunks(
    session: Session, statement: Select, zone: ZoneInfo, chunk_chars: int
) -> Iterator[tuple[str, int]]:
    """The CSV records of ``statement`` (no header), in chunks of about ``chunk_chars``, each with
    the number of records in it. PostgreSQL only.

    Read through psycopg's own server-side cursor, ``BATCH_RECORDS`` at a time: each record is
    one string already, so nothing of SQLAlchemy's row handling is needed (it cost as much as the
    query). The statement is planned for reading every row (``plan_for_every_row``).
    """
    plan_for_every_row(session)
    sql = str(
        records(statement, zone).compile(
            dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
        )
    )
    # A name of its own: two exports may be open on one connection (a download not yet closed).
    cursor = session.connection().connection.dbapi_connection.cursor(
        name=f"clinic_csv_{next(_CURSOR_NUMBERS)}"
    )
    try:
        cursor.execute(sql)
        pending: list[str] = []
        size = 0
        while batch := cursor.fetchmany(BATCH_RECORDS):
            for (record,) in batch:
                pending.append(record)
                size += len(record)
                if size >= chunk_chars:
                    yield "".join(pending), len(pending)
                    pending, size = [], 0
        if pending:
            yield "".join(pending), len(pending)
    finally:
        cursor.close()
