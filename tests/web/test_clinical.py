"""The physician's record: completing procedures and visits, pain scores, the patient's relief."""

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from clinic import clock
from clinic.models import AuditEvent, Booking, Intervention, PainScore, Visit
from clinic.services import DomainError
from clinic.services.followup.pain_scores import ScoreValues, record_pain_score
from clinic.services.procedures import (
    Completion,
    complete_intervention,
    complete_visit,
    normalise_levels,
)
from clinic.services.records import StaleRecord
from clinic.services.scheduling import bookings as scheduling
from tests.factories import (
    InterventionFactory,
    PainScoreFactory,
    PatientFactory,
    PhysicianFactory,
    ReferralFactory,
    VisitFactory,
    procedure_type,
)
from tests.helpers.app import csrf_token
from tests.helpers.patients import form_values
from tests.helpers.statement_count import count_statements

TODAY = date(2026, 11, 27)
ZONE = ZoneInfo("UTC")


@pytest.fixture
def booked(db_session):
    """A transforaminal epidural booked from a triaged referral, ten days ago."""
    patient = PatientFactory(first_name="Aisha", last_name="Okafor")
    referral = ReferralFactory(patient=patient, status="scheduled")
    intervention = InterventionFactory(
        patient=patient,
        referral=referral,
        starts_at=datetime(2026, 11, 17, 9, tzinfo=UTC),
        ends_at=datetime(2026, 11, 17, 9, 30, tzinfo=UTC),
    )
    db_session.flush()
    return intervention


def completion(**overrides) -> Completion:
    values = dict(
        performed_on=date(2026, 11, 17),
        baseline_nrs=8,
        spinal_level="l4-l5, l5-s1",
        laterality="left",
    )
    values.update(overrides)
    return Completion(**values)


def test_completing_records_baseline_level_side_and_closes_the_referral(db_session, booked):
    complete_intervention(
        db_session, booked, booked.version, completion(complications=" "), TODAY, zone=ZONE
    )
    assert booked.status == "completed"
    assert booked.performed_on == date(2026, 11, 17)
    assert booked.baseline_nrs == 8
    assert booked.spinal_level == "L4-L5, L5-S1"
    assert booked.complications is None
    assert booked.referral.status == "completed"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"baseline_nrs": None}, "baseline_nrs", "Enter the baseline pain"),
        ({"baseline_nrs": 11}, "baseline_nrs", "0 to 10"),
        ({"performed_on": date(2026, 11, 28)}, "performed_on", "after today"),
        ({"laterality": "up"}, "laterality", "left, right, bilateral or midline"),
        ({"spinal_level": "lower back"}, "spinal_level", "like L4-L5"),
    ],
)
def test_a_bad_completion_says_what_to_fix_and_saves_nothing(
    db_session, booked, change, field, message
):
    with pytest.raises(DomainError, match=message) as refused:
        complete_intervention(
            db_session, booked, booked.version, completion(**change), TODAY, zone=ZONE
        )
    assert refused.value.field == field
    assert booked.status == "scheduled"


def test_a_procedure_cannot_be_performed_before_its_booked_day(db_session):
    ahead = InterventionFactory(
        starts_at=datetime(2026, 12, 3, 9, tzinfo=UTC),
        ends_at=datetime(2026, 12, 3, 9, 30, tzinfo=UTC),
    )
    db_session.flush()
    with pytest.raises(DomainError) as refused:
        complete_intervention(
            db_session, ahead, ahead.version, completion(performed_on=TODAY), TODAY, zone=ZONE
        )
    assert refused.value.field == "performed_on"
    assert refused.value.message.startswith(
        "The procedure is booked for 2026-12-03; it cannot have been performed before that "
        "(2026-11-27)."
    )
    assert ahead.status == "scheduled" and ahead.performed_on is None


