"""A physician logs a procedure course in a real browser, reads the relief at a glance, and
books the visit that follows it up."""

from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from clinic.extensions import db
from clinic.models import Intervention, Patient, ProcedureType, StaffUser
from tests.browser.helpers.live import sign_in, snap

pytestmark = pytest.mark.browser


@pytest.fixture
def booked_epidural(live_server):
    """A patient with a transforaminal epidural booked six weeks ago with the test physician."""
    with live_server.app.app_context():
        physician = db.session.execute(
            select(StaffUser).where(StaffUser.username == "physician")
        ).scalar_one()
        patient = Patient(
            mrn=f"PHY{datetime.now(UTC):%H%M%S%f}"[:20],
            first_name="Sofía",
            last_name="Herrera",
            date_of_birth=date(1962, 3, 9),
            sex="female",
            condition="herniated_disc",
        )
        start = datetime.combine(
            date.today() - timedelta(days=42), datetime.min.time(), tzinfo=UTC
        ).replace(hour=9)
        epidural = Intervention(
            patient=patient,
            physician=physician,
            procedure_type=db.session.execute(
                select(ProcedureType).where(ProcedureType.code == "ESI-TF")
            ).scalar_one(),
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            status="checked_in",
        )
        db.session.add_all([patient, epidural])
        db.session.commit()
        return {
            "patient_id": patient.id,
            "booking_id": epidural.id,
            "performed_on": start.date(),
            "physician_id": physician.id,
        }


def test_physician_completes_a_procedure_records_a_score_sees_the_outcome_and_books_its_check(
    page, live_server, booked_epidural
):
    sign_in(page, live_server, "physician")
    page.goto(f"/schedule/bookings/{booked_epidural['booking_id']}")
    page.get_by_role("link", name="Complete the procedure").click()
    page.get_by_label("Baseline pain before the procedure (NRS 0–10)").fill("8")
    page.get_by_label("Spinal level(s)").fill("l5-s1")
    page.get_by_label("Laterality").select_option("left")
    page.get_by_label("Performed on").fill(booked_epidural["performed_on"].isoformat())
    page.get_by_label("Complications").fill("Brief vasovagal episode")
    page.get_by_label("Notes").fill("Contrast spread along the left L5 root")
    snap(page, "complete-procedure")
    page.get_by_role("button", name="Complete the procedure").click()
    expect(page.get_by_text("Completed: Transforaminal epidural steroid injection")).to_be_visible()
    outcomes = page.get_by_role("table").filter(has_text="Best relief")
    expect(outcomes).to_contain_text("L5-S1, left")
    expect(outcomes).to_contain_text("Not evaluable: no follow-up score yet")
    procedures = page.get_by_role("table").filter(has_text="Complications and notes")
    expect(procedures).to_contain_text("Complications: Brief vasovagal episode")
    expect(procedures).to_contain_text("Notes: Contrast spread along the left L5 root")

    # Two weeks after: NRS 3 of baseline 8 is 62.5% relief.
    page.get_by_role("link", name="Add score").click()
    page.get_by_label("Pain (NRS 0–10)").fill("3")
    page.get_by_label("Date").fill(
        (booked_epidural["performed_on"] + timedelta(days=14)).isoformat()
    )
    page.get_by_role("button", name="Save the score").click()
    expect(page.get_by_text("Recorded pain 3/10")).to_be_visible()
    expect(outcomes).to_contain_text("Responder")
    expect(outcomes).to_contain_text("62%")
    expect(outcomes).to_contain_text("Responder: relief from day 14, ongoing at day 14")
    chart = page.locator("figure.pain-chart img")
    expect(chart).to_be_visible()
    page.wait_for_function(
        "() => { const img = document.querySelector('figure.pain-chart img');"
        " return img && img.complete && img.naturalWidth > 0; }"
    )
    expect(page.locator("figure.pain-chart figcaption")).to_contain_text("1 score, last 3")
    snap(page, "patient-record-outcome")

    # A stricter threshold: 62.5% is not ≥ 80%.
    page.get_by_role("link", name="80%").click()
    expect(outcomes).to_contain_text("No relief ≥ 80%")

    # The booking itself shows the clinical record, read-only.
    page.get_by_role("link", name="Transforaminal epidural steroid injection").first.click()
    record = page.locator("section.clinical-record")
    expect(record).to_contain_text("Brief vasovagal episode")
    expect(record).to_contain_text("Contrast spread along the left L5 root")
    snap(page, "booking-clinical-record")

    # From the patient's page, the check that follows the epidural up is booked in two steps.
    page.get_by_role("link", name="Open Sofía Herrera's record").click()
    page.get_by_role("link", name="Book follow-up visit").click()
    performed = booked_epidural["performed_on"].isoformat()
    expect(page.locator("p.follows-up")).to_contain_text(
        "Follows up: Transforaminal epidural steroid injection (ESI-TF) for Sofía Herrera"
    )
    expect(page.locator("p.follows-up")).to_contain_text(f"performed {performed} by Test Physician")
    expect(page.get_by_label("Procedure or visit")).to_have_value("visit:post_procedure_check")
    expect(page.get_by_label("Physician")).to_have_value(str(booked_epidural["physician_id"]))
    snap(page, "book-follow-up-visit")
    page.get_by_label("Date").fill((date.today() + timedelta(days=9)).isoformat())
    page.get_by_label("Start").fill("16:40")
    page.get_by_label("Duration (minutes)").fill("20")
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_text("Booked: ")).to_contain_text("post-procedure check for Sofía Herrera")
    page.goto(f"/patients/{booked_epidural['patient_id']}")
    visits = page.get_by_role("table").filter(has_text="Complications and notes")
    expect(visits.locator(".follows-up")).to_have_text(f"Follows up ESI-TF performed {performed}")
    snap(page, "patient-record-follow-up")
