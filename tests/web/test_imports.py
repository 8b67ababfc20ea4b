"""CSV import (docs/formats.md, issue 6): all or nothing, every problem named, idempotent.

The service is driven directly with in-memory files; the command line and the web upload are
driven through Click's runner and Flask's test client. Every test runs on SQLite and, when
``TEST_DATABASE_URL`` is set, on PostgreSQL.
"""

import csv
import gc
import html
import io
import re
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from clinic.extensions import db
from clinic.models import AuditEvent, Booking, Intervention, PainScore, Patient, Room, StaffUser
from clinic.services.filters import ReportFilters
from clinic.services.identity.audit import Actor, act_as
from clinic.services.interchange.csvio import csv_lines
from clinic.services.interchange.exports import EXPORTS
from clinic.services.interchange.imports import (
    COLUMNS,
    ImportFailed,
)
from clinic.services.patients import patient_search
from clinic.services.scheduling.bookings import describe
from tests.factories import InterventionFactory, PainScoreFactory, PatientFactory, VisitFactory
from tests.helpers.app import csrf_token
from tests.helpers.imports import (
    INTERVENTIONS,
    NAMES,
    PATIENTS,
    SCORES,
    ZONE,
    counts,
    csv_text,
    good,
    messages,
    run,
)

# One more row of each kind that refers to nothing else in the files, to spoil one cell at a time.
PATIENT = "C9000004,Dev,Patel,1990-09-09,male,,,other"
INTERVENTION = "R-9,C9000003,RFA,dr.lee,2025-01-07T10:00,2025-01-07T10:30,Suite 1,scheduled,,,,,"
SCORE = "R-1,2025-03-03,5,20,phone"


def with_cell(row: str, kind: str, **cells: str) -> str:
    values = row.split(",")
    for column, value in cells.items():
        values[COLUMNS[kind].index(column)] = value
    return ",".join(values)


def contents(session, skip=("audit_event",)) -> dict[str, list[tuple]]:
    """Every row of every table (but the audit trail), to prove that nothing changed."""
    session.expire_all()
    return {
        table.name: [
            tuple(row)
            for row in session.execute(select(table).order_by(*table.primary_key.columns))
        ]
        for table in db.metadata.sorted_tables
        if table.name not in skip
    }


def audit_ids(session) -> set[int]:
    return set(session.execute(select(AuditEvent.id)).scalars())


def imported_patient(session, mrn: str) -> Patient | None:
    session.expire_all()
    return session.execute(select(Patient).where(Patient.mrn == mrn)).scalar_one_or_none()


def imported_intervention(session, ref: str) -> Intervention | None:
    session.expire_all()
    return session.execute(select(Intervention).where(Intervention.ref == ref)).scalar_one_or_none()


# Good files ------------------------------------------------------------------------------------


def test_good_files_are_imported_with_their_counts(db_session, catalogue):
    report = good(db_session)
    assert messages(report) == []
    assert report.imported
    assert counts(report) == {
        "patients": (3, 0, 0),
        "interventions": (2, 0, 0),
        "pain_scores": (2, 0, 0),
    }
    ana = imported_patient(db_session, "C9000001")
    assert (ana.first_name, ana.last_name, ana.date_of_birth) == (
        "Ana",
        "Okafor",
        date(1960, 5, 17),
    )
    assert (ana.sex, ana.phone, ana.email, ana.condition) == (
        "female",
        "555-0101",
        "ana@example.org",
        "herniated_disc",
    )
    assert ana.version == 1 and not ana.archived
    assert imported_patient(db_session, "C9000002").phone is None
    # Found by the accent-blind search like any other patient.
    assert imported_patient(db_session, "C9000003").name_key == "moreau chloe"
    done = imported_intervention(db_session, "R-1")
    assert done.patient_id == ana.id
    assert done.procedure_type.code == "ESI-TF"
    assert done.physician.username == "dr.lee"
    assert done.room.name == "Suite 1"
    # 09:00 in Paris in January is 08:00 UTC.
    assert done.starts_at == datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    assert done.ends_at == datetime(2025, 1, 6, 8, 30, tzinfo=UTC)
    assert (done.status, done.performed_on, done.baseline_nrs) == (
        "completed",
        date(2025, 1, 6),
        7,
    )
    assert (done.spinal_level, done.laterality, done.notes) == ("L4-L5", "left", "Tolerated well")
    planned = imported_intervention(db_session, "R-2")
    assert planned.status == "scheduled"
    assert planned.performed_on is None and planned.baseline_nrs is None
    assert planned.laterality is None and planned.notes is None
    scores = db_session.execute(select(PainScore).order_by(PainScore.recorded_on)).scalars().all()
    assert [(s.recorded_on, s.nrs, s.percent_relief, s.source) for s in scores] == [
        (date(2025, 1, 20), 3, 60, "phone"),
        (date(2025, 2, 17), 4, None, "visit"),
    ]
    assert {s.intervention_id for s in scores} == {done.id}
    assert {s.patient_id for s in scores} == {ana.id}


def test_dry_run_counts_the_rows_and_writes_nothing(db_session, catalogue):
    before, trail = contents(db_session), audit_ids(db_session)
    report = good(db_session, dry_run=True)
    assert messages(report) == []
    assert not report.imported
    assert counts(report)["patients"] == (3, 0, 0)
    assert contents(db_session) == before
    assert audit_ids(db_session) == trail


def test_importing_the_same_files_twice_changes_nothing_the_second_time(db_session, catalogue):
    assert good(db_session).ok
    before = contents(db_session)
    report = good(db_session)
    assert messages(report) == []
    assert counts(report) == {
        "patients": (0, 0, 3),
        "interventions": (0, 0, 2),
        "pain_scores": (0, 0, 2),
    }
    # Not a row touched: same values, same versions, same updated_at stamps.
    assert contents(db_session) == before


def test_a_changed_row_updates_its_record(db_session, catalogue):
    assert good(db_session).ok
    ana_version = imported_patient(db_session, "C9000001").version
    report = good(
        db_session,
        patients=[with_cell(PATIENTS[0], "patients", phone="555-0199"), *PATIENTS[1:]],
        interventions=[
            INTERVENTIONS[0],
            with_cell(
                INTERVENTIONS[1],
                "interventions",
                status="cancelled",
                scheduled_start="2025-01-06T10:00",
                scheduled_end="2025-01-06T10:30",
            ),
        ],
        pain_scores=[SCORES[0], with_cell(SCORES[1], "pain_scores", nrs="2", percent_relief="70")],
    )
    assert messages(report) == []
    assert counts(report) == {
        "patients": (0, 1, 2),
        "interventions": (0, 1, 1),
        "pain_scores": (0, 1, 1),
    }
    ana = imported_patient(db_session, "C9000001")
    assert ana.phone == "555-0199"
    assert ana.version == ana_version + 1
    moved = imported_intervention(db_session, "R-2")
    assert moved.status == "cancelled"
    assert moved.starts_at == datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    assert moved.version == 2
    score = db_session.execute(
        select(PainScore).where(PainScore.recorded_on == date(2025, 2, 17))
    ).scalar_one()
    assert (score.nrs, score.percent_relief) == (2, 70)
    assert db_session.execute(select(func.count()).select_from(PainScore)).scalar_one() == 2


def test_a_byte_order_mark_and_crlf_line_ends_are_accepted(db_session, catalogue):
    report = run(
        db_session,
        patients=csv_text("patients", PATIENTS, newline="\r\n", bom=True),
        interventions=csv_text("interventions", INTERVENTIONS, newline="\r\n", bom=True),
        pain_scores=csv_text("pain_scores", SCORES, newline="\r\n"),
    )
    assert messages(report) == []
    assert counts(report)["patients"] == (3, 0, 0)
    assert imported_patient(db_session, "C9000001").condition == "herniated_disc"
    assert imported_intervention(db_session, "R-1").notes == "Tolerated well"


