"""One import under way: its files, what the rows are checked against (staff, catalogue, rooms),
the counts and problems found so far, and the two SQL helpers every stage uses."""

from collections.abc import Mapping
from datetime import date, timedelta
from typing import IO
from zoneinfo import ZoneInfo

from sqlalchemy import Table, any_, bindparam, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from clinic import clock
from clinic.models.scheduling import ACTIVE_BOOKING_STATUSES
from clinic.services import DomainError
from clinic.services.interchange.imports.report import (
    COLUMNS,
    KINDS,
    FileCounts,
    ImportReport,
    Problem,
    Refused,
)
from clinic.services.interchange.imports.tables import (
    booking_table,
    drug_table,
    patient_table,
    procedure_table,
    room_table,
    staff_table,
)
from clinic.services.patients import normalise_mrn
from clinic.services.scheduling.bookings import MAX_DURATION_MINUTES

# No booking lasts longer (the scheduling rule); it also bounds the clash queries' index scans.
LONGEST_BOOKING = timedelta(minutes=MAX_DURATION_MINUTES)


class Job:
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
            raise DomainError(
                "Give at least one file: patients, interventions, pain scores or medications."
            )
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
        self.headers: dict[str, frozenset[str]] = {}  # the columns each file has
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
        # The drug catalogue by name in lower case, retired drugs too (imports bring in history).
        self.drugs = (
            {
                row.name.lower(): row
                for row in session.execute(
                    select(
                        drug_table.c.id,
                        drug_table.c.name,
                        drug_table.c.unit,
                        drug_table.c.usual_max,
                    )
                )
            }
            if "medications" in self.kinds
            else {}
        )
        self.room_names = {room_id: name for name, room_id in self.rooms.items()}
        self.sqlite = session.get_bind().dialect.name == "sqlite"
        # How far back a booking can start and still reach a given time: the clash queries
        # look no further, which keeps their index scans short.
        self.window = max(LONGEST_BOOKING, _longest_booking(session, self.sqlite))
        # The highest ID of a new ``clinic:ID`` ref (from another Clinic): new booking ids go
        # past it, so that no intervention made here later exports under that same ref.
        self.highest_foreign_id = 0
        self.mrn_spellings = (
            _stored_mrn_spellings(session)
            if "patients" in self.kinds or "interventions" in self.kinds
            else {}
        )

    def problem(self, kind: str, line: int, column: str, message: str) -> None:
        """Note a problem of the files; while writing, stop the write (the file changed)."""
        if self.writing:
            raise Refused(f"{self.names[kind]}:{line}: {column}: {message}")
        columns = COLUMNS[kind]
        order = columns.index(column) if column in columns else -1
        self.problems.append(
            ((KINDS.index(kind), line, order), Problem(self.names[kind], line, column, message))
        )

    def report(self) -> ImportReport:
        """The counts and the problems in the order of the files, their lines and columns."""
        self.problems.sort(key=lambda item: item[0])
        return ImportReport(
            files=[self.counts[kind] for kind in self.kinds],
            problems=[problem for _, problem in self.problems],
            dry_run=self.dry_run,
        )

    def among(self, column, values):
        """``column IN (values)``; on PostgreSQL ``= ANY`` of one array parameter.

        psycopg parses a query's placeholders on the client and caches only short queries: an
        IN list of a batch's keys would be parsed afresh for every batch.
        """
        # A key holding a NUL matches nothing stored (PostgreSQL's text cannot hold one) and
        # would be refused as a parameter; its record is refused with the line and column.
        values = [v for v in values if not (isinstance(v, str) and "\x00" in v)]
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


def _stored_mrn_spellings(session: Session) -> dict[str, list[str]]:
    """Stored MRNs that are not as the clinic writes them, by their normalised form.

    Imports once kept MRNs exactly as written (``c0001234``, ``C 0001234``); a file now read
    as ``C0001234`` must still find such a patient, not add a second one beside it. One
    scan per import, and only the few MRNs with something other than capitals and digits
    come back from the database.
    """
    spellings: dict[str, list[str]] = {}
    for stored in session.execute(
        select(patient_table.c.mrn).where(patient_table.c.mrn.regexp_match("[^A-Z0-9]"))
    ).scalars():
        mrn = normalise_mrn(stored)
        if mrn != stored:
            spellings.setdefault(mrn, []).append(stored)
    return spellings


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