def test_the_booked_day_is_the_clinics_day(db_session):
    # 01:00 UTC on 18 November is still 17 November in New York.
    late = InterventionFactory(
        starts_at=datetime(2026, 11, 18, 1, tzinfo=UTC),
        ends_at=datetime(2026, 11, 18, 1, 30, tzinfo=UTC),
    )
    db_session.flush()
    with pytest.raises(DomainError, match="booked for 2026-11-18"):
        complete_intervention(db_session, late, late.version, completion(), TODAY, zone=ZONE)
    new_york = ZoneInfo("America/New_York")
    complete_intervention(db_session, late, late.version, completion(), TODAY, zone=new_york)
    assert late.performed_on == date(2026, 11, 17)


def test_completing_a_future_booking_from_the_form_is_refused_with_the_input_kept(
    client, login, db_session, monkeypatch
):
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 11, 27, 12, tzinfo=UTC))
    ahead = InterventionFactory(
        starts_at=datetime(2026, 12, 3, 9, tzinfo=UTC),
        ends_at=datetime(2026, 12, 3, 9, 30, tzinfo=UTC),
    )
    login("physician")
    db_session.commit()
    url = f"/schedule/bookings/{ahead.id}/complete"
    page = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "performed_on": "2026-11-27",
            "baseline_nrs": "6",
            "spinal_level": "L4-L5",
            "version": str(ahead.version),
        },
    ).get_data(as_text=True)
    assert "The procedure is booked for 2026-12-03" in page
    assert 'value="2026-11-27"' in page and 'value="6"' in page and "L4-L5" in page
    db_session.expire_all()
    assert db_session.get(Intervention, ahead.id).status == "scheduled"


@pytest.mark.parametrize("status", ["cancelled", "no_show"])
def test_cancelled_and_no_show_bookings_cannot_be_completed(db_session, booked, status):
    booked.status = status
    db_session.flush()
    with pytest.raises(DomainError, match="cannot be completed"):
        complete_intervention(db_session, booked, booked.version, completion(), TODAY, zone=ZONE)


def test_a_stale_completion_form_is_refused(db_session, booked):
    opened = booked.version
    complete_intervention(db_session, booked, opened, completion(), TODAY, zone=ZONE)
    with pytest.raises(StaleRecord):
        complete_intervention(
            db_session, booked, opened, completion(baseline_nrs=3), TODAY, zone=ZONE
        )
    assert booked.baseline_nrs == 8


def test_spinal_levels_are_written_one_way():
    assert normalise_levels("c5-c6,c6-c7") == "C5-C6, C6-C7"
    assert normalise_levels("T8-T10") == "T8-T10"
    assert normalise_levels("  ") is None


def test_completing_a_visit_keeps_its_notes(db_session):
    visit = VisitFactory()
    db_session.flush()
    complete_visit(db_session, visit, visit.version, "  Pain better on the left  ")
    assert visit.status == "completed" and visit.notes == "Pain better on the left"


def test_physician_completes_from_the_booking_and_sees_the_outcome(
    client, login, db_session, booked
):
    login("physician")
    db_session.commit()
    url = f"/schedule/bookings/{booked.id}/complete"
    form = client.get(url).get_data(as_text=True)
    assert "Baseline pain before the procedure" in form
    response = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "performed_on": "2026-11-17",
            "baseline_nrs": "8",
            "spinal_level": "L5-S1",
            "laterality": "right",
            "version": str(booked.version),
        },
    )
    assert response.status_code == 302
    page = client.get(f"/patients/{booked.patient_id}").get_data(as_text=True)
    assert "Transforaminal epidural steroid injection" in page and "L5-S1, right" in page


def notes_box(page: str) -> str:
    """What the completion form's clinical-notes textarea holds."""
    found = re.search(r'<textarea[^>]*name="notes"[^>]*>(.*?)</textarea>', page, re.DOTALL)
    assert found, "no notes textarea on the page"
    return found.group(1).strip()


