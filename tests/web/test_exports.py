"""Exports (docs/formats.md): the same columns and values from the command line and the web.

Every export's header exactly; values and their formatting; formula-safe text; RFC 4180 and
CRLF; the BOM on the web only; filters; access, headers and audit of downloads; statements
and memory that do not grow with the rows; the export command's refusals.
"""

import json
import os
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select, text

from clinic import clock
from clinic.models import (
    AuditEvent,
    DiaryEntry,
    Drug,
    MedicationGiven,
    PainScore,
    ScsDevice,
    StimulatorAdjustment,
)
from clinic.services.filters import ReportFilters
from clinic.services.identity import audit
from clinic.services.interchange import exports, sql_csv
from clinic.services.interchange.csvio import BOM
from clinic.services.relief import reports
from clinic.views import exports as export_views
from tests.factories import (
    InterventionFactory,
    PainScoreFactory,
    PatientFactory,
    PhysicianFactory,
    ReferralFactory,
    RoomFactory,
    VisitFactory,
    procedure_type,
)
from tests.helpers.app import inline_scripts
from tests.helpers.exports import cli_bytes, parse, records, run_export, web_bytes
from tests.helpers.statement_count import count_statements

NOW = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)

HEADERS = {
    "relief-summary": "procedure_code,procedure_name,completed,evaluable,responders,"
    "responder_rate_pct,events,censored,median_relief_days,median_ci_low_days,"
    "median_ci_high_days,relief_90d_pct,relief_180d_pct,relief_365d_pct",
    "relief-curve": "procedure_code,day,at_risk,events,censored,relief_pct,ci_low_pct,ci_high_pct",
    "outcomes": "intervention_id,ref,mrn,procedure_code,physician,performed_on,spinal_level,"
    "laterality,baseline_nrs,followups,best_relief_pct,responder,onset_days,relief_days,"
    "relief_ongoing,last_followup_on,repeat_eligible",
    "patients": "mrn,first_name,last_name,date_of_birth,sex,phone,email,condition,"
    "email_consent,email_consent_on",
    "interventions": "ref,mrn,procedure_code,physician,scheduled_start,scheduled_end,room,status,"
    "performed_on,baseline_nrs,spinal_level,laterality,notes,guidance,fluoro_seconds,"
    "air_kerma_mgy,sedation",
    "medications": "intervention_id,ref,mrn,performed_on,drug,dose_mg,volume_ml,mpe_mg,route_site",
    "pain-scores": "intervention_ref,recorded_on,nrs,percent_relief,source",
    "diary": "intervention_id,ref,mrn,procedure_code,performed_on,minutes_after,nrs,"
    "percent_relief,recorded_at",
    "stimulator-adjustments": "visit_id,mrn,device_serial,visited_on,program,paradigm,"
    "amplitude_ma,frequency_hz,pulse_width_us,contacts,impedance_ohms,battery_pct,cpt_code,"
    "pain_before,pain_after,notes",
    "referrals": "referral_id,mrn,received_on,referring_clinician,referring_practice,condition,"
    "urgency,status,status_reason,reason",
    "schedule": "booking_id,kind,mrn,physician,room,scheduled_start,scheduled_end,status,"
    "status_reason,procedure_code,visit_kind,intervention_id,intervention_ref,referral_id,"
    "performed_on,notes,desk_note",
    "eligibility": "mrn,procedure_code,region,as_of,eligible,rule,reason,deciding_dates",
}
RELIEF_EXPORTS = ("relief-summary", "relief-curve")
OWN_EXPORTS = [name for name in HEADERS if name not in RELIEF_EXPORTS]


def has_reports() -> bool:
    try:
        import clinic.services.relief.reports  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


def available_exports() -> list[str]:
    return [*OWN_EXPORTS, *(RELIEF_EXPORTS if has_reports() else ())]


# --- helpers -------------------------------------------------------------------------------------


def by(rows: list[dict[str, str]], column: str) -> dict[str, dict[str, str]]:
    return {row[column]: row for row in rows}


def export_audit_rows(db_session) -> list[AuditEvent]:
    db_session.expire_all()
    return list(
        db_session.execute(
            select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.id)
        ).scalars()
    )


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


@pytest.fixture
def frozen(monkeypatch):
    """Today is 2025-07-01 (repeat eligibility is judged as of the export date)."""
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)


