"""How PostgreSQL is asked to plan the queries that read a whole table for a report or an export."""

from sqlalchemy import text
from sqlalchemy.orm import Session

# ``SET LOCAL``: both end with the transaction. The benchmarks run them on raw connections.
PLAN_FOR_EVERY_ROW = ("SET LOCAL cursor_tuple_fraction = 1.0", "SET LOCAL jit = off")


def plan_for_every_row(session: Session) -> None:
    """On PostgreSQL, plan this transaction's queries for reading every row, not the first few.

    - A server-side cursor is planned for its first 10% of rows by default
      (``cursor_tuple_fraction``), which picks nested loops over index scans that are many
      times slower than the hash joins and sorts ``COPY`` would use for a whole export.
    - No JIT compilation (``jit``): a join of a few hundred thousand rows whose size the planner
      overestimates passes the JIT's cost threshold, and compiling took half a second of the
      ``outcomes`` export's one-second query at 10,000 patients while saving nothing.
    """
    if session.get_bind().dialect.name == "postgresql":
        for setting in PLAN_FOR_EVERY_ROW:
            session.execute(text(setting))
