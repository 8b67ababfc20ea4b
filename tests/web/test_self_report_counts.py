"""Self-reported scores on the call list and the manager's dashboard (issue 15, part A)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from clinic import clock
from clinic.services.dashboard import manager_figures
from clinic.services.followup.calls import call_list
from tests.factories import InterventionFactory, PainScoreFactory, PatientFactory

NOW = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)
TODAY = NOW.date()


@pytest.fixture
def fixed_now(monkeypatch):
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)


def completed(performed_on: date, **kwargs):
    return InterventionFactory(
        status="completed", performed_on=performed_on, baseline_nrs=8, **kwargs
    )


def test_a_self_reported_score_closes_a_call_like_a_phone_score(db_session, fixed_now):
    patient = PatientFactory(last_name="Selfreporter")
    due_today = completed(TODAY - timedelta(weeks=2), patient=patient)
    db_session.flush()
    assert [c.intervention.id for c in call_list(db_session, TODAY).due_today] == [due_today.id]
    PainScoreFactory(intervention=due_today, recorded_on=TODAY, nrs=3, source="self_report")
    db_session.flush()
    assert call_list(db_session, TODAY).due_today == []


def test_the_list_counts_the_calls_patients_answered_themselves(db_session, fixed_now):
    # Three 2-week calls whose window has closed: one answered by the patient, one by phone,
    # one by both (a phone call and a self-report in the window: the clinic made that call).
    by_patient = completed(TODAY - timedelta(days=30))
    by_phone = completed(TODAY - timedelta(days=31))
    by_both = completed(TODAY - timedelta(days=32))
    completed(TODAY - timedelta(days=33))
    for intervention, source in ((by_patient, "self_report"), (by_phone, "phone")):
        PainScoreFactory(
            intervention=intervention,
            recorded_on=intervention.performed_on + timedelta(days=14),
            source=source,
        )
    for offset, source in ((13, "self_report"), (15, "phone")):
        PainScoreFactory(
            intervention=by_both,
            recorded_on=by_both.performed_on + timedelta(days=offset),
            source=source,
        )
    db_session.flush()
    calls = call_list(db_session, TODAY)
    assert calls.done_count == 3
    assert calls.self_reported_count == 1
    assert calls.missed_count == 1  # the fourth: nobody answered it


def test_the_worklist_says_how_many_calls_patients_answered(client, login, db_session, fixed_now):
    login("front_desk")
    answered = completed(TODAY - timedelta(days=30))
    PainScoreFactory(
        intervention=answered,
        recorded_on=answered.performed_on + timedelta(days=14),
        source="self_report",
    )
    db_session.commit()
    html = client.get("/worklist").get_data(as_text=True)
    assert "1</span> of 1 made in the last 30 days answered by the patient (self-report)" in html


def test_the_dashboard_shows_the_share_of_follow_ups_patients_answered(
    client, login, db_session, fixed_now
):
    first = completed(date(2026, 2, 1))
    second = completed(date(2026, 2, 2))
    PainScoreFactory(intervention=first, recorded_on=date(2026, 3, 2), source="self_report")
    PainScoreFactory(intervention=first, recorded_on=date(2026, 3, 9), source="phone")
    PainScoreFactory(intervention=second, recorded_on=date(2026, 3, 3), source="visit")
    PainScoreFactory(intervention=second, recorded_on=date(2026, 2, 20), source="self_report")
    # A score on the performed date is no follow-up, nor one before it, nor one of a procedure
    # no longer performed (its booking cancelled afterwards).
    baseline_day = completed(date(2026, 3, 5))
    PainScoreFactory(intervention=baseline_day, recorded_on=date(2026, 3, 5), source="self_report")
    PainScoreFactory(intervention=completed(date(2026, 3, 6)), recorded_on=date(2026, 3, 4))
    undone = completed(date(2026, 2, 3))
    PainScoreFactory(intervention=undone, recorded_on=date(2026, 3, 3), source="self_report")
    db_session.flush()
    undone.status, undone.performed_on = "cancelled", None
    db_session.commit()
    figures = manager_figures(db_session, TODAY, ZoneInfo("UTC"))
    assert (figures.followups_recorded, figures.followups_self_reported) == (3, 1)
    assert round(figures.self_report_pct, 1) == 33.3
    login("manager")
    html = client.get("/").get_data(as_text=True)
    assert "33.3%" in html
    assert "of follow-ups answered by patients themselves (1 self-reported of 3" in html
