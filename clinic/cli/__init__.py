"""The command line, ``flask --app clinic COMMAND``: one module per group of commands."""

from flask import Flask

from clinic.cli import demo, exports, imports, reminders, users


def register(app: Flask) -> None:
    """Add Clinic's commands to ``app.cli`` (the ``db`` group comes from Flask-Migrate)."""
    app.cli.add_command(users.users)
    app.cli.add_command(demo.seed_demo)
    app.cli.add_command(demo.init_demo)
    app.cli.add_command(exports.export_command)
    app.cli.add_command(imports.import_command)
    app.cli.add_command(reminders.reminders)
