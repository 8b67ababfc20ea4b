"""Today at a glance: the manager's month figures and the desk's day."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from clinic import clock
from clinic.models import Patient
from clinic.services import dashboard
from clinic.services.dashboard import DeskFigures, desk_figures, manager_figures
from tests.factories import (
    InterventionFactory,
    PainScoreFactory,
    PatientFactory,
    ReferralFactory,
    VisitFactory,
    procedure_type,
)

TODAY = date(2026, 11, 20)
UTC_ZONE = ZoneInfo("UTC")


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def done(day: date, code: str = "ESI-TF", referral=None, hour: int = 9):
    return InterventionFactory(
        starts_at=at(day, hour),
        ends_at=at(day, hour) + timedelta(minutes=30),
        status="completed",
        performed_on=day,
        baseline_nrs=8,
        procedure_type=procedure_type(code),
        referral=referral,
    )


def test_manager_sees_this_months_procedures_no_shows_referral_wait_and_calls(db_session):
    referral = ReferralFactory(received_on=date(2026, 10, 21))
    done(date(2026, 11, 3), "ESI-TF", referral=referral)  # 13 days from referral
    done(date(2026, 11, 5), "ESI-TF", hour=10)
    done(date(2026, 11, 6), "RFA")
    done(date(2026, 10, 30), "RFA")  # last month: not counted
    VisitFactory(
        starts_at=at(date(2026, 11, 10)),
        ends_at=at(date(2026, 11, 10)) + timedelta(minutes=20),
        status="no_show",
    )
    # A 2-week call due 2026-10-29 (performed 10-15) whose window closed 11-05: made.
    made = done(date(2026, 10, 15), "ESI-IL", hour=11)
    PainScoreFactory(intervention=made, recorded_on=date(2026, 10, 30), nrs=3)
    db_session.flush()
    figures = manager_figures(db_session, TODAY, UTC_ZONE)
    assert figures.procedures_by_type == [
        ("ESI-TF", "Transforaminal epidural steroid injection", 2),
        ("RFA", "Radiofrequency ablation", 1),
    ]
    # 3 completed procedures this month + 1 no-show visit: 25.0% no-shows.
    assert (figures.attended, figures.no_shows) == (3, 1)
    assert figures.no_show_rate_pct == 25.0
    assert (figures.median_referral_days, figures.referral_pairs) == (13, 1)
    # Calls whose window closed in the last 30 days: only the ESI-IL 2-week call (due 10-29,
    # window to 11-05), made. The 10-30 RFA's 2-week call (due 11-13) is open until 11-20.
    assert (figures.calls_done, figures.calls_missed) == (1, 0)
    assert figures.call_completion_pct == 100.0


def test_manager_can_look_back_at_a_month_that_has_ended(db_session):
    done(date(2026, 11, 3), "ESI-TF")  # November: not counted
    done(date(2026, 10, 30), "RFA")
    done(date(2026, 10, 15), "ESI-IL", hour=11)
    done(date(2026, 9, 30), "RFA", hour=12)  # September: not counted
    db_session.flush()
    october = manager_figures(db_session, TODAY, UTC_ZONE, month=date(2026, 10, 9))
    assert (october.month_start, october.today, october.current) == (
        date(2026, 10, 1),
        date(2026, 10, 31),
        False,
    )
    assert october.procedures_by_type == [
        ("ESI-IL", "Interlaminar epidural steroid injection", 1),
        ("RFA", "Radiofrequency ablation", 1),
    ]
    assert (october.previous_month, october.next_month) == (date(2026, 9, 1), date(2026, 11, 1))
    # A month still to come is this month, so far.
    later = manager_figures(db_session, TODAY, UTC_ZONE, month=date(2027, 2, 1))
    assert (later.month_start, later.today, later.current, later.next_month) == (
        date(2026, 11, 1),
        TODAY,
        True,
        None,
    )


def test_desk_sees_todays_bookings_calls_and_waiting_referrals(db_session, monkeypatch):
    monkeypatch.setattr(clock, "utcnow", lambda: at(TODAY, 12))
    VisitFactory(
        starts_at=at(TODAY), ends_at=at(TODAY) + timedelta(minutes=20), status="checked_in"
    )
    VisitFactory(
        starts_at=at(TODAY, 10), ends_at=at(TODAY, 10) + timedelta(minutes=20), status="cancelled"
    )
    ReferralFactory(status="received")
    ReferralFactory(status="triaged")
    ReferralFactory(status="scheduled")
    ReferralFactory(status="received", patient=PatientFactory(archived=True))  # not worked
    done(TODAY - timedelta(days=14), "ESI-TF")  # its 2-week call is due today
    db_session.flush()
    figures = desk_figures(db_session, TODAY, UTC_ZONE)
    assert (figures.bookings_today, figures.checked_in) == (1, 1)
    assert (figures.calls_today, figures.calls_overdue) == (1, 0)
    assert figures.referrals_waiting == 2
    # Active patients: the archived one left out.
    active = db_session.execute(
        select(func.count()).select_from(Patient).where(Patient.archived.is_(False))
    ).scalar_one()
    assert figures.patients == active and active >= 1


def test_home_page_shows_each_role_its_figures(client, login):
    login("manager")
    page = client.get("/").get_data(as_text=True)
    assert "no-show rate" in page and "follow-up calls made" in page
    assert "This month so far" in page
    last_month = (clock.utcnow().date().replace(day=1) - timedelta(days=1)).replace(day=1)
    assert f"?month={last_month:%Y-%m}" in page
    back = client.get(f"/?month={last_month:%Y-%m}").get_data(as_text=True)
    assert f"{last_month:%B %Y}: 01 to" in back
    # The lists behind the figures: the month's bookings and procedures as CSV.
    assert f"/exports/schedule.csv?from={last_month.isoformat()}" in back
    # A month that cannot be read is a 400 that says how to write one, not this month.
    assert client.get("/?month=not-a-month").status_code == 400


def test_a_large_practices_counts_are_written_with_their_thousands_grouped(
    client, login, monkeypatch
):
    # 14015 is misread at a glance; 14,015 is not.
    large = DeskFigures(
        bookings_today=1204,
        checked_in=12,
        calls_overdue=1076,
        calls_today=2000,
        referrals_waiting=14015,
        patients=50000,
    )
    monkeypatch.setattr(dashboard, "desk_figures", lambda *args: large)
    login("front_desk")
    page = client.get("/").get_data(as_text=True)
    assert ">1,204<" in page and ">3,076<" in page and "(1,076 overdue, 2,000 due today)" in page
    assert ">14,015<" in page and ">50,000<" in page


def test_the_desks_call_counts_are_the_call_lists_though_it_reads_fewer_days(
    db_session, monkeypatch
):
    # The desk reads only the calls due by today (8 days of due dates, not the list's 51): its
    # two counts must still be the call list's, at the edges of the 7-day window too.
    from clinic.services.followup.calls import call_list

    monkeypatch.setattr(clock, "utcnow", lambda: at(TODAY, 12))
    for days_ago in range(10, 30):  # 2-week calls due from 16 days ago to 4 days ahead
        done(TODAY - timedelta(days=days_ago), "ESI-TF")
    db_session.flush()
    figures = desk_figures(db_session, TODAY, UTC_ZONE)
    listed = call_list(db_session, TODAY)
    assert (figures.calls_overdue, figures.calls_today) == (
        listed.counts["overdue"],
        listed.counts["today"],
    )
    assert figures.calls_overdue == 7 and figures.calls_today == 1
