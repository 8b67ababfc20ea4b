"""Stage 2, stage: each row's key, and the little the checks across rows need, into a temporary
table beside its line number, rather than into Python structures, so that memory stays flat
however long the files are. Each row is matched against the database here (new, changed or
unchanged); the checks (``checks.py``) and the writes then read these tables.

One set of tables per connection, created before reading and dropped at the end. On PostgreSQL
rows go in by ``COPY``. The checks read nothing but these tables (and the schedule) and report by
their line numbers, so a stage that fills them another way, such as COPY of a file's raw cells and
SQL over them, leaves the checks and their ``FILE:LINE: column: message`` as they are.

On PostgreSQL a new or changed patient or intervention is staged with the values it writes,
so that the write (``staged_writes.py``) need not read and parse its file a second time.
"""

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    insert,
    select,
    text,
)

from clinic.models.base import UTCDateTime
from clinic.models.patients import search_key
from clinic.models.scheduling import ACTIVE_BOOKING_STATUSES
from clinic.services.interchange.csvio import (
    CELL_COUNT_MISMATCH,
    PAIN_SCORES_COLUMNS,
    clinic_id,
    trim,
)
from clinic.services.interchange.imports.audit import INTERVENTION_COLUMNS
from clinic.services.interchange.imports.job import Job
from clinic.services.interchange.imports.matching import (
    CONSENT_FIELDS,
    PATIENT_FIELDS,
    RADIATION_FIELDS,
    SCORE_FIELDS,
    compare,
    existing_interventions,
    existing_patients,
    intervention_fields,
    mrn_clash,
    patient_fields,
)
from clinic.services.interchange.imports.reading import Batch
from clinic.services.interchange.imports.records import Record, parse_day, parse_minute
from clinic.services.interchange.imports.report import CHANGED, NEW
from clinic.services.interchange.imports.tables import patient_table, score_table
from clinic.services.patients import normalise_mrn

# Their own metadata: they are no part of the schema that Alembic manages.
_staging = MetaData()
STAGED_PATIENT = Table(
    "clinic_import_patient",
    _staging,
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("mrn", String, nullable=False),  # normalised, the key
    Column("spelling", String, nullable=False),  # as the file writes it, for the messages
    Column("action", SmallInteger),  # NEW, CHANGED, UNCHANGED; empty for a refused row
    Column("patient_id", Integer),
    # The values a row writes, staged on PostgreSQL (``staged_writes.py`` writes from here).
    *[Column(name, String) for name in ("first_name", "last_name", "sex", "phone", "email")],
    Column("date_of_birth", Date),
    Column("condition", String),
    Column("email_consent", Boolean),
    Column("email_consent_on", Date),
    Column("name_key", String),
    Index("ix_clinic_import_patient_mrn", "mrn"),
    prefixes=["TEMPORARY"],
)
STAGED_BOOKING = Table(
    "clinic_import_booking",
    _staging,
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("ref", String, nullable=False),
    Column("action", SmallInteger),
    Column("existing_id", Integer),  # the intervention this row updates
    Column("old_status", String),  # its status before (the write cancels it for a moment)
    Column("status", String),  # its status in the file, when the row was read cleanly
    Column("mrn", String),
    Column("patient_id", Integer),  # the patient, when already in the database
    Column("physician_id", Integer),
    Column("room_id", Integer),
    Column("starts_at", UTCDateTime()),
    Column("ends_at", UTCDateTime()),
    Column("window_start", UTCDateTime()),  # starts_at less the longest booking
    Column("active", Boolean, nullable=False),  # a valid slot that holds its time
    # The values a row writes beyond its slot and status, staged on PostgreSQL
    # (``staged_writes.py`` writes from here), and the id a new one is given.
    Column("procedure_type_id", Integer),
    Column("performed_on", Date),
    Column("baseline_nrs", SmallInteger),
    Column("spinal_level", String),
    Column("laterality", String),
    Column("notes", String),
    Column("guidance", String),
    Column("fluoro_seconds", Integer),
    Column("air_kerma_mgy", Numeric),  # as written: 12.0 stays 12.0, as the audit shows it
    Column("sedation", String),
    Column("new_id", Integer),
    Index("ix_clinic_import_booking_ref", "ref"),
    Index("ix_clinic_import_booking_physician", "physician_id", "starts_at"),
    Index("ix_clinic_import_booking_room", "room_id", "starts_at"),
    Index("ix_clinic_import_booking_mrn", "mrn", "starts_at"),
    prefixes=["TEMPORARY"],
)
STAGED_SCORE = Table(
    "clinic_import_score",
    _staging,
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("ref", String, nullable=False),
    Column("recorded_on", Date),
    Column("action", SmallInteger),
    Column("intervention_id", Integer),  # when the intervention is already in the database
    Column("score_id", Integer),  # the score this row updates
    # The typed values, staged only by the COPY stage (``copied.py``), which writes from here.
    Column("nrs", SmallInteger),
    Column("percent_relief", SmallInteger),
    Column("source", String),
    prefixes=["TEMPORARY"],
)
# The COPY stage (PostgreSQL): a pain-score file's cells as written, by line, and its refs.
RAW_SCORE = Table(
    "clinic_import_score_raw",
    _staging,
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("whole", Boolean, nullable=False),  # its cells match the header
    Column("refused", Boolean, nullable=False),  # already refused by the Python parser
    *[Column(name, String) for name in PAIN_SCORES_COLUMNS],
    prefixes=["TEMPORARY"],
)
SCORE_REF = Table(
    "clinic_import_score_ref",
    _staging,
    Column("ref", String, primary_key=True),
    Column("known", Boolean, nullable=False),  # in the interventions file or the database
    Column("intervention_id", Integer),  # when already in the database
    prefixes=["TEMPORARY"],
)
STAGED_SCORE_KEY = Index(
    "ix_clinic_import_score_key", STAGED_SCORE.c.ref, STAGED_SCORE.c.recorded_on
)
# A medications file's rows, typed (amounts as their decimal text): ``medications.py`` compares
# each intervention's list with the stored one and writes from here.
STAGED_MEDICATION = Table(
    "clinic_import_medication",
    _staging,
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("ref", String, nullable=False),
    Column("action", SmallInteger),  # NEW, CHANGED, UNCHANGED for its intervention's list
    Column("refused", Boolean, nullable=False),
    Column("intervention_id", Integer),  # when the intervention is already in the database
    Column("drug_id", Integer),
    Column("dose_mg", String),
    Column("volume_ml", String),
    Column("route_site", String),
    Index("ix_clinic_import_medication_ref", "ref", "line"),
    prefixes=["TEMPORARY"],
)
STAGED = {
    "patients": STAGED_PATIENT,
    "interventions": STAGED_BOOKING,
    "pain_scores": STAGED_SCORE,
    "medications": STAGED_MEDICATION,
}


