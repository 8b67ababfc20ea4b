"""Patients: registration with a generated MRN, duplicate warning, search, lost updates, archive."""

from datetime import date

import pytest
from sqlalchemy import func, select, update

import clinic.services.patients
from clinic.models import AuditEvent, Patient
from clinic.services import DomainError
from clinic.services.patients import (
    LikelyDuplicate,
    PatientDetails,
    archive_patient,
    next_mrn,
    patient_search,
    register_patient,
    update_patient,
)
from clinic.services.records import StaleRecord
from tests.factories import PatientFactory
from tests.helpers.app import csrf_token, make_user
from tests.helpers.patients import form_values
from tests.helpers.plans import query_plan
from tests.helpers.statement_count import count_statements

TODAY = date(2026, 11, 27)


def details(**overrides) -> PatientDetails:
    values = dict(
        first_name="Zoë",
        last_name="Müller",
        date_of_birth=date(1961, 4, 2),
        sex="female",
        condition="spinal_stenosis",
        phone="555-201-3344",
        email="zoe@example.org",
    )
    values.update(overrides)
    return PatientDetails(**values)


def test_registration_generates_consecutive_mrns(db_session):
    first = register_patient(db_session, details(), TODAY)
    second = register_patient(
        db_session, details(first_name="Ann", date_of_birth=date(1950, 1, 1)), TODAY
    )
    assert first.mrn.startswith("C") and len(first.mrn) == 8
    assert int(second.mrn[1:]) == int(first.mrn[1:]) + 1
    assert next_mrn(db_session) == f"C{int(second.mrn[1:]) + 1:07d}"


def test_same_name_and_birth_date_is_a_likely_duplicate_until_confirmed(db_session):
    original = register_patient(db_session, details(), TODAY)
    with pytest.raises(LikelyDuplicate) as warned:
        register_patient(db_session, details(first_name="ZOE", last_name="muller"), TODAY)
    assert warned.value.matches == [original]
    assert original.mrn in warned.value.message
    twin = register_patient(db_session, details(), TODAY, register_anyway=True)
    assert twin.mrn != original.mrn


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"first_name": " "}, "first_name"),
        ({"date_of_birth": date(2027, 1, 1)}, "date_of_birth"),
        ({"sex": "f"}, "sex"),
        ({"condition": "sciatica"}, "condition"),
    ],
)
def test_bad_details_are_refused_naming_the_field(db_session, change, field):
    with pytest.raises(DomainError) as refused:
        register_patient(db_session, details(**change), TODAY)
    assert refused.value.field == field
    assert db_session.execute(select(func.count()).select_from(Patient)).scalar_one() == 0


@pytest.mark.parametrize(
    "query", ["zoe", "ZOË", "mull", "muller zo", "Zoë Müller", "1961-04-02", "02/04/1961"]
)
def test_search_is_case_and_accent_blind_by_name_and_finds_birth_dates(db_session, query):
    zoe = register_patient(db_session, details(), TODAY)
    PatientFactory(first_name="Zoltan", last_name="Kovacs", date_of_birth=date(1970, 1, 1))
    db_session.flush()
    found = db_session.execute(patient_search(query)).scalars().all()
    assert found == [zoe]


def test_search_by_mrn_prefix(db_session):
    zoe = register_patient(db_session, details(), TODAY)
    assert db_session.execute(patient_search(zoe.mrn.lower())).scalars().all() == [zoe]


def test_archived_patients_are_hidden_but_kept_and_audited(db_session):
    zoe = register_patient(db_session, details(), TODAY)
    archive_patient(db_session, zoe, zoe.version)
    assert db_session.execute(patient_search("zoe")).scalars().all() == []
    assert db_session.get(Patient, zoe.id).archived is True
    actions = (
        db_session.execute(
            select(AuditEvent.action).where(
                AuditEvent.record_type == "patient", AuditEvent.record_id == str(zoe.id)
            )
        )
        .scalars()
        .all()
    )
    assert "archive" in actions


