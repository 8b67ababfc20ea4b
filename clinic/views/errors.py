"""Generic error pages: no stack traces, and a rolled-back session after a failure."""

import traceback

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from clinic.extensions import db

MESSAGES = {
    400: ("Bad request", "The request could not be understood. Go back and try again."),
    403: (
        "Not allowed",
        "Your role does not give access to this page. Ask an administrator if you need it.",
    ),
    404: (
        "Not found",
        "There is nothing at this address. Check the link, or start again from the home page.",
    ),
    405: ("Not allowed", "This page cannot be used that way."),
    413: ("Too large", "The file is larger than the clinic allows."),
    429: ("Too many attempts", "Wait a few minutes and try again."),
    500: (
        "Something went wrong",
        "Nothing was saved. Try again; if it happens again, tell an administrator.",
    ),
}


def render_error(code: int, message: str | None = None):
    title, default_message = MESSAGES.get(code, MESSAGES[500])
    return render_template(
        "errors/error.html", code=code, title=title, message=message or default_message
    ), code


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError):
        return render_error(
            400, "The form had expired or was sent from elsewhere. Reload the page and try again."
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code and error.code >= 500:
            db.session.rollback()
        # A message written for this request (``abort(400, description=…)``) says what to fix;
        # Werkzeug's stock descriptions are replaced by the clinic's own words.
        custom = error.description if error.description != type(error).description else None
        return render_error(error.code or 500, custom)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        db.session.rollback()
        if app.testing and not app.config["SHOW_ERROR_PAGES"]:
            raise error
        # The frames only: an exception's message can carry patient data (SQL parameters).
        app.logger.error(
            "Unhandled %s on %s %s\n%s",
            type(error).__name__,
            request.method,
            request.url_rule,
            "".join(traceback.format_tb(error.__traceback__)),
        )
        return render_error(InternalServerError.code)
