"""Relief per procedure."""

from flask import Blueprint, render_template

from clinic.security import role_required

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.route("/relief")
@role_required(*("physician", "manager", "admin"))
def relief():
    """Relief per procedure type: Kaplan–Meier estimates, responder rates and the log-rank comparison."""
    return render_template(
        "placeholder.html",
        title="Relief per procedure",
        note="Relief per procedure type: Kaplan–Meier estimates, responder rates and the log-rank comparison.",
    )
