"""Flask extensions, created unbound at import time and bound in ``create_app``."""

from pathlib import Path

import click
from flask import Flask
from flask_bootstrap import Bootstrap5
from flask_login import LoginManager
from flask_mailman import Mail
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from clinic.models.base import Base


class DeferredMigrate:
    """Flask-Migrate, bound when first used rather than when the app is created.

    Importing Flask-Migrate imports Alembic, which no request and no command but ``flask db``
    (and the tests' ``upgrade()``) needs. ``init_app`` leaves a stand-in in
    ``app.extensions["migrate"]`` and a ``db`` command group that both bind the real
    extension on first use, with the same settings.
    """

    def __init__(self, **settings) -> None:
        self.settings = settings

    def init_app(self, app: Flask, db: SQLAlchemy, directory: str | Path) -> None:
        """Leave the stand-ins; nothing of Alembic is imported yet."""
        unbound = _UnboundMigrate(self, app, db, str(directory))
        app.extensions["migrate"] = unbound
        app.cli.add_command(_DeferredDbGroup(unbound))

    def bind(self, app: Flask, db: SQLAlchemy, directory: str) -> None:
        """Import Flask-Migrate and bind it for real (it replaces both stand-ins)."""
        from flask_migrate import Migrate

        Migrate(**self.settings).init_app(app, db, directory=directory)


class _UnboundMigrate:
    """``app.extensions["migrate"]`` until Flask-Migrate is bound: any use binds it."""

    def __init__(self, deferred: DeferredMigrate, app: Flask, db: SQLAlchemy, directory: str):
        self._bind = lambda: deferred.bind(app, db, directory)
        self._app = app

    def bound(self):
        """The real ``app.extensions["migrate"]``, binding Flask-Migrate the first time."""
        if self._app.extensions.get("migrate") is self:
            self._bind()
        return self._app.extensions["migrate"]

    def __getattr__(self, name: str):
        return getattr(self.bound(), name)


class _DeferredDbGroup(click.Group):
    """The ``db`` command group, listed in ``--help`` but imported only when it is run."""

    def __init__(self, unbound: _UnboundMigrate) -> None:
        super().__init__("db", help="Perform database migrations.")
        self._unbound = unbound

    def _real(self) -> click.Group:
        self._unbound.bound()
        from flask_migrate.cli import db as db_group

        return db_group

    def make_context(self, info_name, args, parent=None, **extra):
        return self._real().make_context(info_name, args, parent=parent, **extra)

    def list_commands(self, ctx):
        return self._real().list_commands(ctx)

    def get_command(self, ctx, cmd_name):
        return self._real().get_command(ctx, cmd_name)


db = SQLAlchemy(model_class=Base)
migrate = DeferredMigrate(render_as_batch=True, compare_type=True)
csrf = CSRFProtect()
login_manager = LoginManager()
bootstrap = Bootstrap5()
mail = Mail()  # reminder emails, through the SMTP server in the MAIL_* settings
