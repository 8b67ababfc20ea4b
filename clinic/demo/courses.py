"""Courses of procedures within an episode of care: which courses a physician offers for a
condition, which the payer rules allow, and how each procedure leads to the next.

A procedure that helped is repeated when its relief wears off, as far as the rules allow; a
course that did not help (or whose relief was too short for the payer to fund a repeat) makes
way for another course for the condition.
"""

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from clinic import clock
from clinic.demo.procedures import book_intervention, complete, post_procedure_check
from clinic.demo.relief import Relief
from clinic.demo.run import DemoClinic
from clinic.demo.stimulators import stimulator_course
from clinic.models import Intervention, Patient, Referral, StaffUser
from clinic.services.relief.eligibility import PastProcedure, assess_target
from clinic.services.relief.rules import assess


def move_referral(referral: Referral, status: str, at: date | datetime) -> None:
    """Give the referral a status as of a moment of its history (a day means that day's
    morning), never later than now: the board's completed and closed columns go by it."""
    if isinstance(at, date) and not isinstance(at, datetime):
        at = datetime.combine(at, time(9), tzinfo=UTC)
    referral.status = status
    referral.status_changed_at = min(at, clock.utcnow())


# The dual-block paradigm: two medial branch blocks, each positive, before a first ablation.
BLOCKS_THEN_RFA = ["MBB", "MBB", "RFA"]
# The courses a physician offers for a condition in a region, first choice drawn at random
# (a course listed twice is offered more often). When one fails, the next allowed one is tried.
PATHWAYS = {
    "lumbar": {
        "herniated_disc": [["ESI-TF"], ["ESI-TF"], ["ESI-IL"]],
        "spinal_stenosis": [["ESI-IL"], ["ESI-CA"], ["ESI-IL"]],
        "degenerative_disc_disease": [["ESI-IL"], ["FJI"], ["ESI-TF"], BLOCKS_THEN_RFA],
        "facet_joint_arthritis": [BLOCKS_THEN_RFA, ["FJI"], BLOCKS_THEN_RFA],
        "other": [["ESI-TF"], ["FJI"], ["ESI-CA"]],
    },
    # Cervical epidurals are interlaminar (C7-T1): transforaminal ones risk the vertebral artery.
    "cervical": {
        "herniated_disc": [["ESI-IL"]],
        "spinal_stenosis": [["ESI-IL"]],
        "degenerative_disc_disease": [["ESI-IL"], BLOCKS_THEN_RFA],
        "facet_joint_arthritis": [BLOCKS_THEN_RFA, ["FJI"], BLOCKS_THEN_RFA],
        "other": [["ESI-IL"], ["FJI"]],
    },
}
SCS_PATHWAY = ["SCS-TRIAL", "SCS-IMPLANT"]
MAX_REPEATS = 6  # repeats of a helpful procedure in one course, as far as the rules allow
REPEATABLE = {"ESI-TF", "ESI-IL", "ESI-CA", "RFA"}
KEEPS_COMING = 0.95  # patients who come back for a repeat when relief wears off
ESCALATE_RATE = 0.8  # when a course fails, the physician offers another for the condition
MAX_ESCALATIONS = 3  # courses tried in one episode after the first
CONFIRMED_BLOCKS = 0.85  # second blocks that confirm a positive first one
MISSED_RATE = 0.08  # procedures not done on the day: half no-shows, half cancelled


def courses_offered(
    rng: random.Random, region: str, condition: str, stimulator: bool
) -> list[list[str]]:
    """The courses the physician would offer for the condition, in the order offered, each once."""
    if stimulator:
        return [list(SCS_PATHWAY)]
    options: list[list[str]] = []
    for course in rng.sample(PATHWAYS[region][condition], k=len(PATHWAYS[region][condition])):
        if course not in options:
            options.append(list(course))
    return options


# The demo's regions of the spine, as the payer rules count them.
SPINAL_REGIONS = {"lumbar": "lumbar_sacral", "cervical": "cervical_thoracic"}


