"""A realistic, reproducible synthetic dataset for demonstrations and benchmarks."""

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clinic import clock
from clinic.models import (
    Intervention,
    PainScore,
    Patient,
    ProcedureType,
    Referral,
    Room,
    ScsDevice,
    StaffUser,
    StimulatorAdjustment,
    Visit,
)
from clinic.services import DomainError
from clinic.services.followups import due_dates
from clinic.services.patients import MRN_DIGITS, MRN_PREFIX

FIRST_NAMES = {
    "female": [
        "Mary",
        "Patricia",
        "Linda",
        "Barbara",
        "Elizabeth",
        "Jennifer",
        "Maria",
        "Susan",
        "Margaret",
        "Dorothy",
        "Lisa",
        "Nancy",
        "Karen",
        "Betty",
        "Helen",
        "Sandra",
        "Donna",
        "Carol",
        "Ruth",
        "Sharon",
        "Michelle",
        "Laura",
        "Sarah",
        "Kimberly",
        "Deborah",
        "Zoë",
        "Aisha",
        "Mei",
        "Priya",
        "Sofía",
        "Ingrid",
        "Fatima",
        "Chloé",
        "Niamh",
        "Yuki",
    ],
    "male": [
        "James",
        "John",
        "Robert",
        "Michael",
        "William",
        "David",
        "Richard",
        "Charles",
        "Joseph",
        "Thomas",
        "Christopher",
        "Daniel",
        "Paul",
        "Mark",
        "Donald",
        "George",
        "Kenneth",
        "Steven",
        "Edward",
        "Brian",
        "Ronald",
        "Anthony",
        "Kevin",
        "Jason",
        "José",
        "Ahmed",
        "Wei",
        "Rajesh",
        "Björn",
        "Kwame",
        "Mateo",
        "Seán",
        "Hiroshi",
        "Omar",
    ],
}
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "O'Brien",
    "Müller",
    "Nakamura",
    "Patel",
    "Okafor",
    "Kowalski",
    "Johansson",
    "Dubois",
    "Rossi",
    "Chen",
]
# Weighted roughly as an interventional spine practice sees them.
CONDITION_WEIGHTS = {
    "herniated_disc": 30,
    "degenerative_disc_disease": 25,
    "spinal_stenosis": 20,
    "facet_joint_arthritis": 20,
    "other": 5,
}
PHYSICIANS = [
    ("dr.okafor", "Dr. Adaeze Okafor"),
    ("dr.lindqvist", "Dr. Erik Lindqvist"),
    ("dr.ramirez", "Dr. Lucía Ramírez"),
]
PROCEDURE_ROOMS = ["Procedure suite 1", "Procedure suite 2"]
CONSULT_ROOMS = ["Consult room A", "Consult room B"]
ROOMS = PROCEDURE_ROOMS + CONSULT_ROOMS
REFERRERS = [
    ("Dr. Helen Park", "Riverside Family Practice"),
    ("Dr. Samuel Osei", "Northgate Medical Group"),
    ("Dr. Ana Costa", "Lakeview Orthopaedics"),
    ("Dr. Peter Walsh", "Hillcrest Primary Care"),
    ("Dr. Mira Shah", "City Spine Surgery"),
]
REASONS = {
    "herniated_disc": "Lumbar radicular pain down the leg for {weeks} weeks; MRI shows a disc protrusion",
    "degenerative_disc_disease": "Chronic axial low back pain for {weeks} weeks; degenerative discs on imaging",
    "spinal_stenosis": "Neurogenic claudication limiting walking; stenosis on MRI",
    "facet_joint_arthritis": "Axial low back pain worse on extension; facet arthropathy on imaging",
    "other": "Persistent low back and leg pain after lumbar surgery, not helped by medication",
}


