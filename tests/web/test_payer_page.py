"""The payer's page (/patients/<id>/eligibility?what=CODE&level=LEVEL): what a
prior-authorisation reviewer reads, audited as a view of PHI; bad input said plainly, never a
500; a constant number of statements however long the history. SQLite and PostgreSQL."""

import html
import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from clinic import clock
from clinic.models import AuditEvent
from tests.factories import PatientFactory
from tests.helpers.eligibility_payers import done
from tests.helpers.statement_count import count_statements

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)


def page_of(client, patient, **query) -> tuple[int, str]:
    response = client.get(f"/patients/{patient.id}/eligibility", query_string=query)
    return response.status_code, " ".join(html.unescape(response.get_data(as_text=True)).split())


def test_the_page_prints_every_fact_that_decided_a_repeat_rfa(client, login, db_session):
    patient = PatientFactory(
        mrn="P100", first_name="Ana", last_name="Reyes", date_of_birth=date(1958, 4, 2)
    )
    done(patient, "RFA", date(2026, 1, 10), "L4-L5", (date(2026, 1, 24), 2), (date(2026, 7, 10), 3))
    done(patient, "RFA", date(2026, 3, 2), "C5-C6", (date(2026, 3, 16), 8))  # another region
    clerk = login("front_desk")
    status, page = page_of(client, patient, what="RFA", level="L4-L5")
    assert status == 200
    for text in (
        "Ana Reyes",
        "1958-04-02",
        "P100",
        "Radiofrequency ablation (RFA) · L4-L5",
        "lumbar/sacral",
        "Eligible",
        "Repeat RFA in the region",
        "RFA on 2026-01-10 · L4-L5 · baseline NRS 8",
        "Documented relief to 2026-07-10 (day 181); needed on or after 2026-07-10.",
        "Sessions counted in the window 2025-12-02 to 2026-12-01: RFA 2026-01-10 (L4-L5)",
        "Physician's signature",
    ):
        assert text in page, text
    assert re.search(rf"Printed 2026-12-01 \d\d:\d\d by {clerk.full_name}\.", page)
    # Every follow-up score with its date, NRS and percent relief.
    assert "<td>2026-01-24</td><td>14</td><td>2</td><td>75% ✓</td>" in page
    assert "<td>2026-07-10</td><td>181</td><td>3</td><td>62.5% ✓</td>" in page
    assert "C5-C6" not in page  # the cervical RFA decided nothing here
    audit = db_session.execute(
        select(AuditEvent).where(
            AuditEvent.action == "view", AuditEvent.record_id == str(patient.id)
        )
    ).scalar_one()
    assert (audit.record_type, audit.details) == (
        "patient",
        {"page": "eligibility", "what": "RFA", "level": "L4-L5"},
    )


def test_the_implant_page_shows_only_the_trials_scores(client, login, db_session):
    patient = PatientFactory()
    done(
        patient,
        "SCS-TRIAL",
        date(2026, 3, 1),
        "T8-T10",
        (date(2026, 3, 4), 8),
        (date(2026, 7, 29), 2),
    )
    login("physician")
    status, page = page_of(client, patient, what="SCS-IMPLANT")
    assert status == 200 and "Not eligible" in page
    assert "2026-03-04" in page and "2026-07-29" not in page


@pytest.mark.parametrize(
    "query, message",
    [
        ({"what": "FJI"}, "No payer rule names the procedure 'FJI'"),
        ({}, "Choose the planned procedure"),
        ({"what": "RFA", "level": "Z9"}, "Write spinal levels like L4-L5"),
        ({"what": "RFA", "level": "C5-C6, L4-L5"}, "The level C5-C6, L4-L5 names no spinal region"),
    ],
)
def test_bad_input_is_a_400_that_says_which(client, login, db_session, query, message):
    patient = PatientFactory()
    login("manager")
    status, page = page_of(client, patient, **query)
    assert status == 400
    assert message in page


def test_no_history_and_no_level_are_said_on_the_page(client, login, db_session):
    patient = PatientFactory()
    login("physician")
    status, page = page_of(client, patient, what="RFA", level="L5-S1")
    assert status == 200
    assert "Not eligible" in page
    assert "no procedure this rule names is on record for this patient" in page
    status, page = page_of(client, patient, what="ESI-TF")
    assert status == 200
    assert "has no spinal level that names a region" in page


def test_the_patient_page_links_to_the_payers_page(client, login, db_session):
    patient = PatientFactory()
    done(patient, "MBB", date(2026, 2, 2), "L4-L5", (date(2026, 2, 3), 1), baseline=10)
    done(patient, "MBB", date(2026, 3, 2), "L4-L5", (date(2026, 3, 3), 1), baseline=10)
    login("front_desk")
    page = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert f'href="/patients/{patient.id}/eligibility?what=RFA&amp;level=L4-L5"' in page


def test_the_pages_statements_do_not_grow_with_the_history(app, client, login, db_session):
    patient = PatientFactory()
    login("physician")

    def statements() -> int:
        with count_statements(app) as counter:
            assert (
                client.get(f"/patients/{patient.id}/eligibility?what=RFA&level=L4-L5").status_code
                == 200
            )
        return counter.count

    done(patient, "RFA", date(2025, 1, 10), "L4-L5", (date(2025, 1, 24), 2))
    client.get(f"/patients/{patient.id}/eligibility?what=RFA&level=L4-L5")  # warm up
    few = statements()
    for month in range(2, 12):
        done(patient, "RFA", date(2025, month, 10), "L4-L5", (date(2025, month, 24), 2))
    assert statements() == few


def test_the_booking_form_of_a_procedure_a_rule_names_links_to_the_payers_page(
    client, login, db_session
):
    patient = PatientFactory()
    login("front_desk")
    page = client.get(
        "/schedule/new", query_string={"patient_id": patient.id, "what": "RFA"}
    ).get_data(as_text=True)
    assert f'href="/patients/{patient.id}/eligibility?what=RFA"' in page
    page = client.get(  # no rule names a facet joint injection: no link
        "/schedule/new", query_string={"patient_id": patient.id, "what": "FJI"}
    ).get_data(as_text=True)
    assert 'name="what"' in page and "/eligibility?" not in page
