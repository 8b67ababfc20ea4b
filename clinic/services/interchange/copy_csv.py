"""CSV records written by PostgreSQL itself, for the plain exports: ``COPY (SELECT …) TO STDOUT``.

A plain export (``patients``, ``interventions``, ``pain-scores``, ``referrals``, ``schedule``,
``stimulator-adjustments``) is one SELECT whose columns are its CSV columns. In Python each of
its cells is formatted by ``csvio.cell`` and quoted by the ``csv`` module; on PostgreSQL the
SELECT is rewritten so that each column is the value ``csvio.cell`` would write, and the
database quotes and streams the records itself with ``COPY … (FORMAT csv)``, which quotes a
field exactly when ``csv.writer`` with ``QUOTE_MINIMAL`` does (it holds a comma, a quote, a CR or
an LF). Python then only joins the records into chunks: at hundreds of thousands of rows that
is several times faster than fetching the values and formatting each cell (README,
Performance).

How each value is written, by the SQL type of its column (``csvio`` has the rules):

- text: a leading ``'`` when it begins with a formula character (= + - @ tab CR LF; PostgreSQL
  text holds no NUL); empty text as NULL, which ``COPY`` writes as an empty field (it would
  write ``""`` for empty text, ``csv.writer`` writes nothing);
- whole numbers and decimals: as PostgreSQL writes them (``3.50`` for a NUMERIC(5,2), as
  Python's ``str(Decimal)``);
- booleans: ``true`` / ``false``;
- dates: ``YYYY-MM-DD``; timestamps: ``YYYY-MM-DDTHH:MM`` in the clinic's zone; a timestamp
  marked ``ClinicDay``: its date on the clinic's calendar.

``COPY`` ends each record with LF where the exports end theirs with CRLF, and an LF inside a
quoted field must stay as it is. So every record gets a last field holding one CR: it is
written ``"\r"`` and the record ends ``,"\r"`` LF, a sequence no field can contain (inside a
quoted field every quote is doubled), which ``chunks`` replaces by CRLF.
The tests write every plain export both ways on PostgreSQL and compare the bytes.
"""

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
    case,
    func,
    literal_column,
)
from sqlalchemy.orm import Session

from clinic.models.base import UTCDateTime
from clinic.services.interchange.csvio import FORMULA_STARTS


class ClinicDay(UTCDateTime):
    """A UTC timestamp exported as its date on the clinic's calendar (``visited_on``)."""

    cache_ok = True


# The code points of the formula characters; PostgreSQL text holds no NUL, so not that one.
_FORMULA_CODES = [ord(start) for start in FORMULA_STARTS if start != "\0"]
_DAY = "YYYY-MM-DD"
_MINUTE = 'YYYY-MM-DD"T"HH24:MI'
# Each record's last field: one CR, which COPY writes quoted, so a record ends with these bytes.
_RECORD_END = literal_column("E'\\r'")
_COPIED_END = b',"\r"\n'


def text_value(value: ColumnElement) -> ColumnElement:
    """SQL for a text column's value as the CSV cell holds it: formula-safe, NULL when empty."""
    # ascii() is the code point of the first character: far cheaper than comparing substrings.
    safe = case((func.ascii(value).in_(_FORMULA_CODES), "'" + value), else_=value)
    return func.nullif(safe, "")


def sql_value(column: ColumnElement, zone: ZoneInfo) -> ColumnElement:
    """SQL for one column of a plain export as its CSV cell holds it (see the module's rules)."""
    kind = column.type
    if isinstance(kind, ClinicDay):
        return func.to_char(func.timezone(zone.key, column), _DAY)
    if isinstance(kind, UTCDateTime | DateTime):
        return func.to_char(func.timezone(zone.key, column), _MINUTE)
    if isinstance(kind, Date):
        return func.to_char(column, _DAY)
    if isinstance(kind, Boolean):
        return case((column, "true"), (column.is_(False), "false"))
    if isinstance(kind, Integer | Numeric):
        return column
    if isinstance(kind, String):
        return text_value(column)
    raise TypeError(f"no CSV cell for {column} of type {kind!r}")


def copied(statement: Select, zone: ZoneInfo) -> Select:
    """``statement`` with each column as its cell holds it, and the record's end last."""
    values = [sql_value(column, zone).label(column.key) for column in statement.selected_columns]
    return statement.with_only_columns(*values, _RECORD_END.label("record_end"))


def _as_csv(lines: bytes) -> bytes:
    """Records as ``COPY`` wrote them, each ending CRLF as the exports' records do."""
    return lines.replace(_COPIED_END, b"\r\n")


def chunks(
    session: Session, statement: Select, zone: ZoneInfo, chunk_bytes: int
) -> Iterator[tuple[str, int]]:
    """The CSV records of ``statement`` (no header) from ``COPY``, in chunks of about
    ``chunk_bytes``, each with the number of records in it. PostgreSQL only.
    """
    sql = str(
        copied(statement, zone).compile(
            dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
        )
    )
    cursor = session.connection().connection.dbapi_connection.cursor()
    encoding = cursor.connection.info.encoding
    try:
        with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
            # psycopg hands over one record per item.
            pending: list[memoryview] = []
            size = 0
            for line in copy:
                pending.append(line)
                size += len(line)
                if size >= chunk_bytes:
                    yield _as_csv(b"".join(pending)).decode(encoding), len(pending)
                    pending, size = [], 0
            if pending:
                yield _as_csv(b"".join(pending)).decode(encoding), len(pending)
    finally:
        cursor.close()
