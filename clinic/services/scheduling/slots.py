"""The slot finder: the first free slots of a procedure's or visit's default length.

The rules (docs/rules.md, "Finding a slot"): slots start on whole 5-minute marks of the
clinic's clock, never in the past, on a day from ``first_day`` through ``first_day`` + 89;
each lies inside one session of the physician of the matching kind (procedures for a
procedure, clinic for a visit) and inside its room's opening hours; it clashes with no active
booking of the physician, the room or (when given) the patient; at most 10, earliest first;
the slots offered to one physician never overlap (after a slot the search moves past its
end); ties at one start go by physician username, then room name. Without a room, the
session's room if it names one, else the first room (by name) open and free then. A slot
that starts or ends in an hour the clock repeats, or across a clock change, is not offered.

Everything the search needs is loaded in a constant number of queries, then searched in
memory.
"""

import heapq
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import accumulate, islice
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from clinic.models import Booking, PhysicianSession, Room, StaffUser
from clinic.models.scheduling import ACTIVE_BOOKING_STATUSES
from clinic.services.scheduling.bookings import MAX_DURATION_MINUTES, overlapping
from clinic.services.scheduling.sessions import (
    SessionSpan,
    load_exceptions,
    load_templates,
    spans_of,
    wall_instant,
)

WINDOW_DAYS = 90
MOST_SLOTS = 10
# The window is searched in stretches, each only when the ones before it held too few slots:
# the first day, the second, the rest of the first week, the rest of four weeks, the rest of
# the window. A busy practice's slots are found in its first day or two, a quiet one's later.
STRETCH_ENDS = (1, 2, 7, 28, WINDOW_DAYS)
STEP = timedelta(minutes=5)


@dataclass(frozen=True)
class SlotQuery:
    """What to look for: the session kind and length, who (None = any physician), where, whom."""

    kind: str
    minutes: int
    first_day: date
    now: datetime
    physician_id: int | None = None
    room_id: int | None = None
    patient_id: int | None = None


@dataclass(frozen=True)
class FoundSlot:
    """A free slot: when, with whom, where."""

    starts_at: datetime
    ends_at: datetime
    physician_id: int
    physician_username: str
    physician_name: str
    room_id: int | None
    room_name: str | None


class Busy:
    """Time intervals of one physician, room or patient, asked 'is [s, e) free?' in O(log n)."""

    def __init__(self, intervals: list[tuple[datetime, datetime]]) -> None:
        intervals.sort()
        self.starts = [start for start, _ in intervals]
        self.latest_end = list(accumulate((end for _, end in intervals), max))

    def free(self, start: datetime, end: datetime) -> bool:
        return self.free_from(start, end) <= start

    def free_from(self, start: datetime, end: datetime) -> datetime:
        """``start`` when [start, end) is free; else the earliest a slot as long, starting no
        sooner, could start: the latest end among the intervals it meets (a later slot ends
        later, so it meets them all)."""
        before = bisect_left(self.starts, end)  # intervals starting before the slot ends
        if before == 0:
            return start
        return max(start, self.latest_end[before - 1])


NOBODY = Busy([])


def crosses_clock_change(start: datetime, end: datetime, zone: ZoneInfo) -> bool:
    """Whether the slot starts or ends in a repeated hour, or the clock changes during it."""
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    for local in (local_start, local_end):
        if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
            return True
    return local_start.utcoffset() != local_end.utcoffset()


def _first_mark(span: SessionSpan, zone: ZoneInfo) -> datetime:
    """The span's first whole 5-minute mark of the clinic's clock (its later marks are 5 minutes
    apart in absolute time)."""
    local = span.starts_at.astimezone(zone)
    past_mark = (local.minute % 5) * 60 + local.second + local.microsecond / 1e6
    return span.starts_at + timedelta(seconds=(300 - past_mark) % 300)