def create_tables(job: Job) -> None:
    drop_tables(job)
    connection = job.session.connection()
    for table in _staging.sorted_tables:
        table.create(connection)


def drop_tables(job: Job) -> None:
    schema = "temp" if job.sqlite else "pg_temp"
    for table in reversed(_staging.sorted_tables):
        job.session.execute(text(f"DROP TABLE IF EXISTS {schema}.{table.name}"))


def stage(job: Job, kind: str, batches: Iterable[Batch]) -> None:
    """Every batch of one file into its table; then fresh statistics for the checks."""
    stage_batch = {
        "patients": _stage_patients,
        "interventions": _stage_interventions,
        "pain_scores": _stage_scores,
    }[kind]
    for batch in batches:
        stage_batch(job, batch)
    job.analyze(STAGED[kind])


def staged(job: Job, kind: str, batch: Batch, *columns: str) -> dict[int, Any]:
    """What staging recorded for the rows of a batch, by line (for the write)."""
    table = STAGED[kind]
    lines = [line for line, _, _, _ in batch]
    return {
        row.line: row
        for row in job.session.execute(
            select(table.c.line, *[table.c[name] for name in columns]).where(
                table.c.line.between(min(lines), max(lines))
            )
        )
    }


def copy_into(job: Job, table: Table, rows: list[dict[str, Any]]) -> None:
    """Rows into a temporary table: COPY on PostgreSQL (psycopg would otherwise send an
    executemany one statement per row), an executemany INSERT on SQLite."""
    if job.sqlite:
        job.session.execute(insert(table), rows)
        return
    names = [column.name for column in table.columns]
    driver = job.session.connection().connection.driver_connection
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy,
    ):
        for row in rows:
            # A key with a NUL is staged as U+FFFD (PostgreSQL's text holds no NUL); its
            # record is refused with the line and column all the same.
            copy.write_row([_storable(row.get(name)) for name in names])


