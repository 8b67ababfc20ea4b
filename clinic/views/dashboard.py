"""Today at a glance, for the signed-in role; and the navigation each role sees."""

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user

from clinic.extensions import db
from clinic.security import ALL_ROLES, CLINICAL_ROLES, role_required
from clinic.services import dashboard
from clinic.views.common import clinic_today, clinic_zone

bp = Blueprint("dashboard", __name__)


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str
    roles: tuple[str, ...]

    @property
    def blueprint(self) -> str:
        return self.endpoint.split(".")[0]


NAV_ITEMS = (
    NavItem("dashboard.home", "Today", ALL_ROLES),
    NavItem("patients.index", "Patients", ALL_ROLES),
    NavItem("referrals.index", "Referrals", CLINICAL_ROLES),
    NavItem("scheduling.index", "Schedule", CLINICAL_ROLES),
    NavItem("followup.index", "Call list", ("front_desk", "physician")),
    NavItem("relief.relief", "Relief report", ("physician", "manager", "admin")),
    NavItem("exports.index", "Exports", ("manager", "admin")),
    NavItem("imports.index", "Imports", ("manager", "admin")),
    NavItem("admin.users", "Staff", ("admin",)),
)


@bp.app_context_processor
def navigation():
    if not current_user.is_authenticated:
        return {"nav_items": ()}
    return {"nav_items": [item for item in NAV_ITEMS if current_user.role in item.roles]}


# The manager looks back from 1900 on; earlier months only overflow the date arithmetic.
EARLIEST_MONTH = date(1900, 1, 1)


def parse_month(text: str | None) -> date | None:
    """``2026-11`` → 1 November 2026; absent → None (this month); anything else is a 400."""
    if not text:
        return None
    try:
        month = datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        abort(400, description=f"The month must be written YYYY-MM, e.g. 2026-11 (not “{text}”).")
    if month < EARLIEST_MONTH:
        abort(400, description="Clinic shows months from 1900-01 on. Choose a later month.")
    return month


@bp.route("/")
@role_required(*ALL_ROLES)
def home():
    """Today at a glance for the signed-in role."""
    today, zone = clinic_today(), clinic_zone()
    if current_user.role in ("manager", "admin"):
        figures = dashboard.manager_figures(
            db.session, today, zone, month=parse_month(request.args.get("month"))
        )
        return render_template("dashboard/manager.html", figures=figures)
    return render_template(
        "dashboard/home.html", figures=dashboard.desk_figures(db.session, today, zone), today=today
    )


@bp.app_template_filter("clinic_datetime")
def clinic_datetime(value) -> str:
    """A UTC instant shown on the clinic's wall clock, as YYYY-MM-DD HH:MM."""
    if value is None:
        return ""
    zone = ZoneInfo(current_app.config["CLINIC_TIMEZONE"])
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
