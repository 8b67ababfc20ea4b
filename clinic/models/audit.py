"""The append-only audit trail: who did what to which record, when, and from where."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from clinic import clock
from clinic.models.base import Base, in_list

AUDIT_ACTIONS = (
    "view",
    "create",
    "update",
    "archive",
    "export",
    "import",
    "login",
    "login_failed",
    "logout",
    "access_denied",
    "link_issued",
    "link_revoked",
    "link_used",
    "email_sent",
    "email_failed",
)


class AuditEvent(Base):
    """One audited action. The database refuses UPDATE and DELETE on this table."""

    __tablename__ = "audit_event"
    __table_args__ = (
        CheckConstraint(in_list("action", AUDIT_ACTIONS), name="action_known"),
        Index("ix_audit_event_record", "record_type", "record_id"),
        Index("ix_audit_event_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    occurred_at: Mapped[datetime] = mapped_column(default=lambda: clock.utcnow())
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    # The name typed at a failed sign-in, or "command line" for CLI work; kept for unknown users.
    actor_name: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(20))
    record_type: Mapped[str | None] = mapped_column(String(40))
    record_id: Mapped[str | None] = mapped_column(String(64))
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    client_address: Mapped[str | None] = mapped_column(String(64))
