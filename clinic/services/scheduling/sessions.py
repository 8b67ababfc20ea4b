"""Physicians' sessions: the weekly template, its dated exceptions, and the spans they make.

A physician's week is a template of sessions (weekday, start, end, kind, optional room); an
exception takes time off on one date (part of a day or all of it) or adds an extra session
that date. ``sessions_between`` turns both into the actual spans of each day, in UTC, so the
time grid and the slot finder read the same sessions. Times are minutes of the clinic's wall
clock (docs/rules.md, "Sessions").
"""

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from clinic.clock import on_the_clock
from clinic.models import PhysicianSession, Room, SessionException, StaffUser
from clinic.models.sessions import SESSION_KIND_LABELS, SESSION_KINDS, WEEKDAY_NAMES
from clinic.services import DomainError

MINUTES_IN_DAY = 24 * 60


@dataclass(frozen=True)
class SessionSpan:
    """One session as it happens on one day, after the exceptions: aware datetimes in UTC."""

    physician_id: int
    day: date
    starts_at: datetime
    ends_at: datetime
    kind: str
    room_id: int | None


def wall_instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of a minute of the clinic's wall clock on a day (1440 = next midnight)."""
    local = datetime.combine(day, time(0), tzinfo=zone) + timedelta(minutes=minute)
    return local.astimezone(UTC)


