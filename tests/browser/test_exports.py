"""A manager downloads an export in a real browser: filters set, the file a CSV with a BOM."""

import csv
import io
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from clinic import clock
from clinic.extensions import db
from clinic.models import Patient
from clinic.services.interchange.csvio import PATIENTS_COLUMNS
from tests.browser.helpers.live import sign_in, snap

pytestmark = pytest.mark.browser

HEADER = ",".join(PATIENTS_COLUMNS)  # the patients file, consent columns included


def seed_patients(live_server) -> None:
    """Two patients of our own, one with a name a spreadsheet would run as a formula."""
    with live_server.app.app_context():
        if db.session.execute(select(Patient).where(Patient.mrn == "E0000001")).scalar():
            return
        for mrn, first_name, last_name in [
            ("E0000001", "Zoë", "Export, Jr."),
            ("E0000002", '=HYPERLINK("x")', "Formula"),
        ]:
            db.session.add(
                Patient(
                    mrn=mrn,
                    first_name=first_name,
                    last_name=last_name,
                    date_of_birth=date(1970, 6, 1),
                    sex="female",
                    condition="spinal_stenosis",
                )
            )
        db.session.commit()


def test_manager_sets_a_date_filter_and_downloads_patients_csv(page, live_server):
    seed_patients(live_server)
    sign_in(page, live_server, "manager")
    page.get_by_role("link", name="Exports", exact=True).click()
    expect(page.get_by_role("heading", name="Exports", level=1)).to_be_visible()
    expect(page.get_by_role("row", name="Outcomes")).to_contain_text("performed date")

    page.get_by_label("From", exact=True).fill("2025-01-01")
    page.get_by_label("To", exact=True).fill("2025-12-31")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_label("From", exact=True)).to_have_value("2025-01-01")
    snap(page, "exports")

    with page.expect_download() as info:
        page.get_by_role("button", name="Download patients.csv").click()
    download = info.value
    today = clock.clinic_today(live_server.app.config["CLINIC_TIMEZONE"])
    assert download.suggested_filename == f"clinic-patients-{today.isoformat()}.csv"
    query = parse_qs(urlsplit(download.url).query)
    assert query["from"] == ["2025-01-01"] and query["to"] == ["2025-12-31"]

    data = Path(download.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf" + HEADER.encode() + b"\r\n")
    rows = {row["mrn"]: row for row in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))}
    assert rows["E0000001"]["last_name"] == "Export, Jr."
    assert rows["E0000002"]["first_name"] == '\'=HYPERLINK("x")'


def test_a_bad_filter_is_shown_beside_its_field(page, live_server):
    sign_in(page, live_server, "manager")
    page.goto("/exports")
    page.get_by_label("Relief threshold (%)").fill("0")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_text("a whole number from 1 to 100").first).to_be_visible()
    snap(page, "exports-bad-threshold")
