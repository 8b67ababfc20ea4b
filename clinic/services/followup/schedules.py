"""Follow-up schedules: when the calls fall due after a procedure (docs/rules.md, Follow-up calls).

A schedule is text such as ``"2w 6w 3m 6m 12m"``: ``d`` days, ``w`` weeks, ``m`` calendar months
after the performed date. A month is a calendar month (31 January + 1 month = 28 or 29 February),
as a clerk counts it.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property, lru_cache

from dateutil.relativedelta import relativedelta

from clinic.services import DomainError

UNITS = {"d": ("day", "days"), "w": ("week", "weeks"), "m": ("month", "months")}
# Ten years at most: a longer offset is a typing error, not a follow-up plan.
MAX_AMOUNT = {"d": 3660, "w": 520, "m": 120}
# "2w", "2 w", "2 weeks", "1 month": a whole number and a unit, then a separator or the end.
_ITEM = re.compile(r"(\d+)\s*(d|days?|w|weeks?|m|months?)(?=[\s,;]|$)", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s,;]*")


class ScheduleError(DomainError, ValueError):
    """A follow-up schedule that cannot be read; the message says which part and how to write it."""


@dataclass(frozen=True, order=True)
class Offset:
    """How long after the performed date a call falls due: a number of days or of calendar months."""

    days: int = 0
    months: int = 0
    text: str = field(default="", compare=False)

    def after(self, performed_on: date) -> date:
        """The due date: calendar months are added by the calendar, clamped to the month's end."""
        if self.months:
            return performed_on + self._calendar_months + timedelta(days=self.days)
        return performed_on + timedelta(days=self.days)

    @cached_property
    def _calendar_months(self) -> relativedelta:
        return relativedelta(months=self.months)

    def performed_range(self, first_due: date, last_due: date) -> tuple[date, date]:
        """Performed dates whose call at this offset can fall due between the two dates.

        For months the range is widened by 3 days each way: several performed dates map to the
        same month end (29, 30, 31 January → 28 February). The exact due date is computed for
        each candidate afterwards, so the widening only costs a few extra rows.
        """
        if self.months:
            slack = timedelta(days=3)
            return (
                first_due - relativedelta(months=self.months) - slack,
                last_due - relativedelta(months=self.months) + slack,
            )
        return first_due - timedelta(days=self.days), last_due - timedelta(days=self.days)

    @property
    def label(self) -> str:
        """'2-week', '3-month', '1-day': the call's name on the list."""
        amount, unit = self._amount_unit()
        return f"{amount}-{UNITS[unit][0]}"

    @property
    def long_label(self) -> str:
        amount, unit = self._amount_unit()
        return f"{amount} {UNITS[unit][0 if amount == 1 else 1]}"

    def _amount_unit(self) -> tuple[int, str]:
        if self.months:
            return self.months, "m"
        if "w" in self.text.lower() or (self.days % 7 == 0 and self.days >= 7):
            return self.days // 7, "w"
        return self.days, "d"

    @property
    def approximate_days(self) -> float:
        return self.days + self.months * 30.44


def parse_schedule(text: str) -> list[Offset]:
    """Read a schedule such as ``"2w 6w 3m 6m 12m"`` into offsets, earliest first.

    Items are separated by spaces or commas; units may be spelt out ("2 weeks"). An empty
    schedule means no follow-up calls. Anything else raises ``ScheduleError`` naming the part
    that could not be read.
    """
    text = text or ""
    offsets: list[Offset] = []
    position = _SEPARATORS.match(text).end()
    while position < len(text):
        match = _ITEM.match(text, position)
        if match is None:
            bad = re.match(r"[^\s,;]+", text[position:])
            token = bad.group(0) if bad else text[position:]
            raise ScheduleError(
                f'Follow-up schedule "{text}": "{token}" is not a whole number followed by '
                'd (days), w (weeks) or m (months). Write it like "2w 6w 3m 6m 12m".',
                "followup_schedule",
            )
        token = match.group(0)
        amount, unit = int(match.group(1)), match.group(2)[0].lower()
        if not 1 <= amount <= MAX_AMOUNT[unit]:
            raise ScheduleError(
                f'Follow-up schedule "{text}": "{token}" is out of range; use 1 to '
                f"{MAX_AMOUNT[unit]} {UNITS[unit][1]}.",
                "followup_schedule",
            )
        offset = (
            Offset(months=amount, text=token)
            if unit == "m"
            else Offset(days=amount * (7 if unit == "w" else 1), text=token)
        )
        if offset in offsets:
            raise ScheduleError(
                f'Follow-up schedule "{text}": "{token}" repeats a call already in the schedule.',
                "followup_schedule",
            )
        offsets.append(offset)
        position = _SEPARATORS.match(text, match.end()).end()
    return sorted(offsets, key=lambda o: (o.approximate_days, o.months))


def due_dates(performed_on: date, schedule: str | Sequence[Offset]) -> list[date]:
    """The dates the follow-up calls fall due after a procedure performed on ``performed_on``."""
    offsets = parse_schedule(schedule) if isinstance(schedule, str) else schedule
    return sorted({offset.after(performed_on) for offset in offsets})


def scheduled_calls(performed_on: date, offsets: Sequence[Offset]) -> list[tuple[date, Offset]]:
    """(due date, offset) for each call, earliest first; offsets landing on one date make one call."""
    return list(_scheduled_calls(performed_on, tuple(offsets)))


@lru_cache(maxsize=4096)
def _scheduled_calls(
    performed_on: date, offsets: tuple[Offset, ...]
) -> tuple[tuple[date, Offset], ...]:
    # Kept: the call list works out the calls of thousands of procedures, most of them sharing a
    # performed date and a schedule with others (calendar months cost a relativedelta each).
    calls: dict[date, Offset] = {}
    for offset in offsets:
        calls.setdefault(offset.after(performed_on), offset)
    return tuple(sorted(calls.items()))