def test_completing_neither_inherits_nor_overwrites_the_desk_note_for_the_day(
    client, login, db_session, booked
):
    booked.desk_note = "Needs a wheelchair"
    login("physician")
    db_session.commit()
    url = f"/schedule/bookings/{booked.id}/complete"
    form = client.get(url).get_data(as_text=True)
    assert notes_box(form) == ""
    assert "Note for the day (front desk):</strong> Needs a wheelchair" in form
    response = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "performed_on": "2026-11-17",
            "baseline_nrs": "8",
            "notes": "Contrast spread confirmed",
            "version": str(booked.version),
        },
    )
    assert response.status_code == 302
    db_session.expire_all()
    done = db_session.get(Intervention, booked.id)
    assert (done.notes, done.desk_note) == ("Contrast spread confirmed", "Needs a wheelchair")
    # Editing the record later shows the physician's own notes, not the desk's.
    assert notes_box(client.get(url).get_data(as_text=True)) == "Contrast spread confirmed"


def test_completing_a_visit_does_not_inherit_the_desk_note(client, login, db_session, treated):
    visit = VisitFactory(patient=treated.patient, desk_note="Interpreter booked")
    login("physician")
    db_session.commit()
    page = client.get(f"/schedule/bookings/{visit.id}/complete").get_data(as_text=True)
    assert notes_box(page) == "" and "Interpreter booked" in page


def test_a_completion_without_baseline_keeps_the_input_and_says_so(
    client, login, db_session, booked
):
    login("physician")
    db_session.commit()
    url = f"/schedule/bookings/{booked.id}/complete"
    page = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "performed_on": "2026-11-17",
            "baseline_nrs": "",
            "spinal_level": "L5-S1",
            "version": str(booked.version),
        },
    ).get_data(as_text=True)
    assert "Enter the baseline pain, a whole number from 0 to 10." in page
    assert "L5-S1" in page
    db_session.expire_all()
    assert db_session.get(Intervention, booked.id).status == "scheduled"


def test_front_desk_cannot_complete_a_procedure(client, login, db_session, booked):
    login("front_desk")
    db_session.commit()
    assert client.get(f"/schedule/bookings/{booked.id}/complete").status_code == 403


@pytest.fixture
def treated(db_session, booked):
    complete_intervention(db_session, booked, booked.version, completion(), TODAY, zone=ZONE)
    db_session.flush()
    return booked


@pytest.mark.parametrize("role", ["front_desk", "physician", "manager", "admin"])
def test_complications_and_clinical_notes_are_read_on_the_booking_and_the_patient_page(
    client, login, db_session, treated, role
):
    treated.complications = "Transient numbness of the left leg"
    treated.notes = "Contrast spread confirmed\nNo vascular uptake"
    visit = VisitFactory(
        patient=treated.patient,
        visit_kind="post_procedure_check",
        intervention=treated,
        status="completed",
        notes="Leg pain settled",
        starts_at=datetime(2026, 11, 24, 10, tzinfo=UTC),
        ends_at=datetime(2026, 11, 24, 10, 20, tzinfo=UTC),
    )
    login(role)
    db_session.commit()
    booking_page = client.get(f"/schedule/bookings/{treated.id}").get_data(as_text=True)
    assert "Transient numbness of the left leg" in booking_page
    assert "Contrast spread confirmed<br>No vascular uptake" in booking_page
    assert "Leg pain settled" in client.get(f"/schedule/bookings/{visit.id}").get_data(as_text=True)
    patient_page = client.get(f"/patients/{treated.patient_id}").get_data(as_text=True)
    assert "Complications:</strong> Transient numbness of the left leg" in patient_page
    assert "Notes:</strong> Contrast spread confirmed<br>No vascular uptake" in patient_page
    assert "Notes:</strong> Leg pain settled" in patient_page


def test_a_procedure_completed_without_complications_says_none_were_recorded(
    client, login, db_session, treated
):
    login("manager")
    db_session.commit()
    assert "None recorded" in client.get(f"/schedule/bookings/{treated.id}").get_data(as_text=True)
    patient_page = client.get(f"/patients/{treated.patient_id}").get_data(as_text=True)
    assert "Complications:</strong> none recorded" in patient_page


