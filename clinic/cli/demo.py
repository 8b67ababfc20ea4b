"""``flask --app clinic seed-demo`` and ``init-demo``: the synthetic dataset and demo accounts."""

import secrets

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from clinic import demo
from clinic.cli.common import CommandError
from clinic.extensions import db
from clinic.models import Patient, StaffUser
from clinic.services import DomainError
from clinic.services.followup.links import link_key
from clinic.services.identity import accounts
from clinic.services.identity.audit import COMMAND_LINE, act_as


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
        summary = demo.seed_demo(
            db.session, patients=patients, seed=seed, link_key=link_key(current_app.config)
        )
    except DomainError as error:
        raise CommandError(error.message) from error
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
        summary = demo.seed_demo(
            db.session, patients=patients, link_key=link_key(current_app.config)
        )
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
