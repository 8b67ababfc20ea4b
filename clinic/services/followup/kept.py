"""The follow-up calls kept for the call list: a row for every call a completed procedure's
schedule sets, with whether it is still open (docs/rules.md, Follow-up calls).

Working the calls out on each view cost the call list time in proportion to the clinic's
volume (at 50,000 patients about 10,000 procedures have a call due in the 51 days it reads).
So each call is kept as a ``scheduled_call`` row — due date, the schedule item, and its state:
``open``, ``done`` (answered by a score, or closed as unreachable or declined), or
``self_report`` (answered by a score the patient reported and by no other). The list then
counts and pages those rows by due date.

The rows are derived data, and are rewritten in the same transaction as every change they
follow:

- an ORM flush that adds, changes or removes an intervention, a pain score or a call attempt
  rewrites that intervention's calls (``calls_hook.py``: a flush hook on every session, as the
  audit trail's);
- a flush that changes a procedure type's follow-up schedule rewrites the calls of every
  procedure of that type;
- the writers that go around the ORM for speed (the import, the demo generator) call
  ``refresh_chosen`` or ``refresh_all`` themselves, before their transaction ends.

An intervention's calls are always worked out whole, from its performed date, its type's
schedule, all its pain scores and its closed call attempts, with the same rules the list used
to apply on each view (``answered_calls``), so a rewrite never depends on what was there.

On PostgreSQL the bulk writes — the calls of the procedures an import adds, and the rebuild of
every call — are worked out by one SQL statement (``_insert_in_sql``) with the same rules, where
Python would read every score and send every row back: a fifth of a large import's time. A test
holds the two ways to the same rows over random schedules, scores and attempts.
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from itertools import groupby
from operator import itemgetter

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    MetaData,
    Row,
    Select,
    Table,
    Text,
    TextClause,
    delete,
    insert,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from clinic.models import (
    Booking,
    FollowUpCall,
    Intervention,
    PainScore,
    ProcedureType,
    ScheduledCall,
)
from clinic.services.followup.calls import WINDOW_DAYS, answered_calls, offsets_of
from clinic.services.followup.schedules import Offset, scheduled_calls

# Interventions worked out per round of reads and writes.
BATCH = 1000
CALL_COLUMNS = ("intervention_id", "due_on", "patient_id", "schedule_item", "state")

booking = Booking.__table__
intervention = Intervention.__table__
pain_score = PainScore.__table__
follow_up_call = FollowUpCall.__table__
procedure_type = ProcedureType.__table__
scheduled_call = ScheduledCall.__table__

# The interventions a large rewrite works through (the import's), and on PostgreSQL its calls
# on their way in: temporary tables.
_temporary = MetaData()
chosen_ids = Table(
    "kept_call_ids",
    _temporary,
    Column("id", Integer, primary_key=True, autoincrement=False),
    prefixes=["TEMPORARY"],
)
copied_calls = Table(
    "kept_call_rows",
    _temporary,
    *[Column(column.name, column.type) for column in ScheduledCall.__table__.columns],
    prefixes=["TEMPORARY"],
)
# Each procedure type's offsets, for the SQL that works the calls out (PostgreSQL).
offset_rows = Table(
    "kept_call_offsets",
    _temporary,
    Column("procedure_type_id", Integer, nullable=False),
    Column("ordinal", Integer, nullable=False),  # the schedule's order: the first of two
    Column("days", Integer, nullable=False),  # offsets landing on one date gives the call
    Column("months", Integer, nullable=False),
    Column("item", Text, nullable=False),
    prefixes=["TEMPORARY"],
)


def calls_of(
    performed_on: date,
    offsets: list[Offset],
    scores: Iterable[tuple[date, str]],
    closed: Iterable[date],
) -> list[tuple[date, Offset, str]]:
    """(due date, offset, state) of each call after a procedure performed on ``performed_on``.

    ``scores`` are the procedure's (recorded date, source) pairs; ``closed`` the due dates of
    calls an attempt closed (unreachable, declined).
    """
    calls = scheduled_calls(performed_on, offsets)
    dues = [due for due, _ in calls]
    scores = list(scores)
    everyone = answered_calls(performed_on, dues, [day for day, _ in scores])
    staff = (
        answered_calls(
            performed_on, dues, [day for day, source in scores if source != "self_report"]
        )
        if any(source == "self_report" for _, source in scores)
        else everyone
    )
    closed = set(closed)
    kept = []
    for due_on, offset in calls:
        if due_on in everyone and due_on not in staff:
            state = "self_report"
        elif due_on in everyone or due_on in closed:
            state = "done"
        else:
            state = "open"
        kept.append((due_on, offset, state))
    return kept


def schedules(connection: Connection) -> dict[int, list[Offset]]:
    """Each procedure type's offsets (the default schedule for one that cannot be read)."""
    return {
        row.id: offsets_of(row)[0]
        for row in connection.execute(
            select(
                procedure_type.c.id,
                procedure_type.c.name,
                procedure_type.c.code,
                procedure_type.c.followup_schedule,
            )
        )
    }


