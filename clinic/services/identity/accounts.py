"""Staff accounts: password policy and hashing, sign-in with throttling, server-side sessions."""

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from clinic import clock
from clinic.models import ROLES, LoginAttempt, StaffSession, StaffUser
from clinic.services import DomainError
from clinic.services.identity.audit import Actor, act_as, record_event

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
# zxcvbn's 0–4 guessability score; 3 means "safely unguessable" against online attacks.
MIN_PASSWORD_SCORE = 3
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


class InvalidCredentials(DomainError):
    """Unknown username or wrong password: deliberately the same error for both."""


class LoginThrottled(DomainError):
    """Too many recent failed sign-ins for this account or from this address."""


def normalized(password: str) -> str:
    """The password as NFKC, so "ü" typed composed or decomposed is the same password (NIST 800-63B)."""
    return unicodedata.normalize("NFKC", password)


class PasswordHashing:
    """Argon2id hashing with parameters from configuration.

    The hasher (and the dummy hash) are made on first use, not when the app starts: most
    processes (a page, an export, a cron job) never hash a password.
    """

    def __init__(self) -> None:
        self.configure(time_cost=3, memory_cost_kib=65536, parallelism=4)

    def configure(self, time_cost: int, memory_cost_kib: int, parallelism: int) -> None:
        self.parameters = {
            "time_cost": time_cost,
            "memory_cost": memory_cost_kib,
            "parallelism": parallelism,
        }
        self._hasher = None
        self._dummy_hash: str | None = None

    @property
    def hasher(self):
        if self._hasher is None:
            from argon2 import PasswordHasher

            self._hasher = PasswordHasher(**self.parameters)
        return self._hasher

    @hasher.setter
    def hasher(self, hasher) -> None:
        self._hasher = hasher

    @property
    def dummy_hash(self) -> str:
        """Verified against when the username is unknown, so both cases take as long."""
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    @dummy_hash.setter
    def dummy_hash(self, value: str) -> None:
        self._dummy_hash = value

    def hash(self, password: str) -> str:
        return self.hasher.hash(normalized(password))

    def verify(self, password_hash: str | None, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            return self.hasher.verify(
                password_hash or self.dummy_hash, normalized(password)
            ) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False


passwords = PasswordHashing()


def password_problem(password: str, *user_inputs: str) -> str | None:
    """Why a password is refused (NIST SP 800-63B: length and guessability, no composition rules)."""
    password = normalized(password)
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters; a short phrase of words is easiest."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    from zxcvbn import zxcvbn

    strength = zxcvbn(password, user_inputs=[value for value in user_inputs if value])
    if strength["score"] < MIN_PASSWORD_SCORE:
        warning = strength["feedback"]["warning"] or "This password is too easy to guess."
        return f"{warning.rstrip('.')}. Choose a longer, less common phrase."
    return None


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise DomainError(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}.", "role")


def get_user_by_username(session: Session, username: str) -> StaffUser | None:
    return session.execute(
        select(StaffUser).where(StaffUser.username == username.strip().lower())
    ).scalar_one_or_none()


FULL_NAME_LENGTH = 120  # staff_user.full_name; the web form says the same


def create_user(
    session: Session, username: str, full_name: str, role: str, password: str | None
) -> StaffUser:
    """Create a staff account; ``password=None`` makes one that cannot sign in until reset."""
    username = username.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise DomainError(
            "Usernames are 2–64 lower-case letters, digits, dots, dashes or underscores.",
            "username",
        )
    if not full_name.strip():
        raise DomainError("Enter the person's full name.", "full_name")
    if len(full_name.strip()) > FULL_NAME_LENGTH:
        raise DomainError(f"A full name is at most {FULL_NAME_LENGTH} characters.", "full_name")
    _check_role(role)
    if get_user_by_username(session, username) is not None:
        raise DomainError(f"The username {username!r} is taken.", "username")
    password_hash = None
    if password is not None:
        problem = password_problem(password, username, full_name)
        if problem:
            raise DomainError(problem, "password")
        password_hash = passwords.hash(password)
    user = StaffUser(
        username=username,
        full_name=full_name.strip(),
        role=role,
        password_hash=password_hash,
        password_changed_at=clock.utcnow() if password_hash else None,
    )
    session.add(user)
    session.flush()
    return user


def set_role(session: Session, user: StaffUser, role: str) -> None:
    _check_role(role)
    user.role = role
    revoke_sessions(session, user)
    session.flush()


def set_active(session: Session, user: StaffUser, active: bool) -> None:
    """Activate or deactivate an account; deactivation signs out every browser at once."""
    user.active = active
    if not active:
        revoke_sessions(session, user)
    session.flush()


def set_password(session: Session, user: StaffUser, password: str) -> None:
    """Change a password and end every other session of that user."""
    problem = password_problem(password, user.username, user.full_name)
    if problem:
        raise DomainError(problem, "password")
    user.password_hash = passwords.hash(password)
    user.password_changed_at = clock.utcnow()
    revoke_sessions(session, user)
    session.flush()


def revoke_sessions(session: Session, user: StaffUser) -> None:
    session.execute(
        update(StaffSession)
        .where(StaffSession.user_id == user.id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=clock.utcnow())
    )


@dataclass(frozen=True)
class ThrottlePolicy:
    window: timedelta
    max_failures_per_account: int
    max_failures_per_address: int


def _recent_failures(session: Session, column, value: str, since: datetime) -> int:
    return session.execute(
        select(func.count()).where(column == value, LoginAttempt.attempted_at > since)
    ).scalar_one()


def authenticate(
    session: Session,
    username: str,
    password: str,
    client_address: str,
    policy: ThrottlePolicy,
) -> StaffUser:
    """Check a sign-in; raise ``LoginThrottled`` or ``InvalidCredentials`` (audited either way)."""
    username = username.strip().lower()[:64]
    since = clock.utcnow() - policy.window
    if (
        _recent_failures(session, LoginAttempt.username, username, since)
        >= policy.max_failures_per_account
        or _recent_failures(session, LoginAttempt.client_address, client_address, since)
        >= policy.max_failures_per_address
    ):
        record_event(
            session,
            "login_failed",
            details={"reason": "throttled"},
            actor=Actor(None, username, client_address),
        )
        minutes = int(policy.window.total_seconds() // 60)
        raise LoginThrottled(
            f"Too many failed sign-ins. Wait {minutes} minutes and try again, "
            "or ask an administrator to reset your password."
        )
    user = get_user_by_username(session, username)
    password_ok = passwords.verify(user.password_hash if user else None, password)
    if user is None or not password_ok or not user.active:
        session.add(LoginAttempt(username=username, client_address=client_address))
        record_event(
            session,
            "login_failed",
            record_type="staff_user" if user else None,
            record_id=user.id if user else None,
            actor=Actor(user.id if user else None, username, client_address),
        )
        raise InvalidCredentials("Unknown username or wrong password.")
    return user


def start_session(session: Session, user: StaffUser, client_address: str) -> str:
    """Open a server-side session for a user who just signed in; returns its secret token.

    From here on the unit of work acts as that user, so the sign-in's own write (the last
    sign-in time) names them in the audit trail rather than an anonymous visitor.
    """
    actor = Actor(user.id, user.username, client_address)
    act_as(session, actor)
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(token_hash=_digest(token), user_id=user.id, client_address=client_address)
    )
    user.last_login_at = clock.utcnow()
    record_event(session, "login", record_type="staff_user", record_id=user.id, actor=actor)
    session.flush()
    return token


def load_session(session: Session, token: str, absolute_timeout: timedelta) -> StaffUser | None:
    """The user behind a session token, if the session is live, unexpired and the user active."""
    row = session.execute(
        select(StaffSession).where(StaffSession.token_hash == _digest(token))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    if clock.utcnow() - row.created_at > absolute_timeout:
        return None
    row.user.session_token = token
    return row.user


def end_session(
    session: Session, token: str, client_address: str | None, reason: str | None = None
) -> None:
    """End a live session on the server; the sign-out is audited against the session's user.

    ``reason`` says why when the person did not sign out themselves (e.g. "idle timeout").
    A session that had already ended (revoked, deactivated) is left alone and not audited again.
    """
    row = session.execute(
        select(StaffSession).where(
            StaffSession.token_hash == _digest(token), StaffSession.revoked_at.is_(None)
        )
    ).scalar_one_or_none()
    if row is None:
        return
    row.revoked_at = clock.utcnow()
    record_event(
        session,
        "logout",
        record_type="staff_user",
        record_id=row.user_id,
        details={"reason": reason} if reason else None,
        actor=Actor(row.user_id, row.user.username, client_address),
    )
    session.flush()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