@pytest.fixture
def clinic(db_session, frozen) -> SimpleNamespace:
    """A small clinic whose every export value is known.

    Ana (M0001, a name full of commas, quotes and accents): an ESI-TF on 2025-03-10 that gave
    relief from day 14 until day 92 (an event), a scheduled RFA, a stimulator programming visit
    in the small hours of 2025-01-15 UTC, a referral received 2025-02-01.
    =HYPERLINK("x") (M0002): an RFA on 2025-05-01 that made pain worse (-50%), and an FJI with
    no follow-up yet. An archived patient whose records must appear nowhere.
    """
    grey = PhysicianFactory(username="dr.grey", full_name="Dr. Meredith Grey")
    suite = RoomFactory(name="Suite A")
    ana = PatientFactory(
        mrn="M0001",
        first_name="Zoë Ana",
        last_name='Smith, "Jr."',
        date_of_birth=date(1961, 2, 3),
        sex="female",
        phone="555-0101",
        email="ana@example.org",
        condition="herniated_disc",
    )
    formula = PatientFactory(
        mrn="M0002",
        first_name='=HYPERLINK("x")',
        last_name="Ørsted",
        date_of_birth=date(1950, 12, 31),
        sex="male",
        phone=None,
        email=None,
        condition="facet_joint_arthritis",
    )
    archived = PatientFactory(mrn="M0009", archived=True)
    referral = ReferralFactory(
        patient=ana,
        received_on=date(2025, 2, 1),
        referring_clinician="Dr. Family, Practice",
        referring_practice=None,
        reason="Leg pain\nafter lifting",
        condition="herniated_disc",
        urgency="urgent",
        status="scheduled",
    )
    declined = ReferralFactory(
        patient=formula,
        received_on=date(2025, 4, 10),
        reason="Facet pain",
        condition="facet_joint_arthritis",
        status="declined",
        status_reason="-not a candidate",
    )
    esi = InterventionFactory(
        patient=ana,
        physician=grey,
        room=suite,
        procedure_type=procedure_type("ESI-TF"),
        referral=referral,
        starts_at=at(date(2025, 3, 10), 14, 30),
        ends_at=at(date(2025, 3, 10), 15, 0),
        status="completed",
        performed_on=date(2025, 3, 10),
        baseline_nrs=8,
        spinal_level="L4-L5",
        laterality="left",
        notes='line one\nline two, with "quotes"',
        guidance="fluoroscopy",
        fluoro_seconds=38,
        air_kerma_mgy=Decimal("5.2"),
        sedation="local_only",
    )
    for day, nrs in [
        (date(2025, 3, 10), 8),  # the pre-procedure score: exported, never a follow-up
        (date(2025, 3, 24), 2),  # 75% → onset, day 14
        (date(2025, 4, 21), 3),  # 62.5%
        (date(2025, 6, 10), 6),  # 25% → relief ended, day 92
    ]:
        PainScoreFactory(intervention=esi, recorded_on=day, nrs=nrs, source="visit")
    planned = InterventionFactory(
        patient=ana,
        physician=grey,
        procedure_type=procedure_type("RFA"),
        starts_at=at(date(2025, 8, 1), 15),
        ends_at=at(date(2025, 8, 1), 16),
        status="scheduled",
    )
    rfa = InterventionFactory(
        patient=formula,
        physician=grey,
        room=suite,
        procedure_type=procedure_type("RFA"),
        ref="EXT-9",
        starts_at=at(date(2025, 5, 1), 13),
        ends_at=at(date(2025, 5, 1), 14),
        status="completed",
        performed_on=date(2025, 5, 1),
        baseline_nrs=4,
        spinal_level="L3-L5",
        laterality="bilateral",
    )
    PainScoreFactory(
        intervention=rfa, recorded_on=date(2025, 5, 15), nrs=6, source="phone", percent_relief=None
    )
    fji = InterventionFactory(
        patient=formula,
        physician=grey,
        procedure_type=procedure_type("FJI"),
        starts_at=at(date(2025, 5, 20), 13),
        ends_at=at(date(2025, 5, 20), 13, 30),
        status="completed",
        performed_on=date(2025, 5, 20),
        baseline_nrs=None,
    )
    programming = VisitFactory(
        patient=ana,
        physician=grey,
        visit_kind="stimulator_adjustment",
        intervention=esi,
        starts_at=at(date(2025, 1, 15), 3),
        ends_at=at(date(2025, 1, 15), 3, 20),
        status="completed",
    )
    device = ScsDevice(
        patient=ana,
        manufacturer="Abbott",
        model="Proclaim XR",
        serial_number="-SER1",
        implanted_on=date(2024, 11, 1),
    )
    db_session.add(device)
    db_session.flush()
    db_session.add(
        StimulatorAdjustment(
            visit=programming,
            device=device,
            program_slot=2,
            paradigm="burst",
            amplitude_ma=Decimal("2.5"),
            frequency_hz=40,
            pulse_width_us=450,
            contacts="2+ 3-",
            impedance_ohms="961, 1062",
            battery_pct=85,
            cpt_code="95972",
            pain_before=6,
            pain_after=3,
            notes="Tuned",
        )
    )
    # The archived patient: records in every table, none exported.
    hidden = InterventionFactory(
        patient=archived,
        physician=grey,
        procedure_type=procedure_type("ESI-IL"),
        starts_at=at(date(2025, 3, 11), 9),
        ends_at=at(date(2025, 3, 11), 9, 30),
        status="completed",
        performed_on=date(2025, 3, 11),
        baseline_nrs=7,
    )
    PainScoreFactory(intervention=hidden, recorded_on=date(2025, 3, 25), nrs=2)
    drugs = dict(db_session.execute(select(Drug.name, Drug.id)).all())
    db_session.add_all(
        [
            MedicationGiven(
                intervention_id=esi.id,
                drug_id=drugs["dexamethasone"],
                dose_mg=Decimal("10"),
                route_site="=L4-L5 left, transforaminal",
            ),
            MedicationGiven(intervention_id=esi.id, drug_id=drugs["contrast"], volume_ml=2),
            MedicationGiven(intervention_id=hidden.id, drug_id=drugs["triamcinolone"], dose_mg=80),
        ]
    )
    ReferralFactory(patient=archived, received_on=date(2025, 2, 2))
    db_session.commit()
    return SimpleNamespace(
        ana=ana,
        formula=formula,
        archived=archived,
        referral=referral,
        declined=declined,
        esi=esi,
        planned=planned,
        rfa=rfa,
        fji=fji,
        programming=programming,
        hidden=hidden,
    )


@pytest.fixture
def manager(frozen, login):
    return login("manager")


# --- headers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", OWN_EXPORTS)
def test_every_export_has_exactly_the_designed_header(runner, name):
    data = cli_bytes(runner, name)
    assert data.split(b"\r\n")[0].decode() == HEADERS[name]


@pytest.mark.parametrize("name", RELIEF_EXPORTS)
def test_relief_exports_come_from_the_relief_report_with_their_header(runner, clinic, name):
    pytest.importorskip("clinic.services.relief.reports")
    data = cli_bytes(runner, name)
    assert data.split(b"\r\n")[0].decode() == HEADERS[name]


def test_the_registry_holds_every_export_of_the_design():
    assert set(exports.EXPORTS) == set(HEADERS)
    for name, header in HEADERS.items():
        own = getattr(exports, name.upper().replace("-", "_") + "_HEADER", None)
        if own is not None:
            assert ",".join(own) == header


# --- values ----------------------------------------------------------------------------------------


def test_patients_export_writes_every_patient_but_the_archived(runner, clinic):
    rows = records(cli_bytes(runner, "patients"))
    assert [row["mrn"] for row in rows] == ["M0001", "M0002"]
    assert rows[0] == {
        "mrn": "M0001",
        "first_name": "Zoë Ana",
        "last_name": 'Smith, "Jr."',
        "date_of_birth": "1961-02-03",
        "sex": "female",
        "phone": "555-0101",
        "email": "ana@example.org",
        "condition": "herniated_disc",
        "email_consent": "false",
        "email_consent_on": "",
    }
    assert rows[1]["phone"] == "" and rows[1]["email"] == ""  # unknown → empty


