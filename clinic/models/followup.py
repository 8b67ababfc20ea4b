"""Pain scores after a procedure and follow-up call attempts."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from clinic.models.base import Base, Stamped, in_list
from clinic.models.patients import Patient
from clinic.models.scheduling import Intervention
from clinic.models.staff import StaffUser

PAIN_SCORE_SOURCES = ("visit", "phone", "self_report", "import")
CALL_OUTCOMES = ("unreachable", "declined")


class PainScore(Stamped, Base):
    """A 0–10 numeric rating of pain on a date, following up one intervention."""

    __tablename__ = "pain_score"
    __table_args__ = (
        # At most one score per intervention per date: a second entry edits the first.
        UniqueConstraint("intervention_id", "recorded_on", name="uq_pain_score_intervention_day"),
        CheckConstraint("nrs BETWEEN 0 AND 10", name="nrs_range"),
        CheckConstraint("percent_relief BETWEEN 0 AND 100", name="percent_relief_range"),
        CheckConstraint(in_list("source", PAIN_SCORE_SOURCES), name="source_known"),
        Index("ix_pain_score_patient_recorded", "patient_id", "recorded_on"),
        # Scores by the day recorded, with what the manager's month counts of them (their
        # procedure and source), so that the index alone answers.
        Index("ix_pain_score_recorded_on", "recorded_on", "intervention_id", "source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    intervention_id: Mapped[int] = mapped_column(ForeignKey("intervention.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visit.id"), index=True)
    recorded_on: Mapped[date]
    nrs: Mapped[int]
    percent_relief: Mapped[int | None]
    source: Mapped[str] = mapped_column(String(20))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))

    patient: Mapped[Patient] = relationship()
    intervention: Mapped[Intervention] = relationship()
    recorded_by: Mapped[StaffUser | None] = relationship()


class FollowUpCall(Stamped, Base):
    """Attempts at one scheduled follow-up call, and its outcome when no score was obtained."""

    __tablename__ = "follow_up_call"
    __table_args__ = (
        UniqueConstraint("intervention_id", "due_on", name="uq_follow_up_call_intervention_due"),
        CheckConstraint(
            f"outcome IS NULL OR {in_list('outcome', CALL_OUTCOMES)}", name="outcome_known"
        ),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("intervention.id"))
    due_on: Mapped[date]
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(20))
    notes: Mapped[str | None] = mapped_column(Text)


CALL_STATES = ("open", "done", "self_report")


class ScheduledCall(Base):
    """One follow-up call a completed intervention's schedule sets, kept as the data changes.

    The call list reads these rows instead of working out every procedure's calls on each view.
    They are derived data: ``services/followup/kept.py`` rewrites an intervention's rows in the
    same transaction as any change to it, its pain scores or its call attempts (and a procedure
    type's rows when its schedule changes). ``state`` is ``open`` (no score in the window, no
    closing attempt), ``done`` (answered, or closed as unreachable or declined) or
    ``self_report`` (answered by a score the patient reported, and by no other).
    """

    __tablename__ = "scheduled_call"
    __table_args__ = (
        CheckConstraint(in_list("state", CALL_STATES), name="state_known"),
        # The call list counts and lists by due date, then state; with the patient, the index
        # alone answers its counts (archived patients are left out by their id).
        Index("ix_scheduled_call_due", "due_on", "state", "patient_id"),
    )

    intervention_id: Mapped[int] = mapped_column(
        ForeignKey("intervention.id", ondelete="CASCADE"), primary_key=True
    )
    due_on: Mapped[date] = mapped_column(primary_key=True)
    # The procedure's patient, copied (no foreign key: the intervention's own keeps it whole),
    # so that the list leaves archived patients out from its index alone.
    patient_id: Mapped[int]
    # The schedule item that sets the call, as written in it ("6w", "3m").
    schedule_item: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(12))
