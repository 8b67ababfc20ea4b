"""The demo's referrals follow their bookings, with status-change times from their own history."""

from datetime import timedelta

from sqlalchemy import func, select

from clinic import clock, demo
from clinic.demo import courses
from clinic.models import Intervention, Referral
from clinic.models.scheduling import ACTIVE_BOOKING_STATUSES
from clinic.services.identity.audit import COMMAND_LINE, act_as


def test_demo_has_no_scheduled_referral_without_an_active_booking(db_session):
    act_as(db_session, COMMAND_LINE)
    demo.seed_demo(db_session, patients=200, seed=11)
    db_session.flush()
    db_session.expire_all()
    active = Referral.id.in_(
        select(Intervention.referral_id).where(Intervention.status.in_(ACTIVE_BOOKING_STATUSES))
    )
    now = clock.utcnow()
    done = Referral.id.in_(
        select(Intervention.referral_id).where(Intervention.status == "completed")
    )
    count = lambda *where: db_session.execute(  # noqa: E731
        select(func.count()).select_from(Referral).where(*where)
    ).scalar_one()
    assert count(Referral.status == "scheduled") > 0
    assert count(Referral.status == "scheduled", ~active) == 0
    # Completing its procedure completed it.
    assert count(Referral.status == "scheduled", done) == 0
    # A missed or cancelled booking sent some back to triage, to be booked again.
    assert count(Referral.needs_rebooking) > 0
    assert count(Referral.needs_rebooking, Referral.status != "triaged") == 0
    assert count(Referral.needs_rebooking, active) == 0
    # The desk tries for six weeks at most; what was not rebooked by then was closed.
    assert (
        count(Referral.needs_rebooking, Referral.status_changed_at < now - timedelta(days=43)) == 0
    )
    assert count(Referral.status_reason == courses.NOT_REBOOKED) > 0
    # Each status changed on a day of its own history: never before it arrived, never in the
    # future, and most closed or completed ones long ago (the board shows only the last 30 days).
    changed = db_session.execute(select(Referral.received_on, Referral.status_changed_at)).all()
    assert all(received <= at.date() and at <= now for received, at in changed)
    finished = ("completed", "declined", "cancelled")
    recent = count(
        Referral.status.in_(finished), Referral.status_changed_at >= now - timedelta(days=30)
    )
    assert 0 < recent < count(Referral.status.in_(finished)) / 4
