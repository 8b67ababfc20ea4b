"""Keeps the follow-up calls kept for the call list (``kept.py``) in step with every ORM write,
in the same transaction: a flush hook on every session, as the audit trail's."""

from itertools import chain

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from clinic.models import FollowUpCall, Intervention, PainScore, ProcedureType

# What an intervention's calls depend on, besides its scores and attempts.
CALL_FIELDS = ("status", "performed_on", "procedure_type_id", "patient_id")


def _changed_calls(session: Session, flush_context) -> None:
    """After a flush: rewrite the kept calls of what it changed (see ``kept.py``)."""
    ids: set[int] = set()
    types: set[int] = set()
    for instance in chain(session.new, session.dirty, session.deleted):
        if isinstance(instance, PainScore | FollowUpCall):
            state = inspect(instance)
            deleted = instance in session.deleted
            ids.add(state.dict.get("intervention_id") if deleted else instance.intervention_id)
            ids.update(state.attrs.intervention_id.history.deleted or ())
        elif isinstance(instance, Intervention):
            state = inspect(instance)
            if instance in session.new and instance.status != "completed":
                continue  # a new booking has no calls until it is completed
            if instance in session.dirty and not any(
                state.attrs[name].history.has_changes() for name in CALL_FIELDS
            ):
                continue
            ids.add(state.identity[0] if state.identity else state.dict.get("id"))
        elif isinstance(instance, ProcedureType) and instance in session.dirty:
            state = inspect(instance)
            if state.attrs.followup_schedule.history.has_changes():
                types.add(state.identity[0])
    if not ids and not types:
        return
    # Here, not at the top: creating the app (every command, every worker) need not load the
    # call rules until a flush has calls to rewrite.
    from clinic.services.followup import kept

    connection = session.connection()
    kept.refresh(connection, ids)
    for procedure_type_id in types:
        kept.refresh_procedure_type(connection, procedure_type_id)


def install_calls_hook() -> None:
    """Keep every ORM session's writes and the kept calls in step (on SQLAlchemy's base
    ``Session``, as the audit hook is, so that no session factory escapes it)."""
    if not event.contains(Session, "after_flush", _changed_calls):
        event.listen(Session, "after_flush", _changed_calls)
