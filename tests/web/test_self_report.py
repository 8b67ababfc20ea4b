"""The self-report link (issue 15, part A): issuing, revoking, expiry, guessing, the patient's
answer and its rules, on the page at /r/<token> and in the services behind it."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import String, Text, func, inspect, select

from clinic import clock
from clinic.models import AuditEvent, Base, LinkGuess, PainScore, SelfReportLink
from clinic.services import DomainError
from clinic.services.followup import links
from tests.factories import InterventionFactory, PainScoreFactory, PatientFactory, procedure_type
from tests.helpers.app import csrf_token, inline_scripts

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
TODAY = NOW.date()
PERFORMED = date(2026, 3, 1)


@pytest.fixture
def fixed_now(monkeypatch):
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)
    return NOW


@pytest.fixture
def key(app) -> bytes:
    return links.link_key(app.config)


def completed(code: str = "ESI-TF", performed_on: date = PERFORMED, **kwargs):
    starts = datetime.combine(performed_on, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
    return InterventionFactory(
        procedure_type=procedure_type(code),
        status="completed",
        performed_on=performed_on,
        baseline_nrs=8,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=30),
        **kwargs,
    )


def issued(db_session, key, intervention) -> str:
    token = links.issue_link(db_session, intervention, key, None, TODAY)
    db_session.commit()
    return token


def form_tag(html: str) -> str:
    return re.search(r'name="link" value="([0-9a-f]+)"', html).group(1)


def audit_rows(db_session, action: str, intervention_id: int) -> list[AuditEvent]:
    return list(
        db_session.execute(
            select(AuditEvent)
            .where(AuditEvent.action == action, AuditEvent.record_id == str(intervention_id))
            .order_by(AuditEvent.id)
        ).scalars()
    )


# --- the token -----------------------------------------------------------------------------------


def test_the_token_has_144_bits_and_is_derived_from_intervention_and_generation(key):
    token = links.derive_token(key, 7, 1)
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", token)  # 24 × 6 = 144 bits
    assert links.derive_token(key, 7, 1) == token
    assert links.derive_token(key, 7, 2) != token
    assert links.derive_token(key, 8, 1) != token
    assert links.derive_token(b"another key", 7, 1) != token


def test_a_configured_link_key_replaces_the_one_derived_from_the_secret_key():
    derived = links.link_key({"CLINIC_LINK_KEY": None, "SECRET_KEY": "s" * 40})
    assert derived != links.link_key({"CLINIC_LINK_KEY": None, "SECRET_KEY": "z" * 40})
    assert links.link_key({"CLINIC_LINK_KEY": "own", "SECRET_KEY": "s" * 40}) == b"own"


def test_the_token_never_appears_in_the_database(db_session, key, fixed_now):
    intervention = completed()
    token = issued(db_session, key, intervention)
    found = []
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, String | Text)]
        for column in columns:
            hits = db_session.execute(
                select(func.count()).select_from(table).where(column.contains(token))
            ).scalar_one()
            if hits:
                found.append(f"{table.name}.{column.name}")
    # JSON columns (the audit trail's changes and details) are read as text.
    for event in db_session.execute(select(AuditEvent)).scalars():
        if token in f"{event.changes} {event.details}":
            found.append(f"audit_event {event.id}")
    assert found == []
    link = links.link_of(db_session, intervention.id)
    assert link.token_sha256 == links.token_digest(token)
    assert token not in link.token_sha256


def test_issuing_is_audited_and_valid_until_30_days_after_the_last_call(db_session, key, fixed_now):
    intervention = completed()  # ESI-TF: the default schedule ends 12 months on
    issued(db_session, key, intervention)
    link = links.link_of(db_session, intervention.id)
    assert link.valid_until == date(2027, 3, 1) + timedelta(days=30)
    [row] = audit_rows(db_session, "link_issued", intervention.id)
    assert row.details["generation"] == 1
    assert row.details["valid_until"] == "2027-03-31"


def test_a_second_link_is_refused_while_one_is_active(db_session, key, fixed_now):
    intervention = completed()
    issued(db_session, key, intervention)
    with pytest.raises(DomainError, match="already has an active"):
        links.issue_link(db_session, intervention, key, None, TODAY)


def test_a_procedure_not_completed_gets_no_link(db_session, key, fixed_now):
    with pytest.raises(DomainError, match="completed procedures"):
        links.issue_link(db_session, InterventionFactory(), key, None, TODAY)


# --- the page ------------------------------------------------------------------------------------


def test_the_page_shows_first_name_procedure_and_question_and_sets_no_cookie(
    client, db_session, key, fixed_now
):
    patient = PatientFactory(first_name="Marisol", last_name="Okonkwo-Private")
    intervention = completed(patient=patient)
    token = issued(db_session, key, intervention)
    response = client.get(f"/r/{token}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Marisol" in html
    assert "transforaminal epidural steroid injection" in html
    assert "1 March 2026" in html
    assert "How is your pain right now?" in html
    assert len(re.findall(r'<button type="submit" name="nrs" value="\d+"', html)) == 11
    assert "Okonkwo-Private" not in html and patient.mrn not in html
    assert "Set-Cookie" not in response.headers
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    [opened] = audit_rows(db_session, "link_used", intervention.id)
    assert opened.details["opened"] is True
    assert opened.actor_id is None and opened.actor_name == links.PATIENT


def test_one_tap_records_todays_self_reported_score_and_thanks_the_patient(
    client, db_session, key, fixed_now
):
    intervention = completed()
    token = issued(db_session, key, intervention)
    tag = form_tag(client.get(f"/r/{token}").get_data(as_text=True))
    response = client.post(f"/r/{token}/answer", data={"link": tag, "nrs": "3"})
    assert response.status_code == 200
    assert "Thank you" in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    score = db_session.execute(select(PainScore)).scalar_one()
    assert (score.recorded_on, score.nrs, score.percent_relief) == (TODAY, 3, None)
    assert (score.source, score.recorded_by_id) == ("self_report", None)
    used = audit_rows(db_session, "link_used", intervention.id)[-1]
    assert used.details["outcome"] == "recorded" and used.details["nrs"] == 3


def test_answering_again_the_same_day_replaces_the_self_report(client, db_session, key, fixed_now):
    intervention = completed()
    token = issued(db_session, key, intervention)
    tag = form_tag(client.get(f"/r/{token}").get_data(as_text=True))
    client.post(f"/r/{token}/answer", data={"link": tag, "nrs": "5"})
    client.post(f"/r/{token}/answer", data={"link": tag, "nrs": "2", "percent_relief": "70"})
    db_session.expire_all()
    [score] = db_session.execute(select(PainScore)).scalars().all()
    assert (score.nrs, score.percent_relief) == (2, 70)


def test_a_staff_score_that_day_stands_and_the_answer_is_kept_in_the_audit_log(
    client, db_session, key, fixed_now
):
    intervention = completed()
    PainScoreFactory(intervention=intervention, recorded_on=TODAY, nrs=6, source="phone")
    token = issued(db_session, key, intervention)
    tag = form_tag(client.get(f"/r/{token}").get_data(as_text=True))
    response = client.post(f"/r/{token}/answer", data={"link": tag, "nrs": "1"})
    assert response.status_code == 200
    assert "Thank you" in response.get_data(as_text=True)
    db_session.expire_all()
    [score] = db_session.execute(select(PainScore)).scalars().all()
    assert (score.nrs, score.source) == (6, "phone")
    used = audit_rows(db_session, "link_used", intervention.id)[-1]
    assert used.details["outcome"] == "staff_score_kept" and used.details["nrs"] == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"nrs": "11"}, "from 0 to 10, not 11"),
        ({"nrs": "-1"}, "one of the numbers 0 to 10"),
        ({"nrs": ""}, "Choose your pain"),
        ({"nrs": "4", "percent_relief": "101"}, "from 0 to 100 percent, not 101"),
        ({"nrs": "4", "percent_relief": "lots"}, "whole number from 0 to 100"),
        # "²" is a digit to str.isdigit, not to int; int reads no more than 4,300 digits.
        ({"nrs": "²"}, "one of the numbers 0 to 10"),
        ({"nrs": "0" * 5000 + "5"}, "one of the numbers 0 to 10"),
        ({"nrs": "4", "percent_relief": "¹⁰"}, "whole number from 0 to 100"),
    ],
)
def test_bad_answers_get_a_message_and_nothing_is_written(
    client, db_session, key, fixed_now, data, message
):
    intervention = completed()
    token = issued(db_session, key, intervention)
    tag = form_tag(client.get(f"/r/{token}").get_data(as_text=True))
    response = client.post(f"/r/{token}/answer", data={"link": tag, **data})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db_session.execute(select(func.count(PainScore.id))).scalar_one() == 0
    assert len(audit_rows(db_session, "link_used", intervention.id)) == 1  # the opening only


def test_a_form_replayed_from_another_link_is_refused(client, db_session, key, fixed_now):
    mine, other = completed(), completed()
    token = issued(db_session, key, mine)
    other_token = issued(db_session, key, other)
    other_tag = form_tag(client.get(f"/r/{other_token}").get_data(as_text=True))
    response = client.post(f"/r/{token}/answer", data={"link": other_tag, "nrs": "2"})
    assert response.status_code == 400
    assert "another link" in response.get_data(as_text=True)
    assert db_session.execute(select(func.count(PainScore.id))).scalar_one() == 0


def test_on_the_performed_date_the_page_says_when_the_first_question_comes(
    client, db_session, key, fixed_now
):
    intervention = completed(performed_on=TODAY)
    token = issued(db_session, key, intervention)
    html = client.get(f"/r/{token}").get_data(as_text=True)
    assert "How is your pain right now?" not in html
    assert "first question about your pain comes on Tuesday 24 March 2026" in html
    # A form posted anyway is refused: a score on the performed date is not a follow-up.
    tag = links.form_tag(key, links.link_of(db_session, intervention.id))
    response = client.post(f"/r/{token}/answer", data={"link": tag, "nrs": "2"})
    assert response.status_code == 400
    assert "opens the day after your procedure" in response.get_data(as_text=True)
    assert db_session.execute(select(func.count(PainScore.id))).scalar_one() == 0


# --- invalid, revoked, expired, guessed ----------------------------------------------------------


def test_a_revoked_link_stops_working_and_a_new_one_replaces_it(client, db_session, key, fixed_now):
    intervention = completed()
    old = issued(db_session, key, intervention)
    assert client.get(f"/r/{old}").status_code == 200
    links.revoke_link(db_session, intervention, TODAY)
    db_session.commit()
    invalid = client.get(f"/r/{'A' * 24}")
    revoked = client.get(f"/r/{old}")
    assert revoked.status_code == invalid.status_code == 404
    assert revoked.get_data() == invalid.get_data()
    new = issued(db_session, key, intervention)
    assert new != old
    assert client.get(f"/r/{new}").status_code == 200
    assert client.get(f"/r/{old}").status_code == 404
    link = links.link_of(db_session, intervention.id)
    assert link.generation == 2
    [revoked_row] = audit_rows(db_session, "link_revoked", intervention.id)
    assert revoked_row.details["generation"] == 1
    assert len(audit_rows(db_session, "link_issued", intervention.id)) == 2


def test_a_link_expires_30_days_after_the_last_follow_up(
    client, db_session, key, fixed_now, monkeypatch
):
    intervention = completed(code="SCS-TRIAL")
    token = issued(db_session, key, intervention)
    until = links.link_of(db_session, intervention.id).valid_until
    last_day = datetime.combine(until, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    monkeypatch.setattr(clock, "utcnow", lambda: last_day)
    assert client.get(f"/r/{token}").status_code == 200
    monkeypatch.setattr(clock, "utcnow", lambda: last_day + timedelta(days=1))
    response = client.get(f"/r/{token}")
    assert response.status_code == 404
    assert "This link does not work" in response.get_data(as_text=True)


def test_guessing_is_throttled_from_the_21st_invalid_link_in_15_minutes(
    client, db_session, key, fixed_now, monkeypatch
):
    intervention = completed()
    token = issued(db_session, key, intervention)
    for number in range(20):
        assert client.get(f"/r/{'B' * 23}{number % 10}").status_code == 404
    throttled = client.get(f"/r/{'C' * 24}")
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["Retry-After"]) <= 15 * 60
    assert client.get(f"/r/{token}").status_code == 429  # the address waits, whatever it asks
    assert db_session.execute(select(func.count(LinkGuess.id))).scalar_one() == 20
    # Another address is not held back by this one's guesses.
    other = client.get(f"/r/{token}", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200
    monkeypatch.setattr(clock, "utcnow", lambda: NOW + timedelta(minutes=15, seconds=1))
    assert client.get(f"/r/{token}").status_code == 200


def test_the_link_page_needs_no_sign_in_but_other_pages_still_do(
    client, db_session, key, fixed_now
):
    token = issued(db_session, key, completed())
    assert client.get(f"/r/{token}").status_code == 200
    assert client.get("/worklist").status_code == 302


def test_the_answer_needs_no_session_csrf_token_yet_refuses_a_form_without_its_link_value(
    client, db_session, key, fixed_now
):
    token = issued(db_session, key, completed())
    response = client.post(f"/r/{token}/answer", data={"nrs": "2"})
    assert response.status_code == 400
    assert "another link" in response.get_data(as_text=True)


def test_the_audit_columns_hold_no_link_table_token(db_session, key, fixed_now):
    """The flush hook's record of the link row carries the hash only."""
    intervention = completed()
    token = issued(db_session, key, intervention)
    link = links.link_of(db_session, intervention.id)
    rows = audit_rows(db_session, "create", link.id)
    created = [r for r in rows if r.record_type == "self_report_link"]
    assert created and created[0].changes["token_sha256"][1] == links.token_digest(token)
    assert inspect(SelfReportLink).columns.keys().count("token") == 0


