"""Scheduling: booking, clashes named, back-to-back allowed, cancelled slots freed, races lost."""

import re
import threading
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select

from clinic import clock
from clinic.extensions import db
from clinic.models import Booking, Intervention, Patient, ProcedureType, Room, StaffUser, Visit
from clinic.services import DomainError
from clinic.services.records import StaleRecord
from clinic.services.scheduling import bookings as scheduling
from tests.factories import (
    InterventionFactory,
    PatientFactory,
    PhysicianFactory,
    ReferralFactory,
    RoomFactory,
    VisitFactory,
    procedure_type,
)
from tests.helpers.app import (
    BACKENDS,
    TEST_DATABASE_URL,
    create_throwaway_database,
    csrf_token,
    drop_database,
    make_app,
    skip_without_postgres,
)

UTC_ZONE = ZoneInfo("UTC")
DAY = date(2030, 3, 4)  # a Monday


def at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DAY, time(hour, minute), tzinfo=UTC)


# The clinic's clock at the start of a 09:00 booking: it can be checked in or be a no-show.
AT_NINE = {"zone": UTC_ZONE, "now": at(9)}


def request_for(patient, physician, room, start, minutes=30, **kwargs) -> scheduling.NewBooking:
    kwargs.setdefault("procedure_type_id", procedure_type("ESI-TF").id)
    return scheduling.NewBooking(
        patient_id=patient.id,
        physician_id=physician.id,
        room_id=room.id if room else None,
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes),
        **kwargs,
    )


@pytest.fixture
def cast(db_session):
    """Two patients, two physicians, two rooms."""
    people = {
        "ana": PatientFactory(first_name="Ana", last_name="Smith"),
        "ben": PatientFactory(first_name="Ben", last_name="Jones"),
        "okafor": PhysicianFactory(full_name="Dr. Okafor"),
        "lind": PhysicianFactory(full_name="Dr. Lindqvist"),
        "suite1": RoomFactory(name="Suite 1"),
        "suite2": RoomFactory(name="Suite 2"),
    }
    db_session.flush()
    return people


def test_booking_an_intervention_stores_it_as_scheduled(db_session, cast):
    booking = scheduling.book(
        db_session, request_for(cast["ana"], cast["okafor"], cast["suite1"], at(9)), UTC_ZONE
    )
    assert isinstance(booking, Intervention)
    assert booking.status == "scheduled"
    assert booking.procedure_type.code == "ESI-TF"
    assert booking.ends_at - booking.starts_at == timedelta(minutes=30)


@pytest.mark.parametrize(
    ("who", "named"),
    [
        ("physician", "Dr. Okafor is already booked"),
        ("room", "Suite 1 is already booked"),
        ("patient", "The patient is already booked"),
    ],
)
def test_overlapping_booking_is_refused_naming_the_clash(db_session, cast, who, named):
    scheduling.book(
        db_session, request_for(cast["ana"], cast["okafor"], cast["suite1"], at(9)), UTC_ZONE
    )
    second = {
        "physician": (cast["ben"], cast["okafor"], cast["suite2"]),
        "room": (cast["ben"], cast["lind"], cast["suite1"]),
        "patient": (cast["ana"], cast["lind"], cast["suite2"]),
    }[who]
    with pytest.raises(scheduling.BookingClash) as refused:
        scheduling.book(db_session, request_for(*second, at(9, 15)), UTC_ZONE)
    assert named in refused.value.message
    assert "09:00–09:30" in refused.value.message
    assert db_session.execute(select(func.count()).select_from(Booking)).scalar_one() == 1


def test_back_to_back_bookings_are_allowed(db_session, cast):
    scheduling.book(
        db_session, request_for(cast["ana"], cast["okafor"], cast["suite1"], at(9)), UTC_ZONE
    )
    scheduling.book(
        db_session, request_for(cast["ben"], cast["okafor"], cast["suite1"], at(9, 30)), UTC_ZONE
    )
    assert db_session.execute(select(func.count()).select_from(Booking)).scalar_one() == 2


@pytest.mark.parametrize("status", ["cancelled", "no_show"])
def test_a_cancelled_or_no_show_booking_frees_its_slot(db_session, cast, status):
    first = scheduling.book(
        db_session, request_for(cast["ana"], cast["okafor"], cast["suite1"], at(9)), UTC_ZONE
    )
    scheduling.change_status(
        db_session, first, first.version, status, reason="Patient unwell", **AT_NINE
    )
    again = scheduling.book(
        db_session, request_for(cast["ben"], cast["okafor"], cast["suite1"], at(9)), UTC_ZONE
    )
    assert again.status == "scheduled"


def test_visits_and_interventions_clash_with_each_other(db_session, cast):
    scheduling.book(
        db_session,
        request_for(
            cast["ana"], cast["okafor"], None, at(9), procedure_type_id=None, visit_kind="consult"
        ),
        UTC_ZONE,
    )
    with pytest.raises(scheduling.BookingClash, match="Dr. Okafor is already booked"):
        scheduling.book(
            db_session,
            request_for(cast["ben"], cast["okafor"], cast["suite1"], at(9, 10)),
            UTC_ZONE,
        )


