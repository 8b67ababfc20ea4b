"""`reminders send`: the self-report link emailed once per due follow-up, through a real SMTP
server (aiosmtpd) inside the test process, on a database whose writes really commit.

Sent; refused (failed with the reason, exit non-zero) then retried; a run that stops between
claiming and sending leaves the row `sending`, never resent and listed; two runs at once on
separate connections email each reminder exactly once; the email holds the clinic's name and
the link, nothing clinical.
"""

import socket
import threading
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from flask_migrate import upgrade
from sqlalchemy import select, text, update

from clinic import clock
from clinic.cli import reminders as command
from clinic.extensions import db
from clinic.models import AuditEvent, Patient, ProcedureType, ReminderEmail, StaffUser
from clinic.services.followup import links
from clinic.services.followup import reminders as service
from clinic.services.identity.audit import COMMAND_LINE, act_as
from tests import factories
from tests.helpers.app import (
    BACKENDS,
    TEST_DATABASE_URL,
    create_throwaway_database,
    drop_database,
    make_app,
    skip_without_postgres,
)
from tests.helpers.statement_count import count_statements

PUBLIC_URL = "https://clinic.example.org"
CLINIC_NAME = "Harbour Spine Centre"


class Mailbox:
    """What the SMTP server received; ``refuse`` makes it refuse every recipient."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []
        self.refuse = False
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[str]:
        return [content for rcpt, content in self.messages if address in rcpt]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def smtp():
    """A real SMTP server on this machine for the module's tests."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, mailbox
    controller.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def committed(request, tmp_path_factory, smtp):
    """An app on a database of its own whose writes really commit, mailing through ``smtp``."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('reminders') / 'clinic.db'}"
    elif not TEST_DATABASE_URL:
        skip_without_postgres()
    else:
        url = create_throwaway_database(TEST_DATABASE_URL)
    controller, _ = smtp
    app = make_app(
        url,
        str(tmp_path_factory.mktemp("reminders-instance")),
        MAIL_BACKEND="smtp",  # under TESTING Flask-Mailman would keep mail in memory
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=controller.port,
        MAIL_DEFAULT_SENDER="clinic@example.org",
        MAIL_TIMEOUT=5,
        CLINIC_PUBLIC_URL=PUBLIC_URL,
        CLINIC_NAME=CLINIC_NAME,
    )
    with app.app_context():
        upgrade()
        db.session.add(
            StaffUser(username="dr.reminder", full_name="Dr. Reminder", role="physician")
        )
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()
    if request.param == "postgresql":
        drop_database(url)


@pytest.fixture
def app(committed, smtp):
    """The committed app, its mailbox emptied, and every reminder of earlier tests made not due."""
    _, mailbox = smtp
    mailbox.messages.clear()
    mailbox.refuse = False
    committed.extensions["mailman"].port = smtp[0].port  # Flask-Mailman's settings, as bound
    yield committed
    with committed.app_context():
        db.session.execute(update(Patient).values(email_consent=False, email_consent_on=None))
        db.session.execute(update(ReminderEmail).values(status="sent"))
        db.session.commit()
        db.session.remove()


def today(app):
    return clock.clinic_today(app.config["CLINIC_TIMEZONE"])


def due_patient(
    app,
    *,
    code: str = "ESI-TF",
    performed_days_ago: int = 14,
    consent: bool = True,
    email: str | None = "x",
    link: bool = True,
) -> dict:
    """A patient whose follow-up call falls due today (ESI-TF calls at 2 weeks), committed."""
    with app.app_context():
        session = db.session
        factories.bind(session)
        act_as(session, COMMAND_LINE)
        physician = factories.PhysicianFactory()  # each its own: no bookings clash
        day = today(app)
        patient = factories.PatientFactory(
            email_consent=consent, email_consent_on=day if consent else None
        )
        patient.email = f"p{patient.id}@example.net" if email == "x" else email
        performed_on = day - timedelta(days=performed_days_ago)
        procedure = session.execute(
            select(ProcedureType).where(ProcedureType.code == code)
        ).scalar_one()
        intervention = factories.InterventionFactory(
            patient=patient,
            physician=physician,
            procedure_type=procedure,
            status="completed",
            performed_on=performed_on,
            starts_at=clock.utcnow() - timedelta(days=performed_days_ago),
        )
        token = None
        if link:
            token = links.issue_link(session, intervention, links.link_key(app.config), None, day)
        session.commit()
        details = {
            "intervention_id": intervention.id,
            "email": patient.email,
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "mrn": patient.mrn,
            "url": links.link_url(PUBLIC_URL, token) if token else None,
            "procedure": procedure.name,
            "performed_on": performed_on.isoformat(),
        }
        session.remove()
        return details


def outbox(app, intervention_id: int) -> list[ReminderEmail]:
    with app.app_context():
        rows = list(
            db.session.execute(
                select(ReminderEmail).where(ReminderEmail.intervention_id == intervention_id)
            ).scalars()
        )
        db.session.expunge_all()
        db.session.remove()
        return rows


def audit_actions(app, intervention_id: int) -> list[str]:
    with app.app_context():
        actions = list(
            db.session.execute(
                select(AuditEvent.action)
                .where(
                    AuditEvent.record_type == "intervention",
                    AuditEvent.record_id == str(intervention_id),
                    AuditEvent.action.in_(["email_sent", "email_failed"]),
                )
                .order_by(AuditEvent.id)
            ).scalars()
        )
        db.session.remove()
        return actions


def run(app, *args):
    return app.test_cli_runner().invoke(args=["reminders", "send", *args])


def test_a_due_reminder_is_emailed_once_with_the_clinic_name_and_the_link_only(app, smtp):
    _, mailbox = smtp
    patient = due_patient(app)
    result = run(app)
    assert result.exit_code == 0, result.output
    assert "1 sent, 0 failed" in result.output
    [message] = mailbox.to(patient["email"])
    assert CLINIC_NAME in message
    assert patient["url"] in message
    # Nothing clinical, and nothing that names the patient beyond the address.
    for detail in (
        patient["last_name"],
        patient["first_name"],
        patient["mrn"],
        patient["procedure"],
        "ESI",
        patient["performed_on"],
    ):
        assert detail not in message, detail
    [row] = outbox(app, patient["intervention_id"])
    assert (row.status, row.attempts, row.reason) == ("sent", 1, None)
    assert row.due_on == today(app)
    assert row.sent_at is not None
    assert audit_actions(app, patient["intervention_id"]) == ["email_sent"]
    # The next run finds it sent: nobody is emailed twice for one due date.
    again = run(app)
    assert again.exit_code == 0, again.output
    assert "0 sent, 0 failed" in again.output
    assert len(mailbox.to(patient["email"])) == 1


def test_a_refused_email_is_failed_with_the_reason_and_the_next_run_retries_it(app, smtp):
    _, mailbox = smtp
    patient = due_patient(app)
    mailbox.refuse = True
    result = run(app)
    assert result.exit_code != 0
    assert "Failed (the next run retries it)" in result.output
    assert patient["mrn"] in result.output
    assert "550" in result.output
    [row] = outbox(app, patient["intervention_id"])
    assert row.status == "failed"
    assert "550" in row.reason and "Mailbox unavailable" in row.reason
    assert mailbox.to(patient["email"]) == []
    assert audit_actions(app, patient["intervention_id"]) == ["email_failed"]

    mailbox.refuse = False
    retry = run(app)
    assert retry.exit_code == 0, retry.output
    assert len(mailbox.to(patient["email"])) == 1
    [row] = outbox(app, patient["intervention_id"])
    assert (row.status, row.attempts, row.reason) == ("sent", 2, None)
    assert audit_actions(app, patient["intervention_id"]) == ["email_failed", "email_sent"]


def test_an_unreachable_server_fails_the_email_and_leaves_the_rest_for_the_next_run(app, smtp):
    first, second = due_patient(app), due_patient(app)
    app.extensions["mailman"].port = free_port()  # nothing listens there
    result = run(app)
    assert result.exit_code != 0
    assert "could not be reached" in result.output
    assert "1 not tried" in result.output
    rows = outbox(app, first["intervention_id"]) + outbox(app, second["intervention_id"])
    assert [row.status for row in rows] == ["failed"]
    app.extensions["mailman"].port = smtp[0].port
    assert run(app).exit_code == 0
    _, mailbox = smtp
    assert len(mailbox.to(first["email"])) == len(mailbox.to(second["email"])) == 1


def test_a_run_stopped_between_claiming_and_sending_leaves_the_row_sending_never_resent(app, smtp):
    _, mailbox = smtp
    patient = due_patient(app)

    def crash(address, subject, body):
        raise KeyboardInterrupt  # the process is killed while talking to the server

    with app.app_context(), pytest.raises(KeyboardInterrupt):
        command.send_due(
            db.session,
            today(app),
            crash,
            key=links.link_key(app.config),
            public_url=PUBLIC_URL,
            clinic_name=CLINIC_NAME,
        )
    [row] = outbox(app, patient["intervention_id"])
    assert row.status == "sending" and row.run_id

    # Never resent automatically: listed for a person, and the command says so.
    dry = run(app, "--dry-run")
    assert dry.exit_code == 0
    assert "Would email 0 patients" in dry.output
    assert f"#{row.id} " in dry.output and patient["mrn"] in dry.output
    result = run(app)
    assert result.exit_code != 0
    assert "Left sending" in result.output and f"#{row.id} " in result.output
    assert mailbox.to(patient["email"]) == []
    assert outbox(app, patient["intervention_id"])[0].status == "sending"

    # A person decides it never went: the next run sends it.
    resolved = app.test_cli_runner().invoke(args=["reminders", "resolve", str(row.id), "--resend"])
    assert resolved.exit_code == 0, resolved.output
    assert run(app).exit_code == 0
    assert len(mailbox.to(patient["email"])) == 1
    assert outbox(app, patient["intervention_id"])[0].status == "sent"


def test_resolving_a_row_that_is_not_left_sending_is_refused(app):
    patient = due_patient(app)
    assert run(app).exit_code == 0
    [row] = outbox(app, patient["intervention_id"])
    result = app.test_cli_runner().invoke(args=["reminders", "resolve", str(row.id), "--sent"])
    assert result.exit_code != 0
    assert "is not one left sending" in result.output


def test_dry_run_lists_whom_it_would_email_and_writes_and_sends_nothing(app, smtp):
    _, mailbox = smtp
    patient = due_patient(app)
    result = run(app, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Would email 1 patient:" in result.output
    assert patient["email"] in result.output and patient["mrn"] in result.output
    assert outbox(app, patient["intervention_id"]) == []
    assert mailbox.messages == []


def test_only_consenting_patients_with_an_active_link_and_an_open_call_are_emailed(app):
    due = due_patient(app)
    no_consent = due_patient(app, consent=False)
    no_email = due_patient(app, email=None, consent=False)
    no_link = due_patient(app, link=False)
    not_due_yet = due_patient(app, performed_days_ago=10)
    answered = due_patient(app)
    revoked = due_patient(app)
    with app.app_context():
        session = db.session
        factories.bind(session)
        from clinic.models import Intervention

        factories.PainScoreFactory(
            intervention=session.get(Intervention, answered["intervention_id"]),
            recorded_on=today(app),
            source="self_report",
        )
        links.revoke_link(
            session, session.get(Intervention, revoked["intervention_id"]), today(app)
        )
        session.commit()
        found = {r.intervention_id for r in service.due_reminders(session, today(app))}
        session.remove()
    assert found == {due["intervention_id"]}
    del no_consent, no_email, no_link, not_due_yet


def test_of_several_open_due_dates_only_the_latest_is_emailed(app):
    # A medial branch block calls at 1 day and 1 week: a week on, both calls are open.
    patient = due_patient(app, code="MBB", performed_days_ago=7)
    with app.app_context():
        [reminder] = service.due_reminders(db.session, today(app))
        db.session.remove()
    assert reminder.intervention_id == patient["intervention_id"]
    assert reminder.due_on == today(app)


def test_due_reminders_are_found_in_the_same_number_of_queries_however_many(app):
    def statements(count: int) -> int:
        for _ in range(count):
            due_patient(app)
        with app.app_context(), count_statements(app) as counter:
            assert len(service.due_reminders(db.session, today(app))) >= count
            db.session.remove()
        with app.app_context():
            db.session.execute(update(Patient).values(email_consent=False, email_consent_on=None))
            db.session.commit()
            db.session.remove()
        return counter.count

    assert statements(1) == statements(5)


def test_two_runs_at_once_email_each_due_reminder_exactly_once(app, smtp, monkeypatch):
    """Both runs find the same reminders due before either claims one: the claim decides."""
    _, mailbox = smtp
    patients = [due_patient(app) for _ in range(6)]
    found = threading.Barrier(2)
    original = service.due_reminders

    def due_then_wait(session, day):
        reminders = original(session, day)
        found.wait(timeout=20)
        return reminders

    monkeypatch.setattr(service, "due_reminders", due_then_wait)
    reports: list = [None, None]
    errors: list = []

    def cron(index: int) -> None:
        try:
            with app.app_context():
                send, close = command.smtp_sender(app.config)

                def slow_send(address, subject, body):
                    time.sleep(0.05)  # keep both runs in flight together
                    send(address, subject, body)

                try:
                    reports[index] = command.send_due(
                        db.session,
                        today(app),
                        slow_send,
                        key=links.link_key(app.config),
                        public_url=PUBLIC_URL,
                        clinic_name=CLINIC_NAME,
                    )
                finally:
                    close()
                    db.session.remove()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=cron, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    for patient in patients:
        assert len(mailbox.to(patient["email"])) == 1, patient
        [row] = outbox(app, patient["intervention_id"])
        assert (row.status, row.attempts) == ("sent", 1)
        assert audit_actions(app, patient["intervention_id"]) == ["email_sent"]
    sent = [len(report.sent) for report in reports]
    assert sum(sent) == 6
    # Each saw all six due; what one run sent, the other found taken.
    assert [report.claimed_elsewhere for report in reports] == [sent[1], sent[0]]


def test_a_bad_mail_use_tls_setting_is_refused_before_anything_is_sent(app, smtp):
    patient = due_patient(app)
    app.config["MAIL_USE_TLS"] = "yes"
    try:
        result = run(app)
    finally:
        app.config["MAIL_USE_TLS"] = False
    assert result.exit_code != 0
    assert "MAIL_USE_TLS" in result.output and "true or false" in result.output
    assert outbox(app, patient["intervention_id"]) == []


def test_the_outbox_refuses_a_second_row_for_one_intervention_and_due_date(app):
    patient = due_patient(app)
    assert run(app).exit_code == 0
    with app.app_context():
        session = db.session
        with pytest.raises(Exception, match="(?i)unique"):
            session.execute(
                text(
                    "INSERT INTO reminder_email (intervention_id, due_on, status, attempts, "
                    "created_at, updated_at) VALUES (:i, :d, 'sending', 1, :n, :n)"
                ),
                {"i": patient["intervention_id"], "d": today(app), "n": clock.utcnow()},
            )
        session.rollback()
        session.remove()
