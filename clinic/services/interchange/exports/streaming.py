"""An export as CSV text in chunks, counting its records: the same bytes for the command line and
the web; on PostgreSQL a plain export is written by the database itself."""

from collections.abc import Iterator
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from clinic.services.filters import ReportFilters
from clinic.services.interchange import sql_csv
from clinic.services.interchange.csvio import csv_chunks
from clinic.services.interchange.exports.reading import Rows
from clinic.services.interchange.exports.registry import Export
from clinic.services.interchange.exports.tables import header_of
from clinic.services.planning import plan_for_every_row

# Characters of CSV text handed to the writer (file, stdout or HTTP) at a time.
CHUNK_CHARS = 64 * 1024


class CsvStream:
    """The CSV text of one export in chunks of about ``CHUNK_CHARS``, counting its records.

    Iterate it once; ``rows`` is the number of records written so far (the header not counted)
    and ``finished`` turns true when the last one was. Nothing is read before iteration starts.

    On PostgreSQL a plain export is written by the database (``sql_csv``: its SELECT made into
    one column, each record formatted and quoted in SQL), the same bytes several times faster;
    ``in_database`` False writes it in Python there too (the tests compare the two).
    """

    def __init__(
        self,
        export: Export,
        session: Session,
        filters: ReportFilters,
        zone: ZoneInfo,
        *,
        bom: bool = False,
        chunk_chars: int | None = None,
        in_database: bool = True,
    ) -> None:
        self.export = export
        self.session = session
        self.filters = filters
        self.zone = zone
        self.bom = bom
        self.chunk_chars = chunk_chars or CHUNK_CHARS
        self.in_database = (
            in_database and export.plain and session.get_bind().dialect.name == "postgresql"
        )
        self.rows = 0
        self.finished = False

    def _counted(self, rows: Rows) -> Rows:
        for row in rows:
            # Counted as the writer takes it: the rows in what was sent (or is about to be).
            self.rows += 1
            yield row

    def __iter__(self) -> Iterator[str]:
        if self.in_database:
            yield from self._copied()
            return
        plan_for_every_row(self.session)
        header, rows = self.export.open(self.session, self.filters, self.zone)
        counted = self._counted(rows)
        try:
            yield from csv_chunks(header, counted, self.chunk_chars, bom=self.bom)
            self.finished = True
        finally:
            counted.close()
            if hasattr(rows, "close"):
                rows.close()

    def _copied(self) -> Iterator[str]:
        """A plain export's CSV as PostgreSQL writes it, the header first."""
        statement = self.export.statement(self.filters, self.zone)
        header = header_of(statement)
        yield from csv_chunks(header, [], self.chunk_chars, bom=self.bom)
        for written, rows in sql_csv.chunks(self.session, statement, self.zone, self.chunk_chars):
            self.rows += rows
            yield written
        self.finished = True

    def audit_details(self) -> dict[str, object]:
        """What the audit row of this export records: its name, filters and rows written."""
        return {
            "name": self.export.name,
            "filters": self.filters.as_audit_details(),
            "rows": self.rows,
            "complete": self.finished,
        }
