"""``flask --app clinic export NAME``: the CSV exports of docs/formats.md and the FHIR bundle.

The same registry as the manager's downloads (``clinic.services.interchange.exports``), so the
command and the web write the same columns and values; only the byte-order mark differs (none
here unless ``--bom``), and the FHIR bundle names the MRN with the same ``FHIR_MRN_SYSTEM`` as
the web download. Bad input is refused before anything is read or written. With ``-o FILE`` the
export goes to a temporary file beside FILE, renamed over it only once complete, so a failure
never leaves half a file; the file is readable by its owner only, as it holds patient data.
Every export is audited (action ``export``, as the command line) with its filters and row count.
"""

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import with_appcontext

from clinic.cli.common import CommandError
from clinic.extensions import db
from clinic.services import DomainError
from clinic.services.identity.audit import COMMAND_LINE, act_as, record_event
from clinic.services.interchange import exports as service

FHIR = "fhir"
NAMES = [*service.EXPORTS, FHIR]


@contextlib.contextmanager
def replaced_atomically(target: Path, mode: str):
    """A temporary file beside ``target`` that becomes ``target`` only if the block succeeds."""
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with open(descriptor, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as stream:
            yield stream
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def checked_output(output: str | None) -> Path | None:
    """The -o path, refused before any work when it cannot be written."""
    if output is None or output == "-":
        return None
    target = Path(output)
    if target.is_dir():
        raise CommandError(
            f"-o {output} is a folder: give a file name, e.g. -o {target / 'export.csv'}."
        )
    if not target.parent.is_dir():
        raise CommandError(
            f"-o {output}: the folder {target.parent} does not exist. Create it first."
        )
    if not os.access(target.parent, os.W_OK):
        raise CommandError(f"-o {output}: the folder {target.parent} cannot be written to.")
    return target


def stopped_reading(details: dict[str, object]) -> None:
    """Standard output was closed by its reader (``| head``): record what went, stop quietly
    with exit status 1."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        # Python would complain again when it flushes standard output at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    db.session.rollback()
    record_event(db.session, "export", details=details)
    db.session.commit()
    raise click.exceptions.Exit(1)


def write_out(target: Path | None, mode: str, write: Callable[[IO], None]) -> None:
    """Run ``write`` on the -o file (atomically) or on standard output."""
    try:
        if target is None:
            stream = sys.stdout.buffer if "b" in mode else sys.stdout
            write(stream)
            stream.flush()
        else:
            with replaced_atomically(target, mode) as stream:
                write(stream)
    except ModuleNotFoundError as error:
        raise CommandError(
            f"This export needs {error.name}, which this installation of Clinic lacks."
        ) from error
    except BrokenPipeError:
        raise  # the reader of standard output went away: the caller records what was sent
    except OSError as error:
        raise CommandError(f"Could not write the export: {error.strerror or error}.") from error


@click.command("export", help=f"Write an export as CSV. NAME is one of: {', '.join(NAMES)}.")
@with_appcontext
@click.argument("name")
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Write to FILE (replaced only once the export is complete); standard output without it.",
)
@click.option(
    "--from",
    "date_from",
    metavar="DATE",
    help="First date (YYYY-MM-DD, inclusive): performed, recorded, received or scheduled date.",
)
@click.option("--to", "date_to", metavar="DATE", help="Last date (YYYY-MM-DD, inclusive).")
@click.option(
    "--threshold",
    metavar="N",
    help="Percent relief that counts as relieved, 1–100 (default 50): outcomes, relief-*.",
)
@click.option(
    "--on",
    "as_of",
    metavar="DATE",
    help="The day repeat eligibility is judged as of (YYYY-MM-DD; default today): eligibility.",
)
@click.option("--bom", is_flag=True, help="Start with a UTF-8 byte-order mark (for Excel).")
def export_command(
    name: str,
    output: str | None,
    date_from: str | None,
    date_to: str | None,
    threshold: str | None,
    as_of: str | None,
    bom: bool,
) -> None:
    act_as(db.session, COMMAND_LINE)
    zone = ZoneInfo(current_app.config["CLINIC_TIMEZONE"])
    if name == FHIR:
        export_fhir(output, zone, date_from, date_to, threshold, bom)
        return
    if name not in service.EXPORTS:
        raise CommandError(
            f"There is no export called {name!r}. Choose one of: {', '.join(NAMES)}."
        )
    try:
        filters = service.make_filters(
            service.parse_day(date_from, "--from"),
            service.parse_day(date_to, "--to"),
            service.parse_threshold(threshold),
            service.parse_day(as_of, "--on"),
        )
    except DomainError as error:
        raise CommandError(error.message) from error
    target = checked_output(output)
    stream = service.CsvStream(service.EXPORTS[name], db.session, filters, zone, bom=bom)

    def write(out: IO[bytes]) -> None:
        for chunk in stream:
            out.write(chunk.encode("utf-8"))

    try:
        write_out(target, "wb", write)
    except BrokenPipeError:
        stopped_reading(stream.audit_details())
    record_event(db.session, "export", details=stream.audit_details())
    db.session.commit()
    if target is not None:
        click.echo(f"Wrote {stream.rows} rows of {name} to {target}.")


def export_fhir(
    output: str | None,
    zone: ZoneInfo,
    date_from: str | None,
    date_to: str | None,
    threshold: str | None,
    bom: bool,
) -> None:
    """The FHIR R4 bundle of every patient (``clinic.services.interchange.fhir``), audited like the CSVs."""
    if date_from or date_to or threshold or bom:
        raise CommandError(
            "fhir takes no --from, --to, --threshold or --bom: the bundle holds every patient."
        )
    target = checked_output(output)
    written: list[int] = []

    def write(out: IO[str]) -> None:
        from clinic.services.interchange.fhir import write_bundle

        mrn_system = current_app.config["FHIR_MRN_SYSTEM"]
        written.append(write_bundle(db.session, out, zone, mrn_system=mrn_system))

    try:
        write_out(target, "w", write)
    except BrokenPipeError:
        stopped_reading({"name": FHIR, "filters": {}, "complete": False})
    count = written[0] if written else 0
    record_event(
        db.session,
        "export",
        details={"name": FHIR, "filters": {}, "resources": count, "complete": True},
    )
    db.session.commit()
    if target is not None:
        click.echo(f"Wrote a FHIR bundle of {count} resources to {target}.")
