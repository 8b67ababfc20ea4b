"""Physicians' sessions (/admin/sessions), default lengths, "book anyway", and the slot finder's
page with the booking form it fills."""

import html
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from clinic.models import AuditEvent, Booking, PhysicianSession, ProcedureType, SessionException
from clinic.services import DomainError
from clinic.services.scheduling import bookings as scheduling
from clinic.services.scheduling import sessions as session_rules
from tests.factories import PatientFactory, PhysicianFactory, RoomFactory, procedure_type
from tests.helpers.app import csrf_token

MONDAY = date(2030, 3, 4)
UTC_ZONE = ZoneInfo("UTC")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


@pytest.fixture
def clinic(db_session):
    """Dr. Okafor does procedures on Monday mornings in Suite 1 and sees patients Monday afternoons."""
    people = {
        "okafor": PhysicianFactory(username="okafor", full_name="Dr. Okafor"),
        "suite1": RoomFactory(name="Suite 1"),
        "consult1": RoomFactory(name="Consult 1"),
        "ana": PatientFactory(first_name="Ana", last_name="Smith", mrn="C0000001"),
    }
    db_session.flush()
    for start, end, kind, room in ((8, 12, "procedures", "suite1"), (13, 17, "clinic", "consult1")):
        session_rules.add_template(
            db_session,
            session_rules.SessionRequest(
                physician_id=people["okafor"].id,
                start_minute=start * 60,
                end_minute=end * 60,
                kind=kind,
                room_id=people[room].id,
                weekday=0,
                change="weekly",
            ),
        )
    db_session.flush()
    return people


# ----- sessions ------------------------------------------------------------------------------


def test_sessions_between_applies_time_off_and_extra_sessions(db_session, clinic):
    okafor = clinic["okafor"]
    for change, start, end in (("off", 9 * 60, 10 * 60), ("extra", 18 * 60, 19 * 60)):
        session_rules.add_exception(
            db_session,
            session_rules.SessionRequest(
                physician_id=okafor.id,
                start_minute=start,
                end_minute=end,
                kind="clinic",
                day=MONDAY,
                change=change,
            ),
            UTC_ZONE,
        )
    spans = session_rules.sessions_between(
        db_session, MONDAY, MONDAY + timedelta(days=7), ZoneInfo("America/New_York")
    )
    monday = [(s.starts_at, s.ends_at, s.kind) for s in spans if s.day == MONDAY]
    # New York is UTC-5 on 4 March 2030.
    assert monday == [
        (at(MONDAY, 13), at(MONDAY, 14), "procedures"),
        (at(MONDAY, 15), at(MONDAY, 17), "procedures"),
        (at(MONDAY, 18), at(MONDAY, 22), "clinic"),
        (at(MONDAY, 23), at(MONDAY + timedelta(days=1), 0), "clinic"),
    ]
    next_monday = [s for s in spans if s.day == MONDAY + timedelta(days=7)]
    assert len(next_monday) == 2 and all(s.starts_at.tzinfo is not None for s in next_monday)


def test_a_session_overlapping_another_of_the_same_physician_is_refused_naming_it(
    db_session, clinic
):
    overlapping = session_rules.SessionRequest(
        physician_id=clinic["okafor"].id,
        start_minute=11 * 60,
        end_minute=14 * 60,
        kind="procedures",
        weekday=0,
        change="weekly",
    )
    with pytest.raises(DomainError, match="Monday 08:00–12:00 procedures in Suite 1"):
        session_rules.add_template(db_session, overlapping)
    extra = session_rules.SessionRequest(
        physician_id=clinic["okafor"].id,
        start_minute=16 * 60,
        end_minute=18 * 60,
        kind="clinic",
        day=MONDAY,
        change="extra",
    )
    with pytest.raises(DomainError, match="Mon 04 Mar 2030 13:00–17:00 clinic"):
        session_rules.add_exception(db_session, extra, UTC_ZONE)
    # Another physician may hold the same hours.
    other = PhysicianFactory()
    db_session.flush()
    session_rules.add_template(
        db_session,
        session_rules.SessionRequest(**{**overlapping.__dict__, "physician_id": other.id}),
    )


