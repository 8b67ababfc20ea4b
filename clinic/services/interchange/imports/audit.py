"""Stage 5, audit: the trail an import writes itself, in the same transaction, since its bulk
Core writes pass the audit flush hook by.

Each changed patient, intervention and pain score gets an ``update`` event with the fields that
changed as ``{field: [old, new]}``, the same record type, id and shape as the hook writes, one
executemany per batch (the old values read just before the batch's update). New rows are covered
by the one ``import`` event with the counts per file (a million new pain scores would otherwise
add a million audit rows). A dry run writes nothing, not even that event.
"""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, insert, select

from clinic.services.identity.audit import COMMAND_LINE, _jsonable, current_actor, record_event
from clinic.services.interchange.imports.job import Job
from clinic.services.interchange.imports.reading import Batch
from clinic.services.interchange.imports.report import CHANGED, ImportReport
from clinic.services.interchange.imports.tables import (
    audit_table,
    booking_table,
    intervention_table,
)

# The columns an import writes to an intervention's booking and to the intervention itself,
# as the audit trail names them.
BOOKING_COLUMNS = (
    "patient_id",
    "physician_id",
    "room_id",
    "starts_at",
    "ends_at",
    "status",
    "notes",
)
INTERVENTION_COLUMNS = (
    "procedure_type_id",
    "performed_on",
    "baseline_nrs",
    "spinal_level",
    "laterality",
)


def record_import(job: Job, report: ImportReport) -> None:
    """The one ``import`` event, with the counts per file, once everything is written."""
    record_event(job.session, "import", details=report.audit_details())
    job.session.flush()


def current_values(
    job: Job, table: Table, ids: list[int], fields: tuple[str, ...]
) -> dict[int, Mapping[str, Any]]:
    """The values of these records now, by id: what a batch is about to replace."""
    columns = [table.c[name] for name in fields]
    return {
        row["id"]: row
        for row in job.session.execute(
            select(table.c.id, *columns).where(job.among(table.c.id, ids))
        ).mappings()
    }


def audit_updates(
    job: Job,
    record_type: str,
    changed: list[dict[str, Any]],
    old: Mapping[int, Mapping[str, Any]],
    fields: tuple[str, ...],
) -> None:
    """One ``update`` audit event per changed row of a batch, in one executemany.

    ``changed`` are the rows about to be written (``b_id`` the record's id), ``old`` the
    record's values before, by id. As the flush hook writes them: the actor of the session,
    and each field that changes as ``[old, new]``.
    """
    actor = current_actor(job.session) or COMMAND_LINE
    events = []
    for values in changed:
        before = old[values["b_id"]]
        changes = {
            name: [_jsonable(before[name]), _jsonable(values[name])]
            for name in fields
            if before[name] != values[name]
        }
        if changes:
            events.append(
                {
                    "occurred_at": job.now,
                    "actor_id": actor.user_id,
                    "actor_name": actor.name,
                    "action": "update",
                    "record_type": record_type,
                    "record_id": str(values["b_id"]),
                    "changes": changes,
                    "client_address": actor.client_address,
                }
            )
    if events:
        job.session.execute(insert(audit_table), events)


def audit_intervention_updates(
    job: Job,
    batch: Batch,
    staged: Mapping[int, Any],
    changed_bookings: list[dict[str, Any]],
    changed_interventions: list[dict[str, Any]],
    radiation: tuple[str, ...] = (),
) -> None:
    """The audit events of a batch's changed interventions, booking and intervention fields
    together as the flush hook records an ``Intervention``."""
    ids = [row["b_id"] for row in changed_bookings]
    old = {
        row["id"]: row
        for row in job.session.execute(
            select(
                booking_table.c.id,
                *[booking_table.c[name] for name in BOOKING_COLUMNS],
                *[intervention_table.c[name] for name in INTERVENTION_COLUMNS + radiation],
            )
            .join(intervention_table, intervention_table.c.id == booking_table.c.id)
            .where(job.among(booking_table.c.id, ids))
        ).mappings()
    }
    # The status as it was before the changed bookings stepped out of the schedule.
    old_status = {
        row.existing_id: row.old_status
        for line, _, _, _ in batch
        if (row := staged[line]).action == CHANGED
    }
    before = {
        booking_id: {**values, "status": old_status[booking_id]}
        for booking_id, values in old.items()
    }
    changed = [
        {**booking, **intervention}
        for booking, intervention in zip(changed_bookings, changed_interventions, strict=True)
    ]
    audit_updates(
        job,
        intervention_table.name,
        changed,
        before,
        (*BOOKING_COLUMNS, *INTERVENTION_COLUMNS, *radiation),
    )