def test_the_database_refuses_an_overlap_the_check_missed(db_session, cast, monkeypatch):
    """The constraint (PostgreSQL) or trigger (SQLite) holds even if the friendly check is skipped."""
    scheduling.book(
        db_session, request_for(cast["ana"], cast["okafor"], cast["suite1"], at(9)), UTC_ZONE
    )
    real_find = scheduling.find_clashes
    calls = []

    def miss_the_first_time(session, slot, exclude_id=None):
        calls.append(slot)
        return [] if len(calls) == 1 else real_find(session, slot, exclude_id)

    monkeypatch.setattr(scheduling, "find_clashes", miss_the_first_time)
    with pytest.raises(scheduling.BookingClash, match="Dr. Okafor is already booked"):
        scheduling.book(
            db_session,
            request_for(cast["ben"], cast["okafor"], cast["suite2"], at(9, 15)),
            UTC_ZONE,
        )
    assert db_session.execute(select(func.count()).select_from(Booking)).scalar_one() == 1


def test_the_database_catches_an_overlap_with_a_long_booking_that_began_hours_before(
    db_session, cast
):
    """The database's guard looks 12 hours back (the longest booking), not just at near starts."""
    start = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    VisitFactory(physician=cast["okafor"], starts_at=start, ends_at=start + timedelta(hours=11))
    with pytest.raises(Exception, match="overlap|exclusion|no_overlap"), db_session.begin_nested():
        VisitFactory(
            physician=cast["okafor"],
            starts_at=start + timedelta(hours=10, minutes=30),
            ends_at=start + timedelta(hours=10, minutes=45),
        )
    # Right after it ends is free.
    VisitFactory(
        physician=cast["okafor"],
        starts_at=start + timedelta(hours=11),
        ends_at=start + timedelta(hours=11, minutes=30),
    )


