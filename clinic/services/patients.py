"""Patient search and registration rules."""

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from clinic.models import CONDITIONS, SEXES, Patient, StaffUser
from clinic.models.patients import LookedUpFirst, search_key
from clinic.services import DomainError
from clinic.services.records import STALE_MESSAGE, StaleRecord, check_version

DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y")
MRN_PATTERN = re.compile(r"^[A-Za-z]{0,3}\d{3,}$")
MRN_LENGTH = 20  # patient.mrn's column
MRN_EDITORS = ("admin",)  # docs/rules.md, Records: the MRN is generated, editable only by admin


def parse_date(text: str) -> date | None:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def patient_search(query: str) -> Select[tuple[Patient]]:
    """Active patients matching a date of birth, an MRN, or every word of a name (accent-blind)."""
    statement = select(Patient).where(Patient.archived.is_(False))
    query = query.strip()
    if not query:
        # Exactly the order of ix_patient_recently_seen, so the page is read off the index.
        return statement.order_by(
            Patient.last_seen_at.desc().nulls_last(), Patient.updated_at.desc(), Patient.id.desc()
        )
    birth_date = parse_date(query)
    if birth_date is not None:
        statement = statement.where(Patient.date_of_birth == birth_date)
    elif MRN_PATTERN.match(query):
        # MRNs are stored upper-case: a prefix of the column itself, which ix_patient_mrn_prefix
        # answers (letters and digits only, so nothing in the pattern needs escaping).
        statement = statement.where(Patient.mrn.like(f"{query.upper()}%"))
    else:
        # The pattern is built here, not in SQL, so PostgreSQL's trigram index sees a constant.
        words = search_key(query).split()
        statement = statement.where(
            and_(*(Patient.name_key.like(f"%{like_escaped(word)}%", escape="/") for word in words))
        )
        if not any(TRIGRAM.search(word) for word in words):
            # Nothing to look up: the page is read off the name-order index, in its order.
            return statement.order_by(Patient.last_name, Patient.first_name, Patient.id)
    # The date of birth, MRN or name is looked up in its index and the few matches sorted.
    return statement.order_by(LookedUpFirst(Patient.last_name), Patient.first_name, Patient.id)


# Three letters or digits in a row: what PostgreSQL's trigram index can look up (it takes the
# trigrams of a pattern's runs of letters and digits). A search with no such run reads the
# name-order index until the page is full.
TRIGRAM = re.compile(r"[^\W_]{3}")


# The list counts its patients in steps of this many, to the first step past the page shown: at a
# large practice "more than 1,000" is what the desk needs to know (search, or page on), and
# counting 50,000 patients each time the list opens, or every patient with an "a" in the name,
# is not.
COUNTED_AHEAD = 1000


