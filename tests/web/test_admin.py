"""Administrators keep the procedure catalogue and the repeat-eligibility rules as data."""

from sqlalchemy import select

from clinic.models import AuditEvent, ProcedureType, RepeatEligibilityRule
from tests.helpers.app import csrf_token


def procedure_form(client, url, **overrides):
    data = {
        "csrf_token": csrf_token(client, url),
        "code": "bvn-abl",
        "name": "Basivertebral nerve ablation",
        "category": "ablation",
        "cpt_code": "64628",
        "followup_schedule": "2w 3m 6m 12m",
        "active": "y",
    }
    data.update(overrides)
    return data


def test_admin_adds_a_procedure_type_with_a_readable_schedule(client, login, db_session):
    login("admin")
    refused = client.post(
        "/admin/procedures/new",
        data=procedure_form(client, "/admin/procedures/new", followup_schedule="2 weeks then 3x"),
    )
    assert refused.status_code == 200
    assert (
        "is not a whole number followed by d (days), w (weeks) or m (months)"
        in refused.get_data(as_text=True)
    )
    assert 'value="Basivertebral nerve ablation"' in refused.get_data(as_text=True)
    saved = client.post(
        "/admin/procedures/new", data=procedure_form(client, "/admin/procedures/new")
    )
    assert saved.status_code == 302
    added = db_session.execute(
        select(ProcedureType).where(ProcedureType.code == "BVN-ABL")
    ).scalar_one()
    assert (added.cpt_code, added.followup_schedule) == ("64628", "2w 3m 6m 12m")
    assert db_session.execute(
        select(AuditEvent).where(
            AuditEvent.record_type == "procedure_type", AuditEvent.action == "create"
        )
    ).scalar_one()


def test_a_procedure_code_is_unique(client, login):
    login("admin")
    page = client.post(
        "/admin/procedures/new", data=procedure_form(client, "/admin/procedures/new", code="rfa")
    ).get_data(as_text=True)
    assert "The code RFA is already used by Radiofrequency ablation." in page


def test_admin_changes_a_rule_and_unknown_codes_are_refused(client, login, db_session):
    login("admin")
    rule = db_session.execute(
        select(RepeatEligibilityRule).where(RepeatEligibilityRule.code == "rfa-repeat")
    ).scalar_one()
    url = f"/admin/eligibility-rules/{rule.id}"
    data = {
        "csrf_token": csrf_token(client, url),
        "description": "Repeat RFA: prior ≥ 50% relief lasting ≥ 5 months",
        "target_codes": "RFA",
        "prior_codes": "RFA XYZ",
        "min_relief_pct": "50",
        "min_relief_months": "5",
        "required_prior_count": "1",
        "max_sessions": "2",
        "window_months": "",
        "active": "y",
    }
    page = client.post(url, data=data).get_data(as_text=True)
    assert "Unknown procedure code(s): XYZ" in page
    assert "Give both the number of sessions and the window, or neither." in page
    data.update(prior_codes="RFA", window_months="12")
    assert client.post(url, data=data).status_code == 302
    db_session.expire_all()
    assert (rule.min_relief_months, rule.description) == (
        5,
        "Repeat RFA: prior ≥ 50% relief lasting ≥ 5 months",
    )
