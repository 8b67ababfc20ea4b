"""The relief report and its exports, from the database (docs/rules.md and docs/formats.md)."""

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from clinic.models import Intervention
from clinic.services.filters import ReportFilters
from clinic.services.relief import reports
from tests.factories import (
    PhysicianFactory,
    procedure_type,
)
from tests.helpers.app import inline_scripts
from tests.helpers.reports import BASE, by_code, non_responder, responder, treat
from tests.helpers.statement_count import count_statements
from tests.helpers.survival import PLACEBO, PUBLISHED_LOG_RANK, PUBLISHED_SIX_MP, SIX_MP


def test_completed_evaluable_and_responders_are_counted_per_procedure(db_session):
    responder(ended_on=60)
    responder(last=100)
    non_responder()
    treat(scores=[])  # completed, no follow-up yet: not evaluable
    treat(baseline=0, scores=[(14, 0)])  # no baseline pain to relieve: not evaluable
    treat(status="scheduled")  # not completed: not counted at all
    responder("RFA", last=200)
    summaries = reports.relief_summary(db_session, ReportFilters())
    assert [s.code for s in summaries] == ["ESI-TF", "RFA"]
    esi = by_code(summaries)["ESI-TF"]
    assert (esi.completed, esi.evaluable, esi.responders) == (5, 3, 2)
    assert esi.responder_rate_pct == pytest.approx(200 / 3)
    assert (esi.events, esi.censored) == (1, 1)
    assert esi.label == "Transforaminal epidural steroid injection"


def test_scores_on_or_before_the_performed_date_never_count(db_session):
    treat(scores=[(0, 1), (-3, 1)])
    summary = reports.relief_summary(db_session, ReportFilters())[0]
    assert (summary.completed, summary.evaluable, summary.responders) == (1, 0, 0)


def test_the_threshold_decides_who_responded(db_session):
    treat(scores=[(14, 4)])  # baseline 8 → 50% relief
    treat(scores=[(14, 7, 85)])  # the patient's own 85% wins over the NRS
    at_50 = reports.relief_summary(db_session, ReportFilters(threshold=50))[0]
    at_80 = reports.relief_summary(db_session, ReportFilters(threshold=80))[0]
    assert (at_50.responders, at_80.responders) == (2, 1)


def test_the_performed_date_range_includes_both_ends(db_session):
    for day in (
        BASE - timedelta(days=1),
        BASE,
        BASE + timedelta(days=30),
        BASE + timedelta(days=31),
    ):
        responder(performed_on=day)
    filters = ReportFilters(date_from=BASE, date_to=BASE + timedelta(days=30))
    assert reports.relief_summary(db_session, filters)[0].completed == 2
    assert reports.relief_summary(db_session, ReportFilters(date_from=BASE))[0].completed == 3
    assert reports.relief_summary(db_session, ReportFilters(date_to=BASE))[0].completed == 2


def test_physician_condition_and_procedure_filters_narrow_the_interventions(db_session):
    okafor = PhysicianFactory(full_name="Dr. Adaeze Okafor")
    responder(physician=okafor, condition="spinal_stenosis")
    responder(physician=okafor, condition="herniated_disc")
    responder("RFA", physician=okafor, condition="spinal_stenosis")
    responder(condition="spinal_stenosis")

    def completed(**kwargs) -> dict[str, int]:
        summaries = reports.relief_summary(db_session, ReportFilters(**kwargs))
        return {s.code: s.completed for s in summaries}

    assert completed(physician_id=okafor.id) == {"ESI-TF": 2, "RFA": 1}
    assert completed(condition="spinal_stenosis") == {"ESI-TF": 2, "RFA": 1}
    assert completed(procedure_code="RFA") == {"RFA": 1}
    assert completed(physician_id=okafor.id, condition="spinal_stenosis") == {
        "ESI-TF": 1,
        "RFA": 1,
    }
    assert completed(procedure_code="SCS-TRIAL") == {}


def test_grouping_by_physician_and_by_condition_names_each_group(db_session):
    zeta = PhysicianFactory(full_name="Dr. Zeta Young", username="dr.zeta")
    abel = PhysicianFactory(full_name="Dr. Abel Kim", username="dr.abel")
    responder(physician=zeta, condition="spinal_stenosis")
    responder("RFA", physician=zeta, condition="herniated_disc")
    non_responder(physician=abel, condition="spinal_stenosis")
    by_physician = reports.relief_summary(db_session, ReportFilters(), "physician")
    assert [(s.code, s.label, s.completed) for s in by_physician] == [
        ("dr.abel", "Dr. Abel Kim", 1),
        ("dr.zeta", "Dr. Zeta Young", 2),
    ]
    by_condition = reports.relief_summary(db_session, ReportFilters(), "condition")
    assert [(s.code, s.label, s.completed, s.responders) for s in by_condition] == [
        ("herniated_disc", "Herniated disc", 1, 1),
        ("spinal_stenosis", "Spinal stenosis", 2, 1),
    ]
    with pytest.raises(ValueError):
        reports.relief_summary(db_session, ReportFilters(), "room")