def test_formula_guards_are_taken_off_and_quoted_cells_keep_commas_and_newlines(
    db_session, catalogue
):
    rows = [
        "C9000001,Ana,'=Okafor,1960-05-17,female,'+44 20 7946 0000,,herniated_disc",
    ]
    note = '"Said ""better"", then:\nwalks 2 km"'
    interventions = [
        with_cell(INTERVENTIONS[0], "interventions", notes=note),
        with_cell(INTERVENTIONS[1], "interventions", mrn="C0000404"),
    ]
    report = run(db_session, patients=rows, interventions=interventions)
    # The quoted note spans lines 2 and 3: the next record starts on line 4.
    assert messages(report) == [
        'interventions.csv:4: mrn: no patient has MRN "C0000404" in the database or in patients.csv'
    ]
    report = run(db_session, patients=rows, interventions=interventions[:1])
    assert messages(report) == []
    ana = imported_patient(db_session, "C9000001")
    assert (ana.last_name, ana.phone) == ("=Okafor", "+44 20 7946 0000")
    assert imported_intervention(db_session, "R-1").notes == 'Said "better", then:\nwalks 2 km'


def test_a_guarded_tab_is_kept_and_the_export_imports_back_unchanged(db_session, catalogue):
    """Only spaces are trimmed: '\\tX reads as \\tX (not X), and a tab at the end stays too, so
    what the export writes comes back unchanged."""
    rows = ["C9000001, Ana ,'\tOkafor,1960-05-17,female,555-0101\t,,herniated_disc"]
    report = run(db_session, patients=rows)
    assert messages(report) == []
    ana = imported_patient(db_session, "C9000001")
    assert (ana.first_name, ana.last_name, ana.phone) == ("Ana", "\tOkafor", "555-0101\t")
    written = exported(db_session, "patients")
    assert "'\tOkafor" in written
    before = contents(db_session)
    report = run(db_session, patients=written)
    assert messages(report) == []
    assert counts(report) == {"patients": (0, 0, 1)}
    assert contents(db_session) == before


def test_files_with_a_header_alone_import_nothing(db_session, catalogue):
    report = run(db_session, patients=[], interventions=[], pain_scores=[])
    assert messages(report) == []
    assert counts(report) == {
        "patients": (0, 0, 0),
        "interventions": (0, 0, 0),
        "pain_scores": (0, 0, 0),
    }


# A condition as its code or its label --------------------------------------------------------

CONDITION_REFUSED = (
    "is not one of herniated_disc, degenerative_disc_disease, spinal_stenosis, "
    "facet_joint_arthritis, other"
)


@pytest.mark.parametrize(
    "written",
    [
        "facet_joint_arthritis",
        "facet joint arthritis",
        "Facet joint arthritis",
        "FACET JOINT ARTHRITIS",
        "  Facet Joint Arthritis  ",
        "FACET_JOINT_ARTHRITIS",
    ],
)
def test_a_condition_is_read_as_its_code_or_its_label_in_any_case(db_session, catalogue, written):
    report = run(db_session, patients=[with_cell(PATIENT, "patients", condition=written)])
    assert messages(report) == []
    assert imported_patient(db_session, "C9000004").condition == "facet_joint_arthritis"


@pytest.mark.parametrize("written", ["facet arthritis", "facet-joint-arthritis", "back pain"])
def test_a_condition_neither_code_nor_label_is_refused_at_its_line(db_session, catalogue, written):
    before = contents(db_session)
    rows = [*PATIENTS, with_cell(PATIENT, "patients", condition=written)]
    report = run(db_session, patients=rows)
    assert messages(report) == [f'patients.csv:5: condition: "{written}" {CONDITION_REFUSED}']
    assert not report.imported
    assert contents(db_session) == before


def test_the_patients_export_writes_the_code_of_a_condition_imported_as_its_label(
    db_session, catalogue
):
    rows = [
        with_cell(PATIENTS[0], "patients", condition="Herniated Disc"),
        with_cell(PATIENTS[1], "patients", condition="SPINAL STENOSIS"),
        with_cell(PATIENTS[2], "patients", condition="degenerative disc disease"),
    ]
    assert messages(run(db_session, patients=rows)) == []
    written = exported(db_session, "patients")
    conditions = {row["mrn"]: row["condition"] for row in csv.DictReader(io.StringIO(written))}
    assert conditions == {
        "C9000001": "herniated_disc",
        "C9000002": "spinal_stenosis",
        "C9000003": "degenerative_disc_disease",
    }
    # The label and the code are the same value: importing either again changes nothing.
    before = contents(db_session)
    for again in (rows, written):
        report = run(db_session, patients=again)
        assert messages(report) == []
        assert counts(report) == {"patients": (0, 0, 3)}
    assert contents(db_session) == before


# Refusals, one at a time ---------------------------------------------------------------------

REFUSALS = [
    # patients.csv: the extra patient on line 5
    ("patients", {"mrn": ""}, "mrn: empty; a value is required"),
    ("patients", {"mrn": "C" + "1" * 20}, "mrn: longer than 20 characters"),
    ("patients", {"first_name": ""}, "first_name: empty; a value is required"),
    (
        "patients",
        {"date_of_birth": "17/05/1960"},
        'date_of_birth: "17/05/1960" is not a date as YYYY-MM-DD',
    ),
    (
        "patients",
        {"date_of_birth": "1990-02-30"},
        'date_of_birth: "1990-02-30" is not a date as YYYY-MM-DD',
    ),
    ("patients", {"date_of_birth": "2030-01-01"}, "date_of_birth: 2030-01-01 is in the future"),
    ("patients", {"sex": "F"}, 'sex: "F" is not one of female, male, other, unknown'),
    (
        "patients",
        {"condition": "back pain"},
        'condition: "back pain" is not one of herniated_disc, degenerative_disc_disease, '
        "spinal_stenosis, facet_joint_arthritis, other",
    ),
    ("patients", {"email": "dev-at-example"}, 'email: "dev-at-example" is not an email address'),
    # interventions.csv: the extra intervention on line 4
    (
        "interventions",
        {"physician": "dr.who"},
        'physician: no physician account is called "dr.who"',
    ),
    (
        "interventions",
        {"physician": "morgan"},
        'physician: "morgan" is a manager account, not a physician',
    ),
    (
        "interventions",
        {"procedure_code": "XYZ"},
        'procedure_code: unknown procedure code "XYZ"; the catalogue has ESI-CA, ESI-IL, '
        "ESI-TF, FJI, MBB, RFA, SCS-IMPLANT, SCS-TRIAL",
    ),
    (
        "interventions",
        {"room": "Suite 9"},
        'room: no room is called "Suite 9"; the rooms are Suite 1, Suite 2',
    ),
    (
        "interventions",
        {"mrn": "C0000404"},
        'mrn: no patient has MRN "C0000404" in the database or in patients.csv',
    ),
    (
        "interventions",
        {"scheduled_start": "2025-01-07 10:00"},
        'scheduled_start: "2025-01-07 10:00" is not a time as YYYY-MM-DDTHH:MM',
    ),
    (
        "interventions",
        {"scheduled_end": "2025-01-07"},
        'scheduled_end: "2025-01-07" is not a time as YYYY-MM-DDTHH:MM',
    ),
    (
        "interventions",
        {"scheduled_end": "2025-01-07T09:30"},
        "scheduled_end: 2025-01-07T09:30 is not after scheduled_start 2025-01-07T10:00",
    ),
    (
        "interventions",
        {"scheduled_end": "2025-01-07T10:00"},
        "scheduled_end: 2025-01-07T10:00 is not after scheduled_start 2025-01-07T10:00",
    ),
    (
        "interventions",
        {"scheduled_end": "2025-01-08T10:00"},
        "scheduled_end: a booking cannot last more than 12 hours",
    ),
    (
        "interventions",
        {"scheduled_start": "2025-03-30T02:30", "scheduled_end": "2025-03-30T03:30"},
        "scheduled_start: 2025-03-30T02:30 does not exist in the clinic's time zone "
        "(Europe/Paris): the clocks go forward then",
    ),
    (
        "interventions",
        {"status": "done"},
        'status: "done" is not one of scheduled, checked_in, completed, cancelled, no_show',
    ),
    (
        "interventions",
        {"status": "completed"},
        "performed_on: empty; a completed intervention needs its performed date",
    ),
    (
        "interventions",
        {"performed_on": "2025-01-07"},
        "performed_on: only a completed intervention has a performed date (status is scheduled)",
    ),
    (
        "interventions",
        {"status": "completed", "performed_on": "07/01/2025"},
        'performed_on: "07/01/2025" is not a date as YYYY-MM-DD',
    ),
    (
        "interventions",
        {"baseline_nrs": "11"},
        "baseline_nrs: 11 is out of range: a whole number from 0 to 10",
    ),
    (
        "interventions",
        {"baseline_nrs": "-1"},
        "baseline_nrs: -1 is out of range: a whole number from 0 to 10",
    ),
    (  # past int's 4,300 digits: still a number out of range, as the SQL path says
        "interventions",
        {"baseline_nrs": "1" + "0" * 5000},
        "baseline_nrs: 1" + "0" * 5000 + " is out of range: a whole number from 0 to 10",
    ),
    (
        "interventions",
        {"ref": "clinic:" + "0" * 5000 + "1"},
        "ref: longer than 64 characters",
    ),
    (
        "interventions",
        {"baseline_nrs": "seven"},
        'baseline_nrs: "seven" is not a whole number from 0 to 10',
    ),
    (
        "interventions",
        {"laterality": "up"},
        'laterality: "up" is not one of left, right, bilateral, midline',
    ),
    # pain_scores.csv: the extra score on line 4
    ("pain_scores", {"nrs": "11"}, "nrs: 11 is out of range: a whole number from 0 to 10"),
    ("pain_scores", {"nrs": ""}, "nrs: empty; a value is required"),
    ("pain_scores", {"nrs": "3.5"}, 'nrs: "3.5" is not a whole number from 0 to 10'),
    (
        "pain_scores",
        {"nrs": "-" + "9" * 5000},
        "nrs: -" + "9" * 5000 + " is out of range: a whole number from 0 to 10",
    ),
    (
        "pain_scores",
        {"percent_relief": "101"},
        "percent_relief: 101 is out of range: a whole number from 0 to 100",
    ),
    (
        "pain_scores",
        {"source": "email"},
        'source: "email" is not one of visit, phone, self_report, import',
    ),
    (
        "pain_scores",
        {"recorded_on": "2025-13-01"},
        'recorded_on: "2025-13-01" is not a date as YYYY-MM-DD',
    ),
    ("pain_scores", {"recorded_on": "2025-07-01"}, "recorded_on: 2025-07-01 is in the future"),
    (
        "pain_scores",
        {"intervention_ref": "R-404"},
        'intervention_ref: no intervention has ref "R-404" in the database or in interventions.csv',
    ),
]
EXTRA = {"patients": PATIENT, "interventions": INTERVENTION, "pain_scores": SCORE}
GOOD_ROWS = {"patients": PATIENTS, "interventions": INTERVENTIONS, "pain_scores": SCORES}


