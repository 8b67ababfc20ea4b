"""The repeat-eligibility rule table: payer rules kept as data an admin can edit."""

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from clinic.models.base import Base, Stamped


class RepeatEligibilityRule(Stamped, Base):
    """A payer rule for repeating a procedure, kept as data an admin can edit.

    A rule applies to a planned procedure whose code is in ``target_codes``. It looks back at
    the patient's prior interventions whose code is in ``prior_codes``, and is met when at
    least ``required_prior_count`` of them gave ≥ ``min_relief_pct`` relief lasting at least
    ``min_relief_days`` (when set), and no more than ``max_sessions`` of the target procedure
    fall in the rolling ``window_days`` (when set).
    """

    __tablename__ = "repeat_eligibility_rule"
    __table_args__ = (
        CheckConstraint("min_relief_pct BETWEEN 0 AND 100", name="min_relief_pct_range"),
        CheckConstraint("required_prior_count >= 1", name="required_prior_count_positive"),
        CheckConstraint(
            "(max_sessions IS NULL) = (window_days IS NULL)", name="session_limit_complete"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    description: Mapped[str] = mapped_column(String(255))
    target_codes: Mapped[str] = mapped_column(String(255))
    prior_codes: Mapped[str] = mapped_column(String(255))
    min_relief_pct: Mapped[int]
    min_relief_days: Mapped[int | None]
    required_prior_count: Mapped[int] = mapped_column(default=1)
    max_sessions: Mapped[int | None]
    window_days: Mapped[int | None]
    active: Mapped[bool] = mapped_column(default=True)
