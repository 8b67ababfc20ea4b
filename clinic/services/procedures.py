"""Completing procedures and visits: the physician's clinical record of what was done."""

import re
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from clinic.models import LATERALITIES, Intervention, Visit
from clinic.services import DomainError
from clinic.services.medications.given import (
    MedicationRow,
    Radiation,
    catalogue,
    check_medications,
    check_radiation,
    medications_of,
    replace_medications,
    set_radiation,
)
from clinic.services.records import STALE_MESSAGE, StaleRecord, check_version

# One or more spinal levels: "L4-L5", "L5-S1", "C5-C6, C6-C7", "T8-T10", "S1", "sacrococcygeal".
LEVEL = r"(?:[CTLS]\d{1,2}(?:-[CTLS]\d{1,2})?|sacrococcygeal|coccyx)"
SPINAL_LEVELS = re.compile(rf"^{LEVEL}(?:\s*,\s*{LEVEL})*$", re.IGNORECASE)
COMPLETABLE = ("scheduled", "checked_in")


@dataclass(frozen=True)
class Completion:
    """What the physician records when a procedure is done."""

    performed_on: date
    baseline_nrs: int | None
    spinal_level: str | None = None
    laterality: str | None = None
    complications: str | None = None
    notes: str | None = None
    # What was given (docs/rules.md, Medications); None leaves the recorded list as it is.
    medications: list[MedicationRow] | None = None
    radiation: Radiation = field(default_factory=Radiation)


def normalise_levels(text: str | None) -> str | None:
    """'l4-l5,l5-s1' → 'L4-L5, L5-S1'; refuses text that is not a list of spinal levels."""
    text = (text or "").strip()
    if not text:
        return None
    if not SPINAL_LEVELS.match(text):
        raise DomainError(
            "Write spinal levels like L4-L5, or several separated by commas (L4-L5, L5-S1).",
            "spinal_level",
        )
    parts = [part.strip() for part in text.split(",")]
    return ", ".join(part.lower() if part.isalpha() else part.upper() for part in parts)


def complete_intervention(
    session: Session,
    intervention: Intervention,
    version: int | None,
    completion: Completion,
    today: date,
    *,
    zone: ZoneInfo,
) -> None:
    """Record the procedure as performed, with the baseline pain its relief is measured from.

    ``today`` and ``zone`` are the clinic's: the performed date falls between the booked day (in
    the clinic's time zone) and today.
    """
    check_version(intervention, version)
    if intervention.status not in COMPLETABLE + ("completed",):
        raise DomainError(
            f"A {intervention.status.replace('_', '-')} booking cannot be completed; book the procedure again."
        )
    if completion.baseline_nrs is None:
        raise DomainError(
            "Enter the baseline pain (NRS 0–10) recorded before the procedure.", "baseline_nrs"
        )
    if not 0 <= completion.baseline_nrs <= 10:
        raise DomainError("The baseline pain must be a whole number from 0 to 10.", "baseline_nrs")
    if completion.performed_on is None:
        raise DomainError("Enter the date the procedure was performed.", "performed_on")
    if completion.performed_on > today:
        raise DomainError(
            f"The performed date cannot be after today ({today.isoformat()}).", "performed_on"
        )
    booked_on = intervention.starts_at.astimezone(zone).date()
    if completion.performed_on < booked_on:
        raise DomainError(
            f"The procedure is booked for {booked_on.isoformat()}; it cannot have been performed "
            f"before that ({completion.performed_on.isoformat()}). If it was done on another "
            "day, move the booking to that day first.",
            "performed_on",
        )
    if completion.laterality and completion.laterality not in LATERALITIES:
        raise DomainError("Choose left, right, bilateral or midline.", "laterality")
    check_radiation(completion.radiation)
    if completion.medications is not None:
        # Checked before anything changes, so a refused dose leaves the record as it was.
        retired = {given.drug_id for given in medications_of(session, intervention.id)}
        check_medications(completion.medications, catalogue(session), retired)
    # Read before anything is changed, so that loading it cannot flush half a completion.
    referral = intervention.referral
    intervention.spinal_level = normalise_levels(completion.spinal_level)
    intervention.performed_on = completion.performed_on
    intervention.baseline_nrs = completion.baseline_nrs
    intervention.laterality = completion.laterality or None
    intervention.complications = (completion.complications or "").strip() or None
    intervention.notes = (completion.notes or "").strip() or None
    intervention.status = "completed"
    set_radiation(intervention, completion.radiation)
    if completion.medications is not None:
        replace_medications(session, intervention, completion.medications)
    if referral is not None and referral.status in ("received", "triaged", "scheduled"):
        # Closing the loop: the referral led to a procedure that has now been done.
        referral.status = "completed"
    _flush_checked(session)


def complete_visit(session: Session, visit: Visit, version: int | None, notes: str | None) -> None:
    """Record the visit as seen, with the physician's notes."""
    check_version(visit, version)
    if visit.status not in COMPLETABLE + ("completed",):
        raise DomainError(f"A {visit.status.replace('_', '-')} visit cannot be completed.")
    visit.notes = (notes or "").strip() or None
    visit.status = "completed"
    _flush_checked(session)


def _flush_checked(session: Session) -> None:
    """Write the completion; a save that raced the version check is refused as stale."""
    try:
        with session.begin_nested():
            session.flush()
    except StaleDataError:
        # Someone saved the booking between our version check and our write.
        raise StaleRecord(STALE_MESSAGE) from None