@pytest.mark.parametrize(
    ("kind", "cells", "expected"),
    REFUSALS,
    ids=[f"{kind}-{'-'.join(cells)}-{index}" for index, (kind, cells, _) in enumerate(REFUSALS)],
)
def test_a_bad_cell_is_refused_with_file_line_and_column(
    db_session, catalogue, kind, cells, expected
):
    before = contents(db_session)
    rows = [*GOOD_ROWS[kind], with_cell(EXTRA[kind], kind, **cells)]
    report = good(db_session, **{kind: rows})
    line = len(rows) + 1
    assert messages(report) == [f"{NAMES[kind]}:{line}: {expected}"]
    assert not report.imported
    assert contents(db_session) == before


def test_a_clinic_ref_of_thousands_of_digits_is_refused_not_a_crash(db_session, catalogue):
    ref = "clinic:" + "0" * 5000 + "1"  # int() reads no more than 4,300 digits
    before = contents(db_session)
    rows = [*SCORES, with_cell(SCORE, "pain_scores", intervention_ref=ref)]
    report = good(db_session, pain_scores=rows)
    assert "pain_scores.csv:4: intervention_ref: longer than 64 characters" in messages(report)
    assert not report.imported
    assert contents(db_session) == before


def test_each_extra_row_on_its_own_is_good(db_session, catalogue):
    """The rows the refusals spoil are good as they stand (so each refusal has one cause)."""
    report = good(
        db_session,
        patients=[*PATIENTS, PATIENT],
        interventions=[*INTERVENTIONS, INTERVENTION],
        pain_scores=[*SCORES, SCORE],
    )
    assert messages(report) == []


def test_unknown_and_missing_columns_are_reported_at_line_1(db_session, catalogue):
    header = "mrn,first_name,last_name,date_of_birth,sex,phone,nickname,condition"
    report = run(db_session, patients=f"{header}\n" + "\n".join(PATIENTS) + "\n")
    assert messages(report) == [
        "patients.csv:1: nickname: unknown column; a patients file has the columns "
        "mrn,first_name,last_name,date_of_birth,sex,phone,email,condition,email_consent,"
        "email_consent_on",
        "patients.csv:1: email: missing column",
    ]


def test_a_column_twice_and_an_empty_file_are_refused(db_session, catalogue):
    header = ",".join([*COLUMNS["pain_scores"], "nrs"])
    report = run(db_session, pain_scores=f"{header}\n", patients="")
    assert messages(report) == [
        "patients.csv:1: file: the file is empty; its first line must be the header "
        "mrn,first_name,last_name,date_of_birth,sex,phone,email,condition,email_consent,"
        "email_consent_on",
        "pain_scores.csv:1: nrs: the column appears twice",
    ]


def test_a_file_separated_by_semicolons_is_named_as_such(db_session, catalogue):
    text_with_semicolons = csv_text("patients", PATIENTS).replace(",", ";")
    report = run(db_session, patients=text_with_semicolons)
    assert messages(report) == [
        "patients.csv:1: file: the columns are separated by semicolons; save the file as "
        'comma-separated "CSV UTF-8" and try again'
    ]


def test_a_row_with_too_many_cells_is_refused(db_session, catalogue):
    report = run(db_session, patients=[PATIENTS[0], PATIENTS[1] + ",extra"])
    assert messages(report) == [
        "patients.csv:3: row: 9 cells where the header has 8 columns; check the commas and "
        "quotes on this line"
    ]


def test_a_file_that_is_not_utf8_is_refused_at_the_first_bad_line(db_session, catalogue):
    data = csv_text(
        "patients", PATIENTS[:2]
    ).encode() + "C9000005,José,Ruiz,1970-01-01,male,,,other\n".encode("latin-1")
    report = run(db_session, patients=data)
    assert messages(report) == [
        'patients.csv:4: file: not UTF-8 text (byte 0xe9); save the file as "CSV UTF-8" and try again'
    ]


def test_duplicate_keys_within_a_file_are_refused(db_session, catalogue):
    report = good(
        db_session,
        patients=[*PATIENTS, with_cell(PATIENTS[0], "patients", first_name="Anna")],
        interventions=[
            *INTERVENTIONS,
            with_cell(INTERVENTION, "interventions", ref="R-2"),
        ],
        pain_scores=[*SCORES, with_cell(SCORES[0], "pain_scores", nrs="5")],
    )
    assert messages(report) == [
        "patients.csv:5: mrn: MRN C9000001 appears twice (first on line 2)",
        "interventions.csv:4: ref: ref R-2 appears twice (first on line 3)",
        "pain_scores.csv:4: recorded_on: a second score for R-1 on 2025-01-20 (first on line 2); "
        "one score per intervention per date",
    ]


# Every problem at once, nothing written ----------------------------------------------------------


def test_every_problem_of_every_file_is_listed_at_once_and_nothing_is_written(
    db_session, catalogue
):
    before, trail = contents(db_session), audit_ids(db_session)
    report = good(
        db_session,
        patients=[
            PATIENTS[0],
            with_cell(PATIENTS[1], "patients", sex="M", date_of_birth="1948-11-31"),
            PATIENTS[2],
        ],
        interventions=[
            with_cell(INTERVENTIONS[0], "interventions", physician="dr.who", room="Suite 9"),
            with_cell(INTERVENTIONS[1], "interventions", procedure_code="ESI"),
            with_cell(INTERVENTION, "interventions", mrn="C0000404", laterality="both"),
        ],
        pain_scores=[
            with_cell(SCORES[0], "pain_scores", nrs="12"),
            SCORES[1],
            "R-404,2025-03-01,4,,phone",
            with_cell(SCORES[1], "pain_scores", percent_relief="150"),
        ],
    )
    assert messages(report) == [
        'patients.csv:3: date_of_birth: "1948-11-31" is not a date as YYYY-MM-DD',
        'patients.csv:3: sex: "M" is not one of female, male, other, unknown',
        'interventions.csv:2: physician: no physician account is called "dr.who"',
        'interventions.csv:2: room: no room is called "Suite 9"; the rooms are Suite 1, Suite 2',
        'interventions.csv:3: procedure_code: unknown procedure code "ESI"; the catalogue has '
        "ESI-CA, ESI-IL, ESI-TF, FJI, MBB, RFA, SCS-IMPLANT, SCS-TRIAL",
        'interventions.csv:4: mrn: no patient has MRN "C0000404" in the database or in '
        "patients.csv",
        'interventions.csv:4: laterality: "both" is not one of left, right, bilateral, midline',
        "pain_scores.csv:2: nrs: 12 is out of range: a whole number from 0 to 10",
        'pain_scores.csv:4: intervention_ref: no intervention has ref "R-404" in the database '
        "or in interventions.csv",
        # Within a line, in the order of the columns.
        "pain_scores.csv:5: recorded_on: a second score for R-1 on 2025-02-17 (first on line 3); "
        "one score per intervention per date",
        "pain_scores.csv:5: percent_relief: 150 is out of range: a whole number from 0 to 100",
    ]
    assert not report.imported
    assert contents(db_session) == before
    assert audit_ids(db_session) == trail


