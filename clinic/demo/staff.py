"""The demo practice's physicians and rooms, as many as its number of patients needs."""

import math

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic.demo.patients import FIRST_NAMES, LAST_NAMES
from clinic.demo.run import DemoSummary
from clinic.models import Room, StaffUser

PHYSICIANS = [
    ("dr.okafor", "Dr. Adaeze Okafor"),
    ("dr.lindqvist", "Dr. Erik Lindqvist"),
    ("dr.ramirez", "Dr. Lucía Ramírez"),
]
PROCEDURE_ROOMS = ["Procedure suite 1", "Procedure suite 2"]
CONSULT_ROOMS = ["Consult room A", "Consult room B"]
ROOMS = PROCEDURE_ROOMS + CONSULT_ROOMS

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
