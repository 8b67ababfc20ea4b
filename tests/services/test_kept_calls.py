"""The follow-up calls kept for the call list (clinic/services/followup/kept.py): every writer
leaves them as the records say, in the same transaction."""

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, select

from clinic.models import FollowUpCall, ProcedureType, ScheduledCall
from clinic.services.followup.calls import call_list, record_call_attempt
from clinic.services.followup.kept import refresh_all
from clinic.services.followup.pain_scores import record_pain_score
from clinic.services.followup.schedules import due_dates
from tests.factories import (
    InterventionFactory,
    PainScoreFactory,
    completed_intervention,
    procedure_type,
)
from tests.helpers.calls import kept_calls, states, worked_out_calls
from tests.helpers.imports import INTERVENTIONS, SCORES, catalogue, good  # noqa: F401 (fixture)

PERFORMED = date(2026, 1, 5)
TODAY = date(2026, 3, 16)


def completed(performed_on: date = PERFORMED):
    return completed_intervention(performed_on)


def test_a_completed_procedure_has_every_call_of_its_schedule_kept_open(db_session):
    intervention = completed()
    schedule = intervention.procedure_type.followup_schedule
    assert states(db_session, intervention.id) == dict.fromkeys(
        due_dates(PERFORMED, schedule), "open"
    )
    assert kept_calls(db_session) == worked_out_calls(db_session)


def test_a_procedure_still_scheduled_has_no_calls(db_session):
    intervention = InterventionFactory(status="scheduled")
    assert states(db_session, intervention.id) == {}


def test_a_score_in_a_window_closes_that_call_and_no_other(db_session):
    intervention = completed()
    two_weeks = PERFORMED + timedelta(days=14)
    record_pain_score(
        db_session, intervention, two_weeks + timedelta(days=3), 4, None, "phone", None, today=TODAY
    )
    calls = states(db_session, intervention.id)
    assert calls.pop(two_weeks) == "done"
    assert set(calls.values()) == {"open"}
    assert kept_calls(db_session) == worked_out_calls(db_session)


def test_a_self_reported_score_is_told_apart_from_one_taken_by_phone(db_session):
    intervention = completed()
    two_weeks = PERFORMED + timedelta(days=14)
    PainScoreFactory(intervention=intervention, recorded_on=two_weeks, source="self_report")
    assert states(db_session, intervention.id)[two_weeks] == "self_report"
    # A phone score in the same window as well: the call was made by the clinic.
    PainScoreFactory(
        intervention=intervention, recorded_on=two_weeks + timedelta(1), source="phone"
    )
    assert states(db_session, intervention.id)[two_weeks] == "done"


def test_a_score_moved_or_removed_reopens_the_call_it_answered(db_session):
    intervention = completed()
    two_weeks, six_weeks = PERFORMED + timedelta(days=14), PERFORMED + timedelta(days=42)
    score = PainScoreFactory(intervention=intervention, recorded_on=two_weeks)
    assert states(db_session, intervention.id)[two_weeks] == "done"
    score.recorded_on = six_weeks
    db_session.flush()
    calls = states(db_session, intervention.id)
    assert (calls[two_weeks], calls[six_weeks]) == ("open", "done")
    db_session.delete(score)
    db_session.flush()
    assert states(db_session, intervention.id)[six_weeks] == "open"
    assert kept_calls(db_session) == worked_out_calls(db_session)


def test_an_unreachable_patient_closes_the_call_and_no_answer_keeps_it_open(db_session):
    intervention = completed()
    two_weeks, six_weeks = PERFORMED + timedelta(days=14), PERFORMED + timedelta(days=42)
    record_call_attempt(db_session, intervention, two_weeks, "no_answer")
    record_call_attempt(db_session, intervention, six_weeks, "unreachable")
    calls = states(db_session, intervention.id)
    assert (calls[two_weeks], calls[six_weeks]) == ("open", "done")


