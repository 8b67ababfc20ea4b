"""The front desk's whole journey in a real browser, from a new patient to the calendar.

Register a patient through the form, log a referral for them, book the procedure from the
referral, and find it on the calendar for that day (and the referral marked scheduled).
"""

import re
import uuid
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from clinic.extensions import db
from clinic.models import Room, StaffUser
from tests.browser.helpers.live import sign_in, snap

pytestmark = pytest.mark.browser


def next_weekday(after_days: int = 9) -> date:
    day = date.today() + timedelta(days=after_days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def add_physician_and_room(live_server) -> dict[str, str]:
    """A physician and a procedure suite of this test's own, in the live server's database."""
    tag = uuid.uuid4().hex[:6]
    with live_server.app.app_context():
        physician = StaffUser(
            username=f"dr.journey{tag}", full_name=f"Dr. Nia Journey {tag}", role="physician"
        )
        room = Room(name=f"Suite Journey {tag}")
        db.session.add_all([physician, room])
        db.session.commit()
        return {"tag": tag, "physician": physician.full_name, "room": room.name}


def column(page, status: str):
    return page.locator(f'section[aria-labelledby="column-{status}"]')


def test_the_desk_registers_a_patient_logs_a_referral_books_it_and_sees_it_on_the_calendar(
    page, live_server
):
    cast = add_physician_and_room(live_server)
    first, last = "Amara", f"Nwosu{cast['tag']}"
    sign_in(page, live_server, "front_desk")

    # 1. Register the patient through the form; the MRN is generated.
    page.goto("/patients")
    page.get_by_role("link", name="Register a patient").click()
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill(last)
    page.get_by_label("Date of birth").fill("1963-03-21")
    page.get_by_label("Sex").select_option("female")
    page.get_by_label("Primary condition").select_option("facet_joint_arthritis")
    page.get_by_label("Phone").fill("555-010-6161")
    expect(page.get_by_label("MRN")).to_have_count(0)  # generated, not typed by the desk
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_text(f"Registered {first} {last} with MRN")).to_be_visible()
    mrn = page.get_by_role("heading", level=1).inner_text().split("MRN ")[1].strip()
    assert re.fullmatch(r"C\d{7}", mrn), mrn

    # 2. Log a referral for that patient, from their record.
    page.get_by_role("link", name="Log referral").click()
    expect(page.get_by_label("Patient MRN")).to_have_value(mrn)
    page.get_by_label("Referring clinician").fill("Dr. Samuel Adeyemi")
    page.get_by_label("Practice", exact=True).fill("Eastside Health Centre")
    page.get_by_label("Reason for referral").fill("Lumbar facet pain, worse on extension; MBB?")
    page.get_by_label("Urgency").select_option(label="Routine")
    page.get_by_role("button", name="Log referral").click()
    expect(page.get_by_role("status").first).to_contain_text("Logged a routine referral")
    card = column(page, "received").locator("article", has_text=mrn)
    expect(card).to_contain_text(f"{last}, {first}")
    expect(card).to_contain_text("Dr. Samuel Adeyemi, Eastside Health Centre")

    # 3. Book the procedure from the referral.
    card.get_by_role("link", name="Book procedure").click()
    expect(page).to_have_url(re.compile(r"/schedule/new\?referral_id=\d+$"))
    expect(page.get_by_label("Patient MRN")).to_have_value(mrn)
    day = next_weekday()
    page.get_by_label("Procedure or visit").select_option(label="Medial branch block (MBB)")
    page.get_by_label("Physician").select_option(label=cast["physician"])
    page.get_by_label("Room").select_option(label=cast["room"])
    page.get_by_label("Date").fill(day.isoformat())
    page.get_by_label("Start").fill("11:15")
    page.get_by_label("Duration (minutes)").fill("30")
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_role("status").first).to_contain_text("Booked:")
    expect(page.get_by_role("status").first).to_contain_text(f"{first} {last}")

    # 4. It is on the calendar for that day, in the physician's column.
    expect(page).to_have_url(re.compile(rf"/schedule\?date={day.isoformat()}"))
    calendar = page.get_by_role("table")
    expect(calendar).to_contain_text(cast["physician"])
    booking = calendar.get_by_role("link", name=re.compile(rf"11:15–11:45 {last}, {first}"))
    expect(booking).to_be_visible()
    expect(calendar).to_contain_text("MBB")
    expect(calendar).to_contain_text(cast["room"])
    snap(page, "desk-journey-calendar")

    # The referral has moved to scheduled, linking to the booking.
    page.goto("/referrals")
    scheduled = column(page, "scheduled").locator("article", has_text=mrn)
    expect(
        scheduled.get_by_role("link", name=re.compile(rf"{day.isoformat()} 11:15 MBB"))
    ).to_be_visible()
    expect(column(page, "received").locator("article", has_text=mrn)).to_have_count(0)