def test_interventions_export_writes_the_import_columns_in_the_clinic_zone(
    app, runner, clinic, monkeypatch
):
    monkeypatch.setitem(app.config, "CLINIC_TIMEZONE", "America/New_York")
    rows = by(records(cli_bytes(runner, "interventions")), "ref")
    esi = rows[f"clinic:{clinic.esi.id}"]  # created in Clinic: its id, marked, is its ref
    assert esi == {
        "ref": f"clinic:{clinic.esi.id}",
        "mrn": "M0001",
        "procedure_code": "ESI-TF",
        "physician": "dr.grey",
        "scheduled_start": "2025-03-10T10:30",  # 14:30 UTC is 10:30 EDT (DST began 9 March)
        "scheduled_end": "2025-03-10T11:00",
        "room": "Suite A",
        "status": "completed",
        "performed_on": "2025-03-10",
        "baseline_nrs": "8",
        "spinal_level": "L4-L5",
        "laterality": "left",
        "notes": 'line one\nline two, with "quotes"',
        "guidance": "fluoroscopy",
        "fluoro_seconds": "38",
        "air_kerma_mgy": "5.2",
        "sedation": "local_only",
    }
    assert rows["EXT-9"]["mrn"] == "M0002"  # an imported ref is kept
    planned = rows[f"clinic:{clinic.planned.id}"]
    assert planned["status"] == "scheduled"
    assert planned["performed_on"] == planned["baseline_nrs"] == planned["room"] == ""
    assert set(rows) == {
        f"clinic:{clinic.esi.id}",
        f"clinic:{clinic.planned.id}",
        "EXT-9",
        f"clinic:{clinic.fji.id}",
    }


def test_times_are_utc_when_the_clinic_zone_is_utc(runner, clinic):
    rows = by(records(cli_bytes(runner, "interventions")), "ref")
    assert rows[f"clinic:{clinic.esi.id}"]["scheduled_start"] == "2025-03-10T14:30"


def test_pain_scores_export_names_each_score_by_its_intervention_ref(runner, clinic):
    rows = records(cli_bytes(runner, "pain-scores"))
    esi = f"clinic:{clinic.esi.id}"
    assert rows == [
        {
            "intervention_ref": esi,
            "recorded_on": "2025-03-10",
            "nrs": "8",
            "percent_relief": "",
            "source": "visit",
        },
        {
            "intervention_ref": esi,
            "recorded_on": "2025-03-24",
            "nrs": "2",
            "percent_relief": "",
            "source": "visit",
        },
        {
            "intervention_ref": esi,
            "recorded_on": "2025-04-21",
            "nrs": "3",
            "percent_relief": "",
            "source": "visit",
        },
        {
            "intervention_ref": esi,
            "recorded_on": "2025-06-10",
            "nrs": "6",
            "percent_relief": "",
            "source": "visit",
        },
        {
            "intervention_ref": "EXT-9",
            "recorded_on": "2025-05-15",
            "nrs": "6",
            "percent_relief": "",
            "source": "phone",
        },
    ]


def test_outcomes_export_writes_relief_per_completed_intervention(runner, clinic):
    rows = by(records(cli_bytes(runner, "outcomes")), "intervention_id")
    assert set(rows) == {str(clinic.esi.id), str(clinic.rfa.id), str(clinic.fji.id)}
    assert rows[str(clinic.esi.id)] == {
        "intervention_id": str(clinic.esi.id),
        "ref": f"clinic:{clinic.esi.id}",
        "mrn": "M0001",
        "procedure_code": "ESI-TF",
        "physician": "dr.grey",
        "performed_on": "2025-03-10",
        "spinal_level": "L4-L5",
        "laterality": "left",
        "baseline_nrs": "8",
        "followups": "3",
        "best_relief_pct": "75.0",
        "responder": "true",
        "onset_days": "14",
        "relief_days": "92",
        "relief_ongoing": "false",
        "last_followup_on": "2025-06-10",
        # Epidural repeat: relief lasting 3 months must be documented by a relieved score on or
        # after 2025-06-10; the last relieved one is 2025-04-21 (day 42), and the score of
        # 2025-06-10 is not relieved: relief had ended by then.
        "repeat_eligible": "false",
    }
    rfa = rows[str(clinic.rfa.id)]
    assert rfa["ref"] == "EXT-9"
    assert rfa["best_relief_pct"] == "-50.0"  # worse than baseline: kept, a number
    assert rfa["responder"] == "false"
    assert rfa["onset_days"] == rfa["relief_days"] == rfa["relief_ongoing"] == ""
    assert rfa["repeat_eligible"] == "false"  # the prior RFA gave no relief
    fji = rows[str(clinic.fji.id)]  # no baseline, no follow-up: not evaluable
    assert fji["followups"] == "0"
    assert fji["baseline_nrs"] == fji["best_relief_pct"] == fji["responder"] == ""
    assert fji["last_followup_on"] == ""
    assert fji["repeat_eligible"] == ""  # no rule names FJI


def test_outcomes_threshold_decides_who_is_relieved_and_for_how_long(runner, clinic):
    rows = by(records(cli_bytes(runner, "outcomes", "--threshold", "70")), "intervention_id")
    esi = rows[str(clinic.esi.id)]
    # At 70%: relieved on day 14 (75%), not on day 42 (62.5%) → relief ended at day 42.
    assert (esi["responder"], esi["onset_days"], esi["relief_days"]) == ("true", "14", "42")
    rows = by(records(cli_bytes(runner, "outcomes", "--threshold", "80")), "intervention_id")
    assert rows[str(clinic.esi.id)]["responder"] == "false"
    assert rows[str(clinic.esi.id)]["relief_days"] == ""


def test_repeat_eligibility_is_judged_on_the_whole_history_as_of_the_export_date(
    runner, clinic, monkeypatch
):
    # Filtering outcomes to May leaves the ESI out but the RFA's verdict is the same.
    rows = records(cli_bytes(runner, "outcomes", "--from", "2025-05-01", "--to", "2025-05-31"))
    assert {row["procedure_code"]: row["repeat_eligible"] for row in rows} == {
        "RFA": "false",
        "FJI": "",
    }
    # Eligibility is as of the export date: moving the clock back changes it.
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2025, 3, 11, 12, tzinfo=UTC))
    rows = by(records(cli_bytes(runner, "outcomes")), "intervention_id")
    # As of 2025-03-11 the ESI had no follow-up yet: its relief cannot be assessed.
    assert rows[str(clinic.esi.id)]["repeat_eligible"] == "false"
    # Its own relief columns still count every score, as the patient page and the relief report
    # do: only eligibility is judged as of the export date.
    esi = rows[str(clinic.esi.id)]
    assert (esi["followups"], esi["relief_days"], esi["last_followup_on"]) == (
        "3",
        "92",
        "2025-06-10",
    )


