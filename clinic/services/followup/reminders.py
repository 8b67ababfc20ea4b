"""Email reminders: the self-report link, emailed to consenting patients whose follow-up is due
(docs/rules.md, Email reminders).

Which reminders are due on ``today`` (the clinic's calendar): one for each open follow-up call
(the call list's rules: not answered by a score in its window, not closed as unreachable or
declined, its window still open) due today or earlier, of a patient who agreed to email contact
and has an email address, for an intervention with an active self-report link. One email per
intervention and due date; when several due dates of one intervention are open, only the
latest. A reminder whose outbox row is ``sent`` or ``sending`` is not due again.

Delivery is at most once, through the ``reminder_email`` outbox, unique on (intervention, due
date):

1. **claim**: the run inserts the row as ``sending`` with its run id and time (or takes a
   ``failed`` row back to ``sending``), and commits at once. Two runs at once cannot both
   claim: the unique constraint refuses the second insert, and only one update finds the row
   still ``failed``.
2. **send** through the SMTP server;
3. **record**: ``sent``, or ``failed`` with the server's reason (retried by the next run).

A row left ``sending`` (the run stopped between claiming and recording) is never sent again
automatically: the email may or may not have gone. ``stuck_reminders`` lists those for a person
to decide (``resolve_stuck``).

The email holds the clinic's name and the link, nothing clinical.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clinic.models import Intervention, Patient, ReminderEmail, ScheduledCall
from clinic.services import DomainError
from clinic.services.followup.calls import WINDOW_DAYS, listed
from clinic.services.followup.links import active_links, derive_token, link_url
from clinic.services.identity.audit import record_event

reminder_table = ReminderEmail.__table__


@dataclass(frozen=True)
class DueReminder:
    """A reminder to email: whom, for which intervention and due date, and its active link."""

    intervention_id: int
    due_on: date
    mrn: str
    patient_name: str
    email: str
    # The active link's generation: with the key it gives the token (derived, never stored).
    # Plain values, not the link's row, so that nothing is read back between claim and record.
    link_generation: int

    def url(self, key: bytes, public_url: str) -> str:
        """The link the email carries."""
        return link_url(public_url, derive_token(key, self.intervention_id, self.link_generation))


@dataclass(frozen=True)
class StuckReminder:
    """An outbox row left ``sending``: claimed by a run that never recorded the outcome."""

    id: int
    intervention_id: int
    due_on: date
    mrn: str
    patient_name: str
    run_id: str | None
    claimed_at: datetime | None


def due_reminders(session: Session, today: date) -> list[DueReminder]:
    """The reminders due on ``today``, by patient name; a constant number of queries (the
    open calls kept for the list, their links, the patients, the outbox), whatever the size of
    the data."""
    # Open calls due today or earlier, window still open; of one intervention's, only the latest.
    latest: dict[int, date] = {
        intervention_id: due_on
        for intervention_id, due_on in session.execute(
            select(ScheduledCall.intervention_id, func.max(ScheduledCall.due_on))
            .join(Patient, Patient.id == ScheduledCall.patient_id)
            .where(
                listed(today - timedelta(days=WINDOW_DAYS), today),
                ScheduledCall.state == "open",
                Patient.email_consent.is_(True),
                Patient.email.is_not(None),
            )
            .group_by(ScheduledCall.intervention_id)
        )
    }
    if not latest:
        return []
    links = active_links(session, latest, today)
    latest = {i: due_on for i, due_on in latest.items() if i in links}
    if not latest:
        return []
    done = outbox_states(session, latest)
    patients = {
        row.id: row
        for row in session.execute(
            select(
                Intervention.id, Patient.mrn, Patient.first_name, Patient.last_name, Patient.email
            )
            .join(Intervention.patient)
            .where(Intervention.id.in_(list(latest)))
        )
    }
    reminders = [
        DueReminder(
            intervention_id=intervention_id,
            due_on=due_on,
            mrn=patients[intervention_id].mrn,
            patient_name=f"{patients[intervention_id].first_name} {patients[intervention_id].last_name}",
            email=patients[intervention_id].email,
            link_generation=links[intervention_id].generation,
        )
        for intervention_id, due_on in latest.items()
        if done.get((intervention_id, due_on)) not in ("sent", "sending")
    ]
    return sorted(reminders, key=lambda r: (r.patient_name.casefold(), r.intervention_id))


def outbox_states(session: Session, intervention_ids) -> dict[tuple[int, date], str]:
    """The outbox's status of each (intervention, due date) of these interventions."""
    return {
        (intervention_id, due_on): status
        for intervention_id, due_on, status in session.execute(
            select(ReminderEmail.intervention_id, ReminderEmail.due_on, ReminderEmail.status).where(
                ReminderEmail.intervention_id.in_(list(intervention_ids))
            )
        )
    }


