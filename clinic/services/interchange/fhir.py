"""FHIR R4 export: a ``collection`` Bundle of Patient, Procedure, Observation and Device resources.

The bundle is what a hospital receives when a patient's record is shared (docs/formats.md):

- **Patient** for each active (not archived) patient: the MRN as identifier, name, birth date,
  administrative gender, phone and email.
- **Procedure** for each completed intervention: performed date, code, body site (spinal level
  and laterality as text), performer, complications, notes and the baseline pain.
- **Observation** for each pain score: LOINC 72514-3 with ``valueInteger`` 0–10, as the issue
  asks (docs/formats.md's FHIR section reads the same: an integer on the 0–10 scale).
- **Device** for each spinal cord stimulator; the implant Procedure names it as focal device.
- **MedicationAdministration** for each medication given at a completed intervention: the
  drug (the clinic's catalogue name, system ``urn:clinic:drug``), the dose in mg or the volume
  in mL (UCUM), the route/site as the dosage's text, and ``partOf`` its Procedure. The
  Procedure's notes say how it was guided, its fluoroscopy time and air kerma, and the sedation.

Coding decisions:

- **CPT.** The catalogue's CPT field may hold one code ("63650"), alternatives ("64479 / 64483":
  cervical/thoracic versus lumbar/sacral) or a range ("64490–64495": region and number of
  levels). Which of several codes applies is a coder's decision that the record does not make,
  so a CPT coding is sent only when the field holds exactly one five-character code; otherwise
  the Procedure has no CPT coding (sending the first code would often be the wrong one: 64479
  is cervical/thoracic, an L4-L5 injection is 64483). Every Procedure carries the clinic's own
  catalogue code (system ``urn:clinic:procedure-type``) and the procedure name as ``text``.
- **Observation → Procedure.** A follow-up pain score points at the procedure it follows up
  with ``Observation.partOf``, which R4 allows to reference a Procedure (``derivedFrom`` and
  ``basedOn`` do not; ``focus`` would mean the score is *about* someone other than the
  patient). Scores whose intervention is not completed carry no ``partOf``, so that every
  reference resolves inside the bundle.
- **Category** ``survey``: a patient-reported numeric rating is an assessment, not one of the
  vital signs of the FHIR vital-signs profile. The patient-reported percent relief, where
  recorded, is a component with a UCUM ``%`` quantity.
- **Identity.** Each entry's ``fullUrl`` is ``urn:uuid:`` + a UUID 5 of the record's table
  and id, and the resource's ``id`` is the same UUID: stable across exports of one database,
  so references are deterministic and a re-export can be compared line by line.

Loading is by chunks of patients (keyset on the id), each with five queries (patients;
completed interventions with their procedure types and physicians; pain scores; devices;
medications given),
so the number of statements depends on the number of chunks, never on the number of rows,
and ``write_bundle`` streams entries chunk by chunk with flat memory.
"""

import codecs
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import tzinfo
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from clinic import clock
from clinic.models import Intervention, MedicationGiven, PainScore, Patient, ScsDevice
from clinic.models.medications import GUIDANCE_LABELS, SEDATION_LABELS

DEFAULT_MRN_SYSTEM = "urn:clinic:mrn"
PROCEDURE_TYPE_SYSTEM = "urn:clinic:procedure-type"
DRUG_SYSTEM = "urn:clinic:drug"
CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
IDENTIFIER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
PAIN_SEVERITY_CODE = "72514-3"
PAIN_SEVERITY_DISPLAY = "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
# Where the UUID 5 of each record comes from; fixed, so that ids are stable across exports.
RECORD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:clinic:fhir")
CHUNK_SIZE = 500

SINGLE_CPT = re.compile(r"\d{4}[0-9A-Z]")
# FHIR strings may hold tabs and line breaks but no other control characters.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

SOURCE_METHODS = {
    "visit": "Clinic visit",
    "phone": "Telephone follow-up",
    "self_report": "Patient self-report",
    "import": "Imported from another system",
}
CATEGORY_LABELS = {
    "epidural": "Epidural injection",
    "facet": "Facet procedure",
    "ablation": "Radiofrequency ablation",
    "neuromodulation": "Neuromodulation",
    "other": "Other procedure",
}


def full_url(kind: str, record_id: int) -> str:
    """The deterministic ``urn:uuid:`` of a record: the same record always gets the same one."""
    return f"urn:uuid:{uuid.uuid5(RECORD_NAMESPACE, f'{kind}/{record_id}')}"


