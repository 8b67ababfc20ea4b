"""Spinal cord stimulators in a real browser: register the device, record its programming."""

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from clinic import clock
from clinic.extensions import db
from clinic.models import Intervention, ProcedureType, Room, StaffUser, Visit
from clinic.services.devices import DeviceDetails, register_device
from clinic.services.patients import PatientDetails, register_patient
from tests.browser.helpers.live import sign_in, snap

pytestmark = pytest.mark.browser


def seed_implanted_patient(live_server, with_device: bool = False) -> dict:
    """A patient whose SCS implant was completed here 30 days ago (and maybe its device)."""
    tag = uuid.uuid4().hex[:6]
    app = live_server.app
    with app.app_context():
        zone_name = app.config["CLINIC_TIMEZONE"]
        today = clock.clinic_today(zone_name)
        patient = register_patient(
            db.session,
            PatientDetails(
                first_name="Marta",
                last_name=f"Kowalczyk{tag}",
                date_of_birth=date(1962, 3, 8),
                sex="female",
                condition="degenerative_disc_disease",
                phone="555-010-8833",
            ),
            today,
        )
        surgeon = StaffUser(
            username=f"dr.stim{tag}",
            full_name=f"Dr. Hana Sato {tag}",
            role="physician",
            password_hash=None,
        )
        room = Room(name=f"Consult {tag}")
        implanted_on = today - timedelta(days=30)
        starts_at = datetime.combine(implanted_on, time(8), tzinfo=UTC)
        implant = Intervention(
            patient=patient,
            physician=surgeon,
            procedure_type=db.session.execute(
                select(ProcedureType).where(ProcedureType.code == "SCS-IMPLANT")
            ).scalar_one(),
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=2),
            status="completed",
            performed_on=implanted_on,
            baseline_nrs=8,
            spinal_level="T8-T10",
            laterality="midline",
        )
        db.session.add_all([surgeon, room, implant])
        db.session.flush()
        seeded = {
            "patient_id": patient.id,
            "name": patient.full_name,
            "implanted_on": implanted_on,
            "today": today,
            "room": room.name,
            "surgeon": surgeon.full_name,
            "tag": tag.upper(),
        }
        if with_device:
            from zoneinfo import ZoneInfo

            device = register_device(
                db.session,
                patient,
                DeviceDetails(
                    manufacturer="Nevro",
                    model="Senza Omnia",
                    serial_number=f"NV{tag}",
                    implanted_on=implanted_on,
                    lead_locations="Two 8-contact leads, T9–T10",
                    implant_intervention_id=implant.id,
                ),
                ZoneInfo(zone_name),
            )
            visit_start = datetime.combine(today, time(7, 30), tzinfo=UTC)
            visit = Visit(
                patient=patient,
                physician=surgeon,
                room=room,
                visit_kind="stimulator_adjustment",
                intervention=implant,
                starts_at=visit_start,
                ends_at=visit_start + timedelta(minutes=30),
                status="checked_in",
            )
            db.session.add(visit)
            db.session.flush()
            seeded.update(device_id=device.id, serial=device.serial_number, visit_id=visit.id)
        db.session.commit()
        return seeded