def test_a_group_with_nothing_evaluable_has_empty_figures(db_session):
    treat("MBB", scores=[])
    summary = reports.relief_summary(db_session, ReportFilters())[0]
    assert summary.responder_rate_pct is None
    assert summary.median_days is None and summary.relief_90d_pct is None
    assert summary.curve == ()
    assert "responder rate is not known yet" in summary.words
    header, rows = reports.relief_summary_export(db_session, ReportFilters())
    assert list(rows) == [
        ["MBB", "Medial branch block", "1", "0", "0", "", "0", "0", "", "", "", "", "", ""]
    ]


def seed_textbook_trial() -> None:
    """The 6-MP trial as relief: 6-MP as ESI-TF, placebo as RFA, each week seven days.

    Every patient is relieved at day 1 (NRS 2 of baseline 8); a relapse at week w is an
    unrelieved score (NRS 7) on day 7w, a censored remission a relieved score on day 7w.
    """
    for code, group in (("ESI-TF", SIX_MP), ("RFA", PLACEBO)):
        for weeks, relapsed in group:
            treat(code, scores=[(1, 2), (7 * weeks, 7 if relapsed else 2)])


def test_the_textbook_dataset_through_the_database_gives_the_published_estimates(db_session):
    """Freireich/Gehan 6-MP vs placebo as tabulated by Kleinbaum & Klein (see test_survival)."""
    seed_textbook_trial()
    summaries = reports.relief_summary(db_session, ReportFilters())
    six_mp = by_code(summaries)["ESI-TF"]
    curve = {row.day: row for row in six_mp.curve}
    for week, published in PUBLISHED_SIX_MP.items():
        assert round(curve[7 * week].relief_pct / 100, 3) == published
    assert six_mp.median_days == 7 * 23
    assert (six_mp.median_ci_low_days, six_mp.median_ci_high_days) == (7 * 13, None)
    comparison = reports.log_rank(summaries)
    assert round(comparison.statistic, 2) == PUBLISHED_LOG_RANK
    assert comparison.df == 1 and comparison.p_value < 0.001
    assert "differ by more than chance" in comparison.words and "p < 0.001" in comparison.words


def test_the_relief_summary_export_has_the_exact_header_and_formatting(db_session):
    seed_textbook_trial()
    header, rows = reports.relief_summary_export(db_session, ReportFilters())
    assert ",".join(header) == (
        "procedure_code,procedure_name,completed,evaluable,responders,responder_rate_pct,"
        "events,censored,median_relief_days,median_ci_low_days,median_ci_high_days,"
        "relief_90d_pct,relief_180d_pct,relief_365d_pct"
    )
    assert list(rows) == [
        # At 90 days the last change is week 10 (day 70); at 180, week 23; at 365 nobody was
        # followed that long (longest: 35 weeks, censored).
        ["ESI-TF", "Transforaminal epidural steroid injection", "21", "21", "21", "100.0"]
        + ["9", "12", "161", "91", "", "75.3", "44.8", ""],
        # Placebo: at 90 days 4 of 21 still relieved; every relief ended by week 23.
        ["RFA", "Radiofrequency ablation", "21", "21", "21", "100.0"]
        + ["21", "0", "56", "28", "77", "19.0", "0.0", "0.0"],
    ]


def test_the_relief_curve_export_has_a_row_per_day_with_an_event_or_censoring(db_session):
    seed_textbook_trial()
    header, rows = reports.relief_curve_export(db_session, ReportFilters())
    assert ",".join(header) == (
        "procedure_code,day,at_risk,events,censored,relief_pct,ci_low_pct,ci_high_pct"
    )
    rows = list(rows)
    six_mp = [row for row in rows if row[0] == "ESI-TF"]
    assert [row[1] for row in six_mp] == [str(7 * w) for w in sorted({w for w, _ in SIX_MP})]
    assert six_mp[0] == ["ESI-TF", "42", "21", "3", "1", "85.7", "62.0", "95.2"]
    placebo_last = [row for row in rows if row[0] == "RFA"][-1]
    # Where the estimate is 0 its interval is empty.
    assert placebo_last == ["RFA", "161", "1", "1", "0", "0.0", "", ""]


def test_export_text_is_formula_safe(db_session):
    kind = procedure_type("FJI")
    kind.name = "=HYPERLINK(1)"
    responder("FJI")
    _, rows = reports.relief_summary_export(db_session, ReportFilters())
    assert list(rows)[0][1] == "'=HYPERLINK(1)"


def test_the_group_in_words_reads_the_figures(db_session):
    seed_textbook_trial()
    words = by_code(reports.relief_summary(db_session, ReportFilters()))["ESI-TF"].words
    assert words.startswith("of 21 completed, 21 were evaluable and 21 responded (100.0%)")
    assert "half of the responders' relief had ended by day 161 (95% CI 91–not reached)" in words
    assert "75.3% at 90 days" in words and "365" not in words


