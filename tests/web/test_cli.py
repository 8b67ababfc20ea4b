"""The command line (README "Command line"): account upkeep, the demo dataset, init-demo, and
the FHIR export beside the web download."""

import json
import re

import pytest
from sqlalchemy import func, select

from clinic import demo
from clinic.models import ROLES, AuditEvent, Patient, Room, StaffUser
from clinic.services.identity.accounts import passwords
from tests.factories import PatientFactory
from tests.helpers.app import make_user

GOOD_PASSWORD = "copper kettle morning 4471"
OTHER_PASSWORD = "amber lighthouse orchard 8302"


def staff(db_session, username: str) -> StaffUser | None:
    db_session.expire_all()
    return db_session.execute(
        select(StaffUser).where(StaffUser.username == username)
    ).scalar_one_or_none()


def count(db_session, model, *where) -> int:
    return db_session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def create(runner, username: str, password: str = GOOD_PASSWORD, role: str = "front_desk"):
    return runner.invoke(
        args=[
            "users",
            "create",
            username,
            "--role",
            role,
            "--full-name",
            "Jo Example",
            "--password-stdin",
        ],
        input=password + "\n",
    )


# users ---------------------------------------------------------------------------------------


def test_users_create_makes_an_account_with_the_password_from_stdin(runner, db_session):
    result = create(runner, "jo.example")
    assert result.exit_code == 0, result.output
    user = staff(db_session, "jo.example")
    assert user is not None
    assert user.role == "front_desk"
    assert user.full_name == "Jo Example"
    assert user.active
    assert user.password_hash.startswith("$argon2id$")
    assert passwords.verify(user.password_hash, GOOD_PASSWORD)
    assert GOOD_PASSWORD not in result.output


def test_users_create_is_audited_as_the_command_line(runner, db_session):
    assert create(runner, "jo.example").exit_code == 0
    user = staff(db_session, "jo.example")
    row = db_session.execute(
        select(AuditEvent).where(
            AuditEvent.record_type == "staff_user",
            AuditEvent.record_id == str(user.id),
            AuditEvent.action == "create",
        )
    ).scalar_one()
    assert row.actor_name == "command line"
    assert row.changes["password_hash"] == ["[redacted]", "[redacted]"]


def test_users_create_refuses_a_duplicate_username(runner, db_session):
    assert create(runner, "jo.example").exit_code == 0
    result = create(runner, "jo.example", password=OTHER_PASSWORD, role="admin")
    assert result.exit_code != 0
    assert "taken" in result.output
    assert count(db_session, StaffUser, StaffUser.username == "jo.example") == 1
    assert staff(db_session, "jo.example").role == "front_desk"


@pytest.mark.parametrize("weak", ["short", "Password1234", "jo.example12345", "aaaaaaaaaaaaaa"])
def test_users_create_refuses_a_weak_password_with_the_reason(runner, db_session, weak):
    result = create(runner, "jo.example", password=weak)
    assert result.exit_code != 0
    assert "Error:" in result.output
    assert len(result.output.strip()) > len("Error:")
    assert staff(db_session, "jo.example") is None


def test_users_create_refuses_an_unknown_role(runner, db_session):
    result = create(runner, "jo.example", role="nurse")
    assert result.exit_code != 0
    assert staff(db_session, "jo.example") is None


def test_users_create_refuses_a_full_name_longer_than_the_record_holds(runner, db_session):
    args = ["users", "create", "jo.example", "--role", "front_desk", "--password-stdin"]
    result = runner.invoke(args=[*args, "--full-name", "J" * 121], input=GOOD_PASSWORD + "\n")
    assert result.exit_code != 0
    assert "A full name is at most 120 characters." in result.output
    assert staff(db_session, "jo.example") is None
    result = runner.invoke(args=[*args, "--full-name", "J" * 120], input=GOOD_PASSWORD + "\n")
    assert result.exit_code == 0
    assert staff(db_session, "jo.example").full_name == "J" * 120


