"""The one place Clinic reads the time, so tests can move the clock (idle and absolute timeouts)."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

# The dates Clinic accepts anywhere a person types one: beyond them a page's or a rule's date
# arithmetic (a week on, a year of follow-up calls, a month back) would overflow.
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(9998, 12, 31)


def utcnow() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(UTC)


def clinic_today(timezone_name: str) -> date:
    """Today's date on the clinic's wall calendar."""
    return utcnow().astimezone(ZoneInfo(timezone_name)).date()


def on_the_clock(local: datetime) -> bool:
    """Whether a wall-clock time (aware, in the clinic's zone) is one the clock shows: False in
    the hour the clocks skip when they go forward."""
    shown = local.astimezone(UTC).astimezone(local.tzinfo)
    return shown.replace(tzinfo=None) == local.replace(tzinfo=None)