def test_sqlite_refuses_a_booking_longer_than_the_clash_check_looks_back(db_session, backend):
    """SQLite's trigger bounds its search by the 12-hour rule, so it enforces that rule too."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL's exclusion constraints need no bound")
    start = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    with pytest.raises(Exception, match="booking too long"), db_session.begin_nested():
        VisitFactory(starts_at=start, ends_at=start + timedelta(hours=12, minutes=1))
    VisitFactory(starts_at=start, ends_at=start + timedelta(hours=12))


def test_moving_a_booking_onto_another_is_refused_and_onto_free_time_works(db_session, cast):
    first = scheduling.book(
        db_session, request_for(cast["ana"], cast["okafor"], cast["suite1"], at(9)), UTC_ZONE
    )
    second = scheduling.book(
        db_session, request_for(cast["ben"], cast["okafor"], cast["suite2"], at(10)), UTC_ZONE
    )
    with pytest.raises(scheduling.BookingClash):
        scheduling.reschedule(
            db_session,
            second,
            second.version,
            at(9, 15),
            at(9, 45),
            cast["okafor"].id,
            cast["suite2"].id,
            UTC_ZONE,
        )
    scheduling.reschedule(
        db_session,
        second,
        second.version,
        at(11),
        at(11, 30),
        cast["okafor"].id,
        cast["suite1"].id,
        UTC_ZONE,
    )
    assert second.starts_at == at(11)
    # Moving a booking within its own slot is not a clash with itself.
    scheduling.reschedule(
        db_session,
        first,
        first.version,
        at(9, 5),
        at(9, 35),
        cast["okafor"].id,
        cast["suite1"].id,
        UTC_ZONE,
    )


def test_a_stale_form_cannot_move_or_cancel_a_booking(db_session, cast):
    booking = scheduling.book(
        db_session, request_for(cast["ana"], cast["okafor"], cast["suite1"], at(9)), UTC_ZONE
    )
    opened_version = booking.version
    scheduling.change_status(db_session, booking, opened_version, "checked_in", **AT_NINE)
    with pytest.raises(StaleRecord):
        scheduling.change_status(
            db_session, booking, opened_version, "cancelled", reason="Too late", **AT_NINE
        )
    assert booking.status == "checked_in"


def test_status_moves_follow_the_day(db_session, cast):
    booking = scheduling.book(
        db_session, request_for(cast["ana"], cast["okafor"], cast["suite1"], at(9)), UTC_ZONE
    )
    with pytest.raises(DomainError, match="Say why"):
        scheduling.change_status(
            db_session, booking, booking.version, "cancelled", reason=" ", **AT_NINE
        )
    scheduling.change_status(db_session, booking, booking.version, "checked_in", **AT_NINE)
    assert cast["ana"].last_seen_at == at(9)
    with pytest.raises(DomainError, match="physician"):
        scheduling.change_status(db_session, booking, booking.version, "completed", **AT_NINE)
    scheduling.change_status(
        db_session, booking, booking.version, "cancelled", reason="Felt faint", **AT_NINE
    )
    with pytest.raises(DomainError, match="cannot become"):
        scheduling.change_status(db_session, booking, booking.version, "checked_in", **AT_NINE)


def test_end_must_follow_start_in_whole_minutes():
    with pytest.raises(DomainError, match="at least 1 minute"):
        scheduling.local_slot_times(DAY, time(9), 0, UTC_ZONE)
    with pytest.raises(DomainError, match="whole minute"):
        scheduling.local_slot_times(DAY, time(9, 0, 30), 30, UTC_ZONE)


def test_clinic_time_is_converted_to_utc():
    starts_at, ends_at = scheduling.local_slot_times(DAY, time(9), 45, ZoneInfo("America/New_York"))
    assert starts_at.astimezone(UTC) == datetime(2030, 3, 4, 14, 0, tzinfo=UTC)
    assert ends_at - starts_at == timedelta(minutes=45)


LONDON = ZoneInfo("Europe/London")  # clocks forward 2027-03-28 01:00, back 2027-10-31 02:00


@pytest.mark.parametrize(
    ("day", "start", "minutes", "utc_start"),
    [
        # Across the clocks going back: 01:30 is the first, summer-time 01:30 (00:30 UTC).
        (date(2027, 10, 31), time(1, 30), 30, datetime(2027, 10, 31, 0, 30, tzinfo=UTC)),
        (date(2027, 10, 31), time(0, 30), 120, datetime(2027, 10, 30, 23, 30, tzinfo=UTC)),
        # Across the clocks going forward.
        (date(2027, 3, 28), time(0, 30), 90, datetime(2027, 3, 28, 0, 30, tzinfo=UTC)),
    ],
)
def test_a_booking_lasts_its_minutes_across_a_clock_change(day, start, minutes, utc_start):
    starts_at, ends_at = scheduling.local_slot_times(day, start, minutes, LONDON)
    assert starts_at.astimezone(UTC) == utc_start
    # Elapsed time (in UTC): subtracting two times of one zone would count wall-clock minutes.
    assert ends_at.astimezone(UTC) - starts_at.astimezone(UTC) == timedelta(minutes=minutes)


def test_a_start_the_clocks_skip_is_refused_saying_so():
    with pytest.raises(DomainError, match="01:30 does not exist .* the clocks go forward then"):
        scheduling.local_slot_times(date(2027, 3, 28), time(1, 30), 30, LONDON)


def post_consult(client, patient, **fields):
    """The booking form posted for a consult of ``patient``, with the other fields given."""
    data = {"csrf_token": csrf_token(client, "/schedule/new"), "what": "visit:consult"}
    return client.post("/schedule/new", data={**data, "patient_mrn": patient.mrn, **fields})


def test_the_booking_form_refuses_a_start_the_clocks_skip_with_the_form_kept(
    app, client, login, db_session, cast, monkeypatch
):
    monkeypatch.setitem(app.config, "CLINIC_TIMEZONE", "Europe/London")
    login("front_desk")
    db_session.commit()
    response = post_consult(
        client,
        cast["ana"],
        physician_id=cast["okafor"].id,
        room_id="0",
        day="2027-03-28",
        start_time="01:30",
        duration_minutes="30",
        book_anyway="y",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "2027-03-28 01:30 does not exist in the clinic&#39;s time zone (Europe/London)" in page
    assert 'value="01:30"' in page
    assert db_session.execute(select(func.count()).select_from(Booking)).scalar_one() == 0


def test_a_room_refuses_bookings_outside_its_opening_hours(db_session, cast):
    cast["suite1"].opens_at_minute, cast["suite1"].closes_at_minute = 8 * 60, 17 * 60
    with pytest.raises(DomainError, match="open 08:00–17:00"):
        scheduling.book(
            db_session,
            request_for(cast["ana"], cast["okafor"], cast["suite1"], at(16, 45)),
            UTC_ZONE,
        )


def test_booking_from_a_referral_moves_it_to_scheduled(db_session, cast):
    referral = ReferralFactory(patient=cast["ana"], status="triaged")
    db_session.flush()
    booking = scheduling.book(
        db_session,
        request_for(cast["ana"], cast["okafor"], cast["suite1"], at(9), referral_id=referral.id),
        UTC_ZONE,
    )
    assert booking.referral_id == referral.id
    assert referral.status == "scheduled"


def booking_form(client, cast, start="09:00", **overrides):
    data = {
        "csrf_token": csrf_token(client, "/schedule/new"),
        "patient_mrn": cast["ana"].mrn,
        "what": f"procedure:{procedure_type('RFA').id}",
        "physician_id": cast["okafor"].id,
        "room_id": cast["suite1"].id,
        "day": DAY.isoformat(),
        "start_time": start,
        "duration_minutes": 45,
    }
    data.update(overrides)
    return data


def test_front_desk_books_from_the_form_and_sees_it_on_the_day(client, login, db_session, cast):
    login("front_desk")
    db_session.commit()
    response = client.post("/schedule/new", data=booking_form(client, cast))
    assert response.status_code == 302
    day_page = client.get(f"/schedule?date={DAY.isoformat()}").get_data(as_text=True)
    assert "09:00–09:45" in day_page and "Smith, Ana" in day_page and "RFA" in day_page
    room_page = client.get(f"/schedule?date={DAY.isoformat()}&by=room&view=week").get_data(
        as_text=True
    )
    assert "Suite 1" in room_page and "Smith, Ana" in room_page


def test_the_desk_note_for_the_day_is_kept_apart_from_the_clinical_notes(
    client, login, db_session, cast
):
    login("front_desk")
    db_session.commit()
    response = client.post(
        "/schedule/new", data=booking_form(client, cast, desk_note="  Needs a wheelchair ")
    )
    assert response.status_code == 302
    booking = db_session.execute(select(Booking)).scalar_one()
    assert (booking.desk_note, booking.notes) == ("Needs a wheelchair", None)
    day_page = client.get(f"/schedule?date={DAY.isoformat()}").get_data(as_text=True)
    assert "Needs a wheelchair" in day_page
    booking_page = client.get(f"/schedule/bookings/{booking.id}").get_data(as_text=True)
    assert "Note for the day:</strong> Needs a wheelchair" in booking_page


def test_a_clashing_form_is_refused_with_the_clash_named_and_the_input_kept(
    client, login, db_session, cast
):
    login("front_desk")
    db_session.commit()
    assert client.post("/schedule/new", data=booking_form(client, cast)).status_code == 302
    response = client.post(
        "/schedule/new",
        data=booking_form(
            client, cast, start="09:30", patient_mrn=cast["ben"].mrn, desk_note="Bring MRI"
        ),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Dr. Okafor and Suite 1 are already booked" in page
    assert 'value="09:30"' in page and "Bring MRI" in page and cast["ben"].mrn in page
    assert db_session.execute(select(func.count()).select_from(Booking)).scalar_one() == 1


def test_an_unknown_mrn_is_named_on_the_form(client, login, db_session, cast):
    login("front_desk")
    db_session.commit()
    page = client.post(
        "/schedule/new", data=booking_form(client, cast, patient_mrn="C9999999")
    ).get_data(as_text=True)
    assert "No patient has MRN C9999999" in page


def test_the_day_view_makes_the_same_number_of_queries_however_many_bookings(
    client, login, db_session, cast, app
):
    login("physician")
    db_session.commit()
    from tests.helpers.statement_count import count_statements

    def day_page_statements(n: int) -> int:
        for i in range(n):
            InterventionFactory(starts_at=at(7) + timedelta(minutes=31 * i + 1), room=None)
        db_session.commit()
        with count_statements(app) as counter:
            assert client.get(f"/schedule?date={DAY.isoformat()}&view=week").status_code == 200
        return counter.count

    assert day_page_statements(2) == day_page_statements(20)


# --- Two clerks, one slot, the same moment -------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def committed_app(request, tmp_path_factory):
    """An app on a database of its own whose writes really commit (no test transaction)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('race') / 'clinic.db'}"
    elif not TEST_DATABASE_URL:
        skip_without_postgres()
    else:
        url = create_throwaway_database(TEST_DATABASE_URL)
    app = make_app(url, str(tmp_path_factory.mktemp("race-instance")))
    with app.app_context():
        upgrade()
        ids = {}
        for key, patient in {
            "ana": ("Ana", "Smith", "R0000001"),
            "ben": ("Ben", "Jones", "R0000002"),
        }.items():
            row = Patient(
                first_name=patient[0],
                last_name=patient[1],
                mrn=patient[2],
                date_of_birth=date(1970, 1, 1),
                sex="female",
                condition="other",
            )
            db.session.add(row)
            db.session.flush()
            ids[key] = row.id
        for key, name in {"okafor": "Dr. Okafor", "lind": "Dr. Lindqvist"}.items():
            user = StaffUser(username=key, full_name=name, role="physician")
            db.session.add(user)
            db.session.flush()
            ids[key] = user.id
        for key in ("suite1", "suite2"):
            room = Room(name=key)
            db.session.add(room)
            db.session.flush()
            ids[key] = room.id
        db.session.commit()
    yield app, ids
    with app.app_context():
        db.engine.dispose()
    if request.param == "postgresql":
        drop_database(url)