def test_clinical_notes_are_escaped_where_they_are_read(client, login, db_session, treated):
    treated.notes = "<script>alert(1)</script>"
    login("front_desk")
    db_session.commit()
    page = client.get(f"/schedule/bookings/{treated.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def post_score(client, treated, follow_redirects=False, **fields):
    """Post the patient page's score form for ``treated``; fields as the form names them."""
    url = f"/patients/{treated.patient_id}/pain-scores/new"
    data = {"csrf_token": csrf_token(client, url), "intervention_id": treated.id, **fields}
    return client.post(url, data=data, follow_redirects=follow_redirects)


def test_a_score_from_the_patient_page_is_saved_and_a_second_the_same_day_edits_it(
    client, login, db_session, treated, monkeypatch
):
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 11, 27, 12, tzinfo=UTC))
    login("physician")
    db_session.commit()

    def post(nrs: str):
        return post_score(
            client, treated, recorded_on="2026-11-27", nrs=nrs, percent_relief="", source="visit"
        )

    assert post("3").status_code == 302
    assert post("4").status_code == 302
    scores = (
        db_session.execute(select(PainScore).where(PainScore.intervention_id == treated.id))
        .scalars()
        .all()
    )
    assert [(s.nrs, s.source) for s in scores] == [(4, "visit")]
    changes = (
        db_session.execute(
            select(AuditEvent.changes).where(
                AuditEvent.record_type == "pain_score", AuditEvent.action == "update"
            )
        )
        .scalars()
        .all()
    )
    assert any(change.get("nrs") == [3, 4] for change in changes)


def test_the_front_desk_cannot_replace_a_score_taken_at_a_visit(db_session, treated):
    physician = PhysicianFactory(full_name="Dr. Vega")
    desk = PhysicianFactory(role="front_desk", full_name="Desk Clerk")
    visit = VisitFactory(patient=treated.patient, physician=physician, status="completed")
    db_session.flush()
    day = date(2026, 11, 24)
    record_pain_score(
        db_session, treated, day, 2, 75, "visit", physician.id, today=TODAY, visit_id=visit.id
    )
    with pytest.raises(DomainError, match="taken at a visit on 2026-11-24") as refused:
        record_pain_score(db_session, treated, day, 4, None, "phone", desk.id, today=TODAY)
    assert refused.value.field == "recorded_on"
    score = db_session.execute(select(PainScore)).scalar_one()
    assert (score.nrs, score.source, score.recorded_by_id) == (2, "visit", physician.id)
    # The physician may still correct their own visit's score.
    edited = record_pain_score(
        db_session, treated, day, 3, None, "visit", physician.id, today=TODAY
    )
    assert edited.replaced == ScoreValues(2, 75, "visit", physician.id)
    assert edited.score.visit_id == visit.id


@pytest.mark.parametrize("source", ["visit", "import"])
def test_the_front_desk_cannot_record_a_score_as_taken_at_a_visit(db_session, treated, source):
    desk = PhysicianFactory(role="front_desk")
    db_session.flush()
    with pytest.raises(DomainError, match="by phone or self-reported") as refused:
        record_pain_score(
            db_session, treated, date(2026, 11, 24), 4, None, source, desk.id, today=TODAY
        )
    assert refused.value.field == "source"
    assert db_session.execute(select(func.count()).select_from(PainScore)).scalar_one() == 0


def test_the_desk_score_form_offers_no_visit_and_refuses_one_posted(
    client, login, db_session, treated
):
    login("front_desk")
    db_session.commit()
    url = f"/patients/{treated.patient_id}/pain-scores/new"
    form = client.get(url).get_data(as_text=True)
    assert 'value="phone"' in form and 'value="self_report"' in form
    assert 'value="visit"' not in form
    response = post_score(client, treated, recorded_on="2026-11-24", nrs="4", source="visit")
    assert response.status_code == 200
    assert db_session.execute(select(func.count()).select_from(PainScore)).scalar_one() == 0