# References across files and to the database -------------------------------------------------


def test_rows_may_refer_to_records_already_in_the_database(db_session, catalogue):
    patient = PatientFactory(mrn="C0000042")
    lee = db_session.execute(select(StaffUser).where(StaffUser.username == "dr.lee")).scalar_one()
    InterventionFactory(
        patient=patient,
        physician=lee,
        ref="OLD-7",
        starts_at=datetime(2024, 11, 4, 8, 0, tzinfo=UTC),
        ends_at=datetime(2024, 11, 4, 8, 30, tzinfo=UTC),
        status="completed",
        performed_on=date(2024, 11, 4),
    )
    report = run(
        db_session,
        interventions=[with_cell(INTERVENTION, "interventions", mrn="C0000042")],
        pain_scores=["OLD-7,2024-12-02,2,,phone", "R-9,2025-02-01,4,,phone"],
    )
    assert messages(report) == []
    assert counts(report) == {"interventions": (1, 0, 0), "pain_scores": (2, 0, 0)}
    assert imported_intervention(db_session, "R-9").patient_id == patient.id
    scores = db_session.execute(select(PainScore)).scalars().all()
    assert {score.patient_id for score in scores} == {patient.id}


def test_references_that_are_neither_in_the_database_nor_in_the_files_are_refused(
    db_session, catalogue
):
    report = run(
        db_session,
        interventions=INTERVENTIONS,
        pain_scores=["R-3,2025-02-01,4,,phone"],
    )
    assert messages(report) == [
        'interventions.csv:2: mrn: no patient has MRN "C9000001" in the database',
        'interventions.csv:3: mrn: no patient has MRN "C9000002" in the database',
        'pain_scores.csv:2: intervention_ref: no intervention has ref "R-3" in the database or '
        "in interventions.csv",
    ]


# MRNs as the clinic writes them: capitals, no spaces ----------------------------------------------


def found_by_mrn_search(session, query: str) -> list[str]:
    session.expire_all()
    return [patient.mrn for patient in session.execute(patient_search(query)).scalars()]


def test_lower_case_and_spaced_mrns_are_imported_in_capitals_and_found_by_mrn_search(
    db_session, catalogue
):
    rows = [
        with_cell(PATIENTS[0], "patients", mrn="c9000001"),
        with_cell(PATIENTS[1], "patients", mrn=" C 9000 002 "),
        # Another system's MRN shape, accepted as before: only its case and spaces change.
        with_cell(PATIENTS[2], "patients", mrn="hx-77/b"),
    ]
    report = run(db_session, patients=rows)
    assert messages(report) == []
    assert counts(report) == {"patients": (3, 0, 0)}
    stored = db_session.execute(select(Patient.mrn).order_by(Patient.mrn)).scalars().all()
    assert stored == ["C9000001", "C9000002", "HX-77/B"]
    assert found_by_mrn_search(db_session, "c9000001") == ["C9000001"]
    assert found_by_mrn_search(db_session, "C9000002") == ["C9000002"]
    assert sorted(found_by_mrn_search(db_session, "c90000")) == ["C9000001", "C9000002"]


def test_a_lower_case_mrn_updates_the_patient_in_capitals_and_a_second_import_changes_nothing(
    db_session, catalogue
):
    patient = PatientFactory(mrn="C9000001", phone="555-0100")
    rows = [with_cell(PATIENTS[0], "patients", mrn="c9000001")]
    interventions = [with_cell(INTERVENTIONS[0], "interventions", mrn="c 9000001")]
    report = run(db_session, patients=rows, interventions=interventions)
    assert messages(report) == []
    assert counts(report) == {"patients": (0, 1, 0), "interventions": (1, 0, 0)}
    assert db_session.execute(select(func.count()).select_from(Patient)).scalar_one() == 1
    assert imported_patient(db_session, "C9000001").phone == "555-0101"
    assert imported_intervention(db_session, "R-1").patient_id == patient.id
    before = contents(db_session)
    report = run(db_session, patients=rows, interventions=interventions)
    assert messages(report) == []
    assert counts(report) == {"patients": (0, 0, 1), "interventions": (0, 0, 1)}
    assert contents(db_session) == before


def test_a_lower_case_mrn_in_interventions_finds_its_patient(db_session, catalogue):
    patient = PatientFactory(mrn="C0000042")
    report = run(
        db_session,
        interventions=[
            with_cell(INTERVENTION, "interventions", mrn="c0000042"),
            with_cell(INTERVENTIONS[1], "interventions", mrn="c0000404"),
        ],
    )
    assert messages(report) == [
        'interventions.csv:3: mrn: no patient has MRN "C0000404" (written "c0000404") in the '
        "database"
    ]
    report = run(
        db_session, interventions=[with_cell(INTERVENTION, "interventions", mrn="c0000042")]
    )
    assert messages(report) == []
    assert imported_intervention(db_session, "R-9").patient_id == patient.id


def test_two_rows_whose_mrns_differ_only_in_case_or_spaces_are_refused_as_duplicates(
    db_session, catalogue
):
    rows = [
        with_cell(PATIENTS[0], "patients", mrn="c0001"),
        with_cell(PATIENTS[1], "patients", mrn="C0001"),
        with_cell(PATIENTS[2], "patients", mrn="c0001"),
        with_cell(PATIENT, "patients", mrn="C 0001"),
    ]
    before = contents(db_session)
    report = run(db_session, patients=rows)
    assert messages(report) == [
        "patients.csv:3: mrn: MRN C0001 appears twice (first on line 2 as c0001; an MRN is "
        "read in capitals, without spaces)",
        "patients.csv:4: mrn: MRN c0001 appears twice (first on line 2)",
        "patients.csv:5: mrn: MRN C 0001 appears twice (first on line 2 as c0001; an MRN is "
        "read in capitals, without spaces)",
    ]
    assert contents(db_session) == before


def test_a_patient_stored_under_an_mrn_as_first_written_is_found_and_takes_the_capitals(
    db_session, catalogue
):
    """Imports once kept MRNs as written: the same file read again updates that patient (whose
    MRN is then searchable) instead of adding a second one beside it."""
    patient = PatientFactory(mrn="c9000001")
    other = PatientFactory(mrn="c 9000002")
    trail = audit_ids(db_session)
    interventions = [with_cell(INTERVENTIONS[1], "interventions", mrn="C9000002")]
    report = run(db_session, patients=[with_cell(PATIENTS[0], "patients", mrn="c9000001")])
    assert messages(report) == []
    assert counts(report) == {"patients": (0, 1, 0)}
    assert db_session.execute(select(func.count()).select_from(Patient)).scalar_one() == 2
    assert imported_patient(db_session, "C9000001").id == patient.id
    assert found_by_mrn_search(db_session, "c9000001") == ["C9000001"]
    changes = db_session.execute(
        select(AuditEvent.changes).where(
            AuditEvent.id.not_in(trail),
            AuditEvent.record_type == "patient",
            AuditEvent.record_id == str(patient.id),
        )
    ).scalar_one()
    assert changes["mrn"] == ["c9000001", "C9000001"]
    # An intervention finds a patient stored so, and is unchanged when imported again.
    report = run(db_session, interventions=interventions)
    assert messages(report) == []
    assert imported_intervention(db_session, "R-2").patient_id == other.id
    before = contents(db_session)
    assert counts(run(db_session, interventions=interventions)) == {"interventions": (0, 0, 1)}
    assert contents(db_session) == before


