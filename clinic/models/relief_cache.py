"""The relief report's cache: its figures per selection, checked against a data version.

``relief_data_version`` is one row whose ``version`` the database's own triggers bump on every
write to pain scores and interventions (and to an intervention's status or physician, a
patient's condition or a procedure type's code, which the report filters and groups by), whatever wrote them: a form, the import, the
demo generator, ``COPY``. ``relief_report_cache`` keeps the report's figures for a selection
under the version they were computed at; a figure is served only while the version is the same.
"""

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from clinic import clock
from clinic.models.base import Base


class ReliefDataVersion(Base):
    """The version of the data the relief report reads: one row, bumped by triggers."""

    __tablename__ = "relief_data_version"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


class ReliefReportCache(Base):
    """The relief report's figures for one selection (a digest of its filters and grouping)."""

    __tablename__ = "relief_report_cache"
    # Derived figures, not records: a GET may keep them (tests/test_access.py leaves them out).
    __table_args__ = {"info": {"cache": True}}

    selection: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    figures: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[datetime] = mapped_column(default=lambda: clock.utcnow())
