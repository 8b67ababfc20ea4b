"""Query parameters read strictly: one that cannot be read is a 400 that says what to fix."""

from datetime import date, datetime

from flask import abort, request

from clinic.clock import EARLIEST_DAY, LATEST_DAY


def _in_range(value: date, name: str) -> date:
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        abort(
            400,
            description=f"The {name} must be between {EARLIEST_DAY.isoformat()} and "
            f"{LATEST_DAY.isoformat()}. Choose another.",
        )
    return value


def date_arg(name: str = "date") -> date | None:
    """The query parameter ``name`` as a date (YYYY-MM-DD); None when absent or empty."""
    text = request.args.get(name)
    if not text:
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        abort(
            400,
            description=f"The {name} must be written YYYY-MM-DD, e.g. 2026-11-30 (not “{text}”).",
        )
    return _in_range(value, name)


def month_arg(name: str = "month") -> date | None:
    """The query parameter ``name`` as the first day of a month (YYYY-MM); None when absent."""
    text = request.args.get(name)
    if not text:
        return None
    try:
        value = datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        abort(400, description=f"The {name} must be written YYYY-MM, e.g. 2026-11 (not “{text}”).")
    return _in_range(value, name)


# A page number beyond this would only ask the database to skip more rows than it holds.
LAST_PAGE = 100_000


def page_arg(name: str = "page") -> int:
    """The query parameter ``name`` as a page number from 1; 1 when absent."""
    text = request.args.get(name)
    if not text:
        return 1
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text[:7]) <= LAST_PAGE:
        abort(400, description=f"The {name} must be a whole number from 1 (not “{text}”).")
    return int(text)