def test_an_mrn_that_could_be_either_of_two_stored_patients_is_refused(db_session, catalogue):
    PatientFactory(mrn="c0005")
    PatientFactory(mrn="c 0005")
    before = contents(db_session)
    report = run(
        db_session,
        patients=[with_cell(PATIENTS[0], "patients", mrn="C0005")],
        interventions=[with_cell(INTERVENTION, "interventions", mrn="c0005")],
    )
    clash = (
        "C0005 could be any of the patients with MRNs c 0005 and c0005 (an MRN is read in "
        "capitals, without spaces); an administrator must correct their MRNs first"
    )
    assert messages(report) == [f"patients.csv:2: mrn: {clash}"]
    report = run(db_session, interventions=[with_cell(INTERVENTION, "interventions", mrn="c0005")])
    assert messages(report) == [f"interventions.csv:2: mrn: {clash}"]
    assert contents(db_session) == before


def exported(session, name: str) -> str:
    """What ``flask --app clinic export NAME`` writes, as text."""
    header, rows = EXPORTS[name].open(session, ReportFilters(), ZONE)
    return "".join(csv_lines(header, rows))


def made_in_clinic(session, patient, **fields) -> Intervention:
    lee = session.execute(select(StaffUser).where(StaffUser.username == "dr.lee")).scalar_one()
    return InterventionFactory(
        patient=patient,
        physician=lee,
        starts_at=datetime(2025, 2, 3, 8, 0, tzinfo=UTC),
        ends_at=datetime(2025, 2, 3, 8, 30, tzinfo=UTC),
        **fields,
    )


def test_an_intervention_made_in_clinic_is_matched_by_the_id_its_export_writes(
    db_session, catalogue
):
    assert run(db_session, patients=PATIENTS).ok
    made_here = made_in_clinic(db_session, imported_patient(db_session, "C9000001"))
    row = "C9000001,ESI-TF,dr.lee,2025-02-03T09:00,2025-02-03T09:30,,scheduled,,,,,"
    report = run(db_session, interventions=[f"clinic:{made_here.id},{row}"], pain_scores=[])
    assert messages(report) == []
    assert counts(report)["interventions"] == (0, 0, 1)
    # Exports before clinic:ID wrote the bare id: such a file still imports back unchanged.
    report = run(db_session, interventions=[f"{made_here.id},{row}"], pain_scores=[])
    assert messages(report) == []
    assert counts(report)["interventions"] == (0, 0, 1)
    assert imported_intervention(db_session, str(made_here.id)) is None  # no ref was stored
    # The same id for another patient is another intervention: refused, not merged.
    for ref in (f"clinic:{made_here.id}", str(made_here.id)):
        report = run(
            db_session,
            interventions=[with_cell(f"{ref},{row}", "interventions", mrn="C9000002")],
        )
        assert messages(report) == [
            f"interventions.csv:2: ref: {ref} names an intervention created in Clinic for "
            "another patient; give this intervention a ref of its own",
            # As a new intervention, it would also take the physician's slot.
            "interventions.csv:2: scheduled_start: clashes with the schedule: Dr. Lee is already "
            f"booked: {describe(made_here, ZONE)}",
        ]


def test_two_refs_of_one_intervention_in_the_files_are_refused(db_session, catalogue):
    assert run(db_session, patients=PATIENTS).ok
    made_here = made_in_clinic(db_session, imported_patient(db_session, "C9000001"))
    row = "C9000001,ESI-TF,dr.lee,2025-02-03T09:00,2025-02-03T09:30,,scheduled,,,,,"
    report = run(
        db_session,
        interventions=[
            f"clinic:{made_here.id},{row}",
            f"{made_here.id},{row.replace('T09:', 'T10:')}",
        ],
        pain_scores=[
            f"clinic:{made_here.id},2025-02-10,4,,phone",
            f"{made_here.id},2025-02-10,5,,",
        ],
    )
    assert messages(report) == [
        f"interventions.csv:3: ref: {made_here.id} names the same intervention as "
        f"clinic:{made_here.id} on line 2; give the intervention one row",
        f"pain_scores.csv:3: intervention_ref: {made_here.id} names the same intervention as "
        f"clinic:{made_here.id} on line 2; one score per intervention per date",
    ]


def test_an_imported_ref_and_a_clinic_id_of_the_same_number_export_and_import_back_apart(
    db_session, catalogue
):
    """An imported intervention with ref "N" and one made in Clinic with id N are two: the
    export names them apart, and importing it back changes nothing and moves no score."""
    assert run(db_session, patients=PATIENTS).ok
    number = (db_session.execute(select(func.max(Booking.id))).scalar() or 0) + 100
    source = with_cell(INTERVENTIONS[0], "interventions", ref=str(number))
    report = run(
        db_session,
        interventions=[source],
        pain_scores=[f"{number},2025-01-20,3,60,phone", f"{number},2025-02-17,4,,visit"],
    )
    assert messages(report) == []
    imported = imported_intervention(db_session, str(number))
    assert imported.id != number
    # Ben's intervention, made in Clinic, happens to get the id that is Ana's imported ref.
    made_here = made_in_clinic(
        db_session,
        imported_patient(db_session, "C9000002"),
        id=number,
        status="completed",
        performed_on=date(2025, 2, 3),
        baseline_nrs=8,
    )
    PainScoreFactory(intervention=made_here, recorded_on=date(2025, 2, 17), nrs=7, source="visit")
    PainScoreFactory(intervention=made_here, recorded_on=date(2025, 3, 3), nrs=2, source="visit")
    db_session.flush()
    interventions, scores = (
        exported(db_session, "interventions"),
        exported(db_session, "pain-scores"),
    )
    assert {line.split(",")[0] for line in interventions.splitlines()[1:]} == {
        str(number),
        f"clinic:{number}",
    }
    before = contents(db_session)

    report = run(
        db_session,
        patients=exported(db_session, "patients"),
        interventions=interventions,
        pain_scores=scores,
    )
    assert messages(report) == []
    assert counts(report) == {
        "patients": (0, 0, 3),
        "interventions": (0, 0, 2),
        "pain_scores": (0, 0, 4),
    }
    assert contents(db_session) == before
    on: dict[int, list[int]] = {}
    for intervention_id, nrs in db_session.execute(
        select(PainScore.intervention_id, PainScore.nrs).order_by(PainScore.nrs)
    ):
        on.setdefault(intervention_id, []).append(nrs)
    assert on == {imported.id: [3, 4], made_here.id: [2, 7]}
    # The scores alone, without their interventions' file, find their own interventions too.
    report = run(db_session, pain_scores=scores)
    assert messages(report) == []
    assert counts(report) == {"pain_scores": (0, 0, 4)}
    assert contents(db_session) == before


def test_a_clinic_id_from_another_clinic_is_kept_and_no_intervention_here_takes_it(
    db_session, catalogue
):
    """Another Clinic's export names its own interventions clinic:ID: kept as their refs, and
    the interventions made here afterwards get ids past them, so each ref names one."""
    assert run(db_session, patients=PATIENTS).ok
    number = (db_session.execute(select(func.max(Booking.id))).scalar() or 0) + 50
    source = with_cell(INTERVENTIONS[0], "interventions", ref=f"clinic:{number}")
    report = run(
        db_session, interventions=[source], pain_scores=[f"clinic:{number},2025-01-20,3,,"]
    )
    assert messages(report) == []
    assert counts(report) == {"interventions": (1, 0, 0), "pain_scores": (1, 0, 0)}
    kept = imported_intervention(db_session, f"clinic:{number}")
    assert kept.id > number
    made_here = made_in_clinic(db_session, imported_patient(db_session, "C9000002"))
    assert made_here.id > number
    report = run(
        db_session, interventions=[source], pain_scores=[f"clinic:{number},2025-01-20,3,,"]
    )
    assert counts(report) == {"interventions": (0, 0, 1), "pain_scores": (0, 0, 1)}
    # A number too big to be an id is only a ref.
    huge = with_cell(INTERVENTIONS[1], "interventions", ref="clinic:99999999999")
    report = run(db_session, interventions=[huge])
    assert messages(report) == []
    assert counts(report) == {"interventions": (1, 0, 0)}


# Clashes --------------------------------------------------------------------------------------