def test_a_physician_registers_a_device_and_records_its_programming(page, live_server):
    seeded = seed_implanted_patient(live_server)
    sign_in(page, live_server, "physician")
    page.goto(f"/patients/{seeded['patient_id']}/stimulator")
    expect(page.get_by_text("No stimulator registered.")).to_be_visible()

    # Register the device: the completed implant procedure and its date are offered.
    page.get_by_role("link", name="Register a device").click()
    expect(page.get_by_label("Implant procedure")).to_contain_text("Spinal cord stimulator implant")
    expect(page.get_by_label("Implant date")).to_have_value(seeded["implanted_on"].isoformat())
    expect(page.get_by_label("Manufacturer")).to_be_focused()
    page.keyboard.type("Abbott")
    page.keyboard.press("Tab")
    page.keyboard.type("Proclaim XR")
    page.get_by_label("Serial number").fill(f"ab{seeded['tag']}")
    page.get_by_label("Leads").fill("Two 8-contact percutaneous leads, T8–T10 midline")
    snap(page, "stimulator-device-form")
    page.get_by_role("button", name="Register device").click()
    expect(page.get_by_role("status").first).to_contain_text(
        f"Registered Abbott Proclaim XR (serial AB{seeded['tag']})"
    )
    device = page.locator("article.scs-device")
    expect(device).to_contain_text("Implanted")
    expect(device).to_contain_text(seeded["implanted_on"].isoformat())
    expect(device).to_contain_text("Two 8-contact percutaneous leads, T8–T10 midline")
    expect(device).to_contain_text("No programming recorded for this device.")

    # Record the programming of the visit being held now, every field.
    device.get_by_role("link", name="Record programming").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Record programming")
    expect(page.get_by_label("Physician")).to_have_value(re.compile(r"\d+"))
    page.get_by_label("Room").select_option(label=seeded["room"])
    page.get_by_label("Date", exact=True).fill(seeded["today"].isoformat())
    page.get_by_label("Start").fill("15:05")
    page.get_by_label("Duration (minutes)").fill("20")
    page.get_by_label("Program slot").fill("3")
    page.get_by_label("Paradigm").select_option(label="Burst")
    page.get_by_label("Amplitude (mA)").fill("45")
    page.get_by_label("Frequency (Hz)").fill("40")
    page.get_by_label("Pulse width (µs)").fill("1000")
    page.get_by_label("Active contacts and polarity").fill("1+ 2- 3+")
    page.get_by_label("Electrode impedances (Ω)").fill("650, 720, 810, 1200")
    page.get_by_label("Battery (%)").fill("82")
    page.get_by_label("Programming done (CPT)").select_option("95972")
    page.get_by_label("Pain before").fill("7")
    page.get_by_label("Pain after").fill("3")
    page.get_by_label("Notes").fill("Coverage of the left leg improved")
    page.get_by_role("button", name="Save programming").click()

    # 45 mA is no amplitude: told what to fix, nothing typed is lost, nothing saved.
    expect(
        page.locator(".invalid-feedback", has_text="The amplitude is 0 to 30 mA")
    ).to_be_visible()
    expect(page.get_by_label("Amplitude (mA)")).to_be_focused()
    expect(page.get_by_label("Active contacts and polarity")).to_have_value("1+ 2- 3+")
    expect(page.get_by_label("Notes")).to_have_value("Coverage of the left leg improved")
    expect(page.get_by_label("Start")).to_have_value("15:05")
    expect(page.get_by_text("No programming recorded for this device.")).to_be_visible()
    page.keyboard.press("Control+A")
    page.keyboard.type("2.75")
    snap(page, "stimulator-adjustment")
    page.get_by_role("button", name="Save programming").press("Enter")

    # The programming history table shows it, with the CPT code's meaning.
    expect(page.get_by_role("status").first).to_contain_text("Recorded the programming")
    table = page.get_by_role("table", name=re.compile("Programming history of Abbott"))
    row = table.get_by_role("row").nth(1)
    for shown in (
        seeded["today"].isoformat(),
        "15:05",
        "Burst",
        "2.75",
        "40",
        "1000",
        "1+ 2- 3+",
        "650, 720, 810, 1200",
        "82 %",
        "95972",
        "Complex reprogramming",
        "7 → 3",
        "Coverage of the left leg improved",
    ):
        expect(row).to_contain_text(shown)
    snap(page, "stimulator-history")
    page.emulate_media(media="print")
    expect(page.get_by_role("link", name="Record programming")).to_be_hidden()
    snap(page, "stimulator-history-print")
    page.emulate_media(media="screen")

    # The visit it booked is on the schedule, completed (the physician's own column: other
    # journeys add physicians, and the grid shows eight a screen).
    page.goto(f"/schedule?date={seeded['today'].isoformat()}&physician=physician")
    expect(page.get_by_role("table")).to_contain_text(seeded["name"].split()[-1])


def test_programming_a_booked_visit_from_the_booking_page_completes_it(page, live_server):
    seeded = seed_implanted_patient(live_server, with_device=True)
    sign_in(page, live_server, "physician")
    page.goto(f"/schedule/bookings/{seeded['visit_id']}")
    page.get_by_role("link", name="Record programming").click()
    expect(page).to_have_url(
        re.compile(
            rf"/devices/{seeded['device_id']}/adjustments/new\?visit_id={seeded['visit_id']}$"
        )
    )
    expect(page.get_by_text("Saving the programming completes the visit.")).to_be_visible()
    expect(page.get_by_label("Program slot")).to_be_focused()
    page.keyboard.type("1")
    page.get_by_label("Paradigm").select_option(label="High-frequency 10 kHz")
    page.get_by_label("Amplitude (mA)").fill("2.2")
    page.get_by_label("Frequency (Hz)").fill("10000")
    page.get_by_label("Pulse width (µs)").fill("30")
    page.get_by_label("Programming done (CPT)").select_option("95971")
    page.get_by_label("Pain before").fill("6")
    page.get_by_label("Pain after").fill("4")
    snap(page, "stimulator-adjustment-booked-visit")
    page.get_by_role("button", name="Save programming").click()
    table = page.get_by_role("table", name=re.compile(f"serial {seeded['serial']}"))
    expect(table).to_contain_text("High-frequency 10 kHz")
    expect(table).to_contain_text("Simple reprogramming")
    expect(table).to_contain_text("6 → 4")
    page.goto(f"/schedule/bookings/{seeded['visit_id']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Completed")
    expect(page.get_by_role("link", name="Record programming")).to_have_count(0)
