"""Episodes of care: a patient's referrals over the years, each with its consult and the courses
of procedures it led to, and the visits the schedule holds ahead."""

from datetime import UTC, date, datetime, time, timedelta

from clinic import clock
from clinic.demo.courses import (
    Treatment,
    another_course,
    courses_offered,
    move_referral,
    treat,
)
from clinic.demo.relief import end_diary
from clinic.demo.run import DemoClinic
from clinic.models import Patient, Referral, StaffUser, Visit
from clinic.services.relief.eligibility import PastProcedure
from clinic.services.relief.rules import assess

REFERRERS = [
    ("Dr. Helen Park", "Riverside Family Practice"),
    ("Dr. Samuel Osei", "Northgate Medical Group"),
    ("Dr. Ana Costa", "Lakeview Orthopaedics"),
    ("Dr. Peter Walsh", "Hillcrest Primary Care"),
    ("Dr. Mira Shah", "City Spine Surgery"),
]
# Why the patient was referred, by the region of the spine and the condition.
REASONS = {
    "lumbar": {
        "herniated_disc": "Lumbar radicular pain down the leg for {weeks} weeks; MRI shows a disc protrusion",
        "degenerative_disc_disease": "Chronic axial low back pain for {weeks} weeks; degenerative discs on imaging",
        "spinal_stenosis": "Neurogenic claudication limiting walking; stenosis on MRI",
        "facet_joint_arthritis": "Axial low back pain worse on extension; facet arthropathy on imaging",
        "other": "Persistent low back and leg pain after lumbar surgery, not helped by medication",
    },
    "cervical": {
        "herniated_disc": "Cervical radicular pain down the arm for {weeks} weeks; MRI shows a disc protrusion",
        "degenerative_disc_disease": "Chronic axial neck pain for {weeks} weeks; degenerative cervical discs on imaging",
        "spinal_stenosis": "Arm pain and paraesthesia from cervical foraminal stenosis on MRI",
        "facet_joint_arthritis": "Axial neck pain and cervicogenic headache; cervical facet arthropathy on imaging",
        "other": "Persistent neck and arm pain after cervical fusion, not helped by medication",
    },
}
# Most patients come with low back pain; some with neck pain; and many chronic patients are
# treated for both over the years, in separate episodes of care.
CERVICAL_FIRST = 0.2
BOTH_REGIONS = 0.45
HISTORY_DAYS = 6 * 365  # how far back the demo practice's records go
RETURN_RATE = 0.9  # back pain recurs: most patients whom a course helped are referred again
RETURN_UNHELPED = 0.6  # and some of those it did not, to try something else
# Spine pain has more than one source over the years: a later referral is often for another
# condition, facet arthropathy and degenerative discs above all as the spine ages.
NEW_CONDITION_RATE = 0.4
LATER_CONDITIONS = {
    "herniated_disc": 15,
    "degenerative_disc_disease": 30,
    "spinal_stenosis": 20,
    "facet_joint_arthritis": 35,
}


def patient_history(clinic: DemoClinic, patient: Patient, stimulator: bool) -> int:
    """A patient's episodes of care, from the first referral to what the schedule holds.

    Chronic spine pain comes and goes: after a course of procedures most patients are referred
    again months or years later, and many are treated for neck pain as well as low back pain,
    so a practice's records hold several episodes per patient. Every procedure is booked only
    when the payer rules (the eligibility table) allow it on its day, so the demo never shows a
    repeat that its own rules refuse. A patient's procedures follow one another in time, so
    each one is judged on the history before it.
    """
    rng, today = clinic.rng, clinic.today
    physician = clinic.physicians[rng.randrange(len(clinic.physicians))]
    history: list[PastProcedure] = []
    fresh = not stimulator and rng.random() < 0.12
    if stimulator:
        # Long enough ago to have had a trial, an implant and programming visits.
        received_on = today - timedelta(days=rng.randint(330, 720))
        regions = ["lumbar"]
    else:
        regions = (
            ["cervical", "lumbar"] if rng.random() < CERVICAL_FIRST else ["lumbar", "cervical"]
        )
        if rng.random() > BOTH_REGIONS:
            regions = regions[:1]
        if fresh:
            # The front of the pipeline: received in the last three weeks, some overdue for triage.
            received_on = today - timedelta(days=rng.randint(0, 20))
        else:
            received_on = today - timedelta(days=int(rng.triangular(0, HISTORY_DAYS, 5 * 365)))
    region, condition = regions[0], patient.condition
    count = 0
    while True:
        done, last_day = episode(
            clinic, patient, physician, received_on, stimulator, history, region, condition, fresh
        )
        count += done
        # Patients whose last procedure helped come back when the pain does; fewer of the
        # others do, and after a declined referral the next one is for another problem.
        declined = not done
        helped = bool(history) and bool(
            assess(history[-1].baseline, history[-1].performed_on, history[-1].scores).responder
        )
        if (
            last_day is None
            or stimulator
            or rng.random() > (RETURN_RATE if helped and not declined else RETURN_UNHELPED)
        ):
            break
        received_on = last_day + timedelta(days=rng.randint(30, 180))
        if received_on > today:
            break
        region = rng.choice(regions)
        if declined or rng.random() < NEW_CONDITION_RATE:
            others = {c: w for c, w in LATER_CONDITIONS.items() if c != condition}
            condition = rng.choices(list(others), list(others.values()))[0]
        else:
            condition = patient.condition
    end_diary(clinic, history, None)
    if history and (today - history[-1].performed_on).days < 365 and rng.random() < 0.5:
        upcoming_visit(clinic, patient, physician)
    return count


