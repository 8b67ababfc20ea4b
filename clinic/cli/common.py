"""What every command shares: the error that stops a command with its message."""

import click


class CommandError(click.ClickException):
    """Bad input or a refusal: click prints ``Error: MESSAGE`` on standard error and exits 1.

    Raised before the command commits, so nothing is written: the unit of work is rolled back
    when the app context ends.
    """
