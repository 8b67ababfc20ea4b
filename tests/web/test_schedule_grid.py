"""The schedule's time grid and the printable day sheet: blocks, sessions, paging, constant SQL."""

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from clinic.models import AuditEvent, PhysicianSession, SessionException
from tests.factories import (
    InterventionFactory,
    PatientFactory,
    PhysicianFactory,
    RoomFactory,
    VisitFactory,
)
from tests.helpers.statement_count import count_statements

DAY = date(2030, 3, 4)  # a Monday; the tests' clinic time zone is UTC


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


@pytest.fixture
def cast(db_session):
    people = {
        "ana": PatientFactory(first_name="Ana", last_name="Smith", mrn="G0000001"),
        "ben": PatientFactory(first_name="Ben", last_name="Jones", mrn="G0000002"),
        "okafor": PhysicianFactory(full_name="Dr. Okafor", username="okafor"),
        "lind": PhysicianFactory(full_name="Dr. Lindqvist", username="lind"),
        "suite1": RoomFactory(name="Suite 1"),
        "suite2": RoomFactory(name="Suite 2"),
    }
    db_session.flush()
    return people


def page(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def blocks(html: str) -> list[str]:
    """The day grid's booking blocks: each ``<td rowspan=…>`` cell's markup."""
    return re.findall(r'<td rowspan="(\d+)" class="grid-block span-\d+">(.*?)</td>', html, re.S)


def test_the_day_grid_draws_a_block_per_booking_sized_by_its_length(
    client, login, db_session, cast
):
    login("front_desk")
    InterventionFactory(
        patient=cast["ana"],
        physician=cast["okafor"],
        room=cast["suite1"],
        starts_at=at(9),
        ends_at=at(10),
        desk_note="Needs a wheelchair",
    )
    VisitFactory(
        patient=cast["ben"], physician=cast["lind"], room=cast["suite2"], starts_at=at(9, 15)
    )
    db_session.commit()
    html = page(client, f"/schedule?date={DAY.isoformat()}")
    drawn = blocks(html)
    assert len(drawn) == 2
    sizes = {("Smith, Ana" in cell, "Jones, Ben" in cell): int(rows) for rows, cell in drawn}
    # An hour is four 15-minute rows; a 20-minute visit covers two.
    assert sizes == {(True, False): 4, (False, True): 2}
    smith = next(cell for _, cell in drawn if "Smith, Ana" in cell)
    assert "09:00–10:00" in smith and "ESI-TF" in smith and "Suite 1" in smith
    assert "Needs a wheelchair" in smith
    assert 'href="/schedule/bookings/' in smith
    # A column per physician, in name order.
    heads = re.findall(r'<th scope="col" class="grid-head">([^<]+)</th>', html)
    assert heads == ["Dr. Lindqvist", "Dr. Okafor"]


def test_a_cancelled_booking_leaves_its_slot_free_and_is_listed_under_the_grid(
    client, login, db_session, cast
):
    login("front_desk")
    InterventionFactory(
        patient=cast["ana"], physician=cast["okafor"], starts_at=at(9), status="cancelled"
    )
    InterventionFactory(patient=cast["ben"], physician=cast["okafor"], starts_at=at(9))
    db_session.commit()
    html = page(client, f"/schedule?date={DAY.isoformat()}")
    drawn = blocks(html)
    assert len(drawn) == 1 and "Jones, Ben" in drawn[0][1]
    dropped = html.split('id="dropped-heading"')[1]
    assert "Smith, Ana" in dropped and "Cancelled" in dropped


def test_sessions_are_shaded_and_a_free_cell_in_one_links_to_the_filled_booking_form(
    client, login, db_session, cast
):
    login("front_desk")
    db_session.add(
        PhysicianSession(
            physician_id=cast["okafor"].id,
            weekday=DAY.weekday(),
            start_minute=8 * 60,
            end_minute=10 * 60,
            kind="procedures",
            room_id=cast["suite1"].id,
        )
    )
    InterventionFactory(
        patient=cast["ana"], physician=cast["okafor"], room=cast["suite1"], starts_at=at(9)
    )
    db_session.commit()
    html = page(client, f"/schedule?date={DAY.isoformat()}")
    slots = re.findall(r'<a class="grid-slot" href="([^"]+)"', html)
    starts = [re.search(r"start=([^&]+)", link).group(1) for link in slots]
    # 08:00–10:00 in quarters, less the booking's 09:00–09:30.
    assert starts == [
        f"{DAY.isoformat()}T{hh}" for hh in ("08:00", "08:15", "08:30", "08:45", "09:30", "09:45")
    ]
    assert all("physician=okafor" in link and "room=Suite+1" in link for link in slots)
    assert html.count("grid-session session-procedures") == 6
    # Dr. Lindqvist has no session: nothing to book by a click, nothing shaded.
    assert "with Dr. Lindqvist" not in html


def test_a_booking_begun_the_evening_before_is_drawn_from_the_top_of_the_next_day(
    client, login, db_session, cast
):
    login("front_desk")
    night = DAY - timedelta(days=1)
    InterventionFactory(
        patient=cast["ana"],
        physician=cast["okafor"],
        room=cast["suite1"],
        starts_at=at(23, day=night),
        ends_at=at(1),
    )
    db_session.commit()
    # On the next day it holds 00:00–01:00: four rows from the top, no free time offered there.
    drawn = blocks(page(client, f"/schedule?date={DAY.isoformat()}&physician=okafor"))
    assert [(rows, "Smith, Ana" in cell) for rows, cell in drawn] == [("4", True)]
    # And on its own day, from 23:00.
    assert len(blocks(page(client, f"/schedule?date={night.isoformat()}&physician=okafor"))) == 1


def test_no_time_is_offered_in_the_hour_the_clocks_skip(
    app, client, login, db_session, cast, monkeypatch
):
    monkeypatch.setitem(app.config, "CLINIC_TIMEZONE", "Europe/London")
    login("front_desk")
    spring = date(2027, 3, 28)  # 01:00 GMT is 02:00 BST
    db_session.add(
        SessionException(
            physician_id=cast["okafor"].id,
            day=spring,
            change="extra",
            start_minute=0,
            end_minute=3 * 60,
            kind="clinic",
            room_id=cast["suite1"].id,
        )
    )
    db_session.commit()
    html = page(client, f"/schedule?date={spring.isoformat()}&physician=okafor")
    starts = [
        re.search(r"start=([^&]+)", link).group(1)
        for link in re.findall(r'<a class="grid-slot" href="([^"]+)"', html)
    ]
    times = [start.split("T")[1] for start in starts]
    assert times == ["00:00", "00:15", "00:30", "00:45", "02:00", "02:15", "02:30", "02:45"]


def test_by_room_the_columns_are_rooms_and_a_session_cell_names_its_physician(
    client, login, db_session, cast
):
    login("front_desk")
    db_session.add(
        PhysicianSession(
            physician_id=cast["lind"].id,
            weekday=DAY.weekday(),
            start_minute=13 * 60,
            end_minute=14 * 60,
            kind="clinic",
            room_id=cast["suite2"].id,
        )
    )
    VisitFactory(patient=cast["ben"], physician=cast["okafor"], room=None, starts_at=at(11))
    db_session.commit()
    html = page(client, f"/schedule?date={DAY.isoformat()}&by=room")
    heads = re.findall(r'<th scope="col" class="grid-head">([^<]+)</th>', html)
    assert heads == ["Suite 1", "Suite 2", "No room"]
    slots = re.findall(r'<a class="grid-slot" href="([^"]+)"', html)
    assert len(slots) == 4
    assert all("physician=lind" in link and "room=Suite+2" in link for link in slots)
    assert "Jones, Ben" in html


def test_by_room_the_sessions_held_there_show_with_time_off_cut_and_extra_sessions_added(
    client, login, db_session, cast
):
    """The room grid reads only the sessions of its rooms; time off still cuts them."""
    login("front_desk")

    def weekly(physician, start, end, room):
        return PhysicianSession(
            physician_id=physician.id,
            weekday=DAY.weekday(),
            start_minute=start * 60,
            end_minute=end * 60,
            kind="clinic",
            room_id=room.id if room else None,
        )

    db_session.add_all(
        [
            weekly(cast["lind"], 13, 15, cast["suite2"]),
            weekly(cast["okafor"], 8, 9, None),  # no room named: on no room's column
            SessionException(
                physician_id=cast["lind"].id,
                day=DAY,
                change="off",
                start_minute=13 * 60,
                end_minute=14 * 60,
            ),
            SessionException(
                physician_id=cast["okafor"].id,
                day=DAY,
                change="extra",
                start_minute=10 * 60,
                end_minute=11 * 60,
                kind="procedures",
                room_id=cast["suite1"].id,
            ),
        ]
    )
    db_session.commit()

    def slots(url: str) -> list[str]:
        return re.findall(
            r'<a class="grid-slot" href="[^"]*start=([^&"]+)[^"]*physician=(\w+)', page(client, url)
        )

    both = slots(f"/schedule?date={DAY.isoformat()}&by=room")
    assert both == sorted(
        [(f"{DAY.isoformat()}T10:{m:02d}", "okafor") for m in (0, 15, 30, 45)]
        + [(f"{DAY.isoformat()}T14:{m:02d}", "lind") for m in (0, 15, 30, 45)]
    )
    assert slots(f"/schedule?date={DAY.isoformat()}&by=room&room=Suite+2") == [
        (f"{DAY.isoformat()}T14:{m:02d}", "lind") for m in (0, 15, 30, 45)
    ]


def test_the_week_grid_has_a_row_per_physician_and_a_compact_block_per_booking(
    client, login, db_session, cast
):
    login("manager")
    for offset in range(3):
        InterventionFactory(
            patient=cast["ana"],
            physician=cast["okafor"],
            starts_at=at(9, day=DAY + timedelta(offset)),
        )
    VisitFactory(
        patient=cast["ben"], physician=cast["lind"], starts_at=at(15, day=DAY + timedelta(4))
    )
    db_session.commit()
    html = page(client, f"/schedule?date={(DAY + timedelta(days=2)).isoformat()}&view=week")
    assert html.count('class="booking booking-compact') == 4
    rows = re.findall(r'<th scope="row" class="grid-head">([^<]+)</th>(.*?)</tr>', html, re.S)
    assert [name for name, _ in rows] == ["Dr. Lindqvist", "Dr. Okafor"]
    okafor_cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[1][1], re.S)
    assert len(okafor_cells) == 7
    assert ["Smith, Ana" in cell for cell in okafor_cells] == [True] * 3 + [False] * 4
    # A manager reads the schedule but books nothing: no booking links or buttons.
    assert "/schedule/new" not in html and "Check in" not in html