@dataclass(frozen=True)
class ReliefModel:
    """How a procedure type behaves in the demo, after the published ranges.

    Epidural steroids: about two thirds respond, relief lasting a median of 2–3 months.
    Facet injections: around three months. Medial branch blocks are diagnostic (relief for
    hours to a day or two). Radiofrequency ablation: 6–12 months. Stimulator trials: most
    patients report ≥ 50% relief; implants give relief lasting years.
    """

    responder_rate: float
    median_days: float
    spread: float = 0.5  # standard deviation of log(duration)


RELIEF_MODELS = {
    "ESI-TF": ReliefModel(0.65, 80),
    "ESI-IL": ReliefModel(0.60, 70),
    "ESI-CA": ReliefModel(0.55, 60),
    "FJI": ReliefModel(0.55, 90),
    "MBB": ReliefModel(0.70, 1.5, 0.3),
    "RFA": ReliefModel(0.70, 270, 0.4),
    "SCS-TRIAL": ReliefModel(0.75, 30, 0.2),
    "SCS-IMPLANT": ReliefModel(0.80, 1100, 0.6),
}
PATHWAYS = {
    "herniated_disc": [["ESI-TF"], ["ESI-TF", "ESI-TF"], ["ESI-IL"]],
    "spinal_stenosis": [["ESI-IL"], ["ESI-CA"], ["ESI-IL", "ESI-IL"]],
    "degenerative_disc_disease": [["ESI-IL"], ["FJI"], ["ESI-TF"]],
    "facet_joint_arthritis": [["MBB", "MBB", "RFA"], ["FJI"], ["MBB", "MBB", "RFA", "RFA"]],
    "other": [["ESI-TF"], ["FJI"]],
}
SCS_PATHWAY = ["SCS-TRIAL", "SCS-IMPLANT"]
DEVICES = [
    ("Medtronic", "Intellis"),
    ("Boston Scientific", "WaveWriter Alpha"),
    ("Abbott", "Proclaim XR"),
    ("Nevro", "Senza Omnia"),
]
PROCEDURE_MINUTES = {"SCS-TRIAL": 90, "SCS-IMPLANT": 120, "RFA": 60}


@dataclass
class DemoSummary:
    patients: int = 0
    physicians: list[str] = field(default_factory=list)
    rooms: list[str] = field(default_factory=list)
    interventions: int = 0
    stimulator_patients: int = 0


def ensure_staff_and_rooms(
    session: Session, summary: DemoSummary
) -> tuple[list[StaffUser], dict[str, Room]]:
    """The physicians and rooms the demo needs; physicians get no usable password."""
    physicians = []
    for username, full_name in PHYSICIANS:
        user = session.execute(
            select(StaffUser).where(StaffUser.username == username)
        ).scalar_one_or_none()
        if user is None:
            user = StaffUser(username=username, full_name=full_name, role="physician")
            session.add(user)
            summary.physicians.append(username)
        physicians.append(user)
    rooms = {}
    for name in ROOMS:
        room = session.execute(select(Room).where(Room.name == name)).scalar_one_or_none()
        if room is None:
            room = Room(name=name)
            session.add(room)
            summary.rooms.append(name)
        rooms[name] = room
    session.flush()
    return physicians, rooms


def make_patient(rng: random.Random, number: int, today: date) -> Patient:
    sex = rng.choices(["female", "male", "other", "unknown"], weights=[52, 46, 1, 1])[0]
    pool = sex if sex in FIRST_NAMES else rng.choice(["female", "male"])
    first = rng.choice(FIRST_NAMES[pool])
    last = rng.choice(LAST_NAMES)
    # Chronic back pain peaks in middle and older age.
    age_days = int(rng.triangular(25, 88, 58) * 365.25)
    local = f"{first}.{last}".lower().replace("'", "")
    return Patient(
        mrn=f"{MRN_PREFIX}{number:0{MRN_DIGITS}d}",
        first_name=first,
        last_name=last,
        date_of_birth=today - timedelta(days=age_days),
        sex=sex,
        phone=f"555-{rng.randint(100, 999):03d}-{rng.randint(0, 9999):04d}",
        email=f"{local.encode('ascii', 'ignore').decode()}{number}@example.org"
        if rng.random() < 0.7
        else None,
        condition=rng.choices(list(CONDITION_WEIGHTS), weights=list(CONDITION_WEIGHTS.values()))[0],
    )


