"""Repeat eligibility read as the payers' coverage documents write it (docs/rules.md).

Pure tests of the engine: no fixtures, no database. The rules are the seeded rows of the
migrations, typed out below and checked against them; every date is worked out in a comment.
The six findings of issue 20 each have a test named for them, then the edges: exactly N
calendar months, the 31st, 29 February, a window's first and last day, 49/50% and 79/80%.
"""

import importlib.util
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from clinic.services.relief.eligibility import (
    PastProcedure,
    Regions,
    Rule,
    assess_patient,
    assess_target,
    documented_relief,
    parse_codes,
    rule_from_row,
    targets_of,
)
from clinic.services.relief.rules import Score
from clinic.services.relief.windows import months_after, rolling_window_start

LUMBAR, CERVICAL = "lumbar_sacral", "cervical_thoracic"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations" / "versions"


def migration(pattern: str):
    path = next(MIGRATIONS.glob(pattern))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PAYERS = migration("*spinal_regions_and_payer_rules*.py")
INITIAL = migration("*initial_schema*.py")


def seeded_rows() -> list[SimpleNamespace]:
    """The four rules as the migrations leave them: the first migration's codes and counts, with
    the payer definitions of the regions migration."""
    rows = []
    for (
        code,
        description,
        targets,
        priors,
        pct,
        _days,
        count,
        sessions,
        _window,
    ) in INITIAL.REPEAT_ELIGIBILITY_RULES:
        months, window, per_region, trial_days, description = PAYERS.PAYER_RULES[code]
        rows.append(
            SimpleNamespace(
                code=code,
                description=description,
                target_codes=targets,
                prior_codes=priors,
                min_relief_pct=pct,
                min_relief_months=months,
                required_prior_count=count,
                max_sessions=sessions,
                window_months=window,
                per_region=per_region,
                trial_days=trial_days,
                active=True,
            )
        )
    return rows


RULES = [rule_from_row(row) for row in seeded_rows()]
REGIONS = Regions(
    {level: CERVICAL for level in PAYERS.CERVICAL_THORACIC}
    | {level: LUMBAR for level in PAYERS.LUMBAR_SACRAL},
    {"ESI-CA": LUMBAR},
)

_ids = iter(range(1, 10_000))


def proc(
    code: str,
    performed_on: date,
    *scores: Score,
    baseline: int | None = 8,
    region: str | None = LUMBAR,
    peak: float | None = None,
) -> PastProcedure:
    """A completed procedure (baseline 8, lumbar, unless said otherwise) with its scores."""
    return PastProcedure(
        next(_ids), code, performed_on, baseline, scores, region=region, peak_relief_pct=peak
    )


def relieved(day: date) -> Score:
    return Score(day, 2)  # baseline 8 → 75%


def unrelieved(day: date) -> Score:
    return Score(day, 7)  # baseline 8 → 12.5%


def check_of(assessment, rule_code: str):
    (found,) = [check for check in assessment.checks if check.rule.code == rule_code]
    return found


# --- the rule table and the regions -----------------------------------------------------------


def test_seeded_rules_read_as_the_payers_write_them():
    by_code = {rule.code: rule for rule in RULES}
    epidural, rfa = by_code["epidural-repeat"], by_code["rfa-repeat"]
    assert (epidural.min_relief_months, epidural.window_months, epidural.max_sessions) == (3, 12, 4)
    assert (rfa.min_relief_months, rfa.window_months, rfa.max_sessions) == (6, 12, 2)
    assert epidural.per_region and rfa.per_region and by_code["mbb-to-rfa"].per_region
    scs = by_code["scs-trial-to-implant"]
    assert (scs.per_region, scs.trial_days) == (False, 10)
    assert by_code["mbb-to-rfa"].required_prior_count == 2
    assert epidural.is_repeat and not by_code["mbb-to-rfa"].is_repeat


def test_rule_from_row_tolerates_commas_an_unsaved_default_and_a_missing_attribute():
    row = SimpleNamespace(**{**vars(seeded_rows()[0]), "target_codes": " ESI-IL, ESI-TF  "})
    row.required_prior_count = None
    del row.per_region, row.trial_days, row.active
    rule = rule_from_row(row)
    assert rule.target_codes == frozenset({"ESI-IL", "ESI-TF"})
    assert (rule.required_prior_count, rule.per_region, rule.trial_days, rule.active) == (
        1,
        False,
        None,
        True,
    )
    assert Rule("x", "", "RFA", ["MBB", "RFA"], 50, None, 1, None, None).target_codes == {"RFA"}
    assert parse_codes(None) == parse_codes("") == frozenset()


