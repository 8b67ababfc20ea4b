"""The payer rules kept as data an admin can edit: repeat eligibility and spinal regions."""

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from clinic.models.base import Base, Stamped

SPINAL_REGIONS = ("cervical_thoracic", "lumbar_sacral")


class RepeatEligibilityRule(Stamped, Base):
    """A payer rule for a procedure, kept as data an admin can edit.

    A rule applies to a planned procedure whose code is in ``target_codes``. It looks back at
    the ``required_prior_count`` most recent prior interventions whose code is in
    ``prior_codes`` (in the planned procedure's spinal region when ``per_region``), and is met
    when each gave ≥ ``min_relief_pct`` relief, documented at least ``min_relief_months``
    calendar months after it (when set), judged on the scores of the first ``trial_days`` days
    only (when set), and fewer than ``max_sessions`` of the target procedure fall in the rolling
    ``window_months`` (when set).
    """

    __tablename__ = "repeat_eligibility_rule"
    __table_args__ = (
        CheckConstraint("min_relief_pct BETWEEN 0 AND 100", name="min_relief_pct_range"),
        CheckConstraint("required_prior_count >= 1", name="required_prior_count_positive"),
        CheckConstraint(
            "(max_sessions IS NULL) = (window_months IS NULL)", name="session_limit_complete"
        ),
        CheckConstraint("min_relief_months >= 1", name="min_relief_months_positive"),
        CheckConstraint("window_months >= 1", name="window_months_positive"),
        CheckConstraint("trial_days >= 1", name="trial_days_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    description: Mapped[str] = mapped_column(String(255))
    target_codes: Mapped[str] = mapped_column(String(255))
    prior_codes: Mapped[str] = mapped_column(String(255))
    min_relief_pct: Mapped[int]
    min_relief_months: Mapped[int | None]
    required_prior_count: Mapped[int] = mapped_column(default=1)
    max_sessions: Mapped[int | None]
    window_months: Mapped[int | None]
    per_region: Mapped[bool] = mapped_column(default=False)
    trial_days: Mapped[int | None]
    active: Mapped[bool] = mapped_column(default=True)


class SpinalLevelRegion(Base):
    """Which spinal region a level belongs to (``L4``, ``T12-L1``), or a procedure always is in
    (a caudal epidural): the per-region payer rules count by it."""

    __tablename__ = "spinal_level_region"
    __table_args__ = (
        CheckConstraint("region IN ('cervical_thoracic', 'lumbar_sacral')", name="region_known"),
        CheckConstraint("(level IS NULL) <> (procedure_code IS NULL)", name="level_or_procedure"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[str | None] = mapped_column(String(40), unique=True)
    procedure_code: Mapped[str | None] = mapped_column(String(20), unique=True)
    region: Mapped[str] = mapped_column(String(20))
