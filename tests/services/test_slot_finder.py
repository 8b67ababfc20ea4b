"""The slot finder: checked against a brute-force search over every 5-minute start on randomized
schedules (sessions, exceptions, bookings, room hours), and its SQL statement count is constant."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import IntegrityError

from clinic.models import PhysicianSession, SessionException
from clinic.models.scheduling import ACTIVE_BOOKING_STATUSES
from clinic.services import DomainError
from clinic.services.scheduling import sessions as session_rules
from clinic.services.scheduling import slots
from tests.factories import (
    InterventionFactory,
    PatientFactory,
    PhysicianFactory,
    RoomFactory,
    VisitFactory,
    procedure_type,
)
from tests.helpers.statement_count import count_statements

# Windows that start near the clock changes of 2030 in New York (10 March, 3 November).
FIRST_DAYS = [date(2030, 3, 4), date(2030, 3, 9), date(2030, 10, 28), date(2030, 11, 2)]
ZONES = ["UTC", "America/New_York"]


# ----- the brute force: every 5-minute mark of the clock, straight from the rows --------------


def wall(day: date, minute: int, zone: ZoneInfo) -> datetime:
    naive = datetime.combine(day, time()) + timedelta(minutes=minute)
    return naive.replace(tzinfo=zone).astimezone(UTC)


def exists_once(naive: datetime, zone: ZoneInfo) -> bool:
    """The wall time happens, exactly once (neither skipped nor repeated)."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        return False  # repeated, or skipped (the two folds disagree either way)
    return first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


def overlaps(a_start, a_end, b_start, b_end) -> bool:
    return a_start < b_end and b_start < a_end


def day_sessions(world, physician_id: int, day: date, zone):
    """(start, end, kind, room) of the physician's sessions that day, minute by minute."""
    found = []
    offs = [
        (e.start_minute, e.end_minute)
        for e in world["exceptions"]
        if e.physician_id == physician_id and e.day == day and e.change == "off"
    ]
    for row in world["templates"]:
        if row.physician_id != physician_id or row.weekday != day.weekday():
            continue
        minutes = [m for m in range(row.start_minute, row.end_minute)]
        minutes = [m for m in minutes if not any(a <= m < b for a, b in offs)]
        # Runs of consecutive minutes are the spans left.
        run_start = None
        for i, m in enumerate(minutes):
            if run_start is None:
                run_start = m
            if i + 1 == len(minutes) or minutes[i + 1] != m + 1:
                found.append(
                    (wall(day, run_start, zone), wall(day, m + 1, zone), row.kind, row.room_id)
                )
                run_start = None
    for e in world["exceptions"]:
        if e.physician_id == physician_id and e.day == day and e.change == "extra":
            found.append(
                (wall(day, e.start_minute, zone), wall(day, e.end_minute, zone), e.kind, e.room_id)
            )
    return sorted(found, key=lambda s: (s[0], s[1], s[3] or 0))


def brute_force(world, query: slots.SlotQuery, zone: ZoneInfo) -> list[tuple]:
    length = timedelta(minutes=query.minutes)
    physicians = sorted(
        (p for p in world["physicians"] if query.physician_id in (None, p.id)),
        key=lambda p: p.username,
    )
    rooms = sorted(world["rooms"], key=lambda r: r.name)
    active = [b for b in world["bookings"] if b.status in ACTIVE_BOOKING_STATUSES]
    moved_past = {p.id: query.now for p in physicians}
    found = []
    for offset in range(slots.WINDOW_DAYS):
        day = query.first_day + timedelta(days=offset)
        sessions_today = {p.id: day_sessions(world, p.id, day, zone) for p in physicians}
        if not any(sessions_today.values()):
            continue
        for minute in range(0, 24 * 60, 5):
            naive = datetime.combine(day, time()) + timedelta(minutes=minute)
            if not exists_once(naive, zone):
                continue
            start = naive.replace(tzinfo=zone).astimezone(UTC)
            end = start + length
            local_end = end.astimezone(zone).replace(tzinfo=None)
            if not exists_once(local_end, zone) or local_end - naive != length:
                continue  # ends in a repeated hour, or the clock changes during it
            for physician in physicians:
                if start < moved_past[physician.id]:
                    continue
                if any(
                    b.physician_id == physician.id and overlaps(start, end, b.starts_at, b.ends_at)
                    for b in active
                ):
                    continue
                if query.patient_id is not None and any(
                    b.patient_id == query.patient_id
                    and overlaps(start, end, b.starts_at, b.ends_at)
                    for b in active
                ):
                    continue
                chosen = None
                for s_start, s_end, kind, room_id in sessions_today[physician.id]:
                    if kind != query.kind or not (s_start <= start and end <= s_end):
                        continue
                    wanted = query.room_id if query.room_id is not None else room_id
                    candidates = [r for r in rooms if r.id == wanted] if wanted else rooms
                    for room in candidates:
                        open_ = wall(day, room.opens_at_minute, zone) <= start and end <= wall(
                            day, room.closes_at_minute, zone
                        )
                        free = not any(
                            b.room_id == room.id and overlaps(start, end, b.starts_at, b.ends_at)
                            for b in active
                        )
                        if open_ and free:
                            chosen = room
                            break
                    if chosen:
                        break
                if chosen is None:
                    continue
                found.append((start, end, physician.id, chosen.id))
                moved_past[physician.id] = end
                if len(found) == slots.MOST_SLOTS:
                    return found
    return found


