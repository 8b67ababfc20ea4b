"""The schedule's time grid in a real browser, and a missed booking's referral booked again."""

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from playwright.sync_api import expect

from clinic import clock
from clinic.extensions import db
from clinic.models import (
    Intervention,
    PhysicianSession,
    ProcedureType,
    Referral,
    Room,
    StaffUser,
)
from clinic.services.patients import PatientDetails, register_patient
from tests.browser.helpers.live import sign_in, snap

pytestmark = pytest.mark.browser


def add_physician_with_sessions(live_server) -> dict:
    """A physician with a procedure session every day 08:00–12:00 in a room, and a patient."""
    tag = uuid.uuid4().hex[:6]
    with live_server.app.app_context():
        today = clock.clinic_today(live_server.app.config["CLINIC_TIMEZONE"])
        patient = register_patient(
            db.session,
            PatientDetails(
                first_name="Iris",
                last_name=f"Moreau{tag}",
                date_of_birth=date(1962, 4, 9),
                sex="female",
                condition="facet_joint_arthritis",
            ),
            today,
        )
        physician = StaffUser(
            username=f"dr.grid{tag}", full_name=f"Dr. Grid {tag}", role="physician"
        )
        room = Room(name=f"Suite {tag}")
        db.session.add_all([physician, room])
        db.session.flush()
        db.session.add_all(
            PhysicianSession(
                physician_id=physician.id,
                weekday=weekday,
                start_minute=8 * 60,
                end_minute=12 * 60,
                kind="procedures",
                room_id=room.id,
            )
            for weekday in range(7)
        )
        db.session.commit()
        return {
            "tag": tag,
            "patient_id": patient.id,
            "mrn": patient.mrn,
            "name": f"{patient.last_name}, {patient.first_name}",
            "physician_id": physician.id,
            "username": physician.username,
            "physician": physician.full_name,
            "room_id": room.id,
            "room": room.name,
            "today": today,
        }


def add_booking(live_server, cast, starts_at: datetime, minutes: int, code: str, referral=None):
    with live_server.app.app_context():
        kind = db.session.query(ProcedureType).filter_by(code=code).one()
        booking = Intervention(
            patient_id=cast["patient_id"],
            physician_id=cast["physician_id"],
            room_id=cast["room_id"],
            procedure_type=kind,
            referral_id=referral,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=minutes),
            status="scheduled",
        )
        db.session.add(booking)
        db.session.commit()
        return booking.id


def test_the_day_and_week_grids_show_each_booking_and_a_free_cell_opens_the_filled_form(
    page, live_server
):
    cast = add_physician_with_sessions(live_server)
    day = cast["today"] + timedelta(days=7)
    add_booking(live_server, cast, datetime.combine(day, time(9), tzinfo=UTC), 60, "RFA")
    add_booking(live_server, cast, datetime.combine(day, time(10, 30), tzinfo=UTC), 30, "MBB")
    sign_in(page, live_server, "front_desk")

    page.goto(f"/schedule?date={day.isoformat()}&physician={cast['username']}")
    grid = page.get_by_role("region", name=re.compile("Bookings of"))
    blocks = grid.locator("td.grid-block")
    expect(blocks).to_have_count(2)
    expect(blocks.first).to_contain_text("09:00–10:00")
    expect(blocks.first).to_contain_text(cast["name"])
    expect(blocks.first).to_contain_text("RFA")
    expect(blocks.nth(1)).to_contain_text("MBB")
    # 08:00–12:00 in quarters, less the hour and a half booked: ten free cells to book.
    expect(grid.locator("a.grid-slot")).to_have_count(10)
    snap(page, "schedule-grid-day")

    # By keyboard: the first free cell of the session is a link to the filled booking form.
    first_free = grid.get_by_role("link", name=re.compile(r"^Book 08:00 with"))
    first_free.focus()
    expect(first_free).to_be_focused()
    # One Tab stop for the column's free times, the arrow keys between them.
    expect(grid.locator("a.grid-slot[tabindex='0']")).to_have_count(1)
    page.keyboard.press("ArrowDown")
    expect(grid.get_by_role("link", name=re.compile(r"^Book 08:15 with"))).to_be_focused()
    page.keyboard.press("End")
    expect(grid.locator("a.grid-slot").last).to_be_focused()
    page.keyboard.press("Home")
    expect(first_free).to_be_focused()
    expect(first_free).to_have_attribute("tabindex", "0")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/schedule/new\?"))
    expect(page.get_by_label("Date")).to_have_value(day.isoformat())
    expect(page.get_by_label("Start")).to_have_value("08:00")
    expect(page.get_by_label("Physician")).to_have_value(str(cast["physician_id"]))
    expect(page.get_by_label("Room")).to_have_value(str(cast["room_id"]))

    # The week: one row for the physician, a compact block per booking on its day.
    page.goto(f"/schedule?date={day.isoformat()}&view=week&physician={cast['username']}")
    week = page.get_by_role("region", name=re.compile("Bookings of the week"))
    expect(week.get_by_role("row")).to_have_count(2)  # the days' header and the physician
    expect(week.locator("a.booking-compact")).to_have_count(2)
    expect(week.get_by_role("link", name=re.compile(r"09:00 .*RFA"))).to_be_visible()
    snap(page, "schedule-grid-week")


