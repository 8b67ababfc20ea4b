"""FHIR R4 export (issue 6 item 2): the Bundle validates against an independent model library.

``fhir.resources`` (its R4B models, the same as R4 for Patient, Procedure, Observation and
Device) is the judge of validity; these tests add what a schema cannot see: references that
resolve inside the bundle, the codes and values sent, archived patients left out, a bounded
number of queries, and the download's access, headers and audit row.
"""

import io
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from clinic.models import AuditEvent, ScsDevice
from clinic.services.interchange import fhir
from tests.factories import (
    InterventionFactory,
    PainScoreFactory,
    PatientFactory,
    PhysicianFactory,
    procedure_type,
)
from tests.helpers.statement_count import count_statements

PERFORMED = date(2025, 3, 10)
ZONE = "America/New_York"


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def completed(patient, code: str, day: date, hour: int = 9, **kwargs):
    return InterventionFactory(
        patient=patient,
        procedure_type=procedure_type(code),
        starts_at=at(day, hour),
        ends_at=at(day, hour + 1),
        status="completed",
        performed_on=day,
        **kwargs,
    )


@pytest.fixture
def clinic(db_session) -> dict:
    """Two active patients (one with a stimulator history) and one archived patient."""
    physician = PhysicianFactory(full_name="Dr. Priya Raman")
    ana = PatientFactory(
        first_name="Ana",
        last_name="Lindqvist",
        date_of_birth=date(1958, 2, 14),
        sex="female",
        phone="555-010-4411",
        email="ana@example.org",
    )
    esi = completed(
        ana,
        "ESI-TF",
        PERFORMED,
        physician=physician,
        baseline_nrs=7,
        spinal_level="L4-L5",
        laterality="left",
        complications="Transient leg numbness",
        notes="Contrast spread confirmed.",
    )
    implant = completed(
        ana,
        "SCS-IMPLANT",
        PERFORMED + timedelta(days=90),
        physician=physician,
        baseline_nrs=8,
        spinal_level="T8-T10",
        laterality="midline",
    )
    planned = InterventionFactory(
        patient=ana,
        physician=physician,
        procedure_type=procedure_type("RFA"),
        starts_at=at(PERFORMED + timedelta(days=200), 9),
        ends_at=at(PERFORMED + timedelta(days=200), 10),
    )
    relieved = PainScoreFactory(
        intervention=esi,
        patient_id=ana.id,
        recorded_on=PERFORMED + timedelta(days=14),
        nrs=2,
        percent_relief=75,
        source="phone",
    )
    unrelieved = PainScoreFactory(
        intervention=esi,
        patient_id=ana.id,
        recorded_on=PERFORMED + timedelta(days=42),
        nrs=6,
        source="visit",
    )
    # A score against a booking that was never completed: no Procedure to point at.
    stray = PainScoreFactory(
        intervention=planned,
        patient_id=ana.id,
        recorded_on=PERFORMED + timedelta(days=150),
        nrs=5,
        source="self_report",
    )
    stimulator = ScsDevice(
        patient=ana,
        implant_intervention=implant,
        manufacturer="Abbott",
        model="Proclaim XR",
        serial_number="FHIR-SN-0001",
        lead_locations="T8-T10, two percutaneous leads",
        implanted_on=implant.performed_on,
    )
    trial_device = ScsDevice(
        patient=ana,
        manufacturer="Medtronic",
        model="Intellis",
        serial_number="FHIR-SN-0002",
        implanted_on=date(2023, 5, 2),
        explanted_on=date(2024, 6, 1),
        explant_reason="Infection",
    )
    db_session.add_all([stimulator, trial_device])

    ben = PatientFactory(first_name="Ben", sex="unknown", phone=None, email=None)
    mbb = completed(ben, "MBB", PERFORMED, 11, physician=physician, baseline_nrs=6)

    archived = PatientFactory(first_name="Gone", archived=True)
    hidden = completed(archived, "RFA", PERFORMED, 13, physician=physician, baseline_nrs=5)
    PainScoreFactory(intervention=hidden, patient_id=archived.id, recorded_on=PERFORMED)
    db_session.add(
        ScsDevice(
            patient=archived,
            manufacturer="Boston Scientific",
            model="WaveWriter Alpha",
            serial_number="FHIR-SN-ARCHIVED",
            implanted_on=date(2024, 1, 1),
        )
    )
    db_session.flush()
    return {
        "ana": ana,
        "ben": ben,
        "archived": archived,
        "esi": esi,
        "implant": implant,
        "planned": planned,
        "mbb": mbb,
        "relieved": relieved,
        "unrelieved": unrelieved,
        "stray": stray,
        "stimulator": stimulator,
        "trial_device": trial_device,
    }


