"""The ``diary`` export: one row per entry of a diagnostic block's pain diary (docs/formats.md).

A plain export (its one SELECT is its CSV), filtered on the block's performed date like
everything that hangs off an intervention; rows by intervention, then time point.
"""

from zoneinfo import ZoneInfo

from sqlalchemy import Select, select

from clinic.services.filters import ReportFilters
from clinic.services.interchange.exports.reading import (
    booking,
    diary_entry,
    intervention,
    not_archived,
    on_dates,
    patient,
    procedure_type,
    sql_ref,
)

DIARY_HEADER = (
    "intervention_id",
    "ref",
    "mrn",
    "procedure_code",
    "performed_on",
    "minutes_after",
    "nrs",
    "percent_relief",
    "recorded_at",
)


def diary_statements(filters: ReportFilters, zone: ZoneInfo) -> list[Select]:
    """The SELECT of ``diary``: each entry with its block, performed in the range when given."""
    statement = (
        select(
            diary_entry.c.intervention_id,
            sql_ref(intervention.c.ref, intervention.c.id).label("ref"),
            patient.c.mrn,
            procedure_type.c.code.label("procedure_code"),
            intervention.c.performed_on,
            diary_entry.c.minutes_after,
            diary_entry.c.nrs,
            diary_entry.c.percent_relief,
            diary_entry.c.recorded_at,
        )
        .select_from(
            diary_entry.join(intervention, intervention.c.id == diary_entry.c.intervention_id)
            .join(booking, booking.c.id == intervention.c.id)
            .join(patient, patient.c.id == booking.c.patient_id)
            .join(procedure_type, procedure_type.c.id == intervention.c.procedure_type_id)
        )
        .where(not_archived, *on_dates(intervention.c.performed_on, filters))
        .order_by(diary_entry.c.intervention_id, diary_entry.c.minutes_after)
    )
    return [statement]