def test_a_no_show_sends_the_referral_back_and_booking_again_from_the_board_closes_the_loop(
    page, live_server
):
    cast = add_physician_with_sessions(live_server)
    now = clock.utcnow().replace(second=0, microsecond=0)
    with live_server.app.app_context():
        referral = Referral(
            patient_id=cast["patient_id"],
            referring_clinician="Dr. Helen Park",
            received_on=cast["today"] - timedelta(days=20),
            reason="Facet pain; medial branch blocks",
            condition="facet_joint_arthritis",
            status="scheduled",
        )
        db.session.add(referral)
        db.session.commit()
        referral_id = referral.id
    # Booked from the referral, due to start half an hour ago: the patient has not come.
    add_booking(live_server, cast, now - timedelta(minutes=30), 30, "MBB", referral=referral_id)
    sign_in(page, live_server, "front_desk")

    started = (now - timedelta(minutes=30)).astimezone(UTC)
    page.goto(f"/schedule?date={started.date().isoformat()}&physician={cast['username']}")
    page.get_by_role("button", name=re.compile(rf"^No-show.*{cast['tag']}")).click()
    expect(page.get_by_role("status").first).to_contain_text("No-show")

    page.goto("/referrals")
    triaged = page.locator('section[aria-labelledby="column-triaged"]')
    card = triaged.locator("article", has_text=cast["mrn"])
    expect(card).to_contain_text("Needs rebooking")
    # At the top of its column: to be booked again first.
    expect(triaged.locator("article").first).to_contain_text("Needs rebooking")
    snap(page, "referrals-needs-rebooking")

    card.get_by_role("link", name=re.compile("Book again")).click()
    expect(page.get_by_label("Patient MRN")).to_have_value(cast["mrn"])
    page.get_by_label("Procedure or visit").select_option(label="Medial branch block (MBB)")
    page.get_by_label("Physician").select_option(label=cast["physician"])
    page.get_by_label("Room").select_option(label=cast["room"])
    day = cast["today"] + timedelta(days=2)
    page.get_by_label("Date").fill(day.isoformat())
    page.get_by_label("Start").fill("09:00")
    page.get_by_label("Duration (minutes)").fill("30")
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_role("status").first).to_contain_text("Booked:")

    page.goto("/referrals")
    scheduled = page.locator('section[aria-labelledby="column-scheduled"]')
    card = scheduled.locator("article", has_text=cast["mrn"])
    expect(card).to_be_visible()
    expect(card).not_to_contain_text("Needs rebooking")
    expect(
        card.get_by_role("link", name=re.compile(rf"{day.isoformat()} 09:00 MBB"))
    ).to_be_visible()
    expect(triaged.locator("article", has_text=cast["mrn"])).to_have_count(0)


def test_a_full_day_of_eight_physicians_reads_at_1280_and_prints_on_one_landscape_page(
    page, live_server
):
    tag = uuid.uuid4().hex[:6]
    day = clock.clinic_today(live_server.app.config["CLINIC_TIMEZONE"]) + timedelta(days=9)
    with live_server.app.app_context():
        # Named to come first in the practice: the grid's first page is theirs.
        doctors = [
            StaffUser(username=f"aa{tag}{n}", full_name=f"Dr. Aa{tag} {n}", role="physician")
            for n in range(8)
        ]
        # A patient per physician: nobody is booked twice at once.
        patients = [
            register_patient(
                db.session,
                PatientDetails(
                    first_name="Pat",
                    last_name=f"Grid{tag}{n}",
                    date_of_birth=date(1970, 1, 1),
                    sex="female",
                    condition="other",
                ),
                day,
            )
            for n in range(8)
        ]
        db.session.add_all(doctors)
        db.session.flush()
        kinds = {t.code: t for t in db.session.query(ProcedureType).all()}
        for doctor, patient in zip(doctors, patients, strict=True):
            for slot in range(24):  # 07:00 to 19:00, half an hour each
                starts = datetime.combine(day, time(7), tzinfo=UTC) + timedelta(minutes=30 * slot)
                db.session.add(
                    Intervention(
                        patient_id=patient.id,
                        physician_id=doctor.id,
                        procedure_type=kinds["MBB" if slot % 3 else "RFA"],
                        starts_at=starts,
                        ends_at=starts + timedelta(minutes=30),
                        status="scheduled",
                        desk_note="Driver waiting" if slot % 5 == 0 else None,
                    )
                )
        db.session.commit()
    sign_in(page, live_server, "front_desk")
    page.goto(f"/schedule?date={day.isoformat()}")
    grid = page.get_by_role("region", name=re.compile("Bookings of"))
    heads = grid.locator("thead th.grid-head")
    expect(heads).to_have_count(8)
    expect(heads.first).to_have_text(f"Dr. Aa{tag} 0")
    expect(grid.locator("td.grid-block")).to_have_count(8 * 24)
    # Readable at 1280 px: the grid fits the window, no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    snap(page, "schedule-grid-day-eight-physicians")
    pdf = page.pdf(landscape=True, format="A4")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