@pytest.mark.parametrize(
    "level, region",
    [
        ("L4-L5", LUMBAR),
        ("l5-s1", LUMBAR),
        ("L4-L5, L5-S1", LUMBAR),
        ("T12-L1", LUMBAR),  # spans both: lumbar/sacral
        ("sacrococcygeal", LUMBAR),
        ("C5-C6", CERVICAL),
        ("C7-T1", CERVICAL),
        ("T8-T10", CERVICAL),
        ("T12", CERVICAL),
        ("C5-C6, L4-L5", None),  # two regions: none
        ("X9", None),
        ("", None),
        (None, None),
    ],
)
def test_each_level_belongs_to_its_region(level, region):
    assert REGIONS.level_region(level) == region


def test_a_caudal_epidural_is_lumbar_sacral_whatever_its_level():
    assert REGIONS.region_of("ESI-CA", None) == LUMBAR
    assert REGIONS.region_of("ESI-CA", "C6-C7") == LUMBAR
    assert REGIONS.region_of("ESI-IL", "C6-C7") == CERVICAL


# --- calendar months and rolling windows ------------------------------------------------------


@pytest.mark.parametrize(
    "day, months, expected",
    [
        (date(2026, 1, 31), 3, date(2026, 4, 30)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2028, 2, 29), -12, date(2027, 2, 28)),
        (date(2026, 7, 9), 3, date(2026, 10, 9)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 5, 31), -1, date(2026, 4, 30)),
    ],
)
def test_months_after_counts_calendar_months_clamped_to_the_months_end(day, months, expected):
    assert months_after(day, months) == expected


def test_a_rolling_year_starts_the_day_after_the_same_date_a_year_before():
    assert rolling_window_start(date(2026, 11, 27), 12) == date(2025, 11, 28)
    # One year before 29 February is 28 February: the window starts on 1 March.
    assert rolling_window_start(date(2028, 2, 29), 12) == date(2027, 3, 1)


# --- the six findings -------------------------------------------------------------------------


def test_finding_1_sessions_and_priors_are_counted_per_spinal_region():
    # Lumbar RFA 2025-01-10 relieved through 2025-11-06 (300 days); a cervical RFA 2025-12-01
    # that failed. On 2026-02-01 a lumbar repeat is judged on the lumbar RFA only.
    lumbar = proc(
        "RFA", date(2025, 1, 10), relieved(date(2025, 1, 24)), relieved(date(2025, 11, 6))
    )
    cervical = proc("RFA", date(2025, 12, 1), unrelieved(date(2025, 12, 15)), region=CERVICAL)
    on = date(2026, 2, 1)
    lumbar_repeat = assess_target(RULES, "RFA", [lumbar, cervical], on, LUMBAR)
    assert lumbar_repeat.eligible is True
    check = check_of(lumbar_repeat, "rfa-repeat")
    assert check.reasons[1] == (
        "Met: RFA on 2025-01-10 gave ≥ 50% relief documented from 2025-01-24 to 2025-11-06; "
        "still relieved at the last score — needs a relieved score on or after 2025-07-10 "
        "(6 months)"
    )
    # The rolling 12 months 2025-02-02 … 2026-02-01 hold no lumbar RFA; the cervical one is
    # of another region.
    assert check.reasons[2] == (
        "Met: no RFA session in the lumbar/sacral region in the rolling 12 months from "
        "2025-02-02 to 2026-02-01; with this one 1 — at most 2 allowed"
    )
    cervical_repeat = assess_target(RULES, "RFA", [lumbar, cervical], on, CERVICAL)
    assert cervical_repeat.eligible is False
    assert [p.procedure for p in check_of(cervical_repeat, "rfa-repeat").priors] == [cervical]


def test_finding_2_relief_that_had_ended_does_not_document_three_months():
    # ESI 2026-07-09, baseline 8: NRS 2 on day 14, NRS 7 on days 90 and 120. Three calendar
    # months after is 2026-10-09; the only relieved score is 2026-07-23.
    esi = proc(
        "ESI-TF",
        date(2026, 7, 9),
        relieved(date(2026, 7, 23)),
        unrelieved(date(2026, 10, 7)),
        unrelieved(date(2026, 11, 6)),
    )
    assessment = assess_target(RULES, "ESI-TF", [esi], date(2026, 12, 1), LUMBAR)
    assert assessment.eligible is False
    check = check_of(assessment, "epidural-repeat")
    assert check.reasons[1] == (
        "Missed: ESI-TF on 2026-07-09 gave ≥ 50% relief documented from 2026-07-23 to "
        "2026-07-23; relief ended 2026-10-07 — needs a relieved score on or after 2026-10-09 "
        "(3 months)"
    )
    assert check.deciding_dates == [date(2026, 7, 9), date(2026, 7, 23), date(2026, 10, 7)]