def refresh(connection: Connection, intervention_ids: Iterable[int]) -> None:
    """Rewrite the kept calls of these interventions from what the database holds now."""
    ids = sorted({id_ for id_ in intervention_ids if id_ is not None})
    offsets = schedules(connection) if ids else {}
    for start in range(0, len(ids), BATCH):
        _rewrite(connection, offsets, ids[start : start + BATCH])


def refresh_chosen(connection: Connection, chosen: Select, added: Select | None = None) -> None:
    """Rewrite the kept calls of the interventions a query of ids chooses, however many (the
    import's): the ids wait in a temporary table and are worked through a batch at a time, so
    memory stays flat.

    ``added``: interventions this transaction created (none of them among ``chosen``). They
    have no kept calls yet, and no other transaction can see them to write any, so theirs are
    written straight in: nothing deleted first, nothing upserted.
    """
    offsets = schedules(connection)
    with _temporary_tables(connection):
        if added is not None:
            connection.execute(insert(chosen_ids).from_select(["id"], added))
            _insert_new(connection, offsets, chosen_ids)
            connection.execute(delete(chosen_ids))
        connection.execute(insert(chosen_ids).from_select(["id"], chosen))
        for batch in _batches(connection, chosen_ids.c.id):
            _rewrite(connection, offsets, batch, bulk=True)


def refresh_procedure_type(connection: Connection, procedure_type_id: int) -> None:
    """Rewrite the kept calls of every procedure of one type (its schedule changed)."""
    refresh_chosen(
        connection,
        select(intervention.c.id).where(intervention.c.procedure_type_id == procedure_type_id),
    )


def refresh_all(connection: Connection) -> None:
    """Rewrite every kept call (the demo's bulk load, the migration that added them)."""
    connection.execute(delete(scheduled_call))
    offsets = schedules(connection)
    with _temporary_tables(connection):
        _insert_new(connection, offsets, None)


def _insert_new(
    connection: Connection, offsets: dict[int, list[Offset]], chosen: Table | None
) -> None:
    """Insert the kept calls of interventions that have none yet: those whose ids ``chosen``
    holds, or every one when None. PostgreSQL works them out in SQL; SQLite a batch at a time."""
    if connection.dialect.name == "postgresql":
        _insert_in_sql(connection, offsets, chosen)
        return
    ids = intervention.c.id if chosen is None else chosen.c.id
    for batch in _batches(connection, ids):
        _store(connection, _worked_out(connection, offsets, batch), bulk=True, upsert=False)


def _rewrite(
    connection: Connection, offsets: dict[int, list[Offset]], batch: list[int], bulk: bool = False
) -> None:
    connection.execute(delete(scheduled_call).where(scheduled_call.c.intervention_id.in_(batch)))
    _store(connection, _worked_out(connection, offsets, batch), bulk=bulk, upsert=True)


def _batches(connection: Connection, ids: ColumnElement[int]) -> Iterator[list[int]]:
    """The ids of a column, in order, ``BATCH`` at a time (each batch read by its own query)."""
    last = None
    while True:
        query = select(ids).order_by(ids).limit(BATCH)
        batch = connection.execute(query if last is None else query.where(ids > last)).scalars()
        batch = batch.all()
        if not batch:
            return
        yield batch
        last = batch[-1]


@contextmanager
def _temporary_tables(connection: Connection) -> Iterator[None]:
    """The temporary tables, made afresh for the work inside and dropped after it (a failure
    leaves them to the transaction's rollback)."""
    _drop_temporary(connection)
    _temporary.create_all(connection)
    yield
    _drop_temporary(connection)


