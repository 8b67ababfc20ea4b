"""Sharing a record in a real browser: a physician downloads the patient's FHIR bundle."""

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from playwright.sync_api import expect
from sqlalchemy import select

from clinic import clock
from clinic.extensions import db
from clinic.models import Intervention, PainScore, ProcedureType, StaffUser
from clinic.services.patients import PatientDetails, register_patient
from tests.browser.helpers.live import sign_in

pytestmark = pytest.mark.browser


def seed_treated_patient(live_server) -> dict:
    """A patient with a completed transforaminal injection and one follow-up score."""
    tag = uuid.uuid4().hex[:6]
    app = live_server.app
    with app.app_context():
        today = clock.clinic_today(app.config["CLINIC_TIMEZONE"])
        patient = register_patient(
            db.session,
            PatientDetails(
                first_name="Inès",
                last_name=f"Okafor{tag}",
                date_of_birth=date(1971, 9, 30),
                sex="female",
                condition="herniated_disc",
                phone="555-010-7720",
            ),
            today,
        )
        physician = StaffUser(
            username=f"dr.fhir{tag}", full_name=f"Dr. Lena Ortiz {tag}", role="physician"
        )
        performed_on = today - timedelta(days=21)
        starts_at = datetime.combine(performed_on, time(9), tzinfo=UTC)
        injection = Intervention(
            patient=patient,
            physician=physician,
            procedure_type=db.session.execute(
                select(ProcedureType).where(ProcedureType.code == "ESI-TF")
            ).scalar_one(),
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=30),
            status="completed",
            performed_on=performed_on,
            baseline_nrs=8,
            spinal_level="L5-S1",
            laterality="right",
        )
        score = PainScore(
            patient=patient,
            intervention=injection,
            recorded_on=performed_on + timedelta(days=14),
            nrs=3,
            source="phone",
        )
        db.session.add_all([physician, injection, score])
        db.session.commit()
        return {"patient_id": patient.id, "mrn": patient.mrn}


def test_a_physician_downloads_the_patients_fhir_record(page, live_server, tmp_path):
    seeded = seed_treated_patient(live_server)
    sign_in(page, live_server, "physician")
    page.goto(f"/patients/{seeded['patient_id']}")
    link = page.get_by_role("link", name="Download FHIR record")
    expect(link).to_be_visible()
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == f"{seeded['mrn']}-fhir.json"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["resourceType"] == "Bundle"
    assert data["type"] == "collection"
    Bundle.model_validate(data)
    kinds = sorted(entry["resource"]["resourceType"] for entry in data["entry"])
    assert kinds == ["Observation", "Patient", "Procedure"]


def test_the_front_desk_is_not_offered_the_fhir_download(page, live_server):
    seeded = seed_treated_patient(live_server)
    sign_in(page, live_server, "front_desk")
    page.goto(f"/patients/{seeded['patient_id']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(seeded["mrn"])
    expect(page.get_by_role("link", name="Download FHIR record")).to_have_count(0)
