"""CSV as docs/formats.md writes and reads it.

UTF-8; a byte-order mark on web downloads (Excel needs it) and none from the command line
unless asked; one header row; RFC 4180 quoting with CRLF line ends; ISO 8601 dates and
``YYYY-MM-DDTHH:MM`` times in the clinic's zone; ``true``/``false``; an empty cell for unknown.
Text that a spreadsheet would run as a formula (starting with = + - @ tab CR LF NUL) is
written with a leading ``'``, which reading takes off again. Numbers stay numbers.
"""

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from itertools import chain
from zoneinfo import ZoneInfo

BOM = "\ufeff"
# The interchange files of docs/formats.md: an export of these imports back unchanged.
PATIENTS_COLUMNS = (
    "mrn",
    "first_name",
    "last_name",
    "date_of_birth",
    "sex",
    "phone",
    "email",
    "condition",
    "email_consent",
    "email_consent_on",
)
INTERVENTIONS_COLUMNS = (
    "ref",
    "mrn",
    "procedure_code",
    "physician",
    "scheduled_start",
    "scheduled_end",
    "room",
    "status",
    "performed_on",
    "baseline_nrs",
    "spinal_level",
    "laterality",
    "notes",
    "guidance",
    "fluoro_seconds",
    "air_kerma_mgy",
    "sedation",
)
PAIN_SCORES_COLUMNS = ("intervention_ref", "recorded_on", "nrs", "percent_relief", "source")
MEDICATIONS_COLUMNS = (
    "intervention_id",
    "ref",
    "mrn",
    "performed_on",
    "drug",
    "dose_mg",
    "volume_ml",
    "mpe_mg",
    "route_site",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")
# An intervention created in Clinic has no ref from a source system: the exports name it
# ``clinic:ID``, a form apart from the bare numbers and codes that source systems use, so that
# it can never be read as an imported intervention's ref (``2`` and ``clinic:2`` are two).
CLINIC_REF_PREFIX = "clinic:"
MAX_ID = 2**31 - 1  # ids are 32-bit integers: a bigger number is no id of ours


def clinic_ref(intervention_id: int) -> str:
    """The ref that the exports write for an intervention created in Clinic (it has none)."""
    return f"{CLINIC_REF_PREFIX}{intervention_id}"


def clinic_id(ref: str) -> int | None:
    """The id in a ref written by ``clinic_ref``; None for any other ref."""
    number = ref.removeprefix(CLINIC_REF_PREFIX)
    if number == ref:
        return None
    return bare_id(number)


def bare_id(ref: str) -> int | None:
    """A ref that is a plain number as ``str(id)`` writes it (how exports wrote Clinic ids before)."""
    if (
        ref.isascii()
        and ref.isdigit()
        and len(ref) <= len(str(MAX_ID))  # before int(), which refuses thousands of digits
        and str(int(ref)) == ref
        and 0 < int(ref) <= MAX_ID
    ):
        return int(ref)
    return None


def trim(value: str) -> str:
    """A cell without the spaces around it; tabs and line ends are kept, as the export wrote them.

    A guarded cell such as ``'\tX`` reads as ``\tX``: taking all whitespace off would make it
    ``X``, and an export would not import back unchanged.
    """
    return value.strip(" ")


def text_cell(value: str) -> str:
    """Text made safe for a spreadsheet: a leading ' before anything it would run."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def cell(value: object, zone: ZoneInfo | None = None) -> str:
    """One value as the CSV cell docs/formats.md prescribes.

    Exports call this for every cell of millions of rows: the commonest types (text, whole
    numbers, empty, timestamps, dates) are told apart by an exact type test first.
    """
    kind = type(value)
    if kind is str:
        return f"'{value}" if value.startswith(FORMULA_STARTS) else value
    if value is None:
        return ""
    if kind is int:
        return str(value)
    if kind is datetime:
        if zone is not None:
            value = value.astimezone(zone)
        # isoformat is several times faster than strftime; minutes, without the offset.
        return value.isoformat(timespec="minutes")[:16]
    if kind is date:
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        if zone is not None:
            value = value.astimezone(zone)
        return value.isoformat(timespec="minutes")[:16]
    if isinstance(value, date):
        return value.isoformat()
    return text_cell(str(value))


def percent_cell(value: float | None) -> str:
    """A percentage with one decimal place, or empty for unknown."""
    return "" if value is None else f"{value:.1f}"


def days_cell(value: float | None) -> str:
    """A number of days as a whole number, or empty for unknown."""
    return "" if value is None else str(round(value))


def csv_lines(
    header: Sequence[str], rows: Iterable[Sequence[str]], bom: bool = False
) -> Iterator[str]:
    """The CSV text a line (record) at a time, so that exports can stream."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(header)
    yield (BOM if bom else "") + take()
    for row in rows:
        writer.writerow(row)
        yield take()


def csv_chunks(
    header: Sequence[str], rows: Iterable[Sequence[str]], chunk_chars: int, bom: bool = False
) -> Iterator[str]:
    """The CSV text in chunks of about ``chunk_chars`` characters, each ending at a record's end.

    What ``csv_lines`` writes, without taking the buffer's text out after every record.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    if bom:
        buffer.write(BOM)
    writer.writerow(header)
    for row in chain([None], rows):
        if row is not None:
            writer.writerow(row)
        if buffer.tell() >= chunk_chars:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def unsafe_text(value: str) -> str:
    """Undo ``text_cell``: a leading ' before a formula character is taken off."""
    if value.startswith("'") and value[1:2] and value[1] in FORMULA_STARTS:
        return value[1:]
    return value


def read_rows(lines: Iterable[str]) -> Iterator[tuple[int, list[str], dict[str, str]]]:
    """Read CSV text (BOM or not, CRLF or LF): yields (physical line, header, row) per record.

    The line is where the record starts, counting the header as line 1, so that a message
    ``FILE:LINE`` points at what the user sees in an editor.
    """
    iterator = iter(lines)
    first = next(iterator, None)
    if first is None:
        return
    first = first.removeprefix(BOM)

    def all_lines():
        yield first
        yield from iterator

    reader = csv.reader(all_lines())
    header = next(reader, None)
    if header is None:
        return
    header = [name.strip() for name in header]
    previous = reader.line_num
    for record in reader:
        start = previous + 1
        previous = reader.line_num
        if not any(field.strip() for field in record):
            continue
        values = [unsafe_text(field) for field in record]
        row = dict(zip(header, values, strict=False))
        if len(values) != len(header):
            # The caller reports it: more or fewer cells than the header has columns.
            row[CELL_COUNT_MISMATCH] = str(len(values))
        yield start, header, row


CELL_COUNT_MISMATCH = "__cells__"
