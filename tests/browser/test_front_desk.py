"""The front desk's day in a real browser: register a patient, book, see the calendar, clashes."""

from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from clinic.extensions import db
from clinic.models import Room, StaffUser
from tests.browser.helpers.front_desk import register
from tests.browser.helpers.live import sign_in, snap

pytestmark = pytest.mark.browser


def next_weekday() -> date:
    day = date.today() + timedelta(days=7)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


@pytest.fixture
def clinic_rooms_and_physicians(live_server):
    """A physician and a procedure suite in the live server's database (made once)."""
    with live_server.app.app_context():
        if (
            db.session.execute(
                select(Room).where(Room.name == "Suite Browser")
            ).scalar_one_or_none()
            is None
        ):
            db.session.add(Room(name="Suite Browser"))
            db.session.add(
                StaffUser(username="dr.browser", full_name="Dr. Bea Browser", role="physician")
            )
            db.session.commit()


def fill_booking(
    page, what: str, day: date, start: str, minutes: str = "45", physician: str = "Dr. Bea Browser"
) -> None:
    page.get_by_label("Procedure or visit").select_option(label=what)
    page.get_by_label("Physician").select_option(label=physician)
    page.get_by_label("Room").select_option(label="Suite Browser")
    page.get_by_label("Date").fill(day.isoformat())
    page.get_by_label("Start").fill(start)
    page.get_by_label("Duration (minutes)").fill(minutes)


def test_register_a_patient_book_a_procedure_and_see_it_on_the_calendar(
    page, live_server, clinic_rooms_and_physicians
):
    sign_in(page, live_server, "front_desk")
    mrn = register(page, "Ingrid", "Lindgren", "1958-07-14")
    snap(page, "patient-record")
    page.get_by_role("link", name="Book", exact=True).click()
    expect(page.get_by_label("Patient MRN")).to_have_value(mrn)
    day = next_weekday()
    fill_booking(page, "Radiofrequency ablation (RFA)", day, "10:00")
    snap(page, "booking-form")
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_text("Booked:")).to_contain_text("Ingrid Lindgren")
    calendar = page.get_by_role("table")
    expect(calendar).to_contain_text("10:00–10:45")
    expect(calendar).to_contain_text("Lindgren, Ingrid")
    snap(page, "schedule-day")
    page.get_by_role("link", name="Week", exact=True).click()
    page.get_by_role("link", name="Room", exact=True).click()
    expect(page.get_by_role("table")).to_contain_text("Suite Browser")
    expect(page.get_by_role("table")).to_contain_text("Lindgren, Ingrid")
    snap(page, "schedule-week-by-room")


def test_a_clashing_booking_is_refused_with_the_clash_named_and_the_form_kept(
    page, live_server, clinic_rooms_and_physicians
):
    sign_in(page, live_server, "front_desk")
    first = register(page, "Mateo", "Rossi", "1966-02-03")
    second = register(page, "Chloé", "Dubois", "1971-09-30")
    day = next_weekday() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    page.goto(f"/schedule/new?date={day.isoformat()}")
    page.get_by_label("Patient MRN").fill(first)
    fill_booking(page, "Medial branch block (MBB)", day, "14:00", "30")
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_text("Booked:")).to_be_visible()

    page.goto(f"/schedule/new?date={day.isoformat()}")
    page.get_by_label("Patient MRN").fill(second)
    fill_booking(page, "Facet joint injection (FJI)", day, "14:15", "30")
    page.get_by_label("Notes for the day").fill("Needs a wheelchair")
    page.get_by_role("button", name="Book").click()
    error = page.get_by_role("alert")
    expect(error).to_contain_text("Dr. Bea Browser and Suite Browser are already booked")
    expect(error).to_contain_text("14:00–14:30")
    expect(page.get_by_label("Patient MRN")).to_have_value(second)
    expect(page.get_by_label("Start")).to_have_value("14:15")
    expect(page.get_by_label("Notes for the day")).to_have_value("Needs a wheelchair")
    snap(page, "booking-clash")

    # Back to back is fine.
    page.get_by_label("Start").fill("14:30")
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_text("Booked:")).to_contain_text("Chloé Dubois")
    # The desk's note for the day is on the schedule and the booking, apart from clinical notes.
    expect(page.get_by_role("table")).to_contain_text("Needs a wheelchair")
    page.get_by_role("link", name="14:30–15:00 Dubois, Chloé").click()
    expect(page.locator(".desk-note")).to_have_text("Note for the day: Needs a wheelchair")


