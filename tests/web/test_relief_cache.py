"""The relief report's figures are computed once per change of the data (clinic/services/relief/cache.py).

Kept in the database under a data version that the database's triggers bump on every write to
pain scores and interventions (and to a patient's condition or a procedure code), whatever
wrote it: the ORM, the import, the demo generator, plain SQL. The page's chart reads the page's
figures back. Every test runs on SQLite and, when ``TEST_DATABASE_URL`` is set, on PostgreSQL.
"""

import io
import json
from datetime import timedelta

from sqlalchemy import func, select, text, update

from clinic.demo import seed_demo
from clinic.models import PainScore, Patient, ReliefReportCache
from clinic.services.filters import ReportFilters
from clinic.services.identity.audit import COMMAND_LINE, act_as
from clinic.services.interchange.imports import import_files
from clinic.services.relief import cache, reports
from tests.factories import PainScoreFactory
from tests.helpers.imports import NAMES, TODAY, ZONE, catalogue, csv_text  # noqa: F401
from tests.helpers.reports import BASE, by_code, non_responder, responder
from tests.helpers.statement_count import count_statements


def esi(session, **filters):
    return by_code(reports.relief_summary(session, ReportFilters(**filters)))["ESI-TF"]


def version(session) -> int:
    return cache.data_version(session)


def poison(session, **filters) -> None:
    """Change the kept figures of this selection, to see whether the next report reads them."""
    selection = cache.selection_key(ReportFilters(**filters), "procedure")
    row = session.execute(
        select(ReliefReportCache).where(ReliefReportCache.selection == selection)
    ).scalar_one()
    figures = json.loads(row.figures)
    figures["groups"][0]["completed"] = 999
    row.figures = json.dumps(figures)
    session.flush()


def test_the_figures_are_kept_and_read_back_while_the_data_is_unchanged(db_session):
    responder(ended_on=60)
    non_responder()
    first = reports.relief_summary(db_session, ReportFilters())
    assert db_session.execute(select(func.count()).select_from(ReliefReportCache)).scalar() == 1
    again = reports.relief_summary(db_session, ReportFilters())
    assert again == first and [s.curve for s in again] == [s.curve for s in first]
    poison(db_session)
    assert esi(db_session).completed == 999  # read from the cache, not computed again


def test_every_selection_is_kept_apart(db_session):
    responder(ended_on=60)
    non_responder()
    reports.relief_summary(db_session, ReportFilters())
    poison(db_session)
    assert esi(db_session, threshold=30).completed == 2
    later = ReportFilters(date_from=BASE + timedelta(days=1))
    assert reports.relief_summary(db_session, later) == []
    assert esi(db_session).completed == 999


def test_a_score_written_through_the_orm_changes_the_next_report(db_session):
    intervention = non_responder()
    before = version(db_session)
    assert esi(db_session).responders == 0
    poison(db_session)
    PainScoreFactory(intervention=intervention, recorded_on=BASE + timedelta(days=90), nrs=1)
    assert version(db_session) > before
    summary = esi(db_session)
    assert (summary.completed, summary.responders) == (1, 1)


def test_an_intervention_and_a_patient_condition_changed_by_plain_sql_change_the_report(
    db_session,
):
    intervention = responder(ended_on=60)
    assert esi(db_session).completed == 1
    poison(db_session)
    db_session.execute(
        text("UPDATE intervention SET baseline_nrs = 0 WHERE id = :id"), {"id": intervention.id}
    )
    summary = esi(db_session)
    assert (summary.completed, summary.evaluable) == (1, 0)
    by_condition = reports.relief_summary(db_session, ReportFilters(), "condition")
    assert [s.key for s in by_condition] == ["herniated_disc"]
    db_session.execute(
        update(Patient)
        .where(Patient.id == intervention.patient_id)
        .values(condition="spinal_stenosis")
    )
    by_condition = reports.relief_summary(db_session, ReportFilters(), "condition")
    assert [s.key for s in by_condition] == ["spinal_stenosis"]


def test_deleted_scores_change_the_report(db_session):
    intervention = responder(ended_on=60)
    assert esi(db_session).responders == 1
    db_session.execute(
        PainScore.__table__.delete().where(PainScore.intervention_id == intervention.id)
    )
    assert esi(db_session).responders == 0


def test_an_import_changes_the_next_report(db_session, catalogue):  # noqa: F811
    patients = ["C9000001,Ana,Okafor,1960-05-17,female,555-0101,ana@example.org,herniated_disc"]
    interventions = [
        "R-1,C9000001,ESI-TF,dr.lee,2025-01-06T09:00,2025-01-06T09:30,Suite 1,completed,"
        "2025-01-06,8,L4-L5,left,"
    ]

    def imported(scores):
        files = {"patients": patients, "interventions": interventions, "pain_scores": scores}
        streams = {
            kind: (NAMES[kind], io.BytesIO(csv_text(kind, rows).encode()))
            for kind, rows in files.items()
        }
        report = import_files(db_session, streams, False, ZONE, today=TODAY)
        assert not report.problems, report.problems

    imported(["R-1,2025-01-20,6,,phone"])
    assert esi(db_session).responders == 0
    poison(db_session)
    imported(["R-1,2025-01-20,6,,phone", "R-1,2025-02-17,2,,visit"])
    summary = esi(db_session)
    assert (summary.completed, summary.responders) == (1, 1)


