"""The CSV exports (docs/formats.md, Exports), one registry for the command line and the web.

``EXPORTS`` maps each name to an ``Export``, whose ``open(session, filters, zone)`` gives the
header and an iterator of rows (lists of cells already written as
``clinic.services.interchange.csvio`` prescribes). ``CsvStream`` (``streaming``) turns one export into CSV text in chunks, counting the records, so
``flask --app clinic export NAME`` and ``/exports/NAME.csv`` write the same bytes (the web adds
the byte-order mark).

Streaming: every query runs with ``yield_per`` (a server-side cursor on PostgreSQL, planned for
reading every row), rows are turned into cells one at a time and nothing is collected. No
export sends a query per row: ``outcomes`` reads one row per completed intervention, in (patient, intervention) order, its
follow-up scores summed by the database (``clinic.services.relief.sums``), and beside it the
scores the payer rules judge and the diagnostic blocks' diary entries, patient by patient
(``eligibility.ByPatient``); the ``eligibility`` export reads the same three streams.

Filters (``ReportFilters``: ``date_from``/``date_to`` inclusive, ``threshold``):

- ``interventions`` and ``outcomes``: the performed date; ``pain-scores``: the recorded date;
  ``referrals``: the received date; ``schedule``: the scheduled date (the start, on the clinic's
  calendar); ``stimulator-adjustments``: the visit date (the start, on the clinic's calendar),
  the date the programming was done. ``patients`` is not filtered.
- ``threshold`` (percent relief that counts as relieved) applies to ``outcomes`` and the relief
  exports.

Decisions (written up for users in docs/formats.md, Exports):

- Archived patients are hidden everywhere in Clinic, so they and all their records are left
  out of every export (the FHIR bundle does the same).
- ``ref``: an intervention without a source-system ref exports its id as its ref, in the form
  ``clinic:ID`` (never the bare number, which an imported ref may be), in every export that
  names interventions by ref (``interventions``, ``pain-scores``, ``outcomes``, ``schedule``),
  so that the files join on it and import back.
- ``outcomes.repeat_eligible``: whether the patient may have this procedure again, in the
  region of the row's level, *as of the export date* (today on the clinic's calendar), under the admin's repeat-eligibility rules
  judged by ``eligibility.assess_target`` against the patient's whole completed history up to
  that date, whatever the date filter — the same answer the patient page gives today. Empty
  when no active rule names the procedure code. The rules use their own relief thresholds; the
  export's ``threshold`` only decides ``responder`` and the relief columns.
- ``stimulator-adjustments.program`` is the program slot (1–32); ``visited_on`` is the visit's
  date on the clinic's calendar.
- ``referrals`` columns: ``referral_id,mrn,received_on,referring_clinician,referring_practice,
  condition,urgency,status,status_reason,reason``.
- ``schedule`` (interventions and visits, one row per booking) columns:
  ``booking_id,kind,mrn,physician,room,scheduled_start,scheduled_end,status,status_reason,
  procedure_code,visit_kind,intervention_id,intervention_ref,referral_id,performed_on,notes``
  — ``kind`` is ``intervention`` or ``visit``; for an intervention ``intervention_id`` is its own
  id (= ``booking_id``), for a visit the intervention it follows up (empty if none), so the
  schedule joins ``outcomes`` and ``pain-scores`` on those columns.
- Rows come in a stable order: patients by MRN, interventions by id, pain scores by
  intervention then date, outcomes by patient then performed date, referrals by received date,
  schedule and stimulator adjustments by start time (ties by id).
"""

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import Select
from sqlalchemy.orm import Session

from clinic.clock import EARLIEST_DAY, LATEST_DAY
from clinic.services import DomainError
from clinic.services.filters import ReportFilters
from clinic.services.interchange.csvio import cell
from clinic.services.interchange.exports.diary import diary_statements
from clinic.services.interchange.exports.eligibility import (
    eligibility_export,
    eligibility_statements,
)
from clinic.services.interchange.exports.medications import medications_statements
from clinic.services.interchange.exports.outcomes import outcomes_export, outcomes_statements
from clinic.services.interchange.exports.reading import Opened, Rows
from clinic.services.interchange.exports.tables import (
    header_of,
    interventions_statements,
    pain_scores_statements,
    patients_statements,
    plain_rows,
    referrals_statements,
    schedule_statements,
    stimulator_adjustments_statements,
)