def _drop_temporary(connection: Connection) -> None:
    schema = "pg_temp" if connection.dialect.name == "postgresql" else "temp"
    for table in _temporary.sorted_tables:
        connection.execute(text(f"DROP TABLE IF EXISTS {schema}.{table.name}"))


def _worked_out(
    connection: Connection, offsets: dict[int, list[Offset]], batch: list[int]
) -> list[dict]:
    """The kept calls of the completed interventions among ``batch`` (ids, in order).

    Each procedure's scores are read in the procedures' order, as a stream, so memory holds one
    procedure's at a time however many it has.
    """
    procedures = connection.execute(
        select(
            intervention.c.id,
            booking.c.patient_id,
            intervention.c.procedure_type_id,
            intervention.c.performed_on,
        )
        .join(booking, booking.c.id == intervention.c.id)
        .where(
            intervention.c.id.in_(batch),
            booking.c.status == "completed",
            intervention.c.performed_on.is_not(None),
        )
        .order_by(intervention.c.id)
    ).all()
    if not procedures:
        return []
    closed: dict[int, list[date]] = defaultdict(list)
    for intervention_id, due_on in connection.execute(
        select(follow_up_call.c.intervention_id, follow_up_call.c.due_on).where(
            follow_up_call.c.intervention_id.in_(batch),
            follow_up_call.c.outcome.is_not(None),
        )
    ):
        closed[intervention_id].append(due_on)
    scores = connection.execute(
        select(pain_score.c.intervention_id, pain_score.c.recorded_on, pain_score.c.source)
        .where(pain_score.c.intervention_id.in_([row.id for row in procedures]))
        .order_by(pain_score.c.intervention_id)
        .execution_options(yield_per=BATCH)
    )
    return [
        {
            "intervention_id": id_,
            "due_on": due_on,
            "patient_id": patient_id,
            "schedule_item": offset.text,
            "state": state,
        }
        for (id_, patient_id, type_id, performed_on), its_scores in _with_scores(procedures, scores)
        for due_on, offset, state in calls_of(
            performed_on, offsets[type_id], its_scores, closed.get(id_, ())
        )
    ]


def _insert_in_sql(
    connection: Connection, offsets: dict[int, list[Offset]], chosen: Table | None
) -> None:
    """PostgreSQL: insert the kept calls of the interventions whose ids ``chosen`` holds (of
    every intervention when None), none of which has any kept yet, in one statement, by
    ``calls_of``'s rules.

    Each call falls due an offset after the performed date (calendar months clamped to the
    month's end, as ``Offset.after``); offsets landing on one date make one call, the schedule's
    first. A score after the performed date answers every call already due whose window (a week
    either side) holds it, or if none is due yet, the first whose window holds it. A call
    answered only by self-reported scores is ``self_report``; one answered otherwise, or closed
    by an attempt, ``done``; the rest ``open``.
    """
    rows = [
        {
            "procedure_type_id": type_id,
            "ordinal": ordinal,
            "days": offset.days,
            "months": offset.months,
            "item": offset.text,
        }
        for type_id, type_offsets in offsets.items()
        for ordinal, offset in enumerate(type_offsets)
    ]
    if rows:
        connection.execute(insert(offset_rows), rows)
    connection.execute(_calls_statement(chosen))
    connection.execute(delete(offset_rows))


