"""A realistic, reproducible synthetic dataset for demonstrations and benchmarks."""

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clinic import clock
from clinic.models import Patient, Room, StaffUser
from clinic.services import DomainError
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
ROOMS = ["Procedure suite 1", "Procedure suite 2", "Consult room A", "Consult room B"]


@dataclass
class DemoSummary:
    patients: int = 0
    physicians: list[str] = field(default_factory=list)
    rooms: list[str] = field(default_factory=list)


def ensure_staff_and_rooms(session: Session, summary: DemoSummary) -> list[StaffUser]:
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
    for name in ROOMS:
        if session.execute(select(Room).where(Room.name == name)).scalar_one_or_none() is None:
            session.add(Room(name=name))
            summary.rooms.append(name)
    session.flush()
    return physicians


def make_patient(rng: random.Random, number: int, today: date) -> Patient:
    sex = rng.choices(["female", "male", "other", "unknown"], weights=[52, 46, 1, 1])[0]
    names = FIRST_NAMES[
        "female" if sex == "female" else "male" if sex == "male" else rng.choice(["female", "male"])
    ]
    first = rng.choice(names)
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


def seed_demo(session: Session, patients: int = 200, seed: int = 2026) -> DemoSummary:
    """Load the demo dataset into a database that holds no patients yet."""
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
    ensure_staff_and_rooms(session, summary)
    batch = []
    for number in range(1, patients + 1):
        batch.append(make_patient(rng, number, today))
        if len(batch) >= 1000:
            session.add_all(batch)
            session.flush()
            batch.clear()
    session.add_all(batch)
    session.flush()
    summary.patients = patients
    return summary