@pytest.mark.parametrize(
    "code, performed_on, last_relieved, eligible",
    [
        # ESI: 3 calendar months after 2026-07-09 is 2026-10-09, day 92 (not day 90).
        ("ESI-TF", date(2026, 7, 9), date(2026, 10, 7), False),  # day 90
        ("ESI-TF", date(2026, 7, 9), date(2026, 10, 9), True),  # exactly 3 months
        # RFA: 6 calendar months after 2026-01-10 is 2026-07-10, day 181 (not day 180).
        ("RFA", date(2026, 1, 10), date(2026, 7, 7), False),  # day 178: 6 months minus 3 days
        ("RFA", date(2026, 1, 10), date(2026, 7, 10), True),  # exactly 6 months
    ],
)
def test_finding_3_months_are_calendar_months(code, performed_on, last_relieved, eligible):
    prior = proc(
        code, performed_on, relieved(performed_on.replace(day=20)), relieved(last_relieved)
    )
    assessment = assess_target(RULES, code, [prior], date(2026, 12, 1), LUMBAR)
    assert assessment.eligible is eligible


def test_finding_4_only_scores_during_the_trial_count():
    # SCS trial 2026-03-01: NRS 8 on days 3 and 7, NRS 2 on day 150: the trial failed.
    trial = proc(
        "SCS-TRIAL",
        date(2026, 3, 1),
        Score(date(2026, 3, 4), 8),
        Score(date(2026, 3, 8), 8),
        Score(date(2026, 7, 29), 2),
    )
    assessment = assess_target(RULES, "SCS-IMPLANT", [trial], date(2026, 8, 1))
    assert assessment.eligible is False
    assert check_of(assessment, "scs-trial-to-implant").reasons[1] == (
        "Missed: SCS-TRIAL on 2026-03-01 did not give ≥ 50% relief during the 10-day trial "
        "(2026-03-02 to 2026-03-11) (best 0% on 2026-03-04)"
    )


@pytest.mark.parametrize(
    "day, eligible",
    [
        (date(2026, 3, 1), False),  # the performed date itself: not a follow-up
        (date(2026, 3, 2), True),  # day 1, the trial's first day
        (date(2026, 3, 11), True),  # day 10, its last
        (date(2026, 3, 12), False),  # day 11: after the trial
    ],
)
def test_the_trials_first_and_last_day(day, eligible):
    trial = proc("SCS-TRIAL", date(2026, 3, 1), relieved(day))
    assert assess_target(RULES, "SCS-IMPLANT", [trial], date(2026, 4, 1)).eligible is eligible


def block(performed_on: date, percent: int, peak: float | None = None) -> PastProcedure:
    return proc(
        "MBB",
        performed_on,
        Score(performed_on.replace(day=performed_on.day + 1), 3, percent),
        peak=peak,
    )


def test_finding_5_a_poor_recent_block_counts_against_the_first_rfa():
    # 85% (2026-01-05), then 79% (2026-02-02) and 80% (2026-03-02): the two most recent are
    # judged, and 79% < 80%.
    blocks = [block(date(2026, 1, 5), 85), block(date(2026, 2, 2), 79), block(date(2026, 3, 2), 80)]
    assessment = assess_target(RULES, "RFA", blocks, date(2026, 4, 1), LUMBAR)
    assert assessment.eligible is False
    check = check_of(assessment, "mbb-to-rfa")
    assert check.reasons[1] == (
        "Missed: 1 of the 2 most recent MBB in the lumbar/sacral region (2026-03-02) gave "
        "≥ 80% relief — needs all 2"
    )
    assert [p.procedure.performed_on for p in check.priors] == [date(2026, 2, 2), date(2026, 3, 2)]


@pytest.mark.parametrize("second, eligible", [(79, False), (80, True)])
def test_two_blocks_at_79_and_80_percent(second, eligible):
    blocks = [block(date(2026, 2, 2), 80), block(date(2026, 3, 2), second)]
    assert assess_target(RULES, "RFA", blocks, date(2026, 4, 1), LUMBAR).eligible is eligible