def test_editing_a_score_from_the_page_says_what_it_replaced(
    client, login, db_session, treated, monkeypatch
):
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 11, 27, 12, tzinfo=UTC))
    physician = PhysicianFactory(full_name="Dr. Vega")
    PainScoreFactory(
        intervention=treated,
        recorded_on=date(2026, 11, 24),
        nrs=2,
        source="phone",
        recorded_by_id=physician.id,
    )
    login("front_desk")
    db_session.commit()
    page = post_score(
        client, treated, follow_redirects=True, recorded_on="2026-11-24", nrs="4", source="phone"
    ).get_data(as_text=True)
    assert "Updated the score 4/10 on 2026-11-24" in page
    assert "it replaced 2/10 (phone call, recorded by Dr. Vega)" in page


def test_the_desk_is_told_a_visit_score_is_the_physicians_with_its_input_kept(
    client, login, db_session, treated, monkeypatch
):
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 11, 27, 12, tzinfo=UTC))
    physician = PhysicianFactory(full_name="Dr. Vega")
    PainScoreFactory(
        intervention=treated,
        recorded_on=date(2026, 11, 24),
        nrs=2,
        source="visit",
        recorded_by_id=physician.id,
    )
    login("front_desk")
    db_session.commit()
    response = post_score(client, treated, recorded_on="2026-11-24", nrs="7", source="phone")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "the front desk cannot replace it" in page
    assert 'value="2026-11-24"' in page
    assert db_session.execute(select(PainScore.nrs)).scalar_one() == 2


def test_a_score_on_the_performed_date_is_refused_as_the_baseline(db_session, treated):
    with pytest.raises(DomainError) as refused:
        record_pain_score(
            db_session, treated, date(2026, 11, 17), 8, None, "visit", None, today=TODAY
        )
    assert refused.value.message == (
        "A follow-up score must be dated after the procedure (performed 2026-11-17); "
        "the pre-procedure pain is the baseline."
    )
    assert refused.value.field == "recorded_on"
    # The day after is the first follow-up.
    record_pain_score(db_session, treated, date(2026, 11, 18), 5, None, "phone", None, today=TODAY)


def test_a_score_form_dated_on_the_performed_date_is_refused_with_the_input_kept(
    client, login, db_session, treated
):
    login("physician")
    db_session.commit()
    page = post_score(
        client, treated, recorded_on="2026-11-17", nrs="7", percent_relief="15", source="visit"
    ).get_data(as_text=True)
    assert "A follow-up score must be dated after the procedure (performed 2026-11-17)" in page
    assert 'value="2026-11-17"' in page and 'value="7"' in page and 'value="15"' in page
    assert db_session.execute(select(func.count()).select_from(PainScore)).scalar_one() == 0


def test_a_score_out_of_range_is_refused_with_the_input_kept(client, login, db_session, treated):
    login("front_desk")
    db_session.commit()
    page = post_score(
        client, treated, recorded_on="2026-11-20", nrs="11", percent_relief="40", source="phone"
    ).get_data(as_text=True)
    assert "The pain score is a whole number from 0 to 10." in page
    assert 'value="40"' in page
    assert db_session.execute(select(func.count()).select_from(PainScore)).scalar_one() == 0


def test_a_visit_records_notes_and_a_score_for_the_procedure_it_follows(
    client, login, db_session, treated, monkeypatch
):
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 12, 1, 12, tzinfo=UTC))
    visit = VisitFactory(
        patient=treated.patient,
        visit_kind="post_procedure_check",
        intervention=treated,
        starts_at=datetime(2026, 12, 1, 10, tzinfo=UTC),
        ends_at=datetime(2026, 12, 1, 10, 20, tzinfo=UTC),
    )
    login("physician")
    db_session.commit()
    url = f"/schedule/bookings/{visit.id}/complete"
    response = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "notes": "Leg pain settled",
            "intervention_id": treated.id,
            "nrs": "2",
            "percent_relief": "75",
            "version": str(visit.version),
        },
    )
    assert response.status_code == 302
    score = db_session.execute(select(PainScore).where(PainScore.visit_id == visit.id)).scalar_one()
    assert (score.recorded_on, score.nrs, score.percent_relief, score.source) == (
        date(2026, 12, 1),
        2,
        75,
        "visit",
    )