def test_check_in_on_the_day_and_cancel_from_the_booking(
    page, live_server, clinic_rooms_and_physicians
):
    sign_in(page, live_server, "front_desk")
    mrn = register(page, "Kwame", "Okafor", "1980-12-12")
    # Next week's booking: cancelling is offered, checking in and a no-show are not yet.
    ahead = next_weekday() + timedelta(days=3)
    while ahead.weekday() >= 5:
        ahead += timedelta(days=1)
    page.goto(f"/schedule/new?date={ahead.isoformat()}")
    page.get_by_label("Patient MRN").fill(mrn)
    fill_booking(page, "Visit: Consult", ahead, "08:00", "30")
    page.get_by_role("button", name="Book").click()
    page.get_by_role("link", name="08:00–08:30 Okafor, Kwame").click()
    expect(page.get_by_role("button", name="Cancel booking")).to_be_visible()
    expect(page.get_by_role("button", name="Check in")).to_have_count(0)
    expect(page.get_by_role("button", name="Mark no-show")).to_have_count(0)
    expect(page.get_by_text("Check-in opens on the day")).to_be_visible()
    snap(page, "booking-ahead")

    # Today's booking (the live server's clinic runs on UTC) is checked in, then cancelled.
    today = datetime.now(UTC).date()
    page.goto(f"/schedule/new?date={today.isoformat()}")
    page.get_by_label("Patient MRN").fill(mrn)
    fill_booking(page, "Visit: Consult", today, "07:00", "30")
    page.get_by_role("button", name="Book").click()
    page.get_by_role("link", name="07:00–07:30 Okafor, Kwame").click()
    page.get_by_role("button", name="Check in").click()
    expect(page.get_by_text("Checked in:")).to_be_visible()
    page.get_by_role("link", name="07:00–07:30 Okafor, Kwame").click()
    page.get_by_label("Reason for cancelling").fill("Patient felt unwell")
    page.get_by_role("button", name="Cancel booking").click()
    expect(page.get_by_text("Cancelled:")).to_be_visible()
    snap(page, "schedule-after-cancel")


def test_a_deactivated_physicians_booking_stays_on_the_day_view(
    page, live_server, clinic_rooms_and_physicians
):
    with live_server.app.app_context():
        db.session.add(
            StaffUser(username="dr.leaving", full_name="Dr. Lena Leaving", role="physician")
        )
        db.session.commit()
    sign_in(page, live_server, "front_desk")
    mrn = register(page, "Aiko", "Tanaka", "1975-05-21")
    day = next_weekday() + timedelta(days=14)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    page.goto(f"/schedule/new?date={day.isoformat()}")
    page.get_by_label("Patient MRN").fill(mrn)
    fill_booking(page, "Medial branch block (MBB)", day, "09:00", "30", "Dr. Lena Leaving")
    page.get_by_label("Notes for the day").fill("Interpreter: Japanese")
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_text("Booked:")).to_be_visible()
    with live_server.app.app_context():
        leaving = db.session.execute(
            select(StaffUser).where(StaffUser.username == "dr.leaving")
        ).scalar_one()
        leaving.active = False
        db.session.commit()

    page.goto(f"/schedule?date={day.isoformat()}")
    # The day's grid keeps a column for the deactivated physician while a booking holds it.
    grid = page.locator("table.schedule-day")
    expect(
        grid.get_by_role("columnheader").filter(has_text="Dr. Lena Leaving (deactivated)")
    ).to_be_visible()
    expect(grid).to_contain_text("Tanaka, Aiko")
    expect(grid.get_by_role("columnheader").filter(has_text="Dr. Bea Browser")).to_be_visible()
    snap(page, "schedule-day-deactivated-physician")
    page.emulate_media(media="print")
    snap(page, "schedule-day-deactivated-physician-print")