@pytest.mark.parametrize(("start", "end", "field"), [(75, 105, "start_time"), (30, 90, "end_time")])
def test_an_extra_session_at_a_time_the_clocks_skip_is_refused_naming_it(
    db_session, clinic, start, end, field
):
    london = ZoneInfo("Europe/London")  # 01:00 is 02:00 on 2027-03-28
    extra = session_rules.SessionRequest(
        physician_id=clinic["okafor"].id,
        start_minute=start,
        end_minute=end,
        kind="clinic",
        day=date(2027, 3, 28),
        change="extra",
    )
    with pytest.raises(
        DomainError, match=r"2027-03-28 01:[0-9]{2} does not exist in the clinic.s"
    ) as refused:
        session_rules.add_exception(db_session, extra, london)
    assert refused.value.field == field
    # Around the change, and on the night the clocks go back, the times are there.
    for day, start_minute, end_minute in (
        (date(2027, 3, 28), 0, 60),
        (date(2027, 10, 31), 60, 120),
    ):
        session_rules.add_exception(
            db_session,
            session_rules.SessionRequest(
                **{
                    **extra.__dict__,
                    "day": day,
                    "start_minute": start_minute,
                    "end_minute": end_minute,
                }
            ),
            london,
        )


def test_a_weekly_session_wholly_in_the_skipped_hour_is_not_held_that_day():
    london = ZoneInfo("Europe/London")
    sunday = PhysicianSession(
        physician_id=1, weekday=6, start_minute=90, end_minute=120, kind="clinic", room_id=None
    )
    spans = session_rules.spans_of([sunday], [], date(2027, 3, 21), date(2027, 4, 4), london)
    # Held the Sundays before and after; not on the night the clocks go forward.
    assert [span.day for span in spans] == [date(2027, 3, 21), date(2027, 4, 4)]
    assert all(span.ends_at - span.starts_at == timedelta(minutes=30) for span in spans)


def test_the_front_desk_keeps_sessions_at_admin_sessions(client, login, db_session, clinic):
    login("front_desk")
    db_session.commit()
    page = "/admin/sessions"
    form = {
        "csrf_token": csrf_token(client, page),
        "change": "weekly",
        "physician_id": clinic["okafor"].id,
        "weekday": 2,
        "start_time": "08:00",
        "end_time": "12:30",
        "kind": "procedures",
        "room_id": clinic["suite1"].id,
    }
    assert client.post(page, data=form).status_code == 302
    added = db_session.execute(
        select(PhysicianSession).where(PhysicianSession.weekday == 2)
    ).scalar_one()
    assert (added.start_minute, added.end_minute, added.kind) == (480, 750, "procedures")
    refused = client.post(page, data={**form, "start_time": "12:00", "end_time": "13:00"})
    text = html.unescape(refused.get_data(as_text=True))
    assert refused.status_code == 200
    assert (
        "Dr. Okafor already has a session then: Wednesday 08:00–12:30 procedures in Suite 1" in text
    )
    # A whole day off: no times.
    day_off = {**form, "change": "off", "day": "2030-03-11", "start_time": "", "end_time": ""}
    assert client.post(page, data=day_off).status_code == 302
    off = db_session.execute(select(SessionException)).scalar_one()
    assert (off.day, off.start_minute, off.end_minute) == (date(2030, 3, 11), 0, 1440)
    listing = client.get(page + "?physician=okafor").get_data(as_text=True)
    assert "Mon 11 Mar 2030" in listing and "All day" in listing
    remove = {"csrf_token": csrf_token(client, page), "row": f"exception:{off.id}"}
    assert client.post("/admin/sessions/remove", data=remove).status_code == 302
    assert db_session.execute(select(SessionException)).first() is None
    assert client.get(page + "?physician=nobody").status_code == 400


def test_a_large_practices_weeks_are_listed_in_part_with_the_count(
    client, login, db_session, clinic, monkeypatch
):
    # Everyone's weekly sessions at once would be hundreds of rows at a large practice: the
    # first ones are listed, with how many there are; one physician's are all shown.
    from clinic.views import admin

    monkeypatch.setattr(admin, "WEEKLY_SHOWN", 1)
    login("admin")
    db_session.commit()
    everyone = html.unescape(client.get("/admin/sessions").get_data(as_text=True))
    assert "The first 1 of 2; choose a physician to see theirs." in everyone
    assert everyone.count("Dr. Okafor</td>") == 1
    okafor = html.unescape(client.get("/admin/sessions?physician=okafor").get_data(as_text=True))
    assert (
        "choose a physician to see theirs" not in okafor.split("Every week")[1].split("Time off")[0]
    )


# ----- default lengths ----------------------------------------------------------------------


