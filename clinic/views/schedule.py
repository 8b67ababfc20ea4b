"""Schedule."""

from flask import Blueprint, render_template

from clinic.security import CLINICAL_ROLES, role_required

bp = Blueprint("schedule", __name__, url_prefix="/schedule")


@bp.route("")
@role_required(*CLINICAL_ROLES)
def index():
    """Bookings by physician and room, by day or week."""
    return render_template(
        "placeholder.html",
        title="Schedule",
        note="Bookings by physician and room, by day or week.",
    )
