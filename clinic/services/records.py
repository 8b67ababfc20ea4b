"""Rules every editable record shares."""

from clinic.services import DomainError


class StaleRecord(DomainError):
    """Someone saved this record after the form was opened."""


# What was refused, and nothing about the page: each page adds what it shows next (the patient
# form shows what the other person saved beside what was typed).
STALE_MESSAGE = (
    "Someone else changed this record after you opened it, so your changes were not saved."
)


def check_version(record, version: int | None) -> None:
    """Refuse a save made from a form opened before someone else saved the record (lost update)."""
    if version is None or version != record.version:
        raise StaleRecord(STALE_MESSAGE)