class SlotBook:
    """Hands out clash-free half-hour slots per physician, room and patient (08:00–17:00 UTC)."""

    FIRST_SLOT, SLOTS_PER_DAY = 8 * 2, 18

    def __init__(self, rng: random.Random) -> None:
        self.busy: set[tuple[object, date, int]] = set()
        self.rng = rng

    def take(self, day: date, minutes: int, *resources: object) -> tuple[datetime, datetime]:
        length = math.ceil(minutes / 30)
        while True:
            if day.weekday() < 5:
                # Start looking at a random time of day, so bookings spread over the day.
                last_start = self.SLOTS_PER_DAY - length
                offset = self.rng.randint(0, last_start)
                for first in [*range(offset, last_start + 1), *range(0, offset)]:
                    keys = [(r, day, first + k) for r in resources for k in range(length)]
                    if not any(key in self.busy for key in keys):
                        self.busy.update(keys)
                        start = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(
                            minutes=30 * (self.FIRST_SLOT + first)
                        )
                        return start, start + timedelta(minutes=minutes)
            day += timedelta(days=1)


@dataclass
class DemoClinic:
    """What one seeding run works with."""

    session: Session
    rng: random.Random
    today: date
    physicians: list[StaffUser]
    rooms: dict[str, Room]
    procedures: dict[str, ProcedureType]
    slots: SlotBook = field(init=False)
    pending: list[object] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.slots = SlotBook(self.rng)

    def add(self, *records: object) -> None:
        self.pending.extend(records)
        if len(self.pending) >= 2000:
            self.flush()

    def flush(self) -> None:
        self.session.add_all(self.pending)
        self.session.flush()
        self.pending.clear()