def _next_start(
    day_spans: list[tuple[SessionSpan, datetime]], not_before: datetime, length: timedelta
) -> datetime | None:
    """The earliest mark at or after ``not_before`` at which a slot of ``length`` fits inside
    one of the day's spans (each given with its first mark), or None."""
    found = None
    for span, first in day_spans:
        mark = first
        if not_before > first:
            mark = first + STEP * -(-(not_before - first) // STEP)
        if mark + length <= span.ends_at and (found is None or mark < found):
            found = mark
    return found


@dataclass
class _World:
    """The window's rooms, room hours and busy times, loaded once."""

    zone: ZoneInfo
    rooms: dict[int, Room]
    rooms_by_name: list[Room]
    physician_busy: dict[int, Busy]
    room_busy: dict[int, Busy]
    patient_busy: Busy

    def room_open(self, room: Room, day: date, start: datetime, end: datetime) -> bool:
        opens = wall_instant(day, room.opens_at_minute, self.zone)
        closes = wall_instant(day, room.closes_at_minute, self.zone)
        return opens <= start and end <= closes

    def room_for(
        self, span: SessionSpan, asked: int | None, start: datetime, end: datetime
    ) -> Room | None | bool:
        """The room the slot takes: a Room, or False when none will do."""
        if asked is not None or span.room_id is not None:
            room = self.rooms.get(asked if asked is not None else span.room_id)
            candidates = [room] if room is not None else []
        else:
            candidates = self.rooms_by_name
        for room in candidates:
            if self.room_open(room, span.day, start, end) and self.room_busy.get(
                room.id, NOBODY
            ).free(start, end):
                return room
        return False


def _physician_slots(
    physician: StaffUser, spans: list[SessionSpan], query: SlotQuery, world: _World
) -> Iterator[FoundSlot]:
    """One physician's free slots in time order, never overlapping one another."""
    length = timedelta(minutes=query.minutes)
    busy = world.physician_busy.get(physician.id, NOBODY)
    by_day: dict[date, list[SessionSpan]] = defaultdict(list)
    for span in spans:
        by_day[span.day].append(span)
    moved_past = query.now
    for day in sorted(by_day):
        day_spans = sorted(by_day[day], key=lambda s: (s.starts_at, s.ends_at, s.room_id or 0))
        marked = [(span, _first_mark(span, world.zone)) for span in day_spans]
        # From mark to mark, jumping at once past whatever the physician or the patient is
        # booked for rather than trying each 5-minute mark inside it.
        not_before = moved_past
        while (start := _next_start(marked, not_before, length)) is not None:
            end = start + length
            not_before = max(busy.free_from(start, end), world.patient_busy.free_from(start, end))
            if not_before > start:
                continue
            not_before = start + timedelta(microseconds=1)  # the next mark, unless this one fits
            if crosses_clock_change(start, end, world.zone):
                continue
            for span in day_spans:
                if not (span.starts_at <= start and end <= span.ends_at):
                    continue
                room = world.room_for(span, query.room_id, start, end)
                if room is False:
                    continue
                yield FoundSlot(
                    starts_at=start,
                    ends_at=end,
                    physician_id=physician.id,
                    physician_username=physician.username,
                    physician_name=physician.full_name,
                    room_id=room.id if room else None,
                    room_name=room.name if room else None,
                )
                moved_past = not_before = end
                break


def find_slots(
    session: Session, query: SlotQuery, zone: ZoneInfo, limit: int = MOST_SLOTS
) -> list[FoundSlot]:
    """The first free slots (at most ``limit``), earliest first, in a constant number of queries.

    The window is searched a stretch of days at a time (``STRETCH_ENDS``), the next stretch
    only when the slots found so far are too few: at a practice with room tomorrow the first day
    or two have them, and reading their bookings, not a week's or the whole window's, keeps the
    answer about as quick as at a small one. Every slot of a stretch starts after every slot of the stretches before it
    (a slot lies inside one day's session), and each stretch's search reads every booking a slot
    starting in it can meet, so the stretches' slots in turn are the window's first ones.
    """
    physicians, rooms, templates = _physicians_rooms_and_templates(session, query)
    found: list[FoundSlot] = []
    first = 0
    for end in STRETCH_ENDS:
        found += _search(
            session,
            query,
            zone,
            limit - len(found),
            (physicians, rooms, templates),
            first,
            end - first,
        )
        if len(found) >= limit:
            break
        first = end
    return found


def _physicians_rooms_and_templates(
    session: Session, query: SlotQuery
) -> tuple[list[StaffUser], list[Room], list[PhysicianSession]]:
    """The physicians searched (one, or every active one) and the active rooms, each by name,
    and those physicians' weekly sessions of the kind asked for: the same for every stretch."""
    physicians_query = select(StaffUser).where(
        StaffUser.role == "physician", StaffUser.active.is_(True)
    )
    if query.physician_id is not None:
        physicians_query = physicians_query.where(StaffUser.id == query.physician_id)
    # Sorted here, not in SQL: the same order (code points) whatever the database's collation.
    physicians = sorted(session.execute(physicians_query).scalars(), key=lambda p: p.username)
    rooms = sorted(
        session.execute(select(Room).where(Room.active.is_(True))).scalars(),
        key=lambda room: room.name,
    )
    templates = load_templates(session, [physician.id for physician in physicians], query.kind)
    return physicians, rooms, templates


def _search(
    session: Session,
    query: SlotQuery,
    zone: ZoneInfo,
    limit: int,
    searched: tuple[list[StaffUser], list[Room], list[PhysicianSession]],
    skip_days: int,
    days: int,
) -> list[FoundSlot]:
    """The first free slots starting in the ``days`` days after the query's first ``skip_days``.

    ``searched`` is what ``_physicians_rooms_and_templates`` read: the physicians, the rooms and
    the physicians' weekly sessions of the kind asked for.
    """
    physicians, rooms, templates = searched
    first_day = query.first_day + timedelta(days=skip_days)
    last_day = first_day + timedelta(days=days - 1)
    window_start = wall_instant(first_day, 0, zone)
    window_end = wall_instant(last_day, 24 * 60, zone)
    exceptions = load_exceptions(
        session, first_day, last_day, [physician.id for physician in physicians]
    )
    # Only sessions of the kind asked for are worked out (time off applies to every kind).
    exceptions = [row for row in exceptions if row.change == "off" or row.kind == query.kind]
    spans = [
        span
        for span in spans_of(templates, exceptions, first_day, last_day, zone)
        if span.ends_at > query.now
    ]
    whose = [Booking.physician_id.in_([p.id for p in physicians]), Booking.room_id.isnot(None)]
    if query.patient_id is not None:
        whose.append(Booking.patient_id == query.patient_id)
    rows = session.execute(
        select(
            Booking.physician_id,
            Booking.room_id,
            Booking.patient_id,
            Booking.starts_at,
            Booking.ends_at,
        ).where(
            Booking.status.in_(ACTIVE_BOOKING_STATUSES),
            # A slot starting late on the last day may run past it, by a booking's length at most.
            *overlapping(
                Booking, window_start, window_end + timedelta(minutes=MAX_DURATION_MINUTES)
            ),
            or_(*whose),
        )
    ).all()
    by_physician: dict[int, list] = defaultdict(list)
    by_room: dict[int, list] = defaultdict(list)
    of_patient = []
    for physician_id, room_id, patient_id, starts_at, ends_at in rows:
        by_physician[physician_id].append((starts_at, ends_at))
        if room_id is not None:
            by_room[room_id].append((starts_at, ends_at))
        if patient_id == query.patient_id:
            of_patient.append((starts_at, ends_at))
    world = _World(
        zone=zone,
        rooms={room.id: room for room in rooms},
        rooms_by_name=rooms,
        physician_busy={key: Busy(value) for key, value in by_physician.items()},
        room_busy={key: Busy(value) for key, value in by_room.items()},
        patient_busy=Busy(of_patient),
    )
    spans_by_physician: dict[int, list[SessionSpan]] = defaultdict(list)
    for span in spans:
        spans_by_physician[span.physician_id].append(span)
    streams = [
        _physician_slots(physician, spans_by_physician[physician.id], query, world)
        for physician in physicians
        if spans_by_physician[physician.id]
    ]
    merged = heapq.merge(
        *streams, key=lambda slot: (slot.starts_at, slot.physician_username, slot.room_name or "")
    )
    return list(islice(merged, limit))
