"""The CSV import as stages, one module each: read → stage → check → write → audit (process.py)."""

from clinic.services.interchange.imports.process import BATCH_SIZE, import_files
from clinic.services.interchange.imports.report import (
    COLUMNS,
    KIND_LABELS,
    KINDS,
    OPTIONAL_COLUMNS,
    FileCounts,
    ImportFailed,
    ImportReport,
    Problem,
)

__all__ = [
    "BATCH_SIZE",
    "COLUMNS",
    "KINDS",
    "KIND_LABELS",
    "OPTIONAL_COLUMNS",
    "FileCounts",
    "ImportFailed",
    "ImportReport",
    "Problem",
    "import_files",
]
