"""Repeat eligibility through the database: the ``eligibility`` export, ``outcomes``'
``repeat_eligible`` and the seeded rules and regions, on SQLite and PostgreSQL.

Each of issue 20's six findings, with its dates, as a manager reads it in the exports.
"""

from datetime import UTC, date, datetime

import pytest

from clinic import clock
from tests.factories import PatientFactory
from tests.helpers.eligibility_payers import done
from tests.helpers.exports import cli_bytes, records, run_export, web_bytes

HEADER = "mrn,procedure_code,region,as_of,eligible,rule,reason,deciding_dates"
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)


def eligibility_rows(runner, *args: str) -> dict[tuple[str, str, str], dict[str, str]]:
    data = cli_bytes(runner, "eligibility", *args)
    assert data.decode().split("\r\n")[0] == HEADER
    return {(r["mrn"], r["procedure_code"], r["region"]): r for r in records(data)}


def test_finding_1_a_failed_cervical_rfa_does_not_hold_back_a_lumbar_repeat(runner, db_session):
    patient = PatientFactory(mrn="R1")
    done(patient, "RFA", date(2025, 1, 10), "L4-L5", (date(2025, 1, 24), 2), (date(2025, 11, 6), 2))
    done(patient, "RFA", date(2025, 12, 1), "C5-C6", (date(2025, 12, 15), 8))
    rows = eligibility_rows(runner, "--on", "2026-02-01")
    lumbar = rows["R1", "RFA", "lumbar_sacral"]
    assert (lumbar["eligible"], lumbar["rule"], lumbar["as_of"]) == (
        "true",
        "rfa-repeat",
        "2026-02-01",
    )
    assert lumbar["deciding_dates"] == "2025-01-10 2025-01-24 2025-11-06"
    cervical = rows["R1", "RFA", "cervical_thoracic"]
    assert (cervical["eligible"], cervical["rule"]) == ("false", "rfa-repeat")
    assert "RFA on 2025-12-01 did not give ≥ 50% relief" in cervical["reason"]


def test_finding_2_and_3_relief_must_be_documented_three_calendar_months_out(runner, db_session):
    # R2: NRS 2 on day 14, NRS 7 on days 90 and 120 — relief had ended by 3 months.
    ended = PatientFactory(mrn="R2")
    esi = done(
        ended,
        "ESI-TF",
        date(2026, 7, 9),
        "L5-S1",
        (date(2026, 7, 23), 2),
        (date(2026, 10, 7), 7),
        (date(2026, 11, 6), 7),
    )
    # R3: relieved to day 90 (2026-10-07), short of 2026-10-09; R4: relieved on 2026-10-09.
    short = PatientFactory(mrn="R3")
    done(short, "ESI-IL", date(2026, 7, 9), "L4-L5", (date(2026, 7, 23), 2), (date(2026, 10, 7), 2))
    enough = PatientFactory(mrn="R4")
    done(
        enough, "ESI-IL", date(2026, 7, 9), "L4-L5", (date(2026, 7, 23), 2), (date(2026, 10, 9), 2)
    )
    rows = eligibility_rows(runner)  # as of today, 2026-12-01
    assert rows["R2", "ESI-TF", "lumbar_sacral"]["eligible"] == "false"
    assert (
        "needs a relieved score on or after 2026-10-09"
        in rows["R2", "ESI-TF", "lumbar_sacral"]["reason"]
    )
    assert rows["R3", "ESI-IL", "lumbar_sacral"]["eligible"] == "false"
    assert rows["R4", "ESI-IL", "lumbar_sacral"]["eligible"] == "true"
    # Every epidural code of the region, the caudal one included.
    assert {key[1] for key in rows if key[0] == "R4"} == {"ESI-CA", "ESI-IL", "ESI-TF"}
    outcomes = {row["intervention_id"]: row for row in records(cli_bytes(runner, "outcomes"))}
    assert outcomes[str(esi.id)]["repeat_eligible"] == "false"
    assert outcomes[str(esi.id)]["relief_days"] == "90"  # the relief figures do not change


def test_finding_4_scores_after_the_trial_do_not_open_the_implant(runner, db_session):
    patient = PatientFactory(mrn="R5")
    done(
        patient,
        "SCS-TRIAL",
        date(2026, 3, 1),
        "T8-T10",
        (date(2026, 3, 4), 8),
        (date(2026, 3, 8), 8),
        (date(2026, 7, 29), 2),
    )
    row = eligibility_rows(runner)["R5", "SCS-IMPLANT", ""]
    assert (row["eligible"], row["rule"]) == ("false", "scs-trial-to-implant")
    assert "during the 10-day trial (2026-03-02 to 2026-03-11)" in row["reason"]


def test_finding_5_and_6_who_is_ready_for_a_first_rfa_after_two_good_blocks(runner, db_session):
    poor = PatientFactory(mrn="R6")  # 85%, then 79% and 80% (baseline 10)
    for day, nrs in [(date(2026, 1, 5), 1), (date(2026, 2, 2), 3), (date(2026, 3, 2), 2)]:
        done(poor, "MBB", day, "L4-L5", (day.replace(day=day.day + 1), nrs), baseline=10)
    good = PatientFactory(mrn="R7")
    for day in (date(2026, 2, 2), date(2026, 3, 2)):
        done(good, "MBB", day, "L4-L5, L5-S1", (day.replace(day=day.day + 1), 1), baseline=10)
    rows = eligibility_rows(runner)
    # NRS 3 of 10 is 70% < 80%: the most recent two blocks are not both ≥ 80%.
    assert rows["R6", "RFA", "lumbar_sacral"]["eligible"] == "false"
    ready = rows["R7", "RFA", "lumbar_sacral"]
    assert (ready["eligible"], ready["rule"]) == ("true", "mbb-to-rfa")
    assert ready["deciding_dates"] == "2026-02-02 2026-02-03 2026-03-02 2026-03-03"
    assert ("R7", "RFA", "cervical_thoracic") not in rows


def test_the_eligibility_download_and_a_bad_on_date(client, login, runner, db_session):
    patient = PatientFactory(mrn="R8")
    done(patient, "RFA", date(2026, 1, 10), "L4-L5", (date(2026, 1, 24), 2), (date(2026, 7, 10), 2))
    login("manager")
    data = web_bytes(client, "eligibility")
    rows = records(data)
    assert [(r["mrn"], r["procedure_code"], r["region"], r["eligible"]) for r in rows] == [
        ("R8", "RFA", "lumbar_sacral", "true")
    ]
    on = records(web_bytes(client, "eligibility", on="2026-07-09"))
    assert [(r["as_of"], r["eligible"]) for r in on] == [("2026-07-09", "false")]
    result = run_export(runner, "eligibility", "--on", "1 May")
    assert result.exit_code != 0
    assert "--on '1 May' is not a date" in result.output
    # As of a day before the documenting score was recorded, it was not known yet.
    early = eligibility_rows(runner, "--on", "2026-07-09")
    assert early["R8", "RFA", "lumbar_sacral"]["eligible"] == "false"
