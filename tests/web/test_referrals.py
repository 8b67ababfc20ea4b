"""Referrals: intake, the triage pipeline and its reasons, overdue flags, and closing the loop."""

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Column, func, select, text
from sqlalchemy.sql import visitors

from clinic import clock
from clinic.models import Referral
from clinic.services import DomainError, referrals
from clinic.services.records import StaleRecord
from clinic.services.scheduling import bookings as scheduling
from tests.factories import (
    InterventionFactory,
    PatientFactory,
    PhysicianFactory,
    ReferralFactory,
    RoomFactory,
    procedure_type,
)
from tests.helpers.app import csrf_token
from tests.helpers.statement_count import count_statements

TODAY = date(2030, 3, 4)
URGENT_DAYS, ROUTINE_DAYS = 2, 14


def details(patient, **overrides) -> referrals.NewReferral:
    values = {
        "patient_id": patient.id,
        "referring_clinician": "Dr. Amara Osei",
        "referring_practice": "Riverside Family Practice",
        "received_on": TODAY,
        "reason": "L5 radiculopathy, failed 6 weeks of physiotherapy",
        "urgency": "routine",
    }
    values.update(overrides)
    return referrals.NewReferral(**values)


def clinic_today(app) -> date:
    return clock.clinic_today(app.config["CLINIC_TIMEZONE"])


# --- Intake rules ----------------------------------------------------------------------------


def test_a_logged_referral_is_received_with_the_patients_condition_by_default(db_session):
    patient = PatientFactory(condition="spinal_stenosis")
    referral = referrals.log_referral(db_session, details(patient, urgency="urgent"), TODAY)
    assert referral.id is not None
    assert referral.status == "received"
    assert referral.condition == "spinal_stenosis"
    assert referral.urgency == "urgent"
    assert referral.referring_practice == "Riverside Family Practice"


def test_a_referral_may_name_another_condition_than_the_patients(db_session):
    patient = PatientFactory(condition="spinal_stenosis")
    referral = referrals.log_referral(
        db_session, details(patient, condition="facet_joint_arthritis"), TODAY
    )
    assert referral.condition == "facet_joint_arthritis"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"received_on": TODAY + timedelta(days=1)}, "received_on", "cannot be after today"),
        ({"received_on": date(1950, 1, 1)}, "received_on", "before the patient was born"),
        ({"reason": "   "}, "reason", "Enter the reason"),
        ({"referring_clinician": ""}, "referring_clinician", "referring clinician"),
        ({"condition": "migraine"}, "condition", "Choose the condition"),
        ({"urgency": "whenever"}, "urgency", "routine or urgent"),
    ],
)
def test_intake_refuses_what_the_clinic_cannot_act_on(db_session, overrides, field, message):
    patient = PatientFactory()
    with pytest.raises(DomainError) as refused:
        referrals.log_referral(db_session, details(patient, **overrides), TODAY)
    assert refused.value.field == field
    assert message in refused.value.message
    assert db_session.execute(select(func.count()).select_from(Referral)).scalar_one() == 0


def test_an_archived_patient_cannot_be_referred(db_session):
    patient = PatientFactory(archived=True)
    with pytest.raises(DomainError, match="active patient"):
        referrals.log_referral(db_session, details(patient), TODAY)
    with pytest.raises(DomainError, match="No active patient has MRN"):
        referrals.patient_by_mrn(db_session, patient.mrn)


def test_the_patient_is_found_by_mrn_whatever_the_case(db_session):
    patient = PatientFactory(mrn="C0000123")
    assert referrals.patient_by_mrn(db_session, " c0000123 ") is patient
    with pytest.raises(DomainError) as refused:
        referrals.patient_by_mrn(db_session, "C9999999")
    assert refused.value.field == "patient_mrn"


# --- The pipeline ----------------------------------------------------------------------------


