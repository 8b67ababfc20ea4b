"""Calendar months and rolling windows, counted by calendar date as payers count them.

One place for every rule that says "N months after" or "per rolling N months": the repeat
eligibility rules and the steroid limits both use it, so a window is the same everywhere.

- ``months_after(day, n)``: the same day of the month ``n`` calendar months later, or that
  month's last day when it is shorter: 3 months after 2026-01-31 is 2026-04-30, 12 months after
  2024-02-29 is 2025-02-28.
- ``rolling_window_start(day, months)``: the first day of the rolling window of ``months``
  months that ends on ``day`` (inclusive): the day after the same calendar date ``months``
  earlier. Per rolling 12 months up to 2026-11-27 runs from 2025-11-28 through 2026-11-27; one
  year before 2028-02-29 is 2027-02-28, so that window starts on 2027-03-01.
"""

import calendar
from datetime import date, timedelta


def months_after(day: date, months: int) -> date:
    """The date ``months`` calendar months after ``day`` (before it when negative), clamped to
    the month's last day."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def rolling_window_start(day: date, months: int) -> date:
    """The first day of the ``months``-month rolling window that ends on ``day``, inclusive."""
    return months_after(day, -months) + timedelta(days=1)
