"""The schema: migrations match the models, the database refuses bad data on its own, the audit
trail is append-only, the catalogue is seeded, and every write leaves an audit row."""

from datetime import UTC, date, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from clinic.extensions import db
from clinic.models import (
    AuditEvent,
    Booking,
    Intervention,
    PainScore,
    Patient,
    ProcedureType,
    RepeatEligibilityRule,
    StaffUser,
    Visit,
)
from clinic.models.base import made_on
from clinic.services.identity import accounts
from clinic.services.identity.audit import Actor, act_as, record_event
from tests.factories import (
    InterventionFactory,
    PainScoreFactory,
    PatientFactory,
    PhysicianFactory,
    procedure_type,
)
from tests.helpers.app import make_user

# Migrations and models -----------------------------------------------------------------------


def test_migrations_and_models_never_drift(app, backend):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "render_as_batch": True,
                "include_object": made_on(connection.dialect.name),
            },
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == [], f"models and migrations differ on {backend}: {differences}"


def test_db_check_finds_nothing_to_migrate(app):
    result = app.test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output


# The database refuses bad data ---------------------------------------------------------------


def assert_refused(session, build) -> None:
    """The database itself (not the ORM) rejects the row: IntegrityError, savepoint undone."""
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(build())


@pytest.fixture
def intervention(db_session) -> Intervention:
    record = InterventionFactory(status="completed", performed_on=date(2026, 1, 5), baseline_nrs=7)
    db_session.flush()
    return record


def pain_score(intervention: Intervention, **values) -> PainScore:
    fields = {
        "patient_id": intervention.patient_id,
        "intervention_id": intervention.id,
        "recorded_on": date(2026, 2, 1),
        "nrs": 3,
        "source": "phone",
    }
    fields.update(values)
    return PainScore(**fields)


@pytest.mark.parametrize("nrs", [11, -1])
def test_pain_score_outside_nrs_0_to_10_is_refused(db_session, intervention, nrs):
    assert_refused(db_session, lambda: pain_score(intervention, nrs=nrs))


@pytest.mark.parametrize("nrs", [0, 10])
def test_pain_score_at_the_ends_of_the_nrs_is_accepted(db_session, intervention, nrs):
    with db_session.begin_nested():
        db_session.add(pain_score(intervention, nrs=nrs))


@pytest.mark.parametrize("percent", [101, -1])
def test_percent_relief_outside_0_to_100_is_refused(db_session, intervention, percent):
    assert_refused(db_session, lambda: pain_score(intervention, percent_relief=percent))


def test_pain_score_from_an_unknown_source_is_refused(db_session, intervention):
    assert_refused(db_session, lambda: pain_score(intervention, source="guess"))


def test_pain_score_for_a_missing_intervention_is_refused(db_session, intervention):
    missing = db_session.execute(select(func.max(Booking.id))).scalar_one() + 1000
    assert_refused(db_session, lambda: pain_score(intervention, intervention_id=missing))


def test_second_pain_score_for_the_same_intervention_and_date_is_refused(db_session, intervention):
    db_session.add(pain_score(intervention, recorded_on=date(2026, 2, 1), nrs=4))
    db_session.flush()
    assert_refused(db_session, lambda: pain_score(intervention, recorded_on=date(2026, 2, 1)))
    # Another day is fine.
    with db_session.begin_nested():
        db_session.add(pain_score(intervention, recorded_on=date(2026, 2, 2)))


def booking(db_session, **values) -> Visit:
    patient = PatientFactory()
    physician = PhysicianFactory()
    starts = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    fields = {
        "patient_id": patient.id,
        "physician_id": physician.id,
        "visit_kind": "consult",
        "starts_at": starts,
        "ends_at": starts + timedelta(minutes=20),
        "status": "scheduled",
    }
    fields.update(values)
    return Visit(**fields)


@pytest.mark.parametrize("minutes", [0, -15])
def test_booking_ending_at_or_before_its_start_is_refused(db_session, minutes):
    starts = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    record = booking(db_session, starts_at=starts, ends_at=starts + timedelta(minutes=minutes))
    assert_refused(db_session, lambda: record)


def test_booking_with_an_unknown_status_is_refused(db_session):
    record = booking(db_session, status="pending")
    assert_refused(db_session, lambda: record)


def test_intervention_baseline_outside_nrs_is_refused(db_session):
    patient = PatientFactory()
    physician = PhysicianFactory()
    starts = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert_refused(
        db_session,
        lambda: Intervention(
            patient_id=patient.id,
            physician_id=physician.id,
            procedure_type=procedure_type("RFA"),
            starts_at=starts,
            ends_at=starts + timedelta(minutes=30),
            baseline_nrs=11,
        ),
    )


def patient(**values) -> Patient:
    fields = {
        "mrn": "S0000001",
        "first_name": "Ada",
        "last_name": "Schema",
        "date_of_birth": date(1970, 1, 1),
        "sex": "female",
        "condition": "spinal_stenosis",
    }
    fields.update(values)
    return Patient(**fields)


