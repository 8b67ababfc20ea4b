"""Command-line tools: ``flask --app clinic users …``, ``seed-demo``, ``init-demo``."""

import secrets
import sys

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select

from clinic import demo
from clinic.extensions import db
from clinic.models import ROLES, Patient, StaffUser
from clinic.services import DomainError
from clinic.services.identity import accounts
from clinic.services.identity.audit import COMMAND_LINE, act_as

users = AppGroup("users", help="Create and keep staff accounts.")


def fail(message: str) -> None:
    """Stop with a message on standard error and exit status 1, nothing written."""
    db.session.rollback()
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")


def find_user(username: str) -> StaffUser:
    user = accounts.get_user_by_username(db.session, username)
    if user is None:
        fail(
            f"No staff account is called {username!r}. `flask --app clinic users list` shows them."
        )
    return user


@users.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--full-name", required=True, help="The person's name as staff know it.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password as one line of standard input."
)
def create_user(username: str, role: str, full_name: str, password_stdin: bool) -> None:
    """Create a staff account."""
    act_as(db.session, COMMAND_LINE)
    password = read_password(password_stdin)
    try:
        user = accounts.create_user(db.session, username, full_name, role, password)
    except DomainError as error:
        fail(error.message)
    db.session.commit()
    click.echo(f"Created {user.username} ({user.role}).")


@users.command("list")
def list_users() -> None:
    """List staff accounts: username, role, state, name."""
    for user in db.session.execute(select(StaffUser).order_by(StaffUser.username)).scalars():
        state = "active" if user.active else "deactivated"
        if user.active and not user.password_hash:
            state = "no-password"
        click.echo(f"{user.username}\t{user.role}\t{state}\t{user.full_name}")


@users.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
def set_role(username: str, role: str) -> None:
    """Give a staff account another role (signs the person out)."""
    act_as(db.session, COMMAND_LINE)
    accounts.set_role(db.session, find_user(username), role)
    db.session.commit()
    click.echo(f"{username} is now {role}.")


@users.command("deactivate")
@click.argument("username")
def deactivate(username: str) -> None:
    """Deactivate an account and end its sessions at once."""
    act_as(db.session, COMMAND_LINE)
    accounts.set_active(db.session, find_user(username), False)
    db.session.commit()
    click.echo(f"{username} is deactivated and signed out everywhere.")


@users.command("reset-password")
@click.argument("username")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password as one line of standard input."
)
def reset_password(username: str, password_stdin: bool) -> None:
    """Set a new password for an account and end its sessions."""
    act_as(db.session, COMMAND_LINE)
    user = find_user(username)
    try:
        accounts.set_password(db.session, user, read_password(password_stdin))
    except DomainError as error:
        fail(error.message)
    db.session.commit()
    click.echo(f"Password of {username} changed; their sessions are ended.")


# Plain commands get the app context from ``flask`` itself, but not when run through
# ``app.cli`` (``app.test_cli_runner()``, or embedded): ask for it as the ``users`` group does.
@click.command("seed-demo")
@with_appcontext
@click.option("--patients", default=200, show_default=True, type=int, help="How many patients.")
@click.option(
    "--seed", default=2026, show_default=True, type=int, help="Random seed: same seed, same data."
)
def seed_demo(patients: int, seed: int) -> None:
    """Load a realistic synthetic dataset into a database without patients."""
    act_as(db.session, COMMAND_LINE)
    try:
        summary = demo.seed_demo(db.session, patients=patients, seed=seed)
    except DomainError as error:
        fail(error.message)
    db.session.commit()
    click.echo(f"Loaded {summary.patients} patients.")


PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105 (no look-alikes)
DEMO_ACCOUNTS = [
    ("frontdesk", "Fran Front-Desk", "front_desk"),
    ("physician", "Dr. Pat Physician", "physician"),
    ("manager", "Morgan Manager", "manager"),
    ("admin", "Alex Admin", "admin"),
]


@click.command("init-demo")
@with_appcontext
@click.option("--patients", default=400, show_default=True, type=int)
def init_demo(patients: int) -> None:
    """On an empty database: one account per role (passwords printed once) and the demo data."""
    act_as(db.session, COMMAND_LINE)
    fresh = db.session.execute(select(func.count()).select_from(StaffUser)).scalar_one() == 0
    if db.session.execute(select(func.count()).select_from(Patient)).scalar_one() == 0:
        summary = demo.seed_demo(db.session, patients=patients)
        click.echo(f"Demo data loaded: {summary.patients} patients.")
    else:
        click.echo("Patients exist already; demo data not loaded.")
    if fresh:
        click.echo("Accounts created (shown once; write them down):")
        for username, full_name, role in DEMO_ACCOUNTS:
            password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(20))
            # The demo physician is one of the seeded physicians, so it has patients of its own.
            seeded = (
                accounts.get_user_by_username(db.session, demo.PHYSICIANS[0][0])
                if role == "physician"
                else None
            )
            if seeded is not None and seeded.password_hash is None:
                accounts.set_password(db.session, seeded, password)
                username = seeded.username
            else:
                accounts.create_user(db.session, username, full_name, role, password)
            click.echo(f"  {role:<11} username: {username:<10} password: {password}")
    else:
        click.echo("Staff accounts exist already; none created.")
    db.session.commit()


def register(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(seed_demo)
    app.cli.add_command(init_demo)
    from clinic.cli_exports import export_command  # local: it imports fail() from here

    app.cli.add_command(export_command)
    from clinic.cli_imports import import_command  # local, as above

    app.cli.add_command(import_command)
