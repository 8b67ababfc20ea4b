"""The relief report's diagnostic blocks, by their diaries' peak relief and hours (issue 15)."""

from datetime import UTC, date, datetime, timedelta

from clinic.models import DiaryEntry
from clinic.services.filters import ReportFilters
from clinic.services.relief.blocks import diagnostic_blocks
from tests.factories import InterventionFactory, procedure_type

DAY = date(2026, 2, 3)
END = datetime(2026, 2, 3, 10, 0, tzinfo=UTC)


def block(db_session, nrs_by_minute: dict[int, int] | None):
    intervention = InterventionFactory(
        procedure_type=procedure_type("MBB"),
        status="completed",
        performed_on=DAY,
        baseline_nrs=10,
        starts_at=END - timedelta(minutes=30),
        ends_at=END,
    )
    for minutes, nrs in (nrs_by_minute or {}).items():
        db_session.add(
            DiaryEntry(
                intervention_id=intervention.id,
                minutes_after=minutes,
                nrs=nrs,
                recorded_at=END + timedelta(minutes=minutes),
                source="self_report",
            )
        )
    db_session.flush()
    return intervention


def test_blocks_are_summarised_by_peak_relief_and_hours(db_session):
    block(db_session, {0: 1, 30: 1, 60: 2, 120: 2, 240: 8})  # peak 90%, 2 hours at 50%
    block(db_session, {0: 2, 30: 4, 60: 6})  # peak 80%, 0.5 hours
    block(db_session, {0: 8, 30: 7})  # peak 30%: no responder
    block(db_session, None)  # judged by phone only
    InterventionFactory(status="completed", performed_on=DAY, baseline_nrs=6)  # not diagnostic
    [mbb] = diagnostic_blocks(db_session, ReportFilters(threshold=50))
    assert (mbb.code, mbb.blocks, mbb.with_diary, mbb.responders) == ("MBB", 4, 3, 2)
    assert mbb.median_peak == 80
    assert mbb.median_hours == 1.25
    [strict] = diagnostic_blocks(db_session, ReportFilters(threshold=85))
    assert strict.responders == 1 and strict.median_hours == 0.5  # 90% at 0 and 30, 80% at 60
    assert diagnostic_blocks(db_session, ReportFilters(date_from=DAY + timedelta(days=1))) == []


def test_the_relief_report_shows_the_blocks_table(client, login, db_session):
    login("manager")
    block(db_session, {0: 1, 30: 1})
    db_session.commit()
    html = client.get("/reports/relief").get_data(as_text=True)
    assert "Diagnostic blocks, by their pain diary" in html
    assert "MBB — Medial branch block" in html
    assert "0.5 h" in html


def test_the_blocks_are_kept_until_a_diary_entry_or_a_diagnostic_mark_changes(
    db_session, monkeypatch
):
    # Kept like the rest of the report's figures (at 50,000 patients the blocks took 2–3 s a
    # view): read back unchanged, computed again after a diary entry is written by plain SQL
    # or a procedure type stops being diagnostic.
    from sqlalchemy import text

    from clinic.models import ReliefReportCache
    from clinic.services.relief import blocks

    first = block(db_session, {0: 8})  # peak 20%: no responder yet
    [before] = diagnostic_blocks(db_session, ReportFilters(threshold=50))
    assert (before.with_diary, before.responders) == (1, 0)
    assert db_session.query(ReliefReportCache).count() == 1

    def computed(*args):
        raise AssertionError("computed again while the data was unchanged")

    with monkeypatch.context() as patched:
        patched.setattr(blocks, "computed_blocks", computed)
        assert diagnostic_blocks(db_session, ReportFilters(threshold=50)) == [before]
    db_session.execute(
        text(
            "INSERT INTO diary_entry (intervention_id, minutes_after, nrs, recorded_at, source) "
            "VALUES (:id, 30, 2, :at, 'paper')"
        ),
        {"id": first.id, "at": END + timedelta(minutes=31)},
    )
    [after] = diagnostic_blocks(db_session, ReportFilters(threshold=50))
    assert (after.with_diary, after.responders, after.median_peak) == (1, 1, 80)
    db_session.execute(text("UPDATE procedure_type SET diagnostic = false WHERE code = 'MBB'"))
    assert diagnostic_blocks(db_session, ReportFilters(threshold=50)) == []
