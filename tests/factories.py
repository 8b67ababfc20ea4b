"""factory_boy factories bound to the current test's session."""

from datetime import UTC, date, datetime, time, timedelta

import factory
from factory.alchemy import SQLAlchemyModelFactory

from clinic import clock
from clinic.models import (
    Intervention,
    PainScore,
    Patient,
    ProcedureType,
    Referral,
    Room,
    StaffUser,
    Visit,
)

_session = None


def bind(session) -> None:
    global _session
    _session = session


class BaseFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: _session  # noqa: E731
        sqlalchemy_session_persistence = "flush"


class PatientFactory(BaseFactory):
    class Meta:
        model = Patient

    mrn = factory.Sequence(lambda n: f"T{n:07d}")
    first_name = factory.Iterator(["Ana", "Ben", "Chloé", "Dev"])
    last_name = factory.Sequence(lambda n: f"Testperson{n}")
    date_of_birth = date(1960, 5, 17)
    sex = "female"
    phone = "555-010-0000"
    condition = "herniated_disc"


class PhysicianFactory(BaseFactory):
    class Meta:
        model = StaffUser

    username = factory.Sequence(lambda n: f"dr.test{n}")
    full_name = factory.Sequence(lambda n: f"Dr. Test {n}")
    role = "physician"
    password_hash = None


class RoomFactory(BaseFactory):
    class Meta:
        model = Room

    name = factory.Sequence(lambda n: f"Room {n}")


class ReferralFactory(BaseFactory):
    class Meta:
        model = Referral

    patient = factory.SubFactory(PatientFactory)
    referring_clinician = "Dr. Family Practice"
    received_on = factory.LazyFunction(lambda: clock.utcnow().date())
    reason = "Low back pain radiating to the left leg"
    condition = "herniated_disc"
    urgency = "routine"


def procedure_type(code: str) -> ProcedureType:
    from sqlalchemy import select

    return _session.execute(select(ProcedureType).where(ProcedureType.code == code)).scalar_one()


class InterventionFactory(BaseFactory):
    class Meta:
        model = Intervention

    patient = factory.SubFactory(PatientFactory)
    physician = factory.SubFactory(PhysicianFactory)
    procedure_type = factory.LazyFunction(lambda: procedure_type("ESI-TF"))
    starts_at = factory.LazyFunction(lambda: clock.utcnow().replace(microsecond=0))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(minutes=30))
    status = "scheduled"


class VisitFactory(BaseFactory):
    class Meta:
        model = Visit

    patient = factory.SubFactory(PatientFactory)
    physician = factory.SubFactory(PhysicianFactory)
    visit_kind = "consult"
    starts_at = factory.LazyFunction(lambda: clock.utcnow().replace(microsecond=0))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(minutes=20))
    status = "scheduled"


class PainScoreFactory(BaseFactory):
    class Meta:
        model = PainScore

    intervention = factory.SubFactory(InterventionFactory)
    patient_id = factory.LazyAttribute(lambda o: o.intervention.patient_id)
    recorded_on = factory.LazyFunction(lambda: clock.utcnow().date())
    nrs = 3
    source = "phone"


def completed_intervention(
    performed_on: date, code: str = "ESI-TF", baseline_nrs: int = 7, **kwargs
) -> Intervention:
    """A procedure of that type completed on that date (booked at 09:00 UTC that day)."""
    starts_at = datetime.combine(performed_on, time(9), tzinfo=UTC)
    kwargs.setdefault("status", "completed")
    return InterventionFactory(
        procedure_type=procedure_type(code),
        performed_on=performed_on,
        baseline_nrs=baseline_nrs,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=30),
        **kwargs,
    )