def resources(data: dict, kind: str | None = None) -> list[dict]:
    return [
        entry["resource"]
        for entry in data.get("entry", [])
        if kind is None or entry["resource"]["resourceType"] == kind
    ]


def references(node) -> list[str]:
    """Every ``reference`` anywhere in a resource."""
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in references(value)]
    return []


def url_of(kind: str, record) -> str:
    return fhir.full_url(kind, record.id)


def by_url(data: dict) -> dict[str, dict]:
    return {entry["fullUrl"]: entry["resource"] for entry in data["entry"]}


def test_whole_clinic_bundle_validates_against_the_fhir_r4b_models(db_session, clinic):
    data = fhir.bundle(db_session, ZONE)
    validated = Bundle.model_validate(data)
    assert validated.type == "collection"
    kinds = [entry["resource"]["resourceType"] for entry in data["entry"]]
    assert kinds.count("Patient") >= 2
    assert {"Procedure", "Observation", "Device"} <= set(kinds)
    assert json.loads(json.dumps(data)) == data  # plain JSON, nothing Python-only


def test_per_patient_bundle_validates_and_holds_only_that_patient(db_session, clinic):
    ana = clinic["ana"]
    data = fhir.bundle(db_session, ZONE, ana.id)
    Bundle.model_validate(data)
    patients = resources(data, "Patient")
    assert [p["identifier"][0]["value"] for p in patients] == [ana.mrn]
    ana_url = url_of("patient", ana)
    for resource in resources(data):
        if resource["resourceType"] != "Patient":
            owner = resource.get("subject") or resource.get("patient")
            assert owner == {"reference": ana_url}
    # Two completed procedures, two devices, three scores (the planned RFA is no Procedure).
    assert len(resources(data, "Procedure")) == 2
    assert len(resources(data, "Device")) == 2
    assert len(resources(data, "Observation")) == 3


def test_every_reference_resolves_inside_the_bundle(db_session, clinic):
    for data in (fhir.bundle(db_session, ZONE), fhir.bundle(db_session, ZONE, clinic["ana"].id)):
        urls = [entry["fullUrl"] for entry in data["entry"]]
        assert len(urls) == len(set(urls))
        for entry in data["entry"]:
            assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
            uuid.UUID(entry["resource"]["id"])
            for reference in references(entry["resource"]):
                assert reference in urls, f"{reference} does not resolve"


def test_full_urls_are_deterministic_from_the_record_ids(db_session, clinic):
    first = [entry["fullUrl"] for entry in fhir.bundle(db_session, ZONE)["entry"]]
    second = [entry["fullUrl"] for entry in fhir.bundle(db_session, ZONE)["entry"]]
    assert first == second
    assert fhir.full_url("patient", 1) != fhir.full_url("intervention", 1)
    assert url_of("patient", clinic["ana"]) in first


def test_patient_carries_mrn_name_birth_date_gender_and_telecom(db_session, clinic):
    ana, ben = clinic["ana"], clinic["ben"]
    data = fhir.bundle(db_session, ZONE)
    patient = by_url(data)[url_of("patient", ana)]
    identifier = patient["identifier"][0]
    assert identifier["system"] == "urn:clinic:mrn"
    assert identifier["value"] == ana.mrn
    assert identifier["type"]["coding"][0]["code"] == "MR"
    assert patient["name"][0]["family"] == "Lindqvist"
    assert patient["name"][0]["given"] == ["Ana"]
    assert patient["birthDate"] == "1958-02-14"
    assert patient["gender"] == "female"
    assert patient["telecom"] == [
        {"system": "phone", "value": "555-010-4411"},
        {"system": "email", "value": "ana@example.org"},
    ]
    without_contact = by_url(data)[url_of("patient", ben)]
    assert without_contact["gender"] == "unknown"
    assert "telecom" not in without_contact


