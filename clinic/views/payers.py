"""The payer's page: the printable one-page case for a planned procedure under the payer rules."""

from flask import Blueprint, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from clinic import clock
from clinic.extensions import db
from clinic.models import Patient, ProcedureType
from clinic.security import role_required
from clinic.services import DomainError
from clinic.services.identity.audit import record_event
from clinic.services.relief.payer_page import payer_view
from clinic.services.relief.payers import load_rules
from clinic.views.common import clinic_today, clinic_zone
from clinic.views.params import text_arg
from clinic.views.patients import get_patient_or_404

bp = Blueprint("payers", __name__, url_prefix="/patients")

PAYER_PAGE_ROLES = ("front_desk", "physician", "manager")


@bp.route("/<int:patient_id>/eligibility")
@role_required(*PAYER_PAGE_ROLES)
def eligibility(patient_id: int):
    """The payer's page for ``what`` at ``level``: rule, verdict and the scores that decided it."""
    patient = get_patient_or_404(patient_id)
    what = text_arg("what", 20)
    level = text_arg("level", 40)
    today = clinic_today()
    problem = None
    view = None
    try:
        view = payer_view(db.session, patient.id, what, level, today)
    except DomainError as error:
        problem = error
    codes = sorted({target for rule in load_rules(db.session) for target in rule.target_codes})
    page = render_template(
        "patients/eligibility.html",
        patient=patient,
        view=view,
        problem=problem,
        what=what,
        level=level,
        codes=codes,
        today=today,
        printed_at=clock.utcnow().astimezone(clinic_zone()),
        printed_by=current_user.full_name,
    )
    record_event(
        db.session,
        "view",
        record_type="patient",
        record_id=patient.id,
        details={"page": "eligibility", "what": what, "level": level},
    )
    db.session.commit()
    return page, 400 if problem is not None else 200


def payer_link(mrn: str | None, what: str | None) -> str | None:
    """The payer's page for the booking form's patient and procedure, when a rule names it."""
    if not mrn or not what or not what.startswith("procedure:"):
        return None
    try:
        procedure_id = int(what.removeprefix("procedure:"))
    except ValueError:
        return None
    if not 0 < procedure_id < 2**31:
        return None  # names no record
    patient_id = db.session.execute(
        select(Patient.id).where(Patient.mrn == mrn.strip(), Patient.archived.is_(False))
    ).scalar()
    code = db.session.execute(
        select(ProcedureType.code).where(ProcedureType.id == procedure_id)
    ).scalar()
    if patient_id is None or code is None:
        return None
    if not any(code in rule.target_codes for rule in load_rules(db.session)):
        return None
    return url_for("payers.eligibility", patient_id=patient_id, what=code)