def test_a_corrected_performed_date_moves_the_calls(db_session):
    intervention = completed()
    intervention.performed_on = PERFORMED + timedelta(days=1)
    db_session.flush()
    schedule = intervention.procedure_type.followup_schedule
    assert set(states(db_session, intervention.id)) == set(
        due_dates(PERFORMED + timedelta(days=1), schedule)
    )
    intervention.status = "cancelled"
    intervention.performed_on = None
    db_session.flush()
    assert states(db_session, intervention.id) == {}


def test_a_new_schedule_for_a_procedure_type_moves_the_calls_of_all_its_procedures(db_session):
    first, second = completed(), completed(PERFORMED + timedelta(days=3))
    esi = procedure_type("ESI-TF")
    esi.followup_schedule = "1w 1m"
    db_session.flush()
    assert set(states(db_session, first.id)) == {date(2026, 1, 12), date(2026, 2, 5)}
    assert set(states(db_session, second.id)) == {date(2026, 1, 15), date(2026, 2, 8)}
    assert kept_calls(db_session) == worked_out_calls(db_session)


def test_the_call_list_reads_the_kept_calls_with_a_score_recorded_in_the_same_transaction(
    db_session,
):
    intervention = completed(TODAY - timedelta(days=14))
    assert [call.intervention.id for call in call_list(db_session, TODAY).due_today] == [
        intervention.id
    ]
    record_pain_score(db_session, intervention, TODAY, 4, None, "phone", None, today=TODAY)
    assert call_list(db_session, TODAY).due_today == []


def test_an_import_keeps_the_calls_of_the_procedures_and_scores_it_writes(catalogue):  # noqa: F811
    report = good(catalogue)
    assert report.imported, report.problems
    kept = kept_calls(catalogue)
    # R-1 was performed on 2025-01-06, its 2-week call answered by the score of 2025-01-20.
    assert (date(2025, 1, 20), "done") in {(due, state) for _, due, _, _, state in kept}
    assert kept == worked_out_calls(catalogue)
    # A second import adds a score to a procedure already here: its 3-month call is made.
    again = good(catalogue, pain_scores=[*SCORES, "R-1,2025-04-07,2,,phone"])
    assert again.imported, again.problems
    kept = kept_calls(catalogue)
    assert (date(2025, 4, 6), "done") in {(due, state) for _, due, _, _, state in kept}
    assert kept == worked_out_calls(catalogue)
    # A third marks a procedure already here as performed: its calls are made, the others kept.
    performed = INTERVENTIONS[1].replace("scheduled,,,,,", "completed,2025-01-06,6,L4-L5,left,")
    third = good(
        catalogue,
        interventions=[INTERVENTIONS[0], performed],
        pain_scores=[*SCORES, "R-1,2025-04-07,2,,phone"],
    )
    assert third.imported, third.problems
    kept = kept_calls(catalogue)
    assert len({intervention for intervention, *_ in kept}) == 2
    assert kept == worked_out_calls(catalogue)


def test_rebuilding_every_kept_call_gives_the_same_rows(db_session):
    """What the migration that added them runs over a clinic's existing records."""
    completed()
    PainScoreFactory(intervention=completed(), recorded_on=PERFORMED + timedelta(days=15))
    before = kept_calls(db_session)
    db_session.execute(delete(ScheduledCall))
    refresh_all(db_session.connection())
    assert kept_calls(db_session) == before == worked_out_calls(db_session)
    assert db_session.scalar(select(ScheduledCall.state).limit(1)) is not None