def test_stimulator_adjustments_export_dates_the_visit_on_the_clinic_calendar(
    app, runner, clinic, monkeypatch
):
    rows = records(cli_bytes(runner, "stimulator-adjustments"))
    expected = {
        "visit_id": str(clinic.programming.id),
        "mrn": "M0001",
        "device_serial": "'-SER1",  # text starting with - is made safe
        "visited_on": "2025-01-15",
        "program": "2",
        "paradigm": "burst",
        "amplitude_ma": "2.50",
        "frequency_hz": "40",
        "pulse_width_us": "450",
        "contacts": "2+ 3-",
        "impedance_ohms": "961, 1062",
        "battery_pct": "85",
        "cpt_code": "95972",
        "pain_before": "6",
        "pain_after": "3",
        "notes": "Tuned",
    }
    assert rows == [expected]
    monkeypatch.setitem(app.config, "CLINIC_TIMEZONE", "America/New_York")
    rows = records(cli_bytes(runner, "stimulator-adjustments"))
    assert rows[0]["visited_on"] == "2025-01-14"  # 03:00 UTC is 22:00 the evening before


def test_referrals_export_writes_each_referral_with_the_patients_mrn(runner, clinic):
    rows = records(cli_bytes(runner, "referrals"))
    assert rows == [
        {
            "referral_id": str(clinic.referral.id),
            "mrn": "M0001",
            "received_on": "2025-02-01",
            "referring_clinician": "Dr. Family, Practice",
            "referring_practice": "",
            "condition": "herniated_disc",
            "urgency": "urgent",
            "status": "scheduled",
            "status_reason": "",
            "reason": "Leg pain\nafter lifting",
        },
        {
            "referral_id": str(clinic.declined.id),
            "mrn": "M0002",
            "received_on": "2025-04-10",
            "referring_clinician": "Dr. Family Practice",
            "referring_practice": "",
            "condition": "facet_joint_arthritis",
            "urgency": "routine",
            "status": "declined",
            "status_reason": "'-not a candidate",
            "reason": "Facet pain",
        },
    ]


def test_schedule_export_lists_interventions_and_visits_together(
    app, runner, clinic, monkeypatch, db_session
):
    monkeypatch.setitem(app.config, "CLINIC_TIMEZONE", "Europe/Paris")
    clinic.planned.desk_note = "Needs a wheelchair"
    db_session.flush()
    rows = records(cli_bytes(runner, "schedule"))
    assert [row["booking_id"] for row in rows] == [
        str(b.id) for b in (clinic.programming, clinic.esi, clinic.rfa, clinic.fji, clinic.planned)
    ]
    visit, esi = rows[0], rows[1]
    assert visit == {
        "booking_id": str(clinic.programming.id),
        "kind": "visit",
        "mrn": "M0001",
        "physician": "dr.grey",
        "room": "",
        "scheduled_start": "2025-01-15T04:00",  # CET
        "scheduled_end": "2025-01-15T04:20",
        "status": "completed",
        "status_reason": "",
        "procedure_code": "",
        "visit_kind": "stimulator_adjustment",
        "intervention_id": str(clinic.esi.id),  # the intervention it follows up
        "intervention_ref": f"clinic:{clinic.esi.id}",
        "referral_id": "",
        "performed_on": "",
        "notes": "",
        "desk_note": "",
    }
    # The desk's note for the day travels apart from the physician's clinical notes.
    assert (rows[4]["desk_note"], rows[4]["notes"]) == ("Needs a wheelchair", "")
    assert esi["kind"] == "intervention"
    assert esi["scheduled_start"] == "2025-03-10T15:30"
    assert (esi["procedure_code"], esi["visit_kind"]) == ("ESI-TF", "")
    assert esi["intervention_id"] == esi["booking_id"]
    assert esi["intervention_ref"] == f"clinic:{esi['booking_id']}"
    assert esi["referral_id"] == str(clinic.referral.id)
    assert esi["performed_on"] == "2025-03-10"
    assert rows[2]["intervention_ref"] == "EXT-9"


ID_COLUMNS = {
    "outcomes": "intervention_id",
    "interventions": "ref",
    "pain-scores": "intervention_ref",
    "schedule": "booking_id",
}


@pytest.mark.parametrize("name", OWN_EXPORTS)
def test_archived_patients_appear_in_no_export(runner, clinic, name):
    data = cli_bytes(runner, name)
    assert b"M0009" not in data
    if name in ID_COLUMNS:
        assert str(clinic.hidden.id) not in keys(data, ID_COLUMNS[name])


# --- CSV: formula-safe, RFC 4180, CRLF, BOM ----------------------------------------------------


def test_a_formula_in_a_name_gets_a_leading_quote_and_a_negative_number_stays_a_number(
    client, manager, clinic
):
    patients = by(records(web_bytes(client, "patients")), "mrn")
    assert patients["M0002"]["first_name"] == '\'=HYPERLINK("x")'
    outcomes = by(records(web_bytes(client, "outcomes")), "intervention_id")
    assert outcomes[str(clinic.rfa.id)]["best_relief_pct"] == "-50.0"
    assert float(outcomes[str(clinic.rfa.id)]["best_relief_pct"]) == -50.0


@pytest.mark.parametrize("source", ["web", "cli"])
def test_commas_quotes_newlines_and_accents_survive_a_round_trip(
    client, runner, manager, clinic, source
):
    data = web_bytes(client, "patients") if source == "web" else cli_bytes(runner, "patients")
    ana = by(records(data), "mrn")["M0001"]
    assert (ana["first_name"], ana["last_name"]) == ("Zoë Ana", 'Smith, "Jr."')
    assert b'"Smith, ""Jr."""' in data  # RFC 4180 quoting
    notes = (
        web_bytes(client, "interventions")
        if source == "web"
        else cli_bytes(runner, "interventions")
    )
    row = by(records(notes), "ref")[f"clinic:{clinic.esi.id}"]
    assert row["notes"] == 'line one\nline two, with "quotes"'
    assert b'"line one\nline two, with ""quotes"""' in notes  # the newline stays inside quotes


# Text a spreadsheet would run, that CSV must quote (in SQL as in Python), and that is not ASCII.
AWKWARD_TEXT = [
    "=1+2",
    "+33 1 23",
    "-5",
    "@SUM(A1)",
    "\tindented",
    "\rreturn",
    "\nline feed",
    'say "hi", then go',
    "two\r\nlines",
    "C:\\new\\table",
    "ends in a backslash\\",
    "\\N",
    "bell\b form\f tab\v",
    "Zoë 名前 🙂",
    " spaced ",
    "'quoted already",
    'the end of a copied record ,"\r"\n inside',
    ',"\r"\n',
    "\\.",
    "",
    "plain",
]


