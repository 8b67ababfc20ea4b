"""Referrals follow their bookings: a dropped booking sends the referral back to triage, needing
rebooking; completing its procedure completes it; each status change records when it happened;
the board's completed and closed columns go by that time; the migration repairs old data."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from clinic import clock
from clinic.services import referrals
from clinic.services.procedures import Completion, complete_intervention
from clinic.services.scheduling import bookings as scheduling
from tests.factories import (
    InterventionFactory,
    PatientFactory,
    PhysicianFactory,
    ReferralFactory,
    procedure_type,
)
from tests.helpers.app import (
    TEST_DATABASE_URL,
    create_throwaway_database,
    drop_database,
    make_app,
    skip_without_postgres,
)

UTC_ZONE = ZoneInfo("UTC")
DAY = date(2030, 3, 4)
AT_TEN = datetime.combine(DAY, time(10), tzinfo=UTC)


@pytest.fixture
def frozen(monkeypatch):
    """The clinic's clock stopped at a known instant (the booking's day, 10:00)."""
    now = {"at": AT_TEN}
    monkeypatch.setattr(clock, "utcnow", lambda: now["at"])
    return now


def booked_referral(db_session, starts_at=None):
    """A triaged referral booked for a procedure at 09:00 on DAY: it is now scheduled."""
    referral = ReferralFactory(status="triaged")
    db_session.flush()
    booking = scheduling.book(
        db_session,
        scheduling.NewBooking(
            patient_id=referral.patient_id,
            physician_id=PhysicianFactory().id,
            room_id=None,
            starts_at=starts_at or datetime.combine(DAY, time(9), tzinfo=UTC),
            ends_at=(starts_at or datetime.combine(DAY, time(9), tzinfo=UTC))
            + timedelta(minutes=30),
            procedure_type_id=procedure_type("MBB").id,
            referral_id=referral.id,
        ),
        UTC_ZONE,
    )
    assert referral.status == "scheduled"
    return referral, booking


@pytest.mark.parametrize("status", ["cancelled", "no_show"])
def test_a_dropped_booking_sends_its_referral_back_to_triage_needing_rebooking(
    db_session, frozen, status
):
    referral, booking = booked_referral(db_session)
    frozen["at"] = AT_TEN + timedelta(minutes=5)
    scheduling.change_status(
        db_session, booking, booking.version, status, "Patient unwell", zone=UTC_ZONE, now=AT_TEN
    )
    assert (referral.status, referral.needs_rebooking) == ("triaged", True)
    assert referral.status_changed_at == AT_TEN + timedelta(minutes=5)


def test_a_referral_with_another_active_booking_stays_scheduled(db_session, frozen):
    referral, booking = booked_referral(db_session)
    InterventionFactory(
        patient=referral.patient,
        referral=referral,
        starts_at=datetime.combine(DAY + timedelta(7), time(9), tzinfo=UTC),
    )
    scheduling.change_status(
        db_session, booking, booking.version, "cancelled", "Moved to next week", zone=UTC_ZONE
    )
    assert (referral.status, referral.needs_rebooking) == ("scheduled", False)


def test_a_dropped_visit_or_a_booking_without_referral_changes_no_referral(db_session, frozen):
    untouched = ReferralFactory(status="scheduled")
    booking = InterventionFactory(patient=untouched.patient, starts_at=AT_TEN - timedelta(hours=1))
    scheduling.change_status(db_session, booking, booking.version, "no_show", zone=UTC_ZONE)
    assert (untouched.status, untouched.needs_rebooking) == ("scheduled", False)


def test_booking_again_clears_needs_rebooking_and_completing_completes_the_referral(
    db_session, frozen
):
    referral, booking = booked_referral(db_session)
    scheduling.change_status(db_session, booking, booking.version, "no_show", zone=UTC_ZONE)
    assert referral.needs_rebooking
    frozen["at"] = AT_TEN + timedelta(days=1)
    again = scheduling.book(
        db_session,
        scheduling.NewBooking(
            patient_id=referral.patient_id,
            physician_id=booking.physician_id,
            room_id=None,
            starts_at=AT_TEN + timedelta(days=2),
            ends_at=AT_TEN + timedelta(days=2, minutes=30),
            procedure_type_id=procedure_type("MBB").id,
            referral_id=referral.id,
        ),
        UTC_ZONE,
    )
    assert (referral.status, referral.needs_rebooking) == ("scheduled", False)
    assert referral.status_changed_at == AT_TEN + timedelta(days=1)
    frozen["at"] = AT_TEN + timedelta(days=2, hours=1)
    complete_intervention(
        db_session,
        again,
        again.version,
        Completion(performed_on=(AT_TEN + timedelta(days=2)).date(), baseline_nrs=7),
        (AT_TEN + timedelta(days=2)).date(),
        zone=UTC_ZONE,
    )
    assert referral.status == "completed"
    assert referral.status_changed_at == AT_TEN + timedelta(days=2, hours=1)


def test_an_edit_that_keeps_the_status_keeps_its_time(db_session, frozen):
    referral = ReferralFactory(status="received")
    db_session.flush()
    frozen["at"] = AT_TEN + timedelta(days=3)
    referral.reason = "Worse at night"
    referral.status = "received"
    db_session.flush()
    assert referral.status_changed_at == AT_TEN
    referrals.move_referral(db_session, referral, referral.version, "declined", "Not suitable")
    assert referral.status_changed_at == AT_TEN + timedelta(days=3)


def board(db_session, now):
    return referrals.board(db_session, now.date(), now, urgent_days=2, routine_days=14)


def test_needing_rebooking_comes_first_in_the_triaged_column(db_session, frozen):
    older = ReferralFactory(status="triaged", urgency="urgent", received_on=DAY - timedelta(60))
    referral, booking = booked_referral(db_session)
    scheduling.change_status(
        db_session, booking, booking.version, "cancelled", "Ill", zone=UTC_ZONE
    )
    shown = board(db_session, AT_TEN).columns["triaged"].referrals
    assert [r.id for r in shown] == [referral.id, older.id]


def test_the_completed_and_closed_columns_go_by_when_the_status_changed_not_by_any_edit(
    db_session, frozen
):
    patient = PatientFactory()
    long_ago = {}
    for status in ("completed", "declined"):
        frozen["at"] = AT_TEN - timedelta(days=45)
        long_ago[status] = ReferralFactory(
            patient=patient, status=status, status_reason="No" if status != "completed" else None
        )
        db_session.flush()
    lately = {}
    for status in ("completed", "cancelled"):
        frozen["at"] = AT_TEN - timedelta(days=3)
        lately[status] = ReferralFactory(
            patient=patient,
            status=status,
            status_reason="Withdrawn" if status != "completed" else None,
        )
        db_session.flush()
    # Today someone corrects the old ones' reason: updated_at moves, the status time does not.
    frozen["at"] = AT_TEN
    for referral in long_ago.values():
        referral.reason = "Corrected reason"
    db_session.flush()
    assert all(r.updated_at == AT_TEN for r in long_ago.values())
    shown = board(db_session, AT_TEN)
    assert [r.id for r in shown.columns["completed"].referrals] == [lately["completed"].id]
    assert [r.id for r in shown.closed.referrals] == [lately["cancelled"].id]
    assert (shown.columns["completed"].count, shown.closed.count) == (1, 1)


# The migration repairs what is already there -------------------------------------------------

REFERRAL_COLUMNS = (
    "id patient_id referring_clinician received_on reason condition urgency status "
    "version created_at updated_at"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(request, tmp_path):
    """A database migrated to just before this change, for the repair to run on."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        if not TEST_DATABASE_URL:
            skip_without_postgres()
        url = create_throwaway_database(TEST_DATABASE_URL)
    app = make_app(url, str(tmp_path))
    with app.app_context():
        upgrade(revision="a14c0e55f001")
    yield app, url
    if request.param == "postgresql":
        from clinic.extensions import db

        with app.app_context():
            db.engine.dispose()
        drop_database(url)


