"""The self-report link as a new user meets it (issue 15, part A): print the discharge sheet,
open its link on a phone with no cookies, answer with one tap, see the score on the chart and
the call gone from the worklist. The patient's page is checked at 360 px, by keyboard and by
axe-core, like every page of tests/pages.py."""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect
from sqlalchemy import select

from clinic.extensions import db
from clinic.models import Intervention, Patient
from tests.browser.helpers.accessibility import violations
from tests.browser.helpers.live import sign_in, snap
from tests.browser.helpers.self_report import no_sideways_scroll, pdf_pages
from tests.browser.helpers.worklist import seed_calls

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}


def test_print_the_sheet_answer_on_a_phone_and_the_call_is_done(page, browser, live_server):
    seed_calls(live_server, [("Wilhelmina", "Sheetwright", "555-014-2201", 0)])
    with live_server.app.app_context():
        patient = db.session.execute(
            select(Patient).where(Patient.last_name == "Sheetwright")
        ).scalar_one()
        patient_id = patient.id
    axe = Axe()
    sign_in(page, live_server, "front_desk")
    page.wait_for_url("/")
    page.goto("/worklist")
    expect(page.get_by_text("Sheetwright").first).to_be_visible()

    # From the patient's procedure row to the sheet; the link is issued with a POST.
    page.goto(f"/patients/{patient_id}")
    page.get_by_role("link", name=re.compile("^Discharge sheet")).first.click()
    page.get_by_role("button", name="Issue link").click()
    expect(page.get_by_text("Self-report link issued")).to_be_visible()
    link = page.locator("code.link-text").inner_text()
    assert re.fullmatch(rf"{live_server.url}/r/[A-Za-z0-9_-]{{24}}", link)
    expect(page.get_by_role("img", name="QR code of the link")).to_be_visible()
    assert violations(axe, page) == []
    snap(page, "discharge-sheet")
    page.emulate_media(media="print")
    snap(page, "discharge-sheet-print")
    assert pdf_pages(page, "A4") == 1
    assert pdf_pages(page, "Letter") == 1
    page.emulate_media(media="screen")

    # A phone with no cookies: the patient's page, at 360 px, no sign-in.
    phone = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    patient_page = phone.new_page()
    problems: list[str] = []
    patient_page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    try:
        response = patient_page.goto(link)
        assert response.ok
        expect(patient_page.get_by_role("heading", name="Hello Wilhelmina")).to_be_visible()
        expect(patient_page.get_by_text("How is your pain right now?")).to_be_visible()
        assert "Sheetwright" not in patient_page.content()
        assert no_sideways_scroll(patient_page)
        assert violations(axe, patient_page) == []
        snap(patient_page, "self-report-360")
        # Keyboard: the percent field first, then the eleven buttons in order.
        patient_page.keyboard.press("Tab")
        assert patient_page.evaluate("document.activeElement.name") == "percent_relief"
        patient_page.keyboard.press("Tab")
        assert patient_page.evaluate("document.activeElement.value") == "0"
        patient_page.get_by_role("button", name="3", exact=True).tap()
        expect(patient_page.get_by_text("Thank you. Your answer has been sent")).to_be_visible()
        assert no_sideways_scroll(patient_page)
        snap(patient_page, "self-report-thanks-360")
        assert phone.cookies() == []
        assert problems == []  # (the invalid link below is a 404, which the console reports)
        # A link that does not work gets the plain page, also readable at 360 px.
        patient_page.goto(f"{live_server.url}/r/{'Z' * 24}")
        expect(patient_page.get_by_role("heading", name="This link does not work")).to_be_visible()
        assert violations(axe, patient_page) == []
    finally:
        phone.close()

    # Back at the clinic: the score is on the chart, and the call has left the worklist.
    page.goto(f"/patients/{patient_id}")
    expect(page.get_by_text(re.compile(r"last 3 on \d{4}-\d{2}-\d{2}"))).to_be_attached()
    page.goto("/worklist")
    expect(page.get_by_text("Sheetwright")).to_have_count(0)
    expect(
        page.get_by_text(re.compile("answered by the patient \\(self-report\\)"))
    ).to_be_visible()
    snap(page, "worklist-self-report")


