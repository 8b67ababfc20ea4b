"""The pain-score file staged through COPY and checked in SQL (PostgreSQL, issue 13 item 4)
gives what the batch path gives: the same problems, word for word and line for line, the same
counts, the same scores written and the same audit trail.

Each file runs through both paths on PostgreSQL (``copied.ENABLED`` off for the batch path),
each inside a savepoint that is rolled back, so both start from the same database. On SQLite
only the batch path exists; tests/test_imports.py pins its messages on both databases.
"""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from clinic.models import AuditEvent, Intervention, PainScore, Patient
from clinic.services.interchange.csvio import (
    INTERVENTIONS_COLUMNS,
    PAIN_SCORES_COLUMNS,
    PATIENTS_COLUMNS,
)
from clinic.services.interchange.imports import copied, staging
from tests.helpers.imports import (
    INTERVENTIONS,
    PATIENTS,
    SCORES,
    catalogue,  # noqa: F401 — the fixture, used by every test below
    counts,
    csv_text,
    good,
    messages,
    run,
)

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.fixture
def postgres_only(backend):
    if backend != "postgresql":
        pytest.skip("the COPY stage is PostgreSQL's; SQLite keeps the batch path")


# What the import writes of a patient and of an intervention (its booking's columns too).
PATIENT_WRITTEN = (
    *PATIENTS_COLUMNS,
    "name_key",
    "archived",
    "version",
)
INTERVENTION_WRITTEN = (
    "ref",
    "kind",
    "physician_id",
    "room_id",
    "starts_at",
    "ends_at",
    "status",
    "notes",
    "version",
    "procedure_type_id",
    "performed_on",
    "baseline_nrs",
    "spinal_level",
    "laterality",
    "guidance",
    "fluoro_seconds",
    "air_kerma_mgy",
    "sedation",
)


def outcome(session, files: dict, dry_run: bool) -> dict:
    """What an import reports and writes, rolled back after."""
    with session.begin_nested() as savepoint:
        report = run(session, dry_run=dry_run, **files)
        session.expire_all()
        scores = sorted(
            session.execute(
                select(
                    Intervention.ref,
                    Patient.mrn,  # ids differ: the sequences go on after a rollback
                    PainScore.recorded_on,
                    PainScore.nrs,
                    PainScore.percent_relief,
                    PainScore.source,
                )
                .join(Intervention, Intervention.id == PainScore.intervention_id)
                .join(Patient, Patient.id == PainScore.patient_id)
            ).all(),
            key=str,
        )
        trail = sorted(
            session.execute(
                select(AuditEvent.action, AuditEvent.record_type, AuditEvent.record_id).where(
                    AuditEvent.action == "update"
                )
            ).all()
        )
        changes = sorted(
            str(sorted(changed.items()))
            for changed in session.execute(
                select(AuditEvent.changes).where(AuditEvent.action == "update")
            ).scalars()
        )
        patients = sorted(
            session.execute(select(*[getattr(Patient, name) for name in PATIENT_WRITTEN])).all(),
            key=str,
        )
        interventions = sorted(
            session.execute(
                select(
                    Patient.mrn,
                    *[getattr(Intervention, name) for name in INTERVENTION_WRITTEN],
                ).join(Patient, Patient.id == Intervention.patient_id)
            ).all(),
            key=str,
        )
        result = {
            "problems": messages(report),
            "patients": patients,
            "interventions": interventions,
            "counts": counts(report),
            "rows": [(c.kind, c.rows) for c in report.files],
            "imported": report.imported,
            "scores": scores,
            "trail": trail,
            "changes": changes,
        }
        savepoint.rollback()
    return result


def both_paths(session, monkeypatch, files: dict, dry_run: bool = False) -> tuple[dict, dict]:
    through_copy = outcome(session, files, dry_run)
    with monkeypatch.context() as patch:
        patch.setattr(copied, "ENABLED", False)
        patch.setattr(staging, "STAGE_VALUES", False)
        in_batches = outcome(session, files, dry_run)
    return through_copy, in_batches


