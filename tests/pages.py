"""Every page of the app: its endpoint, URL pattern, who may use it, how to build an example URL.

One list drives the role tests (tests/test_access.py), the accessibility test
(tests/browser/test_accessibility.py), and the fuzz test and page benchmark (docs/rules.md, Roles),
so a new page joins them all by being added here. A route the app serves that is missing from
``PAGES`` fails ``test_every_route_is_in_the_matrix``: nobody ships a page without deciding who
may see it.

A URL pattern names the records it needs as ``{patient_id}``, ``{referral_id}``… An example URL
is the pattern filled from a dict of ids: the records a test made (test_access's ``records``
fixture), or those ``example_records`` picks out of a seeded database (the demo data).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from string import Formatter

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic.models import (
    ROLES,
    Drug,
    Intervention,
    Patient,
    ProcedureType,
    Referral,
    RepeatEligibilityRule,
    Room,
    ScsDevice,
    StaffUser,
    SteroidLimit,
    Visit,
)

ALL = frozenset(ROLES)
# Every role reads the referral pipeline and the schedule (docs/rules.md, Roles).
CLINICAL = frozenset({"front_desk", "physician", "manager", "admin"})
# Booking and changing bookings: the front desk and physicians (section 1: managers never
# edit clinical records, administrators keep accounts).
SCHEDULERS = frozenset({"front_desk", "physician"})
# Registering and editing patients: the front desk, physicians, and administrators (who alone
# may correct an MRN); managers read.
REGISTRARS = frozenset({"front_desk", "physician", "admin"})
PHYSICIAN = frozenset({"physician"})
# Sharing a record as FHIR: physicians and administrators (issue 6).
FHIR = frozenset({"physician", "admin"})
REPORTERS = frozenset({"physician", "manager", "admin"})
# The payer's page of a planned procedure (issue 20).
PAYERS = frozenset({"front_desk", "physician", "manager"})
OFFICE = frozenset({"manager", "admin"})
ADMIN = frozenset({"admin"})

# What a GET of the page gives back.
HTML = "page"  # a page to read
FORM = "form"  # a page whose GET renders a form and whose POST saves it
ACTION = "action"  # POST only: a button on another page; GET answers 405
FILE = "file"  # a download or an image (CSV, SVG, JSON), not a page of its own
KINDS = (HTML, FORM, ACTION, FILE)


@dataclass(frozen=True)
class Page:
    endpoint: str
    url: str  # the pattern; ``{patient_id}`` and the like are filled from example records
    roles: frozenset[str]
    kind: str = HTML
    # More URLs of the same endpoint worth visiting: another view, a filter, its other rule.
    variants: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind
        assert self.roles <= ALL, self.roles - ALL

    @property
    def is_html(self) -> bool:
        """A page a person reads in the browser (what the accessibility test checks)."""
        return self.kind in (HTML, FORM)

    @property
    def needs(self) -> set[str]:
        """The record ids the URL pattern and its variants are filled with."""
        return {
            name
            for pattern in (self.url, *self.variants)
            for _, name, _, _ in Formatter().parse(pattern)
            if name
        }

    def example(self, records: Mapping[str, int]) -> str:
        return self.url.format(**records)

    def examples(self, records: Mapping[str, int]) -> list[str]:
        return [pattern.format(**records) for pattern in (self.url, *self.variants)]


PAGES: tuple[Page, ...] = (
    Page("dashboard.home", "/", ALL),
    Page("patients.index", "/patients", ALL, variants=("/patients?q=a",)),
    Page("patients.show", "/patients/{patient_id}", ALL),
    Page("patients.new", "/patients/new", REGISTRARS, FORM),
    Page("patients.edit", "/patients/{patient_id}/edit", REGISTRARS, FORM),
    Page("patients.archive", "/patients/{patient_id}/archive", REGISTRARS, ACTION),
    Page("referrals.index", "/referrals", CLINICAL, variants=("/referrals?status=received",)),
    Page("referrals.new", "/referrals/new", SCHEDULERS, FORM),
    Page("referrals.show", "/referrals/{referral_id}", CLINICAL),
    Page("referrals.move", "/referrals/{referral_id}/status", SCHEDULERS, ACTION),
    Page(
        "scheduling.index",
        "/schedule",
        CLINICAL,
        variants=("/schedule?view=week", "/schedule?by=room", "/schedule?view=week&by=room"),
    ),
    # The printable day sheet: a page per physician booked that day (issue 14).
    Page("scheduling.sheet", "/schedule/sheet", SCHEDULERS),
    Page("scheduling.new", "/schedule/new", SCHEDULERS, FORM),
    Page(
        "scheduling.find",
        "/schedule/find",
        SCHEDULERS,
        variants=("/schedule/find?what=RFA&physician=any", "/schedule/find?what=consult"),
    ),
    Page(
        "scheduling.show",
        "/schedule/bookings/{booking_id}",
        CLINICAL,
        variants=("/schedule/bookings/{intervention_id}",),
    ),
    Page(
        "scheduling.reschedule",
        "/schedule/bookings/{booking_id}/reschedule",
        SCHEDULERS,
        FORM,
    ),
    Page("scheduling.change_status", "/schedule/bookings/{booking_id}/status", SCHEDULERS, ACTION),
    Page(
        "procedures.complete",
        "/schedule/bookings/{booking_id}/complete",
        PHYSICIAN,
        FORM,
        variants=("/schedule/bookings/{intervention_id}/complete",),
    ),
    Page("procedures.new_score", "/patients/{patient_id}/pain-scores/new", SCHEDULERS, FORM),
    Page("procedures.pain_chart", "/patients/{patient_id}/pain-chart.svg", ALL, FILE),
    Page("followup.index", "/worklist", SCHEDULERS),
    Page("followup.record_score", "/worklist/score", SCHEDULERS, ACTION),
    Page("followup.record_attempt", "/worklist/attempt", SCHEDULERS, ACTION),
    # The discharge sheet and the self-report link (issue 15): the front desk and physicians.
    Page(
        "discharge.sheet",
        "/patients/{intervention_patient_id}/interventions/{intervention_id}/discharge",
        SCHEDULERS,
    ),
    Page(
        "discharge.issue_link",
        "/patients/{intervention_patient_id}/interventions/{intervention_id}/link",
        SCHEDULERS,
        ACTION,
    ),
    Page(
        "discharge.revoke_link",
        "/patients/{intervention_patient_id}/interventions/{intervention_id}/link/revoke",
        SCHEDULERS,
        ACTION,
    ),
    Page(
        "discharge.paper_diary",
        "/patients/{block_patient_id}/interventions/{block_id}/diary",
        SCHEDULERS,
        FORM,
    ),
    Page("fhir.patient_bundle", "/patients/{patient_id}/fhir.json", FHIR, FILE),
    # The payer's page (issue 20): the front desk, physicians and managers.
    Page(
        "payers.eligibility",
        "/patients/{patient_id}/eligibility?what=RFA&level=L4-L5",
        PAYERS,
        variants=("/patients/{patient_id}/eligibility?what=SCS-IMPLANT",),
    ),
    # Spinal cord stimulators: physicians write; everyone who reads the record reads them.
    Page("devices.history", "/patients/{patient_id}/stimulator", ALL),
    Page("devices.new", "/patients/{patient_id}/devices/new", PHYSICIAN, FORM),
    Page("devices.edit", "/devices/{device_id}/edit", PHYSICIAN, FORM),
    Page("devices.explant", "/devices/{device_id}/explant", PHYSICIAN, FORM),
    Page("devices.new_adjustment", "/devices/{device_id}/adjustments/new", PHYSICIAN, FORM),
    Page("devices.visit_programming", "/devices/visits/{visit_id}/programming", PHYSICIAN),
    Page("relief.relief", "/reports/relief", REPORTERS),
    Page("relief.relief_chart", "/reports/relief/chart.svg", REPORTERS, FILE),
    Page("exports.index", "/exports", OFFICE),
    Page("exports.download", "/exports/patients.csv", OFFICE, FILE),
    Page("imports.index", "/imports", OFFICE),
    Page("imports.preview", "/imports/preview", OFFICE, ACTION),
    Page("imports.confirm", "/imports/confirm", OFFICE, ACTION),
    Page("admin.users", "/admin/users", ADMIN),
    Page("admin.new_user", "/admin/users/new", ADMIN, FORM),
    Page("admin.edit_user", "/admin/users/{user_id}", ADMIN, FORM),
    Page("admin.rooms", "/admin/rooms", ADMIN),
    Page("admin.edit_room", "/admin/rooms/new", ADMIN, FORM, variants=("/admin/rooms/{room_id}",)),
    Page("admin.procedures", "/admin/procedures", ADMIN),
    Page(
        "admin.edit_procedure",
        "/admin/procedures/new",
        ADMIN,
        FORM,
        variants=("/admin/procedures/{procedure_type_id}",),
    ),
    Page("admin.eligibility_rules", "/admin/eligibility-rules", ADMIN),
    Page("admin.visit_lengths", "/admin/visit-lengths", ADMIN, FORM),
    # Physicians' sessions: kept by administrators and the front desk (issue 14).
    Page("admin.sessions", "/admin/sessions", frozenset({"admin", "front_desk"}), FORM),
    Page(
        "admin.remove_session", "/admin/sessions/remove", frozenset({"admin", "front_desk"}), ACTION
    ),
    Page("admin.edit_eligibility_rule", "/admin/eligibility-rules/{rule_id}", ADMIN, FORM),
    # The drug catalogue and the corticosteroid limits (issue 16).
    Page("admin.drugs", "/admin/drugs", ADMIN),
    Page("admin.edit_drug", "/admin/drugs/new", ADMIN, FORM, variants=("/admin/drugs/{drug_id}",)),
    Page("admin.edit_drug_limit", "/admin/drugs/limits/{limit_id}", ADMIN, FORM),
)
BY_ENDPOINT: dict[str, Page] = {page.endpoint: page for page in PAGES}
assert len(BY_ENDPOINT) == len(PAGES), "an endpoint is listed twice"

# Served to anyone: static files, signing in and out, and a patient's self-report link (its
# example token names no link: the page to check is the plain "link does not work" one).
EXAMPLE_TOKEN = "A" * 24
PUBLIC_URLS = {
    "auth.login": "/login",
    "auth.logout": "/logout",
    "selfreport.show": f"/r/{EXAMPLE_TOKEN}",
    "selfreport.answer": f"/r/{EXAMPLE_TOKEN}/answer",
    "selfreport.diary": f"/r/{EXAMPLE_TOKEN}/diary",
}
STATIC_ENDPOINTS = {"static", "bootstrap.static"}
PUBLIC_ENDPOINTS = STATIC_ENDPOINTS | set(PUBLIC_URLS)

# Ids that only have to make the patterns match a route (no record behind them).
SAMPLE_IDS = {
    name: 1
    for name in (
        "patient_id",
        "referral_id",
        "booking_id",
        "intervention_id",
        "visit_id",
        "device_id",
        "user_id",
        "room_id",
        "procedure_type_id",
        "rule_id",
        "drug_id",
        "limit_id",
        "intervention_patient_id",
        "block_id",
        "block_patient_id",
    )
}


def pages_for(role: str, kinds: tuple[str, ...] = (HTML, FORM)) -> list[Page]:
    """The pages ``role`` may open, in list order."""
    return [page for page in PAGES if role in page.roles and page.kind in kinds]


def _first(session: Session, statement) -> int | None:
    return session.execute(statement.limit(1)).scalar()


def example_records(session: Session) -> dict[str, int]:
    """The ids the URL patterns are filled with, picked out of a seeded database (the demo).

    Where there is a choice it takes the record that shows the most: the patient with a
    stimulator (whose page has every section), a booking that can still be completed.
    """
    device = session.execute(select(ScsDevice).order_by(ScsDevice.id).limit(1)).scalar()
    patient_id = device.patient_id if device else _first(session, select(Patient.id))
    visit = select(Visit.id).order_by(Visit.id)
    booking_id = _first(
        session,
        visit.where(Visit.status == "scheduled", Visit.visit_kind != "stimulator_adjustment"),
    ) or _first(session, visit)
    intervention = select(Intervention.id).order_by(Intervention.id)
    records = {
        "patient_id": patient_id,
        "referral_id": _first(session, select(Referral.id).order_by(Referral.id)),
        "booking_id": booking_id,
        "intervention_id": _first(session, intervention.where(Intervention.status == "scheduled"))
        or _first(session, intervention),
        "visit_id": _first(session, visit.where(Visit.visit_kind == "stimulator_adjustment"))
        or booking_id,
        "device_id": device.id if device else None,
        "user_id": _first(session, select(StaffUser.id).order_by(StaffUser.id)),
        "room_id": _first(session, select(Room.id).order_by(Room.id)),
        "procedure_type_id": _first(session, select(ProcedureType.id).order_by(ProcedureType.id)),
        "rule_id": _first(
            session, select(RepeatEligibilityRule.id).order_by(RepeatEligibilityRule.id)
        ),
    }
    records["drug_id"] = _first(session, select(Drug.id).order_by(Drug.id))
    records["limit_id"] = _first(session, select(SteroidLimit.id).order_by(SteroidLimit.id))
    records["intervention_patient_id"] = _first(
        session,
        select(Intervention.patient_id).where(Intervention.id == records["intervention_id"]),
    )
    block = session.execute(
        select(Intervention.id, Intervention.patient_id)
        .join(ProcedureType)
        .where(ProcedureType.diagnostic.is_(True), Intervention.status == "completed")
        .order_by(Intervention.id)
        .limit(1)
    ).first()
    records["block_id"], records["block_patient_id"] = block or (None, None)
    missing = sorted(name for name, value in records.items() if value is None)
    assert not missing, f"the seeded database has no record for {missing}"
    return records
