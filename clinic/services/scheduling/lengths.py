"""Default lengths: how long a procedure or a kind of visit is booked for unless told otherwise."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic.models import ProcedureType, VisitKindLength
from clinic.models.scheduling import VISIT_KIND_LABELS, VISIT_KINDS
from clinic.models.sessions import VISIT_DEFAULT_MINUTES
from clinic.services import DomainError


@dataclass(frozen=True)
class What:
    """What is being booked: a procedure (in procedure sessions) or a visit (in clinic ones)."""

    code: str  # the procedure code (RFA) or the visit kind (consult), as in URLs
    form_value: str  # the booking form's choice: "procedure:ID" or "visit:KIND"
    label: str
    session_kind: str  # "procedures" or "clinic"
    minutes: int


def visit_minutes(session: Session) -> dict[str, int]:
    """Each visit kind's default length (the seeded value where no row has been saved)."""
    saved = dict(
        session.execute(select(VisitKindLength.visit_kind, VisitKindLength.default_minutes)).all()
    )
    return {kind: saved.get(kind, VISIT_DEFAULT_MINUTES[kind]) for kind in VISIT_KINDS}


def form_lengths(session: Session) -> dict[str, int]:
    """The default length of every choice of the booking form, keyed by its value (two queries)."""
    procedures = session.execute(select(ProcedureType.id, ProcedureType.default_minutes)).all()
    lengths = {f"procedure:{pid}": minutes for pid, minutes in procedures}
    lengths.update({f"visit:{kind}": m for kind, m in visit_minutes(session).items()})
    return lengths


def what_named(session: Session, code: str) -> What:
    """A procedure code (any case) or a visit kind, as what to book; refused if unknown."""
    text = code.strip()
    if text.lower() in VISIT_KINDS:
        kind = text.lower()
        return What(
            code=kind,
            form_value=f"visit:{kind}",
            label=f"Visit: {VISIT_KIND_LABELS[kind]}",
            session_kind="clinic",
            minutes=visit_minutes(session)[kind],
        )
    procedure = session.execute(
        select(ProcedureType).where(
            ProcedureType.code == text.upper(), ProcedureType.active.is_(True)
        )
    ).scalar_one_or_none()
    if procedure is None:
        raise DomainError(
            f"No procedure or kind of visit is called “{text}”: choose one from the list "
            "(a procedure code such as RFA, or consult, follow_up, post_procedure_check, "
            "stimulator_adjustment).",
            "what",
        )
    return What(
        code=procedure.code,
        form_value=f"procedure:{procedure.id}",
        label=f"{procedure.name} ({procedure.code})",
        session_kind="procedures",
        minutes=procedure.default_minutes,
    )


def what_of_form_value(session: Session, value: str) -> What | None:
    """The booking form's choice ("procedure:ID" or "visit:KIND") as what to book, if known."""
    kind, _, rest = value.partition(":")
    if kind == "visit" and rest in VISIT_KINDS:
        return what_named(session, rest)
    if kind == "procedure" and rest.isascii() and rest.isdigit() and len(rest) < 10:
        procedure = session.get(ProcedureType, int(rest))
        if procedure is not None:
            return What(
                code=procedure.code,
                form_value=value,
                label=f"{procedure.name} ({procedure.code})",
                session_kind="procedures",
                minutes=procedure.default_minutes,
            )
    return None
