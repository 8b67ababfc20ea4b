"""Consent to email contact: on the patient form and page, in the patients import and export
(`email_consent`, `email_consent_on` at the end; older files without them still import and
leave the stored consent as it is)."""

import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from clinic import clock
from clinic.models import AuditEvent, Patient
from clinic.services.filters import ReportFilters
from clinic.services.interchange import exports
from clinic.services.interchange.imports import COLUMNS, import_files
from tests.factories import PatientFactory
from tests.helpers.app import csrf_token

ZONE = ZoneInfo("UTC")
TODAY = date(2026, 3, 1)
OLD_HEADER = "mrn,first_name,last_name,date_of_birth,sex,phone,email,condition"
NEW_HEADER = ",".join(COLUMNS["patients"])


def form(client, url, **overrides):
    data = {
        "csrf_token": csrf_token(client, url),
        "first_name": "Zoë",
        "last_name": "Müller",
        "date_of_birth": "1961-04-02",
        "sex": "female",
        "condition": "spinal_stenosis",
        "phone": "555-201-3344",
        "email": "zoe@example.org",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def only_patient(db_session) -> Patient:
    db_session.expire_all()
    return db_session.execute(select(Patient)).scalar_one()


def test_consent_given_on_the_form_is_stored_with_today_and_shown_on_the_patient_page(
    client, login, db_session
):
    login("front_desk")
    response = client.post("/patients/new", data=form(client, "/patients/new", email_consent="y"))
    assert response.status_code == 302
    patient = only_patient(db_session)
    today = clock.clinic_today("UTC")
    assert (patient.email_consent, patient.email_consent_on) == (True, today)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Agreed on {today.isoformat()}" in page


def test_consent_without_an_email_address_is_refused_with_the_input_kept(client, login, db_session):
    login("front_desk")
    response = client.post(
        "/patients/new", data=form(client, "/patients/new", email="", email_consent="y")
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Enter the email address the patient agreed to be emailed at" in page
    assert 'value="Müller"' in page
    assert db_session.execute(select(func.count()).select_from(Patient)).scalar_one() == 0


def test_a_consent_date_in_the_future_is_refused(client, login, db_session):
    login("front_desk")
    response = client.post(
        "/patients/new",
        data=form(client, "/patients/new", email_consent="y", email_consent_on="2999-01-01"),
    )
    assert "The date of consent cannot be in the future." in response.get_data(as_text=True)
    assert db_session.execute(select(func.count()).select_from(Patient)).scalar_one() == 0


def test_withdrawn_consent_clears_its_date_and_is_audited(client, login, db_session):
    patient = PatientFactory(
        email="ana@example.org", email_consent=True, email_consent_on=date(2026, 1, 5)
    )
    db_session.commit()
    login("front_desk")
    url = f"/patients/{patient.id}/edit"
    page = client.get(url).get_data(as_text=True)
    assert 'value="2026-01-05"' in page and "checked" in page
    data = form(
        client,
        url,
        first_name=patient.first_name,
        last_name=patient.last_name,
        date_of_birth=patient.date_of_birth.isoformat(),
        sex=patient.sex,
        condition=patient.condition,
        email="ana@example.org",
        email_consent_on="2026-01-05",
        version=str(patient.version),
    )
    assert client.post(url, data=data).status_code == 302
    stored = only_patient(db_session)
    assert (stored.email_consent, stored.email_consent_on) == (False, None)
    changes = db_session.execute(
        select(AuditEvent.changes).where(
            AuditEvent.record_type == "patient", AuditEvent.action == "update"
        )
    ).scalar_one()
    assert changes["email_consent"] == [True, False]


def run_import(db_session, text: str, dry_run: bool = False):
    return import_files(
        db_session,
        {"patients": ("patients.csv", io.BytesIO(text.encode()))},
        dry_run,
        ZONE,
        today=TODAY,
    )


def problems(report) -> list[str]:
    return [str(problem) for problem in report.problems]


def test_the_patients_file_with_consent_columns_imports_them(db_session):
    report = run_import(
        db_session,
        f"{NEW_HEADER}\n"
        "C9100001,Ana,Okafor,1960-05-17,female,,ana@example.org,herniated_disc,true,2026-02-01\n"
        "C9100002,Ben,Lindgren,1948-11-02,male,,,spinal_stenosis,false,\n"
        "C9100003,Cleo,Ng,1970-01-01,other,,,other,,\n",
    )
    assert problems(report) == []
    stored = {
        p.mrn: (p.email_consent, p.email_consent_on)
        for p in db_session.execute(select(Patient)).scalars()
    }
    assert stored == {
        "C9100001": (True, date(2026, 2, 1)),
        "C9100002": (False, None),
        "C9100003": (False, None),  # an empty cell: no consent recorded
    }


def test_bad_consent_cells_are_refused_with_line_and_column_and_nothing_is_written(db_session):
    report = run_import(
        db_session,
        f"{NEW_HEADER}\n"
        "C9100001,Ana,Okafor,1960-05-17,female,,ana@example.org,other,yes,2026-02-01\n"
        "C9100002,Ben,Lind,1948-11-02,male,,ben@example.org,other,true,\n"
        "C9100003,Cleo,Ng,1970-01-01,other,,cleo@example.org,other,false,2026-02-01\n"
        "C9100004,Dev,Rao,1970-01-01,male,,dev@example.org,other,true,2026-03-02\n"
        "C9100005,Eve,Li,1970-01-01,female,,,other,true,2026-02-01\n",
    )
    assert problems(report) == [
        'patients.csv:2: email_consent: "yes" is not true or false',
        "patients.csv:3: email_consent_on: empty; give the date consent was given as YYYY-MM-DD",
        "patients.csv:4: email_consent_on: must be empty unless email_consent is true",
        "patients.csv:5: email_consent_on: 2026-03-02 is in the future",
        "patients.csv:6: email_consent: true, but the email is empty; give the address agreed to",
    ]
    assert db_session.execute(select(func.count()).select_from(Patient)).scalar_one() == 0


def test_an_older_file_without_the_consent_columns_leaves_the_stored_consent_as_it_is(db_session):
    PatientFactory(
        mrn="C9100001",
        first_name="Ana",
        last_name="Okafor",
        date_of_birth=date(1960, 5, 17),
        sex="female",
        condition="herniated_disc",
        email="ana@example.org",
        email_consent=True,
        email_consent_on=date(2026, 1, 5),
    )
    db_session.flush()
    report = run_import(
        db_session,
        f"{OLD_HEADER}\n"
        "C9100001,Ana,Okafor,1960-05-17,female,555-0101,ana@example.org,herniated_disc\n"
        "C9100002,Ben,Lindgren,1948-11-02,male,,,spinal_stenosis\n",
    )
    assert problems(report) == []
    assert [(c.new, c.changed, c.unchanged) for c in report.files] == [(1, 1, 0)]
    stored = {
        p.mrn: (p.phone, p.email_consent, p.email_consent_on)
        for p in db_session.execute(select(Patient)).scalars()
    }
    assert stored == {
        "C9100001": ("555-0101", True, date(2026, 1, 5)),
        "C9100002": (None, False, None),
    }


def test_one_consent_column_without_the_other_is_refused(db_session):
    report = run_import(
        db_session,
        f"{OLD_HEADER},email_consent\n"
        "C9100001,Ana,Okafor,1960-05-17,female,,ana@example.org,other,true\n",
    )
    assert problems(report) == [
        "patients.csv:1: email_consent_on: missing column; it comes with email_consent"
    ]


def export_text(db_session, in_database: bool) -> str:
    stream = exports.CsvStream(
        exports.EXPORTS["patients"],
        db_session,
        ReportFilters(),
        ZONE,
        bom=False,
        in_database=in_database,
    )
    return "".join(stream)


def consenting_and_not(db_session) -> None:
    PatientFactory(
        mrn="C9200001", email="a@example.org", email_consent=True, email_consent_on=date(2026, 2, 3)
    )
    PatientFactory(mrn="C9200002", email="b@example.org")
    db_session.flush()


def test_the_patients_export_ends_with_the_consent_columns_and_imports_back_unchanged(
    db_session,
):
    consenting_and_not(db_session)
    text = export_text(db_session, in_database=False)
    lines = text.splitlines()
    assert lines[0] == NEW_HEADER
    assert lines[0].endswith(",email_consent,email_consent_on")
    assert lines[1].startswith("C9200001,") and lines[1].endswith(",true,2026-02-03")
    assert lines[2].startswith("C9200002,") and lines[2].endswith(",false,")
    report = run_import(db_session, text, dry_run=True)
    assert problems(report) == []
    assert [(c.new, c.changed, c.unchanged) for c in report.files] == [(0, 0, 2)]


def test_postgresql_writes_the_consent_columns_byte_for_byte_as_python_does(db_session, backend):
    if backend != "postgresql":
        pytest.skip("only PostgreSQL writes the plain exports itself (sql_csv)")
    consenting_and_not(db_session)
    by_database = export_text(db_session, in_database=True)
    assert by_database == export_text(db_session, in_database=False)
    assert ",true,2026-02-03\r\n" in by_database


def test_the_demo_has_consenting_patients_and_reminders_due_for_a_dry_run(runner, db_session):
    seeded = runner.invoke(args=["seed-demo", "--patients", "60"])
    assert seeded.exit_code == 0, seeded.output
    consenting = db_session.execute(
        select(func.count()).select_from(Patient).where(Patient.email_consent.is_(True))
    ).scalar_one()
    with_address = db_session.execute(
        select(func.count()).select_from(Patient).where(Patient.email.is_not(None))
    ).scalar_one()
    assert 0 < consenting < with_address
    dry = runner.invoke(args=["reminders", "send", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would email" in dry.output
    listed = [line for line in dry.output.splitlines() if "@example.org>" in line]
    assert listed, dry.output


def test_the_diary_export_writes_each_entry_with_its_block(runner, db_session):
    from clinic.models import DiaryEntry
    from tests.factories import InterventionFactory, procedure_type

    block = InterventionFactory(
        procedure_type=procedure_type("MBB"),
        status="completed",
        performed_on=date(2026, 2, 10),
        ref="=EXT-7",
    )
    other = InterventionFactory(status="completed", performed_on=date(2026, 1, 5))
    for intervention, minutes, nrs, percent in ((block, 30, 2, 80), (block, 0, 1, None)):
        db_session.add(
            DiaryEntry(
                intervention_id=intervention.id,
                minutes_after=minutes,
                nrs=nrs,
                percent_relief=percent,
                recorded_at=datetime(2026, 2, 10, 15, minutes % 60, tzinfo=UTC),
                source="self_report",
            )
        )
    db_session.add(
        DiaryEntry(
            intervention_id=other.id,
            minutes_after=0,
            nrs=5,
            recorded_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
            source="paper",
        )
    )
    db_session.flush()
    result = runner.invoke(args=["export", "diary", "--from", "2026-02-01"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.decode().split("\r\n") == [
        "intervention_id,ref,mrn,procedure_code,performed_on,minutes_after,nrs,percent_relief,"
        "recorded_at",
        f"{block.id},'=EXT-7,{block.patient.mrn},MBB,2026-02-10,0,1,,2026-02-10T15:00",
        f"{block.id},'=EXT-7,{block.patient.mrn},MBB,2026-02-10,30,2,80,2026-02-10T15:30",
        "",
    ]


def test_self_reported_scores_appear_in_the_pain_scores_export_as_self_report(runner, db_session):
    from tests.factories import InterventionFactory, PainScoreFactory

    done = InterventionFactory(status="completed", performed_on=date(2026, 2, 10))
    PainScoreFactory(intervention=done, recorded_on=date(2026, 2, 24), nrs=2, source="self_report")
    db_session.flush()
    result = runner.invoke(args=["export", "pain-scores"])
    assert result.exit_code == 0, result.output
    assert f"clinic:{done.id},2026-02-24,2,,self_report\r\n" in result.stdout_bytes.decode()


def test_the_database_refuses_a_consent_date_without_consent(db_session):
    patient = PatientFactory(email="a@example.org")
    db_session.flush()
    with (
        pytest.raises(IntegrityError, match="(?i)email_consent|check"),
        db_session.begin_nested(),
    ):
        db_session.execute(
            update(Patient)
            .where(Patient.id == patient.id)
            .values(email_consent=False, email_consent_on=date(2026, 1, 1))
        )