DEFAULT_THRESHOLD = 50


@dataclass(frozen=True)
class Export:
    """One export: its name, what it holds (for the /exports page) and how to produce it.

    A *plain* export (``produce`` None) is its one SELECT: the columns, labelled with their CSV
    names, are its header and each value is written as its cell, by Python or, on PostgreSQL,
    by the database itself (``CsvStream``).
    """

    name: str
    title: str
    contains: str
    dated_by: str | None  # what --from/--to apply to; None when the export is not filtered
    uses_threshold: bool
    produce: Callable[[Session, ReportFilters, ZoneInfo], Opened] | None
    # The SELECTs the export streams, for a bare read of the same rows (benchmarks/exports.py);
    # None for the relief tables, which the relief report's module reads.
    statements: Callable[[ReportFilters, ZoneInfo], list[Select]] | None = None

    @property
    def plain(self) -> bool:
        return self.produce is None

    def statement(self, filters: ReportFilters, zone: ZoneInfo) -> Select:
        """The one SELECT of a plain export."""
        assert self.plain and self.statements is not None
        [statement] = self.statements(filters, zone)
        return statement

    def open(self, session: Session, filters: ReportFilters, zone: ZoneInfo) -> Opened:
        """The header and the rows (lists of CSV cells) of this export under ``filters``."""
        if self.produce is not None:
            return self.produce(session, filters, zone)
        statement = self.statement(filters, zone)
        return header_of(statement), plain_rows(session, statement, zone)


# --- the relief report's tables (clinic.services.relief.reports) ---------------------------------------

_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _report_cell(value: object) -> str:
    """A cell of the relief report's tables: numbers as they come, text formula-safe."""
    if isinstance(value, str):
        return value if _NUMBER.fullmatch(value) else cell(value)
    return cell(value)


def _report_rows(rows: Iterable[Sequence[object]]) -> Rows:
    for row in rows:
        yield [_report_cell(value) for value in row]


def relief_summary_export(session: Session, filters: ReportFilters, zone: ZoneInfo) -> Opened:
    """The relief summary per procedure type, from the relief report's own module."""
    from clinic.services.relief.reports import relief_summary_export as summary

    header, rows = summary(session, filters)
    return list(header), _report_rows(rows)


def relief_curve_export(session: Session, filters: ReportFilters, zone: ZoneInfo) -> Opened:
    """The Kaplan–Meier relief curve per procedure type, from the relief report's own module."""
    from clinic.services.relief.reports import relief_curve_export as curve

    header, rows = curve(session, filters)
    return list(header), _report_rows(rows)