def cpt_coding(cpt_code: str | None) -> dict[str, str] | None:
    """A CPT coding when the catalogue names exactly one code; alternatives and ranges get none."""
    code = (cpt_code or "").strip()
    if not SINGLE_CPT.fullmatch(code):
        return None
    return {"system": CPT_SYSTEM, "code": code}


def _text(value: str | None) -> str | None:
    """Free text as FHIR takes it: no control characters, and absent rather than empty."""
    if value is None:
        return None
    cleaned = CONTROL_CHARACTERS.sub("", value).strip()
    return cleaned or None


def _entry(url: str, resource: dict[str, Any]) -> dict[str, Any]:
    """A bundle entry whose resource id is the UUID of its ``fullUrl``."""
    kind = resource.pop("resourceType")
    identified = {"resourceType": kind, "id": url.removeprefix("urn:uuid:"), **resource}
    return {"fullUrl": url, "resource": identified}


def _reference(url: str, display: str | None = None) -> dict[str, str]:
    reference = {"reference": url}
    if display:
        reference["display"] = display
    return reference


def patient_resource(patient: Patient, mrn_system: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": "MR"}],
                    "text": "Medical record number",
                },
                "system": mrn_system,
                "value": patient.mrn,
            }
        ],
        "active": True,
        "name": [
            {
                "use": "official",
                "text": _text(patient.full_name),
                "family": _text(patient.last_name),
                "given": [_text(patient.first_name)],
            }
        ],
        "gender": patient.sex,  # stored with FHIR's administrative-gender values
        "birthDate": patient.date_of_birth.isoformat(),
    }
    telecom = []
    if phone := _text(patient.phone):
        telecom.append({"system": "phone", "value": phone})
    if email := _text(patient.email):
        telecom.append({"system": "email", "value": email})
    if telecom:
        resource["telecom"] = telecom
    return resource


def body_site_text(intervention: Intervention) -> str | None:
    """Spinal level and side as one phrase, e.g. ``L4-L5, left``."""
    parts = [_text(intervention.spinal_level), _text(intervention.laterality)]
    return ", ".join(part for part in parts if part) or None


def procedure_resource(
    intervention: Intervention, patient_url: str, device_urls: list[str]
) -> dict[str, Any]:
    procedure_type = intervention.procedure_type
    codings = [
        {
            "system": PROCEDURE_TYPE_SYSTEM,
            "code": procedure_type.code,
            "display": procedure_type.name,
        }
    ]
    if cpt := cpt_coding(procedure_type.cpt_code):
        codings.insert(0, cpt)
    resource: dict[str, Any] = {
        "resourceType": "Procedure",
        "status": "completed",
        "category": {"text": CATEGORY_LABELS.get(procedure_type.category, procedure_type.category)},
        "code": {"coding": codings, "text": _text(procedure_type.name)},
        "subject": _reference(patient_url),
        # A performed date is a date: FHIR's dateTime takes one as it is.
        "performedDateTime": intervention.performed_on.isoformat(),
        "performer": [{"actor": {"display": _text(intervention.physician.full_name)}}],
    }
    if site := body_site_text(intervention):
        resource["bodySite"] = [{"text": site}]
    if complications := _text(intervention.complications):
        resource["complication"] = [{"text": complications}]
    if device_urls:
        resource["focalDevice"] = [{"manipulated": _reference(url)} for url in device_urls]
    notes = []
    if intervention.baseline_nrs is not None:
        notes.append(
            {"text": f"Baseline pain before the procedure: {intervention.baseline_nrs}/10 (NRS)."}
        )
    if radiation := radiation_text(intervention):
        notes.append({"text": radiation})
    if text := _text(intervention.notes):
        notes.append({"text": text})
    if notes:
        resource["note"] = notes
    return resource


def radiation_text(intervention: Intervention) -> str | None:
    """Guidance, fluoroscopy time, air kerma and sedation as one sentence, when recorded."""
    parts = []
    if intervention.guidance:
        parts.append(f"Guidance: {GUIDANCE_LABELS[intervention.guidance].lower()}")
    if intervention.fluoro_seconds is not None:
        parts.append(f"fluoroscopy time {intervention.fluoro_seconds} s")
    if intervention.air_kerma_mgy is not None:
        parts.append(f"air kerma {intervention.air_kerma_mgy} mGy")
    if intervention.sedation:
        parts.append(f"sedation: {SEDATION_LABELS[intervention.sedation].lower()}")
    return "; ".join(parts) + "." if parts else None


