"""The referral journey in a real browser: log, triage, book, and see the loop closed."""

import re
import uuid
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from clinic import clock
from clinic.extensions import db
from clinic.models import Room, StaffUser
from clinic.services.patients import PatientDetails, register_patient
from tests.browser.helpers.live import sign_in, snap
from tests.browser.helpers.referrals import add_overdue_referral

pytestmark = pytest.mark.browser


def add_patient_physician_and_room(live_server) -> dict:
    """What the clerk works with, put straight into the live server's database."""
    tag = uuid.uuid4().hex[:6]
    with live_server.app.app_context():
        today = clock.clinic_today(live_server.app.config["CLINIC_TIMEZONE"])
        patient = register_patient(
            db.session,
            PatientDetails(
                first_name="Rosa",
                last_name=f"Delgado{tag}",
                date_of_birth=date(1968, 9, 2),
                sex="female",
                condition="spinal_stenosis",
                phone="555-010-4477",
            ),
            today,
        )
        physician = StaffUser(
            username=f"dr.raman{tag}",
            full_name=f"Dr. Priya Raman {tag}",
            role="physician",
            password_hash=None,
        )
        room = Room(name=f"Suite {tag}")
        db.session.add_all([physician, room])
        db.session.commit()
        return {
            "patient_id": patient.id,
            "mrn": patient.mrn,
            "name": f"{patient.last_name}, {patient.first_name}",
            "physician": physician.full_name,
            "room": room.name,
            "today": today,
        }


def column(page, status: str):
    return page.locator(f'section[aria-labelledby="column-{status}"]')


def test_front_desk_logs_triages_and_books_a_referral(page, live_server):
    cast = add_patient_physician_and_room(live_server)
    overdue_mrn = add_overdue_referral(live_server)
    sign_in(page, live_server, "front_desk")

    # From the patient's page, the referral form opens with the MRN filled in.
    page.goto(f"/patients/{cast['patient_id']}")
    page.get_by_role("link", name="Log referral").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log a referral")
    expect(page.get_by_label("Patient MRN")).to_have_value(cast["mrn"])
    expect(page.get_by_label("Received on")).to_have_value(cast["today"].isoformat())

    # The keyboard alone: focus starts on the first empty field.
    expect(page.get_by_label("Referring clinician")).to_be_focused()
    page.keyboard.type("Dr. Amara Osei")
    page.keyboard.press("Tab")
    page.keyboard.type("Riverside Family Practice")
    page.get_by_label("Urgency").select_option(label="Urgent")
    page.get_by_role("button", name="Log referral").click()

    # Forgot the reason: told what to fix, nothing typed is lost.
    expect(
        page.locator(".invalid-feedback", has_text="Enter the reason for referral.")
    ).to_be_visible()
    expect(page.get_by_label("Referring clinician")).to_have_value("Dr. Amara Osei")
    expect(page.get_by_label("Urgency")).to_have_value("urgent")
    expect(page.get_by_label("Reason for referral")).to_be_focused()
    snap(page, "referrals-intake-error")
    page.keyboard.type("Neurogenic claudication, MRI shows L4-L5 stenosis")
    page.get_by_role("button", name="Log referral").click()

    # On the board, waiting under Received, urgent, received today.
    expect(page.get_by_role("status").first).to_contain_text("Logged an urgent referral")
    card = column(page, "received").locator("article", has_text=cast["mrn"])
    expect(card).to_contain_text(cast["name"])
    expect(card).to_contain_text("Dr. Amara Osei, Riverside Family Practice")
    expect(card).to_contain_text("Urgent")
    expect(card).to_contain_text("today")
    expect(card).not_to_contain_text("Overdue")
    waiting = column(page, "received").locator("article", has_text=overdue_mrn)
    expect(waiting).to_contain_text("Overdue")
    expect(waiting).to_contain_text("5 days ago")
    expect(page.get_by_role("status").last).to_contain_text("overdue for triage")
    snap(page, "referrals-board")

    # Triage it with the keyboard.
    card.get_by_role("button", name="Triage").focus()
    page.keyboard.press("Enter")
    card = column(page, "triaged").locator("article", has_text=cast["mrn"])
    expect(card).to_be_visible()

    # Book the procedure the referral asks for.
    card.get_by_role("link", name="Book procedure").click()
    expect(page).to_have_url(re.compile(r"/schedule/new\?referral_id=\d+$"))
    expect(page.get_by_label("Patient MRN")).to_have_value(cast["mrn"])
    page.get_by_label("Procedure or visit").select_option(
        label="Transforaminal epidural steroid injection (ESI-TF)"
    )
    page.get_by_label("Physician").select_option(label=cast["physician"])
    page.get_by_label("Room").select_option(label=cast["room"])
    day = cast["today"] + timedelta(days=1)
    page.get_by_label("Date").fill(day.isoformat())
    page.get_by_label("Start").fill("09:00")
    page.get_by_label("Duration (minutes)").fill("45")
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_role("status").first).to_contain_text("Booked:")

    # Back on the board: the referral is scheduled, with a link to its booking.
    page.goto("/referrals")
    card = column(page, "scheduled").locator("article", has_text=cast["mrn"])
    booked = card.get_by_role("link", name=re.compile(rf"{day.isoformat()} 09:00 ESI-TF"))
    expect(booked).to_be_visible()
    expect(column(page, "triaged").locator("article", has_text=cast["mrn"])).to_have_count(0)
    snap(page, "referrals-board-scheduled")

    # The referral's own page lists the booking; the link opens it.
    card.get_by_role("link", name=re.compile("Details")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Referral for")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Scheduled")
    snap(page, "referral-detail")
    page.get_by_role("link", name=f"{day.isoformat()} 09:00").click()
    expect(page).to_have_url(re.compile(r"/schedule/bookings/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "Transforaminal epidural steroid injection"
    )


def test_a_referral_is_declined_with_a_reason_and_leaves_the_board(page, live_server):
    cast = add_patient_physician_and_room(live_server)
    sign_in(page, live_server, "physician")
    page.goto(f"/referrals/new?patient_id={cast['patient_id']}")
    page.get_by_label("Referring clinician").fill("Dr. Lee")
    page.get_by_label("Reason for referral").fill("Neck pain")
    page.get_by_role("button", name="Log referral").click()
    card = column(page, "received").locator("article", has_text=cast["mrn"])
    card.get_by_role("link", name=re.compile("Details")).click()

    page.get_by_role("button", name="Decline referral").click()
    expect(
        page.locator(".invalid-feedback", has_text="Say why the referral is declined.")
    ).to_be_visible()
    expect(page.get_by_label(re.compile("Reason"))).to_be_focused()
    snap(page, "referral-decline-error")
    page.keyboard.type("Cervical: refer to the neck clinic")
    page.get_by_role("button", name="Decline referral").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Declined")

    page.goto("/referrals")
    expect(column(page, "received").locator("article", has_text=cast["mrn"])).to_have_count(0)
    closed = page.locator('section[aria-labelledby="closed-heading"]')
    expect(closed.get_by_role("row", name=re.compile(cast["mrn"]))).to_contain_text(
        "Cervical: refer to the neck clinic"
    )
    page.emulate_media(media="print")
    snap(page, "referrals-board-print")
