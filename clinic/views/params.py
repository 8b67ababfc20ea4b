"""Query parameters read strictly: one that cannot be read is a 400 that says what to fix."""

from datetime import date, datetime

from flask import abort, request

from clinic.clock import EARLIEST_DAY, LATEST_DAY
from clinic.security import LARGEST_RECORD_ID


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
    # Leading zeros are read past, and the length is looked at before the number is made.
    digits = text.lstrip("0")
    if (
        not (text.isascii() and text.isdigit())
        or not 0 < len(digits) <= len(str(LAST_PAGE))
        or int(digits) > LAST_PAGE
    ):
        abort(
            400,
            description=f"The {name} must be a whole number from 1 to {LAST_PAGE:,} "
            f"(not “{text[:40]}”).",
        )
    return int(digits)


def text_arg(name: str, longest: int = 120) -> str | None:
    """The query parameter ``name`` as trimmed text; None when absent or empty.

    Control characters or more than ``longest`` characters are a 400: no record is named so.
    """
    text = (request.args.get(name) or "").strip()
    if not text:
        return None
    if len(text) > longest or any(ord(c) < 32 or ord(c) == 127 for c in text):
        abort(
            400,
            description=f"The {name} must be plain text of at most {longest} characters.",
        )
    return text


def id_arg(name: str) -> int | None:
    """The query parameter ``name`` as a record id; None when absent. One that is not a whole
    number is a 400; one beyond the integer columns' range names no record (404)."""
    text = request.args.get(name)
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        abort(400, description=f"The {name} must be a record number (not “{text[:40]}”).")
    # Leading zeros are read past: "0…01" is record 1, however many zeros.
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(LARGEST_RECORD_ID)) or int(digits) > LARGEST_RECORD_ID:
        abort(404)
    return int(digits)
