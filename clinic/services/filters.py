"""The filters that reports and exports share (DESIGN.md section 5)."""

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class ReportFilters:
    """What a manager narrows a report or an export to.

    ``date_from``/``date_to`` (inclusive) apply to the performed date of interventions and what
    hangs off them, the scheduled date for the schedule, the received date for referrals and
    the recorded date for pain scores; patients are not filtered by date. ``threshold`` is the
    percent relief that counts as relieved (DESIGN.md section 4; default 50).
    """

    date_from: date | None = None
    date_to: date | None = None
    threshold: float = 50
    physician_id: int | None = None
    condition: str | None = None
    procedure_code: str | None = None

    def as_audit_details(self) -> dict[str, object]:
        """The filters as the audit row records them (only those that are set)."""
        values = {
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "threshold": self.threshold,
            "physician_id": self.physician_id,
            "condition": self.condition,
            "procedure_code": self.procedure_code,
        }
        return {key: value for key, value in values.items() if value is not None}