def test_bookings_of_the_file_that_clash_with_each_other_are_refused(db_session, catalogue):
    same_physician = "R-10,C9000003,RFA,dr.lee,2025-01-06T09:15,2025-01-06T09:45,,scheduled,,,,,"
    same_room = "R-11,C9000004,FJI,dr.kim,2025-01-06T09:40,2025-01-06T10:00,Suite 2,scheduled,,,,,"
    same_patient = "R-12,C9000001,FJI,dr.kim,2025-01-06T09:20,2025-01-06T09:25,,checked_in,,,,,"
    report = good(
        db_session,
        patients=[*PATIENTS, PATIENT],
        interventions=[*INTERVENTIONS, same_physician, same_room, same_patient],
        pain_scores=[],
    )
    assert messages(report) == [
        "interventions.csv:4: scheduled_start: clashes with line 2 (ref R-1): the physician "
        "dr.lee is already booked 2025-01-06T09:00–09:30",
        "interventions.csv:5: scheduled_start: clashes with line 3 (ref R-2): the physician "
        "dr.kim and the room Suite 2 are already booked 2025-01-06T09:00–09:45",
        "interventions.csv:6: scheduled_start: clashes with line 2 (ref R-1): the patient with "
        "MRN C9000001 is already booked 2025-01-06T09:00–09:30",
        "interventions.csv:6: scheduled_start: clashes with line 3 (ref R-2): the physician "
        "dr.kim is already booked 2025-01-06T09:00–09:45",
    ]


def test_back_to_back_and_cancelled_bookings_do_not_clash(db_session, catalogue):
    back_to_back = (
        "R-10,C9000001,RFA,dr.lee,2025-01-06T09:30,2025-01-06T10:00,Suite 1,scheduled,,,,,"
    )
    cancelled = "R-11,C9000003,FJI,dr.lee,2025-01-06T09:00,2025-01-06T09:30,Suite 1,cancelled,,,,,"
    no_show = "R-12,C9000003,FJI,dr.kim,2025-01-06T09:10,2025-01-06T09:20,Suite 2,no_show,,,,,"
    report = good(
        db_session,
        interventions=[*INTERVENTIONS, back_to_back, cancelled, no_show],
        pain_scores=[],
    )
    assert messages(report) == []
    assert counts(report)["interventions"] == (5, 0, 0)


def test_bookings_that_clash_with_the_schedule_are_refused(db_session, catalogue):
    lee = db_session.execute(select(StaffUser).where(StaffUser.username == "dr.lee")).scalar_one()
    suite = db_session.execute(select(Room).where(Room.name == "Suite 2")).scalar_one()
    visit = VisitFactory(
        physician=lee,
        starts_at=datetime(2025, 1, 6, 8, 20, tzinfo=UTC),
        ends_at=datetime(2025, 1, 6, 8, 40, tzinfo=UTC),
    )
    in_the_room = VisitFactory(
        room=suite,
        starts_at=datetime(2025, 1, 6, 8, 40, tzinfo=UTC),
        ends_at=datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
    )
    VisitFactory(  # cancelled: holds no time
        physician=lee,
        status="cancelled",
        starts_at=datetime(2025, 1, 6, 8, 0, tzinfo=UTC),
        ends_at=datetime(2025, 1, 6, 8, 30, tzinfo=UTC),
    )
    report = good(db_session, pain_scores=[])
    assert messages(report) == [
        "interventions.csv:2: scheduled_start: clashes with the schedule: Dr. Lee is already "
        f"booked: {describe(visit, ZONE)}",
        "interventions.csv:3: scheduled_start: clashes with the schedule: Suite 2 is already "
        f"booked: {describe(in_the_room, ZONE)}",
    ]


def test_an_import_may_move_its_own_bookings_even_into_each_others_slots(db_session, catalogue):
    assert good(db_session).ok
    # swap physicians and rooms: each takes a slot the other held.
    swapped = [
        with_cell(INTERVENTIONS[0], "interventions", physician="dr.kim", room="Suite 2"),
        with_cell(INTERVENTIONS[1], "interventions", physician="dr.lee", room="Suite 1"),
    ]
    report = good(db_session, interventions=swapped)
    assert messages(report) == []
    assert counts(report)["interventions"] == (0, 2, 0)
    assert imported_intervention(db_session, "R-1").physician.username == "dr.kim"
    assert imported_intervention(db_session, "R-2").room.name == "Suite 1"
    # Moving one back alone, onto the slot the other now holds, is a clash with the schedule.
    report = good(db_session, interventions=[INTERVENTIONS[0]])
    assert messages(report) == [
        "interventions.csv:2: scheduled_start: clashes with the schedule: Dr. Lee and Suite 1 "
        "are already booked: 2025-01-06 09:00–09:45 Medial branch block for Ben Lindgren "
        "(MRN C9000002) with Dr. Lee in Suite 1",
    ]


def test_a_corrected_patient_carries_the_interventions_scores_along(db_session, catalogue):
    assert good(db_session).ok
    report = good(
        db_session, interventions=[with_cell(INTERVENTIONS[0], "interventions", mrn="C9000003")]
    )
    assert messages(report) == []
    chloe = imported_patient(db_session, "C9000003")
    scores = db_session.execute(select(PainScore)).scalars().all()
    assert {score.patient_id for score in scores} == {chloe.id}


# All or nothing when the database fails --------------------------------------------------------


def test_a_failure_part_way_through_the_write_leaves_nothing_behind(db_session, catalogue, backend):
    before, trail = contents(db_session), audit_ids(db_session)
    scores = [f"R-1,2025-01-{day:02d},{day % 11},,phone" for day in range(7, 17)]
    # The database itself refuses the score of 13 January, in the third batch of three: however
    # the scores are written (COPY on PostgreSQL, INSERT on SQLite).
    refuse, allow = REFUSE_A_SCORE[backend]
    for statement in refuse:
        db_session.execute(text(statement))
    try:
        with pytest.raises(ImportFailed) as refused:
            good(db_session, pain_scores=scores, batch_size=3)
    finally:
        for statement in allow:
            db_session.execute(text(statement))
    assert "disk I/O error" in refused.value.message
    assert "Nothing was imported" in refused.value.message
    assert contents(db_session) == before
    assert audit_ids(db_session) == trail
    if backend == "sqlite":
        # The overlap triggers set aside for the write are back.
        triggers = db_session.execute(
            text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'booking'"
                " AND name LIKE 'booking_no_overlap%'"  # the relief cache has its own trigger
            )
        ).scalars()
        assert set(triggers) == {"booking_no_overlap_insert", "booking_no_overlap_update"}
    # The session is still good for the next import.
    assert good(db_session, pain_scores=scores).imported


# A trigger that refuses one pain score as a failing disk would, and the statements that drop it.
REFUSE_A_SCORE = {
    "sqlite": (
        [
            "CREATE TRIGGER refuse_a_score BEFORE INSERT ON pain_score"
            " WHEN NEW.recorded_on = '2025-01-13'"
            " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
        ],
        ["DROP TRIGGER refuse_a_score"],
    ),
    "postgresql": (
        [
            "CREATE FUNCTION refuse_a_score() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN IF NEW.recorded_on = DATE '2025-01-13' THEN"
            " RAISE EXCEPTION 'disk I/O error'; END IF; RETURN NEW; END $$",
            "CREATE TRIGGER refuse_a_score BEFORE INSERT ON pain_score"
            " FOR EACH ROW EXECUTE FUNCTION refuse_a_score()",
        ],
        ["DROP TRIGGER refuse_a_score ON pain_score", "DROP FUNCTION refuse_a_score()"],
    ),
}


def test_the_schedule_still_refuses_overlaps_after_an_import(db_session, catalogue):
    """The database's own guard (constraint or trigger) is in place once the import is done."""
    assert good(db_session).ok
    lee = db_session.execute(select(StaffUser).where(StaffUser.username == "dr.lee")).scalar_one()
    with pytest.raises(Exception, match="overlap"), db_session.begin_nested():
        VisitFactory(
            physician=lee,
            starts_at=datetime(2025, 1, 6, 8, 10, tzinfo=UTC),
            ends_at=datetime(2025, 1, 6, 8, 20, tzinfo=UTC),
        )


# The audit trail --------------------------------------------------------------------------------