@pytest.fixture
def awkward(db_session, backend, frozen) -> None:
    """A patient per awkward text, with it in every text column each export writes.

    Times in New York around both 2025 clock changes, and a visit whose UTC date is not the
    clinic's.
    """
    if backend != "postgresql":
        pytest.skip("only PostgreSQL writes the plain exports itself (sql_csv)")
    physician = PhysicianFactory(username="dr.awkward")
    drugs = dict(db_session.execute(select(Drug.name, Drug.id)).all())
    room = RoomFactory(name='Room "B", east')
    starts = [
        at(date(2025, 3, 9), 6, 30),  # 01:30 EST, just before the clocks go forward
        at(date(2025, 3, 9), 7, 30),  # 03:30 EDT
        at(date(2025, 11, 2), 5, 30),  # 01:30 EDT
        at(date(2025, 11, 2), 6, 30),  # 01:30 EST, the same wall time again
        at(date(2025, 1, 15), 3),  # 22:00 on the 14th in New York
    ]
    for number, text_value in enumerate(AWKWARD_TEXT):
        patient = PatientFactory(
            mrn=f"A{number:04d}",
            first_name=text_value or "x",
            last_name=text_value or "y",
            phone=text_value or None,
            email=text_value or None,
        )
        referral = ReferralFactory(
            patient=patient,
            received_on=date(2025, 1, 1) + timedelta(days=20 * number),
            referring_clinician=text_value or "Dr. R",
            referring_practice=text_value or None,
            reason=text_value or "reason",
            status_reason=text_value or None,
        )
        start = starts[number % len(starts)] + timedelta(days=7 * number)
        done = InterventionFactory(
            patient=patient,
            physician=physician,
            room=room if number % 2 else None,
            referral=referral,
            ref=f"=EXT-{number}" if number % 3 == 0 else None,
            starts_at=start,
            ends_at=start + timedelta(minutes=45),
            status="completed",
            performed_on=start.date(),
            baseline_nrs=number % 11,
            spinal_level=text_value or None,
            laterality=["left", "right", "bilateral", None][number % 4],
            notes=text_value,  # empty text as well as None: both write an empty cell
            desk_note=text_value or None,
        )
        PainScoreFactory(
            intervention=done,
            recorded_on=start.date() + timedelta(days=14),
            nrs=3,
            percent_relief=number * 5 if number % 2 else None,
        )
        # A diary entry (the `diary` export), timed around the clock changes as the bookings.
        db_session.add(
            DiaryEntry(
                intervention_id=done.id,
                minutes_after=[0, 30, 60, 120, 240, 360, 480][number % 7],
                nrs=number % 11,
                percent_relief=number * 4 if number % 2 else None,
                recorded_at=start + timedelta(minutes=75),
                source="self_report",
            )
        )
        done.guidance = ["fluoroscopy", "ct", "ultrasound", "none", None][number % 5]
        done.fluoro_seconds = number * 7 if number % 2 else None
        done.air_kerma_mgy = Decimal(number) / 10 if number % 3 else None
        done.sedation = ["none", "local_only", "minimal", "moderate", None][number % 5]
        # A corticosteroid with an awkward dose, and contrast by volume.
        steroids = ["triamcinolone", "dexamethasone", "betamethasone", "methylprednisolone"]
        db_session.add_all(
            [
                MedicationGiven(
                    intervention_id=done.id,
                    drug_id=drugs[steroids[number % 4]],
                    dose_mg=Decimal("0.05") + number * Decimal("3.33"),
                    route_site=text_value or None,
                ),
                MedicationGiven(
                    intervention_id=done.id, drug_id=drugs["contrast"], volume_ml=Decimal("1.5")
                ),
            ]
        )
        check = VisitFactory(
            patient=patient,
            physician=physician,
            visit_kind="stimulator_adjustment",
            intervention=done if number % 2 else None,
            starts_at=start + timedelta(hours=2),
            ends_at=start + timedelta(hours=2, minutes=20),
            status="completed",
            status_reason=text_value or None,
        )
        device = ScsDevice(
            patient=patient,
            manufacturer="Abbott",
            model="Proclaim",
            serial_number=f"{text_value}-{number}",
            implanted_on=date(2024, 11, 1),
        )
        db_session.add(device)
        db_session.flush()
        db_session.add(
            StimulatorAdjustment(
                visit=check,
                device=device,
                program_slot=1 + number,
                paradigm="tonic",
                amplitude_ma=Decimal("3.50") if number % 2 else None,
                frequency_hz=60,
                pulse_width_us=None,
                contacts=text_value,
                impedance_ohms=text_value or None,
                battery_pct=80,
                cpt_code="95971",
                pain_before=6,
                pain_after=3,
                notes=text_value or None,
            )
        )
    db_session.flush()


@pytest.mark.parametrize("name", [name for name, export in exports.EXPORTS.items() if export.plain])
@pytest.mark.parametrize("dates", [(None, None), (date(2025, 3, 1), date(2025, 11, 2))])
def test_postgresql_writes_each_plain_export_byte_for_byte_as_python_does(
    db_session, awkward, name, dates
):
    zone = ZoneInfo("America/New_York")
    filters = ReportFilters(date_from=dates[0], date_to=dates[1])

    def written(in_database: bool) -> tuple[bytes, int]:
        stream = exports.CsvStream(
            exports.EXPORTS[name], db_session, filters, zone, bom=True, in_database=in_database
        )
        assert stream.in_database is in_database
        data = "".join(stream).encode()
        assert stream.finished
        return data, stream.rows

    by_database, by_python = written(True), written(False)
    assert by_database == by_python
    data, rows = by_database
    assert rows == len(parse(data)) - 1 >= 5


def test_two_plain_exports_can_be_read_at_once_on_one_connection(db_session, awkward):
    # A download not yet finished while another starts on the same connection: each has its
    # own server-side cursor, and each writes what it writes alone.
    zone = ZoneInfo("America/New_York")

    def stream(name: str) -> exports.CsvStream:
        return exports.CsvStream(
            exports.EXPORTS[name], db_session, ReportFilters(), zone, chunk_chars=64
        )

    alone = {name: "".join(stream(name)) for name in ("patients", "referrals")}
    patients, referrals = iter(stream("patients")), iter(stream("referrals"))
    together = {"patients": [next(patients), next(patients)], "referrals": [next(referrals)]}
    together["referrals"].extend(referrals)
    together["patients"].extend(patients)
    assert {name: "".join(chunks) for name, chunks in together.items()} == alone


