"""Shared by the tests: moved out of tests.browser.test_referrals so no test module imports another."""

import uuid
from datetime import date, timedelta

from clinic import clock
from clinic.extensions import db
from clinic.services.patients import PatientDetails, register_patient
from clinic.services.referrals import NewReferral, log_referral


def add_overdue_referral(live_server, days: int = 5) -> str:
    """An urgent referral nobody has triaged for ``days`` days; returns the patient's MRN."""
    tag = uuid.uuid4().hex[:6]
    with live_server.app.app_context():
        today = clock.clinic_today(live_server.app.config["CLINIC_TIMEZONE"])
        patient = register_patient(
            db.session,
            PatientDetails(
                first_name="Tomasz",
                last_name=f"Nowak{tag}",
                date_of_birth=date(1955, 2, 11),
                sex="male",
                condition="facet_joint_arthritis",
            ),
            today,
        )
        log_referral(
            db.session,
            NewReferral(
                patient_id=patient.id,
                referring_clinician="Dr. Helen Brooks",
                referring_practice="Northgate Medical Centre",
                received_on=today - timedelta(days=days),
                reason="Axial low back pain, worse on extension; consider medial branch blocks",
                urgency="urgent",
            ),
            today,
        )
        db.session.commit()
        return patient.mrn