def test_an_import_is_audited_as_one_event_with_the_counts_per_file(db_session, catalogue):
    trail = audit_ids(db_session)
    report = good(db_session)
    assert report.imported
    rows = db_session.execute(select(AuditEvent).where(AuditEvent.id.not_in(trail))).scalars().all()
    assert len(rows) == 1
    assert rows[0].action == "import"
    assert rows[0].actor_name == "command line"
    assert rows[0].details == {
        "dry_run": False,
        "files": {
            "patients": {"name": "patients.csv", "rows": 3, "new": 3, "changed": 0, "unchanged": 0},
            "interventions": {
                "name": "interventions.csv",
                "rows": 2,
                "new": 2,
                "changed": 0,
                "unchanged": 0,
            },
            "pain_scores": {
                "name": "pain_scores.csv",
                "rows": 2,
                "new": 2,
                "changed": 0,
                "unchanged": 0,
            },
        },
    }


def test_each_changed_row_is_audited_with_its_old_and_new_values(db_session, catalogue):
    """Changed rows, written in bulk past the flush hook, still leave the trail that the hook
    would: one update per record, each changed field as [old, new], the session's actor."""
    assert good(db_session).ok
    morgan = db_session.execute(
        select(StaffUser).where(StaffUser.username == "morgan")
    ).scalar_one()
    act_as(db_session, Actor(user_id=morgan.id, name="morgan", client_address="192.0.2.7"))
    trail = audit_ids(db_session)
    report = good(
        db_session,
        patients=[with_cell(PATIENTS[0], "patients", phone="555-0199"), *PATIENTS[1:]],
        interventions=[
            INTERVENTIONS[0],
            with_cell(
                INTERVENTIONS[1],
                "interventions",
                status="cancelled",
                scheduled_start="2025-01-06T10:00",
                scheduled_end="2025-01-06T10:30",
            ),
        ],
        pain_scores=[SCORES[0], with_cell(SCORES[1], "pain_scores", nrs="2")],
    )
    assert messages(report) == []
    assert counts(report) == {
        "patients": (0, 1, 2),
        "interventions": (0, 1, 1),
        "pain_scores": (0, 1, 1),
    }
    ana = imported_patient(db_session, "C9000001")
    moved = imported_intervention(db_session, "R-2")
    score = db_session.execute(
        select(PainScore).where(PainScore.recorded_on == date(2025, 2, 17))
    ).scalar_one()
    events = (
        db_session.execute(
            select(AuditEvent).where(AuditEvent.id.not_in(trail)).order_by(AuditEvent.id)
        )
        .scalars()
        .all()
    )
    assert [
        (event.action, event.record_type, event.record_id, event.changes) for event in events
    ] == [
        ("update", "patient", str(ana.id), {"phone": ["555-0101", "555-0199"]}),
        (
            "update",
            "intervention",
            str(moved.id),
            {
                "starts_at": ["2025-01-06T08:00:00+00:00", "2025-01-06T09:00:00+00:00"],
                "ends_at": ["2025-01-06T08:45:00+00:00", "2025-01-06T09:30:00+00:00"],
                "status": ["scheduled", "cancelled"],
            },
        ),
        ("update", "pain_score", str(score.id), {"nrs": [4, 2]}),
        ("import", None, None, None),
    ]
    assert {(e.actor_id, e.actor_name, e.client_address) for e in events} == {
        (morgan.id, "morgan", "192.0.2.7")
    }
    # The same shape as the flush hook writes for an edit made in Clinic.
    trail = audit_ids(db_session)
    ana.phone = "555-0100"
    db_session.flush()
    [edited] = db_session.execute(select(AuditEvent).where(AuditEvent.id.not_in(trail))).scalars()
    assert (edited.action, edited.record_type, edited.record_id, edited.changes) == (
        "update",
        "patient",
        str(ana.id),
        {"phone": ["555-0199", "555-0100"]},
    )


# Memory -----------------------------------------------------------------------------------------


def test_memory_stays_flat_however_many_scores_are_imported(db_session, catalogue):
    """Ten times the rows, about the same peak: rows stream through, keys wait in the database."""
    patients = [f"M{n:07d},Pat,Number{n},1960-01-01,female,,,other" for n in range(100)]
    interventions = [
        f"REF-{n:03d},M{n:07d},ESI-TF,dr.lee,2024-01-{1 + n // 10:02d}T{8 + n % 10:02d}:00,"
        f"2024-01-{1 + n // 10:02d}T{8 + n % 10:02d}:30,,completed,2024-01-{1 + n // 10:02d},7,,,"
        for n in range(100)
    ]
    assert messages(run(db_session, patients=patients, interventions=interventions)) == []

    def scores(per_intervention: int, first_day: date) -> bytes:
        rows = (
            f"REF-{n:03d},{first_day + timedelta(days=k)},{k % 11},{k % 101},phone"
            for n in range(100)
            for k in range(per_intervention)
        )
        return csv_text("pain_scores", list(rows)).encode()

    def peak(data: bytes) -> int:
        gc.collect()
        tracemalloc.start()
        try:
            report = run(db_session, pain_scores=data, batch_size=1000)
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert messages(report) == []
        return peak

    small = peak(scores(20, date(2024, 2, 1)))  # 2,000 rows
    large = peak(scores(200, date(2024, 3, 1)))  # 20,000 rows
    assert db_session.execute(select(func.count()).select_from(PainScore)).scalar_one() == 22_000
    assert large < 2 * small, f"peak {large:,} bytes for 20,000 rows, {small:,} for 2,000"


# The command line ------------------------------------------------------------------------------


@pytest.fixture
def files_on_disk(tmp_path, monkeypatch):
    """Write CSV files under tmp_path/data and work from tmp_path, as a user would."""
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)

    def write(name: str, kind: str, rows: list[str]) -> str:
        (tmp_path / "data" / name).write_text(csv_text(kind, rows), encoding="utf-8")
        return f"data/{name}"

    return write


def test_cli_imports_the_files_and_prints_the_counts(runner, db_session, catalogue, files_on_disk):
    result = runner.invoke(
        args=[
            "import",
            "--patients",
            files_on_disk("P.csv", "patients", PATIENTS),
            "--interventions",
            files_on_disk("I.csv", "interventions", INTERVENTIONS),
            "--pain-scores",
            files_on_disk("S.csv", "pain_scores", SCORES),
        ]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "data/P.csv: 3 rows — 3 new, 0 changed, 0 unchanged",
        "data/I.csv: 2 rows — 2 new, 0 changed, 0 unchanged",
        "data/S.csv: 2 rows — 2 new, 0 changed, 0 unchanged",
        "Imported.",
    ]
    assert imported_intervention(db_session, "R-1") is not None
    again = runner.invoke(args=["import", "--patients", "data/P.csv"])
    assert again.exit_code == 0
    assert again.stdout.splitlines()[0] == "data/P.csv: 3 rows — 0 new, 0 changed, 3 unchanged"


def test_cli_lists_every_problem_on_stderr_exits_non_zero_and_writes_nothing(
    runner, db_session, catalogue, files_on_disk
):
    before = contents(db_session)
    result = runner.invoke(
        args=[
            "import",
            "--patients",
            files_on_disk("P.csv", "patients", [with_cell(PATIENTS[0], "patients", sex="F")]),
            "--pain-scores",
            files_on_disk("S.csv", "pain_scores", ["R-404,2025-02-01,4,,phone"]),
        ]
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        'data/P.csv:2: sex: "F" is not one of female, male, other, unknown',
        'data/S.csv:2: intervention_ref: no intervention has ref "R-404" in the database',
        "Nothing was imported: 2 problems to fix (listed above). Fix the files and run the "
        "import again.",
    ]
    assert result.stdout == ""
    assert contents(db_session) == before