# ----- randomized schedules ---------------------------------------------------------------


minute_of_day = st.integers(0, 24 * 60 - 5)
schedules = st.fixed_dictionaries(
    {
        "zone": st.sampled_from(ZONES),
        "first_day": st.sampled_from(FIRST_DAYS),
        "now_hours": st.integers(-30, 80),
        "physicians": st.integers(1, 3),
        "rooms": st.lists(
            st.tuples(st.integers(0, 14 * 60), st.integers(60, 14 * 60)), min_size=1, max_size=3
        ),
        "templates": st.lists(
            st.tuples(
                st.integers(0, 2),  # physician
                st.integers(0, 6),  # weekday
                minute_of_day,
                st.integers(20, 6 * 60),
                st.sampled_from(["procedures", "clinic"]),
                st.none() | st.integers(0, 2),  # room
            ),
            max_size=7,
        ),
        "exceptions": st.lists(
            st.tuples(
                st.integers(0, 2),
                st.integers(0, 13),  # days after first_day
                st.sampled_from(["off", "off", "extra"]),
                minute_of_day,
                st.integers(10, 24 * 60),
                st.sampled_from(["procedures", "clinic"]),
                st.none() | st.integers(0, 2),
            ),
            max_size=5,
        ),
        "bookings": st.lists(
            st.tuples(
                st.integers(0, 2),  # physician
                st.none() | st.integers(0, 2),  # room
                st.booleans(),  # the patient asked about, or another
                st.integers(0, 13),
                minute_of_day,
                st.integers(5, 120),
                st.sampled_from(["scheduled", "completed", "cancelled", "no_show"]),
            ),
            max_size=14,
        ),
        "kind": st.sampled_from(["procedures", "clinic"]),
        "minutes": st.sampled_from([15, 20, 30, 45, 60, 120]),
        "physician": st.none() | st.integers(0, 2),
        "room": st.none() | st.integers(0, 2),
        "patient": st.booleans(),
    }
)


