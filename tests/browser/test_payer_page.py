"""The payer's page as a clerk meets it (issue 20): from the patient's eligibility panel to the
page, read at 360 px and by axe-core, then printed — on one A4 and one Letter page — with every
score that decided the verdict."""

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect
from sqlalchemy import select

from clinic import clock
from clinic.extensions import db
from clinic.models import Intervention, PainScore, Patient, ProcedureType, Room, StaffUser
from tests.browser.helpers.accessibility import violations
from tests.browser.helpers.live import sign_in, snap
from tests.browser.helpers.self_report import no_sideways_scroll, pdf_pages

pytestmark = pytest.mark.browser


def seed_rfa_patient(live_server) -> int:
    """Two lumbar RFAs a year apart, each followed up five times, and blocks before them."""
    tag = uuid.uuid4().hex[:6]
    app = live_server.app
    with app.app_context():
        today = clock.clinic_today(app.config["CLINIC_TIMEZONE"])
        patient = Patient(
            mrn=f"PAY{tag}",
            first_name="Rosalind",
            last_name=f"Okonkwo{tag}",
            date_of_birth=date(1955, 9, 14),
            sex="female",
            condition="facet_joint_arthritis",
        )
        physician = StaffUser(
            username=f"dr.payer{tag}", full_name="Dr. Ines Alvarez", role="physician"
        )
        room = Room(name=f"Suite {tag}")
        codes = {p.code: p for p in db.session.execute(select(ProcedureType)).scalars()}
        plan = [
            ("MBB", today - timedelta(days=560), [1, 2]),
            ("MBB", today - timedelta(days=530), [1, 2]),
            ("RFA", today - timedelta(days=500), [2, 2, 3, 3, 6]),
            ("RFA", today - timedelta(days=230), [2, 1, 2, 2, 3]),
        ]
        for code, day, scores in plan:
            starts_at = datetime.combine(day, time(9), tzinfo=UTC)
            intervention = Intervention(
                patient=patient,
                physician=physician,
                room=room,
                procedure_type=codes[code],
                starts_at=starts_at,
                ends_at=starts_at + timedelta(hours=1),
                status="completed",
                performed_on=day,
                baseline_nrs=8,
                spinal_level="L4-L5, L5-S1",
                laterality="bilateral",
            )
            db.session.add(intervention)
            db.session.flush()
            offsets = [1, 7] if code == "MBB" else [14, 42, 92, 185, 215]
            for offset, nrs in zip(offsets, scores, strict=True):
                db.session.add(
                    PainScore(
                        intervention_id=intervention.id,
                        patient_id=patient.id,
                        recorded_on=day + timedelta(days=offset),
                        nrs=nrs,
                        source="phone",
                    )
                )
        db.session.commit()
        return patient.id


def test_the_payers_page_is_reached_from_the_patient_and_prints_on_one_page(
    page, browser, live_server
):
    patient_id = seed_rfa_patient(live_server)
    axe = Axe()
    sign_in(page, live_server, "front_desk")
    page.wait_for_url("/")
    page.goto(f"/patients/{patient_id}")
    snap(page, "patient-eligibility-panel")
    page.get_by_role("link", name=re.compile(r"^RFA L4-L5, L5-S1")).click()
    expect(
        page.get_by_role("heading", name="Repeat eligibility for prior authorisation")
    ).to_be_visible()
    expect(page.get_by_text("Eligible", exact=True)).to_be_visible()
    assert page.locator("table.payer-scores tbody tr").count() == 5
    expect(page.get_by_text("Physician's signature")).to_be_visible()
    assert violations(axe, page) == []
    snap(page, "payer-page")

    page.emulate_media(media="print")
    snap(page, "payer-page-print")
    assert pdf_pages(page, "A4") == 1
    assert pdf_pages(page, "Letter") == 1
    page.emulate_media(media="screen")

    phone = browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740})
    small = phone.new_page()
    sign_in(small, live_server, "physician")
    small.wait_for_url("/")
    small.goto(f"/patients/{patient_id}/eligibility?what=RFA&level=L4-L5")
    assert no_sideways_scroll(small)
    snap(small, "payer-page-phone")
    phone.close()


def test_the_admin_edits_a_rule_in_months_and_regions(page, live_server):
    axe = Axe()
    sign_in(page, live_server, "admin")
    page.wait_for_url("/")
    page.goto("/admin/eligibility-rules")
    expect(page.get_by_text("per rolling 12 months").first).to_be_visible()
    snap(page, "eligibility-rules")
    page.get_by_role("link", name=re.compile("^Repeat RFA in the region")).click()
    expect(
        page.get_by_label("Per spinal region (cervical/thoracic, lumbar/sacral)")
    ).to_be_checked()
    expect(page.get_by_label("Relief documented for at least (calendar months)")).to_have_value("6")
    assert violations(axe, page) == []
    snap(page, "eligibility-rule-form")