def episode(
    clinic: DemoClinic,
    patient: Patient,
    physician: StaffUser,
    received_on: date,
    stimulator: bool,
    history: list[PastProcedure],
    region: str = "lumbar",
    condition: str | None = None,
    fresh: bool = False,
) -> tuple[int, date | None]:
    """One referral and what came of it: the consult, courses of procedures, checks and calls.

    Returns the procedures booked, and the day the episode ended — None while it is still open
    (in the pipeline, or with a booking to come).
    """
    condition = condition or patient.condition
    referral = refer(clinic, patient, received_on, region, condition)
    if fresh:
        received_on = triage(clinic, referral)
        if received_on is None:
            return 0, None
    if not stimulator and clinic.rng.random() < 0.06:
        turn_away(clinic, referral)
        return 0, received_on
    consulted_on = consult(clinic, patient, physician, referral, received_on)
    if consulted_on is None:
        return 0, None
    day = consulted_on + timedelta(days=clinic.rng.randint(10, 28))
    options = courses_offered(clinic.rng, region, condition, stimulator)
    # The physician's first choice, or another course for the condition that the rules allow.
    steps = another_course(clinic, options, history, day, region)
    if not steps:
        move_referral(referral, "declined", consulted_on)
        referral.status_reason = (
            "Earlier procedures did not give the relief payers require for a repeat; "
            "referred back for conservative care"
        )
        return 0, consulted_on
    return treat(
        clinic,
        Treatment(
            patient,
            physician,
            referral,
            region,
            received_on,
            stimulator,
            history,
            options,
            steps,
            day,
            last_day=consulted_on,
        ),
    )


def refer(
    clinic: DemoClinic, patient: Patient, received_on: date, region: str, condition: str
) -> Referral:
    """The referral that opens an episode, from one of the practices that refer to the clinic."""
    rng = clinic.rng
    clinician, practice = rng.choice(REFERRERS)
    referral = Referral(
        patient=patient,
        referring_clinician=clinician,
        referring_practice=practice,
        received_on=received_on,
        reason=REASONS[region][condition].format(weeks=rng.randint(6, 40)),
        condition=condition,
        urgency="urgent" if rng.random() < 0.15 else "routine",
        status="received",
    )
    # That morning, or now for a referral that arrives today before nine.
    referral.status_changed_at = min(
        datetime.combine(received_on, time(9), tzinfo=UTC), clock.utcnow()
    )
    clinic.add(referral)
    return referral


def triage(clinic: DemoClinic, referral: Referral) -> date | None:
    """A referral received in the last weeks: still waiting for triage, triaged and waiting for
    a consult, or given one in the coming days (the day its consult is booked from)."""
    rng = clinic.rng
    if rng.random() < 0.6:
        return None
    move_referral(referral, "triaged", referral.received_on + timedelta(days=rng.randint(0, 3)))
    if rng.random() < 0.5:
        return None
    return clinic.today - timedelta(days=rng.randint(-7, 0))  # a consult in the coming days


def turn_away(clinic: DemoClinic, referral: Referral) -> None:
    """A referral declined by the clinic, or cancelled by the patient, before any consult."""
    closed_on = referral.received_on + timedelta(days=clinic.rng.randint(1, 6))
    move_referral(referral, clinic.rng.choice(["declined", "cancelled"]), closed_on)
    referral.status_reason = (
        "Not a candidate for interventional treatment; referred to physiotherapy"
        if referral.status == "declined"
        else "Patient chose surgery elsewhere"
    )


def consult(
    clinic: DemoClinic,
    patient: Patient,
    physician: StaffUser,
    referral: Referral,
    received_on: date,
) -> date | None:
    """The consult one to three weeks after the referral: its day once past (kept, missed or
    cancelled, the referral is triaged), None while it is still to come."""
    rng, today = clinic.rng, clinic.today
    consult_day = received_on + timedelta(days=rng.randint(7, 21))
    consult_room = rng.choice(clinic.consult_rooms)
    starts_at, ends_at = clinic.slots.take(
        consult_day, 30, physician.username, consult_room.name, patient.mrn
    )
    visit = Visit(
        patient=patient,
        physician=physician,
        room=consult_room,
        visit_kind="consult",
        starts_at=starts_at,
        ends_at=ends_at,
        status="scheduled",
    )
    clinic.add(visit)
    # Triaged within days of arriving; it is "scheduled" only once a procedure is booked.
    triaged_on = received_on + timedelta(days=rng.randint(0, 3))
    if starts_at.date() >= today:
        move_referral(referral, "triaged", min(triaged_on, today))
        if starts_at.date() == today and rng.random() < 0.5:
            visit.status = "checked_in"
        return None
    visit.status = rng.choices(["completed", "no_show", "cancelled"], weights=[92, 5, 3])[0]
    if visit.status == "cancelled":
        visit.status_reason = "Patient called to cancel: unwell"
    move_referral(referral, "triaged", triaged_on)
    patient.last_seen_at = starts_at
    return starts_at.date()


def upcoming_visit(clinic: DemoClinic, patient: Patient, physician: StaffUser) -> None:
    """A follow-up visit in the next two weeks, so the schedule ahead looks like a clinic's."""
    day = clinic.today + timedelta(days=clinic.rng.randint(0, 14))
    room = clinic.rng.choice(clinic.consult_rooms)
    starts_at, ends_at = clinic.slots.take(day, 30, physician.username, room.name, patient.mrn)
    status = "scheduled"
    if starts_at.date() == clinic.today:
        status = clinic.rng.choice(["scheduled", "checked_in"])
    clinic.add(
        Visit(
            patient=patient,
            physician=physician,
            room=room,
            visit_kind="follow_up",
            starts_at=starts_at,
            ends_at=ends_at,
            status=status,
        )
    )
