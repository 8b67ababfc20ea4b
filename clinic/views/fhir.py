"""FHIR R4 download of one patient's record, for sharing it with a hospital."""

import json

from flask import Blueprint, Response, current_app

from clinic.extensions import db
from clinic.security import role_required
from clinic.services.identity.audit import record_event
from clinic.services.interchange import fhir
from clinic.views.common import clinic_zone
from clinic.views.patients import get_patient_or_404

bp = Blueprint("fhir", __name__)

# Sharing a clinical record is a clinician's or an administrator's act (issue 6).
FHIR_EXPORTERS = ("physician", "admin")


@bp.route("/patients/<int:patient_id>/fhir.json")
@role_required(*FHIR_EXPORTERS)
def patient_bundle(patient_id: int):
    """The patient's FHIR Bundle as a download; audited as an export with its resource count."""
    patient = get_patient_or_404(patient_id)
    mrn, record_id = patient.mrn, patient.id
    data = fhir.bundle(
        db.session,
        clinic_zone(),
        patient.id,
        mrn_system=current_app.config["FHIR_MRN_SYSTEM"],
    )
    count = len(data.get("entry", []))
    record_event(
        db.session,
        "export",
        record_type="patient",
        record_id=record_id,
        details={"format": "fhir", "resources": count},
    )
    db.session.commit()
    body = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    # The MRN names the file; keep it to characters that are safe in a header and a file name.
    filename = "".join(c if c.isalnum() or c in "-_" else "_" for c in mrn) + "-fhir.json"
    return Response(
        body,
        content_type="application/fhir+json; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
