"""Rules every editable record shares."""

from clinic.services import DomainError


class StaleRecord(DomainError):
    """Someone saved this record after the form was opened."""


def check_version(record, version: int | None) -> None:
    """Refuse a save made from a form opened before someone else saved the record (lost update)."""
    if version is None or version != record.version:
        raise StaleRecord(
            "Someone else changed this record after you opened it. "
            "Your changes were not saved: the form now shows their version; make your changes again."
        )
