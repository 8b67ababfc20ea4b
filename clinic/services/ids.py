"""Primary keys: chosen before an insert, so that bulk writes need no RETURNING; and asked for
as one list.

SQLAlchemy can only batch an INSERT whose new ids it must read back when the database returns
them in parameter order; SQLite cannot promise that, so the ORM falls back to one statement per
row there. Bulk writers (the demo seed, the import) take their ids from here first and insert
in executemany batches on both databases.
"""

import json
from collections.abc import Collection

from sqlalchemy import ColumnElement, Integer, String, Table, any_, bindparam, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session


def reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` unused ids for ``table``: from its own sequence on PostgreSQL.

    On SQLite the next ids after the largest one: the caller must hold the write lock (have
    written in this transaction) so that no other writer takes the same ones.
    """
    if count <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        sequence = func.pg_get_serial_sequence(table.name, "id")
        return list(
            session.execute(
                select(func.nextval(sequence)).select_from(func.generate_series(1, count))
            ).scalars()
        )
    first = (session.execute(select(func.max(table.c.id))).scalar() or 0) + 1
    return list(range(first, first + count))


class IdBlocks:
    """Hands out ids table by table: blocks from PostgreSQL's sequences; on SQLite, counting on
    from the largest id found once per table. A query per block or table, never per row."""

    def __init__(self, session: Session, block: int = 2000) -> None:
        self.session, self.block = session, block
        self.postgresql = session.get_bind().dialect.name == "postgresql"
        self.free: dict[str, list[int]] = {}
        self.counter: dict[str, int] = {}

    def next(self, table: Table) -> int:
        if not self.postgresql:
            if table.name not in self.counter:
                self.counter[table.name] = reserve_ids(self.session, table, 1)[0]
            self.counter[table.name] += 1
            return self.counter[table.name] - 1
        free = self.free.setdefault(table.name, [])
        if not free:
            free.extend(reversed(reserve_ids(self.session, table, self.block)))
        return free.pop()


def among(
    session: Session, column: ColumnElement[int], ids: Collection[int]
) -> ColumnElement[bool]:
    """``column IN ids`` as one parameter however many ids there are.

    PostgreSQL: ``= ANY`` of one array. SQLite: ``IN`` the values of one JSON array (an IN list
    would be one parameter per id, past SQLite's limit on a large clinic). Either way the
    statement's text is the same for any number of ids, and the database reads the list once.
    """
    values = sorted(set(ids))
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(Integer)))
    listed = func.json_each(bindparam(None, json.dumps(values), type_=String)).table_valued("value")
    return column.in_(select(listed.c.value))