def build(session, spec) -> dict:
    """The schedule described by ``spec``, written through the services where they decide."""
    zone = ZoneInfo(spec["zone"])
    physicians = [PhysicianFactory() for _ in range(spec["physicians"])]
    rooms = [
        RoomFactory(opens_at_minute=opens, closes_at_minute=min(opens + length, 24 * 60))
        for opens, length in spec["rooms"]
    ]
    patients = [PatientFactory(), PatientFactory()]
    session.flush()

    def pick(items, index):
        return None if index is None else items[index % len(items)]

    for who, weekday, start, length, kind, room in spec["templates"]:
        request = session_rules.SessionRequest(
            physician_id=pick(physicians, who).id,
            start_minute=start,
            end_minute=min(start + length, 24 * 60),
            kind=kind,
            room_id=getattr(pick(rooms, room), "id", None),
            weekday=weekday,
            change="weekly",
        )
        try:
            with session.begin_nested():
                session_rules.add_template(session, request)
        except DomainError:
            pass  # overlaps one already added: refused, as the page would
    for who, offset, change, start, length, kind, room in spec["exceptions"]:
        request = session_rules.SessionRequest(
            physician_id=pick(physicians, who).id,
            start_minute=start,
            end_minute=min(start + length, 24 * 60),
            kind=kind,
            room_id=getattr(pick(rooms, room), "id", None),
            day=spec["first_day"] + timedelta(days=offset),
            change=change,
        )
        try:
            with session.begin_nested():
                session_rules.add_exception(session, request, zone)
        except DomainError:
            pass
    bookings = []
    for who, room, ours, offset, start, length, status in spec["bookings"]:
        starts_at = wall(spec["first_day"] + timedelta(days=offset), start, zone)
        factory = InterventionFactory if len(bookings) % 2 else VisitFactory
        extra = {"procedure_type": procedure_type("RFA")} if factory is InterventionFactory else {}
        try:
            with session.begin_nested():
                booking = factory(
                    physician=pick(physicians, who),
                    room=pick(rooms, room),
                    patient=patients[0 if ours else 1],
                    starts_at=starts_at,
                    ends_at=starts_at + timedelta(minutes=length),
                    status=status,
                    **extra,
                )
            bookings.append(booking)
        except IntegrityError:
            pass  # overlaps an active booking: the database refuses it, as it should
    return {
        "zone": zone,
        "physicians": physicians,
        "rooms": rooms,
        "patient": patients[0],
        "templates": list(
            session.query(PhysicianSession).filter(
                PhysicianSession.physician_id.in_([p.id for p in physicians])
            )
        ),
        "exceptions": list(
            session.query(SessionException).filter(
                SessionException.physician_id.in_([p.id for p in physicians])
            )
        ),
        "bookings": bookings,
    }


# Each example refuses some sessions inside savepoints and goes on in the same session; SQLite then
# hands a rolled-back row's id to the next row, which SQLAlchemy notes. A request never goes on
# after a refusal (its whole unit of work is rolled back), so the note is the test's, not the app's.
@pytest.mark.filterwarnings("ignore:Identity map already had an identity:sqlalchemy.exc.SAWarning")
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=schedules)
def test_the_finder_offers_exactly_what_a_brute_force_search_finds(db_session, spec):
    nested = db_session.begin_nested()
    try:
        world = build(db_session, spec)
        zone = world["zone"]
        query = slots.SlotQuery(
            kind=spec["kind"],
            minutes=spec["minutes"],
            first_day=spec["first_day"],
            now=wall(spec["first_day"], 0, zone) + timedelta(hours=spec["now_hours"]),
            physician_id=(
                world["physicians"][spec["physician"] % len(world["physicians"])].id
                if spec["physician"] is not None
                else None
            ),
            room_id=(
                world["rooms"][spec["room"] % len(world["rooms"])].id
                if spec["room"] is not None
                else None
            ),
            patient_id=world["patient"].id if spec["patient"] else None,
        )
        found = slots.find_slots(db_session, query, zone)
        got = [(s.starts_at, s.ends_at, s.physician_id, s.room_id) for s in found]
        assert got == brute_force(world, query, zone)
        for start, *_ in got:
            assert start >= query.now
            assert start.astimezone(zone).minute % 5 == 0
    finally:
        nested.rollback()
        db_session.expunge_all()  # the next example builds its own world


# ----- the rules one by one ------------------------------------------------------------------

MONDAY = date(2030, 3, 4)
UTC_ZONE = ZoneInfo("UTC")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def weekly(session, physician, start_hour, end_hour, kind="procedures", room=None, weekday=0):
    return session_rules.add_template(
        session,
        session_rules.SessionRequest(
            physician_id=physician.id,
            start_minute=start_hour * 60,
            end_minute=end_hour * 60,
            kind=kind,
            room_id=room.id if room else None,
            weekday=weekday,
            change="weekly",
        ),
    )


def query(**kwargs) -> slots.SlotQuery:
    kwargs.setdefault("kind", "procedures")
    kwargs.setdefault("minutes", 60)
    kwargs.setdefault("first_day", MONDAY)
    kwargs.setdefault("now", at(MONDAY, 0) - timedelta(days=1))
    return slots.SlotQuery(**kwargs)


