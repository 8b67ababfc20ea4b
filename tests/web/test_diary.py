"""The diagnostic-block diary (issue 15, part A): its time windows, its result, the patient's
entries through the link on the block's day, and a paper diary typed by staff."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from clinic import clock
from clinic.models import DiaryEntry, PainScore, ProcedureType
from clinic.services import DomainError
from clinic.services.followup import diary, links
from clinic.services.followup.diary import DiaryPoint, judge_diary
from tests.factories import InterventionFactory, procedure_type
from tests.helpers.app import csrf_token
from tests.helpers.exports import cli_bytes, records

BLOCK_DAY = date(2026, 3, 10)
COMPLETED = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


def block(**kwargs):
    return InterventionFactory(
        procedure_type=procedure_type("MBB"),
        status="completed",
        performed_on=BLOCK_DAY,
        baseline_nrs=8,
        starts_at=COMPLETED - timedelta(minutes=30),
        ends_at=COMPLETED,
        **kwargs,
    )


def at(minutes: float) -> datetime:
    return COMPLETED + timedelta(minutes=minutes)


# --- pure rules ---------------------------------------------------------------------------------


def test_mbb_is_seeded_diagnostic_and_the_epidural_is_not(db_session):
    codes = dict(db_session.execute(select(ProcedureType.code, ProcedureType.diagnostic)).all())
    assert codes["MBB"] is True
    assert codes["ESI-TF"] is False and codes["RFA"] is False


@pytest.mark.parametrize(
    ("minutes", "point"),
    [
        (-1, None),
        (0, 0),
        (29.9, 0),
        (30, 30),
        (59, 30),
        (60, 60),
        (119, 60),
        (120, 120),
        (239, 120),
        (240, 240),
        (360, 360),
        (479, 360),
        (480, 480),
        (719, 480),
        (720, None),
    ],
)
def test_an_entry_is_accepted_from_its_time_point_until_the_next_ones(minutes, point):
    assert diary.open_point(COMPLETED, at(minutes)) == point


def test_hours_of_relief_are_the_last_point_of_the_run_from_the_first_relieved_entry():
    # Baseline 8: NRS 4 is 50%, 2 is 75%, 6 is 25%.
    points = [
        DiaryPoint(0, 6, None),  # 25%: not relieved yet
        DiaryPoint(30, 4, None),  # 50%: onset
        DiaryPoint(60, 2, None),  # 75%
        DiaryPoint(120, 3, None),  # 62.5%
        DiaryPoint(240, 6, None),  # 25%: the run ends here
        DiaryPoint(360, 1, None),  # 87.5%: relieved again, but the run is over
    ]
    result = judge_diary(1, 8, points, threshold=50)
    assert result.peak_relief == 87.5
    assert result.hours_relieved == 2
    assert result.responder is True
    assert result.summary() == "peak 87.5% relief; relief ≥ 50% for 2 hours"


def test_a_reported_percent_counts_over_the_nrs_and_the_threshold_can_change():
    points = [DiaryPoint(0, 5, 80), DiaryPoint(30, 5, 85), DiaryPoint(60, 5, 60)]
    at_80 = judge_diary(1, 8, points, threshold=80)
    assert (at_80.peak_relief, at_80.hours_relieved) == (85, 0.5)
    at_50 = judge_diary(1, 8, points, threshold=50)
    assert at_50.hours_relieved == 1


def test_a_diary_never_relieved_has_no_hours_and_is_no_responder():
    result = judge_diary(1, 8, [DiaryPoint(0, 7, None), DiaryPoint(30, 6, None)])
    assert result.peak_relief == 25 and result.hours_relieved is None
    assert result.responder is False
    assert result.summary() == "peak 25% relief; never ≥ 50%"


def test_without_baseline_or_percent_no_relief_can_be_read():
    result = judge_diary(1, None, [DiaryPoint(0, 3, None)])
    assert result.peak_relief is None and result.responder is None


def test_diary_results_read_every_block_in_one_query(db_session):
    first, second, no_diary = block(), block(), block()
    for minutes, nrs in ((0, 2), (30, 2), (60, 6)):
        db_session.add(
            DiaryEntry(
                intervention_id=first.id,
                minutes_after=minutes,
                nrs=nrs,
                recorded_at=at(minutes),
                source="self_report",
            )
        )
    db_session.add(
        DiaryEntry(
            intervention_id=second.id,
            minutes_after=0,
            nrs=8,
            recorded_at=at(0),
            source="paper",
        )
    )
    db_session.flush()
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db_session.bind, "before_cursor_execute", listener)
    try:
        results = diary.diary_results(db_session, [first.id, second.id, no_diary.id])
    finally:
        event.remove(db_session.bind, "before_cursor_execute", listener)
    assert len(statements) == 1
    assert set(results) == {first.id, second.id}
    assert (results[first.id].peak_relief, results[first.id].hours_relieved) == (75, 0.5)
    assert results[second.id].responder is False


# --- the patient's diary through the link -------------------------------------------------------


@pytest.fixture
def move_clock(monkeypatch):
    def to(moment: datetime) -> None:
        monkeypatch.setattr(clock, "utcnow", lambda: moment)

    return to


def open_link(db_session, app, intervention) -> str:
    token = links.issue_link(db_session, intervention, links.link_key(app.config), None, BLOCK_DAY)
    db_session.commit()
    return token


def tag_of(html: str) -> str:
    return re.search(r'name="link" value="([0-9a-f]+)"', html).group(1)


def test_on_the_block_day_the_link_is_a_diary_at_the_open_time_point(
    client, db_session, app, move_clock
):
    move_clock(at(-20))
    intervention = block()
    token = open_link(db_session, app, intervention)
    early = client.get(f"/r/{token}").get_data(as_text=True)
    assert "diary opens when your block is over, at 10:00" in early
    move_clock(at(65))
    html = client.get(f"/r/{token}").get_data(as_text=True)
    assert "How is your pain right now, 1 hour after?" in html
    assert 'name="minutes_after" value="60"' in html
    response = client.post(
        f"/r/{token}/diary",
        data={"link": tag_of(html), "minutes_after": "60", "nrs": "2", "percent_relief": "80"},
    )
    assert response.status_code == 200
    assert "Your pain 1 hour after is in your diary" in response.get_data(as_text=True)
    entry = db_session.execute(select(DiaryEntry)).scalar_one()
    assert (entry.minutes_after, entry.nrs, entry.percent_relief) == (60, 2, 80)
    assert entry.recorded_at == at(65) and entry.source == "self_report"
    # Diary entries are not pain scores.
    assert db_session.execute(select(func.count(PainScore.id))).scalar_one() == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # "²" is a digit to str.isdigit, not to int; int reads no more than 4,300 digits.
        ({"minutes_after": "²"}, "names no time point"),
        ({"minutes_after": "0" * 5000 + "60"}, "names no time point"),
        ({"minutes_after": "60", "nrs": "²"}, "one of the numbers 0 to 10"),
        (
            {"minutes_after": "60", "percent_relief": "0" * 5000 + "5"},
            "a whole number from 0 to 100",
        ),
    ],
)
def test_a_diary_entry_with_digits_int_cannot_read_is_refused_and_nothing_written(
    client, db_session, app, move_clock, data, message
):
    move_clock(at(65))
    intervention = block()
    token = open_link(db_session, app, intervention)
    tag = tag_of(client.get(f"/r/{token}").get_data(as_text=True))
    response = client.post(f"/r/{token}/diary", data={"link": tag, "nrs": "2", **data})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db_session.execute(select(func.count(DiaryEntry.id))).scalar_one() == 0


def test_an_entry_for_a_time_not_yet_reached_is_refused_and_nothing_written(
    client, db_session, app, move_clock
):
    move_clock(at(35))
    intervention = block()
    token = open_link(db_session, app, intervention)
    tag = tag_of(client.get(f"/r/{token}").get_data(as_text=True))
    response = client.post(
        f"/r/{token}/diary", data={"link": tag, "minutes_after": "240", "nrs": "1"}
    )
    assert response.status_code == 400
    assert "4 hours after is not due yet" in response.get_data(as_text=True)
    assert db_session.execute(select(func.count(DiaryEntry.id))).scalar_one() == 0


def test_a_passed_time_point_is_refused_by_the_service(db_session):
    intervention = block()
    with pytest.raises(DomainError, match="has passed"):
        diary.record_self_reported_entry(db_session, intervention, 0, 3, None, at(45))


def test_after_the_diary_closes_the_block_day_page_says_when_the_first_question_comes(
    client, db_session, app, move_clock
):
    move_clock(at(721))
    intervention = block()
    token = open_link(db_session, app, intervention)
    html = client.get(f"/r/{token}").get_data(as_text=True)
    assert "nothing to answer today" in html
    assert "11 March 2026" in html  # the MBB schedule's first call: one day after


def test_the_patient_page_shows_the_diary_result_as_the_blocks_outcome(client, login, db_session):
    login("physician")
    intervention = block()
    for minutes, nrs in ((0, 1), (30, 1), (60, 2), (120, 5)):
        db_session.add(
            DiaryEntry(
                intervention_id=intervention.id,
                minutes_after=minutes,
                nrs=nrs,
                recorded_at=at(minutes),
                source="self_report",
            )
        )
    db_session.commit()
    html = client.get(f"/patients/{intervention.patient_id}").get_data(as_text=True)
    assert "Diary: peak 87.5% relief; relief ≥ 50% for 1 hour." in html
    assert "Discharge sheet" in html and "Pain diary" in html


# --- a paper diary -------------------------------------------------------------------------------


def diary_url(intervention) -> str:
    return f"/patients/{intervention.patient_id}/interventions/{intervention.id}/diary"


def test_the_front_desk_types_a_paper_diary_entry(client, login, db_session, move_clock, app):
    move_clock(at(24 * 60))
    user = login("front_desk")
    intervention = block()
    db_session.commit()
    url = diary_url(intervention)
    token = csrf_token(client, url)
    written = (COMPLETED + timedelta(minutes=125)).strftime("%H:%M")  # UTC is the test zone
    response = client.post(
        url,
        data={"csrf_token": token, "minutes_after": "120", "nrs": "3", "written_at": written},
    )
    assert response.status_code == 302
    entry = db_session.execute(select(DiaryEntry)).scalar_one()
    assert (entry.minutes_after, entry.nrs, entry.source) == (120, 3, "paper")
    assert entry.recorded_by_id == user.id and entry.recorded_at == at(125)


def test_a_paper_entry_written_after_midnight_is_the_night_after_an_evening_block(
    client, login, db_session, move_clock
):
    move_clock(at(24 * 60))
    login("front_desk")
    # Done from 19:30 to 20:00: the 6-hour entry is written at 02:05 the next morning.
    evening = InterventionFactory(
        procedure_type=procedure_type("MBB"),
        status="completed",
        performed_on=BLOCK_DAY,
        baseline_nrs=8,
        starts_at=datetime(2026, 3, 10, 19, 30, tzinfo=UTC),
        ends_at=datetime(2026, 3, 10, 20, 0, tzinfo=UTC),
    )
    db_session.commit()
    url = diary_url(evening)
    response = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "minutes_after": "360",
            "nrs": "3",
            "written_at": "02:05",
        },
    )
    assert response.status_code == 302
    entry = db_session.execute(select(DiaryEntry)).scalar_one()
    assert entry.recorded_at == datetime(2026, 3, 11, 2, 5, tzinfo=UTC)


def test_a_paper_entry_outside_its_time_point_is_refused_with_the_input_kept(
    client, login, db_session, move_clock
):
    move_clock(at(24 * 60))
    login("physician")
    intervention = block()
    db_session.commit()
    url = diary_url(intervention)
    token = csrf_token(client, url)
    response = client.post(
        url,
        data={"csrf_token": token, "minutes_after": "30", "nrs": "3", "written_at": "12:00"},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "from 30 minutes after the block until 60 minutes after" in html
    assert 'value="12:00"' in html
    assert db_session.execute(select(func.count(DiaryEntry.id))).scalar_one() == 0


def test_a_paper_diary_of_a_procedure_that_is_not_diagnostic_is_404(client, login, db_session):
    login("physician")
    intervention = InterventionFactory(status="completed", performed_on=BLOCK_DAY, baseline_nrs=5)
    db_session.commit()
    assert client.get(diary_url(intervention)).status_code == 404


def test_an_administrator_marks_a_procedure_type_diagnostic(client, login, db_session):
    login("admin")
    facet = procedure_type("FJI")
    url = f"/admin/procedures/{facet.id}"
    data = {
        "csrf_token": csrf_token(client, url),
        "code": facet.code,
        "name": facet.name,
        "category": facet.category,
        "cpt_code": facet.cpt_code or "",
        "followup_schedule": facet.followup_schedule,
        "default_minutes": str(facet.default_minutes),
        "diagnostic": "y",
        "active": "y",
    }
    assert client.post(url, data=data).status_code == 302
    db_session.expire_all()
    assert db_session.get(ProcedureType, facet.id).diagnostic is True
    assert 'id="diagnostic" name="diagnostic" type="checkbox" value="y"' in client.get(
        url
    ).get_data(as_text=True).replace(" checked", "")


def test_a_late_blocks_diary_runs_past_midnight_before_the_next_days_question(
    client, db_session, app, move_clock
):
    late = datetime(2026, 3, 10, 22, 0, tzinfo=UTC)
    intervention = InterventionFactory(
        procedure_type=procedure_type("MBB"),
        status="completed",
        performed_on=BLOCK_DAY,
        baseline_nrs=8,
        starts_at=late - timedelta(minutes=30),
        ends_at=late,
    )
    move_clock(late + timedelta(hours=4, minutes=5))  # 02:05 the next day
    token = open_link(db_session, app, intervention)
    html = client.get(f"/r/{token}").get_data(as_text=True)
    assert "How is your pain right now, 4 hours after?" in html
    move_clock(late + timedelta(hours=12, minutes=1))
    html = client.get(f"/r/{token}").get_data(as_text=True)
    assert "How is your pain right now?" in html and "diary" not in html


def two_blocks_scored_50_percent_the_day_after(db_session):
    """Two medial branch blocks of L4-L5, two weeks apart, each with a day-after phone score of
    NRS 4 of baseline 8 (50%): too little for the RFA rule's 80%."""
    first = block(spinal_level="L4-L5")
    second = InterventionFactory(
        procedure_type=procedure_type("MBB"),
        status="completed",
        performed_on=BLOCK_DAY + TWO_WEEKS,
        baseline_nrs=8,
        starts_at=COMPLETED + TWO_WEEKS - timedelta(minutes=30),
        ends_at=COMPLETED + TWO_WEEKS,
        patient=first.patient,
        physician=first.physician,
        spinal_level="L4-L5",
    )
    for intervention in (first, second):
        db_session.add(
            PainScore(
                patient_id=intervention.patient_id,
                intervention_id=intervention.id,
                recorded_on=intervention.performed_on + timedelta(days=1),
                nrs=4,
                source="phone",
            )
        )
    db_session.flush()
    return first, second


