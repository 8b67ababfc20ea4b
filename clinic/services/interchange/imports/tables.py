"""The clinic's tables as the import reads and writes them: through Core, not the ORM, so that
the audit flush hook sees none of its bulk writes (``audit.py`` writes the trail itself)."""

from clinic.models import (
    AuditEvent,
    Booking,
    Drug,
    Intervention,
    MedicationGiven,
    PainScore,
    Patient,
    ProcedureType,
    Room,
    StaffUser,
)

patient_table = Patient.__table__
booking_table = Booking.__table__
intervention_table = Intervention.__table__
score_table = PainScore.__table__
staff_table = StaffUser.__table__
audit_table = AuditEvent.__table__
procedure_table = ProcedureType.__table__
room_table = Room.__table__
drug_table = Drug.__table__
medication_table = MedicationGiven.__table__


def booking_resource(table, name: str):
    """A booking's physician, room or patient column, for a join on it and on a time range.

    The room's index has no time in it: ``+ 0`` keeps SQLite from choosing it over the index
    on the start time, which the range makes far more selective (PostgreSQL plans by its
    statistics either way).
    """
    column = table.c[name]
    return column + 0 if name == "room_id" else column
