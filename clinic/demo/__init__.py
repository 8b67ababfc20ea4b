"""A realistic, reproducible synthetic dataset for demonstrations and benchmarks."""

import math
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import func, insert, inspect, select
from sqlalchemy.orm import MANYTOONE, Session

from clinic import clock
from clinic.models import (
    Intervention,
    PainScore,
    Patient,
    ProcedureType,
    Referral,
    RepeatEligibilityRule,
    Room,
    ScsDevice,
    StaffUser,
    StimulatorAdjustment,
    Visit,
)
from clinic.services import DomainError
from clinic.services.followup.calls import due_dates
from clinic.services.identity.audit import record_event
from clinic.services.ids import IdBlocks
from clinic.services.patients import MRN_DIGITS, MRN_PREFIX
from clinic.services.relief.eligibility import PastProcedure, Rule, assess_target, rule_from_row
from clinic.services.relief.rules import Score, assess
from clinic.services.scheduling.bookings import lock_schedule

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
    "MBB": ReliefModel(0.75, 1.5, 0.3),
    "RFA": ReliefModel(0.70, 270, 0.4),
    "SCS-TRIAL": ReliefModel(0.75, 30, 0.2),
    "SCS-IMPLANT": ReliefModel(0.80, 1100, 0.6),
}
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


PATIENTS_PER_PHYSICIAN = 1200  # a busy interventional practice: about 1,200 active patients each


def staffing(patients: int) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """The physicians, procedure suites and consult rooms a practice of this size needs.

    Three physicians and four rooms up to 3,600 patients; beyond that one more physician per
    1,200 patients and a procedure suite and a consult room for every three physicians, so a
    50,000-patient practice is not squeezed into three diaries.
    """
    count = max(len(PHYSICIANS), math.ceil(patients / PATIENTS_PER_PHYSICIAN))
    physicians = list(PHYSICIANS)
    for number in range(len(PHYSICIANS), count):
        last = LAST_NAMES[number % len(LAST_NAMES)]
        first = FIRST_NAMES["female" if number % 2 else "male"][number % 25]
        slug = last.lower().encode("ascii", "ignore").decode().replace("'", "")
        physicians.append((f"dr.{slug}{number}", f"Dr. {first} {last}"))
    suites = max(len(PROCEDURE_ROOMS), math.ceil(2 * count / 3))
    procedure_rooms = PROCEDURE_ROOMS + [
        f"Procedure suite {n}" for n in range(len(PROCEDURE_ROOMS) + 1, suites + 1)
    ]
    consult_rooms = CONSULT_ROOMS + [
        f"Consult room {n}" for n in range(len(CONSULT_ROOMS) + 1, suites + 1)
    ]
    return physicians, procedure_rooms, consult_rooms


def ensure_staff_and_rooms(
    session: Session, summary: DemoSummary, patients: int = 0
) -> tuple[list[StaffUser], list[Room], list[Room]]:
    """The physicians and rooms the demo needs; physicians get no usable password."""
    wanted_physicians, procedure_rooms, consult_rooms = staffing(patients)
    physicians = []
    for username, full_name in wanted_physicians:
        user = session.execute(
            select(StaffUser).where(StaffUser.username == username)
        ).scalar_one_or_none()
        if user is None:
            user = StaffUser(username=username, full_name=full_name, role="physician")
            session.add(user)
            summary.physicians.append(username)
        physicians.append(user)
    rooms = {}
    for name in procedure_rooms + consult_rooms:
        room = session.execute(select(Room).where(Room.name == name)).scalar_one_or_none()
        if room is None:
            room = Room(name=name)
            session.add(room)
            summary.rooms.append(name)
        rooms[name] = room
    session.flush()
    return (
        physicians,
        [rooms[name] for name in procedure_rooms],
        [rooms[name] for name in consult_rooms],
    )


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


FLUSH_EVERY = 10000  # records queued before a bulk write
# Children after their parents, so that each batch satisfies its foreign keys as it goes in.
INSERT_ORDER = [Patient, Referral, Intervention, Visit, ScsDevice, StimulatorAdjustment]


# The pain-score columns the demo writes, in the order of its queued rows.
SCORE_COLUMNS = (
    "id",
    "patient_id",
    "intervention_id",
    "recorded_on",
    "nrs",
    "percent_relief",
    "source",
    "created_at",
    "updated_at",
)


