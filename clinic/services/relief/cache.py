"""The relief report's figures kept in the database, valid while the data version is unchanged.

The report reads every completed intervention and its follow-up scores; at tens of thousands of
patients that is seconds of work, and the page, its chart and the two exports would each do it
again. Instead each selection's figures are computed once per change of the data and kept in
``relief_report_cache`` under the ``relief_data_version`` they were computed at. The database
bumps that version itself (triggers on pain scores, interventions, diary entries, a patient's
condition and a procedure type's code and diagnostic mark), so every way of writing invalidates
the figures, and every app server reads the same version: nothing is kept in a process. On
PostgreSQL it moves once a transaction; keeping figures re-arms it for the writes after.

A version is read in the caller's transaction before the figures are computed, so figures are
never older than the version they are kept under. The row is written in the caller's transaction
(``INSERT … ON CONFLICT DO NOTHING``: two servers may compute the same figures at once) and kept
when the caller commits; older versions' rows are deleted as new ones are written. Keeping is
never worth an error or a wait: when the database is busy with another writer (SQLite's one
write lock held by an import, or a newer commit since this transaction began; a PostgreSQL
deadlock between two keepers), the figures are simply not kept, in a savepoint rolled back.
"""

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from clinic import SQLITE_BUSY_TIMEOUT_MS, clock
from clinic.models import ReliefDataVersion, ReliefReportCache
from clinic.services.filters import ReportFilters

cache_table = ReliefReportCache.__table__
# The transaction-local setting by which PostgreSQL's trigger function moves the data version
# once a transaction (migration a19c0e55f002).
MOVED = "clinic.relief_data_moved"


def data_version(session: Session) -> int | None:
    """The current version of the data the report reads (``None`` if the row is missing)."""
    return session.execute(
        select(ReliefDataVersion.version).where(ReliefDataVersion.id == 1)
    ).scalar_one_or_none()


def selection_key(filters: ReportFilters, group_by: str) -> str:
    """A digest of everything that selects and groups the report's figures."""
    selection = [
        group_by,
        filters.date_from.isoformat() if filters.date_from else None,
        filters.date_to.isoformat() if filters.date_to else None,
        repr(float(filters.threshold)),
        filters.physician_id,
        filters.condition,
        filters.procedure_code,
        filters.steroid,
    ]
    return hashlib.sha256(json.dumps(selection).encode()).hexdigest()


def load(session: Session, selection: str, version: int) -> Any | None:
    """The figures kept for this selection at this version, or ``None``."""
    figures = session.execute(
        select(ReliefReportCache.figures).where(
            ReliefReportCache.selection == selection, ReliefReportCache.version == version
        )
    ).scalar_one_or_none()
    return None if figures is None else json.loads(figures)


def store(session: Session, selection: str, version: int, figures: Any) -> bool:
    """Keep the figures for this selection at this version, and drop older versions' rows.

    False when the database was busy and nothing was kept (see the module).
    """
    dialect = session.get_bind().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    if dialect == "sqlite":
        # Take SQLite's write lock only if it is free now: a reader does not queue behind writers.
        session.execute(text("PRAGMA busy_timeout = 0"))
    try:
        with session.begin_nested():
            session.execute(delete(cache_table).where(cache_table.c.version < version))
            session.execute(
                insert(cache_table)
                .values(
                    selection=selection,
                    version=version,
                    figures=json.dumps(figures, separators=(",", ":")),
                    computed_at=clock.utcnow(),
                )
                .on_conflict_do_nothing()
            )
            if dialect == "postgresql":
                # The version moves once a transaction (its trigger function): figures kept
                # now must not hide a write later in this transaction, so it moves again then.
                session.execute(text(f"SELECT set_config('{MOVED}', '', true)"))
    except OperationalError:
        return False
    finally:
        if dialect == "sqlite":
            session.execute(text(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"))
    return True


def kept_or_computed(
    session: Session,
    filters: ReportFilters,
    group_by: str,
    compute: Callable[[], Any],
    *,
    keep: bool = True,
) -> Any:
    """The figures kept for this selection at the current data version, or ``compute()``'s,
    kept in the caller's transaction (the caller commits to keep them for the next reader).
    ``keep=False`` computes afresh and keeps nothing (a selection the triggers do not watch)."""
    version = data_version(session) if keep else None
    selection = selection_key(filters, group_by)
    figures = None if version is None else load(session, selection, version)
    if figures is None:
        figures = compute()
        if version is not None:
            store(session, selection, version, figures)
    return figures
