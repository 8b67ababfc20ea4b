"""``flask --app clinic import``: CSV files of patients, interventions, pain scores and
medications.

Any subset of the four files, in one transaction (``clinic.services.interchange.imports``):
when any row of any file is refused, every problem goes to standard error as
``FILE:LINE: column: message`` (FILE as typed on the command line), nothing is written and the
exit status is 1. ``--dry-run`` checks and counts without writing. A real import is audited as
one ``import`` event with the counts, and an ``update`` event with old and new values for each
changed record.
"""

from contextlib import ExitStack
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import with_appcontext

from clinic.cli.common import CommandError
from clinic.extensions import db
from clinic.services import DomainError
from clinic.services.identity.audit import COMMAND_LINE, act_as
from clinic.services.interchange.imports import COLUMNS, import_files

CSV_FILE = click.Path(exists=True, dir_okay=False, readable=True)


def columns_help(kind: str) -> str:
    return f"CSV with the columns {','.join(COLUMNS[kind])}."


@click.command("import")
@with_appcontext
@click.option("--patients", type=CSV_FILE, metavar="FILE", help=columns_help("patients"))
@click.option("--interventions", type=CSV_FILE, metavar="FILE", help=columns_help("interventions"))
@click.option("--pain-scores", type=CSV_FILE, metavar="FILE", help=columns_help("pain_scores"))
@click.option(
    "--medications",
    type=CSV_FILE,
    metavar="FILE",
    help=columns_help("medications") + " Replaces the list of each intervention it names.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check the files and count new, changed and unchanged rows; write nothing.",
)
def import_command(
    patients: str | None,
    interventions: str | None,
    pain_scores: str | None,
    medications: str | None,
    dry_run: bool,
) -> None:
    """Import CSV files of patients, interventions, pain scores and medications: all or nothing."""
    given = {
        kind: path
        for kind, path in (
            ("patients", patients),
            ("interventions", interventions),
            ("pain_scores", pain_scores),
            ("medications", medications),
        )
        if path
    }
    if not given:
        raise CommandError(
            "Give at least one file: --patients FILE, --interventions FILE, --pain-scores FILE "
            "or --medications FILE."
        )
    act_as(db.session, COMMAND_LINE)
    zone = ZoneInfo(current_app.config["CLINIC_TIMEZONE"])
    with ExitStack() as stack:
        try:
            files = {
                kind: (path, stack.enter_context(open(path, "rb")))  # noqa: SIM115
                for kind, path in given.items()
            }
            report = import_files(db.session, files, dry_run, zone)
        except OSError as error:
            raise CommandError(f"Could not read {error.filename}: {error.strerror}.") from error
        except DomainError as error:
            raise CommandError(error.message) from error
    if report.problems:
        db.session.rollback()
        for problem in report.problems:
            click.echo(str(problem), err=True)
        count = len(report.problems)
        click.echo(
            f"Nothing was imported: {count} problem{'' if count == 1 else 's'} to fix "
            "(listed above). Fix the files and run the import again.",
            err=True,
        )
        raise click.exceptions.Exit(1)  # the problems above are the message
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    for counts in report.files:
        click.echo(counts.summary())
    click.echo("Dry run: nothing was written." if dry_run else "Imported.")
