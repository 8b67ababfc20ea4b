"""The audit trail: explicit events (views, sign-ins, exports) and every write to a record.

Writes are audited by a flush hook on the session, so no service can forget: each insert,
update and archive of an audited model becomes an ``audit_event`` row in the same
transaction, naming the actor that the request or command put in ``session.info``.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

from clinic import clock
from clinic.models import AuditEvent, Base, LinkGuess, LoginAttempt, StaffSession

# Never written to the trail, only the fact that they changed.
REDACTED_FIELDS = {"password_hash"}
# Bookkeeping that is not a clinical or staff record.
UNAUDITED_MODELS = (AuditEvent, LoginAttempt, StaffSession, LinkGuess)
IGNORED_FIELDS = {"updated_at", "created_at", "version", "name_key"}


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user, or a named process such as the command line."""

    user_id: int | None
    name: str
    client_address: str | None = None


COMMAND_LINE = Actor(user_id=None, name="command line")


def act_as(session: Session, actor: Actor) -> None:
    """Name the actor that audit rows written through this session will carry."""
    session.info["actor"] = actor


def current_actor(session: Session) -> Actor | None:
    return session.info.get("actor")


def record_event(
    session: Session,
    action: str,
    *,
    record_type: str | None = None,
    record_id: object = None,
    details: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
    actor: Actor | None = None,
) -> None:
    """Append one audit row for an action that is not a plain write (view, login, export…)."""
    actor = actor or current_actor(session) or COMMAND_LINE
    session.add(
        AuditEvent(
            occurred_at=clock.utcnow(),
            actor_id=actor.user_id,
            actor_name=actor.name,
            action=action,
            record_type=record_type,
            record_id=None if record_id is None else str(record_id),
            details=_jsonable(details),
            changes=_jsonable(changes),
            client_address=actor.client_address,
        )
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _changes(instance: object, created: bool) -> dict[str, list[Any]]:
    state = inspect(instance)
    changes: dict[str, list[Any]] = {}
    for attr in state.mapper.column_attrs:
        if attr.key in IGNORED_FIELDS:
            continue
        history = state.attrs[attr.key].history
        if not created and not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else (history.unchanged or [None])[0]
        if created and new is None:
            continue
        if old == new and not created:
            continue
        if attr.key in REDACTED_FIELDS:
            changes[attr.key] = ["[redacted]", "[redacted]"]
        else:
            changes[attr.key] = [_jsonable(old), _jsonable(new)]
    return changes


def _audit_writes(session: Session, flush_context) -> None:
    actor = current_actor(session) or COMMAND_LINE
    now = clock.utcnow()
    rows = []
    for instance, created in [(obj, True) for obj in session.new] + [
        (obj, False) for obj in session.dirty
    ]:
        if isinstance(instance, UNAUDITED_MODELS) or not hasattr(instance, "__tablename__"):
            continue
        changes = _changes(instance, created)
        if not created and not changes:
            continue
        action = "create" if created else "update"
        if changes.get("archived") == [False, True]:
            action = "archive"
        rows.append(
            {
                "occurred_at": now,
                "actor_id": actor.user_id,
                "actor_name": actor.name,
                "action": action,
                "record_type": type(instance).__tablename__,
                "record_id": str(inspect(instance).mapper.primary_key_from_instance(instance)[0]),
                "changes": changes,
                "client_address": actor.client_address,
            }
        )
    if rows:
        session.connection().execute(insert(AuditEvent), rows)


def _keep_old_value(target: object, value: Any, oldvalue: Any, initiator: Any) -> None:
    """A no-op ``set`` listener; registering it with ``active_history`` is what matters."""


def _track_old_values() -> None:
    """Make every audited column load the value it replaces, even after a commit expired it.

    Without this, changing an attribute that was expired (by ``commit()``) records no old value,
    and the trail would show ``[None, new]`` for an update.
    """
    for mapper in Base.registry.mappers:
        if issubclass(mapper.class_, UNAUDITED_MODELS):
            continue
        for attr in mapper.column_attrs:
            if attr.key in IGNORED_FIELDS:
                continue
            descriptor = getattr(mapper.class_, attr.key)
            if not event.contains(descriptor, "set", _keep_old_value):
                event.listen(descriptor, "set", _keep_old_value, active_history=True)


def install_audit_hook(session_class: type[Session] = Session) -> None:
    """Audit every insert and update flushed through any ORM session.

    The hook goes on SQLAlchemy's base ``Session`` whatever class is passed: ``sessionmaker``
    hands out a private subclass of its class, so hooking that subclass would let sessions from
    any other factory (a script's ``Session(engine)``, a test bound to its own connection)
    write without leaving a trail.
    """
    if not issubclass(session_class, Session):
        raise TypeError(f"{session_class!r} is not a SQLAlchemy Session class")
    if not event.contains(Session, "after_flush", _audit_writes):
        event.listen(Session, "after_flush", _audit_writes)
    _track_old_values()
