"""Importing patients, interventions, pain scores and medications from CSV files
(docs/formats.md), as stages.

One import is one transaction, made of two streaming passes over the files:

1. **Read and stage** (``reading.py``, ``records.py``, ``staging.py``). Every record is read and
   checked on its own (the columns, dates and times in the clinic's zone, ranges, the catalogue,
   physicians, rooms). Its key, and the little that the checks across records need, go into
   temporary tables beside the record's line number, rather than into Python structures, so
   memory stays flat however long the files are. Each batch of records is compared with the
   database's records of the same keys (MRN; ``ref``; intervention and recorded date), which
   gives the counts of new, changed and unchanged rows that the dry run shows.
2. **Check** (``checks.py``). Queries over those tables find what no single record shows:
   duplicate keys, and bookings that clash with each other or with the schedule.
3. **Write** (``writing.py``), only when nothing was refused and it is not a dry run: the files
   are read again and written in batches inside a savepoint, so that a failure part-way leaves
   nothing behind. Unchanged rows are not touched, which is what makes a second import of the
   same files change nothing.
4. **Audit** (``audit.py``): the ``update`` events of changed rows, written batch by batch with
   the writes, and the one ``import`` event with the counts per file.

The medications file replaces the list of each intervention it names, so its rows are compared
and written per intervention (``medications.py``), after the other files.

On PostgreSQL the pain-score file takes another way through stages 1, 3 and 4 (``copied.py``):
its raw cells go in by ``COPY``, SQL checks them and fills the same staged table, and one
``INSERT … SELECT … ON CONFLICT`` writes it, with the same problems, counts, rows and audit.
The patients and interventions files are read and checked once there: staging keeps what each
new or changed row writes, and stage 3 writes from those staged rows (``staged_writes.py``)
instead of reading the files again. JIT compilation is off for the import's statements.

Every problem is reported as ``FILE:LINE: column: message``, FILE as the user named it and
LINE the physical line (the header is line 1). Header problems name line 1 and the column;
problems of a whole file or record use the pseudo-columns ``file`` and ``row``.

Rules beyond the cell formats: a completed intervention needs its performed date and only a
completed one has one; a booking ends after it starts and lasts at most 12 hours (as when
booked on the schedule); dates of birth, performed and recorded dates are not in the future; an
empty ``source`` is ``import``; a condition may be written as its code or its label, in any
case. Room opening hours are not checked and deactivated physician accounts are accepted:
imports bring in history.

An intervention created in Clinic has no ``ref``; its export writes ``clinic:ID`` there
instead, a form that an imported intervention's ref cannot shadow (``2`` and ``clinic:2`` are
two interventions). A ref is looked up as a stored ref first; failing that, ``clinic:ID`` (or a
bare number, as exports wrote Clinic ids before) names the intervention created in Clinic with
that id, for the same patient only. A ``clinic:ID`` that names none here comes from another
Clinic and is kept as a ref; the booking ids then skip past ID, so that no intervention made
here later exports under that ref too. Two rows whose refs name the same intervention are
refused, as two rows of one ref are.
"""

from collections.abc import Mapping
from contextlib import suppress
from datetime import date
from typing import IO
from zoneinfo import ZoneInfo

from sqlalchemy import CompoundSelect, Select, func, select, text, union
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from clinic import clock
from clinic.services.followup import kept
from clinic.services.interchange.imports import (
    audit,
    checks,
    copied,
    medications,
    reading,
    staging,
    writing,
)
from clinic.services.interchange.imports.job import Job
from clinic.services.interchange.imports.report import CHANGED, NEW, ImportReport
from clinic.services.interchange.imports.tables import booking_table
from clinic.services.scheduling.bookings import lock_schedule

BATCH_SIZE = 2000


def import_files(
    session: Session,
    files: Mapping[str, tuple[str, IO]],
    dry_run: bool,
    zone: ZoneInfo,
    *,
    today: date | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Check, and unless ``dry_run`` write, CSV files of patients, interventions, pain scores
    and medications.

    ``files`` maps a kind (``patients``, ``interventions``, ``pain_scores``, ``medications``) to the name the
    user knows the file by and a seekable stream of it (text, or UTF-8 bytes: the exact line of
    any byte that is not UTF-8 is then named). All or nothing: when any row of any file is
    refused, every problem is in the report and nothing is written. Raises ``ImportFailed``
    when the database refuses the writes part-way, after rolling them back. Never commits.
    """
    today = today or clock.utcnow().astimezone(zone).date()
    job = Job(session, files, dry_run, zone, today, batch_size)
    if not dry_run:
        # SQLite: hold the write lock from the first check to the last write.
        lock_schedule(session)
    staging.create_tables(job)
    jit = _without_jit(job)
    try:
        for kind in job.kinds:
            if kind == "pain_scores" and copied.enabled(job):
                copied.stage_scores(job)  # PostgreSQL: COPY, then the checks in SQL
            elif kind == "medications":
                medications.stage(job, reading.batches(job, kind))
            else:
                staging.stage(job, kind, reading.batches(job, kind))
        checks.check(job)
        report = job.report()
        if report.problems or dry_run:
            return report
        last_booking = job.session.execute(select(func.max(booking_table.c.id))).scalar() or 0
        writing.write(job)
        # The rows went in around the ORM: the calls kept for the call list are written here.
        kept.refresh_chosen(
            job.session.connection(),
            _changed_interventions(last_booking),
            added=_added_interventions(last_booking),
        )
        report.imported = True
        audit.record_import(job, report)
        return report
    finally:
        # When the transaction is already lost, its rollback takes the tables with it.
        with suppress(SQLAlchemyError):
            staging.drop_tables(job)
            if jit is not None:
                job.session.execute(text("SELECT set_config('jit', :jit, true)"), {"jit": jit})


def _added_interventions(last_booking: int) -> Select:
    """The interventions the write added: ids past the last booking before it."""
    return select(booking_table.c.id).where(
        booking_table.c.id > last_booking, booking_table.c.kind == "intervention"
    )


def _changed_interventions(last_booking: int) -> CompoundSelect:
    """The interventions that were there before the write and that it changed, or added or
    changed pain scores of."""
    booking, score = staging.STAGED_BOOKING, staging.STAGED_SCORE
    return union(
        select(booking.c.existing_id).where(
            booking.c.action == CHANGED, booking.c.existing_id.is_not(None)
        ),
        select(score.c.intervention_id).where(
            score.c.action.in_((NEW, CHANGED)),
            score.c.intervention_id.is_not(None),
            score.c.intervention_id <= last_booking,
        ),
    )


def _without_jit(job: Job) -> str | None:
    """PostgreSQL: no JIT compilation for this import's statements; the setting it had before.

    Each of the import's large statements runs once, over tables it has just filled, and
    PostgreSQL's cost estimate for them passes its JIT threshold: compiling the clash check of
    40,000 bookings took 3 s where running it took 0.1 s. Set for this transaction only, and
    put back when the import ends.
    """
    if job.sqlite:
        return None
    return job.session.execute(
        text("SELECT current_setting('jit'), set_config('jit', 'off', true)")
    ).scalar()
