"""Domain services: plain functions over a SQLAlchemy session, free of Flask globals.

They take the session and the acting user, flush, and raise ``DomainError`` subclasses; the
caller (a request or a CLI command) owns the transaction and commits once.
"""


class DomainError(Exception):
    """A business rule refused the operation; ``field`` names the form field to blame."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
