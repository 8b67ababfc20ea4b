"""The medications file of the import: each intervention it names gets the file's list in place
of its own; an export of it imports back unchanged (docs/formats.md, medications)."""

import csv
import io
from decimal import Decimal

from sqlalchemy import func, select

from clinic.models import AuditEvent, Drug, Intervention, MedicationGiven
from tests.helpers.app import csrf_token
from tests.helpers.imports import INTERVENTIONS, PATIENTS, counts, messages, run
from tests.helpers.round_trip import its_own_session

HEADER = "intervention_id,ref,mrn,performed_on,drug,dose_mg,volume_ml,mpe_mg,route_site"


def medications_file(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def listed(session, ref: str) -> list[tuple[str, Decimal | None, Decimal | None, str | None]]:
    """An intervention's medications, in the order entered."""
    return [
        (name, dose, volume, site)
        for name, dose, volume, site in session.execute(
            select(
                Drug.name,
                MedicationGiven.dose_mg,
                MedicationGiven.volume_ml,
                MedicationGiven.route_site,
            )
            .join(Drug, Drug.id == MedicationGiven.drug_id)
            .join(Intervention, Intervention.id == MedicationGiven.intervention_id)
            .where(Intervention.ref == ref)
            .order_by(MedicationGiven.id)
        )
    ]


def medication_count(session) -> int:
    return session.execute(select(func.count()).select_from(MedicationGiven)).scalar_one()


def imported_with_a_completed_esi(session):
    """The helpers' patients and interventions: R-1 a completed ESI, R-2 a scheduled MBB."""
    report = run(session, patients=PATIENTS, interventions=INTERVENTIONS)
    assert report.ok, messages(report)
    session.flush()


def test_medications_of_a_new_intervention_import_with_it_in_file_order(db_session, catalogue):
    report = run(
        db_session,
        patients=PATIENTS,
        interventions=INTERVENTIONS,
        medications=medications_file(
            ",R-1,C9000001,2025-01-06,Triamcinolone,80,,,L4-L5 left transforaminal",
            ",R-1,,,lidocaine,20,,,skin",
            ",R-1,,,contrast,,2.5,,",
        ),
    )
    assert report.ok, messages(report)
    assert counts(report)["medications"] == (3, 0, 0)
    assert listed(db_session, "R-1") == [
        ("triamcinolone", Decimal("80.00"), None, "L4-L5 left transforaminal"),
        ("lidocaine", Decimal("20.00"), None, "skin"),
        ("contrast", None, Decimal("2.50"), None),
    ]


def test_a_file_replaces_the_list_of_each_intervention_it_names_and_no_other(db_session, catalogue):
    imported_with_a_completed_esi(db_session)
    first = run(
        db_session,
        medications=medications_file(
            ",R-1,,,triamcinolone,80,,,", ",R-1,,,lidocaine,20,,,", ",R-1,,,contrast,,2,,"
        ),
    )
    assert first.ok, messages(first)
    db_session.flush()
    # A second file names R-1 with one medication: the list is that one, and says so in the
    # audit trail with the list before and after.
    second = run(db_session, medications=medications_file(",R-1,,,dexamethasone,10,,,L5-S1"))
    assert second.ok, messages(second)
    assert counts(second)["medications"] == (0, 1, 0)
    assert listed(db_session, "R-1") == [("dexamethasone", Decimal("10.00"), None, "L5-S1")]
    event = db_session.execute(
        select(AuditEvent).where(
            AuditEvent.action == "update", AuditEvent.record_type == "intervention"
        )
    ).scalar_one()
    assert event.changes == {
        "medications": [
            ["triamcinolone 80 mg", "lidocaine 20 mg", "contrast 2 mL"],
            ["dexamethasone 10 mg (L5-S1)"],
        ]
    }


def test_the_same_file_twice_changes_nothing_the_second_time(db_session, catalogue):
    imported_with_a_completed_esi(db_session)
    rows = medications_file(",R-1,,,triamcinolone,40.5,,,", ",R-1,,,bupivacaine,7.25,,,")
    assert run(db_session, medications=rows).ok
    db_session.flush()
    ids = (
        db_session.execute(select(MedicationGiven.id).order_by(MedicationGiven.id)).scalars().all()
    )
    again = run(db_session, medications=rows)
    assert again.ok, messages(again)
    assert counts(again)["medications"] == (0, 0, 2)
    assert (
        db_session.execute(select(MedicationGiven.id).order_by(MedicationGiven.id)).scalars().all()
        == ids
    )
    # The same drugs in another order are another list.
    swapped = medications_file(",R-1,,,bupivacaine,7.25,,,", ",R-1,,,triamcinolone,40.5,,,")
    assert counts(run(db_session, medications=swapped, dry_run=True))["medications"] == (0, 2, 0)


def test_bad_rows_are_refused_with_their_line_and_column_and_nothing_is_written(
    db_session, catalogue
):
    imported_with_a_completed_esi(db_session)
    before = medication_count(db_session)
    report = run(
        db_session,
        medications=medications_file(
            ",R-1,,,aspirin,100,,,",
            ",R-1,,,triamcinolone,-5,,,",
            ",R-1,,,triamcinolone,801,,,",
            ",R-1,,,triamcinolone,,2,,",
            ",R-1,,,contrast,3,,,",
            ",R-404,,,lidocaine,20,,,",
            ",R-2,,,lidocaine,20,,,",
            ",R-1,C9000002,,lidocaine,20,,,",
            ",R-1,,,lidocaine,twenty,,,",
            ",R-1,,,lidocaine,20,,," + "x" * 121,
        ),
    )
    problems = messages(report)
    assert problems[0].startswith(
        'medications.csv:2: drug: "aspirin" is not in the drug catalogue; it has '
    )
    assert problems[1:] == [
        "medications.csv:3: dose_mg: -5 mg is negative",
        "medications.csv:4: dose_mg: 801 mg is more than ten times the usual largest amount "
        "(80 mg); check the figure and its unit",
        "medications.csv:5: dose_mg: empty; a value is required",
        "medications.csv:5: volume_ml: must be empty: triamcinolone is given in mg, in dose_mg",
        "medications.csv:6: dose_mg: must be empty: contrast is given in mL, in volume_ml",
        "medications.csv:6: volume_ml: empty; a value is required",
        'medications.csv:7: ref: no intervention has ref "R-404" in the database',
        "medications.csv:8: ref: R-2 is scheduled, not completed: medications are recorded for "
        "a completed intervention",
        "medications.csv:9: mrn: C9000002 is not the patient of R-1 (its patient's MRN is C9000001)",
        'medications.csv:10: dose_mg: "twenty" is not a number with at most two decimal places',
        "medications.csv:11: route_site: longer than 120 characters",
    ]
    assert medication_count(db_session) == before


def test_a_medications_file_alone_may_name_an_intervention_created_in_clinic(db_session, catalogue):
    imported_with_a_completed_esi(db_session)
    booking_id = db_session.execute(
        select(Intervention.id).where(Intervention.ref == "R-1")
    ).scalar_one()
    db_session.execute(
        Intervention.__table__.update().values(ref=None).where(Intervention.id == booking_id)
    )
    report = run(
        db_session, medications=medications_file(f",clinic:{booking_id},,,lidocaine,20,,,")
    )
    assert report.ok, messages(report)
    assert (
        db_session.execute(
            select(func.count()).where(MedicationGiven.intervention_id == booking_id)
        ).scalar_one()
        == 1
    )


def rows_without_ids(data: bytes) -> list[dict[str, str]]:
    """The medications export's rows, less ``intervention_id`` (each clinic numbers its own)."""
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    return [{k: v for k, v in row.items() if k != "intervention_id"} for row in rows]


def test_the_medications_export_imports_back_unchanged(runner, db_session, empty_clinic, tmp_path):
    from clinic import demo

    demo.seed_demo(db_session, patients=30, seed=3)
    db_session.commit()
    here = {}
    for name in ("patients", "interventions", "medications"):
        path = tmp_path / f"{name}.csv"
        result = runner.invoke(args=["export", name, "-o", str(path)])
        assert result.exit_code == 0, result.output
        here[name] = path.read_bytes()
    assert b"triamcinolone" in here["medications"] and b"contrast" in here["medications"]
    files = [f"--{name}={tmp_path / f'{name}.csv'}" for name in here]
    there = empty_clinic.test_cli_runner()
    with its_own_session():
        imported = there.invoke(args=["import", *files])
        assert imported.exit_code == 0, imported.output
        assert "medications.csv" in imported.output
        again = there.invoke(args=["export", "medications"])
        assert again.exit_code == 0, again.output
        # And once more: nothing new, nothing changed.
        twice = there.invoke(args=["import", *files])
        assert twice.exit_code == 0, twice.output
    assert rows_without_ids(again.stdout_bytes) == rows_without_ids(here["medications"])
    medication_line = next(line for line in twice.output.splitlines() if "medications.csv" in line)
    assert "— 0 new, 0 changed," in medication_line


def test_a_manager_uploads_a_medications_file_and_confirms_it(client, login, db_session, catalogue):
    imported_with_a_completed_esi(db_session)
    db_session.commit()
    login("manager")
    data = {
        "csrf_token": csrf_token(client, "/imports"),
        "medications": (
            io.BytesIO(medications_file(",R-1,,,triamcinolone,80,,,").encode()),
            "given.csv",
        ),
    }
    page = client.post("/imports/preview", data=data, content_type="multipart/form-data")
    text = page.get_data(as_text=True)
    assert "The files can be imported." in text and "given.csv" in text
    token = text.split('name="token" type="hidden" value="')[1].split('"')[0]
    done = client.post(
        "/imports/confirm", data={"csrf_token": csrf_token(client, "/imports"), "token": token}
    )
    assert done.status_code == 302
    assert "given.csv: 1 new, 0 changed, 0 unchanged" in client.get("/imports").get_data(
        as_text=True
    )
    db_session.expire_all()
    assert listed(db_session, "R-1") == [("triamcinolone", Decimal("80.00"), None, None)]
