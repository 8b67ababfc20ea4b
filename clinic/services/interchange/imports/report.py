"""What an import tells its user: each problem as ``FILE:LINE: column: message``, the counts of
new, changed and unchanged rows per file, and the failure of a write that was rolled back."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from clinic.services import DomainError
from clinic.services.interchange.csvio import (
    INTERVENTIONS_COLUMNS,
    MEDICATIONS_COLUMNS,
    PAIN_SCORES_COLUMNS,
    PATIENTS_COLUMNS,
)

# In the order they are staged and written: a file refers only to kinds before it.
KINDS = ("patients", "interventions", "pain_scores", "medications")
COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": PATIENTS_COLUMNS,
    "interventions": INTERVENTIONS_COLUMNS,
    "pain_scores": PAIN_SCORES_COLUMNS,
    "medications": MEDICATIONS_COLUMNS,
}
# The column that keys a file's rows, where it is not the first.
KEY_COLUMNS = {"medications": "ref"}
# Columns added after the first files were written: a file without them still imports, and a
# column it lacks leaves the stored value as it is.
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": ("email_consent", "email_consent_on"),
    "interventions": ("guidance", "fluoro_seconds", "air_kerma_mgy", "sedation"),
}
KIND_LABELS = {
    "patients": "patients",
    "interventions": "interventions",
    "pain_scores": "pain scores",
    "medications": "medications",
}

# What a row does to the database, found while staging and acted on while writing.
NEW, CHANGED, UNCHANGED = 1, 2, 3


@dataclass(frozen=True)
class Problem:
    """One reason the files were refused, as ``FILE:LINE: column: message``."""

    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.column}: {self.message}"


@dataclass
class FileCounts:
    """How many rows of one file are new, changed or unchanged against the database."""

    kind: str
    name: str
    rows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0

    def add(self, action: int) -> None:
        if action == NEW:
            self.new += 1
        elif action == CHANGED:
            self.changed += 1
        else:
            self.unchanged += 1

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    def summary(self) -> str:
        return (
            f"{self.name}: {self.rows} row{'' if self.rows == 1 else 's'} — {self.new} new, "
            f"{self.changed} changed, {self.unchanged} unchanged"
        )


@dataclass
class ImportReport:
    """The outcome of an import or a dry run: counts per file and every problem found."""

    files: list[FileCounts]
    problems: list[Problem] = field(default_factory=list)
    dry_run: bool = False
    imported: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def audit_details(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "files": {
                counts.kind: {
                    "name": counts.name,
                    "rows": counts.rows,
                    "new": counts.new,
                    "changed": counts.changed,
                    "unchanged": counts.unchanged,
                }
                for counts in self.files
            },
        }


class ImportFailed(DomainError):
    """The database refused the writes part-way; the import was rolled back whole."""


class Refused(Exception):
    """A problem found while writing (the file changed between the passes)."""


def local_minute(instant: datetime, zone: ZoneInfo) -> str:
    """An instant as the files write it: ``YYYY-MM-DDTHH:MM`` in the clinic's zone."""
    return instant.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def and_list(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