PERFORMED = "performed date"
EXPORTS: dict[str, Export] = {
    export.name: export
    for export in (
        Export(
            "relief-summary",
            "Relief summary",
            "Per procedure type: completed, evaluable, responders and responder rate, relief "
            "events and censored, median relief with its 95% interval, relief at 90, 180 and "
            "365 days.",
            PERFORMED,
            True,
            relief_summary_export,
        ),
        Export(
            "relief-curve",
            "Relief curve",
            "Per procedure type, the Kaplan–Meier curve of relief: one row per day with an event "
            "or a censoring, with those at risk and the 95% band.",
            PERFORMED,
            True,
            relief_curve_export,
        ),
        Export(
            "outcomes",
            "Outcomes",
            "One row per completed intervention: baseline, follow-ups, best relief, responder, "
            "onset and duration of relief, and whether a repeat is eligible today.",
            PERFORMED,
            True,
            outcomes_export,
            outcomes_statements,
        ),
        Export(
            "eligibility",
            "Repeat eligibility",
            "One row per patient, procedure and spinal region that a payer rule names from the "
            "history: eligible or not as of the day given (today by default), the rule, the "
            "reason and the dates that decided it.",
            None,
            False,
            eligibility_export,
            eligibility_statements,
        ),
        Export(
            "patients",
            "Patients",
            "Every patient (not archived): MRN, name, date of birth, sex, contact, condition, "
            "consent to email contact. "
            "The import's columns.",
            None,
            False,
            None,  # plain: its SELECT is its CSV
            patients_statements,
        ),
        Export(
            "interventions",
            "Interventions",
            "Every intervention: ref, patient, procedure, physician, times, room, status, "
            "performed date, baseline, level, side, notes, guidance, fluoroscopy time, air "
            "kerma, sedation. The import's columns.",
            PERFORMED,
            False,
            None,  # plain: its SELECT is its CSV
            interventions_statements,
        ),
        Export(
            "pain-scores",
            "Pain scores",
            "Every pain score: intervention ref, date, NRS, percent relief, source. The import's "
            "columns.",
            "recorded date",
            False,
            None,  # plain: its SELECT is its CSV
            pain_scores_statements,
        ),
        Export(
            "medications",
            "Medications given",
            "One row per medication given at an intervention: drug, dose in mg or volume in mL, "
            "methylprednisolone-equivalent mg of a corticosteroid, route/site. Imports back.",
            PERFORMED,
            False,
            None,  # plain: its SELECT is its CSV
            medications_statements,
        ),
        Export(
            "diary",
            "Block diaries",
            "Every entry of the pain diaries of diagnostic blocks: the block (id, ref, "
            "patient, procedure, performed date), the time point in minutes after it, NRS, "
            "percent relief and when the entry was given.",
            PERFORMED,
            False,
            None,  # plain: its SELECT is its CSV
            diary_statements,
        ),
        Export(
            "stimulator-adjustments",
            "Stimulator adjustments",
            "Every spinal cord stimulator programming visit: device, program, paradigm, "
            "amplitude, frequency, pulse width, contacts, impedance, battery, pain before and "
            "after.",
            "visit date",
            False,
            None,  # plain: its SELECT is its CSV
            stimulator_adjustments_statements,
        ),
        Export(
            "referrals",
            "Referrals",
            "Every referral: patient, received date, referring clinician and practice, "
            "condition, urgency, status and reason.",
            "received date",
            False,
            None,  # plain: its SELECT is its CSV
            referrals_statements,
        ),
        Export(
            "schedule",
            "Schedule",
            "Interventions and visits together, one row per booking: patient, physician, room, "
            "times, status, procedure or kind of visit.",
            "scheduled date",
            False,
            None,  # plain: its SELECT is its CSV
            schedule_statements,
        ),
    )
}


def get_export(name: str) -> Export:
    """The export called ``name``, or a ``DomainError`` listing the names there are."""
    export = EXPORTS.get(name)
    if export is None:
        raise DomainError(
            f"There is no export called {name!r}. Choose one of: {', '.join(EXPORTS)}.", "name"
        )
    return export


def parse_day(given: str | None, option: str) -> date | None:
    """A ``YYYY-MM-DD`` filter date, or a ``DomainError`` saying how to write it."""
    if given is None or not given.strip():
        return None
    try:
        if not _ISO_DAY.fullmatch(given.strip()):
            raise ValueError(given)
        day = date.fromisoformat(given.strip())
    except ValueError:
        raise DomainError(
            f"{option} {given!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-01-31.", option
        ) from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        # As on the pages: a day at the calendar's edge would run off it in the clinic's zone.
        raise DomainError(
            f"{option} {given.strip()}: dates run from {EARLIEST_DAY.isoformat()} to "
            f"{LATEST_DAY.isoformat()}; check the year.",
            option,
        )
    return day


def parse_threshold(given: str | None, option: str = "--threshold") -> int:
    """The percent relief that counts as relieved: a whole number from 1 to 100 (default 50)."""
    if given is None or not str(given).strip():
        return DEFAULT_THRESHOLD
    try:
        value = int(str(given).strip())
    except ValueError:
        value = None
    if value is None or not 1 <= value <= 100:
        raise DomainError(
            f"{option} {given!r} is not a threshold: give the percent relief that counts as "
            "relieved, a whole number from 1 to 100 (e.g. 30, 50 or 80).",
            option,
        )
    return value


def make_filters(
    date_from: date | None, date_to: date | None, threshold: int, as_of: date | None = None
) -> ReportFilters:
    """The filters of an export, refusing a range that ends before it starts."""
    if date_from is not None and date_to is not None and date_from > date_to:
        raise DomainError(
            f"--from {date_from} is after --to {date_to}: give the earlier date first.", "--to"
        )
    return ReportFilters(date_from=date_from, date_to=date_to, threshold=threshold, as_of=as_of)