def write_diaries_peaking_at_87_percent(db_session, first, second) -> None:
    for intervention, later in ((first, timedelta(0)), (second, TWO_WEEKS)):
        for minutes, nrs in ((0, 3), (30, 1)):  # a peak of 87.5%
            db_session.add(
                DiaryEntry(
                    intervention_id=intervention.id,
                    minutes_after=minutes,
                    nrs=nrs,
                    recorded_at=at(minutes) + later,
                    source="paper",
                )
            )
    db_session.flush()


TWO_WEEKS = timedelta(days=14)


def test_two_blocks_whose_diaries_peaked_at_80_percent_open_the_first_rfa(db_session):
    # Their day-after follow-up scores (NRS 4 of baseline 8: 50%) would not; the diary decides
    # a diagnostic block where it has one (docs/rules.md, Repeat eligibility).
    from clinic.services.relief.timeline import patient_outcomes

    first, second = two_blocks_scored_50_percent_the_day_after(db_session)

    def rfa(today):
        outcomes = patient_outcomes(db_session, first.patient_id, today)
        return next(a for a in outcomes.eligibility if a.target_code == "RFA")

    today = BLOCK_DAY + timedelta(days=30)
    assert not rfa(today).eligible
    write_diaries_peaking_at_87_percent(db_session, first, second)
    assert rfa(today).eligible