# --- the discharge sheet -------------------------------------------------------------------------


def sheet_url(intervention) -> str:
    return f"/patients/{intervention.patient_id}/interventions/{intervention.id}/discharge"


def test_the_sheet_offers_issue_link_and_its_get_changes_nothing(
    client, login, db_session, fixed_now
):
    login("front_desk")
    intervention = completed()
    db_session.commit()
    html = client.get(sheet_url(intervention)).get_data(as_text=True)
    assert "Issue link" in html
    assert links.link_of(db_session, intervention.id) is None
    token = csrf_token(client, sheet_url(intervention))
    response = client.post(
        sheet_url(intervention)[: -len("discharge")] + "link", data={"csrf_token": token}
    )
    assert response.status_code == 302
    link = links.link_of(db_session, intervention.id)
    assert link is not None and link.issued_by_id is not None
    html = client.get(sheet_url(intervention)).get_data(as_text=True)
    url = re.search(r'<code class="link-text">([^<]+)</code>', html).group(1)
    assert url.startswith("http://localhost/r/")
    assert links.token_digest(url.rsplit("/", 1)[1]) == link.token_sha256
    assert '<svg class="qr-code"' in html and inline_scripts(html) == []
    assert "Issue link" not in html
    assert "Sun 15 Mar 2026" in html  # the first follow-up call (2 weeks)
    # The sheet shows the same link again, every time.
    again = client.get(sheet_url(intervention)).get_data(as_text=True)
    assert url in again


def test_the_sheet_uses_the_public_url_setting(
    client, login, db_session, key, fixed_now, app, monkeypatch
):
    monkeypatch.setitem(app.config, "CLINIC_PUBLIC_URL", "https://clinic.example/")
    login("physician")
    intervention = completed()
    token = issued(db_session, key, intervention)
    html = client.get(sheet_url(intervention)).get_data(as_text=True)
    assert f"https://clinic.example/r/{token}" in html


def test_the_sheet_of_another_patients_procedure_is_404(client, login, db_session, fixed_now):
    login("front_desk")
    intervention = completed()
    other = PatientFactory()
    db_session.commit()
    url = f"/patients/{other.id}/interventions/{intervention.id}/discharge"
    assert client.get(url).status_code == 404