def test_records_end_with_crlf(runner, clinic):
    data = cli_bytes(runner, "patients")
    assert data.endswith(b"\r\n")
    assert data.count(b"\r\n") == 3  # header and two patients
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_the_web_download_starts_with_a_bom_and_the_command_line_only_when_asked(
    client, runner, manager, clinic
):
    assert web_bytes(client, "patients").startswith(BOM.encode() + b"mrn,first_name")
    assert cli_bytes(runner, "patients").startswith(b"mrn,first_name")
    assert cli_bytes(runner, "patients", "--bom").startswith(BOM.encode() + b"mrn,first_name")


@pytest.mark.parametrize("name", available_exports())
def test_web_and_command_line_give_the_same_bytes_apart_from_the_bom(
    client, runner, manager, clinic, name
):
    query = {"from": "2025-01-01", "to": "2025-12-31", "threshold": "30"}
    web = web_bytes(client, name, **query)
    cli = cli_bytes(runner, name, "--from", "2025-01-01", "--to", "2025-12-31", "--threshold", "30")
    assert web == BOM.encode() + cli
    assert cli_bytes(runner, name, "--bom") == web_bytes(client, name)


# --- filters -------------------------------------------------------------------------------------


def keys(data: bytes, column: str) -> set[str]:
    return {row[column] for row in records(data)}


def test_filters_apply_to_each_exports_own_date(runner, clinic):
    def of(name, column, *args):
        return keys(cli_bytes(runner, name, *args), column)

    esi, rfa, fji = str(clinic.esi.id), str(clinic.rfa.id), str(clinic.fji.id)
    may = ("--from", "2025-05-01", "--to", "2025-05-31")
    # Interventions and outcomes: the performed date (the planned RFA has none).
    assert of("interventions", "ref", *may) == {"EXT-9", f"clinic:{fji}"}
    assert of("interventions", "ref", "--to", "2025-04-30") == {f"clinic:{esi}"}
    assert of("outcomes", "intervention_id", *may) == {rfa, fji}
    assert of("outcomes", "intervention_id", "--from", "2025-03-10", "--to", "2025-03-10") == {esi}
    # Pain scores: the recorded date, not the intervention's.
    assert of("pain-scores", "recorded_on", *may) == {"2025-05-15"}
    assert of("pain-scores", "recorded_on", "--from", "2025-04-21", "--to", "2025-06-10") == {
        "2025-04-21",
        "2025-05-15",
        "2025-06-10",
    }
    # Referrals: the received date.
    assert of("referrals", "mrn", "--from", "2025-03-01") == {"M0002"}
    assert of("referrals", "mrn", "--to", "2025-02-01") == {"M0001"}
    # Schedule: the scheduled date (the planned RFA on 2025-08-01 included).
    assert of("schedule", "booking_id", "--from", "2025-05-20") == {fji, str(clinic.planned.id)}
    assert of("schedule", "booking_id", "--to", "2025-01-15") == {str(clinic.programming.id)}
    # Stimulator adjustments: the visit date.
    assert of("stimulator-adjustments", "visit_id", "--from", "2025-01-16") == set()
    assert of("stimulator-adjustments", "visit_id", "--to", "2025-01-15") == {
        str(clinic.programming.id)
    }
    # Patients are not filtered.
    assert of("patients", "mrn", *may) == {"M0001", "M0002"}


def test_calendar_filters_use_the_clinic_zone(app, runner, clinic, monkeypatch):
    monkeypatch.setitem(app.config, "CLINIC_TIMEZONE", "America/New_York")
    # 2025-01-15 03:00 UTC is the evening of 14 January in New York.
    one_day = ("--from", "2025-01-14", "--to", "2025-01-14")
    assert keys(cli_bytes(runner, "schedule", *one_day), "booking_id") == {
        str(clinic.programming.id)
    }
    assert len(records(cli_bytes(runner, "stimulator-adjustments", *one_day))) == 1
    assert (
        records(cli_bytes(runner, "schedule", "--from", "2025-01-15", "--to", "2025-01-15")) == []
    )


def test_web_filters_are_the_command_lines(client, manager, clinic):
    data = web_bytes(client, "pain-scores", **{"from": "2025-05-01", "to": "2025-05-31"})
    assert keys(data, "recorded_on") == {"2025-05-15"}


# --- the web: access, headers, refusals, the page ---------------------------------------------------


def test_a_download_is_a_streamed_attachment_never_cached(client, manager, clinic):
    response = client.get("/exports/outcomes.csv")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.content_type == "text/csv; charset=utf-8"
    assert (
        response.headers["Content-Disposition"]
        == "attachment; filename=clinic-outcomes-2025-07-01.csv"
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_data().startswith(BOM.encode() + HEADERS["outcomes"].encode() + b"\r\n")


def test_admins_download_too(client, login, clinic):
    login("admin")
    assert client.get("/exports/patients.csv").status_code == 200


@pytest.mark.parametrize("role", ["front_desk", "physician"])
def test_other_roles_are_refused_downloads_and_the_list(client, login, clinic, role):
    login(role)
    assert client.get("/exports/patients.csv").status_code == 403
    assert client.get("/exports").status_code == 403


def test_an_unknown_export_is_not_found(client, manager):
    assert client.get("/exports/nothing.csv").status_code == 404
    assert client.get("/exports/fhir.csv").status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "2025-02-30"}, "Write the date as YYYY-MM-DD"),
        ({"from": "2025-06-01", "to": "2025-05-01"}, "The last date is before the first"),
        ({"threshold": "0"}, "a whole number from 1 to 100"),
        ({"threshold": "101"}, "a whole number from 1 to 100"),
        ({"threshold": "half"}, "a whole number from 1 to 100"),
    ],
)
def test_bad_filters_refuse_the_download_saying_what_to_fix(
    client, manager, db_session, query, message
):
    response = client.get("/exports/patients.csv", query_string=query)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert message in response.get_data(as_text=True)
    assert export_audit_rows(db_session) == []


def test_the_exports_page_lists_every_export_with_its_download(client, manager):
    html = client.get("/exports").get_data(as_text=True)
    for export in exports.EXPORTS.values():
        assert f'formaction="/exports/{export.name}.csv"' in html
        assert export.contains.split(":")[0] in html
    assert 'name="from"' in html and 'name="to"' in html and 'name="threshold"' in html
    assert 'value="50"' in html
    assert "style=" not in html and inline_scripts(html) == []


