"""Shared by the tests: moved out of tests.browser.test_worklist so no test module imports another."""

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select

from clinic import clock
from clinic.extensions import db
from clinic.models import Intervention, Patient, ProcedureType, StaffUser


def seed_calls(live_server, people: list[tuple[str, str, str, int]]) -> date:
    """Completed ESI-TF procedures whose 6-week call falls due ``days_overdue`` days ago.

    ``people`` holds (first name, last name, phone, days overdue); returns the clinic's today.
    """
    app = live_server.app
    with app.app_context():
        today = clock.clinic_today(app.config["CLINIC_TIMEZONE"])
        physician = db.session.execute(
            select(StaffUser).where(StaffUser.username == "dr.worklist")
        ).scalar_one_or_none()
        if physician is None:
            physician = StaffUser(
                username="dr.worklist",
                full_name="Dr. Imani Okafor",
                role="physician",
                password_hash=None,
            )
            db.session.add(physician)
        procedure = db.session.execute(
            select(ProcedureType).where(ProcedureType.code == "ESI-TF")
        ).scalar_one()
        count = db.session.execute(select(func.count()).select_from(Patient)).scalar_one()
        for n, (first_name, last_name, phone, days_overdue) in enumerate(people, start=count):
            patient = Patient(
                mrn=f"W{n:07d}",
                first_name=first_name,
                last_name=last_name,
                date_of_birth=date(1958, 4, 2 + n % 20),
                sex="female",
                phone=phone,
                condition="herniated_disc",
            )
            performed_on = today - timedelta(weeks=6, days=days_overdue)
            starts_at = datetime.combine(performed_on, time(8), tzinfo=UTC) + timedelta(hours=n)
            db.session.add(
                Intervention(
                    patient=patient,
                    physician=physician,
                    procedure_type=procedure,
                    starts_at=starts_at,
                    ends_at=starts_at + timedelta(minutes=30),
                    status="completed",
                    performed_on=performed_on,
                    baseline_nrs=7,
                    spinal_level="L4-L5",
                    laterality="left",
                )
            )
        db.session.commit()
    return today