def race(app, requests: list[scheduling.NewBooking], skip_check: bool, monkeypatch) -> list[str]:
    """Book every request at once from its own thread and connection; return each outcome."""
    if skip_check:
        monkeypatch.setattr(scheduling, "find_clashes", lambda *a, **k: [])
    barrier = threading.Barrier(len(requests))
    outcomes: list[str] = [""] * len(requests)

    def clerk(index: int, booking_request: scheduling.NewBooking) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                scheduling.book(db.session, booking_request, UTC_ZONE)
                db.session.commit()
                outcomes[index] = "booked"
            except DomainError as error:
                db.session.rollback()
                outcomes[index] = type(error).__name__
            finally:
                db.session.remove()

    threads = [threading.Thread(target=clerk, args=(i, r)) for i, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.parametrize("skip_check", [False, True], ids=["with-check", "database-only"])
@pytest.mark.parametrize("resource", ["physician", "room", "patient"])
def test_two_clerks_booking_one_slot_at_once_exactly_one_wins(
    committed_app, resource, skip_check, monkeypatch, request
):
    app, ids = committed_app
    hour = 8 + 2 * ["physician", "room", "patient"].index(resource) + (1 if skip_check else 0)
    start = datetime(2031, 5, 6, hour, tzinfo=UTC)
    with app.app_context():
        esi = db.session.execute(
            select(ProcedureType.id).where(ProcedureType.code == "ESI-IL")
        ).scalar_one()
    shared = {
        "physician": [("ana", "okafor", "suite1"), ("ben", "okafor", "suite2")],
        "room": [("ana", "okafor", "suite1"), ("ben", "lind", "suite1")],
        "patient": [("ana", "okafor", "suite1"), ("ana", "lind", "suite2")],
    }[resource]
    requests = [
        scheduling.NewBooking(
            patient_id=ids[p],
            physician_id=ids[d],
            room_id=ids[r],
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            procedure_type_id=esi,
        )
        for p, d, r in shared
    ]
    outcomes = race(app, requests, skip_check, monkeypatch)
    # The loser is told the slot is taken; nothing is half-written.
    assert sorted(outcomes) == ["BookingClash", "booked"], outcomes
    with app.app_context():
        stored = db.session.execute(
            select(func.count()).select_from(Booking).where(Booking.starts_at == start)
        ).scalar_one()
    assert stored == 1


def test_admin_adds_a_room_with_opening_hours_and_bookings_respect_them(
    client, login, db_session, cast
):
    login("admin")
    token = csrf_token(client, "/admin/rooms/new")
    refused = client.post(
        "/admin/rooms/new",
        data={
            "csrf_token": token,
            "name": "Suite 3",
            "opens_at": "17:00",
            "closes_at": "08:00",
            "active": "y",
        },
    )
    assert "The room must close after it opens." in refused.get_data(as_text=True)
    saved = client.post(
        "/admin/rooms/new",
        data={
            "csrf_token": token,
            "name": "Suite 3",
            "opens_at": "08:00",
            "closes_at": "12:00",
            "active": "y",
        },
    )
    assert saved.status_code == 302
    assert "08:00–12:00" in client.get("/admin/rooms").get_data(as_text=True)
    suite3 = db_session.execute(select(Room).where(Room.name == "Suite 3")).scalar_one()
    with pytest.raises(DomainError, match="open 08:00–12:00"):
        scheduling.book(
            db_session, request_for(cast["ana"], cast["okafor"], suite3, at(11, 45)), UTC_ZONE
        )


@pytest.mark.parametrize("status", ["declined", "cancelled", "completed"])
def test_a_closed_referral_cannot_be_booked_from(db_session, cast, status):
    referral = ReferralFactory(patient=cast["ana"], status=status, status_reason="Closed")
    db_session.flush()
    with pytest.raises(DomainError, match=f"referral is {status}"):
        scheduling.book(
            db_session,
            request_for(
                cast["ana"], cast["okafor"], cast["suite1"], at(9), referral_id=referral.id
            ),
            UTC_ZONE,
        )


def test_a_referral_of_another_patient_is_refused_on_the_form_itself(
    client, login, db_session, cast
):
    login("front_desk")
    referral = ReferralFactory(patient=cast["ben"])
    db_session.commit()
    page = client.post(
        "/schedule/new", data=booking_form(client, cast, referral_id=str(referral.id))
    ).get_data(as_text=True)
    assert "The referral being booked is for another patient" in page


# --- A stale move, bookings of deactivated staff, tampered links, check-in on the day -----------


class FormReader(HTMLParser):
    """The values a browser would send back from a page's POST form (inputs and selects)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("name"):
            self.values[attrs["name"]] = attrs.get("value") or ""
        elif tag == "select":
            self._select = attrs.get("name")
        elif tag == "option" and self._select and "selected" in attrs:
            self.values[self._select] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def form_values(html: str) -> dict[str, str]:
    reader = FormReader()
    reader.feed(html)
    return reader.values


def test_a_move_refused_as_stale_shows_the_booking_as_it_is_now_and_the_next_submit_saves(
    client, login, db_session, cast
):
    login("front_desk")
    booking = scheduling.book(
        db_session, request_for(cast["ana"], cast["okafor"], cast["suite1"], at(9)), UTC_ZONE
    )
    db_session.commit()
    url = f"/schedule/bookings/{booking.id}/reschedule"
    opened = form_values(client.get(url).get_data(as_text=True))
    assert opened["version"] == str(booking.version)
    # Someone else moves it to 10:00 in the meantime.
    scheduling.reschedule(
        db_session,
        booking,
        booking.version,
        at(10),
        at(10, 30),
        cast["okafor"].id,
        cast["suite1"].id,
        UTC_ZONE,
    )
    db_session.commit()
    moved_version = booking.version

    conflict = client.post(url, data={**opened, "start_time": "11:00"})
    page = conflict.get_data(as_text=True)
    assert conflict.status_code == 200
    assert "Someone else changed this record after you opened it" in page
    assert (
        "The form now shows the booking as it is; "
        "you had asked for Mon 04 Mar 2030 11:00–11:30 with Dr. Okafor in Suite 1."
    ) in page
    shown = form_values(page)
    assert (shown["start_time"], shown["version"]) == ("10:00", str(moved_version))
    db_session.refresh(booking)
    assert booking.starts_at == at(10)

    saved = client.post(url, data={**shown, "start_time": "11:00"})
    assert saved.status_code == 302
    db_session.refresh(booking)
    assert booking.starts_at == at(11) and booking.version == moved_version + 1


def test_a_garbled_version_on_a_move_is_a_conflict_not_an_error(client, login, db_session, cast):
    login("front_desk")
    booking = scheduling.book(
        db_session, request_for(cast["ana"], cast["okafor"], cast["suite1"], at(9)), UTC_ZONE
    )
    db_session.commit()
    url = f"/schedule/bookings/{booking.id}/reschedule"
    opened = form_values(client.get(url).get_data(as_text=True))
    response = client.post(url, data={**opened, "version": "abc"})
    assert response.status_code == 200
    assert "Someone else changed this record" in response.get_data(as_text=True)


def test_moving_a_deactivated_physicians_booking_never_hands_it_to_another_silently(
    client, login, db_session, cast
):
    login("front_desk")
    booking = scheduling.book(
        db_session, request_for(cast["ana"], cast["lind"], cast["suite2"], at(9)), UTC_ZONE
    )
    cast["lind"].active = cast["suite2"].active = False
    db_session.commit()
    url = f"/schedule/bookings/{booking.id}/reschedule"
    opened = form_values(client.get(url).get_data(as_text=True))
    # The form shows the booking's own physician and room, marked, not the first ones offered.
    assert opened["physician_id"] == str(cast["lind"].id)
    assert opened["room_id"] == str(cast["suite2"].id)
    response = client.post(url, data={**opened, "start_time": "11:00"})
    assert response.status_code == 200
    assert "Choose an active physician." in response.get_data(as_text=True)
    db_session.refresh(booking)
    assert (booking.physician_id, booking.starts_at) == (cast["lind"].id, at(9))


def test_booking_with_a_physician_or_room_no_longer_offered_says_so(
    client, login, db_session, cast
):
    # A page opened before an administrator deactivated them.
    login("front_desk")
    cast["lind"].active = cast["suite2"].active = False
    db_session.commit()
    response = post_consult(
        client,
        cast["ana"],
        physician_id=cast["lind"].id,
        room_id=cast["suite2"].id,
        day=DAY.isoformat(),
        start_time="09:00",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Choose a physician from the list: that one is not offered" in page
    assert "Choose a room from the list: that one is not offered" in page
    assert db_session.execute(select(func.count()).select_from(Booking)).scalar_one() == 0


@pytest.mark.parametrize("view", ["day", "week"])
def test_a_booking_of_a_deactivated_physician_or_room_is_still_drawn(
    client, login, db_session, cast, view
):
    login("front_desk")
    scheduling.book(
        db_session, request_for(cast["ana"], cast["lind"], cast["suite2"], at(9)), UTC_ZONE
    )
    cast["lind"].active = cast["suite2"].active = False
    PhysicianFactory(full_name="Dr. Idle Retired", active=False)
    RoomFactory(name="Suite Shut", active=False)
    db_session.commit()
    by_physician = client.get(f"/schedule?date={DAY.isoformat()}&view={view}").get_data(
        as_text=True
    )
    by_room = client.get(f"/schedule?date={DAY.isoformat()}&view={view}&by=room").get_data(
        as_text=True
    )
    assert "Dr. Lindqvist (deactivated)" in by_physician and "Dr. Okafor" in by_physician
    assert "Suite 2 (deactivated)" in by_room and "Suite 1" in by_room
    for page in (by_physician, by_room):
        assert "Smith, Ana" in page
        # Deactivated and holding nothing this day or week: no column.
        assert "Dr. Idle Retired" not in page and "Suite Shut" not in page
    if view == "day":
        # The time grid: Dr. Lindqvist's is the first column, and the block is drawn in it.
        heads = re.findall(r'<th scope="col" class="grid-head">([^<]+)</th>', by_physician)
        assert heads == ["Dr. Lindqvist (deactivated)", "Dr. Okafor"]
        row = re.search(
            r'<th scope="row" class="grid-time">09:00</th>\s*<td([^>]*)>(.*?)</td>',
            by_physician,
            re.S,
        )
        assert row and "grid-block" in row.group(1) and "Smith, Ana" in row.group(2)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("referral_id", "abc", "link to its referral is not valid"),
        ("referral_id", "99999999999999999999999", "link to its referral is not valid"),
        ("referral_id", "²", "link to its referral is not valid"),
        ("referral_id", "2147483647", "The referral being booked does not exist"),
        ("follows_intervention_id", "abc", "link to the procedure it follows up is not valid"),
        ("follows_intervention_id", "-3", "link to the procedure it follows up is not valid"),
        ("follows_intervention_id", "2147483647", "visit follows up does not exist"),
    ],
)
def test_a_tampered_link_on_the_booking_form_is_a_form_error(
    client, login, db_session, cast, field, value, message
):
    login("front_desk")
    db_session.commit()
    data = booking_form(client, cast, what="visit:follow_up", **{field: value})
    response = client.post("/schedule/new", data=data)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert db_session.execute(select(func.count()).select_from(Booking)).scalar_one() == 0


def test_a_follow_up_of_another_patients_procedure_is_refused_on_the_form(
    client, login, db_session, cast
):
    login("front_desk")
    bens = InterventionFactory(patient=cast["ben"], starts_at=at(7), room=None)
    db_session.commit()
    data = booking_form(client, cast, what="visit:follow_up", follows_intervention_id=str(bens.id))
    page = client.post("/schedule/new", data=data).get_data(as_text=True)
    assert "The procedure this visit follows up is another patient" in page
    assert db_session.execute(select(func.count()).select_from(Booking)).scalar_one() == 1


def test_a_follow_up_visit_is_linked_to_the_patients_own_procedure(client, login, db_session, cast):
    login("front_desk")
    anas = InterventionFactory(patient=cast["ana"], starts_at=at(7), room=None)
    db_session.commit()
    page = client.get(f"/schedule/new?intervention_id={anas.id}").get_data(as_text=True)
    assert form_values(page)["follows_intervention_id"] == str(anas.id)
    data = booking_form(client, cast, what="visit:follow_up", follows_intervention_id=str(anas.id))
    assert client.post("/schedule/new", data=data).status_code == 302
    visit = db_session.execute(select(Visit)).scalar_one()
    assert visit.intervention_id == anas.id
    booking_page = client.get(f"/schedule/bookings/{visit.id}").get_data(as_text=True)
    assert "Follows up:" in booking_page
    assert f'href="/schedule/bookings/{anas.id}"' in booking_page


@pytest.fixture
def anas_epidural(db_session, cast, monkeypatch):
    """Ana's epidural with Dr. Okafor, performed a week before DAY; the clock is DAY at 08:00."""
    monkeypatch.setattr(clock, "utcnow", lambda: at(8))
    start = at(9) - timedelta(days=7)
    epidural = InterventionFactory(
        patient=cast["ana"],
        physician=cast["okafor"],
        starts_at=start,
        ends_at=start + timedelta(minutes=30),
        room=None,
        status="completed",
        performed_on=start.date(),
        baseline_nrs=7,
        spinal_level="L4-L5",
        laterality="left",
    )
    db_session.flush()
    return epidural


@pytest.mark.parametrize(
    ("role", "can_book"),
    [("front_desk", True), ("physician", True), ("manager", False), ("admin", False)],
)
def test_a_completed_procedure_on_the_patient_page_links_to_booking_its_follow_up_visit(
    client, login, db_session, cast, anas_epidural, role, can_book
):
    login(role)
    db_session.commit()
    page = client.get(f"/patients/{cast['ana'].id}").get_data(as_text=True)
    link = f'href="/schedule/new?intervention_id={anas_epidural.id}"'
    assert (link in page) is can_book
    assert ("Book follow-up visit" in page) is can_book


def test_the_follow_up_link_preselects_the_patient_the_check_and_the_procedure_it_follows(
    client, login, db_session, cast, anas_epidural
):
    login("front_desk")
    db_session.commit()
    page = client.get(f"/schedule/new?intervention_id={anas_epidural.id}").get_data(as_text=True)
    shown = form_values(page)
    assert shown["patient_mrn"] == cast["ana"].mrn
    assert shown["what"] == "visit:post_procedure_check"
    assert shown["follows_intervention_id"] == str(anas_epidural.id)
    assert shown["physician_id"] == str(cast["okafor"].id)
    assert (
        "<strong>Follows up:</strong> Transforaminal epidural steroid injection (ESI-TF) for "
        f"Ana Smith (MRN {cast['ana'].mrn}), performed 2030-02-25 by Dr. Okafor at L4-L5, left."
    ) in page

    chosen = {**shown, "room_id": str(cast["suite1"].id), "start_time": "09:00"}
    assert client.post("/schedule/new", data=chosen).status_code == 302
    visit = db_session.execute(select(Visit)).scalar_one()
    assert (visit.patient_id, visit.visit_kind, visit.intervention_id, visit.physician_id) == (
        cast["ana"].id,
        "post_procedure_check",
        anas_epidural.id,
        cast["okafor"].id,
    )
    # The patient's page says what the visit follows up.
    record = client.get(f"/patients/{cast['ana'].id}").get_data(as_text=True)
    assert (
        "Post-procedure check<div" in record and "Follows up ESI-TF performed 2030-02-25" in record
    )


def test_a_refused_follow_up_booking_still_says_which_procedure_it_follows(
    client, login, db_session, cast, anas_epidural
):
    login("front_desk")
    InterventionFactory(patient=cast["ana"], starts_at=at(9), room=None)  # Ana is busy at 09:00
    db_session.commit()
    shown = form_values(
        client.get(f"/schedule/new?intervention_id={anas_epidural.id}").get_data(as_text=True)
    )
    page = client.post("/schedule/new", data={**shown, "start_time": "09:00"}).get_data(
        as_text=True
    )
    assert "Follows up:</strong> Transforaminal epidural steroid injection" in page
    assert form_values(page)["follows_intervention_id"] == str(anas_epidural.id)


@pytest.mark.parametrize(
    "query",
    ["referral_id=abc", "referral_id=99999999999999999999", "patient_id=99999999999999999999"],
)
def test_a_tampered_link_to_the_booking_form_opens_an_empty_form(client, login, query):
    login("front_desk")
    response = client.get(f"/schedule/new?{query}")
    assert response.status_code == 200
    assert form_values(response.get_data(as_text=True))["referral_id"] == ""


def test_book_refuses_links_to_other_patients_or_unknown_records(db_session, cast):
    bens = InterventionFactory(patient=cast["ben"], starts_at=at(7), room=None)
    bens_referral = ReferralFactory(patient=cast["ben"])
    db_session.flush()
    visit = {"procedure_type_id": None, "visit_kind": "follow_up"}
    refusals = [
        ({"follows_intervention_id": bens.id, **visit}, "another patient's"),
        ({"follows_intervention_id": 10**6, **visit}, "does not exist"),
        ({"referral_id": bens_referral.id}, "for another patient"),
        ({"referral_id": 10**6}, "does not exist"),
        ({"referral_id": bens_referral.id, **visit}, "for another patient"),
    ]
    for links, message in refusals:
        with pytest.raises(DomainError, match=message):
            scheduling.book(
                db_session,
                request_for(cast["ana"], cast["okafor"], cast["suite1"], at(9), **links),
                UTC_ZONE,
            )
    assert db_session.execute(select(func.count()).select_from(Visit)).scalar_one() == 0


def test_a_patient_is_checked_in_from_the_bookings_day_and_a_no_show_from_its_start(
    db_session, cast
):
    booking = scheduling.book(
        db_session, request_for(cast["ana"], cast["okafor"], cast["suite1"], at(9)), UTC_ZONE
    )
    day_before = at(9) - timedelta(hours=9, seconds=1)  # 23:59:59 the evening before
    with pytest.raises(DomainError, match="checked in only on the day of the booking"):
        scheduling.change_status(
            db_session, booking, booking.version, "checked_in", zone=UTC_ZONE, now=day_before
        )
    with pytest.raises(DomainError, match="no-show only once the booking has started"):
        scheduling.change_status(
            db_session, booking, booking.version, "no_show", zone=UTC_ZONE, now=at(8, 59)
        )
    assert booking.status == "scheduled"
    assert scheduling.next_statuses(booking, UTC_ZONE, day_before) == {"cancelled"}
    assert scheduling.next_statuses(booking, UTC_ZONE, at(7)) == {"cancelled", "checked_in"}
    assert scheduling.next_statuses(booking, UTC_ZONE, at(9)) == {
        "cancelled",
        "checked_in",
        "no_show",
    }
    # Early on the day is fine: the patient may arrive before the booked time.
    scheduling.change_status(
        db_session, booking, booking.version, "checked_in", zone=UTC_ZONE, now=at(7)
    )
    assert booking.status == "checked_in"
    scheduling.change_status(
        db_session, booking, booking.version, "scheduled", zone=UTC_ZONE, now=at(7)
    )
    scheduling.change_status(
        db_session, booking, booking.version, "no_show", zone=UTC_ZONE, now=at(9)
    )
    assert booking.status == "no_show"


def test_the_day_of_check_in_is_the_clinics_day(db_session, cast):
    new_york = ZoneInfo("America/New_York")
    starts_at, ends_at = scheduling.local_slot_times(DAY, time(9), 30, new_york)
    booking = scheduling.book(
        db_session,
        scheduling.NewBooking(
            patient_id=cast["ana"].id,
            physician_id=cast["okafor"].id,
            room_id=None,
            starts_at=starts_at,
            ends_at=ends_at,
            procedure_type_id=procedure_type("ESI-TF").id,
        ),
        new_york,
    )
    # 03:00 UTC on the booking's date is still the evening before in New York.
    evening_before = datetime.combine(DAY, time(3), tzinfo=UTC)
    with pytest.raises(DomainError, match="only on the day"):
        scheduling.change_status(
            db_session, booking, booking.version, "checked_in", zone=new_york, now=evening_before
        )


def test_the_booking_page_offers_check_in_and_no_show_only_when_they_apply(
    client, login, db_session, cast, monkeypatch
):
    now = [datetime.combine(DAY, time(23, 55), tzinfo=UTC) - timedelta(days=1)]
    monkeypatch.setattr(clock, "utcnow", lambda: now[0])
    login("front_desk")
    booking = scheduling.book(
        db_session,
        request_for(
            cast["ana"],
            cast["okafor"],
            None,
            at(0, 10),
            procedure_type_id=None,
            visit_kind="consult",
        ),
        UTC_ZONE,
    )
    db_session.commit()
    url = f"/schedule/bookings/{booking.id}"

    def buttons() -> set[str]:
        page = client.get(url).get_data(as_text=True)
        return {
            label
            for label in ("Check in", "Mark no-show", "Cancel booking", "Move")
            if f">{label}</" in page
        }

    page = client.get(url).get_data(as_text=True)
    assert buttons() == {"Cancel booking", "Move"}
    assert "Check-in opens on the day, Mon 04 Mar 2030; a no-show can be marked from 00:10" in page
    refused = client.post(
        f"{url}/status",
        data={
            "csrf_token": csrf_token(client, url),
            "status": "checked_in",
            "version": booking.version,
        },
        follow_redirects=True,
    )
    assert "checked in only on the day of the booking" in refused.get_data(as_text=True)
    db_session.refresh(booking)
    assert booking.status == "scheduled"

    now[0] += timedelta(minutes=10)  # 00:05 on the day
    assert buttons() == {"Check in", "Cancel booking", "Move"}
    assert "A no-show can be marked from 00:10." in client.get(url).get_data(as_text=True)
    now[0] += timedelta(minutes=5)  # 00:10, the booking's start
    assert buttons() == {"Check in", "Mark no-show", "Cancel booking", "Move"}
    checked_in = client.post(
        f"{url}/status",
        data={
            "csrf_token": csrf_token(client, url),
            "status": "checked_in",
            "version": booking.version,
        },
    )
    assert checked_in.status_code == 302
    db_session.refresh(booking)
    assert booking.status == "checked_in"