def test_the_cells_are_described_column_for_column():
    assert tuple(cell.name for cell in copied.SCORE_CELLS) == PAIN_SCORES_COLUMNS


HOSTILE_SCORES = [
    *SCORES,
    "R-1,2025-03-03, +05 ,007,PHONE",  # signs, zeros and spaces; a source in capitals
    "R-1,2025-03-04,-0,100,",  # minus zero; an empty source is import
    "R-1,2025-03-05,11,101,visit",  # out of range
    "R-1,2025-03-06,1e3,5.5,visit",  # not whole numbers
    "R-1,2025-03-07,٥,١٠,visit",  # digits of another script: Python's int() reads them
    "R-1,2025-03-08,５,,visit",  # a full-width digit
    "R-1,2025-02-30,3,,visit",  # no such day
    "R-1,0000-01-01,3,,visit",
    "R-1,2025-13-01,3,,visit",
    "R-1,2025-1-01,3,,visit",
    "R-1,２０２５-０３-０１,3,,visit",
    "R-1,2026-01-01,3,,visit",  # after today
    "R-1,,,,",  # required cells empty
    ",2025-03-09,3,,visit",  # no ref: refused, not looked up
    "R-404,2025-03-09,3,,visit",  # a ref of nothing
    "R-404,2025-03-10,x,,visit",  # … with a bad cell too
    "RÉF-9,2025-03-09,3,,visit",
    "X" * 65 + ",2025-03-09,3,,visit",  # too long a ref
    "R-1,2025-01-20,9,,visit",  # a second score of R-1 on 20 January
    "R-1,2025-03-11,3,,visit,extra",  # too many cells
    "R-1,2025-03-12,3",  # too few
    "R-2,2025-03-13,'=3,,visit",  # a formula guard is taken off, the rest is no number
    'R-2,2025-03-14,"4\n",,visit',  # a line break in a quoted cell: the next line numbers on
    'R-2,"2025-03-15\t",4,,visit',
    "R-2,2025-03-16,4,,\x00visit",  # a NUL
    "R-2,2025-03-17,4,,phone\x01",  # another control character
    "R-2,2025-03-18,10,0,self_report",
    "   ",  # a blank record is skipped, its line still counted
    "R-2,2025-03-19,0,,visit",
]


def test_hostile_scores_get_the_same_problems_through_copy(db_session, postgres_only, monkeypatch):
    files = {"patients": PATIENTS, "interventions": INTERVENTIONS, "pain_scores": HOSTILE_SCORES}
    through_copy, in_batches = both_paths(db_session, monkeypatch, files)
    assert through_copy == in_batches
    problems = through_copy["problems"]
    assert "pain_scores.csv:6: nrs: 11 is out of range: a whole number from 0 to 10" in problems
    assert "pain_scores.csv:15: recorded_on: 2026-01-01 is in the future" in problems
    assert "pain_scores.csv:29: source: contains a NUL character" in problems  # after the break
    # Python's int() reads digits of any script, and so does the import, through either path.
    assert not [p for p in problems if p.startswith(("pain_scores.csv:8:", "pain_scores.csv:9:"))]
    assert not through_copy["imported"] and through_copy["scores"] == []


def test_the_same_scores_counts_and_audit_through_copy(db_session, postgres_only, monkeypatch):
    assert good(db_session).ok
    scores = [
        "R-1,2025-01-20,3,60,phone",  # unchanged
        "R-1,2025-02-17,6,,self_report",  # changed: nrs and source
        "clinic:999999,2025-01-21,2,,visit",  # from another Clinic: unknown here
    ]
    files = {"pain_scores": scores}
    through_copy, in_batches = both_paths(db_session, monkeypatch, files)
    assert through_copy == in_batches
    assert through_copy["problems"] == [
        'pain_scores.csv:4: intervention_ref: no intervention has ref "clinic:999999" in the '
        "database"
    ]
    files = {
        "interventions": [
            *INTERVENTIONS,
            "R-3,C9000003,RFA,dr.lee,2025-01-07T10:00,"
            "2025-01-07T10:30,Suite 1,completed,2025-01-07,6,,,",
        ],
        "pain_scores": [
            "R-1,2025-01-20,3,60,phone",  # unchanged
            "R-1,2025-02-17,6,,self_report",  # changed
            "R-3,2025-02-01,5,40,phone",  # of an intervention new in the same import
            "R-2,2025-02-01,1,,visit",  # new
        ],
    }
    through_copy, in_batches = both_paths(db_session, monkeypatch, files)
    assert through_copy == in_batches
    assert through_copy["counts"]["pain_scores"] == (2, 1, 1)
    assert through_copy["imported"]
    assert through_copy["changes"] == [
        str(sorted({"nrs": [4, 6], "source": ["visit", "self_report"]}.items()))
    ]
    assert len(through_copy["scores"]) == 4