def _storable(value):
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def _stage_patients(job: Job, batch: Batch) -> None:
    fields = patient_fields(job)
    columns = [patient_table.c[name] for name in fields if name != "mrn"]
    existing = existing_patients(job, {key for _, key, _, _ in batch}, *columns)
    rows = []
    for line, key, values, record in batch:
        found = existing.get(key)
        clash = mrn_clash(job, key, existing)
        if clash is not None:
            job.problem("patients", line, "mrn", clash)
            values = None
        action = None
        if values is not None:
            action = compare(found, values, fields)
            job.counts["patients"].add(action)
        rows.append(
            {
                "line": line,
                "mrn": key,
                "spelling": trim(record.row.get("mrn") or ""),
                "action": action,
                "patient_id": found.id if found is not None else None,
                **_written(job, PATIENT_VALUES, values if action in (NEW, CHANGED) else None),
            }
        )
    copy_into(job, STAGED_PATIENT, rows)


def _stage_interventions(job: Job, batch: Batch) -> None:
    existing = existing_interventions(job, {key for _, key, _, _ in batch})
    written = {line: trim(record.row.get("mrn") or "") for line, _, _, record in batch}
    mrns = {line: normalise_mrn(spelling) for line, spelling in written.items()}
    patients = existing_patients(job, set(mrns.values()) - {""})
    patient_ids = {mrn: row.id for mrn, row in patients.items()}
    in_patients_file = set(
        job.session.execute(
            select(STAGED_PATIENT.c.mrn).where(
                job.among(STAGED_PATIENT.c.mrn, set(mrns.values()) - {""} - set(patient_ids))
            )
        ).scalars()
    )
    rows = []
    for line, key, values, record in batch:
        mrn = mrns[line]
        if not _patient_is_known(job, line, mrn, written[line], patients, in_patients_file):
            values = None
        found = existing.get(key)
        # The same patient, however the MRN was stored when the intervention was imported.
        same_patient = found is not None and found.patient_id == patient_ids.get(mrn)
        if found is not None and found.ref is None and mrn and not same_patient:
            # An id names an intervention created in Clinic only for its own patient.
            job.problem(
                "interventions",
                line,
                "ref",
                f"{key} names an intervention created in Clinic for another patient; "
                "give this intervention a ref of its own",
            )
            found, values = None, None
        action = None
        if values is not None:
            compared = {**values, "mrn": found.mrn} if same_patient else values
            action = compare(found, compared, intervention_fields(job))
            job.counts["interventions"].add(action)
            foreign_id = clinic_id(key) if action == NEW else None
            if foreign_id is not None:
                job.highest_foreign_id = max(job.highest_foreign_id, foreign_id)
        rows.append(
            {
                "line": line,
                "ref": key,
                "action": action,
                "existing_id": found.id if found is not None else None,
                "old_status": found.status if found is not None else None,
                "status": values["status"] if values is not None else None,
                "mrn": mrn or None,
                "patient_id": patient_ids.get(mrn),
                **_slot(job, record),
                **_written(job, INTERVENTION_VALUES, values if action in (NEW, CHANGED) else None),
            }
        )
    copy_into(job, STAGED_BOOKING, rows)


# What ``staged_writes.py`` writes of a patient and of an intervention, besides the key, the
# slot and the status that the checks already stage.
PATIENT_VALUES = tuple(name for name in (*PATIENT_FIELDS, *CONSENT_FIELDS) if name != "mrn")
INTERVENTION_VALUES = (*INTERVENTION_COLUMNS, "notes", *RADIATION_FIELDS)


def _written(job: Job, names: tuple[str, ...], values: dict[str, Any] | None) -> dict[str, Any]:
    """On PostgreSQL, the values that a new or changed row writes, so that the write need not
    read and parse the file again (columns the file lacks stay empty); nothing on SQLite,
    which reads the file again to write it (``writing.py``)."""
    if not staged_values(job) or values is None:
        return {}
    written = {name: values.get(name) for name in names}
    if "first_name" in names:
        written["name_key"] = search_key(f"{values['last_name']} {values['first_name']}")
    return written


def staged_values(job: Job) -> bool:
    """Whether this import stages the values its patients and interventions write, and writes
    them from there: on PostgreSQL, where the pain scores are staged through COPY too (one
    switch, ``STAGE_VALUES``, for the tests that run the batch path there to compare)."""
    return STAGE_VALUES and not job.sqlite


# Off only in the tests that run the batch path on PostgreSQL to compare the two.
STAGE_VALUES = True


