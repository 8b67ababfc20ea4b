"""What one record of each file means: its cells as typed values (the formats of
docs/formats.md), each fault noted against its column, and the rules within one record."""

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from clinic.clock import on_the_clock
from clinic.models import BOOKING_STATUSES, CONDITION_LABELS, CONDITIONS, LATERALITIES, SEXES
from clinic.models.followup import PAIN_SCORE_SOURCES
from clinic.models.medications import GUIDANCES, SEDATIONS
from clinic.services.interchange.csvio import trim
from clinic.services.interchange.imports.job import LONGEST_BOOKING, Job
from clinic.services.interchange.imports.report import local_minute
from clinic.services.medications.given import (
    ABSURD_FACTOR,
    MAX_AIR_KERMA_MGY,
    MAX_FLUORO_SECONDS,
    MAX_ROUTE_SITE,
)
from clinic.services.patients import MRN_LENGTH, normalise_mrn
from clinic.services.scheduling.bookings import MAX_DURATION_MINUTES

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_WHOLE = re.compile(r"[+-]?\d+")
_TENTHS = re.compile(r"[+-]?\d+(\.\d)?")
_HUNDREDTHS = re.compile(r"[+-]?\d+(\.\d{1,2})?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

# A condition may be written as its code or as its label, in any case (docs/formats.md); it is
# stored, and exported, as the code.
_CONDITION_CODES = {
    **{label.casefold(): code for code, label in CONDITION_LABELS.items()},
    **{code.casefold(): code for code in CONDITIONS},
}


def parse_day(value: str) -> date | None:
    """A ``YYYY-MM-DD`` date; None for anything else."""
    if not _DAY.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def parse_minute(value: str, zone: ZoneInfo) -> datetime | str | None:
    """A clinic-time ``YYYY-MM-DDTHH:MM`` as a UTC instant; a message when the clock skips it."""
    if not _MINUTE.fullmatch(value):
        return None
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        return None
    local = naive.replace(tzinfo=zone)
    if not on_the_clock(local):
        return f"{value} does not exist in the clinic's time zone ({zone.key}): the clocks go forward then"
    return local.astimezone(UTC)


# Characters no cell may hold: the control characters but tab, line feed and carriage return
# (notes have lines); PostgreSQL cannot even store a NUL.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def control_fault(value: str) -> str | None:
    """What is wrong with a cell holding a control character, or None."""
    found = CONTROL_CHARACTER.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character"
    return (
        f"contains a control character (U+{ord(found.group()):04X}); "
        "only tab, line feed and carriage return are kept"
    )


class Record:
    """One CSV record being read: typed values out, each fault noted against its column."""

    __slots__ = ("faults", "row")

    def __init__(self, row: Mapping[str, str]) -> None:
        self.row = row
        self.faults: list[tuple[str, str]] = []

    def fault(self, column: str, message: str) -> None:
        self.faults.append((column, message))

    def text(self, column: str, *, required: bool = False, max_length: int | None = None):
        value = trim(self.row.get(column, ""))
        if not value:
            if required:
                self.fault(column, "empty; a value is required")
            return None
        if fault := control_fault(value):
            self.fault(column, fault)
            return None
        if max_length is not None and len(value) > max_length:
            self.fault(column, f"longer than {max_length} characters")
            return None
        return value

    def mrn(self, column: str) -> str | None:
        """An MRN as the clinic writes it (``normalise_mrn``: capitals, no spaces), so that MRN
        search finds it. Its shape is not checked: history from other systems has other MRNs."""
        value = self.text(column, required=True)
        if value is None:
            return None
        mrn = normalise_mrn(value)
        if not mrn:
            self.fault(column, "empty; a value is required")
            return None
        if len(mrn) > MRN_LENGTH:
            self.fault(column, f"longer than {MRN_LENGTH} characters")
            return None
        return mrn

    def notes(self, column: str) -> str | None:
        """Free text kept exactly as written (leading and trailing spaces too)."""
        value = self.row.get(column, "")
        if not trim(value):
            return None
        if fault := control_fault(value):
            self.fault(column, fault)
            return None
        return value

    def choice(
        self,
        column: str,
        choices: tuple[str, ...],
        *,
        required: bool = True,
        default: str | None = None,
    ) -> str | None:
        value = self.text(column, required=required and default is None)
        if value is None:
            return default
        if value not in choices:
            self.fault(column, f'"{value}" is not one of {", ".join(choices)}')
            return None
        return value

    def condition(self, column: str) -> str | None:
        """A condition's code, written as the code or the label in any case."""
        value = self.text(column, required=True)
        if value is None:
            return None
        code = _CONDITION_CODES.get(value.casefold())
        if code is None:
            self.fault(column, f'"{value}" is not one of {", ".join(CONDITIONS)}')
        return code

    def whole(self, column: str, low: int, high: int, *, required: bool) -> int | None:
        value = self.text(column, required=required)
        if value is None:
            return None
        if not _WHOLE.fullmatch(value):
            self.fault(column, f'"{value}" is not a whole number from {low} to {high}')
            return None
        # A Decimal, not an int: exact, and without int's limit of 4,300 digits a number.
        number = Decimal(value)
        if not low <= number <= high:
            self.fault(column, f"{number} is out of range: a whole number from {low} to {high}")
            return None
        return int(number)

    def tenths(self, column: str, low: int, high: int) -> Decimal | None:
        """A number with at most one decimal place from ``low`` to ``high``; empty is None."""
        value = self.text(column)
        if value is None:
            return None
        if not _TENTHS.fullmatch(value):
            self.fault(column, f'"{value}" is not a number with at most one decimal place')
            return None
        number = Decimal(value)
        if not low <= number <= high:
            self.fault(column, f"{value} is out of range: a number from {low} to {high:,}")
            return None
        return number

    def boolean(self, column: str) -> bool | None:
        """``true`` or ``false`` in any case; an empty cell is false."""
        value = self.text(column)
        if value is None:
            return False
        if value.casefold() not in ("true", "false"):
            self.fault(column, f'"{value}" is not true or false')
            return None
        return value.casefold() == "true"

    def day(self, column: str, *, required: bool) -> date | None:
        value = self.text(column, required=required)
        if value is None:
            return None
        parsed = parse_day(value)
        if parsed is None:
            self.fault(column, f'"{value}" is not a date as YYYY-MM-DD')
        return parsed

    def instant(self, column: str, zone: ZoneInfo, *, required: bool) -> datetime | None:
        value = self.text(column, required=required)
        if value is None:
            return None
        parsed = parse_minute(value, zone)
        if parsed is None:
            self.fault(column, f'"{value}" is not a time as YYYY-MM-DDTHH:MM')
            return None
        if isinstance(parsed, str):
            self.fault(column, parsed)
            return None
        return parsed


def parse_patient(job: Job, record: Record) -> dict[str, Any]:
    values = {
        "mrn": record.mrn("mrn"),
        "first_name": record.text("first_name", required=True, max_length=80),
        "last_name": record.text("last_name", required=True, max_length=80),
        "date_of_birth": record.day("date_of_birth", required=True),
        "sex": record.choice("sex", SEXES),
        "phone": record.text("phone", max_length=40),
        "email": record.text("email", max_length=254),
        "condition": record.condition("condition"),
    }
    born = values["date_of_birth"]
    if born is not None and born > job.today:
        record.fault("date_of_birth", f"{born.isoformat()} is in the future")
    elif born is not None and born.year < 1900:
        record.fault("date_of_birth", f"{born.isoformat()} is before 1900; check the year")
    email = values["email"]
    if email is not None and not _EMAIL.fullmatch(email):
        record.fault("email", f'"{email}" is not an email address')
    if "email_consent" in job.headers.get("patients", ()):
        _parse_consent(job, record, values)
    return values


def _parse_consent(job: Job, record: Record, values: dict[str, Any]) -> None:
    """Consent to email contact (``true``/``false``; empty is false) and its date, which is
    required when consent is ``true`` and empty otherwise."""
    consent = record.boolean("email_consent")
    consented_on = record.day("email_consent_on", required=False)
    values["email_consent"] = bool(consent)
    values["email_consent_on"] = consented_on if consent else None
    if consent and values["email"] is None and trim(record.row.get("email", "")) == "":
        record.fault("email_consent", "true, but the email is empty; give the address agreed to")
    if consent and consented_on is None and not trim(record.row.get("email_consent_on", "")):
        record.fault("email_consent_on", "empty; give the date consent was given as YYYY-MM-DD")
    elif consent is False and consented_on is not None:
        record.fault("email_consent_on", "must be empty unless email_consent is true")
    elif consented_on is not None and consented_on > job.today:
        record.fault("email_consent_on", f"{consented_on.isoformat()} is in the future")


def parse_intervention(job: Job, record: Record) -> dict[str, Any]:
    zone = job.zone
    values = {
        "ref": record.text("ref", required=True, max_length=64),
        "mrn": record.mrn("mrn"),
        "procedure_code": record.text("procedure_code", required=True),
        "physician": record.text("physician", required=True),
        "starts_at": record.instant("scheduled_start", zone, required=True),
        "ends_at": record.instant("scheduled_end", zone, required=True),
        "room": record.text("room"),
        "status": record.choice("status", BOOKING_STATUSES),
        "performed_on": record.day("performed_on", required=False),
        "baseline_nrs": record.whole("baseline_nrs", 0, 10, required=False),
        "spinal_level": record.text("spinal_level", max_length=40),
        "laterality": record.choice("laterality", LATERALITIES, required=False),
        "notes": record.notes("notes"),
    }
    if "guidance" in job.headers.get("interventions", ()):
        _parse_radiation(record, values)
    _find_in_catalogue(job, record, values)
    _check_times(record, values, zone)
    status, performed_on = values["status"], values["performed_on"]
    if status == "completed" and not trim(record.row.get("performed_on", "")):
        record.fault("performed_on", "empty; a completed intervention needs its performed date")
    elif status is not None and status != "completed" and performed_on is not None:
        record.fault(
            "performed_on",
            f"only a completed intervention has a performed date (status is {status})",
        )
    if performed_on is not None and performed_on > job.today:
        record.fault("performed_on", f"{performed_on.isoformat()} is in the future")
    return values


def _parse_radiation(record: Record, values: dict[str, Any]) -> None:
    """Guidance, fluoroscopy time (s), air kerma (mGy) and sedation, each empty when unknown."""
    values["guidance"] = record.choice("guidance", GUIDANCES, required=False)
    values["fluoro_seconds"] = record.whole("fluoro_seconds", 0, MAX_FLUORO_SECONDS, required=False)
    values["air_kerma_mgy"] = record.tenths("air_kerma_mgy", 0, int(MAX_AIR_KERMA_MGY))
    values["sedation"] = record.choice("sedation", SEDATIONS, required=False)


def _find_in_catalogue(job: Job, record: Record, values: dict[str, Any]) -> None:
    """The procedure type, physician and room that an intervention names, as ids."""
    code = values["procedure_code"]
    values["procedure_type_id"] = job.procedures.get(code) if code else None
    if code and values["procedure_type_id"] is None:
        record.fault(
            "procedure_code",
            f'unknown procedure code "{code}"; the catalogue has {", ".join(sorted(job.procedures))}',
        )
    username = values["physician"]
    values["physician_id"] = None
    if username:
        user_id, role = job.staff.get(username, (None, None))
        if user_id is None:
            record.fault("physician", f'no physician account is called "{username}"')
        elif role != "physician":
            record.fault("physician", f'"{username}" is a {role} account, not a physician')
        else:
            values["physician_id"] = user_id
    room = values["room"]
    values["room_id"] = job.rooms.get(room) if room else None
    if room and values["room_id"] is None:
        known = ", ".join(sorted(job.rooms)) or "none yet"
        record.fault("room", f'no room is called "{room}"; the rooms are {known}')


def _check_times(record: Record, values: Mapping[str, Any], zone: ZoneInfo) -> None:
    """A booking ends after it starts and lasts at most 12 hours, as when booked on the schedule."""
    starts_at, ends_at = values["starts_at"], values["ends_at"]
    if starts_at is None or ends_at is None:
        return
    if ends_at <= starts_at:
        record.fault(
            "scheduled_end",
            f"{local_minute(ends_at, zone)} is not after scheduled_start "
            f"{local_minute(starts_at, zone)}",
        )
    elif ends_at - starts_at > LONGEST_BOOKING:
        record.fault(
            "scheduled_end",
            f"a booking cannot last more than {MAX_DURATION_MINUTES // 60} hours",
        )


def parse_score(job: Job, record: Record) -> dict[str, Any]:
    values = {
        "intervention_ref": record.text("intervention_ref", required=True, max_length=64),
        "recorded_on": record.day("recorded_on", required=True),
        "nrs": record.whole("nrs", 0, 10, required=True),
        "percent_relief": record.whole("percent_relief", 0, 100, required=False),
        "source": record.choice("source", PAIN_SCORE_SOURCES, default="import"),
    }
    recorded_on = values["recorded_on"]
    if recorded_on is not None and recorded_on > job.today:
        record.fault("recorded_on", f"{recorded_on.isoformat()} is in the future")
    return values


def parse_medication(job: Job, record: Record) -> dict[str, Any]:
    """A medication given: the intervention's ``ref``, the drug by its catalogue name (any case),
    the dose in mg — or the volume in mL for a drug measured so (contrast) — and the route/site.
    ``intervention_id``, ``performed_on`` and ``mpe_mg`` are the export's, for people: they are
    not read (``mpe_mg`` is always worked out again); an ``mrn``, when given, must be the
    intervention's patient (checked while staging)."""
    values = {
        "ref": record.text("ref", required=True, max_length=64),
        "mrn": normalise_mrn(trim(record.row.get("mrn", ""))) or None,
        "drug_id": None,
        "dose_mg": None,
        "volume_ml": None,
        "route_site": record.text("route_site", max_length=MAX_ROUTE_SITE),
    }
    name = record.text("drug", required=True)
    drug = job.drugs.get(name.lower()) if name else None
    if name and drug is None:
        known = ", ".join(sorted(job.drugs)) or "none yet"
        record.fault("drug", f'"{name}" is not in the drug catalogue; it has {known}')
    if drug is None:
        return values
    values["drug_id"] = drug.id
    column, other = ("volume_ml", "dose_mg") if drug.unit == "ml" else ("dose_mg", "volume_ml")
    unit = "mL" if drug.unit == "ml" else "mg"
    if trim(record.row.get(other, "")):
        record.fault(other, f"must be empty: {drug.name} is given in {unit}, in {column}")
    values[column] = _amount(record, column, unit, drug.usual_max * ABSURD_FACTOR)
    return values


def _amount(record: Record, column: str, unit: str, ceiling: Decimal) -> Decimal | None:
    """A dose or volume: required, at most two decimal places, from 0 to ``ceiling`` (ten times
    the drug's usual largest amount: more is taken as a slip of the unit or a decimal point)."""
    value = record.text(column, required=True)
    if value is None:
        return None
    if not _HUNDREDTHS.fullmatch(value):
        record.fault(column, f'"{value}" is not a number with at most two decimal places')
        return None
    amount = Decimal(value)
    if amount < 0:
        record.fault(column, f"{value} {unit} is negative")
        return None
    if amount > ceiling:
        record.fault(
            column,
            f"{value} {unit} is more than ten times the usual largest amount "
            f"({(ceiling / ABSURD_FACTOR).normalize():f} {unit}); check the figure and its unit",
        )
        return None
    return amount


PARSERS: dict[str, Callable[[Job, Record], dict[str, Any]]] = {
    "patients": parse_patient,
    "interventions": parse_intervention,
    "pain_scores": parse_score,
    "medications": parse_medication,
}