def test_the_patient_page_shows_relief_and_the_chart_with_a_text_alternative(
    client, login, db_session, treated, monkeypatch
):
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2027, 3, 1, 12, tzinfo=UTC))
    # Baseline 8: NRS 3 is 62.5% relief, NRS 6 is 25% — relief from day 14, ended on day 90.
    for day, nrs in [(14, 3), (42, 3), (90, 6)]:
        PainScoreFactory(
            intervention=treated, recorded_on=date(2026, 11, 17) + timedelta(days=day), nrs=nrs
        )
    login("manager")
    db_session.commit()
    page = client.get(f"/patients/{treated.patient_id}").get_data(as_text=True)
    assert "Responder" in page
    assert (
        "<figure" in page
        and "<figcaption>" in page
        and "ESI-TF on 2026-11-17: baseline 8, 3 scores, last 6 on 2027-02-15" in page
    )
    chart = client.get(f"/patients/{treated.patient_id}/pain-chart.svg")
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
    assert chart.data.lstrip().startswith(b"<?xml") and b"Pain (NRS 0" in chart.data
    at_80 = client.get(f"/patients/{treated.patient_id}?threshold=80").get_data(as_text=True)
    assert "No relief ≥ 80%" in at_80


def test_the_patient_page_gives_the_onset_of_relief_still_ongoing(
    client, login, db_session, treated, monkeypatch
):
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2027, 3, 1, 12, tzinfo=UTC))
    # Baseline 8: NRS 6 on day 14 is 25% (not relieved), NRS 3 on days 42 and 90 is 62.5%.
    for day, nrs in [(14, 6), (42, 3), (90, 3)]:
        PainScoreFactory(
            intervention=treated, recorded_on=date(2026, 11, 17) + timedelta(days=day), nrs=nrs
        )
    login("physician")
    db_session.commit()
    page = client.get(f"/patients/{treated.patient_id}").get_data(as_text=True)
    assert "Responder: relief from day 42, ongoing at day 90 (last score 2027-02-15)" in page


def test_the_patient_page_query_count_does_not_grow_with_procedures(
    client, login, db_session, app, monkeypatch
):
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2027, 3, 1, 12, tzinfo=UTC))
    patient = PatientFactory()
    login("physician")

    def page_statements(procedures: int) -> int:
        existing = db_session.execute(
            select(func.count())
            .select_from(Intervention)
            .where(Intervention.patient_id == patient.id)
        ).scalar_one()
        for n in range(existing, procedures):
            start = datetime(2026, 1, 5, 9, tzinfo=UTC) + timedelta(days=7 * n)
            done = InterventionFactory(
                patient=patient,
                starts_at=start,
                ends_at=start + timedelta(minutes=30),
                status="completed",
                performed_on=start.date(),
                baseline_nrs=7,
                procedure_type=procedure_type("RFA"),
            )
            PainScoreFactory(
                intervention=done, recorded_on=start.date() + timedelta(days=14), nrs=2
            )
        db_session.commit()
        with count_statements(app) as counter:
            assert client.get(f"/patients/{patient.id}").status_code == 200
            assert client.get(f"/patients/{patient.id}/pain-chart.svg").status_code == 200
        return counter.count

    assert page_statements(2) == page_statements(12)


# Lost updates: a completion refused as stale can be saved at the next submit ------------------