def test_duplicate_mrn_is_refused(db_session):
    db_session.add(patient(mrn="S0000001"))
    db_session.flush()
    assert_refused(db_session, lambda: patient(mrn="S0000001", first_name="Other"))


def test_patient_with_an_unknown_sex_is_refused(db_session):
    assert_refused(db_session, lambda: patient(sex="x"))


def test_patient_with_an_unknown_condition_is_refused(db_session):
    assert_refused(db_session, lambda: patient(condition="sprained_ankle"))


def test_duplicate_username_is_refused(db_session):
    db_session.add(StaffUser(username="dup.user", full_name="First", role="front_desk"))
    db_session.flush()
    assert_refused(
        db_session, lambda: StaffUser(username="dup.user", full_name="Second", role="manager")
    )


def test_staff_user_with_an_unknown_role_is_refused(db_session):
    assert_refused(
        db_session, lambda: StaffUser(username="nurse.x", full_name="Nurse X", role="nurse")
    )


def test_refused_row_leaves_the_transaction_usable(db_session):
    assert_refused(db_session, lambda: patient(sex="x"))
    db_session.add(patient(mrn="S0000002"))
    db_session.flush()
    assert db_session.execute(
        select(func.count()).select_from(Patient).where(Patient.mrn == "S0000002")
    ).scalar_one() == (1)


# The audit trail is append-only --------------------------------------------------------------


@pytest.fixture
def audit_row(db_session) -> AuditEvent:
    record_event(db_session, "export", details={"name": "patients", "rows": 3})
    db_session.flush()
    return db_session.execute(
        select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.id.desc())
    ).scalar_one()


def test_audit_rows_cannot_be_updated(db_session, audit_row):
    with pytest.raises(DBAPIError, match="append-only"), db_session.begin_nested():
        db_session.execute(
            update(AuditEvent).where(AuditEvent.id == audit_row.id).values(actor_name="someone")
        )
    db_session.expire_all()
    assert db_session.get(AuditEvent, audit_row.id).actor_name == "command line"


def test_audit_rows_cannot_be_deleted(db_session, audit_row):
    with pytest.raises(DBAPIError, match="append-only"), db_session.begin_nested():
        db_session.execute(delete(AuditEvent).where(AuditEvent.id == audit_row.id))
    db_session.expire_all()
    assert db_session.get(AuditEvent, audit_row.id) is not None


def test_audit_rows_cannot_be_changed_through_the_orm(db_session, audit_row):
    with pytest.raises(DBAPIError, match="append-only"), db_session.begin_nested():
        audit_row.action = "view"
        db_session.flush()


# The catalogue is seeded ---------------------------------------------------------------------

SEEDED_PROCEDURES = {
    "ESI-IL": ("Interlaminar epidural steroid injection", "epidural", "62321 / 62323"),
    "ESI-TF": ("Transforaminal epidural steroid injection", "epidural", "64479 / 64483"),
    "ESI-CA": ("Caudal epidural steroid injection", "epidural", "62323"),
    "FJI": ("Facet joint injection", "facet", "64490–64495"),
    "MBB": ("Medial branch block", "facet", "64490–64495"),
    "RFA": ("Radiofrequency ablation", "ablation", "64633–64636"),
    "SCS-TRIAL": ("Spinal cord stimulator trial", "neuromodulation", "63650"),
    "SCS-IMPLANT": ("Spinal cord stimulator implant", "neuromodulation", "63685"),
}


def test_catalogue_holds_the_eight_seeded_procedures_with_their_cpt_codes(db_session):
    catalogue = {
        row.code: (row.name, row.category, row.cpt_code)
        for row in db_session.execute(select(ProcedureType)).scalars()
    }
    for code, expected in SEEDED_PROCEDURES.items():
        assert catalogue.get(code) == expected, code


def test_seeded_procedures_are_active_and_have_a_follow_up_schedule(db_session):
    rows = db_session.execute(
        select(ProcedureType).where(ProcedureType.code.in_(SEEDED_PROCEDURES))
    ).scalars()
    for row in rows:
        assert row.active
        assert row.followup_schedule.strip()


def codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


# (target codes, prior codes) -> (min relief %, min relief days, prior count, max sessions, window)
SEEDED_RULES = {
    (frozenset({"ESI-IL", "ESI-TF", "ESI-CA"}), frozenset({"ESI-IL", "ESI-TF", "ESI-CA"})): (
        50,
        3,
        1,
        4,
        12,
        True,
        None,
    ),
    (frozenset({"RFA"}), frozenset({"RFA"})): (50, 6, 1, 2, 12, True, None),
    (frozenset({"RFA"}), frozenset({"MBB"})): (80, None, 2, None, None, True, None),
    (frozenset({"SCS-IMPLANT"}), frozenset({"SCS-TRIAL"})): (50, None, 1, None, None, False, 10),
}


