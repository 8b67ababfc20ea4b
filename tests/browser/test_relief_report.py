"""A manager reads the relief report in a real browser: filters, the chart changes, the table too."""

from datetime import UTC, datetime, time, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from clinic import clock
from clinic.extensions import db
from clinic.models import Intervention, PainScore, Patient, ProcedureType, StaffUser
from tests.browser.helpers.live import sign_in, snap

pytestmark = pytest.mark.browser

PHYSICIAN = "dr.reliefreport"
PHYSICIAN_NAME = "Dr. Mirela Voss"


def seed_relief(live_server) -> int:
    """Procedures of one physician of our own, so other tests' data never blurs the figures.

    ESI-TF: 7 patients report 90% relief at two weeks and 3 report 60%; RFA: 6 report 60%.
    So at a 50% threshold all 16 respond, at 80% only the seven ESI-TF patients do. Half of
    each group's relief ends (an NRS of 7 of baseline 8), the rest is still going at the last
    score. Returns the physician's id.
    """
    app = live_server.app
    with app.app_context():
        physician = db.session.execute(
            select(StaffUser).where(StaffUser.username == PHYSICIAN)
        ).scalar_one_or_none()
        if physician is not None:
            return physician.id
        physician = StaffUser(
            username=PHYSICIAN, full_name=PHYSICIAN_NAME, role="physician", password_hash=None
        )
        db.session.add(physician)
        today = clock.clinic_today(app.config["CLINIC_TIMEZONE"])
        kinds = {
            code: db.session.execute(
                select(ProcedureType).where(ProcedureType.code == code)
            ).scalar_one()
            for code in ("ESI-TF", "RFA")
        }
        count = db.session.execute(select(func.count()).select_from(Patient)).scalar_one()
        plan = [("ESI-TF", 90)] * 7 + [("ESI-TF", 60)] * 3 + [("RFA", 60)] * 6
        for n, (code, percent) in enumerate(plan):
            patient = Patient(
                mrn=f"K{count + n:07d}",
                first_name="Relief",
                last_name=f"Reportpatient{n}",
                date_of_birth=datetime(1961, 3, 1 + n).date(),
                sex="female" if n % 2 else "male",
                condition="herniated_disc" if n % 3 else "spinal_stenosis",
            )
            performed_on = today - timedelta(days=420 + 9 * n)
            starts_at = datetime.combine(performed_on, time(7), tzinfo=UTC)
            intervention = Intervention(
                patient=patient,
                physician=physician,
                procedure_type=kinds[code],
                starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=30),
                status="completed",
                performed_on=performed_on,
                baseline_nrs=8,
                spinal_level="L4-L5",
                laterality="left",
            )
            db.session.add(intervention)
            follow_ups = [(14, 2, percent)]
            if n % 2:  # relief ended: an unrelieved score later on
                follow_ups.append((40 + 12 * n, 7, None))
            else:  # still relieved at the last score
                follow_ups.append((90 + 15 * n, 2, percent))
            for days, nrs, reported in follow_ups:
                db.session.add(
                    PainScore(
                        patient=patient,
                        intervention=intervention,
                        recorded_on=performed_on + timedelta(days=days),
                        nrs=nrs,
                        percent_relief=reported,
                        source="phone",
                    )
                )
        db.session.commit()
        return physician.id


def figures_row(page, code: str):
    return page.locator("table.relief-table tbody tr").filter(has_text=code)


def chart(page):
    return page.get_by_role("figure").get_by_role("img")


def expect_chart_loaded(page) -> None:
    image = chart(page)
    expect(image).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )


def test_manager_filters_the_relief_report_and_the_chart_and_table_follow(page, live_server):
    physician_id = seed_relief(live_server)
    sign_in(page, live_server, "manager")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Relief report").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Relief per procedure type")

    # Narrow the report to one physician: the chart is drawn for that selection.
    page.get_by_label("Physician").select_option(label=PHYSICIAN_NAME)
    page.get_by_label("Performed to").fill(datetime.now(UTC).date().isoformat())
    with page.expect_response(lambda r: "/reports/relief/chart.svg" in r.url) as first:
        page.get_by_role("button", name="Show report").click()
    assert first.value.status == 200
    assert first.value.headers["content-type"].startswith("image/svg+xml")
    expect(page.locator(".relief-selection")).to_contain_text(f"by {PHYSICIAN_NAME}")
    expect_chart_loaded(page)
    src_at_50 = chart(page).get_attribute("src")
    assert f"physician_id={physician_id}" in src_at_50 and "threshold=50" in src_at_50
    esi = figures_row(page, "ESI-TF")
    expect(esi.locator("td").nth(0)).to_have_text("10")  # completed
    expect(esi.locator("td").nth(2)).to_have_text("10")  # responders
    expect(figures_row(page, "RFA").locator("td").nth(2)).to_have_text("6")
    expect(page.get_by_role("figure")).to_contain_text("ESI-TF: 10 responders")
    expect(page.locator(".relief-comparison")).to_contain_text("log-rank χ²")

    # A stricter threshold: fewer responders, a different chart, the filters kept.
    page.get_by_label("Relief threshold (%)").fill("80")
    with page.expect_response(lambda r: "/reports/relief/chart.svg" in r.url) as second:
        page.get_by_role("button", name="Show report").click()
    assert second.value.status == 200
    expect_chart_loaded(page)
    src_at_80 = chart(page).get_attribute("src")
    assert src_at_80 != src_at_50 and "threshold=80" in src_at_80
    expect(page.get_by_label("Physician")).to_have_value(str(physician_id))
    expect(figures_row(page, "ESI-TF").locator("td").nth(2)).to_have_text("7")
    expect(figures_row(page, "RFA").locator("td").nth(2)).to_have_text("0")
    expect(page.locator(".relief-words")).to_contain_text(
        "of 6 completed, 6 were evaluable and 0 responded (0.0%)."
    )
    expect(page.locator(".relief-comparison")).to_contain_text("at least two groups")
    snap(page, "relief-report")

    # Back to 50%, grouped by condition: the same chart URL pattern, grouped anew.
    page.get_by_role("link", name="50%").click()
    page.get_by_label("Group by").select_option("condition")
    with page.expect_response(lambda r: "/reports/relief/chart.svg" in r.url) as third:
        page.get_by_role("button", name="Show report").click()
    assert third.value.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Relief per condition")
    expect(figures_row(page, "Herniated disc")).to_have_count(1)
    expect_chart_loaded(page)
    snap(page, "relief-report-by-condition")


def test_a_range_that_runs_backwards_is_explained_and_kept(page, live_server):
    sign_in(page, live_server, "physician")
    page.goto("/reports/relief")
    page.get_by_label("Performed from").fill("2025-06-01")
    page.get_by_label("Performed to").fill("2025-01-31")
    page.get_by_role("button", name="Show report").click()
    expect(page.get_by_role("alert")).to_contain_text("The report was not run")
    expect(page.get_by_role("alert")).to_contain_text("is before the “Performed from” date")
    expect(page.get_by_label("Performed from")).to_have_value("2025-06-01")
    expect(page.get_by_label("Performed to")).to_have_value("2025-01-31")
    expect(page.get_by_role("figure")).to_have_count(0)
    snap(page, "relief-report-refused")
