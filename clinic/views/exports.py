"""Exports."""

from flask import Blueprint, render_template

from clinic.security import role_required

bp = Blueprint("exports", __name__, url_prefix="/exports")


@bp.route("")
@role_required(*("manager", "admin"))
def index():
    """CSV downloads of patients, interventions, pain scores and relief figures."""
    return render_template(
        "placeholder.html",
        title="Exports",
        note="CSV downloads of patients, interventions, pain scores and relief figures.",
    )