@dataclass(frozen=True)
class PatientPage:
    """One page of the patient list or a search, and how many there are — counted to a point."""

    items: list[Patient]
    page: int
    per_page: int
    counted: int  # how many patients match, up to the step of COUNTED_AHEAD past this page
    more_than: bool  # there are more than ``counted``

    @property
    def pages(self) -> int:
        return max(1, -(-self.counted // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages or self.more_than

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def patient_page(session, query: str, page: int, per_page: int) -> PatientPage:
    """A page of ``patient_search(query)`` and its count, each read as far as it needs.

    Two statements whatever the number of patients: the page (off an index in the list's or
    the search's order), and the matches counted to the first multiple of ``COUNTED_AHEAD`` past
    the page's last row (so that "Next" never leads past the last patient).
    """
    statement = patient_search(query)
    first = (page - 1) * per_page
    items = list(session.execute(statement.limit(per_page).offset(first)).scalars())
    # A round number past the page's last row: "more than 1,000" on pages 1 to 40, then 2,000.
    enough = COUNTED_AHEAD * (1 + (first + per_page - 1) // COUNTED_AHEAD)
    counted = session.execute(
        select(func.count()).select_from(
            statement.with_only_columns(Patient.id).order_by(None).limit(enough + 1).subquery()
        )
    ).scalar_one()
    return PatientPage(items, page, per_page, min(counted, enough), counted > enough)


def like_escaped(text: str) -> str:
    """``text`` with LIKE's wildcards (and the escape character ``/``) taken literally."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


MRN_PREFIX = "C"
MRN_DIGITS = 7


def next_mrn(session) -> str:
    """The next clinic MRN (C0000001, C0000002, …); the unique constraint guards races."""
    highest = session.execute(
        select(func.max(Patient.mrn)).where(
            Patient.mrn.like(f"{MRN_PREFIX}%"),
            func.length(Patient.mrn) == len(MRN_PREFIX) + MRN_DIGITS,
        )
    ).scalar_one()
    number = int(highest[len(MRN_PREFIX) :]) + 1 if highest and highest[1:].isdigit() else 1
    return f"{MRN_PREFIX}{number:0{MRN_DIGITS}d}"


@dataclass(frozen=True)
class PatientDetails:
    """What the registration and edit forms ask for."""

    first_name: str
    last_name: str
    date_of_birth: date
    sex: str
    condition: str
    phone: str | None = None
    email: str | None = None
    # Agreed to be emailed the self-report link; the date (None: today) is kept only while true.
    email_consent: bool = False
    email_consent_on: date | None = None


class LikelyDuplicate(DomainError):
    """A patient with the same name and date of birth is already registered."""

    def __init__(self, matches: list[Patient]) -> None:
        names = ", ".join(f"{p.full_name} (MRN {p.mrn})" for p in matches)
        super().__init__(
            f"Possibly already registered: {names} has the same name and date of birth. "
            "Open that record instead, or tick “Register anyway” if this is a different person."
        )
        self.matches = matches


def likely_duplicates(
    session, first_name: str, last_name: str, date_of_birth: date, exclude_id: int | None = None
) -> list[Patient]:
    """Active patients with the same (accent- and case-blind) name and date of birth."""
    statement = select(Patient).where(
        Patient.name_key == search_key(f"{last_name} {first_name}"),
        Patient.date_of_birth == date_of_birth,
        Patient.archived.is_(False),
    )
    if exclude_id is not None:
        statement = statement.where(Patient.id != exclude_id)
    return list(session.execute(statement).scalars())


def _check_details(details: PatientDetails, today: date) -> None:
    if not details.first_name.strip():
        raise DomainError("Enter the first name.", "first_name")
    if not details.last_name.strip():
        raise DomainError("Enter the last name.", "last_name")
    if details.date_of_birth > today:
        raise DomainError("The date of birth cannot be in the future.", "date_of_birth")
    if details.date_of_birth.year < 1900:
        raise DomainError("Check the year of birth.", "date_of_birth")
    if details.sex not in SEXES:
        raise DomainError("Choose female, male, other or unknown.", "sex")
    if details.condition not in CONDITIONS:
        raise DomainError("Choose the primary condition.", "condition")
    if details.email_consent and not (details.email or "").strip():
        raise DomainError(
            "Enter the email address the patient agreed to be emailed at, or untick their "
            "consent to email contact.",
            "email",
        )
    if details.email_consent and details.email_consent_on and details.email_consent_on > today:
        raise DomainError("The date of consent cannot be in the future.", "email_consent_on")


def _apply(patient: Patient, details: PatientDetails, today: date) -> None:
    patient.first_name = details.first_name.strip()
    patient.last_name = details.last_name.strip()
    patient.date_of_birth = details.date_of_birth
    patient.sex = details.sex
    patient.condition = details.condition
    patient.phone = (details.phone or "").strip() or None
    patient.email = (details.email or "").strip() or None
    patient.email_consent = details.email_consent
    patient.email_consent_on = (
        (details.email_consent_on or today) if details.email_consent else None
    )


def register_patient(
    session, details: PatientDetails, today: date, register_anyway: bool = False
) -> Patient:
    """Register a new patient with the next MRN, warning first about a likely duplicate."""
    _check_details(details, today)
    if not register_anyway:
        matches = likely_duplicates(
            session, details.first_name, details.last_name, details.date_of_birth
        )
        if matches:
            raise LikelyDuplicate(matches)
    patient = Patient(mrn=next_mrn(session))
    _apply(patient, details, today)
    session.add(patient)
    session.flush()
    return patient


def normalise_mrn(text: str) -> str:
    """An MRN as the clinic writes the ones it generates: upper-case, no spaces (``c 12345`` is
    ``C12345``)."""
    return "".join(text.split()).upper()


def _check_mrn(session, patient: Patient, mrn: str) -> None:
    """A corrected MRN looks like one (so that MRN search finds it) and is no one else's."""
    if not mrn:
        raise DomainError("Enter the MRN.", "mrn")
    if len(mrn) > MRN_LENGTH or not MRN_PATTERN.match(mrn):
        raise DomainError(
            "An MRN is up to three letters followed by at least three digits, like C0000123 "
            f"({MRN_LENGTH} characters at most).",
            "mrn",
        )
    holder = session.execute(
        select(Patient).where(Patient.mrn == mrn, Patient.id != patient.id)
    ).scalar_one_or_none()
    if holder is not None:
        archived = ", archived" if holder.archived else ""
        raise DomainError(
            f"MRN {mrn} already belongs to {holder.full_name} (born "
            f"{holder.date_of_birth.isoformat()}{archived}); an MRN is unique in the clinic.",
            "mrn",
        )


def update_patient(
    session,
    patient: Patient,
    version: int | None,
    details: PatientDetails,
    today: date,
    *,
    mrn: str | None = None,
    editor: StaffUser | None = None,
) -> None:
    """Save edits, refusing a form that was opened before someone else saved the record.

    ``mrn`` (None: leave it) corrects the MRN, which only an administrator may do; the audit
    trail records the old and new MRN like any other change.
    """
    check_version(patient, version)
    _check_details(details, today)
    if mrn is not None:
        mrn = normalise_mrn(mrn)
        if mrn != patient.mrn:
            if editor is None or editor.role not in MRN_EDITORS:
                raise DomainError("Only an administrator can change an MRN.", "mrn")
            _check_mrn(session, patient, mrn)
            patient.mrn = mrn
    _apply(patient, details, today)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:
        if "mrn" not in str(error.orig):
            raise
        raise DomainError(
            f"MRN {patient.mrn} was just given to another patient by someone else; choose another.",
            "mrn",
        ) from None
    except StaleDataError:
        # Someone saved between our version check and our write.
        raise StaleRecord(STALE_MESSAGE) from None


def archive_patient(session, patient: Patient, version: int | None) -> None:
    """Archive: hidden from lists and search, never deleted."""
    check_version(patient, version)
    patient.archived = True
    session.flush()