def test_the_mrn_system_can_be_chosen(db_session, clinic):
    data = fhir.bundle(db_session, ZONE, clinic["ben"].id, mrn_system="urn:oid:1.2.3.4")
    Bundle.model_validate(data)
    assert resources(data, "Patient")[0]["identifier"][0]["system"] == "urn:oid:1.2.3.4"


def test_procedure_has_performed_date_codes_body_site_performer_and_notes(db_session, clinic):
    data = fhir.bundle(db_session, ZONE)
    procedure = by_url(data)[url_of("intervention", clinic["esi"])]
    assert procedure["status"] == "completed"
    assert procedure["subject"] == {"reference": url_of("patient", clinic["ana"])}
    assert procedure["performedDateTime"] == PERFORMED.isoformat()
    assert procedure["code"]["text"] == "Transforaminal epidural steroid injection"
    # "64479 / 64483" names alternatives, not one code: no CPT coding, the catalogue code only.
    assert procedure["code"]["coding"] == [
        {
            "system": "urn:clinic:procedure-type",
            "code": "ESI-TF",
            "display": "Transforaminal epidural steroid injection",
        }
    ]
    assert procedure["bodySite"] == [{"text": "L4-L5, left"}]
    assert procedure["performer"] == [{"actor": {"display": "Dr. Priya Raman"}}]
    assert procedure["complication"] == [{"text": "Transient leg numbness"}]
    notes = [note["text"] for note in procedure["note"]]
    assert "Baseline pain before the procedure: 7/10 (NRS)." in notes
    assert "Contrast spread confirmed." in notes


def test_procedure_is_coded_with_cpt_where_the_catalogue_names_one_code(db_session, clinic):
    data = fhir.bundle(db_session, ZONE)
    implant = by_url(data)[url_of("intervention", clinic["implant"])]
    assert implant["code"]["coding"][0] == {
        "system": "http://www.ama-assn.org/go/cpt",
        "code": "63685",
    }
    assert implant["code"]["coding"][1]["code"] == "SCS-IMPLANT"
    mbb = by_url(data)[url_of("intervention", clinic["mbb"])]  # CPT "64490–64495": a range
    assert [coding["system"] for coding in mbb["code"]["coding"]] == ["urn:clinic:procedure-type"]
    assert "bodySite" not in mbb


@pytest.mark.parametrize(
    ("catalogue", "expected"),
    [
        ("63650", "63650"),
        (" 62323 ", "62323"),
        ("0275T", "0275T"),
        ("64479 / 64483", None),
        ("64490–64495", None),
        ("64633-64636", None),
        ("", None),
        (None, None),
    ],
)
def test_cpt_coding_only_for_a_single_code(catalogue, expected):
    coding = fhir.cpt_coding(catalogue)
    assert (coding["code"] if coding else None) == expected


def test_only_completed_interventions_become_procedures(db_session, clinic):
    urls = by_url(fhir.bundle(db_session, ZONE))
    assert url_of("intervention", clinic["planned"]) not in urls


def test_pain_score_is_a_loinc_pain_severity_observation_part_of_its_procedure(db_session, clinic):
    data = fhir.bundle(db_session, ZONE)
    observation = by_url(data)[url_of("pain_score", clinic["relieved"])]
    assert observation["status"] == "final"
    assert observation["code"]["coding"] == [
        {
            "system": "http://loinc.org",
            "code": "72514-3",
            "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
        }
    ]
    assert observation["category"][0]["coding"][0]["code"] == "survey"
    assert observation["valueInteger"] == 2
    assert observation["effectiveDateTime"] == (PERFORMED + timedelta(days=14)).isoformat()
    assert observation["subject"] == {"reference": url_of("patient", clinic["ana"])}
    assert observation["partOf"] == [{"reference": url_of("intervention", clinic["esi"])}]
    relief = observation["component"][0]["valueQuantity"]
    assert relief == {"value": 75, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}

    unrelieved = by_url(data)[url_of("pain_score", clinic["unrelieved"])]
    assert unrelieved["valueInteger"] == 6
    assert "component" not in unrelieved
    values = [o["valueInteger"] for o in resources(data, "Observation")]
    assert all(isinstance(v, int) and 0 <= v <= 10 for v in values)


