"""Stage 3, check: what no single record shows, found by set-based queries over the staged
tables (``staging.py``) and reported at the line of each row in question: duplicate keys,
refs that name the same record, and bookings that clash with each other or with the schedule."""

from itertools import groupby
from typing import Any

from sqlalchemy import Table, and_, func, or_, select
from sqlalchemy.orm import joinedload

from clinic.models.scheduling import ACTIVE_BOOKING_STATUSES
from clinic.services.interchange.imports.job import Job
from clinic.services.interchange.imports.report import and_list, local_minute
from clinic.services.interchange.imports.staging import (
    STAGED_BOOKING,
    STAGED_PATIENT,
    STAGED_SCORE,
)
from clinic.services.interchange.imports.tables import booking_resource, booking_table
from clinic.services.scheduling.bookings import any_booking, describe


def check(job: Job) -> None:
    """Every check across records, file by file, once all of them are staged."""
    if "patients" in job.kinds:
        _find_duplicates(job, "patients", STAGED_PATIENT, ["mrn"], _patient_key, ["spelling"])
    if "interventions" in job.kinds:
        _find_duplicates(job, "interventions", STAGED_BOOKING, ["ref"], _ref_key)
        _find_aliases(
            job,
            "interventions",
            STAGED_BOOKING,
            ["existing_id"],
            "ref",
            "give the intervention one row",
        )
        _find_clashes_in_files(job)
        _find_clashes_with_schedule(job)
    if "pain_scores" in job.kinds:
        _find_duplicates(job, "pain_scores", STAGED_SCORE, ["ref", "recorded_on"], _score_key)
        _find_aliases(
            job,
            "pain_scores",
            STAGED_SCORE,
            ["intervention_id", "recorded_on"],
            "intervention_ref",
            "one score per intervention per date",
        )


def _patient_key(row) -> tuple[str, str]:
    if row.spelling == row.first_spelling:
        return "mrn", f"MRN {row.spelling} appears twice (first on line {row.first})"
    return (
        "mrn",
        f"MRN {row.spelling} appears twice (first on line {row.first} as "
        f"{row.first_spelling}; an MRN is read in capitals, without spaces)",
    )


def _ref_key(row) -> tuple[str, str]:
    return "ref", f"ref {row.ref} appears twice (first on line {row.first})"


def _score_key(row) -> tuple[str, str]:
    return (
        "recorded_on",
        f"a second score for {row.ref} on {row.recorded_on.isoformat()} (first on line "
        f"{row.first}); one score per intervention per date",
    )


def _find_duplicates(
    job: Job,
    kind: str,
    table: Table,
    keys: list[str],
    describe_row,
    shown: tuple[str, ...] | list[str] = (),
) -> None:
    """Every later occurrence of a key that appears more than once in the file.

    ``shown`` are more columns for the message, of the row and (as ``first_NAME``) of the
    key's first row.
    """
    key_columns = [table.c[name] for name in keys]
    first = (
        select(*key_columns, func.min(table.c.line).label("first"))
        .where(*[column.is_not(None) for column in key_columns])
        .group_by(*key_columns)
        .having(func.count() > 1)
        .subquery()
    )
    joined = table.join(first, and_(*[column == first.c[column.name] for column in key_columns]))
    earliest = table.alias("earliest")
    if shown:
        joined = joined.join(earliest, earliest.c.line == first.c.first)
    statement = (
        select(
            table.c.line,
            first.c.first,
            *key_columns,
            *[table.c[name] for name in shown],
            *[earliest.c[name].label(f"first_{name}") for name in shown],
        )
        .select_from(joined)
        .where(table.c.line != first.c.first)
        .order_by(table.c.line)
    )
    for row in job.session.execute(statement):
        column, message = describe_row(row)
        job.problem(kind, row.line, column, message)


def _find_aliases(
    job: Job, kind: str, table: Table, keys: list[str], column: str, rule: str
) -> None:
    """Rows whose refs differ but name the same record (``clinic:2`` and ``2``, say).

    Grouped first, so that the database sorts the file once and only the rare records with
    more than one ref come back.
    """
    key_columns = [table.c[name] for name in keys]
    aliased = (
        select(*key_columns)
        .where(*[key.is_not(None) for key in key_columns])
        .group_by(*key_columns)
        .having(func.count(table.c.ref.distinct()) > 1)
        .subquery()
    )
    statement = (
        select(table.c.line, table.c.ref, *key_columns)
        .join(aliased, and_(*[key == aliased.c[key.name] for key in key_columns]))
        .order_by(*key_columns, table.c.line)
    )
    for _, rows in groupby(job.session.execute(statement), key=lambda row: row[2:]):
        first, *later = rows
        seen = {first.ref}
        for row in later:
            if row.ref not in seen:  # a second row of the same ref is a duplicate already
                seen.add(row.ref)
                job.problem(
                    kind,
                    row.line,
                    column,
                    f"{row.ref} names the same intervention as {first.ref} on line "
                    f"{first.line}; {rule}",
                )


