"""The CSV exports: the registry, the streaming, the plain exports' SELECTs, the outcomes export."""

from clinic.services.interchange.exports.eligibility import ELIGIBILITY_HEADER
from clinic.services.interchange.exports.outcomes import OUTCOMES_HEADER, outcomes_statements
from clinic.services.interchange.exports.reading import BATCH_ROWS
from clinic.services.interchange.exports.registry import (
    DEFAULT_THRESHOLD,
    EXPORTS,
    Export,
    get_export,
    make_filters,
    parse_day,
    parse_threshold,
)
from clinic.services.interchange.exports.streaming import CsvStream
from clinic.services.interchange.exports.tables import (
    INTERVENTIONS_HEADER,
    PAIN_SCORES_HEADER,
    PATIENTS_HEADER,
)

# What the exports page, the export command, the benchmark and the tests use.
__all__ = [
    "BATCH_ROWS",
    "DEFAULT_THRESHOLD",
    "ELIGIBILITY_HEADER",
    "EXPORTS",
    "INTERVENTIONS_HEADER",
    "OUTCOMES_HEADER",
    "PAIN_SCORES_HEADER",
    "PATIENTS_HEADER",
    "CsvStream",
    "Export",
    "get_export",
    "make_filters",
    "outcomes_statements",
    "parse_day",
    "parse_threshold",
]