def test_a_diary_peak_decides_a_block_where_there_is_one():
    blocks = [block(date(2026, 2, 2), 60, peak=90), block(date(2026, 3, 2), 85)]
    assessment = assess_target(RULES, "RFA", blocks, date(2026, 4, 1), LUMBAR)
    assert assessment.eligible is True
    assert check_of(assessment, "mbb-to-rfa").reasons[2] == (
        "Met: MBB on 2026-02-02 gave ≥ 80% relief (diary peak 90%; best score 60%)"
    )


def test_blocks_of_another_region_do_not_open_the_first_rfa():
    blocks = [block(date(2026, 2, 2), 90), block(date(2026, 3, 2), 90)]
    assert assess_target(RULES, "RFA", blocks, date(2026, 4, 1), CERVICAL).eligible is False
    assert assess_target(RULES, "RFA", blocks, date(2026, 4, 1), LUMBAR).eligible is True


def test_finding_6_the_first_procedure_rules_are_listed_per_region():
    # Two good lumbar blocks: the RFA of the lumbar region is listed, and eligible.
    blocks = [block(date(2026, 2, 2), 90), block(date(2026, 3, 2), 90)]
    trial = proc("SCS-TRIAL", date(2026, 3, 1), relieved(date(2026, 3, 4)), region=CERVICAL)
    found = assess_patient(RULES, [*blocks, trial], date(2026, 4, 1), REGIONS)
    assert [(a.target_code, a.region, a.eligible) for a in found] == [
        ("RFA", LUMBAR, True),
        ("SCS-IMPLANT", None, True),
    ]


# --- edges -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "last_relieved, eligible",
    [(date(2026, 8, 30), False), (date(2026, 8, 31), True)],
)
def test_three_months_after_the_31st(last_relieved, eligible):
    # 2026-05-31 + 3 months = 2026-08-31.
    esi = proc("ESI-IL", date(2026, 5, 31), relieved(date(2026, 6, 14)), relieved(last_relieved))
    assert assess_target(RULES, "ESI-IL", [esi], date(2026, 12, 1), LUMBAR).eligible is eligible


def test_six_months_after_the_31st_of_august_is_the_end_of_february():
    rfa = proc("RFA", date(2025, 8, 31), relieved(date(2025, 9, 14)), relieved(date(2026, 2, 28)))
    assert assess_target(RULES, "RFA", [rfa], date(2026, 9, 1), LUMBAR).eligible is True


@pytest.mark.parametrize(
    "last_relieved, eligible",
    [(date(2028, 5, 28), False), (date(2028, 5, 29), True)],
)
def test_three_months_after_29_february(last_relieved, eligible):
    esi = proc("ESI-IL", date(2028, 2, 29), relieved(date(2028, 3, 14)), relieved(last_relieved))
    assert assess_target(RULES, "ESI-IL", [esi], date(2028, 12, 1), LUMBAR).eligible is eligible


@pytest.mark.parametrize(
    "oldest, eligible",
    [
        (date(2025, 11, 28), False),  # the window's first day: inside, 3 with the planned one
        (date(2025, 11, 27), True),  # the day before: outside
    ],
)
def test_the_session_windows_first_day(oldest, eligible):
    # On 2026-11-27 the rolling 12 months run 2025-11-28 … 2026-11-27.
    first = proc("RFA", oldest, relieved(date(2025, 12, 10)), relieved(date(2026, 6, 1)))
    second = proc("RFA", date(2026, 5, 1), relieved(date(2026, 5, 15)), relieved(date(2026, 11, 2)))
    assessment = assess_target(RULES, "RFA", [first, second], date(2026, 11, 27), LUMBAR)
    assert assessment.eligible is eligible
    assert check_of(assessment, "rfa-repeat").window == (date(2025, 11, 28), date(2026, 11, 27))


def test_a_session_on_the_windows_last_day_counts():
    # Three epidurals earlier in the window and one on the planned day itself: five with the
    # planned one, and four are allowed.
    days = [date(2026, 2, 2), date(2026, 5, 4), date(2026, 8, 3)]
    earlier = [proc("ESI-TF", day, relieved(months_after(day, 3))) for day in days]
    today = proc("ESI-TF", date(2026, 11, 27), relieved(date(2026, 11, 27)))
    on = date(2026, 11, 27)
    assert assess_target(RULES, "ESI-TF", earlier, on, LUMBAR).eligible is True
    assessment = assess_target(RULES, "ESI-TF", [*earlier, today], on, LUMBAR)
    assert len(check_of(assessment, "epidural-repeat").sessions) == 4
    assert assessment.eligible is False


