"""The demo dataset (``seed-demo``): a realistic, reproducible synthetic clinic."""

import random

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from clinic import clock
from clinic.demo.episodes import patient_history
from clinic.demo.patients import make_patient
from clinic.demo.reminders import add_email_consent
from clinic.demo.run import DemoClinic, DemoSummary
from clinic.demo.selfreport import add_self_report
from clinic.demo.sessions import add_demo_sessions
from clinic.demo.staff import (
    CONSULT_ROOMS,
    PHYSICIANS,
    PROCEDURE_ROOMS,
    ROOMS,
    ensure_staff_and_rooms,
    staffing,
)
from clinic.demo.writing import FLUSH_EVERY
from clinic.models import Patient, ProcedureType, RepeatEligibilityRule, SelfReportLink
from clinic.services import DomainError
from clinic.services.followup import kept
from clinic.services.identity.audit import record_event
from clinic.services.relief.eligibility import rule_from_row
from clinic.services.relief.payers import load_regions
from clinic.services.scheduling.bookings import lock_schedule

# What the commands, the tests and the benchmarks use.
__all__ = [
    "CONSULT_ROOMS",
    "PHYSICIANS",
    "PROCEDURE_ROOMS",
    "ROOMS",
    "DemoSummary",
    "seed_demo",
    "staffing",
]


def seed_demo(
    session: Session, patients: int = 200, seed: int = 2026, link_key: bytes | None = None
) -> DemoSummary:
    """Load the demo dataset into a database that holds no patients yet.

    At least three patients follow the stimulator pathway (trial, implant, programming
    visits), however few patients are asked for; so at least three patients are made. Given
    the app's ``link_key``, procedures still followed up get working self-report links.
    """
    if patients < 1:
        raise DomainError("--patients must be at least 1.", "patients")
    existing = session.execute(select(func.count()).select_from(Patient)).scalar_one()
    if existing:
        raise DomainError(
            f"This database already holds {existing} patients; seed-demo only fills an empty one."
        )
    rng = random.Random(seed)
    today = clock.utcnow().date()
    summary = DemoSummary()
    total = max(patients, 3)
    # SQLite: take the write lock first, so that the ids counted on below stay ours.
    lock_schedule(session)
    physicians, procedure_rooms, consult_rooms = ensure_staff_and_rooms(session, summary, total)
    procedures = {p.code: p for p in session.execute(select(ProcedureType)).scalars()}
    rules = [rule_from_row(row) for row in session.execute(select(RepeatEligibilityRule)).scalars()]
    clinic = DemoClinic(
        session,
        rng,
        today,
        physicians,
        procedure_rooms,
        consult_rooms,
        procedures,
        rules,
        load_regions(session),
    )
    templates, time_off = add_demo_sessions(
        session, physicians, procedure_rooms, consult_rooms, today, seed
    )
    clinic.slots.keep_to_sessions(
        templates,
        time_off,
        {p.id: p.username for p in physicians},
        {room.name: "procedures" for room in procedure_rooms}
        | {room.name: "clinic" for room in consult_rooms},
    )
    stimulator_every = max(1, min(total // 3, 40))
    for number in range(1, total + 1):
        patient = make_patient(rng, number, today)
        clinic.add(patient)
        stimulator = number % stimulator_every == 1 or stimulator_every == 1
        if stimulator:
            patient.condition = "other"
            summary.stimulator_patients += 1
        summary.interventions += patient_history(clinic, patient, stimulator)
        if clinic.queued >= FLUSH_EVERY:
            clinic.flush()  # between patients: a patient's records are final once written
    clinic.flush()
    diary_entries, _ = add_self_report(session, seed, today, link_key)
    clinic.written["diary_entry"] = diary_entries
    settle(session)
    clinic.written["email_consent"] = add_email_consent(session, seed, today, link_key)
    # Links come from both steps: the self-report histories and those due a reminder today.
    clinic.written["self_report_link"] = session.execute(
        select(func.count()).select_from(SelfReportLink)
    ).scalar_one()
    summary.patients = total
    record_event(
        session,
        "import",
        details={"source": "seed-demo", "seed": seed, "rows": dict(sorted(clinic.written.items()))},
    )
    session.flush()
    return summary


def settle(session: Session) -> None:
    """After the bulk writes: fresh statistics, and what the ORM's writers would have kept."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:
        # Fresh statistics for the tables just filled: without them PostgreSQL plans the reads
        # below, and the call list that picks whom to remind, as if they were empty (a
        # sequential scan of every pain score for each thousand procedures).
        session.execute(text("ANALYZE booking, intervention, patient, pain_score, follow_up_call"))
    # The records went in around the ORM: the calls kept for the call list are worked out here.
    kept.refresh_all(session.connection())
    if postgresql:
        session.execute(text("ANALYZE scheduled_call"))