def test_the_migration_sends_scheduled_referrals_without_an_active_booking_back_to_triage(
    old_database,
):
    from clinic.extensions import db

    app, _ = old_database
    stamp = datetime(2030, 1, 1, 12, 0)
    dropped_at = datetime(2030, 2, 1, 9, 30)
    with app.app_context(), db.engine.begin() as connection:
        run = connection.execute
        run(
            sa.text(
                "INSERT INTO patient (id, mrn, first_name, last_name, date_of_birth, sex, "
                "condition, archived, version, created_at, updated_at, name_key) "
                "VALUES (1, 'M1', 'Ana', 'Smith', '1960-01-01', 'female', 'herniated_disc', "
                "false, 1, :t, :t, 'smith ana')"
            ),
            {"t": stamp},
        )
        run(
            sa.text(
                "INSERT INTO staff_user (id, username, full_name, role, active) "
                "VALUES (1, 'doc', 'Dr. Doc', 'physician', true)"
            )
        )
        mbb = run(sa.text("SELECT id FROM procedure_type WHERE code = 'MBB'")).scalar_one()
        # Referral 1: its only booking was cancelled; 2: a no-show and nothing else; 3: never
        # booked at all; 4: still booked; 5: its procedure was done; 6: triaged, untouched.
        for rid, status in enumerate(
            ["scheduled", "scheduled", "scheduled", "scheduled", "scheduled", "triaged"], 1
        ):
            run(
                sa.text(
                    f"INSERT INTO referral ({', '.join(REFERRAL_COLUMNS.split())}) VALUES "
                    "(:id, 1, 'Dr. GP', '2030-01-01', 'Back pain', 'herniated_disc', 'routine', "
                    ":status, 1, :t, :t)"
                ),
                {"id": rid, "status": status, "t": stamp},
            )
        bookings = [(1, "cancelled"), (2, "no_show"), (4, "scheduled"), (5, "completed")]
        for n, (rid, status) in enumerate(bookings, 1):
            starts = datetime(2030, 2, 1, 8 + n)
            run(
                sa.text(
                    "INSERT INTO booking (id, kind, patient_id, physician_id, starts_at, ends_at, "
                    "status, version, created_at, updated_at) VALUES "
                    "(:id, 'intervention', 1, 1, :s, :e, :status, 1, :t, :u)"
                ),
                {
                    "id": n,
                    "s": starts,
                    "e": starts + timedelta(minutes=30),
                    "status": status,
                    "t": stamp,
                    "u": dropped_at,
                },
            )
            run(
                sa.text(
                    "INSERT INTO intervention (id, procedure_type_id, referral_id) "
                    "VALUES (:id, :pt, :rid)"
                ),
                {"id": n, "pt": mbb, "rid": rid},
            )
    with app.app_context():
        upgrade(revision="a14c0e55f002")
        with db.engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT id, status, needs_rebooking, status_changed_at FROM referral ORDER BY id"
                )
            ).all()
    found = {row.id: (row.status, bool(row.needs_rebooking)) for row in rows}
    assert found == {
        1: ("triaged", True),
        2: ("triaged", True),
        3: ("triaged", True),
        4: ("scheduled", False),
        5: ("completed", False),
        6: ("triaged", False),
    }
    times = {row.id: _naive(row.status_changed_at) for row in rows}
    # Dated by the change to its bookings; else (never booked, untouched) its own updated_at.
    assert times == {1: dropped_at, 2: dropped_at, 3: stamp, 4: stamp, 5: dropped_at, 6: stamp}


def _naive(value) -> datetime:
    """A timestamp as read back raw (text on SQLite, aware on PostgreSQL), as naive UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
