"""The reminder outbox: one row per email of a self-report link, so that none is sent twice."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from clinic.models.base import Base, Stamped, in_list
from clinic.models.scheduling import Intervention

# sending: claimed by a run that is talking to the SMTP server (or crashed doing so);
# sent: the server took it; failed: the server refused it or could not be reached (retried).
REMINDER_STATUSES = ("sending", "sent", "failed")


class ReminderEmail(Stamped, Base):
    """One reminder email: an intervention's link sent for the follow-up due on ``due_on``.

    The uniqueness of (intervention, due date) is what keeps two runs from emailing a patient
    twice for one due date: a run claims the row in its own committed transaction first.
    """

    __tablename__ = "reminder_email"
    __table_args__ = (
        UniqueConstraint("intervention_id", "due_on", name="uq_reminder_email_intervention_due"),
        CheckConstraint(in_list("status", REMINDER_STATUSES), name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_reminder_email_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("intervention.id"))
    due_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(default=0)
    # The run that claimed it last, and when: a row left `sending` names the run that crashed.
    run_id: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    # Why the SMTP server refused it or could not be reached (the last attempt's reason).
    reason: Mapped[str | None] = mapped_column(Text)

    intervention: Mapped[Intervention] = relationship()
