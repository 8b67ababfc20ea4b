"""The one place Clinic reads the time, so tests can move the clock (idle and absolute timeouts)."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(UTC)


def clinic_today(timezone_name: str) -> date:
    """Today's date on the clinic's wall calendar."""
    return utcnow().astimezone(ZoneInfo(timezone_name)).date()