def test_a_referral_moves_received_triaged_scheduled_completed(db_session):
    referral = ReferralFactory()
    db_session.flush()
    for status in ("triaged", "scheduled", "completed"):
        referrals.move_referral(db_session, referral, referral.version, status, None)
        assert referral.status == status
    assert referral.status_reason is None


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("received", "scheduled"),
        ("received", "completed"),
        ("triaged", "received"),
        ("triaged", "completed"),
        ("scheduled", "triaged"),
        ("completed", "cancelled"),
        ("declined", "triaged"),
        ("cancelled", "received"),
    ],
)
def test_a_referral_cannot_skip_or_go_back_by_hand(db_session, start, target):
    reason = "Withdrawn" if start in ("declined", "cancelled") else None
    referral = ReferralFactory(status=start, status_reason=reason)
    db_session.flush()
    with pytest.raises(DomainError, match="cannot be marked"):
        referrals.move_referral(db_session, referral, referral.version, target, "Because")
    assert referral.status == start


@pytest.mark.parametrize("start", ["received", "triaged", "scheduled"])
@pytest.mark.parametrize("closed", ["declined", "cancelled"])
def test_declining_or_cancelling_needs_a_reason_and_keeps_it(db_session, start, closed):
    referral = ReferralFactory(status=start)
    db_session.flush()
    with pytest.raises(DomainError) as refused:
        referrals.move_referral(db_session, referral, referral.version, closed, "  ")
    assert refused.value.field == "reason"
    assert referral.status == start
    referrals.move_referral(db_session, referral, referral.version, closed, " Not a candidate ")
    assert referral.status == closed
    assert referral.status_reason == "Not a candidate"


def test_a_stale_version_is_refused_and_nothing_changes(db_session):
    referral = ReferralFactory()
    db_session.flush()
    opened = referral.version
    referrals.move_referral(db_session, referral, opened, "triaged", None)
    with pytest.raises(StaleRecord):
        referrals.move_referral(db_session, referral, opened, "declined", "Seen elsewhere")
    with pytest.raises(StaleRecord):
        referrals.move_referral(db_session, referral, None, "declined", "Seen elsewhere")
    assert referral.status == "triaged"
    assert referral.status_reason is None


def test_a_move_racing_another_save_is_refused_as_stale(db_session):
    referral = ReferralFactory()
    db_session.flush()
    opened = referral.version
    # Another clerk's save lands between this request's read and its write.
    db_session.connection().execute(
        text("UPDATE referral SET version = version + 1 WHERE id = :id"), {"id": referral.id}
    )
    with pytest.raises(StaleRecord):
        referrals.move_referral(db_session, referral, opened, "triaged", None)


@pytest.mark.parametrize(
    ("urgency", "days", "overdue"),
    [
        ("urgent", 0, False),
        ("urgent", 2, False),
        ("urgent", 3, True),
        ("routine", 3, False),
        ("routine", 14, False),
        ("routine", 15, True),
    ],
)
def test_a_received_referral_is_overdue_after_its_urgencys_limit(urgency, days, overdue):
    referral = Referral(
        status="received", urgency=urgency, received_on=TODAY - timedelta(days=days)
    )
    assert referrals.age_days(referral, TODAY) == days
    assert referrals.is_overdue(referral, TODAY, URGENT_DAYS, ROUTINE_DAYS) is overdue


@pytest.mark.parametrize("status", ["triaged", "scheduled", "completed", "declined", "cancelled"])
def test_only_referrals_waiting_for_triage_are_overdue(status):
    referral = Referral(status=status, urgency="urgent", received_on=TODAY - timedelta(days=60))
    assert not referrals.is_overdue(referral, TODAY, URGENT_DAYS, ROUTINE_DAYS)


def test_the_overdue_limits_are_settings(db_session):
    referral = Referral(status="received", urgency="urgent", received_on=TODAY - timedelta(days=3))
    assert referrals.is_overdue(referral, TODAY, 2, 14)
    assert not referrals.is_overdue(referral, TODAY, 5, 14)


# --- Closing the loop: a booking made from the referral -------------------------------------


@pytest.fixture
def slot(db_session):
    """A patient with a triaged referral, a physician and a room, and a morning in clinic time."""
    patient = PatientFactory(first_name="Ana", last_name="Smith")
    referral = ReferralFactory(patient=patient, status="triaged")
    physician = PhysicianFactory(full_name="Dr. Okafor")
    room = RoomFactory(name="Suite 1")
    db_session.flush()
    return {"patient": patient, "referral": referral, "physician": physician, "room": room}