def test_the_catalogue_is_seeded_with_default_lengths(db_session):
    lengths = dict(
        db_session.execute(select(ProcedureType.code, ProcedureType.default_minutes)).all()
    )
    assert {
        code: lengths[code] for code in ("ESI-TF", "MBB", "RFA", "SCS-TRIAL", "SCS-IMPLANT")
    } == {
        "ESI-TF": 30,
        "MBB": 30,
        "RFA": 60,
        "SCS-TRIAL": 60,
        "SCS-IMPLANT": 120,
    }


def test_admins_edit_the_visit_lengths(client, login, db_session):
    login("admin")
    db_session.commit()
    page = "/admin/visit-lengths"
    assert 'value="20"' in client.get(page).get_data(as_text=True)  # follow-up, seeded
    form = {
        "csrf_token": csrf_token(client, page),
        "consult": 45,
        "follow_up": 20,
        "post_procedure_check": 15,
        "stimulator_adjustment": 3,
    }
    refused = client.post(page, data=form)
    assert "Between 5 and 720 minutes." in refused.get_data(as_text=True)
    assert client.post(page, data={**form, "stimulator_adjustment": 40}).status_code == 302
    assert 'value="45"' in client.get(page).get_data(as_text=True)


def booking_form(client, clinic, **overrides):
    data = {
        "csrf_token": csrf_token(client, "/schedule/new"),
        "patient_mrn": clinic["ana"].mrn,
        "what": f"procedure:{procedure_type('RFA').id}",
        "physician_id": clinic["okafor"].id,
        "room_id": clinic["suite1"].id,
        "day": MONDAY.isoformat(),
        "start_time": "09:00",
        "duration_minutes": "",
    }
    data.update(overrides)
    return data


def test_an_empty_length_is_the_procedures_default(client, login, db_session, clinic):
    login("front_desk")
    db_session.commit()
    assert client.post("/schedule/new", data=booking_form(client, clinic)).status_code == 302
    booking = db_session.execute(select(Booking)).scalar_one()
    assert booking.ends_at - booking.starts_at == timedelta(minutes=60)


# ----- book anyway ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"start_time": "12:30"}, "Dr. Okafor has no procedure session at that time"),
        ({"start_time": "13:00", "room_id": None}, "no procedure session at that time"),
        (
            {"what": "visit:consult", "start_time": "09:00", "room_id": None},
            "Dr. Okafor has no clinic session at that time (that day: 08:00–12:00 procedures",
        ),
        ({"start_time": "06:00"}, "Suite 1 is open 07:00–19:00."),
    ],
)
def test_a_booking_outside_sessions_or_hours_asks_for_book_anyway_and_is_audited(
    client, login, db_session, clinic, overrides, reason
):
    login("front_desk")
    db_session.commit()
    overrides = {**overrides}
    if overrides.get("room_id", 0) is None:
        overrides["room_id"] = clinic["consult1"].id
    asked = client.post("/schedule/new", data=booking_form(client, clinic, **overrides))
    text = html.unescape(asked.get_data(as_text=True))
    assert asked.status_code == 200
    assert reason in text
    assert "Book anyway, outside the usual sessions or hours" in text
    assert "Find a free slot instead" in text
    assert db_session.execute(select(Booking)).first() is None
    booked = client.post(
        "/schedule/new", data=booking_form(client, clinic, book_anyway="y", **overrides)
    )
    assert booked.status_code == 302
    booking = db_session.execute(select(Booking)).scalar_one()
    audit = db_session.execute(
        select(AuditEvent).where(
            AuditEvent.record_type == "booking",
            AuditEvent.record_id == str(booking.id),
            AuditEvent.details.isnot(None),
        )
    ).scalar_one()
    assert audit.details["booked_anyway"] == "outside sessions or opening hours"
    assert any(reason in line for line in audit.details["reasons"])


def test_a_booking_inside_sessions_is_not_asked_about(db_session, clinic):
    booking = scheduling.book(
        db_session,
        scheduling.NewBooking(
            patient_id=clinic["ana"].id,
            physician_id=clinic["okafor"].id,
            room_id=clinic["consult1"].id,
            starts_at=at(MONDAY, 16, 30),
            ends_at=at(MONDAY, 17),
            visit_kind="follow_up",
        ),
        UTC_ZONE,
    )
    assert booking.id is not None