def _find_clashes_in_files(job: Job) -> None:
    """Active bookings of the file that overlap an earlier one of the file.

    For each booking and each of its physician, room and patient, an earlier line in the way
    (the one that starts first): a correlated subquery, so that the database walks the file
    once and looks each booking up by index (resource, start) within the reach of the
    longest booking.
    """
    later = STAGED_BOOKING.alias("later")
    resources = ("physician_id", "room_id", "mrn")
    firsts = []
    for resource in resources:
        earlier = STAGED_BOOKING.alias(f"earlier_{resource}")
        firsts.append(
            select(earlier.c.line)
            .where(
                earlier.c[resource] == later.c[resource],
                earlier.c.active,
                earlier.c.line < later.c.line,
                earlier.c.starts_at >= later.c.window_start,
                earlier.c.starts_at < later.c.ends_at,
                earlier.c.ends_at > later.c.starts_at,
            )
            # In the order of the (resource, start) index, so the database walks that
            # index and stops at the first hit (ordering by line would walk every earlier
            # line of the file).
            .order_by(earlier.c.starts_at, earlier.c.line)
            .limit(1)
            .scalar_subquery()
            .label(f"first_{resource}")
        )
    found = (
        select(later.c.line, *[later.c[name] for name in resources], *firsts)
        .where(later.c.active)
        .subquery()
    )
    statement = (
        select(found)
        .where(or_(*[found.c[f"first_{name}"].is_not(None) for name in resources]))
        .order_by(found.c.line)
    )
    for row in job.session.execute(statement).mappings():
        clashes: dict[int, list[str]] = {}
        for resource in resources:
            earlier_line = row[f"first_{resource}"]
            if earlier_line is not None:
                label = _resource_label(job, resource, row[resource])
                clashes.setdefault(earlier_line, []).append(label)
        for earlier_line, held in sorted(clashes.items()):
            _report_clash_in_files(job, row["line"], earlier_line, held)


def _report_clash_in_files(job: Job, line: int, earlier_line: int, held: list[str]) -> None:
    other = job.session.execute(
        select(STAGED_BOOKING.c.ref, STAGED_BOOKING.c.starts_at, STAGED_BOOKING.c.ends_at).where(
            STAGED_BOOKING.c.line == earlier_line
        )
    ).one()
    verb = "is" if len(held) == 1 else "are"
    job.problem(
        "interventions",
        line,
        "scheduled_start",
        f"clashes with line {earlier_line} (ref {other.ref}): {and_list(held)} {verb} "
        f"already booked {local_minute(other.starts_at, job.zone)}–"
        f"{other.ends_at.astimezone(job.zone):%H:%M}",
    )


def _resource_label(job: Job, resource: str, value: Any) -> str:
    if resource == "physician_id":
        return f"the physician {job.usernames.get(value, value)}"
    if resource == "room_id":
        return f"the room {job.room_names.get(value, value)}"
    return f"the patient with MRN {value}"


def _find_clashes_with_schedule(job: Job) -> None:
    """Active bookings of the file that overlap an active booking already in the schedule.

    Bookings that the file itself updates are left out: their new times are in the file.
    As in the file's own check, a correlated subquery per physician, room and patient finds
    the first booking in the way by index, within the reach of the longest booking.
    """
    staged = STAGED_BOOKING
    replaced = select(staged.c.existing_id).where(staged.c.existing_id.is_not(None))
    resources = ("physician_id", "room_id", "patient_id")
    firsts = []
    for resource in resources:
        booking = booking_table.alias(f"booking_{resource}")
        firsts.append(
            select(booking.c.id)
            .where(
                booking_resource(booking, resource) == staged.c[resource],
                booking.c.starts_at >= staged.c.window_start,
                booking.c.starts_at < staged.c.ends_at,
                booking.c.ends_at > staged.c.starts_at,
                booking.c.status.in_(ACTIVE_BOOKING_STATUSES),
                booking.c.id.not_in(replaced),
            )
            .order_by(booking.c.starts_at, booking.c.id)
            .limit(1)
            .scalar_subquery()
            .label(f"first_{resource}")
        )
    found = select(staged.c.line, *firsts).where(staged.c.active).subquery()
    statement = (
        select(found)
        .where(or_(*[found.c[f"first_{name}"].is_not(None) for name in resources]))
        .order_by(found.c.line)
    )
    clashes: dict[tuple[int, int], list[str]] = {}
    for row in job.session.execute(statement).mappings():
        for resource in resources:
            if row[f"first_{resource}"] is not None:
                clashes.setdefault((row["line"], row[f"first_{resource}"]), []).append(resource)
    if clashes:
        _report_clashes_with_schedule(job, clashes)


def _report_clashes_with_schedule(job: Job, clashes: dict[tuple[int, int], list[str]]) -> None:
    """Each clash as the schedule describes the booking in the way (by (line, booking id))."""
    kind = any_booking()
    bookings = {
        found.id: found
        for found in job.session.execute(
            select(kind)
            .options(
                joinedload(kind.patient),
                joinedload(kind.physician),
                joinedload(kind.room),
                joinedload(kind.Intervention.procedure_type),
            )
            .where(kind.id.in_({booking_id for _, booking_id in clashes}))
        )
        .unique()
        .scalars()
    }
    for (line, booking_id), resources in sorted(clashes.items()):
        other = bookings[booking_id]
        held = []
        if "physician_id" in resources:
            held.append(other.physician.full_name)
        if "room_id" in resources and other.room is not None:
            held.append(other.room.name)
        if "patient_id" in resources:
            held.append("the patient" if held else "The patient")
        verb = "is" if len(held) == 1 else "are"
        job.problem(
            "interventions",
            line,
            "scheduled_start",
            f"clashes with the schedule: {and_list(held)} {verb} already booked: "
            f"{describe(other, job.zone)}",
        )
