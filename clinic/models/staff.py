"""Staff accounts, their signed-in sessions and the failed sign-in ledger used for throttling."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from clinic import clock
from clinic.models.base import Base, Stamped, in_list

ROLES = ("front_desk", "physician", "manager", "admin")
ROLE_LABELS = {
    "front_desk": "Front desk",
    "physician": "Physician",
    "manager": "Manager",
    "admin": "Administrator",
}


class StaffUser(Stamped, Base):
    """A person who signs in to Clinic; one role each."""

    __tablename__ = "staff_user"
    __table_args__ = (CheckConstraint(in_list("role", ROLES), name="role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))
    # Null for accounts created by seed-demo or import: no password works until an admin sets one.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]

    # Flask-Login reads these; the id it stores in the cookie is the session token, not user.id.
    session_token = None

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]

    def __repr__(self) -> str:
        return f"<StaffUser {self.username} ({self.role})>"


class StaffSession(Base):
    """A signed-in browser session; revoking the row signs that browser out at once."""

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=lambda: clock.utcnow())
    revoked_at: Mapped[datetime | None]
    client_address: Mapped[str | None] = mapped_column(String(64))

    user: Mapped[StaffUser] = relationship(lazy="joined", innerjoin=True)


class LoginAttempt(Base):
    """One failed sign-in; recent rows per username and per address drive the throttle."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_username_at", "username", "attempted_at"),
        Index("ix_login_attempt_address_at", "client_address", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    client_address: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(default=lambda: clock.utcnow())
