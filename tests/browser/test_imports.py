"""A manager imports CSV files in a real browser: mistakes first, then the corrected files."""

import uuid

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from clinic.extensions import db
from clinic.models import Room, StaffUser
from clinic.services.interchange.imports import COLUMNS
from clinic.services.interchange.imports.report import OPTIONAL_COLUMNS
from tests.browser.helpers.live import sign_in, snap

pytestmark = pytest.mark.browser


def csv_file(name: str, kind: str, rows: list[str]) -> dict:
    """A file as a spreadsheet of the first round writes it: without the later, optional columns."""
    header = [name for name in COLUMNS[kind] if name not in OPTIONAL_COLUMNS.get(kind, ())]
    text = "\r\n".join([",".join(header), *rows]) + "\r\n"
    return {"name": name, "mimeType": "text/csv", "buffer": text.encode("utf-8")}


@pytest.fixture
def import_physician_and_room(live_server):
    """The physician and room the files name, in the live server's database (made once)."""
    with live_server.app.app_context():
        if (
            db.session.execute(
                select(StaffUser).where(StaffUser.username == "dr.import")
            ).scalar_one_or_none()
            is None
        ):
            db.session.add(
                StaffUser(username="dr.import", full_name="Dr. Ines Import", role="physician")
            )
            db.session.add(Room(name="Import suite"))
            db.session.commit()


def test_manager_fixes_the_files_the_dry_run_refused_then_imports_them(
    page, live_server, import_physician_and_room
):
    tag = uuid.uuid4().hex[:6].upper()
    surname = f"Importova{tag}"
    patients = [
        f"IMP{tag}1,Zofia,{surname},1961-03-14,female,555-0142,,herniated_disc",
        f"IMP{tag}2,Tomasz,{surname},1957-10-02,male,,,spinal_stenosis",
    ]
    interventions = [
        f"IMP-{tag}-1,IMP{tag}1,ESI-TF,dr.import,2025-01-13T09:00,2025-01-13T09:30,"
        "Import suite,completed,2025-01-13,8,L5-S1,right,",
        f"IMP-{tag}-2,IMP{tag}2,MBB,dr.import,2025-01-13T10:00,2025-01-13T10:30,"
        "Import suite,completed,2025-01-13,6,L4-L5,bilateral,",
    ]
    scores = [f"IMP-{tag}-1,2025-01-27,3,60,phone", f"IMP-{tag}-2,2025-01-14,1,85,visit"]
    # The mistakes a spreadsheet makes: a sex written "F", a physician's full name, a date
    # the other way round, a score for a procedure that is in neither file.
    broken_patients = [patients[0].replace(",female,", ",F,"), patients[1]]
    broken_interventions = [
        interventions[0].replace("dr.import", "Dr. Ines Import"),
        interventions[1],
    ]
    broken_scores = [
        scores[0].replace("2025-01-27", "27/01/2025"),
        scores[1],
        "IMP-X,2025-02-01,4,,phone",
    ]

    sign_in(page, live_server, "manager")
    page.get_by_role("link", name="Imports").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Import patients, interventions, pain scores and medications"
    )
    page.get_by_label("Patients").set_input_files(
        csv_file("patients.csv", "patients", broken_patients)
    )
    page.get_by_label("Interventions").set_input_files(
        csv_file("interventions.csv", "interventions", broken_interventions)
    )
    page.get_by_label("Pain scores").set_input_files(
        csv_file("scores.csv", "pain_scores", broken_scores)
    )
    snap(page, "import-upload")
    page.get_by_role("button", name="Check the files").click()

    expect(page.get_by_role("alert")).to_contain_text(
        "Nothing can be imported yet: 4 problems in the files."
    )
    problems = page.locator(".import-problems li")
    expect(problems).to_have_text(
        [
            'patients.csv:2: sex: "F" is not one of female, male, other, unknown',
            'interventions.csv:2: physician: no physician account is called "Dr. Ines Import"',
            'scores.csv:2: recorded_on: "27/01/2025" is not a date as YYYY-MM-DD',
            'scores.csv:4: intervention_ref: no intervention has ref "IMP-X" in the database or '
            "in interventions.csv",
        ]
    )
    expect(page.get_by_role("button", name="Import these files")).to_have_count(0)
    snap(page, "import-preview-problems")
    page.emulate_media(media="print")
    snap(page, "import-preview-problems-print")
    page.emulate_media(media="screen")

    # The corrected files, through the form under the problems.
    page.get_by_label("Patients").set_input_files(csv_file("patients.csv", "patients", patients))
    page.get_by_label("Interventions").set_input_files(
        csv_file("interventions.csv", "interventions", interventions)
    )
    page.get_by_label("Pain scores").set_input_files(csv_file("scores.csv", "pain_scores", scores))
    page.get_by_role("button", name="Check the files").click()
    expect(page.get_by_role("status")).to_contain_text("The files can be imported.")
    counts = page.get_by_role("table")
    expect(counts).to_contain_text("patients.csv")
    rows = counts.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0).locator("td")).to_have_text(["patients", "2", "2", "0", "0"])
    expect(rows.nth(2).locator("td")).to_have_text(["pain scores", "2", "2", "0", "0"])
    snap(page, "import-preview")

    page.get_by_role("button", name="Import these files").click()
    expect(page.get_by_role("status")).to_have_text(
        "Imported. patients.csv: 2 new, 0 changed, 0 unchanged; interventions.csv: 2 new, "
        "0 changed, 0 unchanged; scores.csv: 2 new, 0 changed, 0 unchanged."
    )
    snap(page, "import-done")

    page.goto(f"/patients?q={surname}")
    table = page.get_by_role("table")
    expect(table).to_contain_text(f"{surname}, Zofia")
    expect(table).to_contain_text(f"{surname}, Tomasz")
    expect(table).to_contain_text(f"IMP{tag}1")
    snap(page, "import-patients")

    # What was given at the first epidural, from the clinic's old procedure log: a unit typed
    # into the dose first, then corrected.
    header = ",".join(COLUMNS["medications"])
    given = [f",IMP-{tag}-1,IMP{tag}1,,triamcinolone,80,,,L5-S1 transforaminal"]
    given.append(f",IMP-{tag}-1,,,lidocaine,20,,,skin")

    def medications_file(rows: list[str]) -> dict:
        text = "\r\n".join([header, *rows]) + "\r\n"
        return {"name": "given.csv", "mimeType": "text/csv", "buffer": text.encode("utf-8")}

    page.goto("/imports")
    page.get_by_label("Medications").set_input_files(
        medications_file([given[0].replace(",80,", ",80 mg,"), given[1]])
    )
    page.get_by_role("button", name="Check the files").click()
    expect(page.locator(".import-problems li")).to_have_text(
        ['given.csv:2: dose_mg: "80 mg" is not a number with at most two decimal places']
    )
    page.get_by_label("Medications").set_input_files(medications_file(given))
    page.get_by_role("button", name="Check the files").click()
    expect(page.get_by_role("status")).to_contain_text("The files can be imported.")
    page.get_by_role("button", name="Import these files").click()
    expect(page.get_by_role("status")).to_have_text(
        "Imported. given.csv: 2 new, 0 changed, 0 unchanged."
    )
    page.goto(f"/patients?q={surname}")
    page.get_by_role("link", name=f"{surname}, Zofia").click()
    procedures = page.get_by_role("table").filter(has_text="Complications and notes")
    expect(procedures).to_contain_text(
        "triamcinolone 80 mg (L5-S1 transforaminal), lidocaine 20 mg"
    )
    snap(page, "import-medications-patient")