def test_postgresql_works_out_in_sql_the_calls_python_does_over_random_records(db_session, backend):
    """The bulk writers' SQL (``kept._insert_in_sql``: the import's new procedures, the rebuild)
    against the rules in Python, over random schedules — calendar months from month ends, two
    offsets landing on one day — scores before, on and after the calls, from staff and from
    patients, and attempts that closed a call or did not."""
    if backend != "postgresql":
        pytest.skip("SQLite works every call out in Python")
    rng = random.Random(20261206)
    schedules = ["2w 6w 3m 6m 12m", "4w 1m", "1d 1w 1m 2m", "3m", "", "1m 31d 5w", "2d 3d 1w"]
    types = list(db_session.scalars(select(ProcedureType).order_by(ProcedureType.id)))
    for kind, schedule in zip(types, schedules * len(types), strict=False):
        kind.followup_schedule = schedule
    month_ends = [date(2024, 1, 31), date(2024, 2, 29), date(2023, 8, 31), date(2024, 10, 31)]
    for n in range(80):
        kind = types[n % len(types)]
        if n % 9 == 8:  # still scheduled: no calls
            InterventionFactory(procedure_type=kind, status="scheduled")
            continue
        performed_on = (
            rng.choice(month_ends)
            if n % 3 == 0
            else date(2024, 1, 1) + timedelta(days=rng.randrange(365))
        )
        procedure = completed_intervention(performed_on, code=kind.code)
        # Any day of the year after, and some in the first fortnight, where the calls of a
        # schedule such as "2d 3d 1w" share one score's reach.
        days = set(rng.sample(range(-3, 400), rng.randrange(5)))
        days |= set(rng.sample([0, 1, 2, 4, 6, 8, 13, 15], rng.randrange(4)))
        for day in days:
            PainScoreFactory(
                intervention=procedure,
                recorded_on=performed_on + timedelta(days=day),
                source=rng.choice(["phone", "visit", "self_report", "self_report", "import"]),
            )
        dues = due_dates(performed_on, kind.followup_schedule)
        for due_on in rng.sample(dues, min(len(dues), rng.randrange(3))):
            db_session.add(
                FollowUpCall(
                    intervention_id=procedure.id,
                    due_on=due_on,
                    attempts=1,
                    outcome=rng.choice(["unreachable", "declined", None]),
                )
            )
    # And the edges by hand: a score on the day of the procedure answers nothing, one the day
    # after answers the first call ahead of it only (not all three in reach), one on a call's
    # due date answers it and the one before, and one a week before a call answers it.
    by_schedule = {kind.followup_schedule: kind for kind in types}
    close_calls = completed_intervention(date(2024, 3, 1), code=by_schedule["2d 3d 1w"].code)
    PainScoreFactory(intervention=close_calls, recorded_on=date(2024, 3, 1), source="phone")
    PainScoreFactory(intervention=close_calls, recorded_on=date(2024, 3, 2), source="self_report")
    on_the_day = completed_intervention(date(2024, 4, 1), code=by_schedule["2d 3d 1w"].code)
    PainScoreFactory(intervention=on_the_day, recorded_on=date(2024, 4, 4), source="phone")
    one_call = completed_intervention(date(2024, 5, 10), code=by_schedule["3m"].code)
    PainScoreFactory(intervention=one_call, recorded_on=date(2024, 8, 3), source="phone")
    python = worked_out_calls(db_session)
    assert {(due, state) for id_, due, _, _, state in python if id_ == close_calls.id} == {
        (date(2024, 3, 3), "self_report"),
        (date(2024, 3, 4), "open"),
        (date(2024, 3, 8), "open"),
    }
    # A score on a call's own due date answers it, and the call before it still in reach.
    assert {(due, state) for id_, due, _, _, state in python if id_ == on_the_day.id} == {
        (date(2024, 4, 3), "done"),
        (date(2024, 4, 4), "done"),
        (date(2024, 4, 8), "open"),
    }
    assert {state for id_, *_, state in python if id_ == one_call.id} == {"done"}
    assert {state for *_, state in python} == {"open", "done", "self_report"}
    assert {item for *_, item, _ in python} >= {"4w", "31d", "1m"}
    db_session.execute(delete(ScheduledCall))
    refresh_all(db_session.connection())
    assert kept_calls(db_session) == python