def test_the_four_repeat_eligibility_rules_are_seeded(db_session):
    rules = {
        (codes(rule.target_codes), codes(rule.prior_codes)): (
            rule.min_relief_pct,
            rule.min_relief_months,
            rule.required_prior_count,
            rule.max_sessions,
            rule.window_months,
            rule.per_region,
            rule.trial_days,
        )
        for rule in db_session.execute(
            select(RepeatEligibilityRule).where(RepeatEligibilityRule.active.is_(True))
        ).scalars()
    }
    for key, expected in SEEDED_RULES.items():
        assert rules.get(key) == expected, key
    catalogue = set(SEEDED_PROCEDURES)
    for target, prior in rules:
        assert target <= catalogue and prior <= catalogue


# Every write is audited ----------------------------------------------------------------------


def audit_rows(db_session, record_type: str, record_id: int, action: str | None = None):
    statement = select(AuditEvent).where(
        AuditEvent.record_type == record_type, AuditEvent.record_id == str(record_id)
    )
    if action:
        statement = statement.where(AuditEvent.action == action)
    return db_session.execute(statement.order_by(AuditEvent.id)).scalars().all()


@pytest.fixture
def acting_user(db_session) -> StaffUser:
    user = make_user(db_session, "front_desk")
    act_as(db_session, Actor(user.id, user.username, "127.0.0.1"))
    return user


def test_creating_a_record_writes_a_create_row_with_its_values(db_session, acting_user):
    record = PatientFactory(first_name="Audra", phone="555-111-2222")
    db_session.commit()
    [row] = audit_rows(db_session, "patient", record.id, "create")
    assert row.actor_id == acting_user.id
    assert row.actor_name == acting_user.username
    assert row.client_address == "127.0.0.1"
    assert row.changes["first_name"] == [None, "Audra"]
    assert row.changes["phone"] == [None, "555-111-2222"]
    assert row.occurred_at.tzinfo is not None


def test_updating_a_record_writes_old_and_new_values(db_session, acting_user):
    record = PatientFactory(phone="555-111-2222")
    db_session.commit()  # expires the loaded values, as the end of a request does
    record.phone = "555-333-4444"
    db_session.flush()
    [row] = audit_rows(db_session, "patient", record.id, "update")
    assert row.changes == {"phone": ["555-111-2222", "555-333-4444"]}
    assert row.actor_id == acting_user.id
    assert row.client_address == "127.0.0.1"


def test_updating_a_loaded_record_writes_old_and_new_values(db_session, acting_user):
    record = PatientFactory(phone="555-111-2222", email="old@example.org")
    db_session.flush()
    record.phone = "555-333-4444"
    record.email = None
    db_session.flush()
    [row] = audit_rows(db_session, "patient", record.id, "update")
    assert row.changes == {
        "phone": ["555-111-2222", "555-333-4444"],
        "email": ["old@example.org", None],
    }


def test_setting_a_field_to_its_own_value_writes_no_row(db_session, acting_user):
    record = PatientFactory(phone="555-111-2222")
    db_session.commit()
    record.phone = "555-111-2222"
    db_session.flush()
    assert audit_rows(db_session, "patient", record.id, "update") == []


def test_archiving_a_record_writes_an_archive_row(db_session, acting_user):
    record = PatientFactory()
    db_session.commit()
    record.archived = True
    db_session.flush()
    [row] = audit_rows(db_session, "patient", record.id, "archive")
    assert row.changes == {"archived": [False, True]}
    assert db_session.get(Patient, record.id) is not None, "archived, not deleted"


def test_updating_a_booking_is_audited_under_its_own_kind(db_session, acting_user):
    record = InterventionFactory()
    db_session.commit()
    record.status = "cancelled"
    record.status_reason = "Patient unwell"
    db_session.flush()
    [row] = audit_rows(db_session, "intervention", record.id, "update")
    assert row.changes["status"] == ["scheduled", "cancelled"]
    assert row.changes["status_reason"] == [None, "Patient unwell"]


def test_pain_score_edit_keeps_both_values_in_the_trail(db_session, acting_user):
    score = PainScoreFactory(nrs=6)
    db_session.commit()
    score.nrs = 2
    db_session.flush()
    [row] = audit_rows(db_session, "pain_score", score.id, "update")
    assert row.changes == {"nrs": [6, 2]}


def test_password_hash_change_is_redacted_in_the_trail(db_session, acting_user):
    staff = make_user(db_session, "physician")
    old_hash = staff.password_hash
    accounts.set_password(db_session, staff, "violet meadow compass 5830")
    db_session.commit()
    new_hash = staff.password_hash
    assert new_hash != old_hash
    [row] = audit_rows(db_session, "staff_user", staff.id, "update")
    assert row.changes["password_hash"] == ["[redacted]", "[redacted]"]
    assert "password_changed_at" in row.changes
    every_row = " ".join(
        f"{row.changes} {row.details}" for row in db_session.execute(select(AuditEvent)).scalars()
    )
    assert old_hash not in every_row
    assert new_hash not in every_row
    assert "$argon2" not in every_row
    assert "violet meadow" not in every_row
