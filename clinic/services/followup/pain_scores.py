"""Recording pain scores that follow up a procedure.

A pain score is an NRS (0–10, whole number) on a date, optionally with the patient's own
percent relief, following up one completed intervention. At most one score per intervention per
date: entering another for the same date edits the one there, and the audit trail (written by
the flush hook in ``clinic.services.identity.audit``) keeps the old and the new values. An edit without a
visit keeps the visit the score was taken at.

A follow-up is dated after the performed date: the pain on the day itself, before the procedure,
is the baseline, and the relief rules (docs/rules.md, Relief and its duration) ignore any score on that day. The
front desk records what patients report by phone or themselves; scores at a visit are the
physician's.
"""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clinic.models import Intervention, PainScore, StaffUser
from clinic.models.followup import PAIN_SCORE_SOURCES
from clinic.services import DomainError
from clinic.services.followup.calls import check_followed_up

SOURCE_LABELS = {
    "visit": "visit",
    "phone": "phone call",
    "self_report": "self-report",
    "import": "import",
}
# What the front desk hears: a score at a visit is taken by the physician.
FRONT_DESK_SOURCES = ("phone", "self_report")


@dataclass(frozen=True)
class ScoreValues:
    """What a score said before it was edited."""

    nrs: int
    percent_relief: int | None
    source: str
    recorded_by_id: int | None = None


@dataclass(frozen=True)
class SavedScore:
    """The score as saved, and what it replaced when one was already there for that date."""

    score: PainScore
    replaced: ScoreValues | None

    @property
    def created(self) -> bool:
        return self.replaced is None


def _is_whole_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_score_values(nrs: object, percent_relief: object, source: str) -> None:
    """Refuse an NRS, percent relief or source that the record cannot hold, saying what to fix."""
    if nrs is None or nrs == "":
        raise DomainError("Enter the pain score (NRS), a whole number from 0 to 10.", "nrs")
    if not _is_whole_number(nrs) or not 0 <= nrs <= 10:
        raise DomainError(
            f"The pain score (NRS) must be a whole number from 0 to 10, not {nrs}.", "nrs"
        )
    if percent_relief is not None and (
        not _is_whole_number(percent_relief) or not 0 <= percent_relief <= 100
    ):
        raise DomainError(
            f"Percent relief must be a whole number from 0 to 100, not {percent_relief}; "
            "leave it empty if the patient did not say.",
            "percent_relief",
        )
    if source not in PAIN_SCORE_SOURCES:
        raise DomainError(
            f"Unknown source of the score: {source!r}. Use one of {', '.join(PAIN_SCORE_SOURCES)}.",
            "source",
        )


def check_source_for_recorder(session: Session, recorded_by_id: int | None, source: str) -> None:
    """Refuse a front-desk score that claims to be from a visit (or an import)."""
    if recorded_by_id is None or source in FRONT_DESK_SOURCES:
        return
    recorder = session.get(StaffUser, recorded_by_id)
    if recorder is not None and recorder.role == "front_desk":
        raise DomainError(
            f"The front desk records scores given by phone or self-reported, not by "
            f"{SOURCE_LABELS.get(source, source)}; a score at a visit is the physician's.",
            "source",
        )


def check_may_replace(session: Session, existing: PainScore, recorded_by_id: int | None) -> None:
    """Refuse the front desk replacing a score taken at a visit: that score is the physician's."""
    if existing.source != "visit" or recorded_by_id is None:
        return
    recorder = session.get(StaffUser, recorded_by_id)
    if recorder is not None and recorder.role == "front_desk":
        raise DomainError(
            f"A score of {existing.nrs} was taken at a visit on "
            f"{existing.recorded_on.isoformat()}; a score recorded at a visit is the "
            "physician's and the front desk cannot replace it. Ask the physician to correct it, "
            "or record this answer on another day.",
            "recorded_on",
        )


def score_on(session: Session, intervention_id: int, recorded_on: date) -> PainScore | None:
    """The intervention's score on that date, if one was recorded."""
    return session.execute(
        select(PainScore).where(
            PainScore.intervention_id == intervention_id, PainScore.recorded_on == recorded_on
        )
    ).scalar_one_or_none()


def record_pain_score(
    session: Session,
    intervention: Intervention,
    recorded_on: date,
    nrs: int,
    percent_relief: int | None,
    source: str,
    recorded_by_id: int | None,
    *,
    today: date,
    visit_id: int | None = None,
) -> SavedScore:
    """Record the patient's NRS (and optional percent relief) on a date after a procedure.

    ``today`` is the clinic's date (its time zone), so that no score is dated in the future.
    A score already there for that date is edited, not duplicated; without a ``visit_id`` the
    edit keeps the visit it was taken at.
    """
    performed_on = check_followed_up(intervention)
    check_score_values(nrs, percent_relief, source)
    check_source_for_recorder(session, recorded_by_id, source)
    if recorded_on is None:
        raise DomainError("Enter the date of the score as YYYY-MM-DD.", "recorded_on")
    if recorded_on < performed_on:
        raise DomainError(
            f"The score's date ({recorded_on.isoformat()}) is before the procedure was performed "
            f"({performed_on.isoformat()}). Check the date.",
            "recorded_on",
        )
    if recorded_on == performed_on:
        # docs/rules.md, Relief and its duration: scores on the performed date are not follow-ups.
        raise DomainError(
            f"A follow-up score must be dated after the procedure (performed "
            f"{performed_on.isoformat()}); the pre-procedure pain is the baseline.",
            "recorded_on",
        )
    if recorded_on > today:
        raise DomainError(
            f"The score's date ({recorded_on.isoformat()}) is in the future; today is "
            f"{today.isoformat()}. Check the date.",
            "recorded_on",
        )
    values = {
        "nrs": nrs,
        "percent_relief": percent_relief,
        "source": source,
        "recorded_by_id": recorded_by_id,
        "visit_id": visit_id,
    }
    existing = score_on(session, intervention.id, recorded_on)
    if existing is None:
        score = PainScore(
            patient_id=intervention.patient_id,
            intervention_id=intervention.id,
            recorded_on=recorded_on,
            **values,
        )
        try:
            with session.begin_nested():
                session.add(score)
                session.flush()
        except IntegrityError:
            # Another clerk saved a score for this date a moment ago: edit theirs instead.
            existing = score_on(session, intervention.id, recorded_on)
            if existing is None:
                raise
        else:
            return SavedScore(score, None)
    check_may_replace(session, existing, recorded_by_id)
    replaced = ScoreValues(
        existing.nrs, existing.percent_relief, existing.source, existing.recorded_by_id
    )
    if visit_id is None:
        # A phone or typed-in correction does not unlink the score from its visit.
        del values["visit_id"]
    for name, value in values.items():
        setattr(existing, name, value)
    session.flush()
    return SavedScore(existing, replaced)