def test_the_exports_page_shows_a_bad_filter_next_to_its_field(client, manager):
    response = client.get("/exports", query_string={"from": "soon"})
    assert response.status_code == 200
    assert "Write the date as YYYY-MM-DD" in response.get_data(as_text=True)


# --- audit ---------------------------------------------------------------------------------------


def test_a_download_is_audited_with_its_filters_and_rows_once_the_stream_ends(
    client, manager, db_session, clinic, monkeypatch
):
    recorded = []

    def record_event(*args, **kwargs):
        recorded.append(kwargs["details"])
        return audit.record_event(*args, **kwargs)

    # Spied on rather than read back mid-stream: the test's session shares the request's
    # connection, which the export's cursor (PostgreSQL) holds until the file is written.
    monkeypatch.setattr(export_views, "record_event", record_event)
    response = client.get(
        "/exports/pain-scores.csv",
        query_string={"from": "2025-03-01", "to": "2025-12-31", "threshold": "30"},
        buffered=False,
    )
    assert response.status_code == 200
    assert recorded == []  # the first chunk is out, the rest not: nothing recorded yet
    body = b"".join(response.response)
    response.close()
    assert len(parse(body)) == 1 + 5
    # The request's context is gone and its session closed (which rolls back anything not
    # committed): the row is still there, so it was committed on its own.
    [event] = export_audit_rows(db_session)
    assert event.actor_id == manager.id
    assert event.actor_name == manager.username
    assert event.details == {
        "name": "pain-scores",
        "filters": {"from": "2025-03-01", "to": "2025-12-31", "threshold": 30},
        "rows": 5,
        "complete": True,
    }


def test_a_download_cut_short_is_audited_as_incomplete(
    client, manager, db_session, clinic, monkeypatch
):
    monkeypatch.setattr(exports.streaming, "CHUNK_CHARS", 1)  # one record per chunk
    response = client.get("/exports/patients.csv", buffered=False)
    chunks = iter(response.response)
    assert next(chunks).startswith(BOM.encode() + b"mrn,")
    assert next(chunks).startswith(b"M0001,")
    response.close()  # the browser went away
    [event] = export_audit_rows(db_session)
    assert event.details["rows"] == 1
    assert event.details["complete"] is False


def test_a_command_line_export_is_audited_as_the_command_line(runner, db_session, clinic):
    cli_bytes(runner, "outcomes", "--from", "2025-05-01", "--threshold", "80")
    [event] = export_audit_rows(db_session)
    assert event.actor_id is None
    assert event.actor_name == "command line"
    assert event.details == {
        "name": "outcomes",
        "filters": {"from": "2025-05-01", "threshold": 80},
        "rows": 2,
        "complete": True,
    }


# --- scale: statements and memory -----------------------------------------------------------------


def add_patients_with_everything(db_session, count: int, start: int) -> None:
    """``count`` patients, each with a referral, a completed intervention with two pain scores
    and a diary entry, and a stimulator programming visit: a row in every export."""
    physician = PhysicianFactory()
    triamcinolone = db_session.scalar(select(Drug.id).where(Drug.name == "triamcinolone"))
    for number in range(start, start + count):
        patient = PatientFactory()
        day = date(2025, 1, 1) + timedelta(days=number)
        intervention = InterventionFactory(
            patient=patient,
            physician=physician,
            procedure_type=procedure_type("ESI-IL"),
            starts_at=at(day, 9),
            ends_at=at(day, 9, 30),
            status="completed",
            performed_on=day,
            baseline_nrs=7,
        )
        PainScoreFactory(intervention=intervention, recorded_on=day + timedelta(days=14), nrs=2)
        PainScoreFactory(intervention=intervention, recorded_on=day + timedelta(days=90), nrs=5)
        db_session.add(
            MedicationGiven(intervention_id=intervention.id, drug_id=triamcinolone, dose_mg=80)
        )
        db_session.add(
            DiaryEntry(
                intervention_id=intervention.id,
                minutes_after=30,
                nrs=3,
                recorded_at=at(day, 10, 5),
                source="paper",
            )
        )
        ReferralFactory(patient=patient, received_on=day - timedelta(days=20))
        visit = VisitFactory(
            patient=patient,
            physician=physician,
            visit_kind="stimulator_adjustment",
            starts_at=at(day, 14),
            ends_at=at(day, 14, 20),
            status="completed",
        )
        device = ScsDevice(
            patient=patient,
            manufacturer="Nevro",
            model="Senza",
            serial_number=f"N{number:06d}",
            implanted_on=day,
        )
        db_session.add(device)
        db_session.flush()
        db_session.add(
            StimulatorAdjustment(
                visit=visit, device=device, program_slot=1, paradigm="tonic", cpt_code="95970"
            )
        )
    db_session.commit()


def test_a_downloads_statements_do_not_grow_with_its_rows(app, client, manager, db_session):
    names = available_exports()
    add_patients_with_everything(db_session, 5, 0)
    for name in names:
        web_bytes(client, name)  # warm up: first-use queries are not per row
    counts = {}
    for rows in (5, 50):
        if rows == 50:
            add_patients_with_everything(db_session, 45, 5)
        counts[rows] = {}
        for name in names:
            with count_statements(app) as counter:
                data = web_bytes(client, name)
            counts[rows][name] = counter.count
            if name in OWN_EXPORTS:
                # eligibility: ESI-CA, ESI-IL and ESI-TF after the patient's ESI-IL.
                per_patient = {"pain-scores": 2, "schedule": 2, "eligibility": 3}.get(name, 1)
                assert len(records(data)) == per_patient * rows, name
    assert counts[5] == counts[50]


