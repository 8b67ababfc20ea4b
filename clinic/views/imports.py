"""Imports."""

from flask import Blueprint, render_template

from clinic.security import role_required

bp = Blueprint("imports", __name__, url_prefix="/imports")


@bp.route("")
@role_required(*("manager", "admin"))
def index():
    """CSV upload with a dry-run preview before anything is written."""
    return render_template(
        "placeholder.html",
        title="Imports",
        note="CSV upload with a dry-run preview before anything is written.",
    )
