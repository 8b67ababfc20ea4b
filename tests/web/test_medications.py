"""What was given during a procedure: medications, guidance and radiation, corticosteroid
equivalence and the rolling windows of the steroid limits, the booking form's warning."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from clinic import clock
from clinic.models import AuditEvent, Drug, Intervention, MedicationGiven, SteroidLimit
from clinic.services import DomainError
from clinic.services.medications.equivalence import mpe_mg, to_tenth
from clinic.services.medications.exposure import steroid_exposure
from clinic.services.medications.given import MedicationRow, Radiation
from clinic.services.procedures import Completion, complete_intervention
from tests.factories import InterventionFactory, PatientFactory, procedure_type
from tests.helpers.app import csrf_token
from tests.helpers.round_trip import its_own_session
from tests.helpers.statement_count import count_statements

ZONE = ZoneInfo("UTC")


def drug(session, name: str) -> Drug:
    return session.execute(select(Drug).where(Drug.name == name)).scalar_one()


# The published equivalence table: each of these doses is 4 mg of methylprednisolone.
@pytest.mark.parametrize(
    "name, dose, expected",
    [
        ("methylprednisolone", "4", "4"),
        ("triamcinolone", "4", "4"),
        ("dexamethasone", "0.75", "4"),
        ("betamethasone", "0.6", "4"),
        ("triamcinolone", "80", "80"),
        ("methylprednisolone", "40", "40"),
        ("dexamethasone", "10", "53.3"),
        ("dexamethasone", "15", "80"),
        ("betamethasone", "6", "40"),
        ("betamethasone", "12", "80"),
    ],
)
def test_seeded_corticosteroids_convert_as_the_published_table_says(
    db_session, name, dose, expected
):
    steroid = drug(db_session, name)
    assert to_tenth(mpe_mg(Decimal(dose), steroid.equivalent_mg)) == Decimal(expected).quantize(
        Decimal("0.1")
    )


def test_local_anaesthetics_and_contrast_have_no_equivalence(db_session):
    for name in ("lidocaine", "bupivacaine", "ropivacaine", "contrast"):
        assert drug(db_session, name).equivalent_mg is None
    assert drug(db_session, "contrast").unit == "ml"


def test_seeded_limits_are_200_mg_per_12_months_and_400_mg_per_3_years(db_session):
    limits = db_session.execute(
        select(SteroidLimit.window_months, SteroidLimit.max_mpe_mg).order_by(
            SteroidLimit.window_months
        )
    ).all()
    assert [(months, int(most)) for months, most in limits] == [(12, 200), (36, 400)]


def given(session, patient, performed_on: date, dose_mg: str, name="triamcinolone", code="ESI-TF"):
    """A completed procedure with one corticosteroid dose."""
    start = datetime.combine(performed_on, datetime.min.time(), UTC) + timedelta(hours=9)
    intervention = InterventionFactory(
        patient=patient,
        procedure_type=procedure_type(code),
        starts_at=start,
        ends_at=start + timedelta(minutes=30),
        status="completed",
        performed_on=performed_on,
        baseline_nrs=7,
    )
    session.flush()
    session.add(
        MedicationGiven(
            intervention_id=intervention.id,
            drug_id=drug(session, name).id,
            dose_mg=Decimal(dose_mg),
        )
    )
    session.flush()
    return intervention


def totals(session, patient, on: date) -> dict[int, Decimal]:
    exposure = steroid_exposure(session, patient.id, on)
    return {window.window_months: window.total_mpe_mg for window in exposure.windows}


def test_a_dose_exactly_12_months_before_is_outside_the_window(db_session):
    patient = PatientFactory()
    given(db_session, patient, date(2025, 11, 27), "80")
    given(db_session, patient, date(2025, 11, 28), "40")
    assert totals(db_session, patient, date(2026, 11, 27)) == {
        12: Decimal("40.0"),
        36: Decimal("120.0"),
    }
    # A day earlier, the first dose is still inside.
    assert totals(db_session, patient, date(2026, 11, 26))[12] == Decimal("120.0")


def test_the_windows_count_leap_days_by_the_calendar(db_session):
    patient = PatientFactory()
    given(db_session, patient, date(2027, 2, 28), "80")
    given(db_session, patient, date(2024, 2, 29), "40", name="methylprednisolone")
    # One year before 2028-02-29 is 2027-02-28: the window starts on 2027-03-01.
    assert totals(db_session, patient, date(2028, 2, 29))[12] == Decimal("0.0")
    assert totals(db_session, patient, date(2028, 2, 28))[12] == Decimal("0.0")
    assert totals(db_session, patient, date(2028, 2, 27))[12] == Decimal("80.0")
    # The 12 months up to 2025-02-28 run from 2024-02-29; those up to 2025-03-01 from 2024-03-02.
    assert totals(db_session, patient, date(2025, 2, 28))[12] == Decimal("40.0")
    assert totals(db_session, patient, date(2025, 3, 1))[12] == Decimal("0.0")
    # Three years up to 2027-02-28 run from 2024-02-29; up to 2027-03-01 from 2024-03-02.
    assert totals(db_session, patient, date(2027, 2, 28))[36] == Decimal("120.0")
    assert totals(db_session, patient, date(2027, 3, 1))[36] == Decimal("80.0")


def test_only_corticosteroids_of_completed_procedures_count(db_session):
    patient = PatientFactory()
    done = given(db_session, patient, date(2026, 6, 1), "10", name="dexamethasone")
    db_session.add(
        MedicationGiven(
            intervention_id=done.id, drug_id=drug(db_session, "lidocaine").id, dose_mg=50
        )
    )
    db_session.add(
        MedicationGiven(
            intervention_id=done.id, drug_id=drug(db_session, "contrast").id, volume_ml=3
        )
    )
    cancelled = given(db_session, patient, date(2026, 7, 1), "80")
    cancelled.status = "cancelled"
    db_session.flush()
    assert totals(db_session, patient, date(2026, 11, 27))[12] == Decimal("53.3")


def test_the_warning_names_the_limit_and_the_procedures_that_count(db_session):
    patient = PatientFactory()
    given(db_session, patient, date(2026, 3, 2), "80", code="ESI-IL")
    given(db_session, patient, date(2026, 7, 6), "10", name="dexamethasone")
    exposure = steroid_exposure(
        db_session, patient.id, date(2026, 12, 10), procedure_type("ESI-TF")
    )
    [warning] = exposure.warnings
    assert warning.window_months == 12 and warning.with_planned_mpe_mg == Decimal("213.3")
    message = exposure.warning_message()
    assert "limit of 200.0 mg" in message
    assert (
        "ESI-IL on 2026-03-02 (80.0 mg)" in message and "ESI-TF on 2026-07-06 (53.3 mg)" in message
    )
    # Without the planned dose the total is within the limit, and nothing warns.
    assert steroid_exposure(db_session, patient.id, date(2026, 12, 10)).warnings == []
    # A procedure without a usual steroid dose never warns.
    assert (
        steroid_exposure(db_session, patient.id, date(2026, 12, 10), procedure_type("RFA")).warnings
        == []
    )


def test_the_totals_take_the_same_number_of_statements_however_long_the_history(app, db_session):
    patient = PatientFactory()
    given(db_session, patient, date(2026, 1, 5), "40")
    patient_id = patient.id

    def statements() -> int:
        planned = procedure_type("ESI-IL")
        assert planned.usual_steroid_mpe_mg is not None
        with count_statements(app) as counter:
            exposure = steroid_exposure(db_session, patient_id, date(2026, 11, 27), planned)
        assert exposure.windows[0].doses
        return counter.count

    few = statements()
    for month in range(2, 12):
        given(db_session, patient, date(2026, month, 3), "40")
    db_session.expire_all()
    assert statements() == few


# --- recording what was given --------------------------------------------------------------


@pytest.fixture
def booked(db_session):
    intervention = InterventionFactory(
        starts_at=datetime(2026, 11, 17, 9, tzinfo=UTC),
        ends_at=datetime(2026, 11, 17, 9, 30, tzinfo=UTC),
    )
    db_session.flush()
    return intervention


def completion(db_session, medications=(), **radiation) -> Completion:
    return Completion(
        performed_on=date(2026, 11, 17),
        baseline_nrs=8,
        medications=[
            MedicationRow(drug(db_session, name).id, Decimal(amount), site)
            for name, amount, site in medications
        ],
        radiation=Radiation(**radiation),
    )


def test_completion_records_the_medications_and_the_radiation(db_session, booked):
    complete_intervention(
        db_session,
        booked,
        booked.version,
        completion(
            db_session,
            [("triamcinolone", "80", "L5-S1 left TF"), ("contrast", "2", None)],
            guidance="fluoroscopy",
            fluoro_seconds=42,
            air_kerma_mgy=Decimal("6.4"),
            sedation="local_only",
        ),
        date(2026, 11, 27),
        zone=ZONE,
    )
    rows = db_session.execute(
        select(
            Drug.name,
            MedicationGiven.dose_mg,
            MedicationGiven.volume_ml,
            MedicationGiven.route_site,
        )
        .join(Drug)
        .where(MedicationGiven.intervention_id == booked.id)
        .order_by(MedicationGiven.id)
    ).all()
    assert [(name, dose, volume, site) for name, dose, volume, site in rows] == [
        ("triamcinolone", Decimal("80.00"), None, "L5-S1 left TF"),
        ("contrast", None, Decimal("2.00"), None),
    ]
    assert (booked.guidance, booked.fluoro_seconds, booked.air_kerma_mgy, booked.sedation) == (
        "fluoroscopy",
        42,
        Decimal("6.4"),
        "local_only",
    )


@pytest.mark.parametrize(
    "medications, radiation, field, message",
    [
        ([("triamcinolone", "-40", None)], {}, "medications", "cannot be negative"),
        ([("dexamethasone", "151", None)], {}, "medications", "more than ten times"),
        ([("contrast", "250", None)], {}, "medications", r"250 mL is more than ten times"),
        ([], {"fluoro_seconds": 3601}, "fluoro_seconds", "from 0 to 3,600"),
        ([], {"air_kerma_mgy": Decimal("5000.1")}, "air_kerma_mgy", "from 0 to 5,000"),
        ([], {"air_kerma_mgy": Decimal("-1")}, "air_kerma_mgy", "from 0 to 5,000"),
        ([], {"air_kerma_mgy": Decimal("NaN")}, "air_kerma_mgy", "from 0 to 5,000"),
        ([("triamcinolone", "NaN", None)], {}, "medications", "write the amount as a number"),
    ],
)
def test_absurd_doses_and_radiation_are_refused_and_nothing_is_saved(
    db_session, booked, medications, radiation, field, message
):
    with pytest.raises(DomainError, match=message) as refused:
        complete_intervention(
            db_session,
            booked,
            booked.version,
            completion(db_session, [("lidocaine", "50", None), *medications], **radiation),
            date(2026, 11, 27),
            zone=ZONE,
        )
    assert refused.value.field == field
    assert booked.status == "scheduled" and booked.fluoro_seconds is None
    assert db_session.scalar(select(func.count()).select_from(MedicationGiven)) == 0


def test_the_largest_plausible_values_are_accepted(db_session, booked):
    complete_intervention(
        db_session,
        booked,
        booked.version,
        completion(
            db_session,
            [("dexamethasone", "150", None)],
            fluoro_seconds=3600,
            air_kerma_mgy=Decimal("5000"),
        ),
        date(2026, 11, 27),
        zone=ZONE,
    )
    assert booked.fluoro_seconds == 3600


def form_data(client, url, intervention, **extra) -> dict:
    data = {
        "csrf_token": csrf_token(client, url),
        "performed_on": "2026-11-17",
        "baseline_nrs": "8",
        "version": str(intervention.version),
    }
    data.update(extra)
    return data


def test_physician_records_two_medications_and_edits_them_afterwards(
    client, login, db_session, booked
):
    login("physician")
    db_session.commit()
    url = f"/schedule/bookings/{booked.id}/complete"
    triamcinolone, lidocaine = drug(db_session, "triamcinolone"), drug(db_session, "lidocaine")
    response = client.post(
        url,
        data=form_data(
            client,
            url,
            booked,
            **{
                "medications-0-drug_id": str(triamcinolone.id),
                "medications-0-amount": "80",
                "medications-0-route_site": "L5-S1 left",
                "medications-1-drug_id": str(lidocaine.id),
                "medications-1-amount": "20",
                "medications-2-drug_id": "",
                "guidance": "fluoroscopy",
                "fluoro_seconds": "38",
                "air_kerma_mgy": "5.2",
                "sedation": "local_only",
            },
        ),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(f"/patients/{booked.patient_id}").get_data(as_text=True)
    assert "triamcinolone 80 mg (L5-S1 left)" in page and "lidocaine 20 mg" in page
    assert "38 s fluoroscopy" in page and "5.2 mGy air kerma" in page
    assert "Corticosteroid exposure" in page and "80.0 mg" in page
    # Editing: the form shows both, and emptying the second line takes it off, audited.
    form = client.get(url).get_data(as_text=True)
    assert 'value="L5-S1 left"' in form and 'name="medications-4-drug_id"' in form
    db_session.expire_all()
    intervention = db_session.get(Intervention, booked.id)
    response = client.post(
        url,
        data=form_data(
            client,
            url,
            intervention,
            **{
                "medications-0-drug_id": str(triamcinolone.id),
                "medications-0-amount": "40",
                "medications-1-drug_id": "",
                "medications-1-amount": "",
            },
        ),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    db_session.expire_all()
    remaining = (
        db_session.execute(
            select(MedicationGiven).where(MedicationGiven.intervention_id == booked.id)
        )
        .scalars()
        .all()
    )
    assert [(m.drug.name, m.dose_mg) for m in remaining] == [("triamcinolone", Decimal("40.00"))]
    removed = (
        db_session.execute(select(AuditEvent).where(AuditEvent.record_type == "medication_given"))
        .scalars()
        .all()
    )
    assert any("removed" in (event.changes or {}) for event in removed)


def test_a_refused_dose_on_the_form_says_what_to_fix_and_keeps_the_input(
    client, login, db_session, booked
):
    login("physician")
    db_session.commit()
    url = f"/schedule/bookings/{booked.id}/complete"
    response = client.post(
        url,
        data=form_data(
            client,
            url,
            booked,
            **{
                "medications-0-drug_id": str(drug(db_session, "triamcinolone").id),
                "medications-0-amount": "900",
                "fluoro_seconds": "40",
            },
        ),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Medication 1 (triamcinolone): 900 mg is more than ten times" in page
    assert 'value="900"' in page and 'value="40"' in page
    db_session.expire_all()
    assert db_session.get(Intervention, booked.id).status == "scheduled"


def test_booking_a_steroid_procedure_over_the_limit_warns_and_still_books(
    client, login, db_session
):
    patient = PatientFactory()
    today = clock.utcnow().date()
    given(db_session, patient, today - timedelta(days=200), "80", code="ESI-IL")
    given(db_session, patient, today - timedelta(days=60), "80")
    login("physician")
    db_session.commit()
    esi = procedure_type("ESI-TF")
    page = client.get(f"/schedule/new?patient_id={patient.id}&what=ESI-TF").get_data(as_text=True)
    earlier = (today - timedelta(days=200)).isoformat()
    assert "Corticosteroid exposure" in page
    assert "steroid-warning" in page and f"ESI-IL on {earlier} (80.0 mg)" in page, page
    assert esi.usual_steroid_mpe_mg == Decimal("80.0")


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_a_steroid_booking_on_a_day_no_calendar_holds_is_refused_with_the_form_kept(
    client, login, db_session, day
):
    # The steroid check works out months around the planned day: never from a refused one.
    patient = PatientFactory()
    given(db_session, patient, clock.utcnow().date() - timedelta(days=60), "80")
    login("physician")
    db_session.commit()
    esi = procedure_type("ESI-TF")
    response = client.post(
        "/schedule/new",
        data={
            "csrf_token": csrf_token(client, "/schedule/new"),
            "what": f"procedure:{esi.id}",
            "patient_mrn": patient.mrn,
            "day": day,
            "start_time": "09:00",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Dates run from 1900-01-01 to 9998-12-31: check the year." in page
    assert f'value="{day}"' in page
    # Only the procedure given before: nothing was booked.
    assert db_session.execute(select(func.count()).select_from(Intervention)).scalar_one() == 1


# --- FHIR ----------------------------------------------------------------------------------------


def test_medications_given_are_medication_administrations_part_of_their_procedure(db_session):
    from fhir.resources.R4B.bundle import Bundle

    from clinic.services.interchange import fhir

    patient = PatientFactory()
    esi = given(db_session, patient, date(2026, 5, 4), "10", name="dexamethasone")
    esi.guidance, esi.fluoro_seconds, esi.air_kerma_mgy = "fluoroscopy", 41, Decimal("6.3")
    db_session.add(
        MedicationGiven(
            intervention_id=esi.id,
            drug_id=drug(db_session, "contrast").id,
            volume_ml=Decimal("1.5"),
            route_site="L5-S1 left\x01 transforaminal",
        )
    )
    db_session.flush()
    data = fhir.bundle(db_session, "UTC", patient.id)
    Bundle.model_validate(data)
    procedure_url = fhir.full_url("intervention", esi.id)
    given_entries = [
        entry["resource"]
        for entry in data["entry"]
        if entry["resource"]["resourceType"] == "MedicationAdministration"
    ]
    assert [r["medicationCodeableConcept"]["text"] for r in given_entries] == [
        "dexamethasone",
        "contrast",
    ]
    assert all(r["partOf"] == [{"reference": procedure_url}] for r in given_entries)
    assert all(r["effectiveDateTime"] == "2026-05-04" for r in given_entries)
    assert given_entries[0]["dosage"]["dose"] == {
        "value": 10,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    assert given_entries[1]["dosage"] == {
        "dose": {"value": 1.5, "unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL"},
        "text": "L5-S1 left transforaminal",
    }
    [procedure] = [
        entry["resource"] for entry in data["entry"] if entry["fullUrl"] == procedure_url
    ]
    assert {
        "text": "Guidance: fluoroscopy; fluoroscopy time 41 s; air kerma 6.3 mGy."
    } in procedure["note"]


# --- seed-demo -------------------------------------------------------------------------------------


def test_demo_gives_realistic_drugs_and_some_patients_would_pass_the_limit(db_session):
    from clinic import demo
    from clinic.models import Patient, ProcedureType
    from clinic.services.identity.audit import COMMAND_LINE, act_as

    act_as(db_session, COMMAND_LINE)
    demo.seed_demo(db_session, patients=300, seed=5)
    db_session.flush()
    rows = db_session.execute(
        select(ProcedureType.code, Drug.name, MedicationGiven.dose_mg, MedicationGiven.volume_ml)
        .join(Intervention, Intervention.id == MedicationGiven.intervention_id)
        .join(ProcedureType, ProcedureType.id == Intervention.procedure_type_id)
        .join(Drug, Drug.id == MedicationGiven.drug_id)
    ).all()
    esi_steroids = {(name, dose) for code, name, dose, _ in rows if code.startswith("ESI") and dose}
    assert ("triamcinolone", Decimal("80.00")) in esi_steroids
    assert ("dexamethasone", Decimal("10.00")) in esi_steroids
    assert all(name != "contrast" or volume for _, name, _, volume in rows)
    assert not {name for code, name, _, _ in rows if code in ("MBB", "RFA")} & {
        "triamcinolone",
        "dexamethasone",
        "methylprednisolone",
        "betamethasone",
    }
    radiation = db_session.execute(
        select(Intervention.fluoro_seconds, Intervention.air_kerma_mgy).where(
            Intervention.status == "completed", Intervention.guidance == "fluoroscopy"
        )
    ).all()
    assert radiation and all(0 < s <= 600 and 0 < k < 200 for s, k in radiation)
    today = clock.utcnow().date()
    esi = procedure_type("ESI-TF")
    warned = [
        patient_id
        for patient_id in db_session.scalars(select(Patient.id))
        if steroid_exposure(db_session, patient_id, today, esi).warnings
    ]
    assert warned, "no demo patient would see the corticosteroid warning"


# --- relief by drug ------------------------------------------------------------------------------


def test_the_relief_report_compares_epidurals_by_the_corticosteroid_given(
    client, login, db_session
):
    from clinic.services.filters import NO_STEROID, ReportFilters
    from clinic.services.relief.reports import relief_summary
    from tests.factories import PainScoreFactory

    patient = PatientFactory()
    triamcinolone = given(db_session, patient, date(2026, 1, 5), "80")
    dexamethasone = given(
        db_session, PatientFactory(), date(2026, 1, 6), "10", name="dexamethasone"
    )
    plain = given(db_session, PatientFactory(), date(2026, 1, 7), "50", name="lidocaine")
    for intervention, nrs in ((triamcinolone, 1), (dexamethasone, 6), (plain, 7)):
        PainScoreFactory(intervention=intervention, recorded_on=date(2026, 2, 20), nrs=nrs)
    db_session.flush()

    def completed(steroid):
        [summary] = relief_summary(db_session, ReportFilters(steroid=steroid))
        return summary.completed, summary.responders

    assert completed("triamcinolone") == (1, 1)
    assert completed("dexamethasone") == (1, 0)
    assert completed(NO_STEROID) == (1, 0)
    assert relief_summary(db_session, ReportFilters(steroid="betamethasone")) == []
    login("manager")
    db_session.commit()
    page = client.get("/reports/relief?steroid=dexamethasone").get_data(as_text=True)
    assert "given dexamethasone" in page
    refused = client.get("/reports/relief?steroid=aspirin").get_data(as_text=True)
    assert "The report was not run" in refused


# --- interventions export and import: the guidance and radiation columns --------------------------

# The other clinic's empty database, as the round-trip test makes it.


def test_interventions_with_radiation_export_import_and_export_again_unchanged(
    runner, db_session, empty_clinic, tmp_path
):
    from clinic import demo

    demo.seed_demo(db_session, patients=30, seed=3)
    db_session.commit()
    here = {}
    for name in ("patients", "interventions"):
        path = tmp_path / f"{name}.csv"
        result = runner.invoke(args=["export", name, "-o", str(path)])
        assert result.exit_code == 0, result.output
        here[name] = path.read_bytes()
    assert b"fluoroscopy" in here["interventions"] and b"local_only" in here["interventions"]
    there = empty_clinic.test_cli_runner()
    with its_own_session():
        imported = there.invoke(
            args=[
                "import",
                "--patients",
                str(tmp_path / "patients.csv"),
                "--interventions",
                str(tmp_path / "interventions.csv"),
            ]
        )
        assert imported.exit_code == 0, imported.output
        again = there.invoke(args=["export", "interventions"])
        assert again.exit_code == 0, again.output
    assert again.stdout_bytes == here["interventions"]


def test_an_older_interventions_file_leaves_guidance_and_radiation_as_they_are(
    runner, db_session, tmp_path
):
    from clinic.services.interchange.csvio import INTERVENTIONS_COLUMNS

    patient = PatientFactory(mrn="R0001")
    done = given(db_session, patient, date(2026, 3, 2), "80")
    done.guidance, done.fluoro_seconds, done.air_kerma_mgy = "fluoroscopy", 30, Decimal("4.5")
    db_session.commit()
    exported = runner.invoke(args=["export", "interventions"])
    assert exported.exit_code == 0, exported.output
    lines = exported.output.splitlines()
    older = tmp_path / "older.csv"
    old_columns = INTERVENTIONS_COLUMNS[:-4]
    older.write_text(
        "\n".join(",".join(line.split(",")[: len(old_columns)]) for line in lines) + "\n"
    )
    assert lines[0].startswith(",".join(old_columns)) and "guidance" not in older.read_text()
    result = runner.invoke(args=["import", "--interventions", str(older)])
    assert result.exit_code == 0, result.output
    assert "1 unchanged" in result.output
    db_session.expire_all()
    kept = db_session.get(Intervention, done.id)
    assert (kept.guidance, kept.fluoro_seconds, kept.air_kerma_mgy) == (
        "fluoroscopy",
        30,
        Decimal("4.5"),
    )


def test_a_bad_radiation_cell_is_refused_with_its_line_and_column(runner, db_session, tmp_path):
    patient = PatientFactory(mrn="R0002")
    given(db_session, patient, date(2026, 3, 2), "80")
    db_session.commit()
    exported = runner.invoke(args=["export", "interventions"]).output.splitlines()
    header, row = exported[0], exported[1]
    bad = tmp_path / "bad.csv"
    cells = row.split(",")
    cells[-4:] = ["xray", "3601", "6.45", "deep"]
    bad.write_text(header + "\n" + ",".join(cells) + "\n")
    result = runner.invoke(args=["import", "--interventions", str(bad)])
    assert result.exit_code != 0
    assert (
        'bad.csv:2: guidance: "xray" is not one of fluoroscopy, ct, ultrasound, none'
        in result.output
    )
    assert "bad.csv:2: fluoro_seconds: 3601 is out of range" in result.output
    assert "bad.csv:2: air_kerma_mgy:" in result.output
    assert 'bad.csv:2: sedation: "deep" is not one of' in result.output


# --- the medications export and the admin pages --------------------------------------------------


def test_the_medications_export_writes_a_row_per_medication_with_its_mpe(runner, db_session):
    patient = PatientFactory(mrn="X0001")
    done = given(db_session, patient, date(2026, 4, 1), "10", name="dexamethasone")
    db_session.add(
        MedicationGiven(
            intervention_id=done.id,
            drug_id=drug(db_session, "contrast").id,
            volume_ml=Decimal("1.5"),
            route_site="=L5-S1, left",
        )
    )
    db_session.commit()
    result = runner.invoke(args=["export", "medications", "--from", "2026-04-01"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "intervention_id,ref,mrn,performed_on,drug,dose_mg,volume_ml,mpe_mg,route_site",
        f"{done.id},clinic:{done.id},X0001,2026-04-01,dexamethasone,10.00,,53.3,",
        f'{done.id},clinic:{done.id},X0001,2026-04-01,contrast,,1.50,,"\'=L5-S1, left"',
    ]
    later = runner.invoke(args=["export", "medications", "--from", "2026-04-02"])
    assert later.output.splitlines()[1:] == []


def test_an_admin_edits_a_drug_and_a_limit_and_the_warning_follows(client, login, db_session):
    patient = PatientFactory()
    today = clock.utcnow().date()
    given(db_session, patient, today - timedelta(days=30), "80")
    login("admin")
    db_session.commit()
    esi = procedure_type("ESI-TF")
    assert steroid_exposure(db_session, patient.id, today, esi).warnings == []
    limit = db_session.execute(
        select(SteroidLimit).where(SteroidLimit.window_months == 12)
    ).scalar_one()
    url = f"/admin/drugs/limits/{limit.id}"
    response = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "window_months": "12",
            "max_mpe_mg": "150",
            "active": "y",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    db_session.expire_all()
    [warning] = steroid_exposure(db_session, patient.id, today, esi).warnings
    assert warning.max_mpe_mg == Decimal("150.0")
    # A corticosteroid is recorded in mg: an equivalence on a drug given in mL is refused.
    contrast = drug(db_session, "contrast")
    url = f"/admin/drugs/{contrast.id}"
    page = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "name": "Contrast",
            "unit": "ml",
            "equivalent_mg": "4",
            "usual_max": "20",
            "active": "y",
        },
    ).get_data(as_text=True)
    assert "A corticosteroid is recorded in mg" in page
    db_session.expire_all()
    assert drug(db_session, "contrast").equivalent_mg is None
    assert "triamcinolone" in client.get("/admin/drugs").get_data(as_text=True)