def test_exporting_ten_times_the_pain_scores_takes_no_more_memory(db_session, frozen, monkeypatch):
    """Peak memory (tracemalloc) of 2,000 and of 20,000 rows: flat, not ten times larger.

    Chunks of 8 KiB, so that the smaller export fills whole chunks too (2,000 rows make
    about 50 KiB of CSV); loading the rows at once would make the larger peak about 10×.
    """
    monkeypatch.setattr(exports.streaming, "CHUNK_CHARS", 8 * 1024)
    # And PostgreSQL's records read 500 at a time, so that both sizes span several reads.
    monkeypatch.setattr(sql_csv, "BATCH_RECORDS", 500)
    physician = PhysicianFactory()
    interventions = [
        InterventionFactory(
            physician=physician,
            starts_at=at(date(2020, 1, 1) + timedelta(days=n), 9),
            ends_at=at(date(2020, 1, 1) + timedelta(days=n), 9, 30),
            status="completed",
            performed_on=date(2020, 1, 1) + timedelta(days=n),
            baseline_nrs=8,
        )
        for n in range(20)
    ]
    db_session.flush()

    def add_scores(days: range) -> None:
        db_session.execute(
            insert(PainScore.__table__),
            [
                {
                    "patient_id": intervention.patient_id,
                    "intervention_id": intervention.id,
                    "recorded_on": date(2021, 1, 1) + timedelta(days=day),
                    "nrs": day % 11,
                    "source": "import",
                }
                for intervention in interventions
                for day in days
            ],
        )

    def peak_of_export() -> tuple[int, int]:
        stream = exports.CsvStream(
            exports.EXPORTS["pain-scores"], db_session, ReportFilters(), ZoneInfo("UTC")
        )
        size = 0
        tracemalloc.start()
        try:
            for chunk in stream:
                size += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return stream.rows, peak

    add_scores(range(100))
    peak_of_export()  # warm up caches (compiled statements, codecs)
    small_rows, small_peak = peak_of_export()
    add_scores(range(100, 1000))
    large_rows, large_peak = peak_of_export()
    assert (small_rows, large_rows) == (2_000, 20_000)
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)


def test_postgresql_plans_an_exports_cursors_for_every_row(db_session, backend):
    """A server-side cursor is planned for its first 10% by default: far slower for a whole file.

    And JIT compilation is off: it cost half of the ``outcomes`` query's time and saved nothing.
    """
    if backend != "postgresql":
        pytest.skip("cursor_tuple_fraction and jit are PostgreSQL settings")
    stream = exports.CsvStream(
        exports.EXPORTS["outcomes"], db_session, ReportFilters(), ZoneInfo("UTC")
    )
    list(stream)
    assert db_session.execute(text("SHOW cursor_tuple_fraction")).scalar() == "1"
    assert db_session.execute(text("SHOW jit")).scalar() == "off"


def test_postgresql_plans_the_relief_reports_query_for_every_row(db_session, backend):
    if backend != "postgresql":
        pytest.skip("cursor_tuple_fraction and jit are PostgreSQL settings")
    reports.relief_summary(db_session, ReportFilters())
    assert db_session.execute(text("SHOW cursor_tuple_fraction")).scalar() == "1"
    assert db_session.execute(text("SHOW jit")).scalar() == "off"


# --- the command line: output, refusals ------------------------------------------------------------


def test_export_to_a_file_writes_the_same_bytes_and_leaves_no_temporary_file(
    runner, clinic, tmp_path
):
    target = tmp_path / "outcomes.csv"
    result = run_export(runner, "outcomes", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert "Wrote 3 rows of outcomes" in result.output
    assert target.read_bytes() == cli_bytes(runner, "outcomes")
    assert os.listdir(tmp_path) == ["outcomes.csv"]
    assert target.stat().st_mode & 0o077 == 0  # patient data: the owner's alone


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nothing"], "There is no export called 'nothing'. Choose one of: relief-summary,"),
        (["patients", "--from", "2025-02-30"], "--from '2025-02-30' is not a date"),
        (["patients", "--to", "31/01/2025"], "write it as YYYY-MM-DD"),
        (["patients", "--to", "20250131"], "write it as YYYY-MM-DD"),
        (
            ["outcomes", "--from", "2025-06-01", "--to", "2025-05-01"],
            "--from 2025-06-01 is after --to 2025-05-01",
        ),
        (["outcomes", "--threshold", "0"], "a whole number from 1 to 100"),
        (["outcomes", "--threshold", "101"], "a whole number from 1 to 100"),
        (["outcomes", "--threshold", "fifty"], "a whole number from 1 to 100"),
        (["fhir", "--from", "2025-01-01"], "fhir takes no --from"),
        # A day the calendar holds but the clinic's zone would run off (a traceback before).
        (["schedule", "--to", "9999-12-31"], "--to 9999-12-31: dates run from 1900-01-01"),
        (["schedule", "--from", "0001-01-01"], "--from 0001-01-01: dates run from 1900-01-01"),
        (["stimulator-adjustments", "--to", "9999-12-31"], "to 9998-12-31; check the year"),
        (["eligibility", "--on", "9999-12-31"], "--on 9999-12-31: dates run from 1900-01-01"),
    ],
)
def test_bad_input_is_refused_saying_what_to_fix_and_nothing_is_written(
    runner, db_session, tmp_path, args, message
):
    target = tmp_path / "out.csv"
    target.write_text("kept\n")
    result = run_export(runner, *args, "-o", str(target))
    assert result.exit_code != 0
    assert message in result.output
    assert target.read_text() == "kept\n"
    assert os.listdir(tmp_path) == ["out.csv"]
    assert export_audit_rows(db_session) == []


def test_an_unknown_export_lists_every_valid_name(runner):
    result = run_export(runner, "nothing")
    for name in [*HEADERS, "fhir"]:
        assert name in result.output


def test_an_output_folder_that_does_not_exist_is_refused(runner, tmp_path):
    result = run_export(runner, "patients", "-o", str(tmp_path / "missing" / "p.csv"))
    assert result.exit_code != 0
    assert "does not exist" in result.output


def test_a_failure_while_writing_leaves_the_old_file_and_no_partial_one(
    runner, clinic, tmp_path, monkeypatch
):
    def broken(session, filters, zone):
        def rows():
            yield ["M1", "A", "B", "1960-01-01", "female", "", "", "other"]
            raise OSError(28, "No space left on device")

        return exports.PATIENTS_HEADER, rows()

    monkeypatch.setitem(
        exports.EXPORTS,
        "patients",
        exports.Export("patients", "Patients", "", None, False, broken),
    )
    target = tmp_path / "patients.csv"
    target.write_text("yesterday's\n")
    result = run_export(runner, "patients", "-o", str(target))
    assert result.exit_code != 0
    assert "No space left on device" in result.output
    assert target.read_text() == "yesterday's\n"
    assert os.listdir(tmp_path) == ["patients.csv"]


def test_export_fhir_writes_the_bundle_through_the_fhir_module(
    runner, db_session, clinic, tmp_path
):
    pytest.importorskip("clinic.services.interchange.fhir")
    target = tmp_path / "bundle.json"
    result = run_export(runner, "fhir", "-o", str(target))
    assert result.exit_code == 0, (result.output, result.exception)
    bundle = json.loads(target.read_text())
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    [event] = export_audit_rows(db_session)
    assert event.details["name"] == "fhir"
    assert event.details["resources"] == len(bundle["entry"])
