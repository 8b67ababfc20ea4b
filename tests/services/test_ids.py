"""``among``: a list of ids asked for as one parameter, however long the list."""

from sqlalchemy import select

from clinic.models import Room
from clinic.services.ids import among


def test_among_finds_the_listed_rows_past_the_limit_of_parameters(db_session):
    # The call list asks for the pain scores of ~10,000 procedures at a 44-physician clinic;
    # SQLite refuses more than 32,766 parameters, so a larger practice must not need one an id.
    rooms = [Room(name=f"Among room {n}") for n in range(3)]
    db_session.add_all(rooms)
    db_session.flush()
    wanted = {rooms[0].id, rooms[2].id}
    listed = [*range(10**6, 10**6 + 40_000), *wanted]
    found = db_session.execute(select(Room.id).where(among(db_session, Room.id, listed)))
    assert set(found.scalars()) == wanted
    nothing = db_session.execute(select(Room.id).where(among(db_session, Room.id, [])))
    assert list(nothing) == []
