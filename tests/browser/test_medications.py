"""A physician records what was given during an epidural, and booking the next one for a patient
over the corticosteroid limit shows the warning naming the earlier procedures."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from clinic.extensions import db
from clinic.models import Drug, Intervention, MedicationGiven, Patient, ProcedureType, StaffUser
from tests.browser.helpers.live import sign_in, snap

pytestmark = pytest.mark.browser


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC).replace(hour=hour)


@pytest.fixture
def steroid_history(live_server):
    """A patient with two triamcinolone epidurals this year and a third one checked in today."""
    with live_server.app.app_context():
        physician = db.session.execute(
            select(StaffUser).where(StaffUser.username == "physician")
        ).scalar_one()
        esi = db.session.execute(
            select(ProcedureType).where(ProcedureType.code == "ESI-IL")
        ).scalar_one()
        triamcinolone = db.session.execute(
            select(Drug).where(Drug.name == "triamcinolone")
        ).scalar_one()
        patient = Patient(
            mrn=f"MED{datetime.now(UTC):%H%M%S%f}"[:20],
            first_name="Tomasz",
            last_name="Wieczorek",
            date_of_birth=date(1957, 6, 2),
            sex="male",
            condition="spinal_stenosis",
        )
        today = date.today()
        earlier = []
        for days_ago in (150, 75):
            day = today - timedelta(days=days_ago)
            done = Intervention(
                patient=patient,
                physician=physician,
                procedure_type=esi,
                starts_at=_at(day, 9),
                ends_at=_at(day, 9) + timedelta(minutes=30),
                status="completed",
                performed_on=day,
                baseline_nrs=7,
                spinal_level="L4-L5",
            )
            db.session.add(done)
            db.session.flush()
            db.session.add(
                MedicationGiven(
                    intervention_id=done.id, drug_id=triamcinolone.id, dose_mg=Decimal(80)
                )
            )
            earlier.append(day)
        checked_in = Intervention(
            patient=patient,
            physician=physician,
            procedure_type=esi,
            # 13:00, clear of the other journeys' bookings of the same physician today.
            starts_at=_at(today, 13),
            ends_at=_at(today, 13) + timedelta(minutes=30),
            status="checked_in",
        )
        db.session.add_all([patient, checked_in])
        db.session.commit()
        return {
            "patient_id": patient.id,
            "booking_id": checked_in.id,
            "earlier": earlier,
            "today": today,
        }


def test_physician_records_two_medications_and_the_next_epidural_warns_over_the_limit(
    page, live_server, steroid_history
):
    sign_in(page, live_server, "physician")
    page.goto(f"/schedule/bookings/{steroid_history['booking_id']}/complete")
    page.get_by_label("Performed on").fill(steroid_history["today"].isoformat())
    page.get_by_label("Baseline pain before the procedure (NRS 0–10)").fill("7")
    page.get_by_label("Spinal level(s)").fill("L4-L5")
    page.locator("#medications-0-drug_id").select_option(label="triamcinolone (mg)")
    page.locator("#medications-0-amount").fill("40")
    page.locator("#medications-0-route_site").fill("L4-L5 interlaminar")
    page.locator("#medications-1-drug_id").select_option(label="contrast (mL)")
    page.locator("#medications-1-amount").fill("2")
    page.get_by_label("Guidance").select_option("fluoroscopy")
    page.get_by_label("Fluoroscopy time (s)").fill("35")
    page.get_by_label("Air kerma (mGy)").fill("4.8")
    page.get_by_label("Sedation").select_option("local_only")
    snap(page, "complete-procedure-medications")
    page.get_by_role("button", name="Complete the procedure").click()
    expect(page.get_by_text("Completed: Interlaminar epidural steroid injection")).to_be_visible()
    procedures = page.get_by_role("table").filter(has_text="Complications and notes")
    expect(procedures).to_contain_text("triamcinolone 40 mg (L4-L5 interlaminar), contrast 2 mL")
    expect(procedures).to_contain_text("Fluoroscopy, 35 s fluoroscopy, 4.8 mGy air kerma")
    exposure = page.locator("table.steroid-exposure")
    expect(exposure).to_contain_text("200.0 mg")
    snap(page, "patient-steroid-exposure")

    # The next epidural: 200 mg in 12 months plus the usual 80 mg passes the 200 mg limit.
    page.get_by_role("link", name="Book", exact=True).click()
    page.get_by_label("Procedure or visit").select_option("procedure:" + _esi_il_id(live_server))
    page.get_by_label("Physician").select_option(label="Test Physician")
    next_day = steroid_history["today"] + timedelta(days=21)
    page.get_by_label("Date").fill(next_day.isoformat())
    page.get_by_label("Start").fill("16:20")
    page.get_by_label("Duration (minutes)").fill("30")
    page.get_by_role("button", name="Book").click()
    warning = page.get_by_role("alert").filter(has_text="Corticosteroid limit")
    first, second = steroid_history["earlier"]
    expect(warning).to_contain_text(f"ESI-IL on {first.isoformat()} (80.0 mg)")
    expect(warning).to_contain_text(f"ESI-IL on {second.isoformat()} (80.0 mg)")
    expect(warning).to_contain_text("limit of 200.0 mg")
    expect(page.get_by_text("Booked: ")).to_be_visible()
    snap(page, "booking-steroid-warning")

    # Before booking, the form itself shows the totals and the warning.
    page.goto(f"/schedule/new?patient_id={steroid_history['patient_id']}&what=ESI-IL")
    expect(page.locator(".steroid-warning")).to_contain_text(f"ESI-IL on {first.isoformat()}")
    snap(page, "booking-form-steroid-check")


def _esi_il_id(live_server) -> str:
    with live_server.app.app_context():
        return str(
            db.session.execute(
                select(ProcedureType.id).where(ProcedureType.code == "ESI-IL")
            ).scalar_one()
        )


def test_admin_keeps_the_drug_catalogue_and_a_manager_compares_relief_by_steroid(page, live_server):
    sign_in(page, live_server, "admin")
    page.goto("/admin/drugs")
    expect(page.get_by_role("table").first).to_contain_text("dexamethasone")
    expect(page.get_by_role("table").first).to_contain_text("0.75 mg")
    snap(page, "admin-drugs")
    page.get_by_role("link", name="12 months").click()
    expect(page.get_by_label("Limit (methylprednisolone-equivalent mg)")).to_have_value("200.0")
    snap(page, "admin-steroid-limit")
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server, "manager")
    page.goto("/reports/relief")
    page.get_by_label("Corticosteroid given").select_option("triamcinolone")
    page.get_by_role("button", name="Show").first.click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.locator("body")).to_contain_text("given triamcinolone")
    snap(page, "relief-by-steroid")
