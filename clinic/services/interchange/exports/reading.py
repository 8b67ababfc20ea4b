"""What every export's query shares: the tables, the batched read from a server-side cursor, the
date filters and the refs that name interventions."""

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, String, cast, func
from sqlalchemy.orm import Session

from clinic.models import (
    Booking,
    DiaryEntry,
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
from clinic.services.filters import ReportFilters
from clinic.services.interchange.csvio import CLINIC_REF_PREFIX, clinic_ref

# Rows fetched from the cursor at a time; memory holds about this many rows.
BATCH_ROWS = 1000

Rows = Iterator[Sequence[str]]
Opened = tuple[Sequence[str], Rows]

patient = Patient.__table__
booking = Booking.__table__
intervention = Intervention.__table__
visit = Visit.__table__
procedure_type = ProcedureType.__table__
staff_user = StaffUser.__table__
room = Room.__table__
pain_score = PainScore.__table__
referral = Referral.__table__
scs_device = ScsDevice.__table__
adjustment = StimulatorAdjustment.__table__
diary_entry = DiaryEntry.__table__

# Archived patients and all their records are left out of every export.
not_archived = patient.c.archived.is_(False)


def stream_rows(session: Session, statement: Select) -> Iterator[Any]:
    """The rows of ``statement`` from a server-side cursor, ``BATCH_ROWS`` at a time."""
    result = session.execute(statement.execution_options(yield_per=BATCH_ROWS))
    try:
        # A batch at a time (one fetchmany), not a row at a time through the result's buffer.
        for batch in result.partitions():
            yield from batch
    finally:
        result.close()


def on_dates(column: Any, filters: ReportFilters) -> list[ColumnElement[bool]]:
    """Conditions keeping a date column within the filter's dates (inclusive)."""
    conditions = []
    if filters.date_from is not None:
        conditions.append(column >= filters.date_from)
    if filters.date_to is not None:
        conditions.append(column <= filters.date_to)
    return conditions


def on_calendar(column: Any, filters: ReportFilters, zone: ZoneInfo) -> list[ColumnElement[bool]]:
    """Conditions keeping a UTC timestamp within the filter's dates on the clinic's calendar."""
    conditions = []
    if filters.date_from is not None:
        conditions.append(column >= _midnight(filters.date_from, zone))
    if filters.date_to is not None:
        conditions.append(column < _midnight(filters.date_to + timedelta(days=1), zone))
    return conditions


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(UTC)


def within(day: date | None, filters: ReportFilters) -> bool:
    """Whether a date is within the filter's dates (inclusive); no date is, unless unfiltered."""
    if filters.date_from is None and filters.date_to is None:
        return True
    if day is None:
        return False
    if filters.date_from is not None and day < filters.date_from:
        return False
    return filters.date_to is None or day <= filters.date_to


def export_ref(ref: str | None, intervention_id: int | None) -> str | None:
    """An intervention's ref, or ``clinic:ID`` for one created in Clinic (which has none).

    Not the bare id: an imported intervention may well have the ref ``2``, and two
    interventions exported under one ref would import back as one.
    """
    if ref is not None:
        return ref
    return None if intervention_id is None else clinic_ref(intervention_id)


def sql_ref(ref: Any, intervention_id: Any) -> ColumnElement[str]:
    """An intervention's ref in SQL, or ``clinic:ID`` for one made in Clinic (``export_ref``)."""
    return func.coalesce(ref, CLINIC_REF_PREFIX + cast(intervention_id, String))
