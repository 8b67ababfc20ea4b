"""The demo dataset (``seed-demo``): a clinic's day to work with, and a clinical story that obeys
the clinic's own rules."""

from collections import Counter, defaultdict

import pytest
from sqlalchemy import func, select

from clinic import clock, demo
from clinic.models import (
    AuditEvent,
    Booking,
    Intervention,
    PainScore,
    Patient,
    ProcedureType,
    Referral,
    RepeatEligibilityRule,
    ScsDevice,
    StimulatorAdjustment,
)
from clinic.services.followup import calls as followups
from clinic.services.identity.audit import COMMAND_LINE, act_as
from clinic.services.relief import eligibility
from clinic.services.relief import rules as relief
from clinic.services.relief.payers import load_regions
from tests.helpers.calls import kept_calls, worked_out_calls

PATIENTS = 300


@pytest.fixture
def seeded(db_session):
    act_as(db_session, COMMAND_LINE)
    summary = demo.seed_demo(db_session, patients=PATIENTS, seed=5)
    db_session.flush()
    db_session.expire_all()
    return summary


def test_demo_holds_referrals_in_every_status_and_bookings_either_side_of_today(db_session, seeded):
    statuses = Counter(db_session.execute(select(Referral.status)).scalars())
    assert set(statuses) == {
        "received",
        "triaged",
        "scheduled",
        "completed",
        "declined",
        "cancelled",
    }
    now = clock.utcnow()
    past = db_session.execute(
        select(func.count()).select_from(Booking).where(Booking.starts_at < now)
    ).scalar_one()
    coming = db_session.execute(
        select(func.count())
        .select_from(Booking)
        .where(Booking.starts_at >= now, Booking.status == "scheduled")
    ).scalar_one()
    assert past > PATIENTS and coming > 10
    booking_statuses = set(db_session.execute(select(Booking.status)).scalars())
    assert {"completed", "scheduled", "cancelled", "no_show"} <= booking_statuses


def test_demo_gives_the_front_desk_calls_overdue_due_and_coming_up(db_session, seeded):
    calls = followups.call_list(db_session, clock.utcnow().date())
    assert calls.overdue and calls.upcoming
    assert calls.done_count > 0


def test_demo_keeps_the_calls_of_everything_it_wrote_around_the_orm(db_session, seeded):
    kept = kept_calls(db_session)
    assert {state for *_, state in kept} == {"open", "done", "self_report"}
    assert kept == worked_out_calls(db_session)


def test_demo_never_books_a_procedure_that_its_own_payer_rules_refuse(db_session, seeded):
    """Each RFA and repeat epidural was allowed on its day by the seeded eligibility rules."""
    rules = [
        eligibility.rule_from_row(row)
        for row in db_session.execute(select(RepeatEligibilityRule)).scalars()
    ]
    interventions = db_session.execute(
        select(Intervention).order_by(Intervention.patient_id, Intervention.starts_at)
    ).scalars()
    scores = defaultdict(list)
    for score in db_session.execute(select(PainScore).order_by(PainScore.recorded_on)).scalars():
        scores[score.intervention_id].append(
            relief.Score(score.recorded_on, score.nrs, score.percent_relief)
        )
    regions = load_regions(db_session)
    history = defaultdict(list)
    judged = Counter()
    for intervention in interventions:
        code, day = intervention.procedure_type.code, intervention.starts_at.date()
        # The region of a booking still to come is unknown until its level is recorded.
        region = regions.region_of(code, intervention.spinal_level)
        if region is None and intervention.status != "completed":
            continue
        assessment = eligibility.assess_target(
            rules, code, history[intervention.patient_id], day, region
        )
        if any(check.applies for check in assessment.checks):
            judged[code] += 1
            assert assessment.eligible, (intervention.id, code, day, assessment.checks)
        if intervention.status == "completed":
            history[intervention.patient_id].append(
                eligibility.PastProcedure(
                    intervention.id,
                    code,
                    intervention.performed_on,
                    intervention.baseline_nrs,
                    scores[intervention.id],
                    region=region,
                )
            )
    # The check has something to judge: first RFAs after blocks, and repeat epidurals.
    assert judged["RFA"] > 0 and judged["ESI-TF"] + judged["ESI-IL"] + judged["ESI-CA"] > 0


