"""Follow-up call list."""

from flask import Blueprint, render_template

from clinic.security import role_required

bp = Blueprint("worklist", __name__, url_prefix="/worklist")


@bp.route("")
@role_required(*("front_desk", "physician"))
def index():
    """Follow-up calls due today, overdue and coming up."""
    return render_template(
        "placeholder.html",
        title="Follow-up call list",
        note="Follow-up calls due today, overdue and coming up.",
    )