def book_from(db_session, slot) -> scheduling.Booking:
    starts_at = datetime.combine(TODAY, time(9, 0), tzinfo=UTC)
    return scheduling.book(
        db_session,
        scheduling.NewBooking(
            patient_id=slot["patient"].id,
            physician_id=slot["physician"].id,
            room_id=slot["room"].id,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=45),
            procedure_type_id=procedure_type("ESI-TF").id,
            referral_id=slot["referral"].id,
        ),
        ZoneInfo("UTC"),
    )


def test_booking_from_a_referral_schedules_it_and_its_page_links_the_booking(
    client, login, db_session, slot
):
    booking = book_from(db_session, slot)
    assert slot["referral"].status == "scheduled"
    db_session.commit()
    login("manager")
    page = client.get(f"/referrals/{slot['referral'].id}").get_data(as_text=True)
    assert f'href="/schedule/bookings/{booking.id}"' in page
    assert "Transforaminal epidural steroid injection" in page and "Dr. Okafor" in page
    board = client.get("/referrals").get_data(as_text=True)
    assert f'href="/schedule/bookings/{booking.id}"' in section(board, "scheduled")


def test_the_booking_form_opened_from_a_referral_carries_it(client, login, db_session, slot):
    login("front_desk")
    page = client.get(f"/schedule/new?referral_id={slot['referral'].id}").get_data(as_text=True)
    assert slot["patient"].mrn in page
    assert f'value="{slot["referral"].id}"' in page


# --- Pages -----------------------------------------------------------------------------------


def section(page: str, status: str) -> str:
    """The HTML of one column of the board."""
    start = page.index(f'aria-labelledby="column-{status}"')
    end = page.find("<section", start + 1)
    return page[start : end if end != -1 else len(page)]


def column_count(page: str, status: str) -> int:
    match = re.search(rf'id="column-{status}">\s*\w+ <span[^>]*referral-count">(\d+)<', page)
    assert match, f"no count in the {status} heading"
    return int(match.group(1))


def intake_form(client, patient, **overrides) -> dict:
    data = {
        "csrf_token": csrf_token(client, "/referrals/new"),
        "patient_mrn": patient.mrn,
        "referring_clinician": "Dr. Amara Osei",
        "referring_practice": "Riverside Family Practice",
        "received_on": clinic_today(client.application).isoformat(),
        "reason": "L5 radiculopathy, failed physiotherapy",
        "condition": "",
        "urgency": "urgent",
    }
    data.update(overrides)
    return data


def test_the_patient_page_link_prefills_the_mrn_and_today(client, login, db_session):
    patient = PatientFactory(first_name="Ana", last_name="Smith")
    login("front_desk")
    page = client.get(f"/referrals/new?patient_id={patient.id}").get_data(as_text=True)
    assert f'value="{patient.mrn}"' in page
    assert "Ana Smith" in page
    assert f'value="{clinic_today(client.application).isoformat()}"' in page


