"""Shared by the tests: moved out of tests.test_eligibility_payers so no test module imports another."""

from datetime import UTC, date, datetime

from tests.factories import InterventionFactory, PainScoreFactory, procedure_type


def done(patient, code: str, day: date, level: str | None, *scores: tuple[date, int], baseline=8):
    """A completed intervention with its follow-up scores (date, NRS)."""
    intervention = InterventionFactory(
        patient=patient,
        procedure_type=procedure_type(code),
        starts_at=datetime(day.year, day.month, day.day, 9, tzinfo=UTC),
        ends_at=datetime(day.year, day.month, day.day, 10, tzinfo=UTC),
        status="completed",
        performed_on=day,
        baseline_nrs=baseline,
        spinal_level=level,
    )
    for recorded_on, nrs in scores:
        PainScoreFactory(intervention=intervention, recorded_on=recorded_on, nrs=nrs)
    return intervention