def test_a_stale_edit_is_refused_and_overwrites_nothing(db_session):
    zoe = register_patient(db_session, details(), TODAY)
    opened = zoe.version
    update_patient(db_session, zoe, opened, details(phone="555-000-1111"), TODAY)
    with pytest.raises(StaleRecord, match="Someone else changed this record"):
        update_patient(db_session, zoe, opened, details(phone="555-999-9999"), TODAY)
    assert zoe.phone == "555-000-1111"


def patient_form(client, url, **overrides):
    data = {
        "csrf_token": csrf_token(client, url),
        "first_name": "Zoë",
        "last_name": "Müller",
        "date_of_birth": "1961-04-02",
        "sex": "female",
        "condition": "spinal_stenosis",
        "phone": "555-201-3344",
        "email": "zoe@example.org",
    }
    data.update(overrides)
    return data


def test_front_desk_registers_a_patient_and_lands_on_the_record(client, login):
    login("front_desk")
    response = client.post("/patients/new", data=patient_form(client, "/patients/new"))
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Müller, Zoë" in page and "MRN C" in page


def test_a_bad_registration_keeps_what_was_typed_and_says_what_to_fix(client, login, db_session):
    login("front_desk")
    response = client.post(
        "/patients/new",
        data=patient_form(
            client, "/patients/new", date_of_birth="02-04-19", email="not-an-address"
        ),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Enter the date of birth as YYYY-MM-DD." in page
    assert "Enter an email address like name@example.org." in page
    assert 'value="Müller"' in page and 'value="555-201-3344"' in page
    assert db_session.execute(select(func.count()).select_from(Patient)).scalar_one() == 0


def test_a_likely_duplicate_is_shown_and_can_be_registered_anyway(client, login, db_session):
    login("front_desk")
    client.post("/patients/new", data=patient_form(client, "/patients/new"))
    warned = client.post("/patients/new", data=patient_form(client, "/patients/new")).get_data(
        as_text=True
    )
    assert "Possibly already registered" in warned and "Register anyway" in warned
    anyway = client.post(
        "/patients/new", data=patient_form(client, "/patients/new", register_anyway="y")
    )
    assert anyway.status_code == 302
    assert db_session.execute(select(func.count()).select_from(Patient)).scalar_one() == 2


def test_a_stale_edit_form_shows_the_conflict_and_keeps_the_other_save(client, login, db_session):
    login("front_desk")
    zoe = register_patient(db_session, details(), TODAY)
    db_session.commit()
    url = f"/patients/{zoe.id}/edit"
    stale = patient_form(client, url, phone="555-777-0000", version=str(zoe.version))
    fresh = patient_form(client, url, phone="555-123-4567", version=str(zoe.version))
    assert client.post(url, data=fresh).status_code == 302
    refused = client.post(url, data=stale)
    assert refused.status_code == 200
    assert "Someone else changed this record" in refused.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(Patient, zoe.id).phone == "555-123-4567"


def test_archiving_from_the_record_hides_the_patient(client, login, db_session):
    login("front_desk")
    zoe = register_patient(db_session, details(), TODAY)
    db_session.commit()
    token = csrf_token(client, f"/patients/{zoe.id}")
    response = client.post(
        f"/patients/{zoe.id}/archive", data={"csrf_token": token, "version": zoe.version}
    )
    assert response.status_code == 302
    assert client.get(f"/patients/{zoe.id}").status_code == 404
    assert "Müller" not in client.get("/patients?q=muller").get_data(as_text=True)


def test_the_list_paginates_and_its_query_count_does_not_grow_with_patients(
    client, login, db_session, app
):
    login("manager")

    def statements_for_list(total: int) -> int:
        while db_session.execute(select(func.count()).select_from(Patient)).scalar_one() < total:
            PatientFactory()
        db_session.commit()
        with count_statements(app) as counter:
            page = client.get("/patients?q=testperson&page=2")
            assert page.status_code == 200
        return counter.count

    assert statements_for_list(30) == statements_for_list(90)
    page = client.get("/patients").get_data(as_text=True)
    assert "Page 1 of 4" in page and "90 patients" in page


# Lost updates: the conflict page can be saved -------------------------------------------------


def test_a_stale_edit_shows_the_saved_version_and_what_was_typed_and_can_then_be_saved(
    client, login, db_session
):
    login("front_desk")
    zoe = register_patient(db_session, details(), TODAY)
    db_session.commit()
    url = f"/patients/{zoe.id}/edit"
    opened = form_values(client.get(url).get_data(as_text=True))  # version 1
    assert opened["version"] == "1"
    # Someone else saves a new phone number meanwhile: version 2.
    update_patient(db_session, zoe, zoe.version, details(phone="555-123-4567"), TODAY)
    db_session.commit()
    stale = {**opened, "phone": "555-777-0000", "email": "zoe.m@example.org"}
    refused = client.post(url, data=stale)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 200
    assert "Someone else changed this record after you opened it" in page
    assert "The form now shows what they saved" in page
    shown = form_values(page)
    # The form holds the record as saved now, with its current version …
    assert shown["version"] == str(zoe.version) == "2"
    assert shown["phone"] == "555-123-4567"
    assert shown["email"] == "zoe@example.org"
    # … and what the user typed is on the page, beside it, so nothing is lost.
    assert "Your changes were not saved" in page
    assert "<td>555-777-0000</td><td>555-123-4567</td>" in page
    assert "<td>zoe.m@example.org</td><td>zoe@example.org</td>" in page
    assert "First name" not in page.split("Your changes were not saved")[1].split("</table>")[0]
    db_session.expire_all()
    assert db_session.get(Patient, zoe.id).phone == "555-123-4567"
    # Making the change again on that page saves it.
    again = client.post(url, data={**shown, "phone": "555-777-0000"})
    assert again.status_code == 302, again.get_data(as_text=True)
    db_session.expire_all()
    saved = db_session.get(Patient, zoe.id)
    assert (saved.phone, saved.email, saved.version) == ("555-777-0000", "zoe@example.org", 3)


def test_a_save_racing_the_version_check_is_refused_as_stale(db_session):
    zoe = register_patient(db_session, details(), TODAY)
    db_session.commit()
    assert zoe.version == 1
    # Someone saves between this request's version check and its write: the row moves on
    # under the loaded record, whose version still reads 1.
    db_session.execute(
        update(Patient)
        .where(Patient.id == zoe.id)
        .values(version=2)
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(StaleRecord, match="your changes were not saved"):
        update_patient(db_session, zoe, zoe.version, details(phone="555-999-9999"), TODAY)


# Correcting an MRN: administrators only ------------------------------------------------------


def patient_audit_updates(db_session, patient: Patient) -> list[dict]:
    return [
        row.changes
        for row in db_session.execute(
            select(AuditEvent)
            .where(
                AuditEvent.record_type == "patient",
                AuditEvent.record_id == str(patient.id),
                AuditEvent.action == "update",
            )
            .order_by(AuditEvent.id)
        ).scalars()
    ]


def test_an_administrator_corrects_an_mrn_normalised_and_audited(client, login, db_session):
    admin = login("admin")
    zoe = register_patient(db_session, details(), TODAY)
    db_session.commit()
    old_mrn = zoe.mrn
    url = f"/patients/{zoe.id}/edit"
    opened = form_values(client.get(url).get_data(as_text=True))
    assert opened["mrn"] == old_mrn
    response = client.post(url, data={**opened, "mrn": " c 0012345 "})
    assert response.status_code == 302, response.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(Patient, zoe.id).mrn == "C0012345"
    [changes] = patient_audit_updates(db_session, zoe)
    assert changes == {"mrn": [old_mrn, "C0012345"]}
    row = db_session.execute(
        select(AuditEvent).where(
            AuditEvent.record_type == "patient",
            AuditEvent.record_id == str(zoe.id),
            AuditEvent.action == "update",
        )
    ).scalar_one()
    assert row.actor_id == admin.id
    # The corrected MRN is found by MRN search.
    assert "Müller, Zoë" in client.get("/patients?q=c00123").get_data(as_text=True)


def test_an_mrn_held_by_another_patient_is_refused_keeping_what_was_typed(
    client, login, db_session
):
    login("admin")
    zoe = register_patient(db_session, details(), TODAY)
    other = PatientFactory(mrn="C0000777", first_name="Ann", last_name="Other", archived=True)
    db_session.commit()
    url = f"/patients/{zoe.id}/edit"
    opened = form_values(client.get(url).get_data(as_text=True))
    refused = client.post(url, data={**opened, "mrn": "c0000777", "phone": "555-000-9999"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 200
    assert "MRN C0000777 already belongs to Ann Other (born 1960-05-17, archived)" in page
    assert form_values(page)["mrn"] == "c0000777"
    assert form_values(page)["phone"] == "555-000-9999"
    db_session.expire_all()
    assert db_session.get(Patient, zoe.id).mrn != other.mrn
    assert db_session.get(Patient, zoe.id).phone == "555-201-3344"
    assert patient_audit_updates(db_session, zoe) == []


@pytest.mark.parametrize("mrn", ["", "12", "ABCD1234", "C12-345", "C" + "1" * 20])
def test_an_mrn_that_does_not_look_like_one_is_refused(db_session, mrn):
    zoe = register_patient(db_session, details(), TODAY)
    admin = make_user(db_session, "admin")
    with pytest.raises(DomainError) as refused:
        update_patient(db_session, zoe, zoe.version, details(), TODAY, mrn=mrn, editor=admin)
    assert refused.value.field == "mrn"


@pytest.mark.parametrize("role", ["front_desk", "physician"])
def test_only_an_administrator_may_change_an_mrn(client, login, db_session, role):
    user = login(role)
    zoe = register_patient(db_session, details(), TODAY)
    db_session.commit()
    mrn = zoe.mrn
    url = f"/patients/{zoe.id}/edit"
    page = client.get(url).get_data(as_text=True)
    assert 'name="mrn"' not in page
    # A posted MRN is ignored; the rest of the edit is saved.
    opened = form_values(page)
    response = client.post(url, data={**opened, "mrn": "C9999999", "phone": "555-444-3333"})
    assert response.status_code == 302
    db_session.expire_all()
    saved = db_session.get(Patient, zoe.id)
    assert (saved.mrn, saved.phone) == (mrn, "555-444-3333")
    assert "mrn" not in patient_audit_updates(db_session, zoe)[0]
    # The service refuses too, whoever calls it.
    with pytest.raises(DomainError, match="Only an administrator can change an MRN"):
        update_patient(
            db_session, saved, saved.version, details(), TODAY, mrn="C9999999", editor=user
        )
    with pytest.raises(DomainError, match="Only an administrator"):
        update_patient(db_session, saved, saved.version, details(), TODAY, mrn="C9999999")
    assert saved.mrn == mrn


def test_the_registration_form_never_asks_for_an_mrn(client, login, db_session):
    login("admin")
    assert 'name="mrn"' not in client.get("/patients/new").get_data(as_text=True)
    response = client.post("/patients/new", data=patient_form(client, "/patients/new", mrn="X123"))
    assert response.status_code == 302
    assert db_session.execute(select(Patient.mrn)).scalar_one().startswith("C")


# Search at scale: each search is answered from an index ---------------------------------------


def test_the_patient_list_is_read_off_an_index_in_its_own_order(db_session, backend):
    plan = query_plan(db_session, backend, patient_search("").limit(25))
    assert "ix_patient_recently_seen" in plan
    assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan


def test_mrn_search_is_a_prefix_read_off_an_index(db_session, backend):
    plan = query_plan(db_session, backend, patient_search("c00012").limit(25))
    assert "ix_patient_mrn_prefix" in plan, plan


def test_name_search_on_postgresql_uses_the_trigram_index(db_session, backend):
    if backend != "postgresql":
        pytest.skip("SQLite reads a name search off its name-order index (the next test)")
    plan = query_plan(db_session, backend, patient_search("muller zo").limit(25))
    assert "ix_patient_name_key" in plan and "Seq Scan" not in plan, plan
    # Not the name-order index walked in the hope of meeting 25 matches soon (every "smith"
    # sits late in the alphabet).
    assert "ix_patient_name_order" not in plan, plan


def test_search_by_name_takes_wildcards_literally(db_session):
    register_patient(db_session, details(), TODAY)
    PatientFactory(first_name="Per_cy", last_name="Under%score")
    db_session.flush()
    found = db_session.execute(patient_search("under%")).scalars().all()
    assert [p.first_name for p in found] == ["Per_cy"]
    assert db_session.execute(patient_search("s_o")).scalars().all() == []


def test_a_name_search_pages_through_the_name_index_in_its_order(db_session, backend):
    # At a large practice a common name part ("a") matches most patients: the page is read off
    # the index in the list's order and stops at its 25th match, rather than sorting them all.
    # On PostgreSQL only a search too short for trigrams does so.
    plan = query_plan(db_session, backend, patient_search("a").limit(25))
    if backend == "sqlite":
        assert "ix_patient_by_name" in plan and "TEMP B-TREE" not in plan, plan
    else:
        assert "ix_patient_name_order" in plan and "Sort" not in plan, plan


def test_short_and_long_name_searches_list_their_matches_in_the_same_order(db_session):
    # The two ways to a page (the name-order index; the trigram index and a sort) give one
    # order: a longer word's matches come in the order a short search lists them.
    for last, first in (
        ("Zabbar", "Ann"),
        ("Abbott", "Zoe"),
        ("Mabry", "Jo"),
        ("Babbage", "Cy"),
        ("Abbott", "Al"),
        ("Cabbot", "Eve"),
    ):
        PatientFactory(last_name=last, first_name=first)
    db_session.flush()

    def names(query: str) -> list[str]:
        found = db_session.execute(patient_search(query)).scalars()
        return [f"{patient.last_name} {patient.first_name}" for patient in found]

    short = names("ab")
    assert short == [
        "Abbott Al",
        "Abbott Zoe",
        "Babbage Cy",
        "Cabbot Eve",
        "Mabry Jo",
        "Zabbar Ann",
    ]
    assert names("abb") == [name for name in short if "abb" in name.lower()]
    assert names("bbo a") == ["Abbott Al", "Abbott Zoe", "Cabbot Eve"]
    # Punctuation is no trigram: "o'b" is a short search, and finds no one here.
    assert names("o'b") == []


def test_the_list_counts_only_so_far_and_still_pages_on(client, login, db_session, monkeypatch):
    # Counting 50,000 patients each time the list opens is not needed to say "more than 1,000".
    # Here the count goes in steps of 10 (25 a page): to the first step past the page's last row.
    monkeypatch.setattr(clinic.services.patients, "COUNTED_AHEAD", 10)
    login("front_desk")
    for n in range(60):
        PatientFactory(last_name=f"Countperson{n:02}")
    db_session.commit()
    first = client.get("/patients?q=countperson").get_data(as_text=True)
    assert "More than 30 patients matching “countperson”: type more to narrow" in first
    assert "Page 1 of more than 2" in first and 'page=2">Next' in first
    second = client.get("/patients?q=countperson&page=2").get_data(as_text=True)
    assert "More than 50 patients" in second and "Countperson25" in second
    assert "Page 2 of more than 2" in second and 'page=3">Next' in second
    # The last page is counted whole, and has no Next: Next never leads past the last patient.
    third = client.get("/patients?q=countperson&page=3").get_data(as_text=True)
    assert "60 patients matching" in third and "More than" not in third
    assert "Countperson59" in third and "Page 3 of 3" in third and ">Next<" not in third
    # A page past the end says so (the patients are there), not "no patients match".
    past = client.get("/patients?q=countperson&page=9")
    assert past.status_code == 200
    assert "Page 9 is past the last patient matching “countperson”" in past.get_data(as_text=True)
