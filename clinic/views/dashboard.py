"""Today at a glance, for the signed-in role; and the navigation each role sees."""

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template
from flask_login import current_user

from clinic.extensions import db
from clinic.security import ALL_ROLES, CLINICAL_ROLES, role_required
from clinic.services import dashboard
from clinic.views.common import clinic_today, clinic_zone
from clinic.views.params import month_arg

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


@bp.route("/")
@role_required(*ALL_ROLES)
def home():
    """Today at a glance for the signed-in role."""
    today, zone = clinic_today(), clinic_zone()
    if current_user.role in ("manager", "admin"):
        figures = dashboard.manager_figures(db.session, today, zone, month=month_arg())
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


@bp.app_template_filter("grouped")
def grouped(value: int) -> str:
    """A count with its thousands grouped, as a clerk reads it: 14,015, not 14015."""
    return f"{value:,}"