def allowed(
    clinic: DemoClinic, code: str, history: list[PastProcedure], day: date, region: str
) -> bool:
    """Whether the payer rules allow ``code`` on ``day`` in the episode's ``region``.

    Allowed when a rule that applies is met, or when no rule applies at all (a first epidural:
    the epidural rule speaks only about repeats; a facet injection: no rule names it).
    """
    planned = clinic.regions.by_code.get(code) or SPINAL_REGIONS[region]
    assessment = assess_target(clinic.rules, code, history, day, planned)
    return assessment.eligible or not any(check.applies for check in assessment.checks)


def positive_block(block: PastProcedure) -> bool:
    """A diagnostic block is positive with ≥ 80% relief, the threshold the RFA rule asks for."""
    return bool(assess(block.baseline, block.performed_on, block.scores, threshold=80).responder)


def another_course(
    clinic: DemoClinic,
    options: list[list[str]],
    history: list[PastProcedure],
    day: date,
    region: str,
) -> list[str]:
    """The next course offered for the condition that the rules allow on ``day``, taken off
    ``options``; empty when none is.

    After a first ablation of the region, new blocks would not help: the block rule governs only a first RFA,
    so a later one is a repeat RFA, booked directly when the last one gave lasting relief.
    """
    ablated = any(past.code == "RFA" and past.region == SPINAL_REGIONS[region] for past in history)
    while options:
        course = options.pop(0)
        if ablated and course == BLOCKS_THEN_RFA:
            course = ["RFA"]
        if allowed(clinic, course[0], history, day, region):
            return list(course)
    return []


@dataclass
class Treatment:
    """An episode's procedures as they go: the course under way and what may follow it."""

    patient: Patient
    physician: StaffUser
    referral: Referral
    region: str
    received_on: date  # the referral's day, that its consult was booked from
    stimulator: bool
    history: list[PastProcedure]
    options: list[list[str]]  # the courses for the condition not offered yet
    steps: list[str]  # the procedures left in the course under way
    day: date  # the day the next step is booked for
    last_day: date  # the episode's last day so far: its consult's, then each procedure's
    count: int = 0  # procedures booked
    repeats: int = 0  # repeats of the course's procedure so far
    escalations: int = 0  # courses tried after the first
    confirming: bool = False  # the next block is the second, after a positive first one


def treat(clinic: DemoClinic, treatment: Treatment) -> tuple[int, date | None]:
    """Book and do the course's procedures in turn, each only if the rules allow it on its day.

    Returns the procedures booked, and the day the episode ended — None while a booking is to
    come.
    """
    today = clinic.today
    while treatment.steps:
        code = treatment.steps.pop(0)
        if treatment.day > today + timedelta(days=28):
            return treatment.count, None  # not booked that far ahead yet
        if not allowed(clinic, code, treatment.history, treatment.day, treatment.region):
            break  # the rules refuse the next step: the course ends here
        # A referral is booked from until what it led to is done; a repeat after that is
        # booked on its own (a completed referral cannot be booked from).
        referral = treatment.referral if treatment.referral.status != "completed" else None
        intervention = book_intervention(
            clinic, treatment.patient, code, treatment.physician, treatment.day, referral
        )
        treatment.count += 1
        if referral is not None:
            # Booked a week or two ahead, after the last visit or procedure.
            booked = max(treatment.last_day, intervention.starts_at.date() - timedelta(days=14))
            move_referral(referral, "scheduled", booked)
        if intervention.starts_at.date() >= today:
            return treatment.count, None
        treatment.last_day = intervention.starts_at.date()
        if missed(clinic, treatment, intervention):
            break
        relief = perform(clinic, treatment, intervention, code)
        plan_next(clinic, treatment, code, intervention.performed_on, relief)
    return treatment.count, treatment.last_day


def missed(clinic: DemoClinic, treatment: Treatment, intervention: Intervention) -> bool:
    """Whether the patient missed the procedure (no-show, or cancelled), which ends the course.

    Stimulator patients are followed closely and keep their appointments, so the demo always
    holds their devices and programming.
    """
    roll = 1.0 if treatment.stimulator else clinic.rng.random()
    if roll >= MISSED_RATE:
        return False
    if roll < MISSED_RATE / 2:
        intervention.status = "no_show"
    else:
        intervention.status, intervention.status_reason = (
            "cancelled",
            "Anticoagulation not stopped in time",
        )
    referral = treatment.referral
    if referral.status == "scheduled":
        # Nothing else is booked from it: back to triage, to be booked again.
        missed_at = intervention.starts_at
        if intervention.status == "cancelled":
            missed_at -= timedelta(days=1)
        move_referral(referral, "triaged", missed_at)
        referral.needs_rebooking = True
        stop_rebooking(clinic, referral, missed_at)
    return True


