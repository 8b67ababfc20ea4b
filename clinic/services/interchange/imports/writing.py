"""Stage 4, write: the files read again and written in batches of Core executemany inserts and
updates (new pain scores by ``COPY`` on PostgreSQL) inside a savepoint, so that a failure
part-way leaves nothing behind. Only rows that staging found new or changed are touched, which
is what makes a second import of the same files change nothing.

On PostgreSQL the files are not read again: patients and interventions are written from what
staging kept of them (``staged_writes.py``), pain scores from theirs (``copied.py``)."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, or_, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from clinic.models.patients import search_key
from clinic.models.scheduling import ACTIVE_BOOKING_STATUSES
from clinic.services.ids import reserve_ids
from clinic.services.interchange.imports import (
    audit,
    copied,
    medications,
    reading,
    staged_writes,
    staging,
)
from clinic.services.interchange.imports.job import Job
from clinic.services.interchange.imports.matching import (
    SCORE_FIELDS,
    existing_patients,
    patient_fields,
    radiation_fields,
)
from clinic.services.interchange.imports.reading import Batch
from clinic.services.interchange.imports.report import CHANGED, NEW, ImportFailed, Refused
from clinic.services.interchange.imports.staging import STAGED_BOOKING
from clinic.services.interchange.imports.tables import (
    booking_resource,
    booking_table,
    intervention_table,
    patient_table,
    score_table,
)

_CHANGE_PATIENT = (
    update(patient_table)
    .where(patient_table.c.id == bindparam("b_id"))
    .values(version=patient_table.c.version + 1)
)
_CHANGE_BOOKING = (
    update(booking_table)
    .where(booking_table.c.id == bindparam("b_id"))
    .values(version=booking_table.c.version + 1)
)
_CHANGE_INTERVENTION = update(intervention_table).where(
    intervention_table.c.id == bindparam("b_id")
)
_CHANGE_SCORE = update(score_table).where(score_table.c.id == bindparam("b_id"))
# The interventions that this import changes, as staging found them.
_CHANGED_INTERVENTIONS = select(STAGED_BOOKING.c.existing_id).where(
    STAGED_BOOKING.c.action == CHANGED
)


def write(job: Job) -> None:
    """Write every file inside a savepoint; a refusal rolls it back and raises ``ImportFailed``."""
    try:
        with job.session.begin_nested():
            _write_files(job)
    except Refused as error:
        raise ImportFailed(
            f"A file changed while it was being imported ({error}). Nothing was imported."
        ) from None
    except SQLAlchemyError as error:
        raise ImportFailed(_failure_message(error)) from error


def _write_files(job: Job) -> None:
    job.writing = True
    if "patients" in job.kinds:
        if staging.staged_values(job):  # PostgreSQL: from the staged rows
            staged_writes.write_patients(job, partial(job.session.execute, _CHANGE_PATIENT))
        else:
            _write_patients(job)
        if job.counts["patients"].new:
            job.analyze(patient_table)
    if "interventions" in job.kinds:
        if job.sqlite:
            with _overlap_triggers_set_aside(job.session):
                _verify_schedule(job, _write_interventions(job))
        else:
            _write_interventions(job)
        if job.counts["interventions"].new:
            job.analyze(booking_table, intervention_table)
    if "pain_scores" in job.kinds:
        _write_scores(job)
        if job.counts["pain_scores"].new:
            # The calls kept for the call list are worked out next, from each procedure's scores.
            job.analyze(score_table)
    if "medications" in job.kinds:
        medications.write(job)  # each named intervention's list replaced
    # ORM objects loaded earlier in this session may now be stale.
    job.session.expire_all()


def _failure_message(error: SQLAlchemyError) -> str:
    """What to tell the user when the database refused a write (no row values: they are PHI)."""
    detail = str(getattr(error, "orig", error)).strip().splitlines()
    first = detail[0] if detail else type(error).__name__
    if isinstance(error, IntegrityError) and "overlap" in first:
        return (
            "A booking saved by someone else since the files were checked clashes with them. "
            "Nothing was imported; run the import again to see the clash."
        )
    if isinstance(error, IntegrityError):
        return (
            f"The database refused a row while writing ({first}); someone may have saved the "
            "same record at the same moment. Nothing was imported; run the import again."
        )
    return f"The database failed while writing ({first}). Nothing was imported; try again."


def _insert_rows(job: Job, table: Table, rows: list[dict[str, Any]]) -> None:
    """One batch as a Core executemany INSERT (no ORM objects, so no per-row audit)."""
    job.session.execute(insert(table), rows)


def _copy_rows(job: Job, table: Table, rows: list[dict[str, Any]]) -> None:
    """New rows of plain values (numbers, text, dates, aware instants), all with the same
    columns: COPY on PostgreSQL, where an executemany is still a statement per row; on
    SQLite ``_insert_rows``. Only for tables whose column types need no conversion of ours on
    PostgreSQL (``UTCDateTime`` passes an aware instant through as it is)."""
    if job.sqlite or not rows:
        _insert_rows(job, table, rows)
        return
    names = list(rows[0])
    connection = job.session.connection()
    driver = connection.connection.driver_connection
    statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[name] for name in names])
    except connection.dialect.loaded_dbapi.Error as error:
        # As SQLAlchemy would have raised it (IntegrityError, OperationalError …), so that the
        # import reports it and rolls back as it does for any other write.
        raise DBAPIError.instance(
            statement, None, error, connection.dialect.loaded_dbapi.Error
        ) from error


# Patients -----------------------------------------------------------------------------------


def _write_patients(job: Job) -> None:
    fields_written = patient_fields(job)
    for batch in reading.batches(job, "patients"):
        staged = staging.staged(job, "patients", batch, "action", "patient_id")
        new, changed = [], []
        for line, _, values, _ in batch:
            row = staged[line]
            if row.action not in (NEW, CHANGED):
                continue
            fields = {name: values[name] for name in fields_written}
            fields["name_key"] = search_key(f"{values['last_name']} {values['first_name']}")
            fields["updated_at"] = job.now
            if row.action == NEW:
                new.append({**fields, "archived": False, "version": 1, "created_at": job.now})
            elif row.action == CHANGED:
                changed.append({**fields, "b_id": row.patient_id})
        if new:
            # COPY on PostgreSQL: an executemany there is still a statement per patient.
            _copy_rows(job, patient_table, new)
        if changed:
            ids = [row["b_id"] for row in changed]
            old = audit.current_values(job, patient_table, ids, fields_written)
            audit.audit_updates(job, patient_table.name, changed, old, fields_written)
            job.session.execute(_CHANGE_PATIENT, changed)


# Interventions ------------------------------------------------------------------------------


def _write_interventions(job: Job) -> int:
    """Insert and update the interventions; on SQLite, the first id given to a new one."""
    if job.counts["interventions"].changed:
        # Changed bookings step out of the schedule first, so that no order of writing
        # the new times (two bookings swapping slots, say) trips the overlap constraint.
        job.session.execute(
            update(booking_table)
            .where(booking_table.c.id.in_(_CHANGED_INTERVENTIONS))
            .values(status="cancelled")
        )
    first_new_id = next_id = _first_new_booking_id(job)
    if staging.staged_values(job):  # PostgreSQL: from the staged rows
        staged_writes.write_interventions(
            job,
            partial(job.session.execute, _CHANGE_BOOKING),
            partial(job.session.execute, _CHANGE_INTERVENTION),
        )
    else:
        for batch in reading.batches(job, "interventions"):
            next_id = _write_intervention_batch(job, batch, next_id)
    if job.counts["interventions"].changed:
        # A score belongs to its intervention's patient: follow a corrected patient.
        patient_of = (
            select(booking_table.c.patient_id)
            .where(booking_table.c.id == score_table.c.intervention_id)
            .scalar_subquery()
        )
        job.session.execute(
            update(score_table)
            .where(
                score_table.c.intervention_id.in_(_CHANGED_INTERVENTIONS),
                score_table.c.patient_id != patient_of,
            )
            .values(patient_id=patient_of, updated_at=job.now)
        )
    return first_new_id


def _first_new_booking_id(job: Job) -> int:
    """SQLite: the id the first new booking gets. PostgreSQL: 0, the sequence moved past any
    ``clinic:ID`` kept as a ref instead (it hands out the ids)."""
    booking = booking_table
    if job.sqlite:
        # Under the write lock the next ids are ours (past any ``clinic:ID`` kept as a ref).
        next_id = (job.session.execute(select(func.max(booking.c.id))).scalar() or 0) + 1
        return max(next_id, job.highest_foreign_id + 1)
    if job.highest_foreign_id:
        sequence = func.pg_get_serial_sequence("booking", "id")
        job.session.execute(
            select(
                func.setval(sequence, func.greatest(job.highest_foreign_id, func.nextval(sequence)))
            )
        )
    return 0


def _write_intervention_batch(job: Job, batch: Batch, next_id: int) -> int:
    """One batch of interventions, their bookings first; the next free id on SQLite."""
    staged = staging.staged(job, "interventions", batch, "action", "existing_id", "old_status")
    radiation = radiation_fields(job)
    mrns = {values["mrn"] for _, _, values, _ in batch if values is not None}
    patient_ids = {mrn: row.id for mrn, row in existing_patients(job, mrns).items()}
    new_bookings, new_interventions = [], []
    changed_bookings, changed_interventions = [], []
    for line, _, values, _ in batch:
        row = staged[line]
        if row.action not in (NEW, CHANGED):
            continue
        booking_fields = {
            "patient_id": patient_ids[values["mrn"]],
            "physician_id": values["physician_id"],
            "room_id": values["room_id"],
            "starts_at": values["starts_at"],
            "ends_at": values["ends_at"],
            "status": values["status"],
            "notes": values["notes"],
            "updated_at": job.now,
        }
        intervention_fields = {
            "procedure_type_id": values["procedure_type_id"],
            "performed_on": values["performed_on"],
            "baseline_nrs": values["baseline_nrs"],
            "spinal_level": values["spinal_level"],
            "laterality": values["laterality"],
            **{name: values[name] for name in radiation},
        }
        if row.action == NEW:
            new_bookings.append(
                {**booking_fields, "kind": "intervention", "version": 1, "created_at": job.now}
            )
            new_interventions.append({**intervention_fields, "ref": values["ref"]})
        else:
            changed_bookings.append({**booking_fields, "b_id": row.existing_id})
            changed_interventions.append({**intervention_fields, "b_id": row.existing_id})
    if new_bookings:
        next_id = _insert_interventions(job, new_bookings, new_interventions, next_id)
    if changed_bookings:
        audit.audit_intervention_updates(
            job, batch, staged, changed_bookings, changed_interventions, radiation
        )
        job.session.execute(_CHANGE_BOOKING, changed_bookings)
        job.session.execute(_CHANGE_INTERVENTION, changed_interventions)
    return next_id


def _insert_interventions(
    job: Job,
    bookings: list[dict[str, Any]],
    interventions: list[dict[str, Any]],
    next_id: int,
) -> int:
    """New bookings and their interventions under ids chosen first; the next free id on SQLite.

    Choosing the ids lets the interventions name their bookings without RETURNING in parameter
    order (one statement per row on SQLite, and a long query for psycopg to parse on PostgreSQL).
    """
    if job.sqlite:
        ids = list(range(next_id, next_id + len(bookings)))
        next_id += len(bookings)
    else:
        ids = reserve_ids(job.session, booking_table, len(bookings))
    for booking_id, booking_row, intervention_row in zip(ids, bookings, interventions, strict=True):
        booking_row["id"] = intervention_row["id"] = booking_id
    # COPY on PostgreSQL: an executemany is a statement per row there, and each statement
    # fires the tables' statement triggers (the relief report's data version) once more.
    _copy_rows(job, booking_table, bookings)
    _copy_rows(job, intervention_table, interventions)
    return next_id


def _verify_schedule(job: Job, first_new_id: int) -> None:
    """SQLite: the overlap rule that its triggers keep, checked once for the written bookings.

    Its triggers check each booking against every earlier one of its physician, room or
    patient, which makes a bulk write quadratic; they are set aside for the write (inside the
    savepoint, under the write lock) and this one query stands in for them.
    """
    written_table = booking_table.alias("written")
    written = or_(
        written_table.c.id >= first_new_id,
        written_table.c.id.in_(_CHANGED_INTERVENTIONS),
    )
    reach = f"-{int(job.window.total_seconds() // 60)} minutes"
    for resource in ("physician_id", "room_id", "patient_id"):
        other = booking_table.alias(f"other_{resource}")
        in_the_way = (
            select(other.c.id)
            .where(
                booking_resource(other, resource) == written_table.c[resource],
                other.c.id != written_table.c.id,
                other.c.starts_at >= func.datetime(written_table.c.starts_at, reach),
                other.c.starts_at < written_table.c.ends_at,
                other.c.ends_at > written_table.c.starts_at,
                other.c.status.in_(ACTIVE_BOOKING_STATUSES),
            )
            .exists()
        )
        overlap = (
            select(written_table.c.id)
            .where(written, written_table.c.status.in_(ACTIVE_BOOKING_STATUSES), in_the_way)
            .limit(1)
        )
        if job.session.execute(overlap).first() is not None:
            raise ImportFailed(
                "The bookings would overlap others in the schedule once written. "
                "Nothing was imported; run the import again to see the clash."
            )


@contextmanager
def _overlap_triggers_set_aside(session: Session) -> Iterator[None]:
    """SQLite: drop the booking overlap triggers for a bulk write, then create them again as they were.

    Only inside a savepoint: should the write fail, rolling it back restores the triggers.
    """
    triggers = session.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'booking'")
    ).all()
    connection = session.connection()
    for name, _ in triggers:
        connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
    yield
    for _, sql in triggers:
        connection.exec_driver_sql(sql)


# Pain scores --------------------------------------------------------------------------------


def _write_scores(job: Job) -> None:
    if copied.enabled(job):
        copied.write_scores(job)  # PostgreSQL: INSERT … SELECT … ON CONFLICT
        return
    for batch in reading.batches(job, "pain_scores"):
        staged = staging.staged(job, "pain_scores", batch, "action", "intervention_id", "score_id")
        targets = _score_targets(job, batch, staged)
        new, changed = [], []
        for line, key, values, _ in batch:
            row = staged[line]
            if row.action not in (NEW, CHANGED):
                continue
            fields = {name: values[name] for name in SCORE_FIELDS}
            fields["updated_at"] = job.now
            if row.action == NEW:
                target = (
                    targets[("id", row.intervention_id)]
                    if row.intervention_id is not None
                    else targets[("ref", key)]
                )
                new.append(
                    {
                        **fields,
                        "intervention_id": target.id,
                        "patient_id": target.patient_id,
                        "recorded_on": values["recorded_on"],
                        "created_at": job.now,
                    }
                )
            elif row.action == CHANGED:
                changed.append({**fields, "b_id": row.score_id})
        if new:
            # Most of a large import's rows: straight to the driver.
            _copy_rows(job, score_table, new)
        if changed:
            ids = [row["b_id"] for row in changed]
            old = audit.current_values(job, score_table, ids, SCORE_FIELDS)
            audit.audit_updates(job, score_table.name, changed, old, SCORE_FIELDS)
            job.session.execute(_CHANGE_SCORE, changed)


def _score_targets(job: Job, batch: Batch, staged: dict[int, Any]) -> dict[tuple[str, Any], Any]:
    """The interventions (id, ref, patient) that a batch's new scores belong to, by
    ``("id", id)`` and by ``("ref", ref)``: those of the database and those just written."""
    wanted = [staged[line] for line, _, _, _ in batch if staged[line].action == NEW]
    if not wanted:
        return {}
    refs = {key for line, key, _, _ in batch if staged[line].action == NEW}
    ids = {row.intervention_id for row in wanted if row.intervention_id is not None}
    targets = {}
    for row in job.session.execute(
        select(intervention_table.c.id, intervention_table.c.ref, booking_table.c.patient_id)
        .join(booking_table, booking_table.c.id == intervention_table.c.id)
        .where(
            or_(
                job.among(intervention_table.c.id, ids),
                job.among(intervention_table.c.ref, refs),
            )
        )
    ):
        targets[("id", row.id)] = row
        if row.ref is not None:
            targets[("ref", row.ref)] = row
    return targets
