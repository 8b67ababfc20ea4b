"""Shared by the tests: moved out of tests.test_reports so no test module imports another."""

import itertools
from datetime import UTC, date, datetime, timedelta

from clinic.models import Intervention
from tests.factories import (
    InterventionFactory,
    PainScoreFactory,
    PatientFactory,
    procedure_type,
)

BASE = date(2025, 1, 6)


_hours = itertools.count()


def treat(
    code: str = "ESI-TF",
    *,
    performed_on: date = BASE,
    baseline: int | None = 8,
    scores=(),
    physician=None,
    condition: str = "herniated_disc",
    status: str = "completed",
) -> Intervention:
    """An intervention with follow-up scores given as (days after the procedure, NRS[, %])."""
    # Each booking an hour of its own, so that a shared physician is never double-booked.
    start = datetime(2020, 1, 1, 8, tzinfo=UTC) + timedelta(hours=next(_hours))
    intervention = InterventionFactory(
        patient=PatientFactory(condition=condition),
        procedure_type=procedure_type(code),
        starts_at=start,
        ends_at=start + timedelta(minutes=30),
        status=status,
        performed_on=performed_on if status == "completed" else None,
        baseline_nrs=baseline if status == "completed" else None,
        **({"physician": physician} if physician is not None else {}),
    )
    for score in scores:
        days, nrs, percent = (*score, None) if len(score) == 2 else score
        PainScoreFactory(
            intervention=intervention,
            recorded_on=performed_on + timedelta(days=days),
            nrs=nrs,
            percent_relief=percent,
        )
    return intervention


def responder(code="ESI-TF", ended_on: int | None = None, last: int = 120, **kwargs):
    """Relieved from day 14 (NRS 2 of baseline 8); relief ends on ``ended_on``, else censored."""
    scores = [(14, 2)] + ([(ended_on, 7)] if ended_on else [(last, 2)])
    return treat(code, scores=scores, **kwargs)


def non_responder(code="ESI-TF", **kwargs):
    return treat(code, scores=[(14, 6), (42, 7)], **kwargs)


def by_code(summaries):
    return {s.code: s for s in summaries}