def test_at_most_eight_physicians_a_screen_with_paging_and_a_filter(client, login, db_session):
    login("front_desk")
    for n in range(11):
        PhysicianFactory(full_name=f"Dr. Grid {n:02d}", username=f"grid{n:02d}")
    db_session.commit()
    for view in ("day", "week"):
        first = page(client, f"/schedule?date={DAY.isoformat()}&view={view}")
        second = page(client, f"/schedule?date={DAY.isoformat()}&view={view}&page=2")
        named = r"Dr\. Grid \d\d(?=</th>)"
        assert re.findall(named, first) == [f"Dr. Grid {n:02d}" for n in range(8)]
        assert re.findall(named, second) == [f"Dr. Grid {n:02d}" for n in range(8, 11)]
        assert "Physicians 9–11" in first
        alone = page(client, f"/schedule?date={DAY.isoformat()}&view={view}&physician=grid05")
        assert re.findall(named, alone) == ["Dr. Grid 05"]
    page(client, f"/schedule?date={DAY.isoformat()}&page=3", 404)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("view=month", "The view must be day or week"),
        ("by=nurse", "The by must be physician or room"),
        ("physician=nobody", "No physician is called “nobody”"),
        ("by=room&room=Attic", "No room is called “Attic”"),
        ("page=0", "The page must be a whole number"),
        ("date=9999-12-31", "The date must be between"),
    ],
)
def test_a_grid_query_that_cannot_be_read_is_a_400_saying_what_to_fix(
    client, login, db_session, query, message
):
    login("front_desk")
    assert message in page(client, f"/schedule?{query}", 400)