def test_score_of_an_uncompleted_booking_points_at_no_procedure(db_session, clinic):
    observation = by_url(fhir.bundle(db_session, ZONE))[url_of("pain_score", clinic["stray"])]
    assert observation["valueInteger"] == 5
    assert "partOf" not in observation


def test_stimulators_are_devices_active_until_explanted(db_session, clinic):
    data = fhir.bundle(db_session, ZONE)
    implanted = by_url(data)[url_of("device", clinic["stimulator"])]
    assert implanted["status"] == "active"
    assert implanted["manufacturer"] == "Abbott"
    assert implanted["deviceName"] == [{"name": "Proclaim XR", "type": "model-name"}]
    assert implanted["serialNumber"] == "FHIR-SN-0001"
    assert implanted["patient"] == {"reference": url_of("patient", clinic["ana"])}
    assert "T8-T10, two percutaneous leads" in implanted["note"][0]["text"]
    explanted = by_url(data)[url_of("device", clinic["trial_device"])]
    assert explanted["status"] == "inactive"
    assert "Explanted 2024-06-01: Infection" in explanted["note"][0]["text"]
    # The implant procedure names the stimulator it put in.
    implant = by_url(data)[url_of("intervention", clinic["implant"])]
    assert implant["focalDevice"] == [
        {"manipulated": {"reference": url_of("device", clinic["stimulator"])}}
    ]


def test_archived_patients_and_their_records_are_left_out(db_session, clinic):
    archived = clinic["archived"]
    text = json.dumps(fhir.bundle(db_session, ZONE))
    assert archived.mrn not in text
    assert "FHIR-SN-ARCHIVED" not in text
    assert url_of("patient", archived) not in text
    alone = fhir.bundle(db_session, ZONE, archived.id)
    assert "entry" not in alone
    Bundle.model_validate(alone)


def test_write_bundle_streams_the_same_bundle_to_a_text_file(db_session, clinic, tmp_path):
    path = tmp_path / "bundle.json"
    with path.open("w", encoding="utf-8") as out:
        count = fhir.write_bundle(db_session, out, ZONE)
    written = json.loads(path.read_text(encoding="utf-8"))
    Bundle.model_validate(written)
    in_memory = fhir.bundle(db_session, ZONE)
    assert count == len(written["entry"]) == len(in_memory["entry"])
    assert written["entry"] == in_memory["entry"]
    assert written["timestamp"].endswith(("-04:00", "-05:00"))  # the clinic's clock


def test_write_bundle_escapes_what_a_narrow_stream_cannot_encode(db_session, clinic):
    PatientFactory(first_name="Zoë", last_name="Nuñez")
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    fhir.write_bundle(db_session, out, ZONE)
    out.flush()
    written = json.loads(raw.getvalue().decode("ascii"))
    Bundle.model_validate(written)
    assert ["Zoë"] in [p["name"][0]["given"] for p in resources(written, "Patient")]
    utf8 = io.StringIO()
    fhir.write_bundle(db_session, utf8, ZONE)
    assert "Zoë" in utf8.getvalue()  # a stream that takes any character gets it as it is


def test_write_bundle_of_nobody_is_still_a_valid_bundle(db_session, clinic):
    out = io.StringIO()
    assert fhir.write_bundle(db_session, out, ZONE, clinic["archived"].id) == 0
    written = json.loads(out.getvalue())
    Bundle.model_validate(written)
    assert written["type"] == "collection" and "entry" not in written


def test_chunked_loading_gives_the_same_entries(db_session, clinic):
    PatientFactory.create_batch(5)
    whole = fhir.bundle(db_session, ZONE)["entry"]
    out = io.StringIO()
    count = fhir.write_bundle(db_session, out, ZONE, chunk_size=2)
    assert json.loads(out.getvalue())["entry"] == whole
    assert count == len(whole)