@dataclass
class Diary:
    """The pain-diary entries of a patient's latest procedure, still open: the app follows one
    course at a time, so the next procedure ends them."""

    index: int  # the procedure's place in the patient's history
    intervention: Intervention
    entries: list[tuple[date, int, int | None, str]]


@dataclass
class DemoClinic:
    """What one seeding run works with."""

    session: Session
    rng: random.Random
    today: date
    physicians: list[StaffUser]
    procedure_rooms: list[Room]
    consult_rooms: list[Room]
    procedures: dict[str, ProcedureType]
    rules: list[Rule] = field(default_factory=list)
    slots: SlotBook = field(init=False)
    ids: IdBlocks = field(init=False)
    pending: list[object] = field(default_factory=list)
    # Pain scores, by far the most numerous records, go in as plain rows, never ORM objects.
    scores: list[tuple] = field(default_factory=list)
    diary: Diary | None = None
    written: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.slots = SlotBook(self.rng)
        self.ids = IdBlocks(self.session)

    def add(self, *records: object) -> None:
        """Queue records for the next flush, each with its id chosen now."""
        for record in records:
            record.id = self.ids.next(inspect(type(record)).base_mapper.local_table)
        self.pending.extend(records)

    def add_scores(
        self, intervention: Intervention, scores: list[tuple[date, int, int | None, str]]
    ) -> None:
        """Queue follow-up pain scores of one intervention: (recorded on, NRS, %, source)."""
        table = PainScore.__table__
        patient_id = intervention.patient.id
        for recorded_on, nrs, reported, source in scores:
            # In SCORE_COLUMNS order; the stamps are added when written.
            self.scores.append(
                (
                    self.ids.next(table),
                    patient_id,
                    intervention.id,
                    recorded_on,
                    nrs,
                    reported,
                    source,
                )
            )

    @property
    def queued(self) -> int:
        return len(self.pending) + len(self.scores)

    def flush(self) -> None:
        """Write the queued records in bulk: one executemany per table and batch.

        The records are plain, never added to the session: a seed of millions of rows goes in
        at the speed of the database, and memory stays flat (the run is audited once, as an
        import is, not a row per record).
        """
        by_class: dict[type, list[dict]] = {model: [] for model in INSERT_ORDER}
        connection = self.session.connection()
        for record in self.pending:
            # What the ORM would run before an INSERT (a patient's search key, say).
            mapper = inspect(type(record))
            mapper.dispatch.before_insert(mapper, connection, inspect(record))
            by_class[type(record)].append(_row(record))
        for model, rows in by_class.items():
            if rows:
                self.session.execute(
                    insert(model).execution_options(render_nulls=True), _same_columns(model, rows)
                )
                self._count(model.__table__.name, len(rows))
        if self.scores:
            self._write_scores()
            self._count(PainScore.__table__.name, len(self.scores))
        self.pending.clear()
        self.scores = []

    def _write_scores(self) -> None:
        """The queued pain scores straight to the driver, millions of rows without per-row type
        processing: COPY on PostgreSQL (as the import stages its keys), an executemany on SQLite
        with the values already in SQLite's text forms."""
        table = PainScore.__table__
        connection = self.session.connection()
        driver = connection.connection.driver_connection
        stamp = clock.utcnow()
        names = ", ".join(SCORE_COLUMNS)
        if connection.dialect.name == "postgresql":
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy,
            ):
                for row in self.scores:
                    copy.write_row((*row, stamp, stamp))
            return
        # The column types' own SQLite forms (text), computed once for the stamp.
        dialect = connection.dialect
        day = table.c.recorded_on.type.dialect_impl(dialect).bind_processor(dialect)
        stamp_processor = table.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        if stamp_processor is not None:
            stamp = stamp_processor(stamp)
        rows = self.scores
        if day is not None:
            rows = [(*row[:3], day(row[3]), *row[4:]) for row in rows]
        marks = ", ".join("?" * len(SCORE_COLUMNS))
        driver.executemany(
            f"INSERT INTO {table.name} ({names}) VALUES ({marks})",  # noqa: S608 — our own names
            [(*row, stamp, stamp) for row in rows],
        )

    def _count(self, table: str, rows: int) -> None:
        self.written[table] = self.written.get(table, 0) + rows