def test_the_rolling_year_before_29_february():
    # Planned 2028-02-29: the window starts 2027-03-01 (one year before is 2027-02-28).
    good = [relieved(date(2027, 3, 10)), relieved(date(2027, 9, 10))]
    inside = [proc("RFA", date(2027, 3, 1), *good), proc("RFA", date(2027, 9, 1), *good[1:])]
    check = check_of(assess_target(RULES, "RFA", inside, date(2028, 2, 29), LUMBAR), "rfa-repeat")
    assert check.window == (date(2027, 3, 1), date(2028, 2, 29))
    assert len(check.sessions) == 2 and check.met is False


@pytest.mark.parametrize("percent, documented", [(49, date(2026, 1, 19)), (50, date(2026, 4, 5))])
def test_49_percent_ends_the_run_and_50_keeps_it(percent, documented):
    scores = [Score(date(2026, 1, 19), 2), Score(date(2026, 4, 5), 4, percent)]
    assert documented_relief(8, date(2026, 1, 5), scores, 50) == documented


def test_relief_regained_after_a_break_does_not_document_the_months():
    esi = proc(
        "ESI-TF",
        date(2026, 1, 5),
        relieved(date(2026, 1, 19)),
        unrelieved(date(2026, 3, 1)),
        relieved(date(2026, 4, 10)),
    )
    assert assess_target(RULES, "ESI-TF", [esi], date(2026, 6, 1), LUMBAR).eligible is False


def test_ongoing_relief_qualifies_by_its_last_relieved_score_never_by_today():
    esi = proc("ESI-TF", date(2026, 1, 5), relieved(date(2026, 1, 19)))
    assert assess_target(RULES, "ESI-TF", [esi], date(2027, 1, 1), LUMBAR).eligible is False


def test_scores_after_the_assessment_day_are_not_known_yet():
    esi = proc("ESI-TF", date(2026, 1, 5), relieved(date(2026, 1, 19)), relieved(date(2026, 4, 6)))
    assert assess_target(RULES, "ESI-TF", [esi], date(2026, 4, 5), LUMBAR).eligible is False
    assert assess_target(RULES, "ESI-TF", [esi], date(2026, 4, 6), LUMBAR).eligible is True


def test_a_planned_procedure_without_a_region_cannot_be_judged_per_region():
    esi = proc("ESI-TF", date(2026, 1, 5), relieved(date(2026, 4, 6)))
    assessment = assess_target(RULES, "ESI-TF", [esi], date(2026, 6, 1), None)
    assert assessment.eligible is False
    assert check_of(assessment, "epidural-repeat").reasons == [
        "Missed: the planned ESI-TF has no spinal level that names a region, and this rule "
        "counts per region — give the level"
    ]


def test_a_caudal_epidural_is_never_listed_as_cervical():
    esi = proc("ESI-IL", date(2026, 1, 5), relieved(date(2026, 4, 6)), region=CERVICAL)
    assert targets_of(RULES, [esi], date(2026, 6, 1), REGIONS) == [
        ("ESI-IL", CERVICAL),
        ("ESI-TF", CERVICAL),
    ]
    lumbar = proc("ESI-TF", date(2026, 2, 5), region=LUMBAR)
    assert ("ESI-CA", LUMBAR) in targets_of(RULES, [esi, lumbar], date(2026, 6, 1), REGIONS)


def test_a_history_without_levels_is_listed_once_without_a_region():
    esi = proc("ESI-IL", date(2026, 1, 5), relieved(date(2026, 4, 6)), region=None)
    assert targets_of(RULES, [esi], date(2026, 6, 1), REGIONS) == [
        ("ESI-CA", LUMBAR),
        ("ESI-IL", None),
        ("ESI-TF", None),
    ]


def test_a_code_no_rule_names_has_no_checks_and_inactive_rules_are_skipped():
    fji = proc("FJI", date(2026, 1, 5), relieved(date(2026, 4, 6)))
    assert assess_target(RULES, "FJI", [fji], date(2026, 6, 1), LUMBAR).checks == []
    off = [Rule(**{**vars(rule), "active": False}) for rule in RULES]
    assert assess_target(off, "RFA", [], date(2026, 6, 1), LUMBAR).checks == []
