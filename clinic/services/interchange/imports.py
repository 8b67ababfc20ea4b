"""Importing patients, interventions and pain scores from CSV files (DESIGN.md section 5).

One import is one transaction, made of two streaming passes over the files:

1. **Check.** Every record is read and checked on its own (the columns, dates and times in the
   clinic's zone, ranges, the catalogue, physicians, rooms). Its key, and the little that the
   checks across records need, go into temporary tables in the database rather than into Python
   structures, so memory stays flat however long the files are. Queries over those tables then
   find what no single record shows: duplicate keys, and bookings that clash with each other or
   with the schedule. Each batch of records is compared with the database's records of the same
   keys (MRN; ``ref``; intervention and recorded date), which gives the counts of new, changed
   and unchanged rows that the dry run shows.
2. **Write**, only when nothing was refused and it is not a dry run: the files are read again
   and written in batches of Core executemany inserts and updates inside a savepoint, so that
   a failure part-way leaves nothing behind. Unchanged rows are not touched, which is what
   makes a second import of the same files change nothing.

The bulk writes go through Core, not the ORM, so the audit flush hook sees none of them; the
import writes the trail itself, in the same transaction. Each changed patient, intervention and
pain score gets an ``update`` event with the fields that changed as ``{field: [old, new]}``,
the same record type, id and shape as the hook writes, one executemany per batch (the old
values read just before the batch's update). New rows are covered by the one ``import`` event
with the counts per file (a million new pain scores would otherwise add a million audit rows).
A dry run writes nothing, not even that event.

Every problem is reported as ``FILE:LINE: column: message``, FILE as the user named it and
LINE the physical line (the header is line 1). Header problems name line 1 and the column;
problems of a whole file or record use the pseudo-columns ``file`` and ``row``.

Rules beyond the cell formats: a completed intervention needs its performed date and only a
completed one has one; a booking ends after it starts and lasts at most 12 hours (as when
booked on the schedule); dates of birth, performed and recorded dates are not in the future; an
empty ``source`` is ``import``. Room opening hours are not checked and deactivated physician
accounts are accepted: imports bring in history.

An intervention created in Clinic has no ``ref``; its export writes ``clinic:ID`` there
instead, a form that an imported intervention's ref cannot shadow (``2`` and ``clinic:2`` are
two interventions). A ref is looked up as a stored ref first; failing that, ``clinic:ID`` (or a
bare number, as exports wrote Clinic ids before) names the intervention created in Clinic with
that id, for the same patient only. A ``clinic:ID`` that names none here comes from another
Clinic and is kept as a ref; the booking ids then skip past ID, so that no intervention made
here later exports under that ref too. Two rows whose refs name the same intervention are
refused, as two rows of one ref are.
"""

import csv
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import chain, groupby
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    and_,
    any_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, joinedload

from clinic import clock
from clinic.models import (
    BOOKING_STATUSES,
    CONDITIONS,
    LATERALITIES,
    SEXES,
    AuditEvent,
    Booking,
    Intervention,
    PainScore,
    Patient,
    ProcedureType,
    Room,
    StaffUser,
)
from clinic.models.base import UTCDateTime
from clinic.models.followup import PAIN_SCORE_SOURCES
from clinic.models.patients import search_key
from clinic.models.scheduling import ACTIVE_BOOKING_STATUSES
from clinic.services import DomainError
from clinic.services.identity.audit import COMMAND_LINE, _jsonable, current_actor, record_event
from clinic.services.ids import reserve_ids
from clinic.services.interchange.csvio import (
    BOM,
    CELL_COUNT_MISMATCH,
    INTERVENTIONS_COLUMNS,
    PAIN_SCORES_COLUMNS,
    PATIENTS_COLUMNS,
    bare_id,
    clinic_id,
    read_rows,
    trim,
)
from clinic.services.patients import MRN_LENGTH, normalise_mrn
from clinic.services.scheduling.bookings import (
    MAX_DURATION_MINUTES,
    any_booking,
    describe,
    lock_schedule,
)

KINDS = ("patients", "interventions", "pain_scores")
COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": PATIENTS_COLUMNS,
    "interventions": INTERVENTIONS_COLUMNS,
    "pain_scores": PAIN_SCORES_COLUMNS,
}
KIND_LABELS = {
    "patients": "patients",
    "interventions": "interventions",
    "pain_scores": "pain scores",
}
BATCH_SIZE = 2000
# No booking lasts longer (the scheduling rule); it also bounds the clash queries' index scans.
LONGEST_BOOKING = timedelta(minutes=MAX_DURATION_MINUTES)

NEW, CHANGED, UNCHANGED = 1, 2, 3

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

# What a row is compared on to tell "changed" from "unchanged". The patient's key is among them:
# a patient found under an MRN stored as written before imports normalised MRNs (``c0001234``)
# takes the normalised MRN (``C0001234``), so that MRN search finds it from then on.
PATIENT_FIELDS = (
    "mrn",
    "first_name",
    "last_name",
    "date_of_birth",
    "sex",
    "phone",
    "email",
    "condition",
)
INTERVENTION_FIELDS = (
    "mrn",  # an intervention of the same patient is unchanged however its MRN was stored
    "procedure_code",
    "physician",
    "starts_at",
    "ends_at",
    "room",
    "status",
    "performed_on",
    "baseline_nrs",
    "spinal_level",
    "laterality",
    "notes",
)
SCORE_FIELDS = ("nrs", "percent_relief", "source")


@dataclass(frozen=True)
class Problem:
    """One reason the files were refused, as ``FILE:LINE: column: message``."""

    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.column}: {self.message}"


@dataclass
class FileCounts:
    """How many rows of one file are new, changed or unchanged against the database."""

    kind: str
    name: str
    rows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0

    def add(self, action: int) -> None:
        if action == NEW:
            self.new += 1
        elif action == CHANGED:
            self.changed += 1
        else:
            self.unchanged += 1

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    def summary(self) -> str:
        return (
            f"{self.name}: {self.rows} row{'' if self.rows == 1 else 's'} — {self.new} new, "
            f"{self.changed} changed, {self.unchanged} unchanged"
        )


@dataclass
class ImportReport:
    """The outcome of an import or a dry run: counts per file and every problem found."""

    files: list[FileCounts]
    problems: list[Problem] = field(default_factory=list)
    dry_run: bool = False
    imported: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def audit_details(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "files": {
                counts.kind: {
                    "name": counts.name,
                    "rows": counts.rows,
                    "new": counts.new,
                    "changed": counts.changed,
                    "unchanged": counts.unchanged,
                }
                for counts in self.files
            },
        }


class ImportFailed(DomainError):
    """The database refused the writes part-way; the import was rolled back whole."""