def _calls_statement(chosen: Table | None) -> TextClause:
    """The ``INSERT … SELECT`` of ``_insert_in_sql``: the calls of the chosen interventions (of
    every intervention when None), by the offsets waiting in ``kept_call_offsets``."""
    only_chosen = "" if chosen is None else f"AND i.id IN (SELECT id FROM {chosen.name})"  # noqa: S608
    return text(
        f"""
        WITH procedure AS (
            SELECT i.id, b.patient_id, i.procedure_type_id, i.performed_on
            FROM intervention AS i
            JOIN booking AS b ON b.id = i.id
            WHERE b.status = 'completed' AND i.performed_on IS NOT NULL {only_chosen}
        ), call AS (
            SELECT DISTINCT ON (p.id, due.on_day)
                p.id, p.patient_id, due.on_day, o.item
            FROM procedure AS p
            JOIN {offset_rows.name} AS o ON o.procedure_type_id = p.procedure_type_id
            CROSS JOIN LATERAL (
                SELECT (p.performed_on + make_interval(months => o.months, days => o.days))::date
                    AS on_day
            ) AS due
            ORDER BY p.id, due.on_day, o.ordinal
        ), score AS (
            SELECT s.intervention_id AS id, s.recorded_on, s.source <> 'self_report' AS by_staff
            FROM pain_score AS s
            JOIN procedure AS p ON p.id = s.intervention_id
            WHERE s.recorded_on > p.performed_on
        ), reach AS (
            -- Each score beside the calls whose window holds it (joined by procedure, never a
            -- call list per score), and the first of them: already due when any is.
            SELECT s.id, s.by_staff, c.on_day, c.on_day <= s.recorded_on AS already_due,
                min(c.on_day) OVER per_score AS first_day
            FROM score AS s
            JOIN call AS c ON c.id = s.id
                AND c.on_day BETWEEN s.recorded_on - {WINDOW_DAYS} AND s.recorded_on + {WINDOW_DAYS}
            WINDOW per_score AS (PARTITION BY s.id, s.recorded_on)
        ), answer AS (
            SELECT id, on_day, by_staff FROM reach
            WHERE already_due OR on_day = first_day
        ), answered AS (
            SELECT id, on_day, bool_or(by_staff) AS by_staff
            FROM answer GROUP BY id, on_day
        )
        INSERT INTO {scheduled_call.name} ({", ".join(CALL_COLUMNS)})
        SELECT c.id, c.on_day, c.patient_id, c.item,
            CASE
                WHEN a.id IS NOT NULL AND NOT a.by_staff THEN 'self_report'
                WHEN a.id IS NOT NULL OR EXISTS (
                    SELECT FROM {follow_up_call.name} AS f
                    WHERE f.intervention_id = c.id AND f.due_on = c.on_day
                      AND f.outcome IS NOT NULL
                ) THEN 'done'
                ELSE 'open'
            END
        FROM call AS c
        LEFT JOIN answered AS a ON a.id = c.id AND a.on_day = c.on_day
        """  # noqa: S608 (table names of ours; the values are bound)
    )


def _store(connection: Connection, rows: list[dict], *, bulk: bool, upsert: bool) -> None:
    """Insert kept calls. ``upsert``: a row another transaction wrote a moment ago for the same
    call is overwritten (two clerks saving for one procedure at once), not refused as a
    duplicate. ``bulk`` on PostgreSQL: through ``COPY`` (an executemany sends a statement a row),
    into a temporary table first when upserting."""
    if not rows:
        return
    if bulk and connection.dialect.name == "postgresql":
        _copy(connection, copied_calls if upsert else scheduled_call, rows)
        if upsert:
            columns = [copied_calls.c[name] for name in CALL_COLUMNS]
            connection.execute(_upsert(postgresql, select(*columns)))
            connection.execute(delete(copied_calls))
        return
    if not upsert:
        connection.execute(insert(scheduled_call), rows)
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    connection.execute(_upsert(dialect), rows)


def _upsert(dialect, rows: Select | None = None):
    statement = dialect.insert(scheduled_call)
    if rows is not None:
        statement = statement.from_select(CALL_COLUMNS, rows)
    return statement.on_conflict_do_update(
        index_elements=["intervention_id", "due_on"],
        set_={name: statement.excluded[name] for name in ("patient_id", "schedule_item", "state")},
    )


def _copy(connection: Connection, table: Table, rows: list[dict]) -> None:
    driver = connection.connection.driver_connection
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {table.name} ({', '.join(CALL_COLUMNS)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([row[name] for name in CALL_COLUMNS])


def _with_scores(procedures: list[Row], scores: Iterable[Row]) -> Iterator[tuple[Row, list]]:
    """Each procedure (in id order) with its (recorded date, source) pairs, from scores read in
    the same order."""
    groups = groupby(scores, key=itemgetter(0))
    current = next(groups, None)
    for procedure in procedures:
        while current is not None and current[0] < procedure.id:
            current = next(groups, None)
        if current is not None and current[0] == procedure.id:
            yield procedure, [(day, source) for _, day, source in current[1]]
        else:
            yield procedure, []