def test_front_desk_logs_a_referral_and_sees_it_waiting_on_the_board(client, login, db_session):
    patient = PatientFactory(first_name="Ana", last_name="Smith", condition="spinal_stenosis")
    login("front_desk")
    response = client.post("/referrals/new", data=intake_form(client, patient))
    assert response.status_code == 302
    assert response.headers["Location"] == "/referrals"
    referral = db_session.execute(select(Referral)).scalar_one()
    assert (referral.patient_id, referral.urgency, referral.condition, referral.status) == (
        patient.id,
        "urgent",
        "spinal_stenosis",
        "received",
    )
    board = client.get("/referrals").get_data(as_text=True)
    assert "Logged an urgent referral for Ana Smith" in board
    received = section(board, "received")
    assert "Smith, Ana" in received and patient.mrn in received
    assert "Dr. Amara Osei, Riverside Family Practice" in received
    assert "Urgent" in received and "today" in received
    assert column_count(board, "received") == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"received_on": "2999-01-01"}, "cannot be after today"),
        ({"patient_mrn": "C9999999"}, "No active patient has MRN C9999999"),
        ({"reason": ""}, "Enter the reason for referral."),
        ({"received_on": "03/04/2030x"}, "Enter the date the referral arrived"),
    ],
)
def test_bad_intake_is_refused_with_what_to_fix_and_the_input_kept(
    client, login, db_session, overrides, message
):
    patient = PatientFactory()
    login("front_desk")
    data = intake_form(client, patient, referring_clinician="Dr. Keep Me", **overrides)
    response = client.post("/referrals/new", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page
    assert 'value="Dr. Keep Me"' in page
    assert 'value="Riverside Family Practice"' in page
    assert '<option selected value="urgent">' in page
    assert db_session.execute(select(func.count()).select_from(Referral)).scalar_one() == 0


def test_the_board_counts_each_status_and_flags_overdue_referrals(client, login, db_session, app):
    today = clinic_today(app)
    late = ReferralFactory(
        urgency="urgent",
        received_on=today - timedelta(days=3),
        patient=PatientFactory(last_name="Late"),
    )
    ReferralFactory(urgency="urgent", received_on=today - timedelta(days=2))
    ReferralFactory(urgency="routine", received_on=today - timedelta(days=14))
    ReferralFactory(status="triaged", received_on=today - timedelta(days=40))
    ReferralFactory(status="triaged")
    ReferralFactory(status="scheduled")
    ReferralFactory(status="completed")
    # Completed or closed more than 30 days ago: off the board (by when the status changed).
    long_ago = clock.utcnow() - timedelta(days=31)
    ReferralFactory(status="completed", status_changed_at=long_ago)
    ReferralFactory(status="declined", status_reason="Out of area", status_changed_at=long_ago)
    ReferralFactory(status="declined", status_reason="Needs surgery consult")
    ReferralFactory(status="cancelled", status_reason="Patient moved away")
    # An archived patient's referral is not worked.
    ReferralFactory(patient=PatientFactory(archived=True))
    login("front_desk")
    page = client.get("/referrals").get_data(as_text=True)
    assert [column_count(page, s) for s in ("received", "triaged", "scheduled", "completed")] == [
        3,
        2,
        1,
        1,
    ]
    received = section(page, "received")
    assert received.count(">Overdue<") == 1
    assert received.index("Late, ") < received.index("referral-card", received.index("Late, "))
    assert "1 referral is overdue for triage." in page
    assert "3 days ago" in received and "14 days ago" in received
    assert "Needs surgery consult" in page and "Patient moved away" in page
    assert "Out of area" not in page
    assert ">Overdue<" not in section(page, "triaged")
    assert late.patient.mrn in received


def test_a_long_column_shows_its_count_and_its_most_urgent_cards_with_a_link_to_all(
    client, login, db_session, app, monkeypatch
):
    monkeypatch.setattr(referrals, "CARDS_PER_COLUMN", 3)
    today = clinic_today(app)
    for n in range(5):
        ReferralFactory(
            urgency="routine",
            received_on=today - timedelta(days=n),
            patient=PatientFactory(last_name=f"Waiting{n}"),
        )
    ReferralFactory(
        urgency="routine",
        received_on=today - timedelta(days=20),
        patient=PatientFactory(last_name="Overduepatient"),
    )
    ReferralFactory(
        urgency="urgent", received_on=today, patient=PatientFactory(last_name="Urgentpatient")
    )
    login("front_desk")
    page = client.get("/referrals").get_data(as_text=True)
    received = section(page, "received")
    assert column_count(page, "received") == 7
    assert received.count("referral-card") == 3
    # Overdue first, then urgent, then the oldest of the rest.
    assert received.index("Overduepatient") < received.index("Urgentpatient")
    assert received.index("Urgentpatient") < received.index("Waiting4")
    assert "Waiting0" not in received
    assert "All 7 received" in received and "(4 more)" in received
    assert "/referrals?status=received" in received


def test_a_statuss_whole_list_is_paginated_in_the_boards_order(
    client, login, db_session, app, monkeypatch
):
    monkeypatch.setattr(referrals, "LIST_PAGE_SIZE", 2)
    today = clinic_today(app)
    for n in range(5):
        ReferralFactory(
            status="triaged",
            received_on=today - timedelta(days=n),
            patient=PatientFactory(last_name=f"Triaged{n}"),
        )
    login("physician")
    first = client.get("/referrals?status=triaged").get_data(as_text=True)
    assert "Page 1 of 3" in first
    assert first.index("Triaged4") < first.index("Triaged3")
    assert "Triaged2" not in first
    last = client.get("/referrals?status=triaged&page=3").get_data(as_text=True)
    assert "Triaged0" in last and "Triaged1" not in last
    assert "Next page" not in last and "Previous page" in last


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "status=lost",
            "The status must be one of received, triaged, scheduled, completed, closed",
        ),
        ("status=received&page=0", "The page must be a whole number from 1"),
        ("status=received&page=x", "The page must be a whole number from 1"),
    ],
)
def test_a_referral_list_query_it_cannot_read_is_a_400(client, login, query, message):
    login("front_desk")
    response = client.get(f"/referrals?{query}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_the_board_filters_by_urgency(client, login, db_session):
    ReferralFactory(urgency="urgent", patient=PatientFactory(last_name="Urgentperson"))
    ReferralFactory(urgency="routine", patient=PatientFactory(last_name="Routineperson"))
    login("physician")
    page = client.get("/referrals?urgency=urgent").get_data(as_text=True)
    assert "Urgentperson" in page and "Routineperson" not in page
    assert column_count(page, "received") == 1
    everything = client.get("/referrals?urgency=nonsense").get_data(as_text=True)
    assert "Urgentperson" in everything and "Routineperson" in everything


def test_readers_see_the_board_without_buttons_that_change_it(client, login, db_session):
    referral = ReferralFactory()
    login("manager")
    page = client.get("/referrals").get_data(as_text=True)
    assert referral.patient.mrn in page
    assert "Triage<" not in page and "Book procedure" not in page and "Log a referral" not in page
    detail = client.get(f"/referrals/{referral.id}").get_data(as_text=True)
    assert "Decline referral" not in detail


def move_form(client, referral, status, **extra) -> dict:
    data = {
        "csrf_token": csrf_token(client, f"/referrals/{referral.id}"),
        "status": status,
        "version": referral.version,
        **extra,
    }
    return data


def test_triage_from_the_board_returns_to_the_board(client, login, db_session):
    referral = ReferralFactory()
    db_session.commit()
    login("front_desk")
    board = client.get("/referrals").get_data(as_text=True)
    assert "Triage<span" in board and f"/schedule/new?referral_id={referral.id}" in board
    response = client.post(
        f"/referrals/{referral.id}/status",
        data=move_form(client, referral, "triaged", return_to="board"),
    )
    assert response.status_code == 302 and response.headers["Location"] == "/referrals"
    db_session.refresh(referral)
    assert referral.status == "triaged"
    page = client.get("/referrals").get_data(as_text=True)
    assert referral.patient.mrn in section(page, "triaged")


def test_declining_without_a_reason_asks_for_one_and_changes_nothing(client, login, db_session):
    referral = ReferralFactory()
    db_session.commit()
    login("physician")
    response = client.post(
        f"/referrals/{referral.id}/status", data=move_form(client, referral, "declined", reason="")
    )
    assert response.status_code == 200
    assert "Say why the referral is declined." in response.get_data(as_text=True)
    db_session.refresh(referral)
    assert referral.status == "received"
    response = client.post(
        f"/referrals/{referral.id}/status",
        data=move_form(client, referral, "declined", reason="Needs a surgical opinion"),
    )
    assert response.status_code == 302
    db_session.refresh(referral)
    assert (referral.status, referral.status_reason) == ("declined", "Needs a surgical opinion")
    page = client.get(f"/referrals/{referral.id}").get_data(as_text=True)
    assert "Declined — Needs a surgical opinion" in page


def test_a_move_from_a_stale_page_is_refused_with_the_reason_kept(client, login, db_session):
    referral = ReferralFactory()
    db_session.commit()
    login("front_desk")
    stale = move_form(client, referral, "cancelled", reason="Patient called to cancel")
    referrals.move_referral(db_session, referral, referral.version, "triaged", None)
    db_session.commit()
    response = client.post(f"/referrals/{referral.id}/status", data=stale)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Someone else changed this record" in page
    assert 'value="Patient called to cancel"' in page
    db_session.refresh(referral)
    assert referral.status == "triaged"
    # The page now carries the current version, so the clerk can cancel on a second try.
    assert f'name="version" value="{referral.version}"' in page


def test_an_archived_patients_referral_is_not_found(client, login, db_session):
    referral = ReferralFactory(patient=PatientFactory(archived=True))
    login("front_desk")
    assert client.get(f"/referrals/{referral.id}").status_code == 404
    assert client.get("/referrals/999999").status_code == 404


def test_viewing_a_referral_is_audited(client, login, db_session):
    from clinic.models import AuditEvent

    referral = ReferralFactory()
    user = login("physician")
    client.get(f"/referrals/{referral.id}")
    rows = db_session.execute(
        select(AuditEvent).where(
            AuditEvent.action == "view",
            AuditEvent.record_type == "referral",
            AuditEvent.actor_id == user.id,
        )
    ).scalars()
    assert [row.record_id for row in rows] == [str(referral.id)]


def test_the_board_sends_the_same_number_of_statements_however_many_referrals(
    client, login, db_session, app
):
    login("front_desk")
    today = clinic_today(app)
    statuses = ["received", "triaged", "scheduled", "completed", "declined", "cancelled"]

    def board_statements(n: int) -> int:
        for i in range(n):
            status = statuses[i % len(statuses)]
            referral = ReferralFactory(
                status=status,
                status_reason="Reason" if status in ("declined", "cancelled") else None,
                urgency="urgent" if i % 2 else "routine",
                received_on=today - timedelta(days=i),
            )
            if status in ("scheduled", "completed"):
                InterventionFactory(
                    patient=referral.patient,
                    referral=referral,
                    starts_at=datetime.combine(today, time(7), tzinfo=UTC)
                    + timedelta(minutes=31 * i),
                    room=None,
                )
        db_session.commit()
        with count_statements(app) as counter:
            assert client.get("/referrals").status_code == 200
        return counter.count

    few = board_statements(3)
    assert few > 0
    assert board_statements(27) == few  # 30 referrals on the board now


def test_the_boards_columns_are_counted_and_sorted_from_their_indexes_alone():
    # At 50,000 patients the open columns hold thousands of referrals: each count, and each
    # column's choice of its first cards, reads only columns one index holds, so the database
    # answers from that index without reading thousands of table rows (PostgreSQL keeps no row
    # id in an index unless it is named, so the board's index names it).
    now = datetime(2030, 3, 4, 12, tzinfo=UTC)
    table = Referral.__table__
    indexes = {index.name: {column.name for column in index.columns} for index in table.indexes}
    parts = []
    for urgency in (None, "urgent"):  # the whole board, and the board filtered by urgency
        scope = referrals.BoardScope(now.date(), now - timedelta(days=30), 3, 14, urgency)
        parts += scope.counts().selects
        parts += [
            scope.page_ids(statuses, referrals.CARDS_PER_COLUMN)
            for statuses in (*((s,) for s in referrals.OPEN_STATUSES), referrals.CLOSED_STATUSES)
        ]
    for part in parts:
        read = {
            element.name
            for element in visitors.iterate(part)
            if isinstance(element, Column) and element.table is table
        }
        holding = [name for name, columns in indexes.items() if read <= columns]
        assert holding, f"no index holds {sorted(read)}"


def test_the_board_and_the_schedule_lead_to_the_slot_finder(client, login, db_session):
    referral = ReferralFactory(status="triaged")
    login("front_desk")
    db_session.commit()
    board = client.get("/referrals").get_data(as_text=True)
    finder = f"/schedule/find?patient={referral.patient.mrn}&amp;referral_id={referral.id}"
    assert finder in board
    assert client.get(finder.replace("&amp;", "&")).status_code == 200
    assert "/schedule/find?from=" in client.get("/schedule").get_data(as_text=True)