def _number(value) -> int | float:
    """A stored decimal as a JSON number: whole numbers without a fraction."""
    return int(value) if value == int(value) else float(value)


def medication_resource(
    medication: MedicationGiven, intervention: Intervention, patient_url: str, procedure_url: str
) -> dict[str, Any]:
    drug = medication.drug
    unit = "mL" if medication.volume_ml is not None else "mg"
    amount = medication.volume_ml if medication.volume_ml is not None else medication.dose_mg
    dosage: dict[str, Any] = {
        "dose": {"value": _number(amount), "unit": unit, "system": UCUM_SYSTEM, "code": unit}
    }
    if site := _text(medication.route_site):
        dosage["text"] = site
    return {
        "resourceType": "MedicationAdministration",
        "status": "completed",
        "medicationCodeableConcept": {
            "coding": [{"system": DRUG_SYSTEM, "code": drug.name}],
            "text": drug.name,
        },
        "subject": _reference(patient_url),
        "partOf": [_reference(procedure_url)],
        "effectiveDateTime": intervention.performed_on.isoformat(),
        "dosage": dosage,
    }


def observation_resource(
    score: PainScore, patient_url: str, procedure_url: str | None
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": OBSERVATION_CATEGORY_SYSTEM, "code": "survey", "display": "Survey"}
                ]
            }
        ],
        "code": {
            "coding": [
                {
                    "system": LOINC_SYSTEM,
                    "code": PAIN_SEVERITY_CODE,
                    "display": PAIN_SEVERITY_DISPLAY,
                }
            ],
            "text": "Pain severity (NRS 0-10)",
        },
        "subject": _reference(patient_url),
        "effectiveDateTime": score.recorded_on.isoformat(),
        "valueInteger": score.nrs,
        "method": {"text": SOURCE_METHODS.get(score.source, score.source)},
    }
    if procedure_url:
        # The procedure this score follows up (R4 allows Observation.partOf → Procedure).
        resource["partOf"] = [_reference(procedure_url)]
    if score.percent_relief is not None:
        resource["component"] = [
            {
                "code": {"text": "Patient-reported pain relief since the procedure"},
                "valueQuantity": {
                    "value": score.percent_relief,
                    "unit": "%",
                    "system": UCUM_SYSTEM,
                    "code": "%",
                },
            }
        ]
    return resource


def device_resource(device: ScsDevice, patient_url: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Device",
        # An explanted stimulator is no longer in use.
        "status": "inactive" if device.explanted_on else "active",
        "manufacturer": _text(device.manufacturer),
        "serialNumber": _text(device.serial_number),
        "deviceName": [{"name": _text(device.model), "type": "model-name"}],
        "type": {"text": "Spinal cord stimulator"},
        "patient": _reference(patient_url),
    }
    notes = [f"Implanted {device.implanted_on.isoformat()}."]
    if leads := _text(device.lead_locations):
        notes.append(f"Lead locations: {leads}.")
    if device.explanted_on:
        reason = _text(device.explant_reason)
        notes.append(
            f"Explanted {device.explanted_on.isoformat()}" + (f": {reason}" if reason else ".")
        )
    resource["note"] = [{"text": " ".join(notes)}]
    return resource


def _patient_chunks(
    session: Session, patient_id: int | None, chunk_size: int
) -> Iterator[list[Patient]]:
    """Active patients in id order, a chunk at a time (keyset, so each chunk is one query)."""
    after = 0
    while True:
        statement = (
            select(Patient)
            .where(Patient.archived.is_(False), Patient.id > after)
            .order_by(Patient.id)
            .limit(chunk_size)
        )
        if patient_id is not None:
            statement = statement.where(Patient.id == patient_id)
        patients = list(session.execute(statement).scalars())
        if patients:
            yield patients
        if len(patients) < chunk_size:
            return
        after = patients[-1].id


