"""``flask --app clinic reminders send [--dry-run]``: email each consenting patient whose
follow-up is due their self-report link, at most once (docs/rules.md, Email reminders).

Safe to run from cron every few minutes on several servers at once: each email is claimed in
the outbox in its own committed transaction before the SMTP server is asked to take it, so no
two runs send one reminder. The command exits non-zero when any email failed (the next run
retries those) or when a row was left ``sending`` by a run that stopped mid-send (listed for a
person to decide with ``reminders resolve``).
"""

import smtplib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_mailman import EmailMessage
from sqlalchemy.orm import Session

from clinic import clock
from clinic.cli.common import CommandError
from clinic.extensions import db, mail
from clinic.services import DomainError
from clinic.services.followup import reminders as service
from clinic.services.followup.links import link_key
from clinic.services.identity.audit import COMMAND_LINE, act_as

# (address, subject, body): hands one email to the SMTP server, or raises.
Send = Callable[[str, str, str], None]


def connection_failed(error: Exception) -> bool:
    """A failure of the connection itself (the rest of the run would fail the same way), not a
    refusal of one email. (SMTPException is an OSError too.)"""
    if isinstance(error, smtplib.SMTPConnectError | smtplib.SMTPServerDisconnected):
        return True
    return isinstance(error, OSError) and not isinstance(error, smtplib.SMTPException)


@dataclass
class RunReport:
    """What one run did: emails sent, failed (with the reason), left to other runs, not tried."""

    run_id: str
    sent: list[service.DueReminder] = field(default_factory=list)
    failed: list[tuple[service.DueReminder, str]] = field(default_factory=list)
    claimed_elsewhere: int = 0
    not_tried: int = 0  # the SMTP server could not be reached: left for the next run
    stuck: list[service.StuckReminder] = field(default_factory=list)


