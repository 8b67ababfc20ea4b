"""Stage 1, read: a file's lines as UTF-8, its header, its CSV records, each parsed by
``records.py`` and handed on in batches with its physical line number (the header is line 1)."""

import csv
from collections.abc import Iterator, Mapping
from itertools import chain
from typing import IO, Any

from clinic.services.interchange.csvio import BOM, CELL_COUNT_MISMATCH, read_rows, trim
from clinic.services.interchange.imports.job import Job
from clinic.services.interchange.imports.records import PARSERS, Record
from clinic.services.interchange.imports.report import (
    COLUMNS,
    KEY_COLUMNS,
    KIND_LABELS,
    OPTIONAL_COLUMNS,
)
from clinic.services.patients import normalise_mrn

# (line, key, the parsed values or None when the row is refused, the record) per row.
Batch = list[tuple[int, str, dict[str, Any] | None, Record]]


class _NotUtf8(Exception):
    def __init__(self, line: int, byte: int) -> None:
        super().__init__(line, byte)
        self.line = line
        self.byte = byte


class _Lines:
    """The lines of a text stream or of UTF-8 bytes, counted, naming the first that is not UTF-8."""

    def __init__(self, stream: IO) -> None:
        self.stream = stream
        self.number = 0

    def __iter__(self) -> Iterator[str]:
        for raw in self.stream:
            self.number += 1
            if isinstance(raw, bytes):
                try:
                    raw = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise _NotUtf8(self.number, raw[error.start]) from None
            yield raw


def batches(job: Job, kind: str) -> Iterator[Batch]:
    """Batches of (line, key, values or None when refused, record) for one file, from its start.

    A row without a key is left out (its fault is noted); while checking, each row is counted.
    """
    parse = PARSERS[kind]
    key_column = KEY_COLUMNS.get(kind, COLUMNS[kind][0])
    batch: Batch = []
    for line, row, whole in _records(job, kind):
        if not job.writing:
            job.counts[kind].rows += 1
        record = Record(row)
        key = trim(row.get(key_column) or "")
        if key_column == "mrn":
            # Keyed as the clinic writes MRNs: c 0001234 is the patient C0001234.
            key = normalise_mrn(key)
        values = None
        if whole:
            values = parse(job, record)
            for column, message in record.faults:
                job.problem(kind, line, column, message)
            if record.faults:
                values = None
        if key:
            batch.append((line, key, values, record))
        if len(batch) >= job.batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def records(job: Job, kind: str) -> Iterator[tuple[int, Mapping[str, str], bool]]:
    """(line, row, whole) for each record of a file, unparsed; its read problems noted."""
    return _records(job, kind)


def _records(job: Job, kind: str) -> Iterator[tuple[int, Mapping[str, str], bool]]:
    """(line, row, whole) for each record; ``whole`` is false when its cells are miscounted."""
    stream = job.streams[kind]
    stream.seek(0)
    lines = _Lines(stream)
    iterator = iter(lines)
    try:
        first = next(iterator, None)
        if first is None:
            job.problem(
                kind,
                1,
                "file",
                f"the file is empty; its first line must be the header {','.join(COLUMNS[kind])}",
            )
            job.unusable.add(kind)
            return
        if not _check_header(job, kind, first):
            job.unusable.add(kind)
            return
        for line, header, row in read_rows(chain([first], iterator)):
            if CELL_COUNT_MISMATCH in row:
                job.problem(
                    kind,
                    line,
                    "row",
                    f"{row[CELL_COUNT_MISMATCH]} cells where the header has {len(header)} "
                    "columns; check the commas and quotes on this line",
                )
                yield line, row, False
            else:
                yield line, row, True
    except _NotUtf8 as error:
        job.problem(kind, error.line, "file", _not_utf8(error.byte))
        job.unusable.add(kind)
    except UnicodeDecodeError as error:
        job.problem(kind, lines.number + 1, "file", _not_utf8(error.object[error.start]))
        job.unusable.add(kind)
    except csv.Error as error:
        job.problem(kind, max(lines.number, 1), "file", f"cannot be read as CSV: {error}")
        job.unusable.add(kind)


def _not_utf8(byte: int) -> str:
    return f'not UTF-8 text (byte 0x{byte:02x}); save the file as "CSV UTF-8" and try again'


def _check_header(job: Job, kind: str, first_line: str) -> bool:
    """Exactly the columns of docs/formats.md, in any order; problems at line 1."""
    try:
        header = next(csv.reader([first_line.removeprefix(BOM)]), [])
    except csv.Error:
        header = []
    expected = COLUMNS[kind]
    if len(header) == 1 and ";" in header[0]:
        # A spreadsheet set to a European locale writes semicolons.
        job.problem(
            kind,
            1,
            "file",
            "the columns are separated by semicolons; save the file as comma-separated "
            '"CSV UTF-8" and try again',
        )
        return False
    usable = True
    seen: set[str] = set()
    for name in (cell.strip() for cell in header):
        if name in seen:
            job.problem(kind, 1, name, "the column appears twice")
            usable = False
        elif name not in expected:
            job.problem(
                kind,
                1,
                name or '""',
                f"unknown column; a {KIND_LABELS[kind]} file has the columns {','.join(expected)}",
            )
        seen.add(name)
    optional = OPTIONAL_COLUMNS.get(kind, ())
    given = [name for name in optional if name in seen]
    for name in expected:
        if name in seen:
            continue
        if name not in optional:
            job.problem(kind, 1, name, "missing column")
            usable = False
        elif given:
            # The newer columns come together: a consent date means nothing without the consent.
            job.problem(kind, 1, name, f"missing column; it comes with {', '.join(given)}")
            usable = False
    job.headers[kind] = frozenset(seen)
    return usable
