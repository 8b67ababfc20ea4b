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
  rewrites that intervention's calls (``install_calls_hook``: a flush hook on every session,
  as the audit trail's);
- a flush that changes a procedure type's follow-up schedule rewrites the calls of every
  procedure of that type;
- the writers that go around the ORM for speed (the import, the demo generator) call
  ``refresh`` or ``refresh_all`` themselves, before their transaction ends.

An intervention's calls are always worked out whole, from its performed date, its type's
schedule, all its pain scores and its closed call attempts, with the same rules the list used
to apply on each view (``answered_calls``), so a rewrite never depends on what was there.
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date
from itertools import chain, groupby
from operator import itemgetter

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    MetaData,
    Row,
    Select,
    Table,
    delete,
    event,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from clinic.models import FollowUpCall, Intervention, PainScore, ProcedureType, ScheduledCall
from clinic.services.followup.calls import answered_calls, offsets_of
from clinic.services.followup.schedules import Offset, scheduled_calls

# Interventions worked out per round of reads and writes.
BATCH = 1000

booking = Intervention.__mapper__.inherits.local_table
intervention = Intervention.__table__
pain_score = PainScore.__table__
follow_up_call = FollowUpCall.__table__
procedure_type = ProcedureType.__table__
scheduled_call = ScheduledCall.__table__

# The interventions a large rewrite works through (the import's), as a temporary table.
chosen_ids = Table(
    "kept_call_ids",
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=False),
    prefixes=["TEMPORARY"],
)

# What an intervention's calls depend on, besides its scores and attempts.
CALL_FIELDS = ("status", "performed_on", "procedure_type_id", "patient_id")


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
    staff = answered_calls(
        performed_on, dues, [day for day, source in scores if source != "self_report"]
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


def refresh_chosen(connection: Connection, chosen: Select) -> None:
    """Rewrite the kept calls of the interventions a query of ids chooses, however many (the
    import's): the ids wait in a temporary table and are worked through a batch at a time, so
    memory stays flat."""
    _drop_chosen(connection)
    chosen_ids.create(connection)
    connection.execute(insert(chosen_ids).from_select(["id"], chosen))
    offsets = schedules(connection)
    for batch in _batches(connection, chosen_ids.c.id):
        _rewrite(connection, offsets, batch)
    _drop_chosen(connection)


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
    for batch in _batches(connection, intervention.c.id):
        _write(connection, offsets, batch)


def _rewrite(connection: Connection, offsets: dict[int, list[Offset]], batch: list[int]) -> None:
    connection.execute(delete(scheduled_call).where(scheduled_call.c.intervention_id.in_(batch)))
    _write(connection, offsets, batch, upsert=True)


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


def _drop_chosen(connection: Connection) -> None:
    schema = "pg_temp" if connection.dialect.name == "postgresql" else "temp"
    connection.execute(text(f"DROP TABLE IF EXISTS {schema}.{chosen_ids.name}"))


def _write(
    connection: Connection,
    offsets: dict[int, list[Offset]],
    batch: list[int],
    *,
    upsert: bool = False,
) -> None:
    """Work out and insert the calls of the completed interventions among ``batch`` (ids, in
    order).

    Each procedure's scores are read in the procedures' order, as a stream, so memory holds one
    procedure's at a time however many it has. ``upsert``: a row another transaction wrote a
    moment ago for the same call is overwritten (two clerks saving for one procedure at once),
    rather than refused as a duplicate.
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
        return
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
    rows = [
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
    if not rows:
        return
    if not upsert:
        connection.execute(insert(scheduled_call), rows)
        return
    statement = (postgresql if connection.dialect.name == "postgresql" else sqlite).insert(
        scheduled_call
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["intervention_id", "due_on"],
            set_={
                name: statement.excluded[name] for name in ("patient_id", "schedule_item", "state")
            },
        ),
        rows,
    )


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


def _changed_calls(session: Session, flush_context) -> None:
    """After a flush: rewrite the kept calls of what it changed (see the module docstring)."""
    ids: set[int] = set()
    types: set[int] = set()
    for instance in chain(session.new, session.dirty, session.deleted):
        if isinstance(instance, PainScore | FollowUpCall):
            state = inspect(instance)
            deleted = instance in session.deleted
            ids.add(state.dict.get("intervention_id") if deleted else instance.intervention_id)
            ids.update(state.attrs.intervention_id.history.deleted or ())
        elif isinstance(instance, Intervention):
            state = inspect(instance)
            if instance in session.dirty and not any(
                state.attrs[name].history.has_changes() for name in CALL_FIELDS
            ):
                continue
            ids.add(state.identity[0] if state.identity else state.dict.get("id"))
        elif isinstance(instance, ProcedureType) and instance in session.dirty:
            state = inspect(instance)
            if state.attrs.followup_schedule.history.has_changes():
                types.add(state.identity[0])
    if not ids and not types:
        return
    connection = session.connection()
    refresh(connection, ids)
    for procedure_type_id in types:
        refresh_procedure_type(connection, procedure_type_id)


def install_calls_hook() -> None:
    """Keep every ORM session's writes and the kept calls in step (on SQLAlchemy's base
    ``Session``, as the audit hook is, so that no session factory escapes it)."""
    if not event.contains(Session, "after_flush", _changed_calls):
        event.listen(Session, "after_flush", _changed_calls)