def minutes_label(minute: int) -> str:
    """'08:30' for minute 510; '24:00' for the end of the day."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _subtract(
    intervals: list[tuple[int, int]], holes: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """What is left of [start, end) intervals once the holes are taken out of them."""
    for hole_start, hole_end in holes:
        left = []
        for start, end in intervals:
            if hole_end <= start or hole_start >= end:
                left.append((start, end))
                continue
            if start < hole_start:
                left.append((start, hole_start))
            if hole_end < end:
                left.append((hole_end, end))
        intervals = left
    return intervals


def spans_of(
    templates: Iterable[PhysicianSession],
    exceptions: Iterable[SessionException],
    first_day: date,
    last_day: date,
    zone: ZoneInfo,
) -> list[SessionSpan]:
    """The sessions of each day from first_day to last_day, from loaded rows (no queries).

    Time off removes that stretch from the template's sessions of the day; an extra session
    is added as it is.
    """
    by_weekday: dict[int, list[PhysicianSession]] = defaultdict(list)
    for template in templates:
        by_weekday[template.weekday].append(template)
    off: dict[tuple[int, date], list[tuple[int, int]]] = defaultdict(list)
    extra: dict[date, list[SessionException]] = defaultdict(list)
    for exception in exceptions:
        if exception.change == "off":
            off[exception.physician_id, exception.day].append(
                (exception.start_minute, exception.end_minute)
            )
        else:
            extra[exception.day].append(exception)
    spans = []
    day = first_day
    while day <= last_day:
        for template in by_weekday.get(day.weekday(), ()):
            holes = off.get((template.physician_id, day), [])
            for start, end in _subtract([(template.start_minute, template.end_minute)], holes):
                spans.append(_span(template.physician_id, day, start, end, template, zone))
        for exception in extra.get(day, ()):
            spans.append(
                _span(
                    exception.physician_id,
                    day,
                    exception.start_minute,
                    exception.end_minute,
                    exception,
                    zone,
                )
            )
        day += timedelta(days=1)
    # A weekly session wholly in the hour the clocks skip is not held that day (read off the
    # clock, its start would fall after its end).
    spans = [span for span in spans if span.ends_at > span.starts_at]
    spans.sort(key=lambda s: (s.day, s.physician_id, s.starts_at, s.ends_at))
    return spans


def _span(physician_id, day, start, end, row, zone) -> SessionSpan:
    return SessionSpan(
        physician_id=physician_id,
        day=day,
        starts_at=wall_instant(day, start, zone),
        ends_at=wall_instant(day, end, zone),
        kind=row.kind,
        room_id=row.room_id,
    )


def load_rows(
    session: Session,
    first_day: date,
    last_day: date,
    physician_ids: Collection[int] | None = None,
    room_ids: Collection[int] | None = None,
) -> tuple[list[PhysicianSession], list[SessionException]]:
    """The templates and the window's exceptions of active physicians, in two queries.

    ``room_ids``: only what the sessions held in these rooms need — the templates and extra
    sessions that name one of them, and every time off (it may cut a template's session)."""
    return (
        load_templates(session, physician_ids, room_ids=room_ids),
        load_exceptions(session, first_day, last_day, physician_ids, room_ids=room_ids),
    )


def _active_physicians():
    return select(StaffUser.id).where(StaffUser.role == "physician", StaffUser.active.is_(True))


def load_templates(
    session: Session,
    physician_ids: Collection[int] | None = None,
    kind: str | None = None,
    *,
    room_ids: Collection[int] | None = None,
) -> list[PhysicianSession]:
    """The weekly templates of active physicians (all, or those named; of any kind, or one; in
    any room, or in those named)."""
    templates = select(PhysicianSession).where(
        PhysicianSession.physician_id.in_(_active_physicians())
    )
    if kind is not None:
        templates = templates.where(PhysicianSession.kind == kind)
    if physician_ids is not None:
        templates = templates.where(PhysicianSession.physician_id.in_(list(physician_ids)))
    if room_ids is not None:
        templates = templates.where(PhysicianSession.room_id.in_(list(room_ids)))
    return list(session.execute(templates).scalars())


def load_exceptions(
    session: Session,
    first_day: date,
    last_day: date,
    physician_ids: Collection[int] | None = None,
    *,
    room_ids: Collection[int] | None = None,
) -> list[SessionException]:
    """Active physicians' exceptions (extra sessions, time off) from first_day to last_day;
    with ``room_ids``, the extra sessions in those rooms and all the time off."""
    exceptions = select(SessionException).where(
        SessionException.physician_id.in_(_active_physicians()),
        SessionException.day >= first_day,
        SessionException.day <= last_day,
    )
    if physician_ids is not None:
        exceptions = exceptions.where(SessionException.physician_id.in_(list(physician_ids)))
    if room_ids is not None:
        exceptions = exceptions.where(
            or_(SessionException.change == "off", SessionException.room_id.in_(list(room_ids)))
        )
    return list(session.execute(exceptions).scalars())


def sessions_between(
    session: Session,
    first_day: date,
    last_day: date,
    zone: ZoneInfo,
    physician_ids: Collection[int] | None = None,
    room_ids: Collection[int] | None = None,
) -> list[SessionSpan]:
    """Every active physician's sessions from first_day to last_day, exceptions applied (of
    the physicians named; held in the rooms named).

    Two queries however many days or physicians; sorted by day, physician and start.
    """
    templates, exceptions = load_rows(session, first_day, last_day, physician_ids, room_ids)
    return spans_of(templates, exceptions, first_day, last_day, zone)


def within_sessions(
    spans: Iterable[SessionSpan],
    physician_id: int,
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
) -> bool:
    """Whether [starts_at, ends_at) lies inside one session of the physician of that kind."""
    return any(
        span.physician_id == physician_id
        and span.kind == kind
        and span.starts_at <= starts_at
        and ends_at <= span.ends_at
        for span in spans
    )


# ----- managing the template and the exceptions --------------------------------------------


@dataclass(frozen=True)
class SessionRequest:
    """What the session form asks for: a weekly session, or a dated exception."""

    physician_id: int
    start_minute: int
    end_minute: int
    kind: str | None = None
    room_id: int | None = None
    weekday: int | None = None
    day: date | None = None
    change: str | None = None
    note: str | None = None


def _check_common(session: Session, request: SessionRequest, needs_kind: bool) -> StaffUser:
    physician = session.get(StaffUser, request.physician_id)
    if physician is None or physician.role != "physician" or not physician.active:
        raise DomainError("Choose an active physician.", "physician_id")
    if not 0 <= request.start_minute < request.end_minute <= MINUTES_IN_DAY:
        raise DomainError("The end must be after the start, within the day.", "end_time")
    if needs_kind and request.kind not in SESSION_KINDS:
        raise DomainError("Choose procedures or clinic.", "kind")
    if request.room_id is not None:
        room = session.get(Room, request.room_id)
        if room is None or not room.active:
            raise DomainError("Choose an open room.", "room_id")
    return physician


def _describe_template(row: PhysicianSession) -> str:
    room = f" in {row.room.name}" if row.room else ""
    return (
        f"{WEEKDAY_NAMES[row.weekday]} {minutes_label(row.start_minute)}–"
        f"{minutes_label(row.end_minute)} {SESSION_KIND_LABELS[row.kind].lower()}{room}"
    )


def _describe_span(span: SessionSpan, zone: ZoneInfo) -> str:
    start, end = span.starts_at.astimezone(zone), span.ends_at.astimezone(zone)
    return (
        f"{span.day:%a %d %b %Y} {start:%H:%M}–{end:%H:%M} {SESSION_KIND_LABELS[span.kind].lower()}"
    )


def add_template(session: Session, request: SessionRequest) -> PhysicianSession:
    """Add a weekly session, refusing one that overlaps another of the same physician."""
    physician = _check_common(session, request, needs_kind=True)
    if request.weekday is None or not 0 <= request.weekday <= 6:
        raise DomainError("Choose a weekday.", "weekday")
    clashes = session.execute(
        select(PhysicianSession)
        .where(
            PhysicianSession.physician_id == request.physician_id,
            PhysicianSession.weekday == request.weekday,
            PhysicianSession.start_minute < request.end_minute,
            PhysicianSession.end_minute > request.start_minute,
        )
        .order_by(PhysicianSession.start_minute)
    ).scalars()
    clash = next(iter(clashes), None)
    if clash is not None:
        raise DomainError(
            f"{physician.full_name} already has a session then: {_describe_template(clash)}. "
            "Change the times or remove that session first.",
            "start_time",
        )
    row = PhysicianSession(
        physician_id=request.physician_id,
        weekday=request.weekday,
        start_minute=request.start_minute,
        end_minute=request.end_minute,
        kind=request.kind,
        room_id=request.room_id,
    )
    session.add(row)
    session.flush()
    return row


def _check_on_the_clock(day: date, minute: int, before: int, zone: ZoneInfo, field: str) -> None:
    """Refuse a time of an extra session that the clinic's clock skips on that day (judged by the
    minute ``before`` it: 1 for an end, whose own minute is not in the session)."""
    local = datetime.combine(day, time(0), tzinfo=zone) + timedelta(minutes=minute - before)
    if not on_the_clock(local):
        raise DomainError(
            f"{day.isoformat()} {minutes_label(minute)} does not exist in the clinic's time zone "
            f"({zone.key}): the clocks go forward then. Choose another time.",
            field,
        )


def add_exception(session: Session, request: SessionRequest, zone: ZoneInfo) -> SessionException:
    """Add time off on a date, or an extra session that must not overlap the day's others."""
    if request.change not in ("off", "extra"):
        raise DomainError("Choose time off or an extra session.", "change")
    if request.day is None:
        raise DomainError("Enter the date as YYYY-MM-DD.", "day")
    physician = _check_common(session, request, needs_kind=request.change == "extra")
    if request.change == "extra":
        start = wall_instant(request.day, request.start_minute, zone)
        end = wall_instant(request.day, request.end_minute, zone)
        # An end is a boundary: 01:00 as the clocks go forward at 01:00 ends with its last minute.
        typed = ((request.start_minute, 0, "start_time"), (request.end_minute, 1, "end_time"))
        for minute, before, field in typed:
            _check_on_the_clock(request.day, minute, before, zone, field)
        spans = sessions_between(session, request.day, request.day, zone, [request.physician_id])
        clash = next((s for s in spans if s.starts_at < end and s.ends_at > start), None)
        if clash is not None:
            raise DomainError(
                f"{physician.full_name} already has a session then: {_describe_span(clash, zone)}. "
                "Change the times, or take that time off first.",
                "start_time",
            )
    row = SessionException(
        physician_id=request.physician_id,
        day=request.day,
        change=request.change,
        start_minute=request.start_minute,
        end_minute=request.end_minute,
        kind=request.kind if request.change == "extra" else None,
        room_id=request.room_id if request.change == "extra" else None,
        note=(request.note or "").strip() or None,
    )
    session.add(row)
    session.flush()
    return row


def remove_template(session: Session, row: PhysicianSession) -> str:
    """Remove a weekly session; returns what it was, for the audit row and the message."""
    described = _describe_template(row)
    session.delete(row)
    session.flush()
    return described


def remove_exception(session: Session, row: SessionException) -> str:
    """Remove a dated exception; returns what it was."""
    what = "time off" if row.change == "off" else f"extra {row.kind} session"
    described = (
        f"{row.day:%a %d %b %Y} {minutes_label(row.start_minute)}–"
        f"{minutes_label(row.end_minute)} {what}"
    )
    session.delete(row)
    session.flush()
    return described


def add_session(session: Session, request: SessionRequest, zone: ZoneInfo) -> str:
    """Add what the session form asks for (weekly, time off or extra); says what was added."""
    if request.change == "weekly":
        row = add_template(session, request)
        return f"{row.physician.full_name}, every {_describe_template(row)}"
    exception = add_exception(session, request, zone)
    physician = session.get(StaffUser, exception.physician_id)
    what = "time off" if exception.change == "off" else f"extra {exception.kind} session"
    return (
        f"{physician.full_name}, {exception.day:%a %d %b %Y} "
        f"{minutes_label(exception.start_minute)}–{minutes_label(exception.end_minute)} {what}"
    )
