"""Patients reporting their own relief: the self-report link, guesses at it, the block diary."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from clinic import clock
from clinic.models.base import Base, Stamped, in_list
from clinic.models.scheduling import Intervention

# The diary's nominal time points, in minutes after the block was completed.
DIARY_MINUTES = (0, 30, 60, 120, 240, 360, 480)
DIARY_SOURCES = ("self_report", "paper")


class SelfReportLink(Stamped, Base):
    """The one self-report link of a completed intervention.

    The token is never stored: it is derived from the intervention and ``generation`` under the
    server's link key, and only its SHA-256 is kept to find the row. Revoking moves the
    generation on, so the old token can never be derived again.
    """

    __tablename__ = "self_report_link"
    __table_args__ = (CheckConstraint("generation >= 1", name="generation_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("intervention.id"), unique=True)
    generation: Mapped[int] = mapped_column(default=1)
    # Null while no link is active (never issued for this generation, or revoked).
    token_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime | None]
    valid_until: Mapped[date | None]
    revoked_at: Mapped[datetime | None]
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))

    intervention: Mapped[Intervention] = relationship()


class LinkGuess(Base):
    """One request for a self-report link that named no valid link; recent rows per address
    drive the guessing throttle (counted in the database, so it holds across app servers)."""

    __tablename__ = "link_guess"
    __table_args__ = (Index("ix_link_guess_address_at", "client_address", "guessed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_address: Mapped[str] = mapped_column(String(64))
    guessed_at: Mapped[datetime] = mapped_column(default=lambda: clock.utcnow())


class DiaryEntry(Stamped, Base):
    """One entry of a diagnostic block's pain diary: the pain at a time point after the block.

    Not a pain score: the day-based relief rules never read it.
    """

    __tablename__ = "diary_entry"
    __table_args__ = (
        UniqueConstraint("intervention_id", "minutes_after", name="uq_diary_entry_point"),
        CheckConstraint(
            "minutes_after IN (" + ", ".join(str(m) for m in DIARY_MINUTES) + ")",
            name="minutes_after_known",
        ),
        CheckConstraint("nrs BETWEEN 0 AND 10", name="nrs_range"),
        CheckConstraint("percent_relief BETWEEN 0 AND 100", name="percent_relief_range"),
        CheckConstraint(in_list("source", DIARY_SOURCES), name="source_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("intervention.id"))
    minutes_after: Mapped[int]
    nrs: Mapped[int]
    percent_relief: Mapped[int | None]
    # When the entry was given (a paper diary: when the patient wrote it, as typed by staff).
    recorded_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(20))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