def test_users_list_shows_accounts_with_role_and_state(runner, db_session):
    assert create(runner, "jo.example").exit_code == 0
    db_session.add(StaffUser(username="dr.nopass", full_name="Dr No Pass", role="physician"))
    db_session.commit()
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split("\t")[0]: line.split("\t") for line in result.output.splitlines()}
    assert lines["jo.example"][1:3] == ["front_desk", "active"]
    assert lines["dr.nopass"][1:3] == ["physician", "no-password"]


def test_users_set_role_changes_the_role(runner, db_session):
    assert create(runner, "jo.example").exit_code == 0
    result = runner.invoke(args=["users", "set-role", "jo.example", "manager"])
    assert result.exit_code == 0, result.output
    assert staff(db_session, "jo.example").role == "manager"


def test_users_set_role_refuses_an_unknown_account(runner, db_session):
    result = runner.invoke(args=["users", "set-role", "nobody.here", "manager"])
    assert result.exit_code != 0
    assert "nobody.here" in result.output


def test_a_refused_command_says_error_and_exits_with_status_1(runner, db_session):
    result = runner.invoke(args=["users", "deactivate", "nobody.here"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: No staff account is called 'nobody.here'. "
        "`flask --app clinic users list` shows them.\n"
    )


def test_users_deactivate_deactivates_the_account(runner, db_session):
    assert create(runner, "jo.example").exit_code == 0
    result = runner.invoke(args=["users", "deactivate", "jo.example"])
    assert result.exit_code == 0, result.output
    assert staff(db_session, "jo.example").active is False
    listed = runner.invoke(args=["users", "list"]).output
    assert "jo.example\tfront_desk\tdeactivated" in listed


def test_users_reset_password_changes_the_hash(runner, db_session):
    assert create(runner, "jo.example").exit_code == 0
    old_hash = staff(db_session, "jo.example").password_hash
    result = runner.invoke(
        args=["users", "reset-password", "jo.example", "--password-stdin"],
        input=OTHER_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    user = staff(db_session, "jo.example")
    assert user.password_hash != old_hash
    assert passwords.verify(user.password_hash, OTHER_PASSWORD)
    assert not passwords.verify(user.password_hash, GOOD_PASSWORD)


def test_users_reset_password_refuses_a_weak_password_and_keeps_the_old_one(runner, db_session):
    assert create(runner, "jo.example").exit_code == 0
    old_hash = staff(db_session, "jo.example").password_hash
    result = runner.invoke(
        args=["users", "reset-password", "jo.example", "--password-stdin"], input="short\n"
    )
    assert result.exit_code != 0
    assert staff(db_session, "jo.example").password_hash == old_hash


# seed-demo -----------------------------------------------------------------------------------


def patient_rows(db_session) -> list[tuple]:
    db_session.expire_all()
    return [
        tuple(row)
        for row in db_session.execute(
            select(
                Patient.mrn,
                Patient.first_name,
                Patient.last_name,
                Patient.date_of_birth,
                Patient.sex,
                Patient.condition,
            ).order_by(Patient.mrn)
        )
    ]


def test_seed_demo_loads_patients_physicians_without_passwords_and_rooms(runner, db_session):
    result = runner.invoke(args=["seed-demo", "--patients", "30", "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert count(db_session, Patient) == 30
    physicians = (
        db_session.execute(select(StaffUser).where(StaffUser.role == "physician")).scalars().all()
    )
    assert len(physicians) == 3
    assert all(user.password_hash is None for user in physicians)
    assert count(db_session, Room) >= 1
    assert len({row[0] for row in patient_rows(db_session)}) == 30, "MRNs are not unique"


def test_seed_demo_is_reproducible_for_a_seed(runner, db_session):
    savepoint = db_session.begin_nested()
    demo.seed_demo(db_session, patients=30, seed=7)
    expected = patient_rows(db_session)
    savepoint.rollback()
    assert count(db_session, Patient) == 0

    savepoint = db_session.begin_nested()
    demo.seed_demo(db_session, patients=30, seed=8)
    other_seed = patient_rows(db_session)
    savepoint.rollback()

    result = runner.invoke(args=["seed-demo", "--patients", "30", "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert patient_rows(db_session) == expected
    assert [row[1:] for row in other_seed] != [row[1:] for row in expected]


def test_seed_demo_refuses_a_database_that_holds_patients(runner, db_session):
    PatientFactory()
    db_session.commit()
    staff_before = count(db_session, StaffUser)
    rooms_before = count(db_session, Room)
    result = runner.invoke(args=["seed-demo", "--patients", "30", "--seed", "7"])
    assert result.exit_code != 0
    assert "already holds" in result.output
    assert count(db_session, Patient) == 1
    assert count(db_session, StaffUser) == staff_before
    assert count(db_session, Room) == rooms_before


def test_seed_demo_refuses_a_patient_count_below_one(runner, db_session):
    result = runner.invoke(args=["seed-demo", "--patients", "0"])
    assert result.exit_code != 0
    assert count(db_session, Patient) == 0
    assert count(db_session, StaffUser) == 0


# init-demo -----------------------------------------------------------------------------------

ACCOUNT_LINE = re.compile(r"^\s*(\w+)\s+username:\s*(\S+)\s+password:\s*(\S+)\s*$", re.MULTILINE)


def test_init_demo_creates_one_account_per_role_and_prints_each_password_once(runner, db_session):
    result = runner.invoke(args=["init-demo", "--patients", "5"])
    assert result.exit_code == 0, result.output
    printed = ACCOUNT_LINE.findall(result.output)
    assert sorted(role for role, _, _ in printed) == sorted(ROLES)
    for role, username, password in printed:
        assert result.output.count(password) == 1, f"{role}'s password printed more than once"
        user = staff(db_session, username)
        assert user is not None and user.role == role and user.active
        assert passwords.verify(user.password_hash, password)
    assert count(db_session, Patient) == 5


def test_init_demo_passwords_differ_between_accounts(runner, db_session):
    result = runner.invoke(args=["init-demo", "--patients", "1"])
    assert result.exit_code == 0, result.output
    passwords_printed = [password for _, _, password in ACCOUNT_LINE.findall(result.output)]
    assert len(passwords_printed) == len(ROLES)
    assert len(set(passwords_printed)) == len(ROLES)


def test_init_demo_leaves_existing_accounts_and_patients_alone(runner, db_session):
    make_user(db_session, "admin")
    PatientFactory()
    db_session.commit()
    staff_before = count(db_session, StaffUser)
    result = runner.invoke(args=["init-demo", "--patients", "5"])
    assert result.exit_code == 0, result.output
    assert ACCOUNT_LINE.findall(result.output) == []
    assert "password" not in result.output.lower()
    assert count(db_session, StaffUser) == staff_before
    assert count(db_session, Patient) == 1


# export fhir ---------------------------------------------------------------------------------


def patient_identifier_systems(bundle: dict) -> set[str]:
    return {
        identifier["system"]
        for entry in bundle.get("entry", [])
        if entry["resource"]["resourceType"] == "Patient"
        for identifier in entry["resource"].get("identifier", [])
    }


def test_export_fhir_names_the_mrn_with_the_configured_system_as_the_web_download_does(
    app, runner, client, login, db_session, monkeypatch, tmp_path
):
    monkeypatch.setitem(app.config, "FHIR_MRN_SYSTEM", "https://hospital.example/mrn")
    patient = PatientFactory()
    db_session.commit()
    target = tmp_path / "bundle.json"
    result = runner.invoke(args=["export", "fhir", "-o", str(target)])
    assert result.exit_code == 0, result.output
    from_cli = patient_identifier_systems(json.loads(target.read_text(encoding="utf-8")))
    login("physician")
    response = client.get(f"/patients/{patient.id}/fhir.json")
    assert response.status_code == 200
    from_web = patient_identifier_systems(json.loads(response.get_data(as_text=True)))
    assert from_cli == from_web == {"https://hospital.example/mrn"}