def test_a_clinic_id_and_a_dry_run_through_copy(db_session, postgres_only, monkeypatch):
    assert good(db_session).ok
    made = db_session.execute(select(Intervention).where(Intervention.ref == "R-2")).scalar_one()
    made.ref = None  # as if made in Clinic: its export writes clinic:ID
    db_session.flush()
    files = {
        "pain_scores": [
            f"clinic:{made.id},2025-03-01,2,,visit",
            f"{made.id},2025-03-02,2,,visit",  # a bare id, as older exports wrote it
            f"clinic:0{made.id},2025-03-03,2,,visit",  # not as an id is written: a ref
        ]
    }
    for dry_run in (True, False):
        through_copy, in_batches = both_paths(db_session, monkeypatch, files, dry_run)
        assert through_copy == in_batches
        assert through_copy["problems"] == [
            f'pain_scores.csv:4: intervention_ref: no intervention has ref "clinic:0{made.id}" '
            "in the database"
        ]
        assert through_copy["counts"]["pain_scores"] == (2, 0, 0)
    through_copy, in_batches = both_paths(
        db_session, monkeypatch, {"pain_scores": files["pain_scores"][:2]}
    )
    assert through_copy == in_batches
    assert through_copy["imported"] and len(through_copy["scores"]) == 4


# Random files --------------------------------------------------------------------------------

CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "10",
            "+7",
            "-1",
            "007",
            "100",
            "101",
            "1.5",
            "x",
            "٣",
            "2025-01-20",
            "2025-02-29",
            "2024-02-29",
            "2025-06-03",
            "0001-01-01",
            "R-1",
            "R-2",
            "r-1",
            "clinic:1",
            "phone",
            "visit",
            "self_report",
            "import",
            "Phone",
            "'=1",
            "'-3",
            "a\nb",
        ]
    ),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(st.lists(CELLS, min_size=4, max_size=6), min_size=1, max_size=12))
def test_random_score_files_get_the_same_outcome_through_both_paths(
    db_session, postgres_only, rows
):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    text = csv_text("pain_scores", []) + buffer.getvalue()
    files = {"interventions": INTERVENTIONS, "patients": PATIENTS, "pain_scores": text}
    with pytest.MonkeyPatch.context() as monkeypatch:
        through_copy, in_batches = both_paths(db_session, monkeypatch, files)
    assert through_copy == in_batches


def test_a_nul_in_a_ref_is_a_problem_not_a_server_error(db_session, postgres_only):
    # PostgreSQL's text cannot hold a NUL: the batch path fails on it there (a 500 on the web).
    report = run(db_session, dry_run=True, pain_scores=["R\x00-1,2025-01-20,3,,visit"])
    assert messages(report)[0] == "pain_scores.csv:2: intervention_ref: contains a NUL character"


# Patients and interventions written from their staged rows ------------------------------------


def full_file(kind: str, rows: list[str]) -> str:
    """A file with every column, the later optional ones too (consent, radiation)."""
    columns = {"patients": PATIENTS_COLUMNS, "interventions": INTERVENTIONS_COLUMNS}[kind]
    return "\n".join([",".join(columns), *rows]) + "\n"