def offered(session, q) -> list[tuple[str, str, str | None]]:
    return [
        (f"{s.starts_at:%a %H:%M}", s.physician_username, s.room_name)
        for s in slots.find_slots(session, q, UTC_ZONE)
    ]


def test_ties_go_by_username_then_the_session_room_or_the_first_free_room(db_session):
    zed = PhysicianFactory(username="zed")
    amy = PhysicianFactory(username="amy")
    suite_b, suite_a = RoomFactory(name="Suite B"), RoomFactory(name="Suite A")
    weekly(db_session, zed, 9, 11, room=suite_b)
    weekly(db_session, amy, 9, 11)  # no room named: the first open and free by name
    InterventionFactory(
        physician=PhysicianFactory(),
        room=suite_a,
        procedure_type=procedure_type("RFA"),
        starts_at=at(MONDAY, 9),
        ends_at=at(MONDAY, 10),
    )
    db_session.flush()
    assert offered(db_session, query())[:4] == [
        ("Mon 09:00", "amy", "Suite B"),  # Suite A is taken at 09:00
        ("Mon 09:00", "zed", "Suite B"),
        ("Mon 10:00", "amy", "Suite A"),
        ("Mon 10:00", "zed", "Suite B"),
    ]


def test_the_patients_own_bookings_are_checked_only_when_the_patient_is_named(db_session):
    amy, bob = PhysicianFactory(username="amy"), PhysicianFactory(username="bob")
    RoomFactory(name="Suite A")
    weekly(db_session, amy, 9, 10)
    weekly(db_session, bob, 9, 10)
    patient = PatientFactory()
    VisitFactory(patient=patient, physician=amy, starts_at=at(MONDAY, 9), ends_at=at(MONDAY, 10))
    db_session.flush()
    without = offered(db_session, query(first_day=MONDAY, minutes=60))
    with_patient = offered(db_session, query(patient_id=patient.id))
    assert without[0] == ("Mon 09:00", "bob", "Suite A")
    # Both physicians are free on the 4th at 09:00, but the patient is not: the next Monday.
    first = slots.find_slots(db_session, query(patient_id=patient.id), UTC_ZONE)[0]
    assert (first.starts_at, first.physician_username) == (at(MONDAY + timedelta(days=7), 9), "amy")
    assert with_patient[0] == ("Mon 09:00", "amy", "Suite A")


def test_slots_of_one_physician_never_overlap_and_never_start_in_the_past(db_session):
    amy = PhysicianFactory(username="amy")
    RoomFactory(name="Suite A")
    weekly(db_session, amy, 8, 12)
    db_session.flush()
    now = at(MONDAY, 8, 2)  # 08:02: the first 5-minute mark still to come is 08:05
    got = slots.find_slots(db_session, query(now=now, minutes=45), UTC_ZONE)
    assert [f"{s.starts_at:%H:%M}" for s in got[:5]] == [
        "08:05",
        "08:50",
        "09:35",
        "10:20",
        "11:05",
    ]
    assert got[5].starts_at == at(MONDAY + timedelta(days=7), 8)


def test_time_off_and_extra_sessions_change_what_is_offered(db_session):
    amy = PhysicianFactory(username="amy")
    RoomFactory(name="Suite A")
    weekly(db_session, amy, 9, 11)
    for change, start, end in (("off", 9 * 60, 10 * 60), ("extra", 14 * 60, 15 * 60)):
        session_rules.add_exception(
            db_session,
            session_rules.SessionRequest(
                physician_id=amy.id,
                start_minute=start,
                end_minute=end,
                kind="procedures",
                day=MONDAY,
                change=change,
            ),
            UTC_ZONE,
        )
    db_session.flush()
    assert offered(db_session, query())[:3] == [
        ("Mon 10:00", "amy", "Suite A"),
        ("Mon 14:00", "amy", "Suite A"),
        ("Mon 09:00", "amy", "Suite A"),  # the next Monday, its template whole again
    ]