def claim(session: Session, reminder: DueReminder, run_id: str, now: datetime) -> bool:
    """Take the reminder's outbox row for this run (``sending``); False when another run has it
    or it was sent. The caller commits at once, before talking to the SMTP server."""
    claimed = {"status": "sending", "run_id": run_id, "claimed_at": now, "updated_at": now}
    try:
        # The insert comes first: on SQLite it takes the write lock before anything is read.
        with session.begin_nested():
            session.execute(
                insert(reminder_table).values(
                    intervention_id=reminder.intervention_id,
                    due_on=reminder.due_on,
                    attempts=1,
                    created_at=now,
                    **claimed,
                )
            )
        return True
    except IntegrityError:
        pass
    # The row exists: only a failed one is taken back, and only by one run.
    retried = session.execute(
        update(reminder_table)
        .where(
            reminder_table.c.intervention_id == reminder.intervention_id,
            reminder_table.c.due_on == reminder.due_on,
            reminder_table.c.status == "failed",
        )
        .values(attempts=reminder_table.c.attempts + 1, reason=None, **claimed)
    )
    return retried.rowcount == 1


def record_sent(session: Session, reminder: DueReminder, run_id: str, now: datetime) -> None:
    """The SMTP server took the email: the row is ``sent``, and audited as ``email_sent``."""
    _record(session, reminder, run_id, now, "sent", None)


def record_failed(
    session: Session, reminder: DueReminder, run_id: str, now: datetime, reason: str
) -> None:
    """The SMTP server refused the email or could not be reached: ``failed`` with the reason
    (the next run retries it), audited as ``email_failed``."""
    _record(session, reminder, run_id, now, "failed", reason[:2000])


def _record(
    session: Session,
    reminder: DueReminder,
    run_id: str,
    now: datetime,
    status: str,
    reason: str | None,
) -> None:
    row_id = session.execute(
        update(reminder_table)
        .where(
            reminder_table.c.intervention_id == reminder.intervention_id,
            reminder_table.c.due_on == reminder.due_on,
            reminder_table.c.status == "sending",
            reminder_table.c.run_id == run_id,
        )
        .values(
            status=status,
            reason=reason,
            sent_at=now if status == "sent" else None,
            updated_at=now,
        )
        .returning(reminder_table.c.id)
    ).scalar_one()
    details = {"due_on": reminder.due_on.isoformat(), "reminder_email_id": row_id, "run": run_id}
    if reason:
        details["reason"] = reason
    record_event(
        session,
        "email_sent" if status == "sent" else "email_failed",
        record_type="intervention",
        record_id=reminder.intervention_id,
        details=details,
    )
    session.flush()


def stuck_reminders(session: Session) -> list[StuckReminder]:
    """Outbox rows left ``sending`` by a run that stopped, oldest claim first (one query)."""
    rows = session.execute(
        select(
            ReminderEmail.id,
            ReminderEmail.intervention_id,
            ReminderEmail.due_on,
            Patient.mrn,
            Patient.first_name,
            Patient.last_name,
            ReminderEmail.run_id,
            ReminderEmail.claimed_at,
        )
        .join(Intervention, Intervention.id == ReminderEmail.intervention_id)
        .join(Intervention.patient)
        .where(ReminderEmail.status == "sending")
        .order_by(ReminderEmail.claimed_at, ReminderEmail.id)
    )
    return [
        StuckReminder(
            id=row.id,
            intervention_id=row.intervention_id,
            due_on=row.due_on,
            mrn=row.mrn,
            patient_name=f"{row.first_name} {row.last_name}",
            run_id=row.run_id,
            claimed_at=row.claimed_at,
        )
        for row in rows
    ]


RESOLUTIONS = ("sent", "resend")


def resolve_stuck(session: Session, reminder_id: int, resolution: str, now: datetime) -> None:
    """A person's decision on a row left ``sending``: it did reach the patient (``sent``), or it
    did not and the next run should send it (``resend``: the row becomes ``failed``)."""
    if resolution not in RESOLUTIONS:
        raise DomainError(f"Decide {' or '.join(RESOLUTIONS)}, not {resolution!r}.", "resolution")
    row = session.get(ReminderEmail, reminder_id)
    if row is None or row.status != "sending":
        raise DomainError(
            f"Reminder email {reminder_id} is not one left sending; `reminders send --dry-run` "
            "lists those.",
            "id",
        )
    sent = resolution == "sent"
    reason = "marked sent by a person" if sent else "marked for resending by a person"
    session.execute(
        update(reminder_table)
        .where(reminder_table.c.id == reminder_id, reminder_table.c.status == "sending")
        .values(
            status="sent" if sent else "failed",
            reason=None if sent else reason,
            sent_at=now if sent else None,
            updated_at=now,
        )
    )
    record_event(
        session,
        "email_sent" if sent else "email_failed",
        record_type="intervention",
        record_id=row.intervention_id,
        details={"due_on": row.due_on.isoformat(), "reminder_email_id": row.id, "reason": reason},
    )
    session.flush()


def reminder_message(clinic_name: str, url: str) -> tuple[str, str]:
    """The email's subject and body: the clinic's name and the link, nothing clinical."""
    subject = f"{clinic_name}: how is your pain?"
    body = (
        f"Hello,\n\n{clinic_name} would like to know how you are. Please answer one short "
        f"question at this link:\n\n{url}\n\nThe link is personal: please do not forward this "
        f"email.\n\n{clinic_name}\n"
    )
    return subject, body
