"""The command line, ``flask --app clinic COMMAND``: one module per group of commands.

A command's module is imported when the command is asked for, not when the app is created: a
relief export run from a script every few minutes should not pay for the demo generator and the
importer it never uses (issue 19). ``flask --app clinic --help`` lists them all, and so loads them
all.
"""

from importlib import import_module

import click
from flask import Flask
from flask.cli import AppGroup

# Each command's name, and the module and attribute that define it.
COMMANDS = {
    "users": ("clinic.cli.users", "users"),
    "seed-demo": ("clinic.cli.demo", "seed_demo"),
    "init-demo": ("clinic.cli.demo", "init_demo"),
    "export": ("clinic.cli.exports", "export_command"),
    "import": ("clinic.cli.imports", "import_command"),
    "reminders": ("clinic.cli.reminders", "reminders"),
}


class ClinicCommands(AppGroup):
    """The app's command group, importing each of Clinic's commands on first use."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attribute = COMMANDS[cmd_name]
            self.add_command(getattr(import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})


def command_group(app: Flask) -> ClinicCommands:
    """A lazy group in place of Flask's ``app.cli`` (call before anything adds a command)."""
    group = ClinicCommands(name=app.name)
    group.commands.update(app.cli.commands)
    return group