def test_a_completion_refused_as_stale_keeps_what_was_typed_with_the_current_version_then_saves(
    client, login, db_session, booked, monkeypatch
):
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 11, 27, 12, tzinfo=UTC))
    login("physician")
    db_session.commit()
    url = f"/schedule/bookings/{booked.id}/complete"
    opened = form_values(client.get(url).get_data(as_text=True))
    assert opened["version"] == str(booked.version)
    # The desk moves the booking to 10:00 while the physician writes the record.
    scheduling.reschedule(
        db_session,
        booked,
        booked.version,
        datetime(2026, 11, 17, 10, tzinfo=UTC),
        datetime(2026, 11, 17, 10, 30, tzinfo=UTC),
        booked.physician_id,
        None,
        ZONE,
    )
    db_session.commit()
    moved = booked.version
    typed = {
        **opened,
        "baseline_nrs": "7",
        "spinal_level": "L5-S1",
        "laterality": "right",
        "notes": "Contrast spread confirmed",
    }

    refused = client.post(url, data=typed)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 200
    assert "Someone else changed this record after you opened it" in page
    assert "As saved now, the booking is 2026-11-17 10:00–10:30 Transforaminal" in page
    assert "What you typed is still in the form" in page
    shown = form_values(page)
    assert shown["version"] == str(moved)
    assert {name: shown[name] for name in ("baseline_nrs", "spinal_level", "laterality")} == {
        "baseline_nrs": "7",
        "spinal_level": "L5-S1",
        "laterality": "right",
    }
    assert shown["notes"] == "Contrast spread confirmed"
    db_session.expire_all()
    assert db_session.get(Intervention, booked.id).status == "scheduled"

    saved = client.post(url, data=shown)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    db_session.expire_all()
    done = db_session.get(Intervention, booked.id)
    assert (done.status, done.baseline_nrs, done.notes, done.version) == (
        "completed",
        7,
        "Contrast spread confirmed",
        moved + 1,
    )


def test_a_completion_refused_because_another_completed_it_shows_their_record_and_what_was_typed(
    client, login, db_session, booked, monkeypatch
):
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 11, 27, 12, tzinfo=UTC))
    login("physician")
    db_session.commit()
    url = f"/schedule/bookings/{booked.id}/complete"
    opened = form_values(client.get(url).get_data(as_text=True))
    # A colleague completes the same procedure first.
    complete_intervention(
        db_session,
        booked,
        booked.version,
        completion(baseline_nrs=6, notes="Written by the colleague"),
        TODAY,
        zone=ZONE,
    )
    db_session.commit()
    theirs = booked.version

    refused = client.post(
        url, data={**opened, "baseline_nrs": "7", "spinal_level": "l4-l5, l5-s1", "notes": "Mine"}
    )
    page = refused.get_data(as_text=True)
    assert "Someone else changed this record after you opened it" in page
    assert "The form now shows the record as saved now" in page
    shown = form_values(page)
    assert (shown["version"], shown["baseline_nrs"], shown["notes"]) == (
        str(theirs),
        "6",
        "Written by the colleague",
    )
    # What was typed is beside what is saved now; a level typed the way it is saved is not.
    unsaved = page.split("Your changes were not saved")[1].split("</table>")[0]
    assert "<td>7</td><td>6</td>" in unsaved
    assert "<td>Mine</td><td>Written by the colleague</td>" in unsaved
    assert "Spinal level" not in unsaved and "Performed on" not in unsaved

    again = client.post(url, data={**shown, "baseline_nrs": "7"})
    assert again.status_code == 302, again.get_data(as_text=True)
    db_session.expire_all()
    done = db_session.get(Intervention, booked.id)
    assert (done.baseline_nrs, done.notes, done.version) == (
        7,
        "Written by the colleague",
        theirs + 1,
    )