def test_a_visit_looks_in_clinic_sessions_only(db_session):
    amy = PhysicianFactory(username="amy")
    consulting = RoomFactory(name="Consult 1")
    weekly(db_session, amy, 8, 9, kind="procedures")
    weekly(db_session, amy, 13, 14, kind="clinic", room=consulting)
    db_session.flush()
    assert offered(db_session, query(kind="clinic", minutes=30))[:2] == [
        ("Mon 13:00", "amy", "Consult 1"),
        ("Mon 13:30", "amy", "Consult 1"),
    ]


def test_no_room_open_and_free_means_no_slot(db_session):
    amy = PhysicianFactory(username="amy")
    weekly(db_session, amy, 6, 8)  # rooms open at 07:00 by default
    RoomFactory(name="Suite A")
    db_session.flush()
    assert offered(db_session, query())[0] == ("Mon 07:00", "amy", "Suite A")


def test_the_finders_statement_count_does_not_grow_with_bookings_or_days(app, db_session):
    amy = PhysicianFactory(username="amy")
    room = RoomFactory(name="Suite A")
    weekly(db_session, amy, 9, 10, room=room)
    db_session.flush()
    # Everything booked for weeks: the search runs through many days before it finds a slot.
    with count_statements(app) as few:
        slots.find_slots(db_session, query(), UTC_ZONE)
    patient = PatientFactory()
    for week in range(12):
        day = MONDAY + timedelta(days=7 * week)
        VisitFactory(
            patient=patient, physician=amy, room=room, starts_at=at(day, 9), ends_at=at(day, 10)
        )
    for n in range(40):
        VisitFactory(physician=PhysicianFactory(), starts_at=at(MONDAY, 7) + timedelta(hours=n))
    db_session.flush()
    with count_statements(app) as many:
        got = slots.find_slots(db_session, query(), UTC_ZONE)
    assert got[0].starts_at == at(MONDAY + timedelta(days=84), 9)
    # Physicians, rooms and weekly sessions once, then two a stretch (exceptions, bookings) for
    # each stretch: none before the last held enough slots.
    assert many.count == few.count == 3 + 2 * len(slots.STRETCH_ENDS)


def test_a_busy_practice_is_answered_from_the_first_day_alone(app, db_session):
    # Two physicians each with eight hour-long slots on the first day: the later stretches'
    # bookings are never read (one search, not five), and the answer is the one a search of the
    # whole window at once gives.
    for username, room_name in (("amy", "Suite A"), ("bob", "Suite B")):
        physician = PhysicianFactory(username=username)
        room = RoomFactory(name=room_name)
        for weekday in range(5):
            weekly(db_session, physician, 9, 17, room=room, weekday=weekday)
    db_session.flush()
    with count_statements(app) as counted:
        got = slots.find_slots(db_session, query(), UTC_ZONE)
    # Physicians, rooms, weekly sessions; the first day's exceptions and bookings.
    assert counted.count == 5 and len(got) == slots.MOST_SLOTS
    assert {slot.starts_at.date() for slot in got} == {MONDAY}
    assert whole_window_at_once(db_session, query()) == got


def whole_window_at_once(session, q: slots.SlotQuery) -> list[slots.FoundSlot]:
    searched = slots._physicians_rooms_and_templates(session, q)
    return slots._search(session, q, UTC_ZONE, slots.MOST_SLOTS, searched, 0, slots.WINDOW_DAYS)


def test_slots_found_across_the_stretches_are_the_whole_windows_first_ones(app, db_session):
    # Two slots a week, late in the week: the first week holds 2 of the 10, the four weeks 8,
    # so the last stretch is searched too and the slots come from the stretches, in order.
    amy = PhysicianFactory(username="amy")
    bob = PhysicianFactory(username="bob")
    room = RoomFactory(name="Suite A")
    weekly(db_session, amy, 9, 10, room=room, weekday=4)
    weekly(db_session, bob, 14, 15, room=room, weekday=4)
    db_session.flush()
    with count_statements(app) as counted:
        got = slots.find_slots(db_session, query(), UTC_ZONE)
    assert counted.count == 3 + 2 * len(slots.STRETCH_ENDS)
    assert len(got) == slots.MOST_SLOTS
    assert got == whole_window_at_once(db_session, query())
    assert got[-1].starts_at.date() >= MONDAY + timedelta(days=28)