def _same_columns(model: type, rows: list[dict]) -> list[dict]:
    """Give every row the same columns, so that the batch is one executemany, not one per
    run of rows that happen to leave out the same optional fields."""
    mapper = inspect(model)
    keys = set().union(*rows)
    for key in keys:
        column = mapper.get_property(key).columns[0]
        default = column.default
        if default is None:
            filler = lambda: None  # noqa: E731 — an unset optional field is empty
        elif default.is_callable:
            filler = lambda default=default: default.arg(None)  # noqa: E731
        else:
            filler = lambda default=default: default.arg  # noqa: E731
        for row in rows:
            if key not in row:
                row[key] = filler()
    return rows


def _row(record: object) -> dict:
    """A record's column values, its many-to-one relationships turned into foreign keys."""
    mapper = inspect(type(record))
    values = record.__dict__
    row = {attr.key: values[attr.key] for attr in mapper.column_attrs if attr.key in values}
    for relationship in mapper.relationships:
        target = values.get(relationship.key)
        if relationship.direction is MANYTOONE and target is not None:
            for local, remote in relationship.local_remote_pairs:
                row[mapper.get_property_by_column(local).key] = getattr(target, remote.key)
    return row


DIARY_RATE = 0.7  # courses followed in the clinic's pain-diary app as well as by phone
# The app asks for a score once a week for six months after a procedure, then every four
# weeks to the end of the year.
DIARY_WEEKS = [*range(1, 27), *range(30, 53, 4)]
DIARY_DROPOUT = 0.02  # and each week a few patients stop answering it
TRIAL_DIARY_DAYS = 7  # a stimulator trial is judged on the patient's daily diary of its week
_due_dates = lru_cache(maxsize=None)(due_dates)  # the same few thousand days, over and over


@dataclass
class Relief:
    """What a completed procedure did, and the follow-up scores that show it."""

    responder: bool
    days: float  # how long relief lasted (0 without relief)
    calls: list[tuple[date, int, int | None, str]]  # (recorded on, NRS, reported %, source)
    diary: list[tuple[date, int, int | None, str]]


