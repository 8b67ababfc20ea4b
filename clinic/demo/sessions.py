"""The demo physicians' weeks: procedure sessions in the suites, clinic sessions in the consult
rooms, and a few dated exceptions (days off, an extra Saturday clinic).

Each weekday has a morning (08:00–12:00) and an afternoon (13:00–17:00) session; a physician
does procedures on alternate half-days, and physicians of the same half-day pattern each keep
their own suite or consult room, so no two sessions share a room at once. The slot book (see
``run.SlotBook``) books procedures only inside procedure sessions and visits only inside clinic
sessions, so the demo's bookings sit where the schedule expects them.
"""

import random
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic.models import PhysicianSession, Room, SessionException, StaffUser

MORNING, AFTERNOON = (8 * 60, 12 * 60), (13 * 60, 17 * 60)


def demo_week(
    index: int, procedure_rooms: list[Room], consult_rooms: list[Room]
) -> list[tuple[int, int, int, str, Room]]:
    """(weekday, start, end, kind, room) of the index-th physician's weekly sessions."""
    group, place = index % 2, index // 2
    suite = procedure_rooms[place % len(procedure_rooms)]
    consult = consult_rooms[place % len(consult_rooms)]
    week = []
    for weekday in range(5):
        procedures_first = (weekday + group) % 2 == 0
        for (start, end), procedures in (
            (MORNING, procedures_first),
            (AFTERNOON, not procedures_first),
        ):
            if weekday == 4 and start == AFTERNOON[0] and index % 3 == 2:
                continue  # Friday afternoon for teaching and admin
            kind, room = ("procedures", suite) if procedures else ("clinic", consult)
            week.append((weekday, start, end, kind, room))
    return week


def add_demo_sessions(
    session: Session,
    physicians: list[StaffUser],
    procedure_rooms: list[Room],
    consult_rooms: list[Room],
    today: date,
    seed: int,
) -> tuple[list[PhysicianSession], list[SessionException]]:
    """Give each demo physician without sessions a weekly template and a few exceptions;
    return every template of the physicians and their time off, for the slot book."""
    rng = random.Random(seed * 7 + 14)  # its own stream: the rest of the demo is unchanged by it
    ids = [p.id for p in physicians]
    kept = set(
        session.execute(
            select(PhysicianSession.physician_id).where(PhysicianSession.physician_id.in_(ids))
        ).scalars()
    )
    rows: list[object] = []
    for index, physician in enumerate(physicians):
        if physician.id in kept:
            continue
        for weekday, start, end, kind, room in demo_week(index, procedure_rooms, consult_rooms):
            rows.append(
                PhysicianSession(
                    physician_id=physician.id,
                    weekday=weekday,
                    start_minute=start,
                    end_minute=end,
                    kind=kind,
                    room_id=room.id,
                )
            )
        rows.extend(_time_off(physician, index, today, rng))
    if physicians and physicians[0].id not in kept:
        saturday = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
        rows.append(
            SessionException(
                physician_id=physicians[0].id,
                day=saturday,
                change="extra",
                start_minute=9 * 60,
                end_minute=12 * 60,
                kind="clinic",
                room_id=consult_rooms[0].id,
                note="Extra Saturday clinic for the waiting list",
            )
        )
    session.add_all(rows)
    session.flush()
    templates = select(PhysicianSession).where(PhysicianSession.physician_id.in_(ids))
    time_off = select(SessionException).where(
        SessionException.physician_id.in_(ids), SessionException.change == "off"
    )
    return list(session.execute(templates).scalars()), list(session.execute(time_off).scalars())


def _time_off(
    physician: StaffUser, index: int, today: date, rng: random.Random
) -> list[SessionException]:
    """A day off in the weeks ahead (a conference), and for every other physician an afternoon."""
    off = today + timedelta(days=rng.randint(7, 35))
    while off.weekday() > 4:
        off += timedelta(days=1)
    rows = [
        SessionException(
            physician_id=physician.id,
            day=off,
            change="off",
            start_minute=0,
            end_minute=24 * 60,
            note="Conference",
        )
    ]
    if index % 2 == 0:
        afternoon = today + timedelta(days=rng.randint(2, 20))
        while afternoon.weekday() > 4 or afternoon == off:
            afternoon += timedelta(days=1)
        rows.append(
            SessionException(
                physician_id=physician.id,
                day=afternoon,
                change="off",
                start_minute=AFTERNOON[0],
                end_minute=AFTERNOON[1],
                note="Afternoon off",
            )
        )
    return rows
