"""The demo's consent to email contact, added after the histories and the self-report links.

Most patients with an email address agreed to be emailed their link, on the day of their first
procedure (or, without one, a few weeks ago). So that ``reminders send --dry-run`` has someone
to list right after ``make run``, every patient with an address whose follow-up call is open
today or overdue agreed too, and (given the link key) that procedure gets its self-report link
when it has none. It draws from a
random generator of its own, so the rest of the demo is the same whether or not this runs.
"""

import random
from contextlib import suppress
from datetime import date, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from clinic.models import Intervention, Patient
from clinic.services import DomainError
from clinic.services.followup import links
from clinic.services.followup.calls import call_list
from clinic.services.followup.links import active_links

CONSENT_SHARE = 0.6  # patients with an email address who agreed to email contact


def add_email_consent(session: Session, seed: int, today: date, key: bytes | None) -> int:
    """Consent to email contact for the demo's patients with an address; returns how many."""
    rng = random.Random(f"{seed}-email-consent")
    first_procedure = dict(
        session.execute(
            select(Intervention.patient_id, func.min(Intervention.performed_on))
            .where(Intervention.performed_on.is_not(None))
            .group_by(Intervention.patient_id)
        ).all()
    )
    with_address = session.execute(
        select(Patient.id).where(Patient.email.is_not(None)).order_by(Patient.id)
    ).scalars()
    consenting = {
        patient_id: first_procedure.get(patient_id) or today - timedelta(days=rng.randint(7, 60))
        for patient_id in with_address
        if rng.random() < CONSENT_SHARE
    }
    for patient_id in due_for_a_reminder(session, today, key):
        consenting.setdefault(patient_id, first_procedure.get(patient_id) or today)
    if consenting:
        patient = Patient.__table__  # Core: a bulk write, as the rest of the demo's
        session.execute(
            update(patient)
            .where(patient.c.id == bindparam("b_id"), patient.c.email.is_not(None))
            .values(email_consent=True, email_consent_on=bindparam("b_on")),
            [{"b_id": patient_id, "b_on": on} for patient_id, on in sorted(consenting.items())],
        )
    return len(consenting)


def due_for_a_reminder(session: Session, today: date, key: bytes | None) -> list[int]:
    """Patients with an address and a follow-up call open today or overdue on a procedure with
    an active link; given the key, such a procedure without one gets its link (audited)."""
    calls = call_list(session, today, upcoming_days=0)
    open_calls = [c for c in calls.overdue + calls.due_today if c.patient.email is not None]
    linked = set(active_links(session, {call.intervention.id for call in open_calls}, today))
    for call in open_calls:
        if key is not None and call.intervention.id not in linked:
            with suppress(DomainError):  # its follow-up has ended: no link to give
                links.issue_link(session, call.intervention, key, None, today)
                linked.add(call.intervention.id)
    return sorted({call.patient.id for call in open_calls if call.intervention.id in linked})