def test_the_demo_generator_changes_the_next_report(db_session):
    assert reports.relief_summary(db_session, ReportFilters()) == []
    act_as(db_session, COMMAND_LINE)
    seed_demo(db_session, patients=40, seed=5)
    db_session.flush()
    summaries = reports.relief_summary(db_session, ReportFilters())
    assert sum(s.completed for s in summaries) > 0


def test_the_chart_reads_the_figures_the_page_kept(app, client, login, db_session):
    responder(ended_on=60)
    responder("RFA", last=200)
    login("manager")
    with count_statements(app) as page:
        assert client.get("/reports/relief").status_code == 200
    with count_statements(app) as chart:
        response = client.get("/reports/relief/chart.svg?threshold=50&group_by=procedure")
    assert response.status_code == 200 and b"RFA" in response.data
    # Two rows kept — the figures and the diagnostic blocks — and no more after the chart: it
    # read the figures the page kept, and did not compute them again.
    assert db_session.execute(select(func.count()).select_from(ReliefReportCache)).scalar() == 2
    poison(db_session)
    html = client.get("/reports/relief").get_data(as_text=True)
    assert "of 999 completed" in html
    assert chart.count <= page.count


def test_a_missing_version_row_computes_without_keeping(db_session):
    responder(ended_on=60)
    db_session.execute(text("DELETE FROM relief_data_version"))
    assert esi(db_session).completed == 1
    assert db_session.execute(select(func.count()).select_from(ReliefReportCache)).scalar() == 0


def test_a_booking_status_or_physician_changed_by_plain_sql_changes_the_report(db_session):
    """An intervention's status and physician live on its booking row."""
    kept = responder(ended_on=60)
    dropped = responder(last=100)
    assert esi(db_session).completed == 2
    poison(db_session)
    db_session.execute(
        text("UPDATE booking SET status = 'cancelled' WHERE id = :id"), {"id": dropped.id}
    )
    assert esi(db_session).completed == 1
    by_physician = reports.relief_summary(db_session, ReportFilters(), "physician")
    assert [s.key for s in by_physician] == [kept.physician_id]
    other = db_session.execute(
        text("SELECT physician_id FROM booking WHERE id = :id"), {"id": dropped.id}
    ).scalar()
    assert other != kept.physician_id
    db_session.execute(
        text("UPDATE booking SET physician_id = :p WHERE id = :id"),
        {"p": other, "id": kept.id},
    )
    by_physician = reports.relief_summary(db_session, ReportFilters(), "physician")
    assert [s.key for s in by_physician] == [other]


def test_a_busy_sqlite_database_is_not_waited_for_the_figures_are_just_not_kept(
    app, db_session, backend
):
    """Another writer holds SQLite's write lock (a long import): the report answers at once."""
    if backend != "sqlite":
        return  # PostgreSQL writers do not block a reader's insert of its own row
    import time

    from clinic.extensions import db

    with app.app_context():
        writer = db.engine.connect()
    try:
        writer.begin()
        writer.exec_driver_sql("UPDATE relief_data_version SET id = id")  # the write lock
        began = time.monotonic()
        assert reports.relief_summary(db_session, ReportFilters()) == []
        assert time.monotonic() - began < 5
    finally:
        writer.rollback()
        writer.close()
    assert db_session.execute(select(func.count()).select_from(ReliefReportCache)).scalar() == 0
    reports.relief_summary(db_session, ReportFilters())
    assert db_session.execute(select(func.count()).select_from(ReliefReportCache)).scalar() == 1


def test_postgresql_moves_the_version_once_a_transaction_until_figures_are_kept(
    db_session, backend
):
    """A writer sending a statement per row (the demo's diary entries) moved the one version row
    once per statement on PostgreSQL, and each update of it in one transaction slowed the next:
    now it moves once, and again after figures are kept, so they never hide a later write."""
    if backend != "postgresql":
        return  # SQLite's row triggers update the row in place: no versions pile up
    kept = responder(ended_on=60)  # its writes moved the version: once for the transaction
    start = version(db_session)
    for day in (100, 110, 120):
        PainScoreFactory(intervention=kept, recorded_on=BASE + timedelta(days=day), nrs=4)
        db_session.flush()
    assert version(db_session) == start
    esi(db_session)  # computed and kept at this version
    assert db_session.execute(select(func.count()).select_from(ReliefReportCache)).scalar() == 1
    PainScoreFactory(intervention=kept, recorded_on=BASE + timedelta(days=130), nrs=9)
    db_session.flush()
    assert version(db_session) == start + 1  # the kept figures are out of date
