"""Clinic: relief tracking for interventional spine and pain clinics."""

import os
import secrets
import sys
import threading
from pathlib import Path
from typing import Any

from flask import Flask

from clinic.cli import command_group
from config import CONFIGS

SQLITE_BUSY_TIMEOUT_MS = 10000  # how long a SQLite writer waits for another's write lock


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: its commands (each loaded when asked for), configuration, extensions,
    blueprints, error pages and security."""
    app = Flask(__name__, instance_relative_config=True)
    app.cli = command_group(app)
    env_name = os.environ.get("CLINIC_ENV", "development")
    if env_name not in CONFIGS:
        raise RuntimeError(f"CLINIC_ENV must be one of {', '.join(CONFIGS)}, not {env_name!r}")
    app.config.from_object(CONFIGS[env_name])
    if config:
        app.config.update(config)
    configure_database_and_secret(app)
    register_extensions(app)
    register_url_converters(app)
    if commands_only():
        register_blueprints_on_first_request(app)
    else:
        register_blueprints(app)
    register_errorhandlers(app)
    register_security(app)
    return app


def configure_database_and_secret(app: Flask) -> None:
    """SQLite in the instance folder unless ``DATABASE_URL`` says otherwise; a real key in production."""
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'clinic.db'}"
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri.removeprefix("postgres://")
    if uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri.removeprefix("postgresql://")
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    check_time_zone(app.config["CLINIC_TIMEZONE"])
    if app.config["ENV_NAME"] == "production":
        key = app.config.get("SECRET_KEY") or ""
        if len(key) < 32 or key in {"dev", "change-me", "secret"}:
            raise RuntimeError(
                "SECRET_KEY must be set to a random value of at least 32 characters in production "
                "(for example: python -c 'import secrets; print(secrets.token_hex(32))')."
            )
    elif not app.config.get("SECRET_KEY"):
        # Development and demo: a random key kept in the instance folder across restarts.
        key_file = Path(app.instance_path) / "secret_key"
        if not key_file.exists():
            key_file.write_text(secrets.token_hex(32))
            key_file.chmod(0o600)
        app.config["SECRET_KEY"] = key_file.read_text().strip()


def check_time_zone(name: str) -> None:
    """The clinic's time zone must be one the zone database knows, or nothing can be shown."""
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise RuntimeError(
            f"CLINIC_TIMEZONE must be a time zone name such as Europe/London or UTC (not {name!r})."
        ) from None


def register_extensions(app: Flask) -> None:
    from clinic.extensions import bootstrap, csrf, db, login_manager, mail, migrate
    from clinic.services.followup.calls_hook import install_calls_hook
    from clinic.services.identity.accounts import passwords
    from clinic.services.identity.audit import install_audit_hook

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent.parent / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    bootstrap.init_app(app)
    mail.init_app(app)
    install_audit_hook(db.session.session_factory.class_)
    install_calls_hook()
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
    passwords.configure(
        app.config["ARGON2_TIME_COST"],
        app.config["ARGON2_MEMORY_COST_KIB"],
        app.config["ARGON2_PARALLELISM"],
    )


def configure_sqlite(engine) -> None:
    """Foreign keys on, WAL for readers beside a writer, and SQLAlchemy owning BEGIN (savepoints)."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        connection.exec_driver_sql("BEGIN")


def register_url_converters(app: Flask) -> None:
    from clinic.security import bound_record_ids

    bound_record_ids(app)


# The ``flask`` commands that serve or list pages; every other one (export, import, reminders,
# seed-demo, db …) serves none.
PAGE_COMMANDS = frozenset({"run", "routes", "shell"})


def commands_only() -> bool:
    """Whether this process is the ``flask`` command line running a command that serves no page.

    Such a process starts without importing the views, their forms and helpers — about a sixth
    of a command's start (issue 19: a relief export run from a script is mostly its start).
    Anything else (gunicorn, ``flask run``, the tests, ``python -m flask``) registers the pages
    as it is created.
    """
    return (
        os.environ.get("FLASK_RUN_FROM_CLI") == "true"
        and Path(sys.argv[0]).name == "flask"
        and not PAGE_COMMANDS & set(sys.argv[1:])
    )


def register_blueprints_on_first_request(app: Flask) -> None:
    """Register the pages just before the first request, should a command's app serve one."""
    serve = app.wsgi_app
    lock = threading.Lock()
    registered = False

    def registering(environ, start_response):
        nonlocal registered
        if not registered:
            with lock:
                if not registered:
                    register_blueprints(app)
                    registered = True
        return serve(environ, start_response)

    app.wsgi_app = registering  # type: ignore[method-assign]


def register_blueprints(app: Flask) -> None:
    from clinic.views import (
        admin,
        auth,
        dashboard,
        devices,
        discharge,
        exports,
        fhir,
        followup,
        imports,
        patients,
        payers,
        procedures,
        referrals,
        relief,
        scheduling,
        selfreport,
    )

    for module in (
        auth,
        dashboard,
        patients,
        payers,
        referrals,
        scheduling,
        followup,
        relief,
        exports,
        procedures,
        imports,
        admin,
        devices,
        fhir,
        discharge,
        selfreport,
    ):
        app.register_blueprint(module.bp)


def register_errorhandlers(app: Flask) -> None:
    from clinic.views.errors import register

    register(app)


def register_security(app: Flask) -> None:
    from clinic.security import register

    register(app)
