"""The schedule as a time grid: a column per physician or room, 15-minute rows, bookings as blocks.

The grid is drawn from rows loaded in a constant number of queries (a page of physicians or
rooms, their bookings in the window, the sessions, the rooms' hours) and laid out in memory, so
the page is the same size and cost however large the practice or long its history: at most
``COLUMNS_PER_PAGE`` physicians or rooms a screen, with paging and a filter.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session, joinedload

from clinic.clock import on_the_clock
from clinic.models import Booking, Room, StaffUser
from clinic.models.scheduling import ACTIVE_BOOKING_STATUSES
from clinic.services.scheduling.bookings import MAX_DURATION_MINUTES, any_booking
from clinic.services.scheduling.sessions import SessionSpan, sessions_between

ROW_MINUTES = 15
COLUMNS_PER_PAGE = 8
# The rows a day shows when nothing (no session, no opening hours, no booking) says otherwise.
DEFAULT_HOURS = (7 * 60, 19 * 60)
MINUTES_IN_DAY = 24 * 60


@dataclass(frozen=True)
class Resource:
    """A column (day view) or row (week view): a physician or a room."""

    id: int | None  # None: the bookings that have no room
    name: str
    key: str | None  # the physician's username or the room's name, for links and the filter
    active: bool = True
    opens_at_minute: int | None = None
    closes_at_minute: int | None = None

    @property
    def label(self) -> str:
        return self.name if self.active else f"{self.name} (deactivated)"


@dataclass
class Block:
    """One or more bookings drawn as one block: they share a 15-minute row of one column."""

    first_row: int
    last_row: int  # exclusive
    bookings: list[Booking] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.last_row - self.first_row


@dataclass(frozen=True)
class Cell:
    """What one (row, column) of the day grid holds: the start of a block, a free slot, or
    nothing (covered by a block above it)."""

    block: Block | None = None
    session: SessionSpan | None = None  # a free cell inside a session: a link to book it
    covered: bool = False


@dataclass
class Page:
    """A page of the practice's physicians or rooms: the columns shown and how many in all."""

    resources: list[Resource]
    total: int
    number: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // COLUMNS_PER_PAGE))


def resource_page(
    session: Session,
    by: str,
    start: datetime,
    end: datetime,
    number: int,
    key: str | None = None,
) -> Page:
    """One page of the active physicians (or rooms), plus deactivated ones still holding a
    booking in [start, end) — that booking blocks its slot, so it must be drawn. Two queries."""
    model = StaffUser if by == "physician" else Room
    held_by = Booking.physician_id if by == "physician" else Booking.room_id
    holding = select(held_by).where(Booking.starts_at >= start, Booking.starts_at < end)
    shown = [or_(model.active.is_(True), model.id.in_(holding))]
    if by == "physician":
        shown.append(StaffUser.role == "physician")
        if key is not None:
            shown.append(StaffUser.username == key)
        order = (StaffUser.full_name, StaffUser.id)
    else:
        if key is not None:
            shown.append(Room.name == key)
        order = (Room.name, Room.id)
    total = session.execute(select(func.count()).select_from(model).where(*shown)).scalar_one()
    rows = session.execute(
        select(model)
        .where(*shown)
        .order_by(*order)
        .limit(COLUMNS_PER_PAGE)
        .offset((number - 1) * COLUMNS_PER_PAGE)
    ).scalars()
    if by == "physician":
        resources = [Resource(u.id, u.full_name, u.username, u.active) for u in rows]
    else:
        resources = [
            Resource(r.id, r.name, r.name, r.active, r.opens_at_minute, r.closes_at_minute)
            for r in rows
        ]
    return Page(resources, total, number)