def test_new_and_changed_patients_and_interventions_written_alike(
    db_session, postgres_only, monkeypatch
):
    first = {"patients": PATIENTS, "interventions": INTERVENTIONS, "pain_scores": SCORES}
    through_copy, in_batches = both_paths(db_session, monkeypatch, first)
    assert through_copy == in_batches
    assert through_copy["imported"] and through_copy["counts"]["interventions"] == (2, 0, 0)
    assert good(db_session).ok
    db_session.add(
        Patient(
            mrn="c 9000009",  # stored as written before imports normalised MRNs
            first_name="Dee",
            last_name="Old",
            date_of_birth=date(1950, 1, 1),
            sex="female",
            condition="herniated_disc",
            name_key="old dee",
        )
    )
    db_session.flush()
    files = {
        "patients": full_file(
            "patients",
            [
                # unchanged but for consent, given now
                "C9000001,Ana,Okafor,1960-05-17,female,555-0101,ana@example.org,"
                "herniated_disc,true,2025-05-01",
                "C9000002,Benedikt,Lindgren,1948-11-02,male,,,spinal_stenosis,,",  # renamed
                "C9000009,Dee,Old,1950-01-01,female,,,herniated_disc,,",  # MRN normalised
                "C9000004,Zoë,Nakamura,1990-12-31,female,555-0104,,SPINAL STENOSIS,"
                "false,",  # new, a condition by its label
            ],
        ),
        "interventions": full_file(
            "interventions",
            [
                # changed: moved, another room, a note of two lines, radiation given
                "R-1,C9000001,ESI-TF,dr.lee,2025-01-06T10:00,2025-01-06T10:30,Suite 2,"
                'completed,2025-01-06,7,L4-L5,left,"Tolerated well\n then rested",'
                "fluoroscopy,35,12.0,minimal",
                # changed: to another patient, out of its room, cancelled
                "R-2,C9000003,MBB,dr.kim,2025-01-06T09:00,2025-01-06T09:45,,cancelled,,,,,,,,,",
                # new, of a new patient and of one whose MRN the file normalises
                "R-5,C9000004,RFA,dr.lee,2025-01-08T09:00,2025-01-08T09:30,Suite 1,"
                "completed,2025-01-08,8,,bilateral,,ct,,,",
                "R-6,c 9000009,FJI,dr.kim,2025-01-06T09:15,2025-01-06T09:45,Suite 2,"
                "scheduled,,,,,  spaces kept  ,,,,",
            ],
        ),
        "pain_scores": ["R-5,2025-02-01,4,50,phone", "R-2,2025-02-01,5,,visit"],
    }
    for dry_run in (True, False):
        through_copy, in_batches = both_paths(db_session, monkeypatch, files, dry_run)
        assert through_copy == in_batches
        assert through_copy["problems"] == []
        assert through_copy["counts"]["patients"] == (1, 3, 0)
        assert through_copy["counts"]["interventions"] == (2, 2, 0)
    assert through_copy["imported"]
    assert len(through_copy["changes"]) == 3 + 2
    written = {row.ref: row for row in through_copy["interventions"]}
    assert written["R-1"].air_kerma_mgy == Decimal("12.0")
    assert written["R-1"].notes == "Tolerated well\n then rested"
    assert written["R-6"].mrn == "C9000009" and written["R-6"].notes == "  spaces kept  "


def test_a_second_import_of_the_same_files_writes_nothing_through_either_path(
    db_session, postgres_only, monkeypatch
):
    assert good(db_session).ok
    files = {"patients": PATIENTS, "interventions": INTERVENTIONS, "pain_scores": SCORES}
    through_copy, in_batches = both_paths(db_session, monkeypatch, files)
    assert through_copy == in_batches
    assert through_copy["counts"] == {
        "patients": (0, 0, 3),
        "interventions": (0, 0, 2),
        "pain_scores": (0, 0, 2),
    }
    assert through_copy["changes"] == []


