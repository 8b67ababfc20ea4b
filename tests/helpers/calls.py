"""The follow-up calls kept for the call list, beside the same calls worked out from scratch."""

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic.models import FollowUpCall, Intervention, PainScore, ProcedureType, ScheduledCall
from clinic.services.followup.calls import offsets_of
from clinic.services.followup.kept import calls_of


def kept_calls(session: Session) -> set[tuple]:
    """(intervention, due date, patient, schedule item, state) of every kept call."""
    session.flush()
    return set(
        session.execute(
            select(
                ScheduledCall.intervention_id,
                ScheduledCall.due_on,
                ScheduledCall.patient_id,
                ScheduledCall.schedule_item,
                ScheduledCall.state,
            )
        ).tuples()
    )


def worked_out_calls(session: Session) -> set[tuple]:
    """The same, worked out now from every completed procedure, its scores and its attempts."""
    session.flush()
    schedules = {t.id: offsets_of(t)[0] for t in session.scalars(select(ProcedureType))}
    scores = defaultdict(list)
    for intervention_id, recorded_on, source in session.execute(
        select(PainScore.intervention_id, PainScore.recorded_on, PainScore.source)
    ):
        scores[intervention_id].append((recorded_on, source))
    closed = defaultdict(list)
    for intervention_id, due_on in session.execute(
        select(FollowUpCall.intervention_id, FollowUpCall.due_on).where(
            FollowUpCall.outcome.is_not(None)
        )
    ):
        closed[intervention_id].append(due_on)
    procedures = session.execute(
        select(
            Intervention.id,
            Intervention.patient_id,
            Intervention.procedure_type_id,
            Intervention.performed_on,
        ).where(Intervention.status == "completed", Intervention.performed_on.is_not(None))
    )
    return {
        (id_, due_on, patient_id, offset.text, state)
        for id_, patient_id, type_id, performed_on in procedures
        for due_on, offset, state in calls_of(
            performed_on, schedules[type_id], scores[id_], closed[id_]
        )
    }


def states(session: Session, intervention_id: int) -> dict:
    """A procedure's kept calls: due date → state."""
    return {
        due_on: state
        for kept_id, due_on, _, _, state in kept_calls(session)
        if kept_id == intervention_id
    }
