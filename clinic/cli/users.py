"""``flask --app clinic users …``: create and keep staff accounts."""

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from clinic.cli.common import CommandError
from clinic.extensions import db
from clinic.models import ROLES, StaffUser
from clinic.services import DomainError
from clinic.services.identity import accounts
from clinic.services.identity.audit import COMMAND_LINE, act_as

users = AppGroup("users", help="Create and keep staff accounts.")


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")


def find_user(username: str) -> StaffUser:
    user = accounts.get_user_by_username(db.session, username)
    if user is None:
        raise CommandError(
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
        raise CommandError(error.message) from error
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
        raise CommandError(error.message) from error
    db.session.commit()
    click.echo(f"Password of {username} changed; their sessions are ended.")