@dataclass
class Grid:
    """The schedule of a day or a week for one page of physicians or rooms."""

    by: str
    days: list[date]
    zone: ZoneInfo
    page: Page
    columns: list[Resource]  # the page's resources, and "No room" when bookings have none
    bookings: dict[tuple[date, int | None], list[Booking]]  # (day, column) → in time order
    sessions: dict[tuple[date, int | None], list[SessionSpan]]
    first_minute: int = DEFAULT_HOURS[0]
    last_minute: int = DEFAULT_HOURS[1]
    # Every physician and room (staff and rooms, not history): for links and the filter.
    physicians: dict[int, StaffUser] = field(default_factory=dict)
    rooms: dict[int, Room] = field(default_factory=dict)

    @property
    def row_starts(self) -> list[int]:
        """The minute of the day each 15-minute row starts at."""
        return list(range(self.first_minute, self.last_minute, ROW_MINUTES))

    def active_bookings(self, day: date, column: int | None) -> list[Booking]:
        return [
            b for b in self.bookings.get((day, column), []) if b.status in ACTIVE_BOOKING_STATUSES
        ]

    def dropped_bookings(self, day: date) -> list[Booking]:
        """The day's cancelled and no-show bookings in the columns shown, in time order."""
        dropped = [
            b
            for column in self.columns
            for b in self.bookings.get((day, column.id), [])
            if b.status not in ACTIVE_BOOKING_STATUSES
        ]
        return sorted(dropped, key=lambda b: (b.starts_at, b.id))

    def minute_of(self, moment: datetime, day: date) -> int:
        """Minutes from the day's local midnight (clamped to the day)."""
        local = moment.astimezone(self.zone)
        minutes = (local.date() - day).days * MINUTES_IN_DAY + local.hour * 60 + local.minute
        return max(0, min(MINUTES_IN_DAY, minutes))

    def day_cells(self, day: date) -> list[list[Cell]]:
        """The day view as rows of cells, one per column: blocks start, free session cells."""
        rows = self.row_starts
        table = [[Cell() for _ in self.columns] for _ in rows]
        for c, column in enumerate(self.columns):
            blocks: list[Block] = []
            for booking in self.active_bookings(day, column.id):
                first = (self.minute_of(booking.starts_at, day) - self.first_minute) // ROW_MINUTES
                end_minute = self.minute_of(booking.ends_at, day)
                last = -(-(end_minute - self.first_minute) // ROW_MINUTES)
                first, last = max(0, first), min(len(rows), max(last, first + 1))
                if blocks and first < blocks[-1].last_row:
                    # Shares a row with the block above (times not on the quarter hour): one block.
                    blocks[-1].last_row = max(blocks[-1].last_row, last)
                    blocks[-1].bookings.append(booking)
                else:
                    blocks.append(Block(first, last, [booking]))
            for block in blocks:
                table[block.first_row][c] = Cell(block=block)
                for r in range(block.first_row + 1, block.last_row):
                    table[r][c] = Cell(covered=True)
            spans = self.sessions.get((day, column.id), [])
            for r, minute in enumerate(rows):
                if table[r][c].block is not None or table[r][c].covered:
                    continue
                starts = datetime.combine(day, time(0), tzinfo=self.zone) + timedelta(
                    minutes=minute
                )
                if not on_the_clock(starts):
                    continue  # the hour the clocks skip: nothing to book
                starts_utc = starts.astimezone(ZoneInfo("UTC"))
                ends_utc = starts_utc + timedelta(minutes=ROW_MINUTES)
                for span in spans:
                    if span.starts_at <= starts_utc and ends_utc <= span.ends_at:
                        table[r][c] = Cell(session=span)
                        break
        return table

    def filter_choices(self) -> list[tuple[str, str]]:
        """The active physicians (username, name) or rooms (name, name) the grid can show alone."""
        if self.by == "physician":
            return [(u.username, u.full_name) for u in self.physicians.values() if u.active]
        return [(r.name, r.name) for r in self.rooms.values() if r.active]

    def slot_start(self, day: date, minute: int) -> str:
        """The booking form's ``start`` for a row: YYYY-MM-DDTHH:MM, clinic time."""
        return f"{day.isoformat()}T{minute // 60:02d}:{minute % 60:02d}"


def build(
    session: Session,
    days: list[date],
    by: str,
    zone: ZoneInfo,
    page_number: int = 1,
    key: str | None = None,
) -> Grid:
    """The grid of these days for one page of physicians (or rooms); a constant number of queries."""
    start = datetime.combine(days[0], time(0), tzinfo=zone)
    end = datetime.combine(days[-1] + timedelta(days=1), time(0), tzinfo=zone)
    page = resource_page(session, by, start, end, page_number, key)
    ids = [r.id for r in page.resources]
    column_of = (lambda b: b.physician_id) if by == "physician" else (lambda b: b.room_id)
    # "No room" is the last column of the last page of rooms (not of a filtered one).
    no_room = by == "room" and page.number >= page.pages and key is None
    bookings = _bookings(session, start, end, by, ids, no_room)
    columns = list(page.resources)
    if by == "room" and any(b.room_id is None for b in bookings):
        columns.append(Resource(None, "No room", None))
    grouped: dict[tuple[date, int | None], list[Booking]] = {}
    for booking in bookings:
        # Under the day it starts; one begun the evening before, under the first day shown.
        day = max(booking.starts_at.astimezone(zone).date(), days[0])
        grouped.setdefault((day, column_of(booking)), []).append(booking)
    spans = sessions_between(
        session,
        days[0],
        days[-1],
        zone,
        physician_ids=ids if by == "physician" else None,
        room_ids=ids if by == "room" else None,
    )
    by_column: dict[tuple[date, int | None], list[SessionSpan]] = {}
    for span in spans:
        column = span.physician_id if by == "physician" else span.room_id
        if by == "room" and column not in ids:
            continue
        by_column.setdefault((span.day, column), []).append(span)
    grid = Grid(by, days, zone, page, columns, grouped, by_column)
    physicians = session.execute(
        select(StaffUser).where(StaffUser.role == "physician").order_by(StaffUser.full_name)
    ).scalars()
    grid.physicians = {user.id: user for user in physicians}
    rooms = session.execute(select(Room)).scalars().all()
    grid.rooms = {room.id: room for room in sorted(rooms, key=lambda room: room.name)}
    _fit_rows(grid, [room for room in rooms if room.active], bookings, spans)
    return grid


def _bookings(
    session: Session, start: datetime, end: datetime, by: str, ids: list, no_room: bool
) -> list[Booking]:
    """The bookings of the columns shown that start in [start, end) or run into it from the
    night before, with what a block shows."""
    booking = any_booking()
    held = booking.physician_id if by == "physician" else booking.room_id
    shown = held.in_(ids) if ids else false()
    if no_room:
        shown = or_(shown, booking.room_id.is_(None))
    return list(
        session.execute(
            select(booking)
            .options(
                joinedload(booking.patient),
                joinedload(booking.physician),
                joinedload(booking.room),
                joinedload(booking.Intervention.procedure_type),
            )
            .where(
                # Also those begun the evening before that run into the first day.
                booking.starts_at > start - timedelta(minutes=MAX_DURATION_MINUTES),
                booking.starts_at < end,
                booking.ends_at > start,
                shown,
            )
            .order_by(booking.starts_at, booking.id)
        )
        .unique()
        .scalars()
    )


def _fit_rows(grid: Grid, open_rooms: list[Room], bookings: list[Booking], spans) -> None:
    """Rows across the rooms' opening hours, the sessions and every booking shown, on the quarter."""
    if grid.by == "room":
        shown = {r.id for r in grid.columns}
        open_rooms = [room for room in open_rooms if room.id in shown]
    starts = [room.opens_at_minute for room in open_rooms]
    ends = [room.closes_at_minute for room in open_rooms]
    for day in grid.days:
        for (span_day, _column), day_spans in grid.sessions.items():
            if span_day == day:
                for span in day_spans:
                    starts.append(grid.minute_of(span.starts_at, day))
                    ends.append(grid.minute_of(span.ends_at, day))
        for column in grid.columns:
            for booking in grid.bookings.get((day, column.id), []):
                starts.append(grid.minute_of(booking.starts_at, day))
                ends.append(grid.minute_of(booking.ends_at, day))
    first = min(starts) if starts else DEFAULT_HOURS[0]
    last = max(ends) if ends else DEFAULT_HOURS[1]
    grid.first_minute = first - first % ROW_MINUTES
    grid.last_minute = min(MINUTES_IN_DAY, last + (-last % ROW_MINUTES))
    if grid.last_minute <= grid.first_minute:
        grid.first_minute, grid.last_minute = DEFAULT_HOURS