def seed_block(live_server, mrn: str = "D0000001", ended_minutes_ago: int = 65) -> tuple[int, int]:
    """A medial branch block completed today an hour ago: (patient id, intervention id)."""
    from datetime import UTC, date, timedelta

    from clinic import clock
    from clinic.models import ProcedureType, StaffUser

    app = live_server.app
    with app.app_context():
        now = clock.utcnow().replace(microsecond=0)
        mbb = db.session.execute(
            select(ProcedureType).where(ProcedureType.code == "MBB")
        ).scalar_one()
        # A physician of its own: the demo's physician has bookings today, which a block an hour
        # ago would clash with at some times of day.
        physician = StaffUser(
            username=f"dr.block{mrn.lower()}", full_name="Dr Bea Blockfield", role="physician"
        )
        patient = Patient(
            mrn=mrn,
            first_name="Dariusz",
            last_name="Blockley",
            date_of_birth=date(1961, 7, 9),
            sex="male",
            phone="555-014-3300",
            condition="facet_joint_arthritis",
        )
        intervention = Intervention(
            patient=patient,
            physician=physician,
            procedure_type=mbb,
            starts_at=now - timedelta(minutes=ended_minutes_ago + 30),
            ends_at=now - timedelta(minutes=ended_minutes_ago),
            status="completed",
            performed_on=now.astimezone(UTC).date(),
            baseline_nrs=7,
            spinal_level="L4-L5",
        )
        db.session.add(intervention)
        db.session.commit()
        return patient.id, intervention.id


def test_the_block_diary_on_a_phone_and_the_paper_diary_page(page, browser, live_server):
    patient_id, intervention_id = seed_block(live_server)
    axe = Axe()
    sign_in(page, live_server, "physician")
    page.wait_for_url("/")
    page.goto(f"/patients/{patient_id}/interventions/{intervention_id}/discharge")
    page.get_by_role("button", name="Issue link").click()
    link = page.locator("code.link-text").inner_text()
    phone = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    diary_page = phone.new_page()
    try:
        diary_page.goto(link)
        expect(diary_page.get_by_text("How is your pain right now, 1 hour after?")).to_be_visible()
        diary_page.get_by_label(re.compile("^Optional: how much better")).fill("85")
        diary_page.get_by_role("button", name="1", exact=True).tap()
        expect(diary_page.get_by_text("Your pain 1 hour after is in your diary")).to_be_visible()
        assert no_sideways_scroll(diary_page)
        assert violations(axe, diary_page) == []
        snap(diary_page, "self-report-diary-360")
    finally:
        phone.close()
    page.goto(f"/patients/{patient_id}/interventions/{intervention_id}/diary")
    expect(page.get_by_role("cell", name="1 hour after")).to_be_visible()
    page.get_by_label("Time point").select_option("0")
    page.get_by_label("Pain (NRS 0–10)").fill("2")
    page.get_by_label(re.compile("^Time written")).fill("25:99")
    page.get_by_role("button", name="Save entry").click()
    expect(page.locator(".invalid-feedback", has_text="Write the time as HH:MM")).to_be_visible()
    assert violations(axe, page) == []
    snap(page, "paper-diary")
    page.set_viewport_size(PHONE)
    assert no_sideways_scroll(page)
    page.goto(f"/patients/{patient_id}")
    expect(page.get_by_text(re.compile(r"Diary: peak 85% relief"))).to_be_visible()


def test_the_manager_sees_the_self_report_share_and_the_blocks_by_their_diary(page, live_server):
    from datetime import timedelta

    from clinic.models import DiaryEntry

    _, intervention_id = seed_block(live_server, mrn="D0000002", ended_minutes_ago=300)
    with live_server.app.app_context():
        intervention = db.session.get(Intervention, intervention_id)
        for minutes, nrs in ((0, 1), (30, 1), (60, 2)):
            db.session.add(
                DiaryEntry(
                    intervention_id=intervention_id,
                    minutes_after=minutes,
                    nrs=nrs,
                    recorded_at=intervention.ends_at + timedelta(minutes=minutes),
                    source="paper",
                )
            )
        db.session.commit()
    axe = Axe()
    sign_in(page, live_server, "manager")
    page.wait_for_url("/")
    expect(page.get_by_text("of follow-ups answered by patients themselves")).to_be_visible()
    snap(page, "dashboard-self-report-share")
    page.goto("/reports/relief")
    expect(
        page.get_by_role("heading", name="Diagnostic blocks, by their pain diary")
    ).to_be_visible()
    expect(page.get_by_role("rowheader", name="MBB — Medial branch block")).to_be_visible()
    assert violations(axe, page) == []
    page.get_by_role(
        "heading", name="Diagnostic blocks, by their pain diary"
    ).scroll_into_view_if_needed()
    snap(page, "relief-diagnostic-blocks")
