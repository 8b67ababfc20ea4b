"""Patients and interventions written from their staged rows (PostgreSQL), not from the files
read and parsed a second time.

Staging (``staging.py``) already parsed every row and kept, beside its line, what a new or
changed row writes. Here the new rows go in by one ``INSERT … SELECT`` per table, in the order
of the file, and the changed rows, usually few, are read back from the staged table a batch
at a time and written as the batch path writes them, with the same ``update`` audit events
(``audit.py``). SQLite keeps the batch path of ``writing.py``; both write the same rows.
"""

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Table, func, select, text

from clinic.services.interchange.imports import audit
from clinic.services.interchange.imports.job import Job
from clinic.services.interchange.imports.matching import patient_fields, radiation_fields
from clinic.services.interchange.imports.report import CHANGED, NEW, Refused
from clinic.services.interchange.imports.staging import STAGED_BOOKING, STAGED_PATIENT
from clinic.services.interchange.imports.tables import patient_table

# A patient written for an intervention that staging did not find in the database is the one
# the patients file has just added, under the MRN as the clinic writes it.
_PATIENT_OF_BOOKING = "COALESCE(s.patient_id, (SELECT p.id FROM patient AS p WHERE p.mrn = s.mrn))"
# What a written intervention's booking and intervention hold, as the audit trail names them
# (the booking's patient is found apart, above).
_BOOKING_FIELDS = tuple(name for name in audit.BOOKING_COLUMNS if name != "patient_id")
_INTERVENTION_FIELDS = audit.INTERVENTION_COLUMNS


def write_patients(job: Job, change) -> None:
    """The new patients in one statement; the changed ones by ``change`` (old values audited)."""
    fields = patient_fields(job)
    counts = job.counts["patients"]
    if counts.new:
        columns = [name for name in fields if name != "mrn"]
        _insert_new(
            job,
            "patients",
            "INSERT INTO patient (mrn, name_key, archived, version, created_at, updated_at, "  # noqa: S608
            f"{', '.join(columns)}) SELECT s.mrn, s.name_key, false, 1, :now, :now, "
            f"{', '.join(f's.{name}' for name in columns)} FROM {STAGED_PATIENT.name} AS s "
            f"WHERE s.action = {NEW} ORDER BY s.line",
            counts.new,
        )
    names = [name for name in fields if name != "mrn"]
    staged = STAGED_PATIENT.c
    extra = [staged.mrn, staged.name_key, staged.patient_id]
    for rows in _changed(job, STAGED_PATIENT, extra, names):
        changed = [
            {
                **{name: row[name] for name in fields},
                "name_key": row["name_key"],
                "updated_at": job.now,
                "b_id": row["patient_id"],
            }
            for row in rows
        ]
        old = audit.current_values(job, patient_table, [row["b_id"] for row in changed], fields)
        audit.audit_updates(job, patient_table.name, changed, old, fields)
        change(changed)


def write_interventions(job: Job, change_bookings, change_interventions) -> None:
    """The new bookings and their interventions in one statement each, under ids taken from
    the booking sequence in the order of the file; the changed ones by the two ``change_``
    writes, their old values audited."""
    radiation = radiation_fields(job)
    intervention_fields = (*_INTERVENTION_FIELDS, *radiation)
    counts = job.counts["interventions"]
    booking, staged = "booking", STAGED_BOOKING.name
    if counts.new:
        job.session.execute(
            text(
                f"UPDATE {staged} AS s SET new_id = n.id FROM (SELECT o.line, "  # noqa: S608
                f"nextval(pg_get_serial_sequence('{booking}', 'id')) AS id FROM (SELECT line "
                f"FROM {staged} WHERE action = {NEW} ORDER BY line) AS o) AS n "
                "WHERE s.line = n.line"
            )
        )
        _insert_new(
            job,
            "interventions",
            f"INSERT INTO {booking} (id, kind, version, created_at, updated_at, patient_id, "  # noqa: S608
            f"{', '.join(_BOOKING_FIELDS)}) SELECT s.new_id, 'intervention', 1, :now, :now, "
            f"{_PATIENT_OF_BOOKING}, {', '.join(f's.{name}' for name in _BOOKING_FIELDS)} "
            f"FROM {staged} AS s WHERE s.action = {NEW} ORDER BY s.line",
            counts.new,
        )
        _insert_new(
            job,
            "interventions",
            f"INSERT INTO intervention (id, ref, {', '.join(intervention_fields)}) "  # noqa: S608
            f"SELECT s.new_id, s.ref, {', '.join(f's.{name}' for name in intervention_fields)} "
            f"FROM {staged} AS s WHERE s.action = {NEW} ORDER BY s.line",
            counts.new,
        )
    columns = STAGED_BOOKING.c
    patient_of_booking = select(patient_table.c.id).where(patient_table.c.mrn == columns.mrn)
    extra = [
        columns.existing_id,
        columns.old_status,
        func.coalesce(columns.patient_id, patient_of_booking.scalar_subquery()).label("patient_id"),
    ]
    for rows in _changed(job, STAGED_BOOKING, extra, [*_BOOKING_FIELDS, *intervention_fields]):
        bookings = [
            {
                "patient_id": row["patient_id"],
                **{name: row[name] for name in _BOOKING_FIELDS},
                "updated_at": job.now,
                "b_id": row["existing_id"],
            }
            for row in rows
        ]
        interventions = [
            {**{name: row[name] for name in intervention_fields}, "b_id": row["existing_id"]}
            for row in rows
        ]
        batch = [(row["line"], None, None, None) for row in rows]
        staged_rows = {row["line"]: _Staged(row) for row in rows}
        audit.audit_intervention_updates(
            job, batch, staged_rows, bookings, interventions, radiation
        )
        change_bookings(bookings)
        change_interventions(interventions)


class _Staged:
    """A changed row as ``audit.audit_intervention_updates`` reads staging's rows."""

    __slots__ = ("action", "existing_id", "old_status")

    def __init__(self, row: Any) -> None:
        self.action = CHANGED
        self.existing_id = row["existing_id"]
        self.old_status = row["old_status"]


def _insert_new(job: Job, kind: str, statement: str, expected: int) -> None:
    """One ``INSERT … SELECT`` of a file's new rows; refused unless it wrote them all."""
    written = job.session.execute(text(statement), {"now": job.now}).rowcount
    if written != expected:
        raise Refused(f"{job.names[kind]}: {written} rows written where {expected} were checked")


def _changed(job: Job, table: Table, extra: list, names: list[str]) -> Iterator[list[Any]]:
    """The changed rows of a staged table with their values, in batches in the order of the
    file (by line, from where the last batch ended: memory stays flat)."""
    last = 0
    while True:
        rows = (
            job.session.execute(
                select(table.c.line, *extra, *[table.c[name] for name in names])
                .where(table.c.action == CHANGED, table.c.line > last)
                .order_by(table.c.line)
                .limit(job.batch_size)
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        yield rows
        last = rows[-1]["line"]
