"""Shared by the tests: moved out of tests.test_imports so no test module imports another."""

import io
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from clinic.models import Room, StaffUser
from clinic.services.interchange.imports import (
    COLUMNS,
    OPTIONAL_COLUMNS,
    import_files,
)

ZONE = ZoneInfo("Europe/Paris")


TODAY = date(2025, 6, 2)


NAMES = {
    "patients": "patients.csv",
    "interventions": "interventions.csv",
    "pain_scores": "pain_scores.csv",
    "medications": "medications.csv",
}


PATIENTS = [
    "C9000001,Ana,Okafor,1960-05-17,female,555-0101,ana@example.org,herniated_disc",
    "C9000002,Ben,Lindgren,1948-11-02,male,,,spinal_stenosis",
    "C9000003,Chloé,Moreau,1975-02-28,other,,,facet_joint_arthritis",
]


INTERVENTIONS = [
    "R-1,C9000001,ESI-TF,dr.lee,2025-01-06T09:00,2025-01-06T09:30,Suite 1,completed,2025-01-06,7,L4-L5,left,Tolerated well",
    "R-2,C9000002,MBB,dr.kim,2025-01-06T09:00,2025-01-06T09:45,Suite 2,scheduled,,,,,",
]


SCORES = [
    "R-1,2025-01-20,3,60,phone",
    "R-1,2025-02-17,4,,visit",
]


def csv_text(kind: str, rows: list[str], newline: str = "\n", bom: bool = False) -> str:
    # Files as first written, without the later, optional columns (tests/test_reminders_consent.py
    # has the patients file with its consent columns).
    header = [name for name in COLUMNS[kind] if name not in OPTIONAL_COLUMNS.get(kind, ())]
    return ("\ufeff" if bom else "") + newline.join([",".join(header), *rows]) + newline


def run(session, dry_run: bool = False, batch_size: int | None = None, **files):
    """Import files given as lists of rows (the header is added) or as whole texts or bytes."""
    streams = {}
    for kind, content in files.items():
        if isinstance(content, list):
            content = csv_text(kind, content)
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        streams[kind] = (NAMES[kind], io.BytesIO(data))
    options = {"today": TODAY}
    if batch_size is not None:
        options["batch_size"] = batch_size
    return import_files(session, streams, dry_run, ZONE, **options)


def messages(report) -> list[str]:
    return [str(problem) for problem in report.problems]


@pytest.fixture
def catalogue(db_session):
    """Two physicians, a manager and two rooms, as the files name them."""
    db_session.add_all(
        [
            StaffUser(username="dr.lee", full_name="Dr. Lee", role="physician"),
            StaffUser(username="dr.kim", full_name="Dr. Kim", role="physician"),
            StaffUser(username="morgan", full_name="Morgan Manager", role="manager"),
            Room(name="Suite 1"),
            Room(name="Suite 2"),
        ]
    )
    db_session.flush()
    return db_session


def good(session, **overrides):
    files = {"patients": PATIENTS, "interventions": INTERVENTIONS, "pain_scores": SCORES}
    files.update(overrides)
    return run(session, **files)


def counts(report) -> dict[str, tuple[int, int, int]]:
    return {c.kind: (c.new, c.changed, c.unchanged) for c in report.files}