HOSTILE_PATIENTS = [
    *PATIENTS,
    "C9000010,,Okafor,1960-05-17,female,,,herniated_disc",  # no first name
    "C9000011,Ana," + "X" * 81 + ",1960-05-17,female,,,herniated_disc",  # too long
    "C9000012,Ana,Okafor,1960-02-30,female,,,herniated_disc",  # no such day
    "C9000013,Ana,Okafor,1899-12-31,female,,,herniated_disc",  # before 1900
    "C9000014,Ana,Okafor,1960-05-17,woman,,,herniated_disc",  # not a sex of the list
    "C9000015,Ana,Okafor,1960-05-17,female," + "5" * 41 + ",,herniated_disc",
    "C9000016,Ana,Okafor,1960-05-17,female,,ana@,herniated_disc",  # no address
    "C9000017,Ana,Okafor,1960-05-17,female,,,gout",  # not a condition
    "c 9000001,Ana,Okafor,1960-05-17,female,,,herniated_disc",  # twice, spelt otherwise
    "C9000018,Ana\x01,Okafor,1960-05-17,female,,,herniated_disc",  # a control character
    ",Ana,Okafor,1960-05-17,female,,,herniated_disc",  # no MRN
    "C9000019,Ana,Okafor,1960-05-17",  # too few cells
]
HOSTILE_INTERVENTIONS = [
    *INTERVENTIONS,
    "R-10,C9000001,XYZ,dr.lee,2025-02-06T09:00,2025-02-06T09:30,,scheduled,,,,,",
    "R-11,C9000001,MBB,morgan,2025-02-06T10:00,2025-02-06T10:30,,scheduled,,,,,",
    "R-12,C9000001,MBB,dr.nobody,2025-02-06T11:00,2025-02-06T11:30,,scheduled,,,,,",
    "R-13,C9000001,MBB,dr.lee,2025-02-06 12:00,2025-02-06T12:30,,scheduled,,,,,",
    "R-14,C9000001,MBB,dr.lee,2025-03-30T02:30,2025-03-30T03:30,,scheduled,,,,,",  # no 02:30
    "R-15,C9000001,MBB,dr.lee,2025-02-06T13:00,2025-02-06T12:30,,scheduled,,,,,",
    "R-16,C9000001,MBB,dr.lee,2025-02-06T01:00,2025-02-06T14:00,,scheduled,,,,,",  # 13 hours
    "R-17,C9000001,MBB,dr.lee,2025-02-07T09:00,2025-02-07T09:30,Suite 9,scheduled,,,,,",
    "R-18,C9000001,MBB,dr.lee,2025-02-07T10:00,2025-02-07T10:30,,done,,,,,",
    "R-19,C9000001,MBB,dr.lee,2025-02-07T11:00,2025-02-07T11:30,,completed,,,,,",
    "R-20,C9000001,MBB,dr.lee,2025-02-07T12:00,2025-02-07T12:30,,scheduled,2025-02-07,,,,",
    "R-21,C9000001,MBB,dr.lee,2025-02-07T13:00,2025-02-07T13:30,,scheduled,,11,,,",
    "R-22,C9000001,MBB,dr.lee,2025-02-07T14:00,2025-02-07T14:30,,scheduled,,,,middle,",
    "R-23,C9000404,MBB,dr.lee,2025-02-07T15:00,2025-02-07T15:30,,scheduled,,,,,",
    "R-24,C9000002,MBB,dr.lee,2025-01-06T09:15,2025-01-06T09:45,Suite 2,scheduled,,,,,",
    "R-1,C9000001,MBB,dr.lee,2025-02-08T09:00,2025-02-08T09:30,,scheduled,,,,,",  # twice
    "R-25,C9000001,MBB,dr.lee,2025-02-08T10:00,2025-02-08T10:30,,completed,2030-01-01,,,,",
]


def test_hostile_patients_and_interventions_get_the_same_problems(
    db_session, postgres_only, monkeypatch
):
    files = {"patients": HOSTILE_PATIENTS, "interventions": HOSTILE_INTERVENTIONS}
    through_copy, in_batches = both_paths(db_session, monkeypatch, files)
    assert through_copy == in_batches
    problems = through_copy["problems"]
    assert len(problems) >= len(HOSTILE_PATIENTS) - 3 + len(HOSTILE_INTERVENTIONS) - 2
    assert not through_copy["imported"] and through_copy["patients"] == []
