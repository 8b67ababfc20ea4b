"""Access control and the protections every response carries.

Sessions: Flask-Login keeps a random session token in the signed cookie; the token's hash is a
``staff_session`` row, so signing out, deactivation and a password change end a session on the
server. The idle clock lives in the signed cookie (no database write per request); the absolute
limit is measured from the row's creation.
"""

import re
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, logout_user
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from clinic import clock
from clinic.extensions import db, login_manager
from clinic.services.identity import accounts
from clinic.services.identity.audit import Actor, act_as, record_event

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
STATIC_ENDPOINTS = {"static", "bootstrap.static"}


def client_address() -> str:
    return (request.remote_addr or "unknown")[:64]


def request_actor() -> Actor:
    if current_user.is_authenticated:
        return Actor(current_user.id, current_user.username, client_address())
    return Actor(None, "anonymous", client_address())


def is_safe_next(target: str | None) -> bool:
    """Only a path on this site: no scheme, no host, not protocol-relative or backslashed."""
    if not target:
        return False
    parts = urlsplit(target)
    return (
        not parts.scheme
        and not parts.netloc
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
    )


def role_required(*roles: str) -> Callable:
    """Let through signed-in users holding one of ``roles``; 403 (audited) for the others."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                record_event(
                    db.session,
                    "access_denied",
                    details={"path": request.path, "method": request.method},
                )
                db.session.commit()
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = roles  # type: ignore[attr-defined]
        return wrapped

    return decorator


ALL_ROLES = ("front_desk", "physician", "manager", "admin")
CLINICAL_ROLES = ALL_ROLES  # every role reads the referral pipeline and the schedule


# Ids in URLs fit the database's integer columns; a larger one names no record (404), instead
# of reaching PostgreSQL as an out-of-range integer.
LARGEST_RECORD_ID = 2**31 - 1

# Control characters no field may hold (tab, line feed and carriage return are text: notes have
# lines). PostgreSQL refuses NUL in text outright; the others are never typed on purpose.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class RecordIdConverter(IntegerConverter):
    """``<int:…>`` in every route: a record id, so no larger than an integer column holds."""

    regex = r"[0-9]+"  # ASCII digits: "/patients/١٢" is no second address of patient 12

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", LARGEST_RECORD_ID)
        super().__init__(map, *args, **kwargs)


def bound_record_ids(app: Flask) -> None:
    """Make ``<int:…>`` answer 404 for ids beyond the columns' range; call before blueprints."""
    app.url_map.converters["int"] = RecordIdConverter


def refuse_control_characters() -> None:
    """A query parameter or form field holding a control character is a 400 naming the field."""
    for source, kind in ((request.args, "parameter"), (request.form, "field")):
        for name, value in source.items(multi=True):
            if CONTROL_CHARACTER.search(value) or CONTROL_CHARACTER.search(name):
                shown = CONTROL_CHARACTER.sub("", name)[:40]
                abort(
                    400,
                    description=f"The {kind} “{shown}” holds a control character (such as NUL) "
                    "that Clinic cannot store. Remove it and try again.",
                )


def register(app: Flask) -> None:
    if app.config.get("PROXY_COUNT"):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_COUNT"], x_proto=1)  # type: ignore[method-assign]
    login_manager.session_protection = None  # we revoke sessions on the server instead
    login_manager.login_view = "auth.login"

    @login_manager.user_loader
    def load_user(token: str):
        return accounts.load_session(db.session, token, current_app.config["ABSOLUTE_TIMEOUT"])

    @login_manager.unauthorized_handler
    def send_to_login():
        if request.method == "GET":
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return redirect(url_for("auth.login"))

    app.before_request(refuse_control_characters)

    @app.before_request
    def enforce_idle_timeout_and_name_actor():
        if request.endpoint in STATIC_ENDPOINTS:
            return None
        token = session.get("_user_id")
        if token:
            now = clock.utcnow().timestamp()
            last_seen = session.get("last_seen", 0)
            if now - last_seen > app.config["IDLE_TIMEOUT"].total_seconds():
                accounts.end_session(db.session, token, client_address(), reason="idle timeout")
                db.session.commit()
                logout_user()
                session.clear()
                flash("You were signed out after a period without activity. Sign in again.", "info")
                if request.endpoint != "auth.login":
                    return login_manager.unauthorized()
            else:
                session["last_seen"] = now
                if not current_user.is_authenticated:
                    # Revoked, expired or deactivated on the server: forget the cookie.
                    session.clear()
                    flash("Your session has ended. Sign in again.", "info")
        act_as(db.session, request_actor())
        return None

    @app.after_request
    def set_security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["X-Frame-Options"] = "DENY"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if request.endpoint not in STATIC_ENDPOINTS:
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"
        if app.config["ENV_NAME"] == "production":
            headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        return response