def add_patients_with_records(db_session, count: int) -> None:
    physician = PhysicianFactory()
    for index in range(count):
        patient = PatientFactory()
        day = PERFORMED + timedelta(days=index)
        intervention = completed(patient, "SCS-IMPLANT", day, physician=physician, baseline_nrs=7)
        for week in (2, 6):
            PainScoreFactory(
                intervention=intervention,
                patient_id=patient.id,
                recorded_on=day + timedelta(weeks=week),
                nrs=3,
            )
        device = ScsDevice(
            patient=patient,
            implant_intervention=intervention,
            manufacturer="Nevro",
            model="Senza",
            serial_number=f"COUNT-{uuid.uuid4().hex[:10]}",
            implanted_on=day,
        )
        db_session.add(device)


def test_statement_count_does_not_grow_with_the_data(app, db_session):
    def statements_for(count: int) -> int:
        add_patients_with_records(db_session, count)
        db_session.flush()
        db_session.expire_all()
        with count_statements(app) as counter:
            data = fhir.bundle(db_session, ZONE)
        assert len(resources(data, "Device")) >= count
        return counter.count

    few, many = statements_for(2), statements_for(12)
    assert few == many
    # patients, interventions (with types and physicians), medications given, scores, devices
    assert many <= 5


# The download on the patient's page.


def download(client, patient) -> object:
    return client.get(f"/patients/{patient.id}/fhir.json")


@pytest.mark.parametrize("role", ["physician", "admin"])
def test_physicians_and_admins_download_the_patients_bundle(client, login, clinic, role):
    login(role)
    response = download(client, clinic["ana"])
    assert response.status_code == 200
    assert response.mimetype == "application/fhir+json"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f'filename="{clinic["ana"].mrn}-fhir.json"' in disposition
    assert "no-store" in response.headers["Cache-Control"]
    data = json.loads(response.get_data(as_text=True))
    Bundle.model_validate(data)
    assert [p["identifier"][0]["value"] for p in resources(data, "Patient")] == [clinic["ana"].mrn]


@pytest.mark.parametrize("role", ["front_desk", "manager"])
def test_other_roles_cannot_download_the_bundle(client, login, clinic, role):
    login(role)
    assert download(client, clinic["ana"]).status_code == 403


def test_the_download_is_audited_as_an_export_with_the_resource_count(
    client, login, clinic, db_session
):
    user = login("physician")
    response = download(client, clinic["ana"])
    count = len(json.loads(response.get_data(as_text=True))["entry"])
    rows = (
        db_session.execute(
            select(AuditEvent).where(AuditEvent.action == "export", AuditEvent.actor_id == user.id)
        )
        .scalars()
        .all()
    )
    assert len(rows) == 1
    assert rows[0].record_type == "patient"
    assert rows[0].record_id == str(clinic["ana"].id)
    assert rows[0].details == {"format": "fhir", "resources": count}
    assert count == 8  # the patient, 2 procedures, 2 devices, 3 scores


def test_an_archived_patient_cannot_be_downloaded(client, login, clinic):
    login("physician")
    assert download(client, clinic["archived"]).status_code == 404


def test_the_mrn_system_comes_from_the_configuration(app, client, login, clinic, monkeypatch):
    monkeypatch.setitem(app.config, "FHIR_MRN_SYSTEM", "https://hospital.example/mrn")
    login("admin")
    data = json.loads(download(client, clinic["ben"]).get_data(as_text=True))
    assert resources(data, "Patient")[0]["identifier"][0]["system"] == (
        "https://hospital.example/mrn"
    )


@pytest.mark.parametrize(
    ("role", "shown"),
    [("physician", True), ("admin", True), ("front_desk", False), ("manager", False)],
)
def test_the_patient_page_links_the_download_for_those_who_may_use_it(
    client, login, clinic, role, shown
):
    login(role)
    page = client.get(f"/patients/{clinic['ana'].id}").get_data(as_text=True)
    assert ("Download FHIR record" in page) is shown
    assert (f"/patients/{clinic['ana'].id}/fhir.json" in page) is shown
