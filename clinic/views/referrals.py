"""Referrals: intake, the triage pipeline, and the bookings they lead to."""

from flask import Blueprint, render_template

from clinic.security import CLINICAL_ROLES, role_required

bp = Blueprint("referrals", __name__, url_prefix="/referrals")


@bp.route("")
@role_required(*CLINICAL_ROLES)
def index():
    """The referral pipeline: intake, triage and the bookings referrals lead to."""
    return render_template("placeholder.html", title="Referrals", note="The referral pipeline.")


@bp.route("/new")
@role_required("front_desk", "physician")
def new():
    """Log a referral for a patient."""
    return render_template("placeholder.html", title="Log a referral", note="Referral intake.")