def describe(error: Exception) -> str:
    """The SMTP server's reason, in one line."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        reasons = [
            f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
            for code, reply in error.recipients.values()
        ]
        return "refused: " + "; ".join(reasons)
    if isinstance(error, smtplib.SMTPResponseException):
        message = error.smtp_error
        if isinstance(message, bytes):
            message = message.decode(errors="replace")
        return f"refused: {error.smtp_code} {message}"
    if connection_failed(error):
        return f"the SMTP server could not be reached: {error}"
    return f"{type(error).__name__}: {error}"


def send_due(
    session: Session,
    today: date,
    send: Send,
    *,
    key: bytes,
    public_url: str,
    clinic_name: str,
    run_id: str | None = None,
) -> RunReport:
    """Claim, send and record each due reminder, each step committed on its own."""
    report = RunReport(run_id=run_id or uuid.uuid4().hex)
    due = service.due_reminders(session, today)
    session.commit()
    for number, reminder in enumerate(due):
        claimed = service.claim(session, reminder, report.run_id, clock.utcnow())
        session.commit()
        if not claimed:
            report.claimed_elsewhere += 1
            continue
        subject, body = service.reminder_message(clinic_name, reminder.url(key, public_url))
        try:
            send(reminder.email, subject, body)
        except (smtplib.SMTPException, OSError) as error:
            reason = describe(error)
            service.record_failed(session, reminder, report.run_id, clock.utcnow(), reason)
            session.commit()
            report.failed.append((reminder, reason))
            if connection_failed(error):
                report.not_tried = len(due) - number - 1
                break
            continue
        service.record_sent(session, reminder, report.run_id, clock.utcnow())
        session.commit()
        report.sent.append(reminder)
    report.stuck = service.stuck_reminders(session)
    session.commit()
    return report


def smtp_sender(config: Mapping) -> tuple[Send, Callable[[], None]]:
    """A sender through the SMTP server of the MAIL_* settings (one connection for the run),
    and the function that closes it."""
    connection = mail.get_connection(fail_silently=False)

    def send(address: str, subject: str, body: str) -> None:
        EmailMessage(
            subject, body, config["MAIL_DEFAULT_SENDER"], [address], connection=connection
        ).send()

    return send, connection.close


def check_settings(config: Mapping) -> str:
    """The public URL the links are built on; settings that cannot work are refused first."""
    if not isinstance(config["MAIL_USE_TLS"], bool):
        raise CommandError(f"MAIL_USE_TLS is {config['MAIL_USE_TLS']!r}: set it to true or false.")
    public_url = config.get("CLINIC_PUBLIC_URL")
    if not public_url:
        raise CommandError(
            "CLINIC_PUBLIC_URL is not set: set it to the address patients open the clinic at, "
            "e.g. https://clinic.example.org, so that the emailed links work."
        )
    return public_url


def _who(reminder: service.DueReminder) -> str:
    return (
        f"{reminder.patient_name} (MRN {reminder.mrn}) <{reminder.email}>: intervention "
        f"{reminder.intervention_id}, follow-up due {reminder.due_on.isoformat()}"
    )


def _stuck_lines(stuck: list[service.StuckReminder]) -> list[str]:
    return [
        f"  #{row.id} {row.patient_name} (MRN {row.mrn}): intervention {row.intervention_id}, "
        f"due {row.due_on.isoformat()}, claimed "
        f"{row.claimed_at.isoformat(timespec='minutes') if row.claimed_at else '?'} by run "
        f"{row.run_id}"
        for row in stuck
    ]


STUCK_ADVICE = (
    "Left sending by a run that stopped mid-send (never resent automatically): check whether "
    "the patient got it, then run `flask --app clinic reminders resolve ID --sent` or "
    "`--resend`."
)


@click.group("reminders")
def reminders() -> None:
    """Email patients their self-report link when a follow-up falls due."""


@reminders.command("send")
@click.option("--dry-run", is_flag=True, help="List whom it would email; write and send nothing.")
@with_appcontext
def send_command(dry_run: bool) -> None:
    """Email each consenting patient whose follow-up is due their self-report link, once."""
    config = current_app.config
    session = db.session
    today = clock.clinic_today(config["CLINIC_TIMEZONE"])
    if dry_run:
        due = service.due_reminders(session, today)
        stuck = service.stuck_reminders(session)
        session.rollback()
        click.echo(f"Would email {len(due)} patient{'s' if len(due) != 1 else ''}:")
        for reminder in due:
            click.echo(f"  {_who(reminder)}")
        if stuck:
            click.echo(STUCK_ADVICE)
            click.echo("\n".join(_stuck_lines(stuck)))
        return
    public_url = check_settings(config)
    act_as(session, COMMAND_LINE)
    send, close = smtp_sender(config)
    try:
        report = send_due(
            session,
            today,
            send,
            key=link_key(config),
            public_url=public_url,
            clinic_name=config["CLINIC_NAME"],
        )
    finally:
        close()
    for reminder in report.sent:
        click.echo(f"Sent: {_who(reminder)}")
    summary = f"{len(report.sent)} sent, {len(report.failed)} failed"
    if report.claimed_elsewhere:
        summary += f", {report.claimed_elsewhere} taken by another run"
    if report.not_tried:
        summary += f", {report.not_tried} not tried (the next run will)"
    click.echo(summary + ".")
    problems = [f"Failed (the next run retries it): {_who(r)}: {why}" for r, why in report.failed]
    if report.stuck:
        problems += [STUCK_ADVICE, *_stuck_lines(report.stuck)]
    if problems:
        raise CommandError("\n".join(problems))


@reminders.command("resolve")
@click.argument("reminder_id", type=click.IntRange(1, 2**31 - 1))
@click.option("--sent", "resolution", flag_value="sent", help="It reached the patient.")
@click.option("--resend", "resolution", flag_value="resend", help="Send it on the next run.")
@with_appcontext
def resolve_command(reminder_id: int, resolution: str | None) -> None:
    """Decide on a reminder email left sending: it was --sent, or --resend it."""
    if resolution is None:
        raise CommandError("Say what became of it: --sent (the patient got it) or --resend.")
    session = db.session
    act_as(session, COMMAND_LINE)
    try:
        service.resolve_stuck(session, reminder_id, resolution, clock.utcnow())
    except DomainError as error:
        raise CommandError(error.message) from None
    session.commit()
    click.echo(
        f"Reminder email {reminder_id}: {'sent' if resolution == 'sent' else 'will be resent'}."
    )
