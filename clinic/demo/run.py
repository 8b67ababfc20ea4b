"""What one seeding run works with: the clinic it fills, its slot book, the open pain diary, the
queue of records waiting for a bulk write, and the summary it reports."""

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from clinic.demo.writing import write_records, write_scores
from clinic.models import Intervention, PainScore, ProcedureType, Room, StaffUser
from clinic.services.ids import IdBlocks
from clinic.services.relief.eligibility import Regions, Rule


@dataclass
class DemoSummary:
    """What a seeding run added, for the command to report."""

    patients: int = 0
    physicians: list[str] = field(default_factory=list)
    rooms: list[str] = field(default_factory=list)
    interventions: int = 0
    stimulator_patients: int = 0


class SlotBook:
    """Hands out clash-free half-hour slots per physician, room and patient (08:00–17:00 UTC),
    inside the physician's sessions of the kind the room is for."""

    FIRST_SLOT, SLOTS_PER_DAY = 8 * 2, 18

    def __init__(self, rng: random.Random) -> None:
        self.busy: set[tuple[object, date, int]] = set()
        self.rng = rng
        # Kept to sessions once told them: physician -> weekday -> (start, end, kind) minutes.
        self.sessions: dict[object, dict[int, list[tuple[int, int, str]]]] = {}
        self.time_off: dict[tuple[object, date], list[tuple[int, int]]] = {}
        self.room_kinds: dict[object, str] = {}
        self._fits: dict[tuple, frozenset[int]] = {}

    def keep_to_sessions(self, templates, time_off, usernames, room_kinds) -> None:
        """Book procedures only in procedure sessions and visits only in clinic sessions.

        The first resource of ``take`` is the physician's username; the kind of session comes
        from the room booked (a procedure suite or a consult room).
        """
        for row in templates:
            week = self.sessions.setdefault(usernames[row.physician_id], {})
            week.setdefault(row.weekday, []).append((row.start_minute, row.end_minute, row.kind))
        for row in time_off:
            key = (usernames[row.physician_id], row.day)
            self.time_off.setdefault(key, []).append((row.start_minute, row.end_minute))
        self.room_kinds = dict(room_kinds)

    def _in_session(self, day: date, first: int, minutes: int, resources) -> bool:
        week = self.sessions.get(resources[0]) if resources else None
        if week is None:
            return True
        kind = next((self.room_kinds[r] for r in resources if r in self.room_kinds), None)
        key = (resources[0], day.weekday(), kind, minutes)
        allowed = self._fits.get(key)
        if allowed is None:  # the slots where such a booking fits a session, worked out once
            allowed = self._fits[key] = frozenset(
                slot
                for slot in range(self.SLOTS_PER_DAY)
                if any(
                    kind in (None, k)
                    and a <= 30 * (self.FIRST_SLOT + slot)
                    and 30 * (self.FIRST_SLOT + slot) + minutes <= b
                    for a, b, k in week.get(day.weekday(), [])
                )
            )
        if first not in allowed:
            return False
        start = 30 * (self.FIRST_SLOT + first)
        off = self.time_off.get((resources[0], day))
        return not off or not any(a < start + minutes and start < b for a, b in off)

    def take(self, day: date, minutes: int, *resources: object) -> tuple[datetime, datetime]:
        length = math.ceil(minutes / 30)
        while True:
            if day.weekday() < 5:
                # Start looking at a random time of day, so bookings spread over the day.
                last_start = self.SLOTS_PER_DAY - length
                offset = self.rng.randint(0, last_start)
                for first in [*range(offset, last_start + 1), *range(0, offset)]:
                    keys = [(r, day, first + k) for r in resources for k in range(length)]
                    if not any(key in self.busy for key in keys) and self._in_session(
                        day, first, minutes, resources
                    ):
                        self.busy.update(keys)
                        start = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(
                            minutes=30 * (self.FIRST_SLOT + first)
                        )
                        return start, start + timedelta(minutes=minutes)
            day += timedelta(days=1)


@dataclass
class Diary:
    """The pain-diary entries of a patient's latest procedure, still open: the app follows one
    course at a time, so the next procedure ends them."""

    index: int  # the procedure's place in the patient's history
    intervention: Intervention
    entries: list[tuple[date, int, int | None, str]]


@dataclass
class DemoClinic:
    """What one seeding run works with."""

    session: Session
    rng: random.Random
    today: date
    physicians: list[StaffUser]
    procedure_rooms: list[Room]
    consult_rooms: list[Room]
    procedures: dict[str, ProcedureType]
    rules: list[Rule] = field(default_factory=list)
    regions: Regions = field(default_factory=Regions)
    slots: SlotBook = field(init=False)
    ids: IdBlocks = field(init=False)
    pending: list[object] = field(default_factory=list)
    # Pain scores, by far the most numerous records, go in as plain rows, never ORM objects.
    scores: list[tuple] = field(default_factory=list)
    diary: Diary | None = None
    written: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.slots = SlotBook(self.rng)
        self.ids = IdBlocks(self.session)

    def add(self, *records: object) -> None:
        """Queue records for the next flush, each with its id chosen now."""
        for record in records:
            record.id = self.ids.next(inspect(type(record)).base_mapper.local_table)
        self.pending.extend(records)

    def add_scores(
        self, intervention: Intervention, scores: list[tuple[date, int, int | None, str]]
    ) -> None:
        """Queue follow-up pain scores of one intervention: (recorded on, NRS, %, source)."""
        table = PainScore.__table__
        patient_id = intervention.patient.id
        for recorded_on, nrs, reported, source in scores:
            # In the writer's SCORE_COLUMNS order; the stamps are added when written.
            self.scores.append(
                (
                    self.ids.next(table),
                    patient_id,
                    intervention.id,
                    recorded_on,
                    nrs,
                    reported,
                    source,
                )
            )

    @property
    def queued(self) -> int:
        return len(self.pending) + len(self.scores)

    def flush(self) -> None:
        """Write the queued records in bulk: one executemany per table and batch.

        The records are plain, never added to the session: a seed of millions of rows goes in
        at the speed of the database, and memory stays flat (the run is audited once, as an
        import is, not a row per record).
        """
        for table, rows in write_records(self.session, self.pending).items():
            self._count(table, rows)
        if self.scores:
            write_scores(self.session, self.scores)
            self._count(PainScore.__table__.name, len(self.scores))
        self.pending.clear()
        self.scores = []

    def _count(self, table: str, rows: int) -> None:
        self.written[table] = self.written.get(table, 0) + rows