def _chunk_entries(session: Session, patients: list[Patient], mrn_system: str) -> Iterator[dict]:
    """The entries of one chunk of patients, each patient followed by what hangs off them."""
    ids = [patient.id for patient in patients]
    interventions = defaultdict(list)
    for intervention in session.execute(
        select(Intervention)
        .options(joinedload(Intervention.procedure_type), joinedload(Intervention.physician))
        .where(
            Intervention.patient_id.in_(ids),
            Intervention.status == "completed",
            Intervention.performed_on.is_not(None),
        )
        .order_by(Intervention.performed_on, Intervention.id)
    ).scalars():
        interventions[intervention.patient_id].append(intervention)
    medications = defaultdict(list)
    for medication in session.execute(
        select(MedicationGiven)
        .join(Intervention, Intervention.id == MedicationGiven.intervention_id)
        .where(
            Intervention.patient_id.in_(ids),
            Intervention.status == "completed",
            Intervention.performed_on.is_not(None),
        )
        .order_by(MedicationGiven.id)
    ).scalars():
        medications[medication.intervention_id].append(medication)
    scores = defaultdict(list)
    for score in session.execute(
        select(PainScore)
        .where(PainScore.patient_id.in_(ids))
        .order_by(PainScore.recorded_on, PainScore.id)
    ).scalars():
        scores[score.patient_id].append(score)
    devices = defaultdict(list)
    for device in session.execute(
        select(ScsDevice)
        .where(ScsDevice.patient_id.in_(ids))
        .order_by(ScsDevice.implanted_on, ScsDevice.id)
    ).scalars():
        devices[device.patient_id].append(device)

    for patient in patients:
        patient_url = full_url("patient", patient.id)
        yield _entry(patient_url, patient_resource(patient, mrn_system))
        implanted: dict[int, list[str]] = defaultdict(list)
        for device in devices[patient.id]:
            if device.implant_intervention_id is not None:
                implanted[device.implant_intervention_id].append(full_url("device", device.id))
        procedure_urls = {}
        for intervention in interventions[patient.id]:
            url = full_url("intervention", intervention.id)
            procedure_urls[intervention.id] = url
            yield _entry(
                url, procedure_resource(intervention, patient_url, implanted[intervention.id])
            )
            for medication in medications[intervention.id]:
                yield _entry(
                    full_url("medication_given", medication.id),
                    medication_resource(medication, intervention, patient_url, url),
                )
        for device in devices[patient.id]:
            yield _entry(full_url("device", device.id), device_resource(device, patient_url))
        for score in scores[patient.id]:
            yield _entry(
                full_url("pain_score", score.id),
                observation_resource(score, patient_url, procedure_urls.get(score.intervention_id)),
            )


def bundle_entries(
    session: Session,
    patient_id: int | None = None,
    *,
    mrn_system: str = DEFAULT_MRN_SYSTEM,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[dict[str, Any]]:
    """Every entry of the bundle, patient by patient, loading a chunk of patients at a time."""
    for patients in _patient_chunks(session, patient_id, chunk_size):
        yield from _chunk_entries(session, patients, mrn_system)


def _header(zone: tzinfo | str) -> dict[str, Any]:
    zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    return {
        "resourceType": "Bundle",
        "type": "collection",
        # When the bundle was assembled, on the clinic's clock.
        "timestamp": clock.utcnow().astimezone(zone).isoformat(timespec="seconds"),
    }


def bundle(
    session: Session,
    zone: tzinfo | str,
    patient_id: int | None = None,
    *,
    mrn_system: str = DEFAULT_MRN_SYSTEM,
    chunk_size: int = CHUNK_SIZE,
) -> dict[str, Any]:
    """The FHIR R4 collection Bundle of one patient, or of every active patient, as a dict."""
    data = _header(zone)
    entries = list(
        bundle_entries(session, patient_id, mrn_system=mrn_system, chunk_size=chunk_size)
    )
    if entries:  # FHIR JSON has no empty arrays
        data["entry"] = entries
    return data


def write_bundle(
    session: Session,
    out: TextIO,
    zone: tzinfo | str,
    patient_id: int | None = None,
    *,
    mrn_system: str = DEFAULT_MRN_SYSTEM,
    chunk_size: int = CHUNK_SIZE,
) -> int:
    """Write the Bundle as JSON to a text stream, one entry per line; return how many resources.

    Entries are written as they are built, so memory stays flat however large the clinic.
    A stream that cannot encode every character (standard output under an ASCII locale) gets
    JSON's ``\\u`` escapes instead, which read back the same.
    """
    encoding = getattr(out, "encoding", None)
    ascii_only = bool(encoding) and codecs.lookup(encoding).name != "utf-8"
    header = json.dumps(_header(zone), ensure_ascii=ascii_only)
    out.write(header[:-1])  # the header object, left open for the entries
    count = 0
    for entry in bundle_entries(session, patient_id, mrn_system=mrn_system, chunk_size=chunk_size):
        out.write(',\n"entry": [\n' if count == 0 else ",\n")
        out.write(json.dumps(entry, ensure_ascii=ascii_only))
        count += 1
    out.write("\n]}\n" if count else "}\n")
    return count