def relief_course(
    clinic: DemoClinic,
    code: str,
    baseline: int,
    performed_on: date,
    schedule: str,
    responder: bool | None = None,
):
    """Follow-up scores at the schedule's due dates (a few missed, dates jittered) up to today."""
    rng = clinic.rng
    model = RELIEF_MODELS[code]
    if responder is None:
        responder = rng.random() < model.responder_rate
    duration = rng.lognormvariate(math.log(model.median_days), model.spread) if responder else 0
    depth = rng.uniform(0.5, 0.95) if code != "MBB" else rng.uniform(0.8, 1.0)
    scores = []
    used: set[date] = set()
    for due in due_dates(performed_on, schedule):
        # Calls are made a few days either side of the due date; early calls jitter less.
        spread = min(3, (due - performed_on).days // 4)
        recorded_on = due + timedelta(days=rng.randint(-spread, spread))
        if recorded_on in used:
            continue
        used.add(recorded_on)
        # Calls whose window is still open have not been made yet; some patients never answer.
        if (
            recorded_on <= performed_on
            or due >= clinic.today - timedelta(days=7)
            or rng.random() < 0.15
        ):
            continue
        elapsed = (recorded_on - performed_on).days
        if responder and elapsed < duration:
            relief = depth * rng.uniform(0.9, 1.05)
        else:
            relief = rng.uniform(0.0, 0.35)
        nrs = max(0, min(10, round(baseline * (1 - min(relief, 1.0)))))
        reported = None
        if rng.random() < 0.4:
            reported = max(0, min(100, round(100 * relief + rng.uniform(-8, 8))))
        scores.append((recorded_on, nrs, reported))
    return scores


def book_intervention(
    clinic: DemoClinic, patient: Patient, code: str, physician: StaffUser, day: date, referral
) -> Intervention:
    room = clinic.rooms[PROCEDURE_ROOMS[clinic.rng.randrange(len(PROCEDURE_ROOMS))]]
    minutes = PROCEDURE_MINUTES.get(code, 30)
    starts_at, ends_at = clinic.slots.take(day, minutes, physician.username, room.name, patient.mrn)
    intervention = Intervention(
        patient=patient,
        physician=physician,
        room=room,
        procedure_type=clinic.procedures[code],
        referral=referral,
        starts_at=starts_at,
        ends_at=ends_at,
        status="scheduled",
        spinal_level=None,
    )
    clinic.add(intervention)
    return intervention


def complete(
    clinic: DemoClinic, intervention: Intervention, code: str, responder: bool | None = None
) -> None:
    """Complete a past intervention and record its follow-up scores."""
    rng = clinic.rng
    intervention.status = "completed"
    intervention.performed_on = intervention.starts_at.date()
    intervention.baseline_nrs = rng.randint(5, 9)
    category = clinic.procedures[code].category
    if category in ("epidural", "facet", "ablation"):
        level = rng.choice(["L3-L4", "L4-L5", "L5-S1", "L4-L5, L5-S1"])
        intervention.spinal_level = level
        intervention.laterality = (
            rng.choice(["left", "right", "bilateral"])
            if category != "epidural" or code == "ESI-TF"
            else "midline"
        )
    else:
        intervention.spinal_level = "T8-T10"
        intervention.laterality = "midline"
    if rng.random() < 0.03:
        intervention.complications = "Transient vasovagal episode; resolved before discharge"
    for recorded_on, nrs, reported in relief_course(
        clinic,
        code,
        intervention.baseline_nrs,
        intervention.performed_on,
        clinic.procedures[code].followup_schedule,
        responder,
    ):
        clinic.add(
            PainScore(
                patient=intervention.patient,
                intervention=intervention,
                recorded_on=recorded_on,
                nrs=nrs,
                percent_relief=reported,
                source=rng.choice(["phone", "phone", "visit", "self_report"]),
            )
        )


def stimulator_course(clinic: DemoClinic, implant: Intervention) -> None:
    """A device for an implant, and programming visits over the months after it."""
    rng = clinic.rng
    manufacturer, model = rng.choice(DEVICES)
    device = ScsDevice(
        patient=implant.patient,
        implant_intervention=implant,
        manufacturer=manufacturer,
        model=model,
        serial_number=f"{manufacturer[:2].upper()}{rng.randint(10**7, 10**8 - 1)}",
        lead_locations="Two 8-contact percutaneous leads, T8–T10 midline",
        implanted_on=implant.performed_on,
    )
    clinic.add(device)
    day = implant.performed_on + timedelta(days=14)
    paradigm = "high_frequency_10khz" if manufacturer == "Nevro" else rng.choice(["tonic", "burst"])
    pain = implant.baseline_nrs
    slot = 1
    while day < clinic.today - timedelta(days=1):
        room = clinic.rooms[rng.choice(CONSULT_ROOMS)]
        starts_at, ends_at = clinic.slots.take(
            day, 30, implant.physician.username, room.name, implant.patient.mrn
        )
        visit = Visit(
            patient=implant.patient,
            physician=implant.physician,
            room=room,
            visit_kind="stimulator_adjustment",
            intervention=implant,
            starts_at=starts_at,
            ends_at=ends_at,
            status="completed",
            notes="Programming review",
        )
        after = max(1, pain - rng.randint(0, 2))
        high_frequency = paradigm == "high_frequency_10khz"
        clinic.add(
            visit,
            StimulatorAdjustment(
                visit=visit,
                device=device,
                program_slot=slot,
                paradigm=paradigm,
                amplitude_ma=Decimal(
                    str(
                        round(rng.uniform(1.5, 3.5) if high_frequency else rng.uniform(2.0, 8.0), 1)
                    )
                ),
                frequency_hz=10000
                if high_frequency
                else (40 if paradigm == "burst" else rng.choice([40, 50, 60])),
                pulse_width_us=30 if high_frequency else rng.choice([210, 300, 450]),
                contacts=rng.choice(["1+ 2- 3+", "4- 5+", "2+ 3- 4- 5+", "6+ 7-"]),
                impedance_ohms=", ".join(str(rng.randint(400, 1200)) for _ in range(4)),
                battery_pct=rng.randint(55, 100),
                cpt_code=rng.choice(["95971", "95972", "95970"]),
                pain_before=pain,
                pain_after=after,
                notes=rng.choice(
                    [
                        "Coverage of the left leg improved",
                        "Reduced amplitude for comfort",
                        "Switched program after loss of coverage",
                        "Analysis only; no change",
                    ]
                ),
            ),
        )
        pain = after if rng.random() < 0.6 else min(10, after + 1)
        slot = slot % 4 + 1
        day += timedelta(days=rng.randint(45, 120))


def post_procedure_check(clinic: DemoClinic, intervention: Intervention) -> None:
    """A check two to four weeks after a recent procedure: done if past, booked if to come."""
    day = intervention.performed_on + timedelta(days=clinic.rng.randint(14, 28))
    room = clinic.rooms[clinic.rng.choice(CONSULT_ROOMS)]
    starts_at, ends_at = clinic.slots.take(
        day, 30, intervention.physician.username, room.name, intervention.patient.mrn
    )
    status = "scheduled"
    if starts_at.date() < clinic.today:
        status = clinic.rng.choices(["completed", "no_show"], weights=[93, 7])[0]
    elif starts_at.date() == clinic.today:
        status = clinic.rng.choice(["scheduled", "checked_in"])
    clinic.add(
        Visit(
            patient=intervention.patient,
            physician=intervention.physician,
            room=room,
            visit_kind="post_procedure_check",
            intervention=intervention,
            starts_at=starts_at,
            ends_at=ends_at,
            status=status,
        )
    )


def patient_history(clinic: DemoClinic, patient: Patient, stimulator: bool) -> int:
    """Referral, consult, a course of procedures, and what the schedule holds for the patient."""
    rng, today = clinic.rng, clinic.today
    physician = clinic.physicians[rng.randrange(len(clinic.physicians))]
    clinician, practice = rng.choice(REFERRERS)
    # Received between two years ago and today; the most recent are still in the pipeline.
    received_on = today - timedelta(days=int(rng.triangular(0, 540, 120)))
    new_referral = not stimulator and rng.random() < 0.12
    if new_referral:
        # The front of the pipeline: received in the last three weeks, some overdue for triage.
        received_on = today - timedelta(days=rng.randint(0, 20))
    if stimulator:
        # Stimulator patients came long enough ago to have had a trial, an implant and programming.
        received_on = today - timedelta(days=rng.randint(330, 720))
    referral = Referral(
        patient=patient,
        referring_clinician=clinician,
        referring_practice=practice,
        received_on=received_on,
        reason=REASONS[patient.condition].format(weeks=rng.randint(6, 40)),
        condition=patient.condition,
        urgency="urgent" if rng.random() < 0.15 else "routine",
        status="received",
    )
    clinic.add(referral)
    if new_referral:
        if rng.random() < 0.6:
            return 0
        referral.status = "triaged"
        if rng.random() < 0.5:
            return 0
        received_on = today - timedelta(days=rng.randint(-7, 0))  # a consult in the coming days
    if not stimulator and rng.random() < 0.06:
        referral.status = rng.choice(["declined", "cancelled"])
        referral.status_reason = (
            "Not a candidate for interventional treatment; referred to physiotherapy"
            if referral.status == "declined"
            else "Patient chose surgery elsewhere"
        )
        return 0
    consult_day = received_on + timedelta(days=rng.randint(7, 21))
    consult_room = clinic.rooms[rng.choice(CONSULT_ROOMS)]
    starts_at, ends_at = clinic.slots.take(
        consult_day, 30, physician.username, consult_room.name, patient.mrn
    )
    consult = Visit(
        patient=patient,
        physician=physician,
        room=consult_room,
        visit_kind="consult",
        starts_at=starts_at,
        ends_at=ends_at,
        status="scheduled",
    )
    clinic.add(consult)
    if starts_at.date() >= today:
        referral.status = "scheduled"
        if starts_at.date() == today and rng.random() < 0.5:
            consult.status = "checked_in"
        return 0
    consult.status = rng.choices(["completed", "no_show", "cancelled"], weights=[92, 5, 3])[0]
    if consult.status == "cancelled":
        consult.status_reason = "Patient called to cancel: unwell"
    referral.status = "triaged"
    patient.last_seen_at = starts_at
    pathway = SCS_PATHWAY if stimulator else rng.choice(PATHWAYS[patient.condition])
    day = starts_at.date() + timedelta(days=rng.randint(10, 28))
    count = 0
    for code in pathway:
        if day > today + timedelta(days=28):
            break  # not booked that far ahead yet
        intervention = book_intervention(clinic, patient, code, physician, day, referral)
        count += 1
        referral.status = "scheduled"
        if intervention.starts_at.date() >= today:
            break
        roll = rng.random()
        if roll < 0.04:
            intervention.status = "no_show"
            break
        if roll < 0.08:
            intervention.status, intervention.status_reason = (
                "cancelled",
                "Anticoagulation not stopped in time",
            )
            break
        # Only patients whose stimulator trial helped go on to an implant.
        complete(clinic, intervention, code, responder=True if code == "SCS-TRIAL" else None)
        patient.last_seen_at = intervention.starts_at
        referral.status = "completed"
        if code == "SCS-IMPLANT":
            stimulator_course(clinic, intervention)
        elif (today - intervention.performed_on).days < 60:
            post_procedure_check(clinic, intervention)
        # The next procedure in the course: a repeat after relief wanes, or the next step.
        gap = {
            "MBB": rng.randint(14, 30),
            "SCS-TRIAL": rng.randint(21, 45),
            "RFA": rng.randint(200, 330),
        }.get(code, rng.randint(90, 150))
        day = intervention.performed_on + timedelta(days=gap)
    if count and referral.status == "completed" and rng.random() < 0.5:
        upcoming_visit(clinic, patient, physician)
    return count


def upcoming_visit(clinic: DemoClinic, patient: Patient, physician: StaffUser) -> None:
    """A follow-up visit in the next two weeks, so the schedule ahead looks like a clinic's."""
    day = clinic.today + timedelta(days=clinic.rng.randint(0, 14))
    room = clinic.rooms[clinic.rng.choice(CONSULT_ROOMS)]
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


def seed_demo(session: Session, patients: int = 200, seed: int = 2026) -> DemoSummary:
    """Load the demo dataset into a database that holds no patients yet.

    At least three patients follow the stimulator pathway (trial, implant, programming
    visits), however few patients are asked for; so at least three patients are made.
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
    physicians, rooms = ensure_staff_and_rooms(session, summary)
    procedures = {p.code: p for p in session.execute(select(ProcedureType)).scalars()}
    clinic = DemoClinic(session, rng, today, physicians, rooms, procedures)
    total = max(patients, 3)
    stimulator_every = max(1, min(total // 3, 40))
    for number in range(1, total + 1):
        patient = make_patient(rng, number, today)
        clinic.add(patient)
        stimulator = number % stimulator_every == 1 or stimulator_every == 1
        if stimulator:
            patient.condition = "other"
            summary.stimulator_patients += 1
        summary.interventions += patient_history(clinic, patient, stimulator)
    clinic.flush()
    summary.patients = total
    return summary
