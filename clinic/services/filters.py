"""The filters that reports and exports share (docs/formats.md)."""

from dataclasses import dataclass
from datetime import date

# The relief report's steroid filter for interventions at which no corticosteroid was given.
NO_STEROID = "none"


@dataclass(frozen=True)
class ReportFilters:
    """What a manager narrows a report or an export to.

    ``date_from``/``date_to`` (inclusive) apply to the performed date of interventions and what
    hangs off them, the scheduled date for the schedule, the received date for referrals and
    the recorded date for pain scores; patients are not filtered by date. ``threshold`` is the
    percent relief that counts as relieved (docs/rules.md, Relief and its duration; default 50).
    """

    date_from: date | None = None
    date_to: date | None = None
    threshold: float = 50
    physician_id: int | None = None
    condition: str | None = None
    procedure_code: str | None = None
    # The corticosteroid given (a drug's name), or NO_STEROID: the relief report compares drugs.
    steroid: str | None = None
    # The day the ``eligibility`` export judges the rules as of (``--on``); today when None.
    as_of: date | None = None

    def as_audit_details(self) -> dict[str, object]:
        """The filters as the audit row records them (only those that are set)."""
        values = {
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "threshold": self.threshold,
            "physician_id": self.physician_id,
            "condition": self.condition,
            "procedure_code": self.procedure_code,
            "steroid": self.steroid,
            "on": self.as_of.isoformat() if self.as_of else None,
        }
        return {key: value for key, value in values.items() if value is not None}