@pytest.mark.parametrize("view", ["day", "week"])
@pytest.mark.parametrize("by", ["physician", "room"])
def test_the_grid_sends_the_same_number_of_statements_however_many_bookings_or_physicians(
    client, login, db_session, app, view, by
):
    login("front_desk")
    db_session.commit()

    def statements(physicians: int, bookings: int) -> int:
        doctors = [PhysicianFactory() for _ in range(physicians)]
        rooms = [RoomFactory() for _ in range(physicians)]
        for i in range(bookings):
            doctor = doctors[i % len(doctors)]
            db_session.add(
                PhysicianSession(
                    physician_id=doctor.id,
                    weekday=(DAY + timedelta(i % 5)).weekday(),
                    start_minute=7 * 60,
                    end_minute=8 * 60,
                    kind="procedures",
                )
            )
            InterventionFactory(
                physician=doctor,
                room=rooms[i % len(rooms)] if i % 3 else None,
                starts_at=at(8, day=DAY + timedelta(i % 5)) + timedelta(minutes=31 * (i // 5)),
                status="cancelled" if i % 4 == 0 else "scheduled",
            )
        db_session.commit()
        with count_statements(app) as counter:
            page(client, f"/schedule?date={DAY.isoformat()}&view={view}&by={by}")
        return counter.count

    assert statements(2, 2) == statements(12, 40)


# The day sheet ------------------------------------------------------------------------------


def test_the_day_sheet_gives_each_booked_physician_a_page_in_time_order(
    client, login, db_session, cast
):
    user = login("front_desk")
    late = InterventionFactory(
        patient=cast["ana"],
        physician=cast["okafor"],
        room=cast["suite1"],
        starts_at=at(14),
        spinal_level="L4-L5",
        desk_note="Bring MRI",
    )
    InterventionFactory(patient=cast["ben"], physician=cast["okafor"], starts_at=at(8))
    InterventionFactory(
        patient=cast["ben"], physician=cast["okafor"], starts_at=at(10), status="cancelled"
    )
    VisitFactory(patient=cast["ana"], physician=cast["lind"], starts_at=at(9))
    PhysicianFactory(full_name="Dr. Unbooked")
    InterventionFactory(
        patient=cast["ana"], physician=cast["lind"], starts_at=at(9, day=DAY + timedelta(1))
    )
    db_session.commit()
    html = page(client, f"/schedule/sheet?date={DAY.isoformat()}")
    sections = re.findall(r'<section class="day-sheet".*?</section>', html, re.S)
    assert len(sections) == 2
    assert "Dr. Lindqvist" in sections[0] and "Dr. Okafor" in sections[1]
    assert "Dr. Unbooked" not in html
    okafor_rows = re.findall(r"<tr>\s*<td class=\"text-nowrap\">(.*?)</tr>", sections[1], re.S)
    assert [row[:11] for row in okafor_rows] == ["08:00–08:30", "14:00–14:30"]
    assert all(
        text in okafor_rows[1]
        for text in ("Smith, Ana", "G0000001", "ESI-TF", "L4-L5", "Suite 1", "Bring MRI")
    )
    assert "Jones, Ben" in okafor_rows[0] and html.count("Jones, Ben") == 1  # not the cancelled
    assert sections[0].count("<tr>") == 2  # the header and one visit: not the next day's
    audit = db_session.execute(
        select(AuditEvent).where(AuditEvent.record_type == "day_sheet")
    ).scalar_one()
    assert (audit.action, audit.actor_id) == ("view", user.id)
    assert late.id in audit.details["bookings"]


def test_the_day_sheet_of_one_physician_and_of_an_unknown_one(client, login, db_session, cast):
    login("physician")
    InterventionFactory(patient=cast["ana"], physician=cast["okafor"], starts_at=at(8))
    VisitFactory(patient=cast["ben"], physician=cast["lind"], starts_at=at(9))
    db_session.commit()
    html = page(client, f"/schedule/sheet?date={DAY.isoformat()}&physician=lind")
    assert html.count('<section class="day-sheet"') == 1
    assert "Jones, Ben" in html and "Smith, Ana" not in html
    empty = page(client, f"/schedule/sheet?date={(DAY + timedelta(1)).isoformat()}&physician=lind")
    assert "No bookings this day." in empty
    assert "No physician is called “nobody”" in page(
        client, "/schedule/sheet?physician=nobody", 400
    )


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_the_day_sheet_is_for_the_front_desk_and_physicians(client, login, role):
    login(role)
    assert client.get("/schedule/sheet").status_code == 403
