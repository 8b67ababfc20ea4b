"""The slot finder in a real browser: find a slot for an RFA with any physician, book it from
the result; and a booking outside the physician's sessions asks for "book anyway"."""

from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from clinic.extensions import db
from clinic.models import Intervention, Patient, PhysicianSession, Room, StaffUser
from tests.browser.helpers.front_desk import register
from tests.browser.helpers.live import sign_in, snap

pytestmark = pytest.mark.browser


def next_weekday(after: int = 7) -> date:
    day = date.today() + timedelta(days=after)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


@pytest.fixture
def finder_physician(live_server):
    """Dr. Fiona Finder: procedures every weekday morning in Suite Finder (made once)."""
    with live_server.app.app_context():
        if (
            db.session.execute(
                select(StaffUser).where(StaffUser.username == "dr.finder")
            ).scalar_one_or_none()
            is None
        ):
            room = Room(name="Suite Finder")
            physician = StaffUser(
                username="dr.finder", full_name="Dr. Fiona Finder", role="physician"
            )
            db.session.add_all([room, physician])
            db.session.flush()
            for weekday in range(5):
                db.session.add(
                    PhysicianSession(
                        physician_id=physician.id,
                        weekday=weekday,
                        start_minute=8 * 60,
                        end_minute=12 * 60,
                        kind="procedures",
                        room_id=room.id,
                    )
                )
            db.session.commit()


def test_find_a_slot_for_an_rfa_with_any_physician_and_book_it(page, live_server, finder_physician):
    sign_in(page, live_server, "front_desk")
    mrn = register(page, "Farah", "Haddad", "1962-04-09")
    page.goto("/schedule/new")
    page.get_by_role("link", name="Find a free slot").click()
    page.get_by_label("Procedure or visit").select_option(label="Radiofrequency ablation (RFA)")
    expect(page.get_by_label("Physician")).to_have_value("any")
    page.get_by_label("Patient MRN").fill(mrn)
    day = next_weekday()
    page.get_by_label("From").fill(day.isoformat())
    page.get_by_role("button", name="Find").click()
    slots = page.locator(".slot a")
    expect(slots.first).to_be_visible()
    assert slots.count() == 10
    snap(page, "slot-finder")
    first = slots.first.inner_text()
    slots.first.click()
    expect(page.get_by_label("Patient MRN")).to_have_value(mrn)
    expect(page.get_by_label("Duration (minutes)")).to_have_value("60")
    expect(page.locator("#booking-ends")).to_contain_text("Ends at")
    snap(page, "booking-form-from-finder")
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_text("Booked:")).to_contain_text("Farah Haddad")
    with live_server.app.app_context():
        patient = db.session.execute(select(Patient).where(Patient.mrn == mrn)).scalar_one()
        booking = db.session.execute(
            select(Intervention).where(Intervention.patient_id == patient.id)
        ).scalar_one()
        assert booking.procedure_type.code == "RFA"
        assert booking.ends_at - booking.starts_at == timedelta(minutes=60)
        assert f"{booking.starts_at:%H:%M}" in first  # the clinic's clock is UTC here


def test_a_booking_outside_sessions_asks_for_book_anyway(page, live_server, finder_physician):
    sign_in(page, live_server, "front_desk")
    mrn = register(page, "Omar", "Suleiman", "1970-12-01")
    day = next_weekday(9)
    page.goto(f"/schedule/new?date={day.isoformat()}")
    page.get_by_label("Patient MRN").fill(mrn)
    page.get_by_label("Procedure or visit").select_option(label="Medial branch block (MBB)")
    expect(page.get_by_label("Duration (minutes)")).to_have_value("30")
    page.get_by_label("Physician", exact=True).select_option(label="Dr. Fiona Finder")
    page.get_by_label("Room").select_option(label="Suite Finder")
    page.get_by_label("Start").fill("15:00")
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Dr. Fiona Finder has no procedure session at that time"
    )
    snap(page, "booking-book-anyway")
    page.get_by_label("Book anyway, outside the usual sessions or hours").check()
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_text("Booked:")).to_contain_text("Omar Suleiman")


def test_the_front_desk_keeps_the_sessions(page, live_server, finder_physician):
    sign_in(page, live_server, "front_desk")
    page.goto("/admin/sessions?physician=dr.finder")
    expect(page.get_by_role("table").first).to_contain_text("Suite Finder")
    page.get_by_label("What").select_option(label="Extra session on a date")
    page.get_by_label("Physician", exact=True).select_option(label="Dr. Fiona Finder")
    page.get_by_label("Date (time off or extra)").fill(next_weekday().isoformat())
    page.get_by_label("Start").fill("11:00")
    page.get_by_label("End").fill("13:00")
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#start_time-error")).to_contain_text(
        "Dr. Fiona Finder already has a session then"
    )
    snap(page, "admin-sessions")


def test_an_administrator_sets_the_default_lengths(page, live_server):
    sign_in(page, live_server, "admin")
    page.goto("/admin/procedures")
    expect(page.get_by_role("table")).to_contain_text("60 min")
    page.get_by_role("link", name="visit lengths").click()
    expect(page.get_by_label("Follow-up (minutes)")).to_have_value("20")
    page.get_by_label("Follow-up (minutes)").fill("25")
    snap(page, "admin-visit-lengths")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Visit lengths saved.")).to_be_visible()
    page.goto("/admin/visit-lengths")
    expect(page.get_by_label("Follow-up (minutes)")).to_have_value("25")