def test_cli_dry_run_prints_the_counts_and_writes_nothing(
    runner, db_session, catalogue, files_on_disk
):
    before, trail = contents(db_session), audit_ids(db_session)
    result = runner.invoke(
        args=["import", "--patients", files_on_disk("P.csv", "patients", PATIENTS), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "data/P.csv: 3 rows — 3 new, 0 changed, 0 unchanged",
        "Dry run: nothing was written.",
    ]
    assert contents(db_session) == before
    assert audit_ids(db_session) == trail


def test_cli_asks_for_at_least_one_file(runner, db_session):
    result = runner.invoke(args=["import"])
    assert result.exit_code == 1
    assert "Give at least one file" in result.stderr
    missing = runner.invoke(args=["import", "--patients", "no-such-file.csv"])
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr


# The web page -----------------------------------------------------------------------------------


def upload(client, **files):
    """POST the upload form of /imports with files given as (name, text or bytes)."""
    data = {"csrf_token": csrf_token(client, "/imports")}
    for kind, (name, content) in files.items():
        payload = content if isinstance(content, bytes) else content.encode("utf-8")
        data[kind] = (io.BytesIO(payload), name)
    return client.post("/imports/preview", data=data, content_type="multipart/form-data")


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def confirm_token(page: str) -> str:
    match = re.search(r'name="token" type="hidden" value="([^"]+)"', page) or re.search(
        r'id="token" name="token" type="hidden" value="([^"]+)"', page
    )
    assert match, "no confirm form on the page"
    return match.group(1)


def upload_folders(app) -> list[Path]:
    root = Path(app.instance_path) / "imports"
    return [path for path in root.iterdir()] if root.is_dir() else []


def test_the_upload_page_shows_the_columns_each_file_needs(client, login):
    login("manager")
    page = page_text(client.get("/imports"))
    for kind in COLUMNS:
        assert ",".join(COLUMNS[kind]) in page
    assert 'enctype="multipart/form-data"' in page


def test_upload_shows_the_dry_run_then_confirm_imports_the_files(
    app, client, login, db_session, catalogue
):
    manager = login("manager")
    before = contents(db_session)
    folders_before = set(upload_folders(app))
    response = upload(
        client,
        patients=("Clinic patients.csv", csv_text("patients", PATIENTS, bom=True)),
        interventions=("interventions.csv", csv_text("interventions", INTERVENTIONS)),
    )
    assert response.status_code == 200
    page = page_text(response)
    assert "The files can be imported." in page
    assert "Clinic patients.csv" in page
    assert "Import these files" in page
    # A dry run: nothing written yet, and the files wait on the server.
    assert contents(db_session) == before
    assert len(set(upload_folders(app)) - folders_before) == 1
    token = confirm_token(response.get_data(as_text=True))
    response = client.post(
        "/imports/confirm", data={"csrf_token": csrf_token(client, "/imports"), "token": token}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/imports")
    page = page_text(client.get("/imports"))
    assert (
        "Imported. Clinic patients.csv: 3 new, 0 changed, 0 unchanged; interventions.csv: 2 new, "
        "0 changed, 0 unchanged." in page
    )
    assert imported_intervention(db_session, "R-2").physician.username == "dr.kim"
    assert set(upload_folders(app)) == folders_before
    event_row = db_session.execute(
        select(AuditEvent).where(AuditEvent.action == "import")
    ).scalar_one()
    assert event_row.actor_id == manager.id
    assert event_row.details["files"]["patients"]["name"] == "Clinic patients.csv"
    # The token was used up: a second confirm imports nothing more.
    again = client.post(
        "/imports/confirm", data={"csrf_token": csrf_token(client, "/imports"), "token": token}
    )
    assert again.status_code == 302
    assert "no longer waiting to be imported" in page_text(client.get("/imports"))


def test_a_dry_run_with_problems_lists_them_all_and_offers_no_import(
    app, client, login, db_session, catalogue
):
    login("manager")
    folders_before = set(upload_folders(app))
    response = upload(
        client,
        patients=(
            "patients.csv",
            csv_text("patients", [with_cell(PATIENTS[0], "patients", sex="F")]),
        ),
        pain_scores=("scores.csv", csv_text("pain_scores", ["R-404,2025-02-01,4,,phone"])),
    )
    assert response.status_code == 200
    page = page_text(response)
    assert "Nothing can be imported yet: 2 problems in the files." in page
    assert 'patients.csv:2: sex: "F" is not one of female, male, other, unknown' in page
    assert 'scores.csv:2: intervention_ref: no intervention has ref "R-404" in the database' in page
    assert "Import these files" not in page
    assert "Upload the corrected files" in page
    assert set(upload_folders(app)) == folders_before
    assert imported_patient(db_session, "C9000001") is None


def test_a_file_that_is_not_utf8_is_named_on_the_page(client, login, catalogue):
    login("admin")
    data = csv_text(
        "patients", []
    ).encode() + "C9000005,José,Ruiz,1970-01-01,male,,,other\n".encode("cp1252")
    page = page_text(upload(client, patients=("export.csv", data)))
    assert 'export.csv:2: file: not UTF-8 text (byte 0xe9); save the file as "CSV UTF-8"' in page


def test_the_upload_needs_a_file_and_refuses_a_file_too_large(app, client, login, monkeypatch):
    login("manager")
    response = client.post(
        "/imports/preview",
        data={"csrf_token": csrf_token(client, "/imports")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "Choose at least one file to import." in page_text(response)
    monkeypatch.setitem(app.config, "IMPORT_MAX_FILE_BYTES", 2048)
    response = upload(client, patients=("big.csv", csv_text("patients", PATIENTS * 40)))
    assert response.status_code == 400
    assert "big.csv is larger than 2 kB." in page_text(response)


def test_confirm_checks_again_and_refuses_what_changed_since_the_dry_run(
    client, login, db_session, catalogue
):
    login("manager")
    response = upload(
        client,
        patients=("patients.csv", csv_text("patients", PATIENTS)),
        interventions=("interventions.csv", csv_text("interventions", INTERVENTIONS)),
    )
    token = confirm_token(response.get_data(as_text=True))
    # Meanwhile the front desk books Dr. Lee into R-1's slot (the test app's clinic is on UTC).
    lee = db_session.execute(select(StaffUser).where(StaffUser.username == "dr.lee")).scalar_one()
    visit = VisitFactory(
        physician=lee,
        starts_at=datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
        ends_at=datetime(2025, 1, 6, 9, 15, tzinfo=UTC),
    )
    db_session.commit()
    response = client.post(
        "/imports/confirm", data={"csrf_token": csrf_token(client, "/imports"), "token": token}
    )
    assert response.status_code == 200
    page = page_text(response)
    assert "Nothing can be imported yet: 1 problem in the files." in page
    assert (
        "interventions.csv:2: scheduled_start: clashes with the schedule: Dr. Lee is already "
        f"booked: {describe(visit, ZoneInfo('UTC'))}" in page
    )
    assert imported_patient(db_session, "C9000001") is None


def test_confirm_accepts_only_the_token_of_this_session(client, login, db_session, catalogue):
    login("manager")
    response = upload(client, patients=("patients.csv", csv_text("patients", PATIENTS)))
    token = confirm_token(response.get_data(as_text=True))
    for forged in ("../../etc", "A" * 32, token[:-1] + ("A" if token[-1] != "A" else "B")):
        response = client.post(
            "/imports/confirm",
            data={"csrf_token": csrf_token(client, "/imports"), "token": forged},
        )
        assert response.status_code == 302
        assert imported_patient(db_session, "C9000001") is None
    # Without the CSRF token the form is refused outright.
    assert client.post("/imports/confirm", data={"token": token}).status_code == 400
    assert imported_patient(db_session, "C9000001") is None


@pytest.mark.parametrize(
    ("kind", "row", "column"),
    [
        ("patients", "C90\x0000001,Ana,Okafor,1960-05-17,female,,,herniated_disc", "mrn"),
        ("patients", "C9000001,An\x01a,Okafor,1960-05-17,female,,,herniated_disc", "first_name"),
        ("patients", "C9000001,Ana,Oka\x1bfor,1960-05-17,female,,,herniated_disc", "last_name"),
    ],
)
def test_a_control_character_in_a_cell_is_refused_with_its_line_and_column(
    db_session, kind, row, column
):
    report = run(db_session, **{kind: [row]})
    assert any(
        f"{NAMES[kind]}:2: {column}:" in message
        and "control character" in message.lower()
        or f"{NAMES[kind]}:2: {column}: contains a NUL character" in message
        for message in messages(report)
    ), messages(report)
    assert db_session.execute(select(func.count()).select_from(Patient)).scalar_one() == 0


def test_tabs_and_line_breaks_in_notes_are_kept(db_session, catalogue):
    row = with_cell(INTERVENTIONS[0], "interventions", notes='"Line one\r\nline\ttwo"')
    report = good(db_session, interventions=[row, INTERVENTIONS[1]])
    assert not report.problems, messages(report)
    notes = db_session.execute(select(Intervention.notes).where(Intervention.ref == "R-1"))
    assert notes.scalar_one() == "Line one\r\nline\ttwo"