def test_demo_follow_up_scores_come_after_the_procedure_and_never_from_the_future(
    db_session, seeded
):
    today = clock.utcnow().date()
    rows = db_session.execute(
        select(PainScore.recorded_on, Intervention.performed_on).join(
            Intervention, Intervention.id == PainScore.intervention_id
        )
    ).all()
    assert rows
    assert all(performed_on < recorded_on < today for recorded_on, performed_on in rows)


def test_demo_has_three_stimulator_patients_with_programming_however_few_patients(db_session):
    act_as(db_session, COMMAND_LINE)
    demo.seed_demo(db_session, patients=1, seed=3)
    db_session.flush()
    assert db_session.execute(select(func.count()).select_from(Patient)).scalar_one() == 3
    devices = db_session.execute(select(ScsDevice)).scalars().all()
    assert len({device.patient_id for device in devices}) == 3
    programmed = set(
        db_session.execute(
            select(ScsDevice.patient_id).join(
                StimulatorAdjustment, StimulatorAdjustment.device_id == ScsDevice.id
            )
        ).scalars()
    )
    assert programmed == {device.patient_id for device in devices}


def test_demo_load_is_audited_as_one_import_event_with_its_row_counts(db_session, seeded):
    events = (
        db_session.execute(select(AuditEvent).where(AuditEvent.action == "import")).scalars().all()
    )
    assert len(events) == 1
    rows = events[0].details["rows"]
    assert events[0].details["source"] == "seed-demo"
    assert rows["patient"] == PATIENTS
    assert (
        rows["pain_score"]
        == db_session.execute(select(func.count()).select_from(PainScore)).scalar_one()
    )


def test_a_large_practice_gets_more_physicians_and_rooms():
    physicians, suites, consult_rooms = demo.staffing(50_000)
    assert len(physicians) == 42 and len({username for username, _ in physicians}) == 42
    assert physicians[: len(demo.PHYSICIANS)] == demo.PHYSICIANS
    assert len(suites) == len(consult_rooms) == 28
    assert demo.staffing(400) == (demo.PHYSICIANS, demo.PROCEDURE_ROOMS, demo.CONSULT_ROOMS)


def test_demo_has_a_large_practice_volume_per_patient_over_both_regions(db_session):
    """Issue 5: a large practice holds about 4 interventions and 40 pain scores per patient
    (50,000 patients, 200,000 interventions, 2,000,000 scores); the demo keeps those ratios,
    with chronic patients treated in the neck as well as the low back."""
    act_as(db_session, COMMAND_LINE)
    patients = 500
    demo.seed_demo(db_session, patients=patients, seed=5)
    db_session.flush()
    interventions = db_session.execute(select(func.count()).select_from(Intervention)).scalar_one()
    scores = db_session.execute(select(func.count()).select_from(PainScore)).scalar_one()
    assert 3.4 <= interventions / patients <= 4.6
    assert 34 <= scores / patients <= 46
    regions = defaultdict(set)
    for patient_id, level in db_session.execute(
        select(Intervention.patient_id, Intervention.spinal_level).where(
            Intervention.spinal_level.is_not(None)
        )
    ):
        regions[patient_id].add(level[0])
    assert sum(regions[patient] >= {"C", "L"} for patient in regions) > patients // 20
    # Ablations are repeated when their relief wears off, as the rules allow.
    per_patient = Counter(
        db_session.execute(
            select(Intervention.patient_id)
            .join(Intervention.procedure_type)
            .where(Intervention.status == "completed", ProcedureType.code == "RFA")
        ).scalars()
    )
    assert sum(count >= 3 for count in per_patient.values()) > 10