def test_a_comparison_needs_two_groups_with_responders(db_session):
    responder()
    non_responder("RFA")
    comparison = reports.log_rank(reports.relief_summary(db_session, ReportFilters()))
    assert comparison.statistic is None
    assert "at least two groups with responders" in comparison.words


# The page ---------------------------------------------------------------------------------


def test_the_page_shows_figures_words_chart_and_comparison(client, login, db_session):
    seed_textbook_trial()
    login("manager")
    response = client.get("/reports/relief")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Relief per procedure type" in html
    assert "ESI-TF — Transforaminal epidural steroid injection" in html
    assert "of 21 completed, 21 were evaluable and 21 responded (100.0%)" in html
    assert '<figure class="relief-chart">' in html and "<figcaption>" in html
    assert 'src="/reports/relief/chart.svg?threshold=50&amp;group_by=procedure"' in html
    assert "log-rank χ² = 16.79 on 1 degree of freedom, p &lt; 0.001" in html
    assert "style=" not in html and inline_scripts(html) == []


def test_the_chart_is_an_svg_image_with_its_own_policy(client, login, db_session):
    seed_textbook_trial()
    login("physician")
    response = client.get("/reports/relief/chart.svg?threshold=70&group_by=procedure")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.headers["Content-Security-Policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'"
    )
    assert b"Number at risk" in response.data and b"ESI-TF" in response.data
    assert client.get("/reports/relief/chart.svg?threshold=0").status_code == 400


def test_the_chart_says_so_when_there_is_nothing_to_draw(client, login, db_session):
    login("admin")
    response = client.get("/reports/relief/chart.svg")
    assert response.status_code == 200 and b"No responders" in response.data
    html = client.get("/reports/relief").get_data(as_text=True)
    assert "No completed interventions match these filters" in html


def test_a_range_that_runs_backwards_is_refused_with_the_input_kept(client, login, db_session):
    login("manager")
    response = client.get(
        "/reports/relief?date_from=2025-06-01&date_to=2025-01-31&threshold=50&group_by=procedure"
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "is before the “Performed from” date" in html
    assert 'value="2025-06-01"' in html and 'value="2025-01-31"' in html
    assert "relief-table" not in html


@pytest.mark.parametrize("threshold", ["0", "101", "fifty", "", "nan"])
def test_a_threshold_outside_one_to_one_hundred_is_refused_with_the_input_kept(
    client, login, db_session, threshold
):
    login("physician")
    html = client.get(f"/reports/relief?threshold={threshold}").get_data(as_text=True)
    assert "The relief threshold is a percent from 1 to 100" in html
    assert html.count("The relief threshold is a percent from 1 to 100") == 2  # summary + field
    assert f'value="{threshold}"' in html
    assert "relief-table" not in html


def test_the_chart_is_drawn_at_exactly_the_threshold_the_page_used(client, login, db_session):
    responder()
    login("manager")
    html = client.get("/reports/relief?threshold=33.35").get_data(as_text=True)
    assert "chart.svg?threshold=33.35&amp;" in html
    assert "at 33.4% relief or more" in html


def test_a_link_that_names_only_the_grouping_keeps_the_default_threshold(client, login, db_session):
    responder()
    login("physician")
    html = client.get("/reports/relief?group_by=physician").get_data(as_text=True)
    assert "Relief per physician" in html and "at 50% relief or more" in html
    assert "relief-table" in html


def test_filters_on_the_page_narrow_and_regroup_the_report(client, login, db_session):
    okafor = PhysicianFactory(full_name="Dr. Adaeze Okafor")
    responder(physician=okafor, ended_on=100)
    responder("RFA", ended_on=50)
    login("manager")
    html = client.get(
        f"/reports/relief?physician_id={okafor.id}&threshold=30&group_by=condition"
    ).get_data(as_text=True)
    assert "Relief per condition" in html
    assert "by Dr. Adaeze Okafor" in html and "at 30% relief or more" in html
    assert "Herniated disc</th>" in html
    assert "of 1 completed, 1 was evaluable and 1 responded (100.0%)" in html
    assert f"physician_id={okafor.id}" in html and "threshold=30" in html


def test_the_page_and_chart_send_as_many_statements_for_sixty_interventions_as_for_ten(
    client, login, db_session, app
):
    login("manager")
    codes = itertools.cycle(["ESI-TF", "RFA", "MBB"])

    def statements(interventions: int) -> int:
        existing = db_session.execute(select(func.count()).select_from(Intervention)).scalar_one()
        for n in range(existing, interventions):
            responder(next(codes), ended_on=30 + n if n % 2 else None, last=40 + n)
        db_session.commit()
        with count_statements(app) as counter:
            page = client.get("/reports/relief?threshold=50&group_by=procedure")
            assert page.status_code == 200
            assert client.get("/reports/relief/chart.svg?threshold=50").status_code == 200
        return counter.count

    assert statements(10) == statements(60)