def relief_course(
    clinic: DemoClinic,
    code: str,
    baseline: int,
    performed_on: date,
    schedule: str,
    responder: bool | None = None,
) -> Relief:
    """Follow-up scores up to today: calls at the schedule's due dates (a few missed, dates
    jittered) and, for some courses, the pain-diary app's scores over the year after it.

    Medial branch blocks have no diary: their relief lasts hours and is judged on the day. A
    stimulator trial is judged on the patient's daily diary during the trial.
    """
    rng = clinic.rng
    model = RELIEF_MODELS[code]
    if responder is None:
        responder = rng.random() < model.responder_rate
    duration = rng.lognormvariate(math.log(model.median_days), model.spread) if responder else 0
    # How deep relief goes. A stimulator trial goes on to an implant only with ≥ 50% relief,
    # and the trials in the demo are the ones that gave it.
    depth = {"MBB": (0.85, 1.0), "SCS-TRIAL": (0.65, 0.95)}.get(code, (0.5, 0.95))
    depth = rng.uniform(*depth)
    today = clinic.today

    def score(recorded_on: date, source: str) -> tuple[date, int, int | None, str]:
        elapsed = (recorded_on - performed_on).days
        if responder and elapsed < duration:
            relief = depth * rng.uniform(0.9, 1.05)
        else:
            relief = rng.uniform(0.0, 0.35)
        nrs = max(0, min(10, round(baseline * (1 - min(relief, 1.0)))))
        reported = None
        if rng.random() < 0.4:
            reported = max(0, min(100, round(100 * relief + rng.uniform(-8, 8))))
        return recorded_on, nrs, reported, source

    calls, diary = [], []
    used: set[date] = set()
    for due in _due_dates(performed_on, schedule):
        # Calls are made a few days either side of the due date; early calls jitter less.
        spread = min(3, (due - performed_on).days // 4)
        recorded_on = due + timedelta(days=rng.randint(-spread, spread))
        if recorded_on in used:
            continue
        used.add(recorded_on)
        # Calls whose window is still open have not been made yet; some patients never answer
        # (a stimulator trial is followed by the patient's own diary, which always comes back,
        # and the clinic always gets a block's result: the ablation depends on it).
        if (
            recorded_on <= performed_on
            or due >= today - timedelta(days=7)
            or (code not in ("SCS-TRIAL", "MBB") and rng.random() < 0.15)
        ):
            continue
        calls.append(score(recorded_on, rng.choice(["phone", "phone", "visit", "self_report"])))
    if code == "SCS-TRIAL":
        days = [performed_on + timedelta(days=day) for day in range(1, TRIAL_DIARY_DAYS + 1)]
    elif code != "MBB" and rng.random() < DIARY_RATE:
        days = []
        for week in DIARY_WEEKS:
            if rng.random() < DIARY_DROPOUT:
                break
            days.append(performed_on + timedelta(days=7 * week + rng.randint(0, 2)))
    else:
        days = []
    for recorded_on in days:
        if recorded_on >= today:
            break
        if recorded_on not in used:
            used.add(recorded_on)
            diary.append(score(recorded_on, "self_report"))
    return Relief(responder, duration, calls, diary)


def book_intervention(
    clinic: DemoClinic, patient: Patient, code: str, physician: StaffUser, day: date, referral
) -> Intervention:
    room = clinic.procedure_rooms[clinic.rng.randrange(len(clinic.procedure_rooms))]
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


# Levels treated, by region and category.
LUMBAR_LEVELS = ["L3-L4", "L4-L5", "L5-S1", "L4-L5, L5-S1"]
LEVELS = {
    ("lumbar", "epidural"): LUMBAR_LEVELS,
    ("lumbar", "facet"): LUMBAR_LEVELS,
    ("lumbar", "ablation"): LUMBAR_LEVELS,
    ("cervical", "epidural"): ["C6-C7", "C7-T1"],
    ("cervical", "facet"): ["C3-C4", "C4-C5", "C5-C6", "C4-C5, C5-C6"],
    ("cervical", "ablation"): ["C3-C4", "C4-C5", "C5-C6", "C4-C5, C5-C6"],
}


def laterality(rng: random.Random, code: str, category: str, region: str) -> str:
    """Interlaminar and caudal epidurals are midline. Clinics often stage a bilateral cervical
    ablation, one side per session; the payer rules would refuse the second side within the
    year as a repeat without six months' relief, so each cervical RFA in the demo is one side."""
    if category == "epidural" and code != "ESI-TF":
        return "midline"
    if region == "cervical" and category == "ablation":
        return rng.choice(["left", "right"])
    return rng.choice(["left", "right", "bilateral"])


def end_diary(clinic: DemoClinic, history: list[PastProcedure], on: date | None) -> None:
    """Write the open diary of the patient's latest procedure, cut after ``on`` when a new
    procedure on that day takes the app over (None: the patient's records end here)."""
    diary, clinic.diary = clinic.diary, None
    if diary is None:
        return
    entries = diary.entries
    if on is not None and entries and entries[-1][0] > on:
        entries = [entry for entry in entries if entry[0] <= on]
        dropped = {entry[0] for entry in diary.entries if entry[0] > on}
        past = history[diary.index]
        history[diary.index] = replace(
            past, scores=[score for score in past.scores if score.recorded_on not in dropped]
        )
    clinic.add_scores(diary.intervention, entries)


def complete(
    clinic: DemoClinic,
    intervention: Intervention,
    code: str,
    region: str,
    history: list[PastProcedure],
    responder: bool | None = None,
) -> Relief:
    """Complete a past intervention, record its follow-up scores and add it to the patient's
    history as a payer would see it."""
    rng = clinic.rng
    intervention.status = "completed"
    intervention.performed_on = performed_on = intervention.starts_at.date()
    intervention.baseline_nrs = rng.randint(5, 9)
    category = clinic.procedures[code].category
    if category in ("epidural", "facet", "ablation"):
        intervention.spinal_level = rng.choice(LEVELS[region, category])
        intervention.laterality = laterality(rng, code, category, region)
    else:
        intervention.spinal_level = "T8-T10"
        intervention.laterality = "midline"
    if rng.random() < 0.03:
        intervention.complications = "Transient vasovagal episode; resolved before discharge"
    end_diary(clinic, history, performed_on)
    relief = relief_course(
        clinic,
        code,
        intervention.baseline_nrs,
        performed_on,
        clinic.procedures[code].followup_schedule,
        responder,
    )
    clinic.add_scores(intervention, relief.calls)
    if relief.diary:
        clinic.diary = Diary(len(history), intervention, relief.diary)
    history.append(
        PastProcedure(
            intervention.id,
            code,
            performed_on,
            intervention.baseline_nrs,
            sorted(
                Score(day, nrs, reported) for day, nrs, reported, _ in relief.calls + relief.diary
            ),
        )
    )
    return relief


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
        room = rng.choice(clinic.consult_rooms)
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
    room = clinic.rng.choice(clinic.consult_rooms)
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


HISTORY_DAYS = 6 * 365  # how far back the demo practice's records go
RETURN_RATE = 0.9  # back pain recurs: most patients whom a course helped are referred again
RETURN_UNHELPED = 0.6  # and some of those it did not, to try something else
MAX_REPEATS = 6  # repeats of a helpful procedure in one course, as far as the rules allow
REPEATABLE = {"ESI-TF", "ESI-IL", "ESI-CA", "RFA"}
KEEPS_COMING = 0.95  # patients who come back for a repeat when relief wears off
ESCALATE_RATE = 0.8  # when a course fails, the physician offers another for the condition
MAX_ESCALATIONS = 3  # courses tried in one episode after the first
CONFIRMED_BLOCKS = 0.85  # second blocks that confirm a positive first one
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


def allowed(clinic: DemoClinic, code: str, history: list[PastProcedure], day: date) -> bool:
    """Whether the payer rules allow ``code`` on ``day``.

    Allowed when a rule that applies is met, or when no rule applies at all (a first epidural:
    the epidural rule speaks only about repeats; a facet injection: no rule names it).
    """
    assessment = assess_target(clinic.rules, code, history, day)
    return assessment.eligible or not any(check.applies for check in assessment.checks)


def positive_block(block: PastProcedure) -> bool:
    """A diagnostic block is positive with ≥ 80% relief, the threshold the RFA rule asks for."""
    return bool(assess(block.baseline, block.performed_on, block.scores, threshold=80).responder)


def another_course(
    clinic: DemoClinic, options: list[list[str]], history: list[PastProcedure], day: date
) -> list[str]:
    """The next course offered for the condition that the rules allow on ``day``, taken off
    ``options``; empty when none is.

    After a first ablation, new blocks would not help: the block rule governs only a first RFA,
    so a later one is a repeat RFA, booked directly when the last one gave lasting relief.
    """
    ablated = any(past.code == "RFA" for past in history)
    while options:
        course = options.pop(0)
        if ablated and course == BLOCKS_THEN_RFA:
            course = ["RFA"]
        if allowed(clinic, course[0], history, day):
            return list(course)
    return []


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

    A procedure that helped is repeated when its relief wears off, as far as the rules allow; a
    course that did not help (or whose relief was too short for the payer to fund a repeat)
    makes way for another course for the condition. Returns the procedures booked, and the day
    the episode ended — None while it is still open (in the pipeline, or with a booking to come).
    """
    rng, today = clinic.rng, clinic.today
    condition = condition or patient.condition
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
    clinic.add(referral)
    if fresh:
        if rng.random() < 0.6:
            return 0, None
        referral.status = "triaged"
        if rng.random() < 0.5:
            return 0, None
        received_on = today - timedelta(days=rng.randint(-7, 0))  # a consult in the coming days
    if not stimulator and rng.random() < 0.06:
        referral.status = rng.choice(["declined", "cancelled"])
        referral.status_reason = (
            "Not a candidate for interventional treatment; referred to physiotherapy"
            if referral.status == "declined"
            else "Patient chose surgery elsewhere"
        )
        return 0, received_on
    consult_day = received_on + timedelta(days=rng.randint(7, 21))
    consult_room = rng.choice(clinic.consult_rooms)
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
        return 0, None
    consult.status = rng.choices(["completed", "no_show", "cancelled"], weights=[92, 5, 3])[0]
    if consult.status == "cancelled":
        consult.status_reason = "Patient called to cancel: unwell"
    referral.status = "triaged"
    patient.last_seen_at = starts_at
    day = starts_at.date() + timedelta(days=rng.randint(10, 28))
    if stimulator:
        options = [list(SCS_PATHWAY)]
    else:
        # In the order the physician would offer them, each course once.
        options = []
        for course in rng.sample(PATHWAYS[region][condition], k=len(PATHWAYS[region][condition])):
            if course not in options:
                options.append(list(course))
    # The physician's first choice, or another course for the condition that the rules allow.
    steps = another_course(clinic, options, history, day)
    if not steps:
        referral.status = "declined"
        referral.status_reason = (
            "Earlier procedures did not give the relief payers require for a repeat; "
            "referred back for conservative care"
        )
        return 0, starts_at.date()
    count, repeats, escalations, last_day = 0, 0, 0, starts_at.date()
    confirming = False  # the next block is the second, after a positive first one
    while steps:
        code = steps.pop(0)
        if day > today + timedelta(days=28):
            return count, None  # not booked that far ahead yet
        if not allowed(clinic, code, history, day):
            break  # the rules refuse the next step: the course ends here
        intervention = book_intervention(clinic, patient, code, physician, day, referral)
        count += 1
        referral.status = "scheduled"
        if intervention.starts_at.date() >= today:
            return count, None
        last_day = intervention.starts_at.date()
        # Stimulator patients are followed closely and keep their appointments, so the demo
        # always holds their devices and programming.
        roll = 1.0 if stimulator else rng.random()
        if roll < 0.08:
            if roll < 0.04:
                intervention.status = "no_show"
            else:
                intervention.status, intervention.status_reason = (
                    "cancelled",
                    "Anticoagulation not stopped in time",
                )
            if any(past.performed_on >= received_on for past in history):
                referral.status = "completed"  # what it led to was done; this repeat was not
            break
        # Only patients whose stimulator trial helped go on to an implant. A second block
        # after a positive first one mostly confirms it: the pain comes from those joints.
        responder = None
        if code == "SCS-TRIAL":
            responder = True
        elif confirming:
            responder = rng.random() < CONFIRMED_BLOCKS
        relief = complete(clinic, intervention, code, region, history, responder)
        performed_on = intervention.performed_on
        patient.last_seen_at = intervention.starts_at
        referral.status = "completed"
        if code == "SCS-IMPLANT":
            stimulator_course(clinic, intervention)
        elif (today - performed_on).days < 60:
            post_procedure_check(clinic, intervention)
        confirming = False
        if steps and (code != "MBB" or positive_block(history[-1])):
            # The course goes on: a second block two to four weeks after a positive first one,
            # then the ablation; an implant a month or so after a good trial.
            confirming = code == "MBB" and steps[0] == "MBB"
            gap = {"MBB": rng.randint(14, 30), "SCS-TRIAL": rng.randint(21, 45)}
            day = performed_on + timedelta(days=gap.get(code, rng.randint(90, 150)))
            continue
        steps = []
        if relief.responder and code in REPEATABLE:
            if repeats >= MAX_REPEATS or rng.random() > KEEPS_COMING:
                break
            # Repeated when the relief wears off: the patient calls, and is booked within weeks.
            day = performed_on + timedelta(days=round(relief.days) + rng.randint(14, 42))
            if allowed(clinic, code, history, day):
                steps, repeats = [code], repeats + 1
                continue
            # Relief too short for the payers to fund a repeat: something else is tried.
        elif relief.responder and code not in ("FJI", "MBB"):
            break  # a good trial and implant, or relief that needs no more for now
        # No relief, a negative block, or a facet injection's short relief: another course
        # for the condition, once the follow-up calls have shown it.
        if escalations < MAX_ESCALATIONS and rng.random() < ESCALATE_RATE:
            day = max(day, performed_on + timedelta(days=rng.randint(28, 70)))
            steps = another_course(clinic, options, history, day)
            escalations, repeats = escalations + 1, 0
    return count, last_day


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
    total = max(patients, 3)
    # SQLite: take the write lock first, so that the ids counted on below stay ours.
    lock_schedule(session)
    physicians, procedure_rooms, consult_rooms = ensure_staff_and_rooms(session, summary, total)
    procedures = {p.code: p for p in session.execute(select(ProcedureType)).scalars()}
    rules = [rule_from_row(row) for row in session.execute(select(RepeatEligibilityRule)).scalars()]
    clinic = DemoClinic(
        session, rng, today, physicians, procedure_rooms, consult_rooms, procedures, rules
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
    summary.patients = total
    record_event(
        session,
        "import",
        details={"source": "seed-demo", "seed": seed, "rows": dict(sorted(clinic.written.items()))},
    )
    session.flush()
    return summary