def test_a_visit_completion_refused_as_stale_keeps_what_was_typed_then_saves(
    client, login, db_session, treated, monkeypatch
):
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    monkeypatch.setattr(clock, "utcnow", lambda: now)
    visit = VisitFactory(
        patient=treated.patient,
        visit_kind="post_procedure_check",
        intervention=treated,
        starts_at=datetime(2026, 12, 1, 10, tzinfo=UTC),
        ends_at=datetime(2026, 12, 1, 10, 20, tzinfo=UTC),
    )
    login("physician")
    db_session.commit()
    url = f"/schedule/bookings/{visit.id}/complete"
    opened = form_values(client.get(url).get_data(as_text=True))
    assert opened["intervention_id"] == str(treated.id)
    # The desk checks the patient in meanwhile.
    scheduling.change_status(db_session, visit, visit.version, "checked_in", zone=ZONE, now=now)
    db_session.commit()
    typed = {**opened, "notes": "Leg pain settled", "nrs": "2", "percent_relief": "75"}

    refused = client.post(url, data=typed)
    page = refused.get_data(as_text=True)
    assert "Someone else changed this record after you opened it" in page
    assert "post-procedure check for Aisha Okafor" in page and "checked in" in page
    shown = form_values(page)
    assert shown["version"] == str(visit.version)
    assert (shown["notes"], shown["nrs"], shown["percent_relief"]) == (
        "Leg pain settled",
        "2",
        "75",
    )
    assert db_session.execute(select(func.count()).select_from(PainScore)).scalar_one() == 0

    saved = client.post(url, data=shown)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(Visit, visit.id).status == "completed"
    score = db_session.execute(select(PainScore).where(PainScore.visit_id == visit.id)).scalar_one()
    assert (score.nrs, score.percent_relief) == (2, 75)


def test_a_visit_completed_meanwhile_shows_its_notes_and_score_beside_what_was_typed(
    client, login, db_session, treated, monkeypatch
):
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 12, 1, 12, tzinfo=UTC))
    visit = VisitFactory(
        patient=treated.patient,
        visit_kind="post_procedure_check",
        intervention=treated,
        starts_at=datetime(2026, 12, 1, 10, tzinfo=UTC),
        ends_at=datetime(2026, 12, 1, 10, 20, tzinfo=UTC),
    )
    login("physician")
    db_session.commit()
    url = f"/schedule/bookings/{visit.id}/complete"
    opened = form_values(client.get(url).get_data(as_text=True))
    first = client.post(url, data={**opened, "notes": "Seen first", "nrs": "3"})
    assert first.status_code == 302

    refused = client.post(url, data={**opened, "notes": "Seen second", "nrs": "4"})
    db_session.refresh(visit)
    page = refused.get_data(as_text=True)
    assert "The form now shows the record as saved now" in page
    shown = form_values(page)
    assert (shown["version"], shown["notes"], shown["nrs"]) == (
        str(visit.version),
        "Seen first",
        "3",
    )
    unsaved = page.split("Your changes were not saved")[1].split("</table>")[0]
    assert (
        "<td>Seen second</td><td>Seen first</td>" in unsaved and "<td>4</td><td>3</td>" in unsaved
    )


def test_a_garbled_version_on_a_completion_is_a_conflict_not_an_error(
    client, login, db_session, booked, monkeypatch
):
    monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 11, 27, 12, tzinfo=UTC))
    login("physician")
    db_session.commit()
    url = f"/schedule/bookings/{booked.id}/complete"
    opened = form_values(client.get(url).get_data(as_text=True))
    response = client.post(url, data={**opened, "baseline_nrs": "7", "version": "²"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Someone else changed this record" in page
    assert form_values(page)["version"] == str(booked.version)


@pytest.mark.parametrize("kind", ["intervention", "visit"])
def test_a_completion_racing_the_version_check_is_refused_as_stale(db_session, booked, kind):
    record = booked if kind == "intervention" else VisitFactory()
    db_session.commit()
    # Someone saves between this request's version check and its write: the row moves on
    # under the loaded record, whose version still reads the old one.
    db_session.execute(
        update(Booking)
        .where(Booking.id == record.id)
        .values(version=record.version + 1)
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(StaleRecord, match="your changes were not saved"):
        if kind == "intervention":
            complete_intervention(
                db_session, record, record.version, completion(), TODAY, zone=ZONE
            )
        else:
            complete_visit(db_session, record, record.version, "Seen")