# The desk tries for two to six weeks to book a missed procedure again; a referral not rebooked
# by then is closed, so that years of history do not leave thousands waiting on the board.
REBOOKING_TRIES = (14, 42)
NOT_REBOOKED = "Not rebooked after the missed procedure: the patient could not be reached"


def stop_rebooking(clinic: DemoClinic, referral: Referral, missed_at: datetime) -> None:
    """Close a referral sent back for rebooking once the desk's tries are over (before today)."""
    first, last = REBOOKING_TRIES
    # From the day itself, not the random stream, so the rest of the demo is drawn as before.
    closed_at = missed_at + timedelta(days=first + missed_at.toordinal() % (last - first + 1))
    if closed_at.date() < clinic.today:
        move_referral(referral, "cancelled", closed_at)
        referral.status_reason = NOT_REBOOKED


def perform(
    clinic: DemoClinic, treatment: Treatment, intervention: Intervention, code: str
) -> Relief:
    """Complete the procedure, then what follows it: the device and its programming after an
    implant, a check a few weeks after a recent procedure."""
    # Only patients whose stimulator trial helped go on to an implant. A second block after a
    # positive first one mostly confirms it: the pain comes from those joints.
    responder = None
    if code == "SCS-TRIAL":
        responder = True
    elif treatment.confirming:
        responder = clinic.rng.random() < CONFIRMED_BLOCKS
    relief = complete(clinic, intervention, code, treatment.region, treatment.history, responder)
    treatment.patient.last_seen_at = intervention.starts_at
    if treatment.referral.status == "scheduled":
        # Completing its procedure completes the referral.
        move_referral(treatment.referral, "completed", intervention.ends_at)
    if code == "SCS-IMPLANT":
        stimulator_course(clinic, intervention)
    elif (clinic.today - intervention.performed_on).days < 60:
        post_procedure_check(clinic, intervention)
    return relief


def plan_next(
    clinic: DemoClinic, treatment: Treatment, code: str, performed_on: date, relief: Relief
) -> None:
    """What the procedure leads to: the course's next step, a repeat when relief wears off, or
    another course; ``treatment.steps`` is left empty when the episode ends here."""
    rng = clinic.rng
    treatment.confirming = False
    if treatment.steps and (code != "MBB" or positive_block(treatment.history[-1])):
        # The course goes on: a second block two to four weeks after a positive first one,
        # then the ablation; an implant a month or so after a good trial.
        treatment.confirming = code == "MBB" and treatment.steps[0] == "MBB"
        gap = {"MBB": rng.randint(14, 30), "SCS-TRIAL": rng.randint(21, 45)}
        treatment.day = performed_on + timedelta(days=gap.get(code, rng.randint(90, 150)))
        return
    treatment.steps = []
    if relief.responder and code in REPEATABLE:
        if treatment.repeats >= MAX_REPEATS or rng.random() > KEEPS_COMING:
            return
        # Repeated when the relief wears off: the patient calls, and is booked within weeks.
        treatment.day = performed_on + timedelta(days=round(relief.days) + rng.randint(14, 42))
        if allowed(clinic, code, treatment.history, treatment.day, treatment.region):
            treatment.steps, treatment.repeats = [code], treatment.repeats + 1
            return
        # Relief too short for the payers to fund a repeat: something else is tried.
    elif relief.responder and code not in ("FJI", "MBB"):
        return  # a good trial and implant, or relief that needs no more for now
    # No relief, a negative block, or a facet injection's short relief: another course for the
    # condition, once the follow-up calls have shown it.
    if treatment.escalations < MAX_ESCALATIONS and rng.random() < ESCALATE_RATE:
        treatment.day = max(treatment.day, performed_on + timedelta(days=rng.randint(28, 70)))
        treatment.steps = another_course(
            clinic, treatment.options, treatment.history, treatment.day, treatment.region
        )
        treatment.escalations, treatment.repeats = treatment.escalations + 1, 0