def test_the_exports_judge_a_block_by_its_diary_as_the_patient_page_does(
    db_session, runner, move_clock
):
    # outcomes: the diary makes each block a responder at the 80% threshold, where its 50%
    # day-after score would not, and opens the RFA; eligibility says the same, but only as of
    # a day the diaries had been written.
    first, second = two_blocks_scored_50_percent_the_day_after(db_session)
    move_clock(COMPLETED + timedelta(days=30))

    def outcomes() -> dict[str, dict[str, str]]:
        rows = records(cli_bytes(runner, "outcomes", "--threshold", "80"))
        return {row["intervention_id"]: row for row in rows}

    def rfa_eligible(as_of: date) -> str:
        rows = records(cli_bytes(runner, "eligibility", "--on", as_of.isoformat()))
        return next(row for row in rows if row["procedure_code"] == "RFA")["eligible"]

    before = outcomes()
    assert [before[str(i.id)]["responder"] for i in (first, second)] == ["false", "false"]
    assert rfa_eligible(BLOCK_DAY + timedelta(days=30)) == "false"

    write_diaries_peaking_at_87_percent(db_session, first, second)
    after = outcomes()
    assert [after[str(i.id)]["responder"] for i in (first, second)] == ["true", "true"]
    # The day-based figures still read the follow-up scores alone.
    assert after[str(first.id)]["best_relief_pct"] == "50.0"
    assert after[str(first.id)]["relief_days"] == ""
    assert rfa_eligible(BLOCK_DAY + timedelta(days=30)) == "true"
    # As of the day before the second block, its diary had not been written.
    assert rfa_eligible(BLOCK_DAY + TWO_WEEKS - timedelta(days=1)) == "false"
