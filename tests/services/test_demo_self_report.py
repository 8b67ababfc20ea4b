"""seed-demo's self-report links and medial branch block diaries (issue 15, part A)."""

from sqlalchemy import func, select

from clinic import clock, demo
from clinic.models import AuditEvent, DiaryEntry, Intervention, SelfReportLink
from clinic.services.followup import diary, links
from clinic.services.identity.audit import COMMAND_LINE, act_as

KEY = b"demo link key"


def seed(db_session, key=KEY, seed=5):
    act_as(db_session, COMMAND_LINE)
    demo.seed_demo(db_session, patients=120, seed=seed, link_key=key)
    db_session.flush()
    db_session.expire_all()


def test_demo_blocks_have_diaries_that_agree_with_their_day_scores(db_session):
    seed(db_session)
    blocks = db_session.execute(
        select(func.count(func.distinct(DiaryEntry.intervention_id)))
    ).scalar_one()
    assert blocks >= 3
    results = diary.diary_results(
        db_session, db_session.execute(select(DiaryEntry.intervention_id)).scalars(), 80
    )
    responders = [r for r in results.values() if r.responder]
    assert responders and len(responders) < len(results)
    for result in responders:
        assert result.hours_relieved is not None
    # Every entry is timed at or after its time point, never in the future.
    now = clock.utcnow()
    for entry, ends_at in db_session.execute(
        select(DiaryEntry, Intervention.ends_at).join(
            Intervention, Intervention.id == DiaryEntry.intervention_id
        )
    ):
        minutes = (entry.recorded_at - ends_at).total_seconds() / 60
        assert entry.minutes_after <= minutes < diary.window_of(entry.minutes_after)[1]
        assert entry.recorded_at <= now


def test_demo_links_work_with_the_key_they_were_issued_under(db_session):
    seed(db_session)
    today = clock.utcnow().date()
    issued = db_session.execute(select(SelfReportLink).order_by(SelfReportLink.id)).scalars().all()
    assert len(issued) >= 10
    for link in issued[:10]:
        token = links.derive_token(KEY, link.intervention_id, link.generation)
        found = links.find_link(db_session, token, today)
        assert found is not None and found.id == link.id
    [event] = db_session.execute(select(AuditEvent).where(AuditEvent.action == "import")).scalars()
    assert event.details["rows"]["self_report_link"] == len(issued)


def test_demo_without_a_key_issues_no_links_and_is_the_same_otherwise(db_session):
    seed(db_session, key=None)
    assert db_session.execute(select(func.count(SelfReportLink.id))).scalar_one() == 0
    assert db_session.execute(select(func.count(DiaryEntry.id))).scalar_one() > 0
