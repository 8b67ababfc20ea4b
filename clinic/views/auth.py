"""Signing in and out."""

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user

from clinic import clock
from clinic.extensions import db
from clinic.forms.auth import LoginForm
from clinic.security import client_address, is_safe_next
from clinic.services.identity import accounts

bp = Blueprint("auth", __name__)


def _throttle_policy() -> accounts.ThrottlePolicy:
    config = current_app.config
    return accounts.ThrottlePolicy(
        window=config["LOGIN_THROTTLE_WINDOW"],
        max_failures_per_account=config["LOGIN_MAX_FAILURES_PER_ACCOUNT"],
        max_failures_per_address=config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
    )


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with username and password; throttled after repeated failures."""
    next_url = request.args.get("next")
    if current_user.is_authenticated:
        return redirect(next_url if is_safe_next(next_url) else url_for("dashboard.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(
                db.session,
                form.username.data,
                form.password.data,
                client_address(),
                _throttle_policy(),
            )
        except accounts.LoginThrottled as error:
            db.session.commit()
            form.form_errors.append(error.message)
            status = 429
        except accounts.InvalidCredentials as error:
            db.session.commit()
            form.form_errors.append(error.message)
        else:
            session.clear()  # a fresh session at sign-in: no fixation
            user.session_token = accounts.start_session(db.session, user, client_address())
            login_user(user)
            session["last_seen"] = clock.utcnow().timestamp()
            db.session.commit()
            return redirect(next_url if is_safe_next(next_url) else url_for("dashboard.home"))
    response = make_response(render_template("auth/login.html", form=form), status)
    if status == 429:
        # The failures counted fall out of the window at the latest after a whole window.
        response.headers["Retry-After"] = str(int(_throttle_policy().window.total_seconds()))
    return response


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out: end the server-side session so that a copied cookie is useless."""
    token = session.get("_user_id")
    if token and current_user.is_authenticated:
        accounts.end_session(db.session, token, client_address())
        db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
