"""Bulk writing of the demo's queued records: one executemany per table and batch, and the pain
scores straight to the driver (COPY on PostgreSQL)."""

from sqlalchemy import insert, inspect
from sqlalchemy.orm import MANYTOONE, Session

from clinic import clock
from clinic.models import (
    Intervention,
    MedicationGiven,
    PainScore,
    Patient,
    Referral,
    ScsDevice,
    StimulatorAdjustment,
    Visit,
)

FLUSH_EVERY = 10000  # records queued before a bulk write
# Children after their parents, so that each batch satisfies its foreign keys as it goes in.
INSERT_ORDER = [
    Patient,
    Referral,
    Intervention,
    MedicationGiven,
    Visit,
    ScsDevice,
    StimulatorAdjustment,
]


# The pain-score columns the demo writes, in the order of its queued rows.
SCORE_COLUMNS = (
    "id",
    "patient_id",
    "intervention_id",
    "recorded_on",
    "nrs",
    "percent_relief",
    "source",
    "created_at",
    "updated_at",
)


def write_records(session: Session, pending: list[object]) -> dict[str, int]:
    """Write queued ORM records in bulk, one executemany per table; returns the rows per table.

    The records are plain, never added to the session: a seed of millions of rows goes in at
    the speed of the database, and memory stays flat.
    """
    by_class: dict[type, list[dict]] = {model: [] for model in INSERT_ORDER}
    connection = session.connection()
    for record in pending:
        # What the ORM would run before an INSERT (a patient's search key, say).
        mapper = inspect(type(record))
        mapper.dispatch.before_insert(mapper, connection, inspect(record))
        by_class[type(record)].append(_row(record))
    written = {}
    for model, rows in by_class.items():
        if rows:
            session.execute(
                insert(model).execution_options(render_nulls=True), _same_columns(model, rows)
            )
            written[model.__table__.name] = len(rows)
    return written


def write_scores(session: Session, scores: list[tuple]) -> None:
    """Queued pain scores (rows in ``SCORE_COLUMNS`` order, without their stamps) straight to the
    driver, millions of rows without per-row type processing: COPY on PostgreSQL (as the import
    stages its keys), an executemany on SQLite with the values already in SQLite's text forms."""
    table = PainScore.__table__
    connection = session.connection()
    driver = connection.connection.driver_connection
    stamp = clock.utcnow()
    names = ", ".join(SCORE_COLUMNS)
    if connection.dialect.name == "postgresql":
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy,
        ):
            for row in scores:
                copy.write_row((*row, stamp, stamp))
        return
    # The column types' own SQLite forms (text), computed once for the stamp.
    dialect = connection.dialect
    day = table.c.recorded_on.type.dialect_impl(dialect).bind_processor(dialect)
    stamp_processor = table.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    if stamp_processor is not None:
        stamp = stamp_processor(stamp)
    rows = scores
    if day is not None:
        rows = [(*row[:3], day(row[3]), *row[4:]) for row in rows]
    marks = ", ".join("?" * len(SCORE_COLUMNS))
    driver.executemany(
        f"INSERT INTO {table.name} ({names}) VALUES ({marks})",  # noqa: S608 — our own names
        [(*row, stamp, stamp) for row in rows],
    )


def _same_columns(model: type, rows: list[dict]) -> list[dict]:
    """Give every row the same columns, so that the batch is one executemany, not one per
    run of rows that happen to leave out the same optional fields."""
    mapper = inspect(model)
    keys = set().union(*rows)
    for key in keys:
        column = mapper.get_property(key).columns[0]
        default = column.default
        if default is None:
            filler = lambda: None  # noqa: E731 — an unset optional field is empty
        elif default.is_callable:
            filler = lambda default=default: default.arg(None)  # noqa: E731
        else:
            filler = lambda default=default: default.arg  # noqa: E731
        for row in rows:
            if key not in row:
                row[key] = filler()
    return rows


def _row(record: object) -> dict:
    """A record's column values, its many-to-one relationships turned into foreign keys."""
    mapper = inspect(type(record))
    values = record.__dict__
    row = {attr.key: values[attr.key] for attr in mapper.column_attrs if attr.key in values}
    for relationship in mapper.relationships:
        target = values.get(relationship.key)
        if relationship.direction is MANYTOONE and target is not None:
            for local, remote in relationship.local_remote_pairs:
                row[mapper.get_property_by_column(local).key] = getattr(target, remote.key)
    return row
