"""The follow-up call list (docs/rules.md, Follow-up calls) and recording phone pain scores and call attempts."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from clinic import clock
from clinic.extensions import db
from clinic.models import AuditEvent, FollowUpCall, PainScore
from clinic.services import DomainError
from clinic.services.followup.calls import (
    CallAlreadyRecorded,
    answered_calls,
    call_list,
    classify,
    record_call_attempt,
)
from clinic.services.followup.pain_scores import record_pain_score
from clinic.services.followup.schedules import Offset, ScheduleError, due_dates, parse_schedule
from tests.factories import (
    InterventionFactory,
    PainScoreFactory,
    PatientFactory,
    completed_intervention,
    procedure_type,
)
from tests.helpers.app import csrf_token

TODAY = date(2026, 3, 16)
NOW = datetime(2026, 3, 16, 14, 30, tzinfo=UTC)


def completed(performed_on: date, code: str = "ESI-TF", **kwargs):
    """A completed intervention performed on that date (its booking at 09:00 UTC that day)."""
    return completed_intervention(performed_on, code, **kwargs)


def due_two_weeks_on(due_on: date, **kwargs):
    """An intervention whose 2-week call falls due on ``due_on`` (its other calls much later)."""
    return completed(due_on - timedelta(days=14), **kwargs)


def keys(calls) -> set[tuple[int, date]]:
    return {(call.intervention.id, call.due_on) for call in calls}


def all_keys(result) -> set[tuple[int, date]]:
    return keys(result.overdue) | keys(result.due_today) | keys(result.upcoming)


# --- Schedules and calendar arithmetic ---------------------------------------------------------


def test_parse_schedule_reads_days_weeks_and_calendar_months():
    assert parse_schedule("2w 6w 3m 6m 12m") == [
        Offset(days=14),
        Offset(days=42),
        Offset(months=3),
        Offset(months=6),
        Offset(months=12),
    ]
    assert parse_schedule("1d, 1W,2w") == [Offset(days=1), Offset(days=7), Offset(days=14)]
    assert parse_schedule(" 2 weeks, 1 month 3 days ") == [
        Offset(days=3),
        Offset(days=14),
        Offset(months=1),
    ]
    assert parse_schedule("3m 2w") == [Offset(days=14), Offset(months=3)]  # earliest first


def test_an_empty_schedule_means_no_calls():
    assert parse_schedule("") == []
    assert parse_schedule("   ") == []
    assert due_dates(date(2026, 1, 5), "") == []


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("2 wks", '"2"'),
        ("2 fortnights", '"2"'),
        ("2x 6w", '"2x"'),
        ("w2", '"w2"'),
        ("2.5w", '"2.5w"'),
        ("-1m", '"-1m"'),
        ("0w", '"0w" is out of range'),
        ("121m", '"121m" is out of range'),
        ("2w 14d", '"14d" repeats a call'),
    ],
)
def test_an_unreadable_schedule_is_refused_naming_the_part_to_fix(text, names):
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(text)
    assert names in caught.value.message
    assert caught.value.field == "followup_schedule"


def test_default_schedule_falls_due_2_and_6_weeks_then_3_6_and_12_calendar_months_after():
    assert due_dates(date(2025, 1, 15), "2w 6w 3m 6m 12m") == [
        date(2025, 1, 29),
        date(2025, 2, 26),
        date(2025, 4, 15),
        date(2025, 7, 15),
        date(2026, 1, 15),
    ]


@pytest.mark.parametrize(
    ("performed_on", "schedule", "due_on"),
    [
        (date(2025, 1, 31), "1m", date(2025, 2, 28)),  # no 31 February: the month's last day
        (date(2024, 1, 31), "1m", date(2024, 2, 29)),  # leap year
        (date(2024, 2, 29), "12m", date(2025, 2, 28)),  # from a leap day to a common year
        (date(2023, 2, 28), "12m", date(2024, 2, 28)),  # not pushed to the leap day
        (date(2025, 8, 31), "3m", date(2025, 11, 30)),
        (date(2025, 11, 30), "3m", date(2026, 2, 28)),
        (date(2025, 12, 31), "2w", date(2026, 1, 14)),  # weeks cross the year by the day
        (date(2024, 2, 20), "10d", date(2024, 3, 1)),
    ],
)
def test_months_are_calendar_months_and_weeks_and_days_are_counted_in_days(
    performed_on, schedule, due_on
):
    assert due_dates(performed_on, schedule) == [due_on]


@pytest.mark.parametrize("months", [1, 3, 6, 12])
def test_the_performed_date_range_searched_for_a_month_offset_holds_every_such_procedure(months):
    """Every performed date whose call is due on a day is inside the range queried for that day."""
    offset = Offset(months=months)
    performed_on = date(2023, 1, 1)
    while performed_on < date(2025, 1, 1):
        due_on = offset.after(performed_on)
        earliest, latest = offset.performed_range(due_on, due_on)
        assert earliest <= performed_on <= latest, (performed_on, due_on)
        assert (latest - earliest).days <= 9
        performed_on += timedelta(days=1)


@pytest.mark.parametrize(
    ("due_on", "status"),
    [
        (TODAY - timedelta(days=8), "missed"),  # the window closed yesterday
        (TODAY - timedelta(days=7), "overdue"),  # today is the window's last day
        (TODAY - timedelta(days=1), "overdue"),
        (TODAY, "today"),
        (TODAY + timedelta(days=1), "upcoming"),
        (TODAY + timedelta(days=14), "upcoming"),
        (TODAY + timedelta(days=15), None),
    ],
)
def test_open_calls_are_grouped_by_their_due_date_and_window(due_on, status):
    assert classify(due_on, TODAY) == status


@pytest.mark.parametrize(
    ("days_from_due", "answered"),
    [(-8, False), (-7, True), (-1, True), (0, True), (7, True), (8, False)],
)
def test_a_score_within_7_days_of_the_due_date_answers_the_call(days_from_due, answered):
    performed_on = date(2026, 1, 1)
    due_on = performed_on + timedelta(days=42)
    scored_on = due_on + timedelta(days=days_from_due)
    assert (due_on in answered_calls(performed_on, [due_on], [scored_on])) is answered


def test_the_score_on_the_performed_date_answers_no_call():
    performed_on = date(2026, 1, 1)
    assert answered_calls(performed_on, [date(2026, 1, 2)], [performed_on]) == set()


def test_a_block_day_one_score_does_not_close_the_one_week_call():
    performed_on = date(2026, 1, 1)
    dues = due_dates(performed_on, "1d 1w 2w")  # medial branch block
    day_1, week_1, week_2 = dues
    assert answered_calls(performed_on, dues, [day_1]) == {day_1}
    # A score on day 7 catches up the day-1 call and answers the 1-week call, not the 2-week.
    assert answered_calls(performed_on, dues, [week_1]) == {day_1, week_1}
    # A score before any call is due answers the first call only (a stimulator trial's day 2).
    trial = due_dates(performed_on, "3d 1w")
    assert answered_calls(performed_on, trial, [date(2026, 1, 3)]) == {trial[0]}


# --- The call list from the database -----------------------------------------------------------


def test_calls_are_listed_overdue_due_today_and_coming_up_at_the_boundary_days(db_session):
    missed = due_two_weeks_on(TODAY - timedelta(days=8))
    last_day = due_two_weeks_on(TODAY - timedelta(days=7))
    yesterday = due_two_weeks_on(TODAY - timedelta(days=1))
    today = due_two_weeks_on(TODAY)
    in_14 = due_two_weeks_on(TODAY + timedelta(days=14))
    in_15 = due_two_weeks_on(TODAY + timedelta(days=15))
    result = call_list(db_session, TODAY)
    assert [c.intervention.id for c in result.overdue] == [last_day.id, yesterday.id]
    assert keys(result.due_today) == {(today.id, TODAY)}
    assert keys(result.upcoming) == {(in_14.id, TODAY + timedelta(days=14))}
    listed = {
        call.intervention.id for call in [*result.overdue, *result.due_today, *result.upcoming]
    }
    assert missed.id not in listed and in_15.id not in listed
    assert result.missed_count == 1
    first = result.overdue[0]
    assert first.days_overdue == 7 and first.days_left == 0
    assert first.window == (first.due_on - timedelta(days=7), first.due_on + timedelta(days=7))
    assert first.patient == last_day.patient and first.physician == last_day.physician
    assert first.procedure.code == "ESI-TF" and first.offset.label == "2-week"


def test_a_missed_call_counts_for_30_days_after_its_window_closed(db_session):
    procedure_type("ESI-TF").followup_schedule = "2w"  # no 6-week call to count as well
    due_two_weeks_on(TODAY - timedelta(days=7 + 30))  # window closed 30 days ago
    due_two_weeks_on(TODAY - timedelta(days=7 + 31))
    assert call_list(db_session, TODAY).missed_count == 1


@pytest.mark.parametrize(
    ("days_from_due", "still_listed"), [(-8, True), (-7, False), (0, False), (2, False)]
)
def test_a_score_within_7_days_completes_the_call_and_one_8_days_away_does_not(
    db_session, days_from_due, still_listed
):
    due_on = TODAY - timedelta(days=2)
    intervention = due_two_weeks_on(due_on)
    PainScoreFactory(intervention=intervention, recorded_on=due_on + timedelta(days=days_from_due))
    assert ((intervention.id, due_on) in all_keys(call_list(db_session, TODAY))) is still_listed


def test_each_procedure_type_uses_its_own_schedule(db_session):
    trial = completed(TODAY - timedelta(days=3), "SCS-TRIAL")  # 3d 1w
    block = completed(TODAY - timedelta(days=1), "MBB")  # 1d 1w 2w
    result = call_list(db_session, TODAY)
    assert keys(result.due_today) == {(trial.id, TODAY), (block.id, TODAY)}
    assert (trial.id, TODAY + timedelta(days=4)) in keys(result.upcoming)
    assert (block.id, TODAY + timedelta(days=6)) in keys(result.upcoming)
    assert (block.id, TODAY + timedelta(days=13)) in keys(result.upcoming)


def test_three_month_call_after_the_31st_falls_due_on_the_months_last_day(db_session):
    intervention = completed(date(2025, 11, 30))  # + 3 calendar months = 28 February 2026
    result = call_list(db_session, date(2026, 3, 1))
    assert (intervention.id, date(2026, 2, 28)) in keys(result.overdue)
    call = next(c for c in result.overdue if c.intervention.id == intervention.id)
    assert call.offset.label == "3-month" and call.days_overdue == 1


@pytest.mark.parametrize("status", ["scheduled", "checked_in", "cancelled", "no_show"])
def test_procedures_that_were_not_completed_never_appear(db_session, status):
    due_two_weeks_on(TODAY, status=status)
    due_two_weeks_on(TODAY - timedelta(days=2), status=status)
    result = call_list(db_session, TODAY)
    assert all_keys(result) == set() and result.missed_count == 0


def test_archived_patients_are_not_called(db_session):
    due_two_weeks_on(TODAY, patient=PatientFactory(archived=True))
    assert all_keys(call_list(db_session, TODAY)) == set()


def test_a_procedure_retired_from_the_catalogue_is_still_followed_up(db_session):
    intervention = due_two_weeks_on(TODAY)
    intervention.procedure_type.active = False
    db_session.flush()
    assert keys(call_list(db_session, TODAY).due_today) == {(intervention.id, TODAY)}


def test_an_unreadable_schedule_is_reported_and_the_default_used_so_no_call_is_lost(db_session):
    intervention = due_two_weeks_on(TODAY, code="FJI")
    intervention.procedure_type.followup_schedule = "two weeks"
    db_session.flush()
    result = call_list(db_session, TODAY)
    assert keys(result.due_today) == {(intervention.id, TODAY)}
    assert len(result.schedule_problems) == 1
    assert "Facet joint injection (FJI)" in result.schedule_problems[0]
    assert '"two"' in result.schedule_problems[0]


# --- Call attempts -----------------------------------------------------------------------------


def test_no_answer_counts_an_attempt_and_keeps_the_call_on_the_list(db_session):
    due_on = TODAY - timedelta(days=1)
    intervention = due_two_weeks_on(due_on)
    record_call_attempt(db_session, intervention, due_on, "no_answer", now=NOW)
    call = record_call_attempt(db_session, intervention, due_on, "no_answer", expected_attempts=1)
    assert call.attempts == 2 and call.outcome is None and call.last_attempt_at is not None
    listed = call_list(db_session, TODAY).overdue
    assert [(c.intervention.id, c.attempts) for c in listed] == [(intervention.id, 2)]
    rows = db_session.execute(select(FollowUpCall)).scalars().all()
    assert len(rows) == 1  # one row per call, created on the first attempt


@pytest.mark.parametrize("outcome", ["unreachable", "declined"])
def test_unreachable_or_declined_closes_the_call(db_session, outcome):
    intervention = due_two_weeks_on(TODAY)
    record_call_attempt(db_session, intervention, TODAY, "no_answer")
    call = record_call_attempt(db_session, intervention, TODAY, outcome)
    assert call.attempts == 2 and call.outcome == outcome
    result = call_list(db_session, TODAY)
    assert all_keys(result) == set() and result.missed_count == 0
    with pytest.raises(CallAlreadyRecorded, match=f"already closed as {outcome}"):
        record_call_attempt(db_session, intervention, TODAY, "no_answer")


def test_an_attempt_counted_from_an_out_of_date_list_is_refused(db_session):
    intervention = due_two_weeks_on(TODAY)
    record_call_attempt(db_session, intervention, TODAY, "no_answer", expected_attempts=0)
    with pytest.raises(CallAlreadyRecorded, match="a moment ago"):
        record_call_attempt(db_session, intervention, TODAY, "no_answer", expected_attempts=0)
    assert db_session.execute(select(FollowUpCall.attempts)).scalar_one() == 1


def test_an_attempt_is_refused_on_a_day_no_call_falls_due_or_with_an_unknown_outcome(db_session):
    intervention = due_two_weeks_on(TODAY)
    with pytest.raises(DomainError, match="No follow-up call of this ESI-TF falls due on"):
        record_call_attempt(db_session, intervention, TODAY + timedelta(days=1), "no_answer")
    with pytest.raises(DomainError, match="Unknown call outcome"):
        record_call_attempt(db_session, intervention, TODAY, "busy")
    cancelled = due_two_weeks_on(TODAY, status="cancelled")
    with pytest.raises(DomainError, match="this one is cancelled"):
        record_call_attempt(db_session, cancelled, TODAY, "no_answer")


# --- Pain scores -------------------------------------------------------------------------------


def test_a_phone_score_is_recorded_for_the_intervention_and_its_patient(db_session):
    intervention = due_two_weeks_on(TODAY)
    saved = record_pain_score(db_session, intervention, TODAY, 3, 60, "phone", None, today=TODAY)
    assert saved.created and saved.replaced is None
    score = db_session.execute(select(PainScore)).scalar_one()
    assert (score.patient_id, score.intervention_id) == (intervention.patient_id, intervention.id)
    assert (score.recorded_on, score.nrs, score.percent_relief, score.source) == (
        TODAY,
        3,
        60,
        "phone",
    )
    assert all_keys(call_list(db_session, TODAY)) == set()


def test_a_second_score_on_the_same_date_edits_the_first_and_the_audit_keeps_both(db_session):
    intervention = due_two_weeks_on(TODAY)
    first = record_pain_score(db_session, intervention, TODAY, 6, None, "phone", None, today=TODAY)
    second = record_pain_score(db_session, intervention, TODAY, 3, 50, "visit", None, today=TODAY)
    assert second.score.id == first.score.id
    assert second.replaced is not None and (second.replaced.nrs, second.replaced.source) == (
        6,
        "phone",
    )
    assert db_session.execute(select(func.count()).select_from(PainScore)).scalar_one() == 1
    assert first.score.nrs == 3 and first.score.percent_relief == 50
    trail = (
        db_session.execute(
            select(AuditEvent)
            .where(
                AuditEvent.record_type == "pain_score",
                AuditEvent.record_id == str(first.score.id),
            )
            .order_by(AuditEvent.id)
        )
        .scalars()
        .all()
    )
    assert [event.action for event in trail] == ["create", "update"]
    assert trail[0].changes["nrs"] == [None, 6]
    assert trail[1].changes["nrs"] == [6, 3]
    assert trail[1].changes["percent_relief"] == [None, 50]
    assert trail[1].changes["source"] == ["phone", "visit"]


@pytest.mark.parametrize(
    ("nrs", "percent_relief", "source", "field", "message"),
    [
        (None, None, "phone", "nrs", "Enter the pain score (NRS), a whole number from 0 to 10."),
        (11, None, "phone", "nrs", "a whole number from 0 to 10, not 11"),
        (-1, None, "phone", "nrs", "a whole number from 0 to 10, not -1"),
        (4.5, None, "phone", "nrs", "a whole number from 0 to 10, not 4.5"),
        (4, 101, "phone", "percent_relief", "from 0 to 100, not 101; leave it empty"),
        (4, -5, "phone", "percent_relief", "from 0 to 100, not -5"),
        (4, None, "email", "source", "use one of visit, phone, self_report, import"),
    ],
)
def test_a_score_the_record_cannot_hold_is_refused_saying_what_to_fix(
    db_session, nrs, percent_relief, source, field, message
):
    intervention = due_two_weeks_on(TODAY)
    with pytest.raises(DomainError) as caught:
        record_pain_score(
            db_session, intervention, TODAY, nrs, percent_relief, source, None, today=TODAY
        )
    assert message.lower() in caught.value.message.lower()
    assert caught.value.field == field
    assert db_session.execute(select(func.count()).select_from(PainScore)).scalar_one() == 0


def test_a_score_dated_on_or_before_the_procedure_or_in_the_future_is_refused(db_session):
    intervention = completed(TODAY - timedelta(days=10))
    with pytest.raises(DomainError, match="before the procedure was performed") as caught:
        record_pain_score(
            db_session,
            intervention,
            TODAY - timedelta(days=11),
            4,
            None,
            "phone",
            None,
            today=TODAY,
        )
    assert caught.value.field == "recorded_on"
    with pytest.raises(DomainError, match="is in the future; today is 2026-03-16"):
        record_pain_score(
            db_session, intervention, TODAY + timedelta(days=1), 4, None, "phone", None, today=TODAY
        )
    # On the performed date itself: that day's pain is the baseline, not a follow-up.
    with pytest.raises(DomainError, match="must be dated after the procedure"):
        record_pain_score(
            db_session,
            intervention,
            TODAY - timedelta(days=10),
            8,
            None,
            "visit",
            None,
            today=TODAY,
        )


@pytest.mark.parametrize(
    ("status", "label"),
    [
        ("scheduled", "scheduled"),
        ("checked_in", "checked in"),
        ("cancelled", "cancelled"),
        ("no_show", "no-show"),
    ],
)
def test_a_score_for_a_procedure_not_completed_is_refused(db_session, status, label):
    intervention = InterventionFactory(status=status)
    with pytest.raises(DomainError, match=f"completed procedures; this one is {label}\\."):
        record_pain_score(db_session, intervention, TODAY, 4, None, "phone", None, today=TODAY)


# --- The page ----------------------------------------------------------------------------------


@pytest.fixture
def fixed_today(monkeypatch, app) -> date:
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)
    return clock.clinic_today(app.config["CLINIC_TIMEZONE"])


def worklist_token(client) -> str:
    return csrf_token(client, "/worklist")


def test_the_list_shows_whom_to_call_about_what_with_a_score_form(
    client, login, fixed_today, db_session
):
    login("front_desk")
    patient = PatientFactory(first_name="Rosa", last_name="Quintero", phone="555-013-7788")
    intervention = due_two_weeks_on(fixed_today - timedelta(days=3), patient=patient)
    PainScoreFactory(intervention=intervention, recorded_on=intervention.performed_on)
    upcoming = due_two_weeks_on(fixed_today + timedelta(days=5))
    db_session.commit()
    html = client.get("/worklist").get_data(as_text=True)
    assert "Quintero, Rosa" in html and patient.mrn in html and "555-013-7788" in html
    assert f'href="/patients/{patient.id}"' in html
    assert "3 days overdue" in html and "2-week call" in html
    assert intervention.procedure_type.name in html
    assert 'name="nrs"' in html and "autofocus" in html
    for label in ("No answer", "Unreachable", "Declined"):
        assert label in html
    # The coming-up call is listed for information, with no form.
    assert upcoming.patient.last_name in html
    assert html.count('name="nrs"') == 1
    assert re.search(r"<span class=\"summary-count\">1</span> overdue", html)


def test_a_score_saved_from_the_list_completes_the_call_and_names_the_patient(
    client, login, fixed_today, db_session
):
    user = login("front_desk")
    patient = PatientFactory(first_name="Rosa", last_name="Quintero")
    due_on = fixed_today - timedelta(days=3)
    intervention = due_two_weeks_on(due_on, patient=patient)
    db_session.commit()
    response = client.post(
        "/worklist/score",
        data={
            "csrf_token": worklist_token(client),
            "intervention_id": intervention.id,
            "due_on": due_on.isoformat(),
            "nrs": "4",
            "percent_relief": "",
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/worklist"
    html = client.get("/worklist").get_data(as_text=True)
    assert f"Saved for Rosa Quintero (MRN {patient.mrn}): NRS 4. 2-week call done." in html
    assert 'name="nrs"' not in html
    score = db_session.execute(select(PainScore)).scalar_one()
    assert (score.nrs, score.percent_relief, score.source, score.recorded_by_id) == (
        4,
        None,
        "phone",
        user.id,
    )
    assert score.recorded_on == fixed_today


def test_a_second_score_today_from_the_list_edits_the_first_and_says_so(
    client, login, fixed_today, db_session
):
    login("front_desk")
    patient = PatientFactory(first_name="Rosa", last_name="Quintero")
    intervention = due_two_weeks_on(fixed_today, patient=patient)
    db_session.commit()
    data = {
        "csrf_token": worklist_token(client),
        "intervention_id": intervention.id,
        "due_on": fixed_today.isoformat(),
        "nrs": "4",
    }
    client.post("/worklist/score", data=data)
    client.post("/worklist/score", data={**data, "nrs": "2", "percent_relief": "70"})
    html = client.get("/worklist").get_data(as_text=True)
    assert "Updated today&#39;s score for Rosa Quintero" in html
    assert "NRS 4 → NRS 2, 70% relief." in html
    assert db_session.execute(select(PainScore.nrs)).scalars().all() == [2]


def test_a_score_saved_after_the_calls_window_closed_is_kept_and_says_the_call_is_not_done(
    client, login, fixed_today, db_session
):
    login("front_desk")
    due_on = fixed_today - timedelta(days=8)  # the page was left open since the window closed
    intervention = due_two_weeks_on(due_on)
    db_session.commit()
    client.post(
        "/worklist/score",
        data={
            "csrf_token": worklist_token(client),
            "intervention_id": intervention.id,
            "due_on": due_on.isoformat(),
            "nrs": "5",
        },
    )
    html = client.get("/worklist").get_data(as_text=True)
    assert "outside the 2-week call&#39;s window" in html
    assert db_session.execute(select(PainScore.nrs)).scalars().all() == [5]


@pytest.mark.parametrize(
    ("nrs", "percent_relief", "message"),
    [
        ("11", "", "The pain score (NRS) is a whole number from 0 to 10."),
        ("", "", "Enter the pain score (NRS), a whole number from 0 to 10."),
        ("four", "", "The pain score (NRS) is a whole number from 0 to 10."),
        ("4", "150", "Percent relief is a whole number from 0 to 100, or leave it empty."),
    ],
)
def test_a_bad_score_is_refused_with_what_to_fix_and_nothing_is_saved(
    client, login, fixed_today, db_session, nrs, percent_relief, message
):
    login("physician")
    patient = PatientFactory(first_name="Rosa", last_name="Quintero")
    due_on = fixed_today
    intervention = due_two_weeks_on(due_on, patient=patient)
    db_session.commit()
    response = client.post(
        "/worklist/score",
        data={
            "csrf_token": worklist_token(client),
            "intervention_id": intervention.id,
            "due_on": due_on.isoformat(),
            "nrs": nrs,
            "percent_relief": percent_relief,
        },
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Nothing was saved for Rosa Quintero" in html
    assert html.count(message) == 2  # at the top and next to the field
    assert 'aria-invalid="true"' in html
    assert f'value="{nrs}"' in html  # what was typed stays, to correct it
    assert db_session.execute(select(func.count()).select_from(PainScore)).scalar_one() == 0


def test_no_answer_from_the_list_counts_an_attempt(client, login, fixed_today, db_session):
    login("front_desk")
    patient = PatientFactory(first_name="Rosa", last_name="Quintero")
    intervention = due_two_weeks_on(fixed_today, patient=patient)
    db_session.commit()
    data = {
        "csrf_token": worklist_token(client),
        "intervention_id": intervention.id,
        "due_on": fixed_today.isoformat(),
        "outcome": "no_answer",
        "attempts": "0",
    }
    assert client.post("/worklist/attempt", data=data).status_code == 302
    html = client.get("/worklist").get_data(as_text=True)
    assert "No answer: Rosa Quintero" in html and "1 attempt so far" in html
    assert '<span class="call-attempts">1</span>' in html
    # The same click again, from the page as it was, is not counted twice.
    client.post("/worklist/attempt", data=data)
    html = client.get("/worklist").get_data(as_text=True)
    assert "a moment ago" in html
    assert db_session.execute(select(FollowUpCall.attempts)).scalar_one() == 1
    data.update(outcome="declined", attempts="1")
    client.post("/worklist/attempt", data=data)
    html = client.get("/worklist").get_data(as_text=True)
    assert "Declined: Rosa Quintero" in html and "2-week call closed." in html
    assert "Quintero, Rosa" not in html


def test_a_post_for_a_call_not_on_the_list_saves_nothing(client, login, fixed_today, db_session):
    login("front_desk")
    not_done = due_two_weeks_on(fixed_today, status="cancelled")
    db_session.commit()
    token = worklist_token(client)
    for data in (
        {"intervention_id": "x", "due_on": fixed_today.isoformat(), "nrs": "3"},
        {"intervention_id": "999999", "due_on": fixed_today.isoformat(), "nrs": "3"},
        {"intervention_id": str(not_done.id), "due_on": "tomorrow", "nrs": "3"},
    ):
        response = client.post("/worklist/score", data={"csrf_token": token, **data})
        assert response.status_code == 302
    response = client.post(
        "/worklist/score",
        data={
            "csrf_token": token,
            "intervention_id": not_done.id,
            "due_on": fixed_today.isoformat(),
            "nrs": "3",
        },
    )
    assert "completed procedures; this one is cancelled" in response.get_data(as_text=True)
    assert db_session.execute(select(func.count()).select_from(PainScore)).scalar_one() == 0


@pytest.mark.parametrize("due_on", ["9999-12-31", "0001-01-01"])
def test_a_call_due_on_a_day_no_calendar_holds_saves_nothing_and_says_so(
    client, login, fixed_today, db_session, due_on
):
    # A page tampered with: the call's window around such a day cannot be worked out, and the
    # score must not be saved before the clerk is told it was not.
    login("front_desk")
    intervention = due_two_weeks_on(fixed_today)
    db_session.commit()
    response = client.post(
        "/worklist/score",
        data={
            "csrf_token": worklist_token(client),
            "intervention_id": intervention.id,
            "due_on": due_on,
            "nrs": "3",
        },
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "That call is no longer on the list. Nothing was saved." in response.get_data(
        as_text=True
    )
    assert db_session.execute(select(func.count()).select_from(PainScore)).scalar_one() == 0


# --- Statement count ---------------------------------------------------------------------------


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.statements.append(statement)


@pytest.fixture
def count_statements(app):
    with app.app_context():
        engine = db.engine
    counter = StatementCounter()
    event.listen(engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine, "before_cursor_execute", counter)


def make_due_calls(session, count: int, today: date) -> None:
    """``count`` calls on the list (overdue, today, coming up), with scores and attempts about."""
    for n in range(count):
        due_on = today + timedelta(days=(n % 22) - 7)
        intervention = due_two_weeks_on(due_on)
        # The pre-procedure score, which answers nothing, and an attempt at every third call.
        PainScoreFactory(intervention=intervention, recorded_on=intervention.performed_on)
        if n % 3 == 0:
            session.add(
                FollowUpCall(
                    intervention_id=intervention.id, due_on=due_on, attempts=1, last_attempt_at=NOW
                )
            )


def test_the_call_list_reads_a_fixed_number_of_statements_whatever_the_data(
    db_session, count_statements
):
    counts = {}
    for size in (3, 30):
        make_due_calls(db_session, size - sum(counts), TODAY)
        db_session.flush()
        db_session.expire_all()
        count_statements.statements.clear()
        result = call_list(db_session, TODAY)
        calls = [*result.overdue, *result.due_today, *result.upcoming]
        assert len(calls) == size
        for call in calls:  # everything the page shows is already loaded
            assert call.patient.phone and call.procedure.name and call.physician.full_name
        counts[size] = len(count_statements.statements)
    assert counts[3] == counts[30] == 5, counts


def test_the_page_sends_as_many_statements_for_30_due_calls_as_for_3(
    client, login, fixed_today, db_session, count_statements
):
    login("front_desk")
    counts = {}
    for size in (3, 30):
        make_due_calls(db_session, size - sum(counts), fixed_today)
        db_session.commit()
        count_statements.statements.clear()
        html = client.get("/worklist").get_data(as_text=True)
        assert html.count('class="call-row') == size
        counts[size] = len(count_statements.statements)
    assert counts[3] == counts[30], counts


def overdue_by_name(db_session, names: list[str]) -> None:
    """One overdue call per name, all due yesterday (so the list sorts them by name)."""
    for name in names:
        due_two_weeks_on(TODAY - timedelta(days=1), patient=PatientFactory(last_name=name))
    db_session.flush()


def test_a_paged_call_list_counts_every_call_and_shows_one_page_of_each_group(db_session):
    overdue_by_name(db_session, ["Adams", "Baker", "Clark", "Davis", "Evans"])
    first = call_list(db_session, TODAY, page_size=2)
    assert first.counts == {"overdue": 5, "today": 0, "upcoming": 0}
    assert [call.patient.last_name for call in first.overdue] == ["Adams", "Baker"]
    assert first.page_counts["overdue"] == 3
    last = call_list(db_session, TODAY, page_size=2, pages={"overdue": 3})
    assert [call.patient.last_name for call in last.overdue] == ["Evans"]
    # A page past the end (the list shrank since the link was made) shows the last page.
    beyond = call_list(db_session, TODAY, page_size=2, pages={"overdue": 9})
    assert beyond.pages["overdue"] == 3 and len(beyond.overdue) == 1
    counts_only = call_list(db_session, TODAY, page_size=0)
    assert counts_only.counts["overdue"] == 5 and counts_only.overdue == []


def test_names_sort_as_a_clerk_reads_them_whatever_the_accent_or_database(db_session):
    # Case and accents aside, the same on both databases (a PostgreSQL database made with a
    # language's collation would ignore the space and put "Le Roux" after "Leblanc"; the list
    # orders by code points).
    overdue_by_name(db_session, ["Zola", "Émile", "evans", "Leblanc", "Le Roux", "Dubois"])
    names = [call.patient.last_name for call in call_list(db_session, TODAY).overdue]
    assert names == ["Dubois", "Émile", "evans", "Le Roux", "Leblanc", "Zola"]
    second_page = call_list(db_session, TODAY, page_size=4, pages={"overdue": 2}).overdue
    assert [call.patient.last_name for call in second_page] == ["Leblanc", "Zola"]


def test_the_worklist_pages_each_group_and_returns_to_the_page_after_a_call(
    client, login, db_session, fixed_today, monkeypatch
):
    monkeypatch.setattr("clinic.views.followup.CALLS_PER_PAGE", 2)
    for name in ["Adams", "Baker", "Clark"]:
        due_two_weeks_on(fixed_today - timedelta(days=1), patient=PatientFactory(last_name=name))
    login("front_desk")
    db_session.commit()
    page = client.get("/worklist").get_data(as_text=True)
    assert '<span class="summary-count">3</span> overdue' in page
    assert "Page 1 of 2" in page and "Clark" not in page
    second = client.get("/worklist?overdue_page=2").get_data(as_text=True)
    assert "Clark" in second and "Adams" not in second
    assert 'action="/worklist/score?overdue_page=2"' in second
    intervention_id = re.search(r'name="intervention_id" value="(\d+)"', second).group(1)
    response = client.post(
        "/worklist/score?overdue_page=2",
        data={
            "csrf_token": worklist_token(client),
            "intervention_id": intervention_id,
            "due_on": (fixed_today - timedelta(days=1)).isoformat(),
            "nrs": "3",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/worklist?overdue_page=2")


@pytest.mark.parametrize("query", ["overdue_page=0", "today_page=abc", "upcoming_page=-1"])
def test_a_call_list_page_that_cannot_be_read_is_a_400(client, login, query):
    login("physician")
    response = client.get(f"/worklist?{query}")
    assert response.status_code == 400
    assert "must be a whole number from 1" in response.get_data(as_text=True)