def test_moving_a_booking_out_of_sessions_asks_too(db_session, clinic):
    booking = scheduling.book(
        db_session,
        scheduling.NewBooking(
            patient_id=clinic["ana"].id,
            physician_id=clinic["okafor"].id,
            room_id=clinic["suite1"].id,
            starts_at=at(MONDAY, 9),
            ends_at=at(MONDAY, 10),
            procedure_type_id=procedure_type("RFA").id,
        ),
        UTC_ZONE,
    )
    move = dict(
        starts_at=at(MONDAY, 11, 30),
        ends_at=at(MONDAY, 12, 30),
        physician_id=clinic["okafor"].id,
        room_id=clinic["suite1"].id,
        zone=UTC_ZONE,
    )
    with pytest.raises(scheduling.OutsideSessions, match="no procedure session at that time"):
        scheduling.reschedule(db_session, booking, booking.version, **move)
    scheduling.reschedule(db_session, booking, booking.version, book_anyway=True, **move)
    assert booking.starts_at == at(MONDAY, 11, 30)


# ----- the finder's page and the form it fills -----------------------------------------------


def test_the_finder_lists_slots_that_open_the_filled_in_form(client, login, db_session, clinic):
    login("front_desk")
    db_session.commit()
    page = client.get("/schedule/find?what=rfa&physician=any&patient=c0000001&from=2030-03-04")
    text = html.unescape(page.get_data(as_text=True))
    assert page.status_code == 200
    assert "Radiofrequency" in text and "60 minutes" in text
    link = (
        "/schedule/new?what=RFA&amp;physician=okafor&amp;room=Suite+1&amp;patient=C0000001"
        "&amp;start=2030-03-04T08:00"
    )
    assert link in page.get_data(as_text=True)
    assert "Mon 04 Mar 2030 08:00–09:00" in text
    form = client.get(html.unescape(link)).get_data(as_text=True)
    rfa = procedure_type("RFA").id
    assert f'<option selected value="procedure:{rfa}">' in form
    assert 'value="2030-03-04"' in form and 'value="08:00"' in form and 'value="60"' in form
    assert 'value="C0000001"' in form
    assert f'<option selected value="{clinic["suite1"].id}">Suite 1</option>' in form


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("what=XYZ", "No procedure or kind of visit is called “XYZ”"),
        ("what=RFA&physician=nobody", "No active physician has the username “nobody”"),
        ("what=RFA&room=Attic", "No room in use is called “Attic”"),
        ("what=RFA&patient=Z999", "No patient has the MRN “Z999”"),
        ("what=RFA&from=tomorrow", "The from must be written YYYY-MM-DD"),
    ],
)
def test_the_finder_names_what_it_does_not_know(client, login, db_session, query, message):
    login("physician")
    db_session.commit()
    response = client.get(f"/schedule/find?{query}")
    assert response.status_code == 400
    assert message in html.unescape(response.get_data(as_text=True))


def test_a_slot_taken_meanwhile_is_refused_naming_the_clash_with_the_finder_offered(
    client, login, db_session, clinic
):
    login("front_desk")
    db_session.commit()
    assert client.post("/schedule/new", data=booking_form(client, clinic)).status_code == 302
    ben = PatientFactory(first_name="Ben", last_name="Jones", mrn="C0000002")
    db_session.commit()
    taken = client.post("/schedule/new", data=booking_form(client, clinic, patient_mrn=ben.mrn))
    text = html.unescape(taken.get_data(as_text=True))
    assert "Dr. Okafor and Suite 1 are already booked" in text
    assert "Find a free slot instead" in text
    assert "/schedule/find?what=RFA&amp;physician=okafor&amp;patient=C0000002" in taken.get_data(
        as_text=True
    )


# ----- the demo keeps its bookings inside its sessions ----------------------------------------


def test_the_demo_books_procedures_in_procedure_sessions_and_visits_in_clinic_sessions(db_session):
    from clinic import demo
    from clinic.models import Intervention, Visit

    demo.seed_demo(db_session, patients=60, seed=11)
    bookings = list(db_session.execute(select(Booking)).scalars())
    first = min(b.starts_at for b in bookings).date()
    last = max(b.ends_at for b in bookings).date()
    spans = session_rules.sessions_between(db_session, first, last, UTC_ZONE)
    outside = [
        b
        for b in bookings
        if not session_rules.within_sessions(
            spans,
            b.physician_id,
            "procedures" if isinstance(b, Intervention) else "clinic",
            b.starts_at,
            b.ends_at,
        )
    ]
    assert len(bookings) > 100 and outside == []
    kinds = {s.kind for s in spans}
    assert kinds == {"procedures", "clinic"}
    assert db_session.execute(select(SessionException)).first() is not None
    assert any(isinstance(b, Visit) for b in bookings)