def _patient_is_known(
    job: Job,
    line: int,
    mrn: str,
    spelling: str,
    patients: dict[str, Any],
    in_patients_file: set[str],
) -> bool:
    """Whether an intervention's MRN names one patient, in the database or the patients file;
    a problem when it names none or several (an unreadable patients file proves nothing)."""
    clash = mrn_clash(job, mrn, patients) if mrn else None
    if clash is not None and mrn not in in_patients_file:
        job.problem("interventions", line, "mrn", clash)
        return False
    if (
        mrn
        and mrn not in patients
        and mrn not in in_patients_file
        and "patients" not in job.unusable
    ):
        patients_file = job.names.get("patients")
        where = f"in the database or in {patients_file}" if patients_file else "in the database"
        written = f' (written "{spelling}")' if spelling != mrn else ""
        job.problem("interventions", line, "mrn", f'no patient has MRN "{mrn}"{written} {where}')
        return False
    return True


def _slot(job: Job, record: Record) -> dict[str, Any]:
    """Where and when a booking row sits, for the clash checks; inactive unless it parsed cleanly."""
    empty = {
        "physician_id": None,
        "room_id": None,
        "starts_at": None,
        "ends_at": None,
        "window_start": None,
        "active": False,
    }
    faulty = {column for column, _ in record.faults}
    slot_columns = {"physician", "scheduled_start", "scheduled_end", "room", "status", "mrn"}
    row = record.row
    if faulty & slot_columns or CELL_COUNT_MISMATCH in row:
        return empty
    username = trim(row.get("physician", ""))
    physician_id, role = job.staff.get(username, (None, None))
    starts_at = parse_minute(trim(row.get("scheduled_start", "")), job.zone)
    ends_at = parse_minute(trim(row.get("scheduled_end", "")), job.zone)
    room = trim(row.get("room", ""))
    status = trim(row.get("status", ""))
    if (
        role != "physician"
        or not isinstance(starts_at, datetime)
        or not isinstance(ends_at, datetime)
        or ends_at <= starts_at
        or (room and room not in job.rooms)
    ):
        return empty
    return {
        "physician_id": physician_id,
        "room_id": job.rooms.get(room) if room else None,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "window_start": starts_at - job.window,
        "active": status in ACTIVE_BOOKING_STATUSES,
    }


def _stage_scores(job: Job, batch: Batch) -> None:
    refs = {key for _, key, _, _ in batch}
    in_file = dict(
        job.session.execute(
            select(STAGED_BOOKING.c.ref, STAGED_BOOKING.c.existing_id).where(
                job.among(STAGED_BOOKING.c.ref, refs)
            )
        ).all()
    )
    in_database = {
        ref: row.id for ref, row in existing_interventions(job, refs - set(in_file)).items()
    }
    intervention_ids = {ref: in_file.get(ref, in_database.get(ref)) for ref in refs}
    days = [values["recorded_on"] for _, _, values, _ in batch if values is not None]
    existing = _existing_scores(job, intervention_ids.values(), days)
    interventions_file = job.names.get("interventions")
    rows = []
    for line, key, values, record in batch:
        if key not in in_file and key not in in_database:
            if "interventions" not in job.unusable:
                where = (
                    f"in the database or in {interventions_file}"
                    if interventions_file
                    else "in the database"
                )
                job.problem(
                    "pain_scores",
                    line,
                    "intervention_ref",
                    f'no intervention has ref "{key}" {where}',
                )
            values = None
        intervention_id = intervention_ids.get(key)
        recorded_on = parse_day(trim(record.row.get("recorded_on") or ""))
        found = existing.get((intervention_id, recorded_on))
        action = None
        if values is not None:
            action = compare(found, values, SCORE_FIELDS)
            job.counts["pain_scores"].add(action)
        rows.append(
            {
                "line": line,
                "ref": key,
                "recorded_on": recorded_on,
                "action": action,
                "intervention_id": intervention_id,
                "score_id": found.id if found is not None else None,
            }
        )
    copy_into(job, STAGED_SCORE, rows)


def _existing_scores(
    job: Job, intervention_ids: Iterable[int | None], days: list[date]
) -> dict[tuple[int, date], Any]:
    """The database's scores of these interventions within the batch's dates, by their key."""
    known_ids = {value for value in intervention_ids if value is not None}
    if not known_ids or not days:
        return {}
    return {
        (row.intervention_id, row.recorded_on): row
        for row in job.session.execute(
            select(
                score_table.c.id,
                score_table.c.intervention_id,
                score_table.c.recorded_on,
                *[score_table.c[name] for name in SCORE_FIELDS],
            ).where(
                job.among(score_table.c.intervention_id, known_ids),
                score_table.c.recorded_on.between(min(days), max(days)),
            )
        )
    }
