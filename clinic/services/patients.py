"""Patient search and registration rules."""

import re
from datetime import date, datetime

from sqlalchemy import Select, and_, func, select

from clinic.models import Patient
from clinic.models.patients import search_key

DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y")
MRN_PATTERN = re.compile(r"^[A-Za-z]{0,3}\d{3,}$")


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
        return statement.order_by(Patient.updated_at.desc(), Patient.id.desc())
    birth_date = parse_date(query)
    if birth_date is not None:
        statement = statement.where(Patient.date_of_birth == birth_date)
    elif MRN_PATTERN.match(query):
        statement = statement.where(func.upper(Patient.mrn).startswith(query.upper()))
    else:
        words = search_key(query).split()
        statement = statement.where(
            and_(*(Patient.name_key.contains(word, autoescape=True) for word in words))
        )
    return statement.order_by(Patient.last_name, Patient.first_name, Patient.id)


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
