"""Referrals."""

from flask import Blueprint, render_template

from clinic.security import CLINICAL_ROLES, role_required

bp = Blueprint("referrals", __name__, url_prefix="/referrals")


@bp.route("")
@role_required(*CLINICAL_ROLES)
def index():
    """The referral pipeline: intake, triage and the bookings referrals lead to."""
    return render_template(
        "placeholder.html",
        title="Referrals",
        note="The referral pipeline: intake, triage and the bookings referrals lead to.",
    )