# The temporary tables that hold keys between the passes (one set per connection, dropped at
# the end). Their own metadata: they are no part of the schema that Alembic manages.
_staging = MetaData()
STAGED_PATIENT = Table(
    "clinic_import_patient",
    _staging,
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("mrn", String, nullable=False),  # normalised, the key
    Column("spelling", String, nullable=False),  # as the file writes it, for the messages
    Column("action", SmallInteger),  # NEW, CHANGED, UNCHANGED; empty for a refused row
    Column("patient_id", Integer),
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
    Column("mrn", String),
    Column("patient_id", Integer),  # the patient, when already in the database
    Column("physician_id", Integer),
    Column("room_id", Integer),
    Column("starts_at", UTCDateTime()),
    Column("ends_at", UTCDateTime()),
    Column("window_start", UTCDateTime()),  # starts_at less the longest booking
    Column("active", Boolean, nullable=False),  # a valid slot that holds its time
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
    prefixes=["TEMPORARY"],
)
STAGED_SCORE_KEY = Index(
    "ix_clinic_import_score_key", STAGED_SCORE.c.ref, STAGED_SCORE.c.recorded_on
)

patient_table = Patient.__table__
booking_table = Booking.__table__
intervention_table = Intervention.__table__
score_table = PainScore.__table__
staff_table = StaffUser.__table__
audit_table = AuditEvent.__table__
procedure_table = ProcedureType.__table__
room_table = Room.__table__

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_WHOLE = re.compile(r"[+-]?\d+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _parse_day(value: str) -> date | None:
    if not _DAY.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _parse_minute(value: str, zone: ZoneInfo) -> datetime | str | None:
    """A clinic-time ``YYYY-MM-DDTHH:MM`` as a UTC instant; a message when the clock skips it."""
    if not _MINUTE.fullmatch(value):
        return None
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        return None
    instant = naive.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != naive:
        return f"{value} does not exist in the clinic's time zone ({zone.key}): the clocks go forward then"
    return instant


class _NotUtf8(Exception):
    def __init__(self, line: int, byte: int) -> None:
        super().__init__(line, byte)
        self.line = line
        self.byte = byte


class _Lines:
    """The lines of a text stream or of UTF-8 bytes, counted, naming the first that is not UTF-8."""

    def __init__(self, stream: IO) -> None:
        self.stream = stream
        self.number = 0

    def __iter__(self) -> Iterator[str]:
        for raw in self.stream:
            self.number += 1
            if isinstance(raw, bytes):
                try:
                    raw = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise _NotUtf8(self.number, raw[error.start]) from None
            yield raw


class _Record:
    """One CSV record being read: typed values out, each fault noted against its column."""

    __slots__ = ("faults", "row")

    def __init__(self, row: Mapping[str, str]) -> None:
        self.row = row
        self.faults: list[tuple[str, str]] = []

    def fault(self, column: str, message: str) -> None:
        self.faults.append((column, message))

    def text(self, column: str, *, required: bool = False, max_length: int | None = None):
        value = trim(self.row.get(column, ""))
        if not value:
            if required:
                self.fault(column, "empty; a value is required")
            return None
        if "\x00" in value:
            self.fault(column, "contains a NUL character")
            return None
        if max_length is not None and len(value) > max_length:
            self.fault(column, f"longer than {max_length} characters")
            return None
        return value

    def mrn(self, column: str) -> str | None:
        """An MRN as the clinic writes it (``normalise_mrn``: capitals, no spaces), so that MRN
        search finds it. Its shape is not checked: history from other systems has other MRNs."""
        value = self.text(column, required=True)
        if value is None:
            return None
        mrn = normalise_mrn(value)
        if not mrn:
            self.fault(column, "empty; a value is required")
            return None
        if len(mrn) > MRN_LENGTH:
            self.fault(column, f"longer than {MRN_LENGTH} characters")
            return None
        return mrn

    def notes(self, column: str) -> str | None:
        """Free text kept exactly as written (leading and trailing spaces too)."""
        value = self.row.get(column, "")
        if not trim(value):
            return None
        if "\x00" in value:
            self.fault(column, "contains a NUL character")
            return None
        return value

    def choice(
        self,
        column: str,
        choices: tuple[str, ...],
        *,
        required: bool = True,
        default: str | None = None,
    ) -> str | None:
        value = self.text(column, required=required and default is None)
        if value is None:
            return default
        if value not in choices:
            self.fault(column, f'"{value}" is not one of {", ".join(choices)}')
            return None
        return value

    def whole(self, column: str, low: int, high: int, *, required: bool) -> int | None:
        value = self.text(column, required=required)
        if value is None:
            return None
        if not _WHOLE.fullmatch(value):
            self.fault(column, f'"{value}" is not a whole number from {low} to {high}')
            return None
        number = int(value)
        if not low <= number <= high:
            self.fault(column, f"{number} is out of range: a whole number from {low} to {high}")
            return None
        return number

    def day(self, column: str, *, required: bool) -> date | None:
        value = self.text(column, required=required)
        if value is None:
            return None
        parsed = _parse_day(value)
        if parsed is None:
            self.fault(column, f'"{value}" is not a date as YYYY-MM-DD')
        return parsed

    def instant(self, column: str, zone: ZoneInfo, *, required: bool) -> datetime | None:
        value = self.text(column, required=required)
        if value is None:
            return None
        parsed = _parse_minute(value, zone)
        if parsed is None:
            self.fault(column, f'"{value}" is not a time as YYYY-MM-DDTHH:MM')
            return None
        if isinstance(parsed, str):
            self.fault(column, parsed)
            return None
        return parsed


# (line, key, the parsed values or None when the row is refused, the record) per row.
Batch = list[tuple[int, str, dict[str, Any] | None, _Record]]


def _local(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


class _Refused(Exception):
    """A problem found while writing (the file changed between the passes)."""


class _Importer:
    """The state of one import: the files, the catalogue, the counts and the problems."""

    def __init__(
        self,
        session: Session,
        files: Mapping[str, tuple[str, IO]],
        dry_run: bool,
        zone: ZoneInfo,
        today: date,
        batch_size: int,
    ) -> None:
        unknown = set(files) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown kinds of import file: {sorted(unknown)}")
        if not files:
            raise DomainError("Give at least one file: patients, interventions or pain scores.")
        self.session = session
        self.dry_run = dry_run
        self.zone = zone
        self.today = today
        self.batch_size = batch_size
        self.kinds = [kind for kind in KINDS if kind in files]
        self.names = {kind: files[kind][0] for kind in self.kinds}
        self.streams = {kind: files[kind][1] for kind in self.kinds}
        self.counts = {kind: FileCounts(kind, self.names[kind]) for kind in self.kinds}
        self.problems: list[tuple[tuple[int, int, int], Problem]] = []
        self.unusable: set[str] = set()  # files whose rows could not all be read
        self.writing = False
        self.now = clock.utcnow()
        self.staff = {
            row.username: (row.id, row.role)
            for row in session.execute(
                select(staff_table.c.id, staff_table.c.username, staff_table.c.role)
            )
        }
        self.usernames = {user_id: username for username, (user_id, _) in self.staff.items()}
        self.procedures = dict(
            session.execute(select(procedure_table.c.code, procedure_table.c.id)).all()
        )
        self.rooms = dict(session.execute(select(room_table.c.name, room_table.c.id)).all())
        self.room_names = {room_id: name for name, room_id in self.rooms.items()}
        self.sqlite = session.get_bind().dialect.name == "sqlite"
        # How far back a booking can start and still reach a given time: the clash queries
        # look no further, which keeps their index scans short.
        self.window = max(LONGEST_BOOKING, _longest_booking(session, self.sqlite))
        # The highest ID of a new ``clinic:ID`` ref (from another Clinic): new booking ids go
        # past it, so that no intervention made here later exports under that same ref.
        self.highest_foreign_id = 0
        self.mrn_spellings = (
            self.stored_mrn_spellings()
            if "patients" in self.kinds or "interventions" in self.kinds
            else {}
        )

    # Problems ------------------------------------------------------------------------------

    def problem(self, kind: str, line: int, column: str, message: str) -> None:
        if self.writing:
            raise _Refused(f"{self.names[kind]}:{line}: {column}: {message}")
        columns = COLUMNS[kind]
        order = columns.index(column) if column in columns else -1
        self.problems.append(
            ((KINDS.index(kind), line, order), Problem(self.names[kind], line, column, message))
        )

    def report(self) -> ImportReport:
        self.problems.sort(key=lambda item: item[0])
        return ImportReport(
            files=[self.counts[kind] for kind in self.kinds],
            problems=[problem for _, problem in self.problems],
            dry_run=self.dry_run,
        )

    # Reading -------------------------------------------------------------------------------

    def records(self, kind: str) -> Iterator[tuple[int, Mapping[str, str], bool]]:
        """(line, row, whole) for each record; ``whole`` is false when its cells are miscounted."""
        stream = self.streams[kind]
        stream.seek(0)
        lines = _Lines(stream)
        iterator = iter(lines)
        try:
            first = next(iterator, None)
            if first is None:
                self.problem(
                    kind,
                    1,
                    "file",
                    f"the file is empty; its first line must be the header {','.join(COLUMNS[kind])}",
                )
                self.unusable.add(kind)
                return
            if not self.check_header(kind, first):
                self.unusable.add(kind)
                return
            for line, header, row in read_rows(chain([first], iterator)):
                if CELL_COUNT_MISMATCH in row:
                    self.problem(
                        kind,
                        line,
                        "row",
                        f"{row[CELL_COUNT_MISMATCH]} cells where the header has {len(header)} "
                        "columns; check the commas and quotes on this line",
                    )
                    yield line, row, False
                else:
                    yield line, row, True
        except _NotUtf8 as error:
            self.problem(
                kind,
                error.line,
                "file",
                f"not UTF-8 text (byte 0x{error.byte:02x}); save the file as "
                '"CSV UTF-8" and try again',
            )
            self.unusable.add(kind)
        except UnicodeDecodeError as error:
            self.problem(
                kind,
                lines.number + 1,
                "file",
                f"not UTF-8 text (byte 0x{error.object[error.start]:02x}); save the file as "
                '"CSV UTF-8" and try again',
            )
            self.unusable.add(kind)
        except csv.Error as error:
            self.problem(kind, max(lines.number, 1), "file", f"cannot be read as CSV: {error}")
            self.unusable.add(kind)

    def check_header(self, kind: str, first_line: str) -> bool:
        """Exactly the columns of DESIGN.md section 5, in any order; problems at line 1."""
        try:
            header = next(csv.reader([first_line.removeprefix(BOM)]), [])
        except csv.Error:
            header = []
        expected = COLUMNS[kind]
        if len(header) == 1 and ";" in header[0]:
            # A spreadsheet set to a European locale writes semicolons.
            self.problem(
                kind,
                1,
                "file",
                "the columns are separated by semicolons; save the file as comma-separated "
                '"CSV UTF-8" and try again',
            )
            return False
        usable = True
        seen: set[str] = set()
        for name in (cell.strip() for cell in header):
            if name in seen:
                self.problem(kind, 1, name, "the column appears twice")
                usable = False
            elif name not in expected:
                self.problem(
                    kind,
                    1,
                    name or '""',
                    f"unknown column; a {KIND_LABELS[kind]} file has the columns "
                    f"{','.join(expected)}",
                )
            seen.add(name)
        for name in expected:
            if name not in seen:
                self.problem(kind, 1, name, "missing column")
                usable = False
        return usable

    def note_faults(self, kind: str, line: int, record: _Record) -> None:
        for column, message in record.faults:
            self.problem(kind, line, column, message)

    def rows_of(self, kind: str, parse) -> Iterator[Batch]:
        """Batches of (line, key, values or None when refused, record) for one file."""
        key_column = COLUMNS[kind][0]
        batch: Batch = []
        for line, row, whole in self.records(kind):
            if not self.writing:
                self.counts[kind].rows += 1
            record = _Record(row)
            key = trim(row.get(key_column) or "")
            if key_column == "mrn":
                # Keyed as the clinic writes MRNs: c 0001234 is the patient C0001234.
                key = normalise_mrn(key)
            values = None
            if whole:
                values = parse(record)
                self.note_faults(kind, line, record)
                if record.faults:
                    values = None
            if key:
                batch.append((line, key, values, record))
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    # Parsing one record of each kind ---------------------------------------------------------

    def parse_patient(self, record: _Record) -> dict[str, Any]:
        values = {
            "mrn": record.mrn("mrn"),
            "first_name": record.text("first_name", required=True, max_length=80),
            "last_name": record.text("last_name", required=True, max_length=80),
            "date_of_birth": record.day("date_of_birth", required=True),
            "sex": record.choice("sex", SEXES),
            "phone": record.text("phone", max_length=40),
            "email": record.text("email", max_length=254),
            "condition": record.choice("condition", CONDITIONS),
        }
        born = values["date_of_birth"]
        if born is not None and born > self.today:
            record.fault("date_of_birth", f"{born.isoformat()} is in the future")
        elif born is not None and born.year < 1900:
            record.fault("date_of_birth", f"{born.isoformat()} is before 1900; check the year")
        email = values["email"]
        if email is not None and not _EMAIL.fullmatch(email):
            record.fault("email", f'"{email}" is not an email address')
        return values

    def parse_intervention(self, record: _Record) -> dict[str, Any]:
        zone = self.zone
        values = {
            "ref": record.text("ref", required=True, max_length=64),
            "mrn": record.mrn("mrn"),
            "procedure_code": record.text("procedure_code", required=True),
            "physician": record.text("physician", required=True),
            "starts_at": record.instant("scheduled_start", zone, required=True),
            "ends_at": record.instant("scheduled_end", zone, required=True),
            "room": record.text("room"),
            "status": record.choice("status", BOOKING_STATUSES),
            "performed_on": record.day("performed_on", required=False),
            "baseline_nrs": record.whole("baseline_nrs", 0, 10, required=False),
            "spinal_level": record.text("spinal_level", max_length=40),
            "laterality": record.choice("laterality", LATERALITIES, required=False),
            "notes": record.notes("notes"),
        }
        code = values["procedure_code"]
        values["procedure_type_id"] = self.procedures.get(code) if code else None
        if code and values["procedure_type_id"] is None:
            record.fault(
                "procedure_code",
                f'unknown procedure code "{code}"; the catalogue has {", ".join(sorted(self.procedures))}',
            )
        username = values["physician"]
        values["physician_id"] = None
        if username:
            user_id, role = self.staff.get(username, (None, None))
            if user_id is None:
                record.fault("physician", f'no physician account is called "{username}"')
            elif role != "physician":
                record.fault("physician", f'"{username}" is a {role} account, not a physician')
            else:
                values["physician_id"] = user_id
        room = values["room"]
        values["room_id"] = self.rooms.get(room) if room else None
        if room and values["room_id"] is None:
            known = ", ".join(sorted(self.rooms)) or "none yet"
            record.fault("room", f'no room is called "{room}"; the rooms are {known}')
        starts_at, ends_at = values["starts_at"], values["ends_at"]
        if starts_at is not None and ends_at is not None:
            if ends_at <= starts_at:
                record.fault(
                    "scheduled_end",
                    f"{_local(ends_at, zone)} is not after scheduled_start {_local(starts_at, zone)}",
                )
            elif ends_at - starts_at > LONGEST_BOOKING:
                record.fault(
                    "scheduled_end",
                    f"a booking cannot last more than {MAX_DURATION_MINUTES // 60} hours",
                )
        status, performed_on = values["status"], values["performed_on"]
        if status == "completed" and not trim(record.row.get("performed_on", "")):
            record.fault("performed_on", "empty; a completed intervention needs its performed date")
        elif status is not None and status != "completed" and performed_on is not None:
            record.fault(
                "performed_on",
                f"only a completed intervention has a performed date (status is {status})",
            )
        if performed_on is not None and performed_on > self.today:
            record.fault("performed_on", f"{performed_on.isoformat()} is in the future")
        return values

    def parse_score(self, record: _Record) -> dict[str, Any]:
        values = {
            "intervention_ref": record.text("intervention_ref", required=True, max_length=64),
            "recorded_on": record.day("recorded_on", required=True),
            "nrs": record.whole("nrs", 0, 10, required=True),
            "percent_relief": record.whole("percent_relief", 0, 100, required=False),
            "source": record.choice("source", PAIN_SCORE_SOURCES, default="import"),
        }
        recorded_on = values["recorded_on"]
        if recorded_on is not None and recorded_on > self.today:
            record.fault("recorded_on", f"{recorded_on.isoformat()} is in the future")
        return values

    # Pass 1: check and stage -----------------------------------------------------------------

    def check(self) -> None:
        if "patients" in self.kinds:
            for batch in self.rows_of("patients", self.parse_patient):
                self.stage_patients(batch)
            self.analyze(STAGED_PATIENT)
            self.find_duplicates(
                "patients", STAGED_PATIENT, ["mrn"], self.describe_patient_key, ["spelling"]
            )
        if "interventions" in self.kinds:
            for batch in self.rows_of("interventions", self.parse_intervention):
                self.stage_interventions(batch)
            self.analyze(STAGED_BOOKING)
            self.find_duplicates("interventions", STAGED_BOOKING, ["ref"], self.describe_ref_key)
            self.find_aliases(
                "interventions",
                STAGED_BOOKING,
                ["existing_id"],
                "ref",
                "give the intervention one row",
            )
            self.find_clashes_in_files()
            self.find_clashes_with_schedule()
        if "pain_scores" in self.kinds:
            for batch in self.rows_of("pain_scores", self.parse_score):
                self.stage_scores(batch)
            self.analyze(STAGED_SCORE)
            self.find_duplicates(
                "pain_scores", STAGED_SCORE, ["ref", "recorded_on"], self.describe_score_key
            )
            self.find_aliases(
                "pain_scores",
                STAGED_SCORE,
                ["intervention_id", "recorded_on"],
                "intervention_ref",
                "one score per intervention per date",
            )

    def stage(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Keys into a temporary table: COPY on PostgreSQL (psycopg would otherwise send an
        executemany one statement per row), an executemany INSERT on SQLite."""
        if self.sqlite:
            self.session.execute(insert(table), rows)
            return
        names = [column.name for column in table.columns]
        driver = self.session.connection().connection.driver_connection
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row([row[name] for name in names])

    def insert_rows(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """One batch as a Core executemany INSERT (no ORM objects, so no per-row audit)."""
        self.session.execute(insert(table), rows)

    def copy_rows(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """New rows of plain values (numbers, text, dates, aware instants), all with the same
        columns: COPY on PostgreSQL, where an executemany is still a statement per row; on
        SQLite ``insert_rows``. Only for tables whose column types need no conversion of ours on
        PostgreSQL (``UTCDateTime`` passes an aware instant through as it is)."""
        if self.sqlite or not rows:
            self.insert_rows(table, rows)
            return
        names = list(rows[0])
        connection = self.session.connection()
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

    def audit_updates(
        self,
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
        actor = current_actor(self.session) or COMMAND_LINE
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
                        "occurred_at": self.now,
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
            self.insert_rows(audit_table, events)

    def current_values(
        self, table: Table, ids: list[int], fields: tuple[str, ...]
    ) -> dict[int, Mapping[str, Any]]:
        """The values of these records now, by id: what a batch is about to replace."""
        columns = [table.c[name] for name in fields]
        return {
            row["id"]: row
            for row in self.session.execute(
                select(table.c.id, *columns).where(self.among(table.c.id, ids))
            ).mappings()
        }

    def among(self, column, values):
        """``column IN (values)``; on PostgreSQL ``= ANY`` of one array parameter.

        psycopg parses a query's placeholders on the client and caches only short queries: an
        IN list of a batch's keys would be parsed afresh for every batch.
        """
        values = list(values)
        if self.sqlite:
            return column.in_(values)
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))

    def analyze(self, *tables: Table) -> None:
        """PostgreSQL: fresh statistics for tables that just took many rows.

        Temporary tables get none otherwise; and a table filled by this import would keep the
        plans made while it was empty (psycopg prepares repeated statements), turning the next
        batch's index lookups into sequential scans. ANALYZE also drops those plans.
        """
        if not self.sqlite:
            self.session.execute(text(f"ANALYZE {', '.join(table.name for table in tables)}"))

    def stage_patients(self, batch: Batch) -> None:
        columns = [patient_table.c[name] for name in PATIENT_FIELDS if name != "mrn"]
        existing = self.existing_patients({key for _, key, _, _ in batch}, *columns)
        staged = []
        for line, key, values, record in batch:
            found = existing.get(key)
            clash = self.mrn_clash(key, existing)
            if clash is not None:
                self.problem("patients", line, "mrn", clash)
                values = None
            action = None
            if values is not None:
                action = _compare(found, values, PATIENT_FIELDS)
                self.counts["patients"].add(action)
            staged.append(
                {
                    "line": line,
                    "mrn": key,
                    "spelling": trim(record.row.get("mrn") or ""),
                    "action": action,
                    "patient_id": found.id if found is not None else None,
                }
            )
        self.stage(STAGED_PATIENT, staged)

    def stored_mrn_spellings(self) -> dict[str, list[str]]:
        """Stored MRNs that are not as the clinic writes them, by their normalised form.

        Imports once kept MRNs exactly as written (``c0001234``, ``C 0001234``); a file now read
        as ``C0001234`` must still find such a patient, not add a second one beside it. One
        scan per import, and only the few MRNs with something other than capitals and digits
        come back from the database.
        """
        spellings: dict[str, list[str]] = {}
        for stored in self.session.execute(
            select(patient_table.c.mrn).where(patient_table.c.mrn.regexp_match("[^A-Z0-9]"))
        ).scalars():
            mrn = normalise_mrn(stored)
            if mrn != stored:
                spellings.setdefault(mrn, []).append(stored)
        return spellings

    def existing_patients(self, mrns: set[str], *columns) -> dict[str, Any]:
        """The database's patients for these normalised MRNs: (id, stored mrn, ``columns``).

        The patient stored under the MRN itself first; failing that, the one patient stored
        under another spelling of it. Where several are (``c0001`` and ``c 0001``), none is
        chosen: ``mrn_clash`` names them.
        """
        spellings = {stored for mrn in mrns for stored in self.mrn_spellings.get(mrn, ())}
        stored = {
            row.mrn: row
            for row in self.session.execute(
                select(patient_table.c.id, patient_table.c.mrn, *columns).where(
                    self.among(patient_table.c.mrn, mrns | spellings)
                )
            )
        }
        found = {}
        for mrn in mrns:
            if mrn in stored:
                found[mrn] = stored[mrn]
                continue
            others = [stored[s] for s in self.mrn_spellings.get(mrn, ()) if s in stored]
            if len(others) == 1:
                found[mrn] = others[0]
        return found

    def mrn_clash(self, mrn: str, found: Mapping[str, Any]) -> str | None:
        """Why a normalised MRN names no one patient of the database, when several fit it."""
        if mrn in found:
            return None
        others = sorted(self.mrn_spellings.get(mrn, ()))
        if len(others) < 2:
            return None
        return (
            f"{mrn} could be any of the patients with MRNs {_and(others)} (an MRN is read in "
            "capitals, without spaces); an administrator must correct their MRNs first"
        )

    def existing_interventions(self, refs: set[str]) -> dict[str, Any]:
        """The database's interventions for these refs, with what the CSV compares them on.

        A stored ref matches first. An intervention created in Clinic has no ref of its own and
        the export writes ``clinic:ID`` there instead: a ref of that form that no stored ref
        matches, or a bare number (what exports wrote before), is looked up as such an id.
        """
        room = room_table.alias("room")
        columns = [
            intervention_table.c.id,
            intervention_table.c.ref,
            booking_table.c.patient_id,
            patient_table.c.mrn,
            procedure_table.c.code.label("procedure_code"),
            staff_table.c.username.label("physician"),
            booking_table.c.starts_at,
            booking_table.c.ends_at,
            room.c.name.label("room"),
            booking_table.c.status,
            intervention_table.c.performed_on,
            intervention_table.c.baseline_nrs,
            intervention_table.c.spinal_level,
            intervention_table.c.laterality,
            booking_table.c.notes,
        ]
        joined = (
            intervention_table.join(booking_table, booking_table.c.id == intervention_table.c.id)
            .join(patient_table, patient_table.c.id == booking_table.c.patient_id)
            .join(procedure_table, procedure_table.c.id == intervention_table.c.procedure_type_id)
            .join(staff_table, staff_table.c.id == booking_table.c.physician_id)
            .outerjoin(room, room.c.id == booking_table.c.room_id)
        )
        found = {
            row.ref: row
            for row in self.session.execute(
                select(*columns)
                .select_from(joined)
                .where(self.among(intervention_table.c.ref, refs))
            )
        }
        numbers: dict[int, list[str]] = {}
        for ref in refs - set(found):
            number = clinic_id(ref)
            if number is None:
                number = bare_id(ref)
            if number is not None:
                numbers.setdefault(number, []).append(ref)
        if numbers:
            for row in self.session.execute(
                select(*columns)
                .select_from(joined)
                .where(
                    self.among(intervention_table.c.id, set(numbers)),
                    intervention_table.c.ref.is_(None),
                )
            ):
                for ref in numbers[row.id]:
                    found[ref] = row
        return found

    def stage_interventions(self, batch: Batch) -> None:
        existing = self.existing_interventions({key for _, key, _, _ in batch})
        written = {line: trim(record.row.get("mrn") or "") for line, _, _, record in batch}
        mrns = {line: normalise_mrn(spelling) for line, spelling in written.items()}
        patients = self.existing_patients(set(mrns.values()) - {""})
        patient_ids = {mrn: row.id for mrn, row in patients.items()}
        in_patients_file = set(
            self.session.execute(
                select(STAGED_PATIENT.c.mrn).where(
                    self.among(STAGED_PATIENT.c.mrn, set(mrns.values()) - {""} - set(patient_ids))
                )
            ).scalars()
        )
        patients_file = self.names.get("patients")
        staged = []
        for line, key, values, record in batch:
            mrn = mrns[line]
            clash = self.mrn_clash(mrn, patients) if mrn else None
            if clash is not None and mrn not in in_patients_file:
                self.problem("interventions", line, "mrn", clash)
                values = None
            elif (
                mrn
                and mrn not in patient_ids
                and mrn not in in_patients_file
                and "patients" not in self.unusable
            ):
                where = (
                    f"in the database or in {patients_file}" if patients_file else "in the database"
                )
                spelling = f' (written "{written[line]}")' if written[line] != mrn else ""
                self.problem(
                    "interventions", line, "mrn", f'no patient has MRN "{mrn}"{spelling} {where}'
                )
                values = None
            found = existing.get(key)
            # The same patient, however the MRN was stored when the intervention was imported.
            same_patient = found is not None and found.patient_id == patient_ids.get(mrn)
            if found is not None and found.ref is None and mrn and not same_patient:
                # An id names an intervention created in Clinic only for its own patient.
                self.problem(
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
                action = _compare(found, compared, INTERVENTION_FIELDS)
                self.counts["interventions"].add(action)
                foreign_id = clinic_id(key) if action == NEW else None
                if foreign_id is not None:
                    self.highest_foreign_id = max(self.highest_foreign_id, foreign_id)
            slot = _slot(record, self.staff, self.rooms, self.zone, self.window)
            staged.append(
                {
                    "line": line,
                    "ref": key,
                    "action": action,
                    "existing_id": found.id if found is not None else None,
                    "old_status": found.status if found is not None else None,
                    "mrn": mrn or None,
                    "patient_id": patient_ids.get(mrn),
                    **slot,
                }
            )
        self.stage(STAGED_BOOKING, staged)

    def stage_scores(self, batch: Batch) -> None:
        refs = {key for _, key, _, _ in batch}
        in_file = dict(
            self.session.execute(
                select(STAGED_BOOKING.c.ref, STAGED_BOOKING.c.existing_id).where(
                    self.among(STAGED_BOOKING.c.ref, refs)
                )
            ).all()
        )
        in_database = {
            ref: row.id for ref, row in self.existing_interventions(refs - set(in_file)).items()
        }
        intervention_ids = {ref: in_file.get(ref, in_database.get(ref)) for ref in refs}
        known_ids = {value for value in intervention_ids.values() if value is not None}
        days = [values["recorded_on"] for _, _, values, _ in batch if values is not None]
        existing = {}
        if known_ids and days:
            existing = {
                (row.intervention_id, row.recorded_on): row
                for row in self.session.execute(
                    select(
                        score_table.c.id,
                        score_table.c.intervention_id,
                        score_table.c.recorded_on,
                        *[score_table.c[name] for name in SCORE_FIELDS],
                    ).where(
                        self.among(score_table.c.intervention_id, known_ids),
                        score_table.c.recorded_on.between(min(days), max(days)),
                    )
                )
            }
        interventions_file = self.names.get("interventions")
        staged = []
        for line, key, values, record in batch:
            if key not in in_file and key not in in_database:
                if "interventions" not in self.unusable:
                    where = (
                        f"in the database or in {interventions_file}"
                        if interventions_file
                        else "in the database"
                    )
                    self.problem(
                        "pain_scores",
                        line,
                        "intervention_ref",
                        f'no intervention has ref "{key}" {where}',
                    )
                values = None
            intervention_id = intervention_ids.get(key)
            recorded_on = _parse_day(trim(record.row.get("recorded_on") or ""))
            found = existing.get((intervention_id, recorded_on))
            action = None
            if values is not None:
                action = _compare(found, values, SCORE_FIELDS)
                self.counts["pain_scores"].add(action)
            staged.append(
                {
                    "line": line,
                    "ref": key,
                    "recorded_on": recorded_on,
                    "action": action,
                    "intervention_id": intervention_id,
                    "score_id": found.id if found is not None else None,
                }
            )
        self.stage(STAGED_SCORE, staged)

    # Checks across records --------------------------------------------------------------------

    def describe_patient_key(self, row) -> tuple[str, str]:
        if row.spelling == row.first_spelling:
            return "mrn", f"MRN {row.spelling} appears twice (first on line {row.first})"
        return (
            "mrn",
            f"MRN {row.spelling} appears twice (first on line {row.first} as "
            f"{row.first_spelling}; an MRN is read in capitals, without spaces)",
        )

    def describe_ref_key(self, row) -> tuple[str, str]:
        return "ref", f"ref {row.ref} appears twice (first on line {row.first})"

    def describe_score_key(self, row) -> tuple[str, str]:
        return (
            "recorded_on",
            f"a second score for {row.ref} on {row.recorded_on.isoformat()} (first on line "
            f"{row.first}); one score per intervention per date",
        )

    def find_duplicates(
        self,
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
        joined = table.join(
            first, and_(*[column == first.c[column.name] for column in key_columns])
        )
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
        for row in self.session.execute(statement):
            column, message = describe_row(row)
            self.problem(kind, row.line, column, message)

    def find_aliases(
        self, kind: str, table: Table, keys: list[str], column: str, rule: str
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
        for _, rows in groupby(self.session.execute(statement), key=lambda row: row[2:]):
            first, *later = rows
            seen = {first.ref}
            for row in later:
                if row.ref not in seen:  # a second row of the same ref is a duplicate already
                    seen.add(row.ref)
                    self.problem(
                        kind,
                        row.line,
                        column,
                        f"{row.ref} names the same intervention as {first.ref} on line "
                        f"{first.line}; {rule}",
                    )

    def find_clashes_in_files(self) -> None:
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
        for row in self.session.execute(statement).mappings():
            clashes: dict[int, list[str]] = {}
            for resource in resources:
                earlier_line = row[f"first_{resource}"]
                if earlier_line is not None:
                    label = self.resource_label(resource, row[resource])
                    clashes.setdefault(earlier_line, []).append(label)
            for earlier_line, held in sorted(clashes.items()):
                other = self.session.execute(
                    select(
                        STAGED_BOOKING.c.ref, STAGED_BOOKING.c.starts_at, STAGED_BOOKING.c.ends_at
                    ).where(STAGED_BOOKING.c.line == earlier_line)
                ).one()
                verb = "is" if len(held) == 1 else "are"
                self.problem(
                    "interventions",
                    row["line"],
                    "scheduled_start",
                    f"clashes with line {earlier_line} (ref {other.ref}): {_and(held)} {verb} "
                    f"already booked {_local(other.starts_at, self.zone)}–"
                    f"{other.ends_at.astimezone(self.zone):%H:%M}",
                )

    def resource_label(self, resource: str, value: Any) -> str:
        if resource == "physician_id":
            return f"the physician {self.usernames.get(value, value)}"
        if resource == "room_id":
            return f"the room {self.room_names.get(value, value)}"
        return f"the patient with MRN {value}"

    def find_clashes_with_schedule(self) -> None:
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
                    _resource(booking, resource) == staged.c[resource],
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
        for row in self.session.execute(statement).mappings():
            for resource in resources:
                if row[f"first_{resource}"] is not None:
                    clashes.setdefault((row["line"], row[f"first_{resource}"]), []).append(resource)
        if not clashes:
            return
        kind = any_booking()
        bookings = {
            found.id: found
            for found in self.session.execute(
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
            self.problem(
                "interventions",
                line,
                "scheduled_start",
                f"clashes with the schedule: {_and(held)} {verb} already booked: "
                f"{describe(other, self.zone)}",
            )

    # Pass 2: write ------------------------------------------------------------------------------

    def write(self) -> None:
        self.writing = True
        if "patients" in self.kinds:
            self.write_patients()
            if self.counts["patients"].new:
                self.analyze(patient_table)
        if "interventions" in self.kinds:
            if self.sqlite:
                with _overlap_triggers_set_aside(self.session):
                    self.verify_schedule(self.write_interventions())
            else:
                self.write_interventions()
            if self.counts["interventions"].new:
                self.analyze(booking_table, intervention_table)
        if "pain_scores" in self.kinds:
            self.write_scores()
        # ORM objects loaded earlier in this session may now be stale.
        self.session.expire_all()

    def staged(self, table: Table, batch: Batch, *columns: str) -> dict[int, Any]:
        lines = [line for line, _, _, _ in batch]
        return {
            row.line: row
            for row in self.session.execute(
                select(table.c.line, *[table.c[name] for name in columns]).where(
                    table.c.line.between(min(lines), max(lines))
                )
            )
        }

    def write_patients(self) -> None:
        table = patient_table
        change = (
            update(table).where(table.c.id == bindparam("b_id")).values(version=table.c.version + 1)
        )
        for batch in self.rows_of("patients", self.parse_patient):
            staged = self.staged(STAGED_PATIENT, batch, "action", "patient_id")
            new, changed = [], []
            for line, _, values, _ in batch:
                row = staged[line]
                if row.action not in (NEW, CHANGED):
                    continue
                fields = {name: values[name] for name in PATIENT_FIELDS}
                fields["name_key"] = search_key(f"{values['last_name']} {values['first_name']}")
                fields["updated_at"] = self.now
                if row.action == NEW:
                    new.append(
                        {
                            **fields,
                            "archived": False,
                            "version": 1,
                            "created_at": self.now,
                        }
                    )
                elif row.action == CHANGED:
                    changed.append({**fields, "b_id": row.patient_id})
            if new:
                self.insert_rows(table, new)
            if changed:
                old = self.current_values(table, [row["b_id"] for row in changed], PATIENT_FIELDS)
                self.audit_updates(table.name, changed, old, PATIENT_FIELDS)
                self.session.execute(change, changed)

    def verify_schedule(self, first_new_id: int) -> None:
        """SQLite: the overlap rule that its triggers keep, checked once for the written bookings.

        Its triggers check each booking against every earlier one of its physician, room or
        patient, which makes a bulk write quadratic; they are set aside for the write (inside the
        savepoint, under the write lock) and this one query stands in for them.
        """
        written_table = booking_table.alias("written")
        written = or_(
            written_table.c.id >= first_new_id,
            written_table.c.id.in_(
                select(STAGED_BOOKING.c.existing_id).where(STAGED_BOOKING.c.action == CHANGED)
            ),
        )
        reach = f"-{int(self.window.total_seconds() // 60)} minutes"
        for resource in ("physician_id", "room_id", "patient_id"):
            other = booking_table.alias(f"other_{resource}")
            in_the_way = (
                select(other.c.id)
                .where(
                    _resource(other, resource) == written_table.c[resource],
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
            if self.session.execute(overlap).first() is not None:
                raise ImportFailed(
                    "The bookings would overlap others in the schedule once written. "
                    "Nothing was imported; run the import again to see the clash."
                )

    def write_interventions(self) -> int:
        """Insert and update the interventions; on SQLite, the first id given to a new one."""
        first_new_id = 0
        booking, intervention, staged_table = booking_table, intervention_table, STAGED_BOOKING
        if self.counts["interventions"].changed:
            # Changed bookings step out of the schedule first, so that no order of writing
            # the new times (two bookings swapping slots, say) trips the overlap constraint.
            self.session.execute(
                update(booking)
                .where(
                    booking.c.id.in_(
                        select(staged_table.c.existing_id).where(staged_table.c.action == CHANGED)
                    )
                )
                .values(status="cancelled")
            )
        if self.sqlite:
            # Under the write lock the next ids are ours (past any ``clinic:ID`` kept as a ref).
            next_id = (self.session.execute(select(func.max(booking.c.id))).scalar() or 0) + 1
            next_id = max(next_id, self.highest_foreign_id + 1)
            first_new_id = next_id
        elif self.highest_foreign_id:
            sequence = func.pg_get_serial_sequence("booking", "id")
            self.session.execute(
                select(
                    func.setval(
                        sequence, func.greatest(self.highest_foreign_id, func.nextval(sequence))
                    )
                )
            )
        change_booking = (
            update(booking)
            .where(booking.c.id == bindparam("b_id"))
            .values(version=booking.c.version + 1)
        )
        change_intervention = update(intervention).where(intervention.c.id == bindparam("b_id"))
        for batch in self.rows_of("interventions", self.parse_intervention):
            staged = self.staged(staged_table, batch, "action", "existing_id", "old_status")
            mrns = {values["mrn"] for _, _, values, _ in batch if values is not None}
            patient_ids = {mrn: row.id for mrn, row in self.existing_patients(mrns).items()}
            new_bookings, new_interventions, changed_bookings, changed_interventions = (
                [],
                [],
                [],
                [],
            )
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
                    "updated_at": self.now,
                }
                intervention_fields = {
                    "procedure_type_id": values["procedure_type_id"],
                    "performed_on": values["performed_on"],
                    "baseline_nrs": values["baseline_nrs"],
                    "spinal_level": values["spinal_level"],
                    "laterality": values["laterality"],
                }
                if row.action == NEW:
                    new_bookings.append(
                        {
                            **booking_fields,
                            "kind": "intervention",
                            "version": 1,
                            "created_at": self.now,
                        }
                    )
                    new_interventions.append({**intervention_fields, "ref": values["ref"]})
                else:
                    changed_bookings.append({**booking_fields, "b_id": row.existing_id})
                    changed_interventions.append({**intervention_fields, "b_id": row.existing_id})
            if new_bookings:
                # The ids are chosen first, so that the interventions can name their bookings
                # without RETURNING in parameter order (one statement per row on SQLite, and a
                # long query for psycopg to parse on PostgreSQL).
                if self.sqlite:
                    ids = list(range(next_id, next_id + len(new_bookings)))
                    next_id += len(new_bookings)
                else:
                    ids = reserve_ids(self.session, booking, len(new_bookings))
                for booking_id, booking_row, intervention_row in zip(
                    ids, new_bookings, new_interventions, strict=True
                ):
                    booking_row["id"] = intervention_row["id"] = booking_id
                self.insert_rows(booking, new_bookings)
                self.insert_rows(intervention, new_interventions)
            if changed_bookings:
                self.audit_intervention_updates(
                    batch, staged, changed_bookings, changed_interventions
                )
                self.session.execute(change_booking, changed_bookings)
                self.session.execute(change_intervention, changed_interventions)
        if self.counts["interventions"].changed:
            # A score belongs to its intervention's patient: follow a corrected patient.
            patient_of = (
                select(booking.c.patient_id)
                .where(booking.c.id == score_table.c.intervention_id)
                .scalar_subquery()
            )
            self.session.execute(
                update(score_table)
                .where(
                    score_table.c.intervention_id.in_(
                        select(staged_table.c.existing_id).where(staged_table.c.action == CHANGED)
                    ),
                    score_table.c.patient_id != patient_of,
                )
                .values(patient_id=patient_of, updated_at=self.now)
            )
        return first_new_id

    def audit_intervention_updates(
        self,
        batch: Batch,
        staged: Mapping[int, Any],
        changed_bookings: list[dict[str, Any]],
        changed_interventions: list[dict[str, Any]],
    ) -> None:
        """The audit events of a batch's changed interventions, booking and intervention fields
        together as the flush hook records an ``Intervention``."""
        ids = [row["b_id"] for row in changed_bookings]
        old = {
            row["id"]: row
            for row in self.session.execute(
                select(
                    booking_table.c.id,
                    *[booking_table.c[name] for name in BOOKING_COLUMNS],
                    *[intervention_table.c[name] for name in INTERVENTION_COLUMNS],
                )
                .join(intervention_table, intervention_table.c.id == booking_table.c.id)
                .where(self.among(booking_table.c.id, ids))
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
        self.audit_updates(
            intervention_table.name, changed, before, (*BOOKING_COLUMNS, *INTERVENTION_COLUMNS)
        )

    def write_scores(self) -> None:
        table = score_table
        change = update(table).where(table.c.id == bindparam("b_id"))
        for batch in self.rows_of("pain_scores", self.parse_score):
            staged = self.staged(STAGED_SCORE, batch, "action", "intervention_id", "score_id")
            wanted = [staged[line] for line, _, _, _ in batch if staged[line].action == NEW]
            refs = {key for line, key, _, _ in batch if staged[line].action == NEW}
            ids = {row.intervention_id for row in wanted if row.intervention_id is not None}
            targets = {}
            if wanted:
                for row in self.session.execute(
                    select(
                        intervention_table.c.id,
                        intervention_table.c.ref,
                        booking_table.c.patient_id,
                    )
                    .join(booking_table, booking_table.c.id == intervention_table.c.id)
                    .where(
                        or_(
                            self.among(intervention_table.c.id, ids),
                            self.among(intervention_table.c.ref, refs),
                        )
                    )
                ):
                    targets[("id", row.id)] = row
                    if row.ref is not None:
                        targets[("ref", row.ref)] = row
            new, changed = [], []
            for line, key, values, _ in batch:
                row = staged[line]
                if row.action not in (NEW, CHANGED):
                    continue
                fields = {name: values[name] for name in SCORE_FIELDS}
                fields["updated_at"] = self.now
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
                            "created_at": self.now,
                        }
                    )
                elif row.action == CHANGED:
                    changed.append({**fields, "b_id": row.score_id})
            if new:
                # Most of a large import's rows: straight to the driver.
                self.copy_rows(table, new)
            if changed:
                old = self.current_values(table, [row["b_id"] for row in changed], SCORE_FIELDS)
                self.audit_updates(table.name, changed, old, SCORE_FIELDS)
                self.session.execute(change, changed)

    # Temporary tables ---------------------------------------------------------------------------

    def drop_staging(self) -> None:
        schema = "temp" if self.sqlite else "pg_temp"
        for table in reversed(_staging.sorted_tables):
            self.session.execute(text(f"DROP TABLE IF EXISTS {schema}.{table.name}"))

    def create_staging(self) -> None:
        self.drop_staging()
        connection = self.session.connection()
        for table in _staging.sorted_tables:
            table.create(connection)


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


def _longest_booking(session: Session, sqlite: bool) -> timedelta:
    """The longest active booking in the schedule (none should pass 12 hours)."""
    active = booking_table.c.status.in_(ACTIVE_BOOKING_STATUSES)
    if sqlite:
        minutes = func.max(
            (func.julianday(booking_table.c.ends_at) - func.julianday(booking_table.c.starts_at))
            * 1440
        )
    else:
        minutes = (
            func.max(func.extract("epoch", booking_table.c.ends_at - booking_table.c.starts_at))
            / 60
        )
    longest = session.execute(select(minutes).where(active)).scalar()
    return timedelta(minutes=float(longest or 0) + 1)


def _resource(table: Table, name: str):
    """A booking's physician, room or patient column, for a join on it and on a time range.

    The room's index has no time in it: ``+ 0`` keeps SQLite from choosing it over the index
    on the start time, which the range makes far more selective (PostgreSQL plans by its
    statistics either way).
    """
    column = table.c[name]
    return column + 0 if name == "room_id" else column


def _and(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _compare(found: Any, values: Mapping[str, Any], fields: tuple[str, ...]) -> int:
    if found is None:
        return NEW
    for name in fields:
        if getattr(found, name) != values[name]:
            return CHANGED
    return UNCHANGED


def _slot(record: _Record, staff, rooms, zone, window: timedelta) -> dict[str, Any]:
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
    physician_id, role = staff.get(username, (None, None))
    starts_at = _parse_minute(trim(row.get("scheduled_start", "")), zone)
    ends_at = _parse_minute(trim(row.get("scheduled_end", "")), zone)
    room = trim(row.get("room", ""))
    status = trim(row.get("status", ""))
    if (
        role != "physician"
        or not isinstance(starts_at, datetime)
        or not isinstance(ends_at, datetime)
        or ends_at <= starts_at
        or (room and room not in rooms)
    ):
        return empty
    return {
        "physician_id": physician_id,
        "room_id": rooms.get(room) if room else None,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "window_start": starts_at - window,
        "active": status in ACTIVE_BOOKING_STATUSES,
    }


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


def import_files(
    session: Session,
    files: Mapping[str, tuple[str, IO]],
    dry_run: bool,
    zone: ZoneInfo,
    *,
    today: date | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Check, and unless ``dry_run`` write, CSV files of patients, interventions and pain scores.

    ``files`` maps a kind (``patients``, ``interventions``, ``pain_scores``) to the name the
    user knows the file by and a seekable stream of it (text, or UTF-8 bytes: the exact line of
    any byte that is not UTF-8 is then named). All or nothing: when any row of any file is
    refused, every problem is in the report and nothing is written. Raises ``ImportFailed``
    when the database refuses the writes part-way, after rolling them back. Never commits.
    """
    today = today or clock.utcnow().astimezone(zone).date()
    importer = _Importer(session, files, dry_run, zone, today, batch_size)
    if not dry_run:
        # SQLite: hold the write lock from the first check to the last write.
        lock_schedule(session)
    importer.create_staging()
    try:
        importer.check()
        report = importer.report()
        if report.problems or dry_run:
            return report
        try:
            with session.begin_nested():
                importer.write()
        except _Refused as error:
            raise ImportFailed(
                f"A file changed while it was being imported ({error}). Nothing was imported."
            ) from None
        except SQLAlchemyError as error:
            raise ImportFailed(_failure_message(error)) from error
        report.imported = True
        record_event(session, "import", details=report.audit_details())
        session.flush()
        return report
    finally:
        # When the transaction is already lost, its rollback takes the tables with it.
        with suppress(SQLAlchemyError):
            importer.drop_staging()
