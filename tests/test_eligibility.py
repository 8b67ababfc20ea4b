"""Repeat eligibility (DESIGN.md section 4), driven by the seeded rule table.

Pure tests: no fixtures, no database. Every day count and window is worked out by hand in a
comment; the relief behind each prior follows tests/test_relief.py's rules.
"""

import importlib.util
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from clinic.services.relief.eligibility import (
    PastProcedure,
    Rule,
    assess_patient,
    assess_target,
    parse_codes,
    rule_from_row,
)
from clinic.services.relief.rules import Score, summarise

# The four seeded rows, typed out from the first migration (and checked against it below).
SEEDED_ROWS = [
    SimpleNamespace(
        code="epidural-repeat",
        description="Repeat epidural: prior ≥ 50% relief lasting ≥ 3 months; "
        "at most 4 sessions per rolling 12 months",
        target_codes="ESI-IL ESI-TF ESI-CA",
        prior_codes="ESI-IL ESI-TF ESI-CA",
        min_relief_pct=50,
        min_relief_days=90,
        required_prior_count=1,
        max_sessions=4,
        window_days=365,
        active=True,
    ),
    SimpleNamespace(
        code="rfa-repeat",
        description="Repeat RFA: prior ≥ 50% relief lasting ≥ 6 months; "
        "at most 2 sessions per rolling 12 months",
        target_codes="RFA",
        prior_codes="RFA",
        min_relief_pct=50,
        min_relief_days=180,
        required_prior_count=1,
        max_sessions=2,
        window_days=365,
        active=True,
    ),
    SimpleNamespace(
        code="mbb-to-rfa",
        description="First RFA: two medial branch blocks, each with ≥ 80% relief",
        target_codes="RFA",
        prior_codes="MBB",
        min_relief_pct=80,
        min_relief_days=None,
        required_prior_count=2,
        max_sessions=None,
        window_days=None,
        active=True,
    ),
    SimpleNamespace(
        code="scs-trial-to-implant",
        description="SCS implant: ≥ 50% relief during the stimulator trial",
        target_codes="SCS-IMPLANT",
        prior_codes="SCS-TRIAL",
        min_relief_pct=50,
        min_relief_days=None,
        required_prior_count=1,
        max_sessions=None,
        window_days=None,
        active=True,
    ),
]
RULES = [rule_from_row(row) for row in SEEDED_ROWS]

_ids = iter(range(1, 10_000))


def proc(code: str, performed_on: date, *scores: Score, baseline: int | None = 8) -> PastProcedure:
    """A completed procedure (baseline 8 unless said otherwise) with its follow-up scores."""
    return PastProcedure(next(_ids), code, performed_on, baseline, scores)


def check_of(assessment, rule_code: str):
    (found,) = [check for check in assessment.checks if check.rule.code == rule_code]
    return found


# --- the rule table ---------------------------------------------------------------------------


def test_hand_typed_rules_match_the_migration_seeds():
    path = next(Path(__file__).parent.parent.glob("migrations/versions/*initial_schema*.py"))
    spec = importlib.util.spec_from_file_location("initial_schema", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    typed = [
        (
            row.code,
            row.description,
            row.target_codes,
            row.prior_codes,
            row.min_relief_pct,
            row.min_relief_days,
            row.required_prior_count,
            row.max_sessions,
            row.window_days,
        )
        for row in SEEDED_ROWS
    ]
    assert typed == [tuple(seed) for seed in migration.REPEAT_ELIGIBILITY_RULES]


def test_rule_from_row_reads_space_separated_codes():
    epidural = RULES[0]
    assert epidural.code == "epidural-repeat"
    assert epidural.target_codes == frozenset({"ESI-IL", "ESI-TF", "ESI-CA"})
    assert epidural.prior_codes == epidural.target_codes
    assert epidural.min_relief_pct == 50
    assert epidural.min_relief_days == 90
    assert epidural.max_sessions == 4
    assert epidural.window_days == 365
    assert epidural.active is True


def test_repeat_and_initial_rules_are_told_apart_by_overlapping_codes():
    by_code = {rule.code: rule for rule in RULES}
    assert by_code["epidural-repeat"].is_repeat is True
    assert by_code["rfa-repeat"].is_repeat is True
    assert by_code["mbb-to-rfa"].is_repeat is False
    assert by_code["scs-trial-to-implant"].is_repeat is False
    assert by_code["rfa-repeat"].has_session_limit is True
    assert by_code["mbb-to-rfa"].has_session_limit is False


def test_rule_from_row_tolerates_commas_an_unsaved_default_and_an_inactive_row():
    row = SimpleNamespace(**{**vars(SEEDED_ROWS[0]), "target_codes": " ESI-IL, ESI-TF  "})
    row.required_prior_count = None
    row.active = False
    rule = rule_from_row(row)
    assert rule.target_codes == frozenset({"ESI-IL", "ESI-TF"})
    assert rule.required_prior_count == 1
    assert rule.active is False


def test_rule_from_row_works_without_an_active_attribute():
    row = SimpleNamespace(**{k: v for k, v in vars(SEEDED_ROWS[1]).items() if k != "active"})
    assert rule_from_row(row).active is True


def test_rule_accepts_codes_as_a_string_or_a_list():
    rule = Rule("x", "", "RFA", ["MBB", "RFA"], 50, None, 1, None, None)
    assert rule.target_codes == frozenset({"RFA"})  # not {"R", "F", "A"}
    assert rule.prior_codes == frozenset({"MBB", "RFA"})
    assert parse_codes(None) == frozenset()
    assert parse_codes("") == frozenset()


def test_past_procedure_keeps_its_scores_as_a_tuple():
    procedure = PastProcedure(1, "RFA", date(2026, 1, 10), 8, [Score(date(2026, 1, 24), nrs=2)])
    assert procedure.scores == (Score(date(2026, 1, 24), nrs=2),)
    hash(procedure)


def test_a_prior_summed_by_the_database_is_judged_from_its_sum():
    # The outcomes export sends each prior's follow-ups already summed per threshold (no
    # scores). Summed as relief.summarise does, they must give the same verdict and reasons.
    rfa = proc("RFA", date(2026, 1, 10), *RFA_212_DAYS)
    summed = PastProcedure(
        rfa.intervention_id,
        "RFA",
        rfa.performed_on,
        rfa.baseline,
        summed={50: summarise(8, rfa.performed_on, RFA_212_DAYS, 50)},
    )
    from_scores = check_of(assess_target(RULES, "RFA", [rfa], ON), "rfa-repeat")
    from_sum = check_of(assess_target(RULES, "RFA", [summed], ON), "rfa-repeat")
    assert from_sum == from_scores
    assert from_sum.met is True
    # The sum decides, not the (absent) scores: a sum whose relief ended at day 92 misses.
    short = summed.summed[50]._replace(lost_on=date(2026, 4, 12))
    missed = PastProcedure(1, "RFA", rfa.performed_on, 8, summed={50: short})
    assert check_of(assess_target(RULES, "RFA", [missed], ON), "rfa-repeat").met is False
    # Sums without the rule's threshold are a mistake to be told, not a prior without scores.
    with pytest.raises(KeyError):
        assess_target(
            RULES, "RFA", [PastProcedure(2, "RFA", rfa.performed_on, 8, summed={80: short})], ON
        )


# --- RFA: repeat rule ---------------------------------------------------------------------------

# RFA performed 2026-01-10, baseline 8: 2026-01-24 NRS 2 → 75% ✓ (onset), 2026-04-10 NRS 3 →
# 62.5% ✓, 2026-08-10 NRS 6 → 25% ✗ (event). Jan 10 → Aug 10 = 31 + 28 + 31 + 30 + 31 + 30 + 31
# = 212 days.
RFA_212_DAYS = (
    Score(date(2026, 1, 24), nrs=2),
    Score(date(2026, 4, 10), nrs=3),
    Score(date(2026, 8, 10), nrs=6),
)
# On 2026-11-27 the 365-day window starts 364 days earlier: 2026-11-27 − 365 days = 2025-11-27
# (no 29 February in between), + 1 day = 2025-11-28.
ON = date(2026, 11, 27)


def good_mbbs():
    """Two medial branch blocks each ≥ 80%: 100 × (8 − 1) / 8 = 87.5 and a reported 90."""
    return [
        proc("MBB", date(2025, 10, 1), Score(date(2025, 10, 2), nrs=1)),
        proc("MBB", date(2025, 10, 15), Score(date(2025, 10, 16), nrs=3, percent_relief=90)),
    ]


def test_repeat_rfa_is_eligible_after_212_days_of_relief_and_one_session():
    history = [*good_mbbs(), proc("RFA", date(2026, 1, 10), *RFA_212_DAYS)]
    assessment = assess_target(RULES, "RFA", history, ON)
    assert assessment.target_code == "RFA"
    assert assessment.eligible is True

    repeat = check_of(assessment, "rfa-repeat")
    assert repeat.applies is True
    assert repeat.met is True
    assert repeat.reasons == [
        "Applies: a repeat — RFA already performed on 2026-01-10",
        "Met: RFA on 2026-01-10 gave ≥ 50% relief for 212 days (from 2026-01-24 to 2026-08-10)"
        " — needs 180",
        # Only the 2026-01-10 RFA falls in 2025-11-28 … 2026-11-27; the planned one makes 2 ≤ 2.
        "Met: 1 RFA session (2026-01-10) in the 365 days from 2025-11-28 to 2026-11-27;"
        " with this one 2 — at most 2 allowed",
    ]
    assert repeat.deciding_dates == [date(2026, 1, 10), date(2026, 1, 24), date(2026, 8, 10)]
    assert assessment.met_checks == [repeat]


def test_after_a_first_rfa_the_mbb_rule_no_longer_applies():
    history = [*good_mbbs(), proc("RFA", date(2026, 1, 10), *RFA_212_DAYS)]
    initial = check_of(assess_target(RULES, "RFA", history, ON), "mbb-to-rfa")
    assert initial.applies is False
    assert initial.met is False
    assert initial.reasons == [
        "Does not apply: RFA already performed on 2026-01-10; this rule is for a first RFA"
    ]
    assert initial.deciding_dates == [date(2026, 1, 10)]


def test_repeat_rfa_is_missed_after_92_days_of_relief_despite_good_blocks():
    # Relief lost 2026-04-12: Jan 10 → Apr 10 = 31 + 28 + 31 = 90, + 2 = 92 days < 180.
    # The two ≥ 80% blocks qualified the first RFA; they cannot rescue a repeat.
    rfa = proc(
        "RFA",
        date(2026, 1, 10),
        Score(date(2026, 1, 24), nrs=2),  # 75% ✓ onset
        Score(date(2026, 4, 12), nrs=5),  # 100 × 3 / 8 = 37.5% ✗ event
    )
    assessment = assess_target(RULES, "RFA", [*good_mbbs(), rfa], ON)
    assert assessment.eligible is False
    repeat = check_of(assessment, "rfa-repeat")
    assert repeat.applies is True
    assert repeat.met is False
    assert repeat.reasons[1] == (
        "Missed: RFA on 2026-01-10 gave ≥ 50% relief for 92 days (from 2026-01-24 to 2026-04-12)"
        " — needs 180"
    )
    # The session part was still fine, and says so.
    assert repeat.reasons[2].startswith("Met: 1 RFA session (2026-01-10)")
    assert assessment.met_checks == []


def test_ongoing_relief_counts_with_its_censored_duration():
    # Still relieved at the last score 2026-07-20 (100 × 5 / 8 = 62.5% ✓): censored there.
    # Jan 10 → Jul 10 = 181 days, + 10 = 191 ≥ 180.
    rfa = proc(
        "RFA",
        date(2026, 1, 10),
        Score(date(2026, 1, 24), nrs=2),
        Score(date(2026, 7, 20), nrs=3),
    )
    repeat = check_of(assess_target(RULES, "RFA", [rfa], ON), "rfa-repeat")
    assert repeat.met is True
    assert repeat.reasons[1] == (
        "Met: RFA on 2026-01-10 gave ≥ 50% relief for 191 days so far (from 2026-01-24;"
        " still relieved at the last score on 2026-07-20) — needs 180"
    )
    assert repeat.deciding_dates == [date(2026, 1, 10), date(2026, 1, 24), date(2026, 7, 20)]


def test_ongoing_relief_too_short_so_far_is_missed():
    # Last score 2026-06-10, still relieved: Jan 10 → Jun 10 = 31 + 28 + 31 + 30 + 31 = 151 < 180.
    rfa = proc(
        "RFA",
        date(2026, 1, 10),
        Score(date(2026, 1, 24), nrs=2),
        Score(date(2026, 6, 10), nrs=2),
    )
    assessment = assess_target(RULES, "RFA", [rfa], ON)
    assert assessment.eligible is False
    assert check_of(assessment, "rfa-repeat").reasons[1] == (
        "Missed: RFA on 2026-01-10 gave ≥ 50% relief for 151 days so far (from 2026-01-24;"
        " still relieved at the last score on 2026-06-10) — needs 180"
    )


def session_limit_history():
    """RFA A on 2025-11-28 (no scores: it is not the most recent, so never judged) and RFA B on
    2026-05-01, relieved 2026-05-15 and still at 2026-11-20 (75% each): censored at
    May 1 → Nov 1 = 31 + 30 + 31 + 31 + 30 + 31 = 184, + 19 = 203 days ≥ 180."""
    return [
        proc("RFA", date(2025, 11, 28)),
        proc(
            "RFA",
            date(2026, 5, 1),
            Score(date(2026, 5, 15), nrs=2),
            Score(date(2026, 11, 20), nrs=2),
        ),
    ]


def test_session_364_days_back_is_inside_the_365_day_window():
    # On 2026-11-27 the window is 2025-11-28 … 2026-11-27 (see ON): RFA A is 364 days back, the
    # window's first day ("day 1" of 365, with the planned one on day 365). Two sessions already:
    # the planned one would be the third > 2.
    assessment = assess_target(RULES, "RFA", session_limit_history(), ON)
    assert assessment.eligible is False
    repeat = check_of(assessment, "rfa-repeat")
    assert repeat.applies is True
    assert repeat.met is False
    assert repeat.reasons == [
        "Applies: a repeat — RFA already performed on 2026-05-01",
        "Met: RFA on 2026-05-01 gave ≥ 50% relief for 203 days so far (from 2026-05-15;"
        " still relieved at the last score on 2026-11-20) — needs 180",
        "Missed: 2 RFA sessions (2025-11-28, 2026-05-01) in the 365 days from 2025-11-28"
        " to 2026-11-27; with this one 3 — at most 2 allowed",
    ]
    assert repeat.deciding_dates == [
        date(2025, 11, 28),
        date(2026, 5, 1),
        date(2026, 5, 15),
        date(2026, 11, 20),
    ]


def test_session_365_days_back_has_left_the_window():
    # A day later, on 2026-11-28, the window is 2025-11-29 … 2026-11-28 and RFA A (365 days back,
    # "day 366") has left it: one session, the planned one makes 2 ≤ 2.
    assessment = assess_target(RULES, "RFA", session_limit_history(), date(2026, 11, 28))
    assert assessment.eligible is True
    assert check_of(assessment, "rfa-repeat").reasons[2] == (
        "Met: 1 RFA session (2026-05-01) in the 365 days from 2025-11-29 to 2026-11-28;"
        " with this one 2 — at most 2 allowed"
    )


def test_only_the_most_recent_rfa_is_judged_for_a_repeat():
    # RFA 1 (2025-01-10) relieved 75% at 2025-01-24 and 2025-09-01 — a good result, but old.
    # RFA 2 (2025-12-01) scored NRS 6 on 2025-12-15: 100 × 2 / 8 = 25% — the one that counts.
    history = [
        proc(
            "RFA",
            date(2025, 1, 10),
            Score(date(2025, 1, 24), nrs=2),
            Score(date(2025, 9, 1), nrs=2),
        ),
        proc("RFA", date(2025, 12, 1), Score(date(2025, 12, 15), nrs=6)),
    ]
    assessment = assess_target(RULES, "RFA", history, ON)
    assert assessment.eligible is False
    repeat = check_of(assessment, "rfa-repeat")
    assert repeat.reasons == [
        "Applies: a repeat — RFA already performed on 2025-12-01",
        "Missed: RFA on 2025-12-01 did not give ≥ 50% relief (best 25% on 2025-12-15)",
        # Window 2025-11-28 … 2026-11-27: RFA 2 inside, RFA 1 not.
        "Met: 1 RFA session (2025-12-01) in the 365 days from 2025-11-28 to 2026-11-27;"
        " with this one 2 — at most 2 allowed",
    ]
    assert date(2025, 1, 10) not in repeat.deciding_dates


def test_history_order_does_not_matter():
    # The same two RFAs as above, given newest first: still the 2025-12-01 one is judged.
    history = [
        proc("RFA", date(2025, 12, 1), Score(date(2025, 12, 15), nrs=6)),
        proc("RFA", date(2025, 1, 10), Score(date(2025, 1, 24), nrs=2)),
    ]
    repeat = check_of(assess_target(RULES, "RFA", history, ON), "rfa-repeat")
    assert repeat.reasons[0] == "Applies: a repeat — RFA already performed on 2025-12-01"
    assert repeat.met is False


def test_no_session_left_in_the_window_is_met():
    # RFA 2025-06-01: 75% on 2025-06-15, 25% on 2026-01-10 → event at
    # Jun 1 → Jan 1 = 30 + 31 + 31 + 30 + 31 + 30 + 31 = 214, + 9 = 223 days ≥ 180.
    # It lies before the window 2025-11-28 … 2026-11-27, so no session counts.
    rfa = proc(
        "RFA",
        date(2025, 6, 1),
        Score(date(2025, 6, 15), nrs=2),
        Score(date(2026, 1, 10), nrs=6),
    )
    assessment = assess_target(RULES, "RFA", [rfa], ON)
    assert assessment.eligible is True
    assert check_of(assessment, "rfa-repeat").reasons[1:] == [
        "Met: RFA on 2025-06-01 gave ≥ 50% relief for 223 days (from 2025-06-15 to 2026-01-10)"
        " — needs 180",
        "Met: no RFA session in the 365 days from 2025-11-28 to 2026-11-27;"
        " with this one 1 — at most 2 allowed",
    ]


def test_a_poor_old_rfa_does_not_spoil_a_good_recent_one():
    # RFA 1 (2025-01-10): 25% only. RFA 2 (2025-12-01): 75% at 2025-12-15, 62.5% at 2026-06-15,
    # censored there: Dec 1 → Jan 1 31, Feb 1 62, Mar 1 90, Apr 1 121, May 1 151, Jun 1 182,
    # + 14 = 196 ≥ 180.
    history = [
        proc("RFA", date(2025, 1, 10), Score(date(2025, 1, 24), nrs=6)),
        proc(
            "RFA",
            date(2025, 12, 1),
            Score(date(2025, 12, 15), nrs=2),
            Score(date(2026, 6, 15), nrs=3),
        ),
    ]
    assessment = assess_target(RULES, "RFA", history, ON)
    assert assessment.eligible is True
    assert check_of(assessment, "rfa-repeat").reasons[1] == (
        "Met: RFA on 2025-12-01 gave ≥ 50% relief for 196 days so far (from 2025-12-15;"
        " still relieved at the last score on 2026-06-15) — needs 180"
    )


def test_a_not_evaluable_last_rfa_is_missed_with_the_reason():
    rfa = proc("RFA", date(2026, 11, 1))  # no follow-up score yet
    repeat = check_of(assess_target(RULES, "RFA", [rfa], ON), "rfa-repeat")
    assert repeat.met is False
    assert repeat.reasons[1] == (
        "Missed: RFA on 2026-11-01 — relief cannot be assessed (no follow-up score yet)"
    )


# --- RFA: initial rule (medial branch blocks) ----------------------------------------------------

MBB_ON = date(2026, 3, 1)


def test_first_rfa_needs_two_medial_branch_blocks_each_of_80_percent():
    history = [
        # 100 × (8 − 1) / 8 = 87.5% ≥ 80.
        proc("MBB", date(2026, 2, 2), Score(date(2026, 2, 3), nrs=1)),
        # Reported 80% (NRS alone: 100 × 4 / 8 = 50%): 80 ≥ 80.
        proc("MBB", date(2026, 2, 16), Score(date(2026, 2, 17), nrs=4, percent_relief=80)),
    ]
    assessment = assess_target(RULES, "RFA", history, MBB_ON)
    assert assessment.eligible is True

    repeat = check_of(assessment, "rfa-repeat")
    assert repeat.applies is False
    assert repeat.reasons == [
        "Does not apply: no RFA on or before 2026-03-01; this rule is for a repeat"
    ]
    assert repeat.deciding_dates == []

    initial = check_of(assessment, "mbb-to-rfa")
    assert initial.applies is True
    assert initial.met is True
    assert initial.reasons == [
        "Applies: a first RFA — none on or before 2026-03-01",
        "Met: 2 of 2 MBB (2026-02-02, 2026-02-16) gave ≥ 80% relief — needs 2",
        "Met: MBB on 2026-02-02 gave ≥ 80% relief (from 2026-02-03)",
        "Met: MBB on 2026-02-16 gave ≥ 80% relief (from 2026-02-17)",
    ]
    assert initial.deciding_dates == [
        date(2026, 2, 2),
        date(2026, 2, 3),
        date(2026, 2, 16),
        date(2026, 2, 17),
    ]


def test_two_blocks_with_only_one_of_80_percent_is_missed():
    history = [
        proc("MBB", date(2026, 2, 2), Score(date(2026, 2, 3), nrs=1)),  # 87.5% ✓
        proc("MBB", date(2026, 2, 16), Score(date(2026, 2, 17), nrs=3)),  # 100 × 5 / 8 = 62.5% ✗
    ]
    assessment = assess_target(RULES, "RFA", history, MBB_ON)
    assert assessment.eligible is False
    initial = check_of(assessment, "mbb-to-rfa")
    assert initial.met is False
    assert initial.reasons[1:] == [
        "Missed: 1 of 2 MBB (2026-02-02) gave ≥ 80% relief — needs 2",
        "Met: MBB on 2026-02-02 gave ≥ 80% relief (from 2026-02-03)",
        "Missed: MBB on 2026-02-16 did not give ≥ 80% relief (best 62.5% on 2026-02-17)",
    ]


def test_one_qualifying_block_is_not_enough_when_two_are_required():
    history = [proc("MBB", date(2026, 2, 2), Score(date(2026, 2, 3), nrs=1))]  # 87.5% ✓
    initial = check_of(assess_target(RULES, "RFA", history, MBB_ON), "mbb-to-rfa")
    assert initial.met is False
    assert initial.reasons[1] == "Missed: 1 of 1 MBB (2026-02-02) gave ≥ 80% relief — needs 2"


def test_any_two_blocks_may_qualify_a_first_rfa():
    # Initial rule: any two of the three, not the most recent two.
    history = [
        proc("MBB", date(2026, 1, 5), Score(date(2026, 1, 6), nrs=0)),  # 100% ✓
        proc("MBB", date(2026, 1, 19), Score(date(2026, 1, 20), nrs=4)),  # 50% ✗ at 80
        proc("MBB", date(2026, 2, 2), Score(date(2026, 2, 3), nrs=1)),  # 87.5% ✓
    ]
    initial = check_of(assess_target(RULES, "RFA", history, MBB_ON), "mbb-to-rfa")
    assert initial.met is True
    assert initial.reasons[1] == (
        "Met: 2 of 3 MBB (2026-01-05, 2026-02-02) gave ≥ 80% relief — needs 2"
    )
    assert initial.reasons[3] == (
        "Missed: MBB on 2026-01-19 did not give ≥ 80% relief (best 50% on 2026-01-20)"
    )


def test_first_rfa_without_any_block_is_missed():
    assessment = assess_target(RULES, "RFA", [], MBB_ON)
    assert assessment.eligible is False
    initial = check_of(assessment, "mbb-to-rfa")
    assert initial.applies is True
    assert initial.reasons == [
        "Applies: a first RFA — none on or before 2026-03-01",
        "Missed: no MBB on or before 2026-03-01 — needs 2 with ≥ 80% relief",
    ]


# --- SCS trial → implant -----------------------------------------------------------------------

TRIAL_ON = date(2026, 3, 10)


def test_implant_after_a_trial_of_57_percent_relief_is_eligible():
    # Baseline 7, NRS 3: 100 × 4 / 7 = 57.1% ≥ 50.
    trial = proc("SCS-TRIAL", date(2026, 3, 2), Score(date(2026, 3, 5), nrs=3), baseline=7)
    assessment = assess_target(RULES, "SCS-IMPLANT", [trial], TRIAL_ON)
    assert assessment.eligible is True
    (only,) = assessment.checks
    assert only.rule.code == "scs-trial-to-implant"
    assert only.reasons == [
        "Applies: a first SCS-IMPLANT — none on or before 2026-03-10",
        "Met: SCS-TRIAL on 2026-03-02 gave ≥ 50% relief (from 2026-03-05)",
    ]
    assert only.deciding_dates == [date(2026, 3, 2), date(2026, 3, 5)]


def test_implant_after_a_trial_of_43_percent_relief_is_missed():
    # Baseline 7, NRS 4: 100 × 3 / 7 = 42.857…% → "42.9" < 50.
    trial = proc("SCS-TRIAL", date(2026, 3, 2), Score(date(2026, 3, 5), nrs=4), baseline=7)
    assessment = assess_target(RULES, "SCS-IMPLANT", [trial], TRIAL_ON)
    assert assessment.eligible is False
    assert assessment.checks[0].reasons[1] == (
        "Missed: SCS-TRIAL on 2026-03-02 did not give ≥ 50% relief (best 42.9% on 2026-03-05)"
    )


@pytest.mark.parametrize(
    ("baseline", "scores", "why"),
    [
        (None, (Score(date(2026, 3, 5), nrs=1),), "no baseline"),
        (0, (Score(date(2026, 3, 5), nrs=0, percent_relief=90),), "baseline pain 0"),
        (7, (), "no follow-up score yet"),
        # A score on the trial day itself is not a follow-up.
        (7, (Score(date(2026, 3, 2), nrs=1),), "no follow-up score yet"),
    ],
)
def test_a_trial_that_cannot_be_assessed_is_missed_with_the_reason(baseline, scores, why):
    trial = proc("SCS-TRIAL", date(2026, 3, 2), *scores, baseline=baseline)
    assessment = assess_target(RULES, "SCS-IMPLANT", [trial], TRIAL_ON)
    assert assessment.eligible is False
    assert assessment.checks[0].reasons[1] == (
        f"Missed: SCS-TRIAL on 2026-03-02 — relief cannot be assessed ({why})"
    )


def test_a_second_implant_has_no_applicable_rule():
    trial = proc("SCS-TRIAL", date(2026, 3, 2), Score(date(2026, 3, 5), nrs=3), baseline=7)
    implant = proc("SCS-IMPLANT", date(2026, 3, 20))
    assessment = assess_target(RULES, "SCS-IMPLANT", [trial, implant], date(2027, 1, 4))
    assert assessment.eligible is False
    (only,) = assessment.checks
    assert only.applies is False
    assert only.reasons == [
        "Does not apply: SCS-IMPLANT already performed on 2026-03-20;"
        " this rule is for a first SCS-IMPLANT"
    ]


# --- epidurals ----------------------------------------------------------------------------------


def test_repeat_epidural_after_119_days_of_relief_is_eligible_for_any_epidural_code():
    # ESI-TF 2026-01-05, baseline 7:
    #   2026-01-19 reported 60% ✓ (NRS 5 alone: 100 × 2 / 7 = 28.6%) — onset
    #   2026-04-06 NRS 3 → 100 × 4 / 7 = 57.1% ✓
    #   2026-05-04 NRS 6 → 100 × 1 / 7 = 14.3% ✗ — event
    # Jan 5 → Feb 5 31, Mar 5 59, Apr 5 90, May 5 120 → May 4 = 119 ≥ 90.
    # Window on 2026-06-01: 2026-06-01 − 365 days = 2025-06-01, + 1 = 2025-06-02.
    esi = proc(
        "ESI-TF",
        date(2026, 1, 5),
        Score(date(2026, 1, 19), nrs=5, percent_relief=60),
        Score(date(2026, 4, 6), nrs=3),
        Score(date(2026, 5, 4), nrs=6),
        baseline=7,
    )
    assessment = assess_target(RULES, "ESI-IL", [esi], date(2026, 6, 1))
    assert assessment.eligible is True
    (only,) = assessment.checks
    assert only.reasons == [
        "Applies: a repeat — ESI-TF already performed on 2026-01-05",
        "Met: ESI-TF on 2026-01-05 gave ≥ 50% relief for 119 days (from 2026-01-19 to 2026-05-04)"
        " — needs 90",
        "Met: 1 ESI-CA, ESI-IL or ESI-TF session (ESI-TF 2026-01-05) in the 365 days"
        " from 2025-06-02 to 2026-06-01; with this one 2 — at most 4 allowed",
    ]


def test_repeat_epidural_after_74_days_of_relief_is_missed():
    # 2026-01-19 NRS 2 → 100 × 5 / 7 = 71.4% ✓; 2026-03-20 NRS 5 → 28.6% ✗.
    # Jan 5 → Mar 5 = 31 + 28 = 59, + 15 = 74 < 90.
    esi = proc(
        "ESI-TF",
        date(2026, 1, 5),
        Score(date(2026, 1, 19), nrs=2),
        Score(date(2026, 3, 20), nrs=5),
        baseline=7,
    )
    assessment = assess_target(RULES, "ESI-TF", [esi], date(2026, 6, 1))
    assert assessment.eligible is False
    assert assessment.checks[0].reasons[1] == (
        "Missed: ESI-TF on 2026-01-05 gave ≥ 50% relief for 74 days (from 2026-01-19 to 2026-03-20)"
        " — needs 90"
    )


def epidural_series():
    """Four epidurals of three codes; the last (ESI-TF 2026-06-01) relieved 75% on 2026-06-15 and
    still on 2026-09-10: Jun 1 → Jul 1 30, Aug 1 61, Sep 1 92, + 9 = 101 days ≥ 90."""
    return [
        proc("ESI-CA", date(2025, 12, 1)),
        proc("ESI-TF", date(2026, 2, 1)),
        proc("ESI-IL", date(2026, 4, 1)),
        proc(
            "ESI-TF",
            date(2026, 6, 1),
            Score(date(2026, 6, 15), nrs=2),
            Score(date(2026, 9, 10), nrs=2),
        ),
    ]


def test_four_epidurals_of_any_code_in_365_days_block_a_fifth():
    # On 2026-09-15: window 2026-09-15 − 364 days = 2025-09-16 … 2026-09-15; all four inside.
    assessment = assess_target(RULES, "ESI-IL", epidural_series(), date(2026, 9, 15))
    assert assessment.eligible is False
    (only,) = assessment.checks
    assert only.reasons == [
        "Applies: a repeat — ESI-TF already performed on 2026-06-01",
        "Met: ESI-TF on 2026-06-01 gave ≥ 50% relief for 101 days so far (from 2026-06-15;"
        " still relieved at the last score on 2026-09-10) — needs 90",
        "Missed: 4 ESI-CA, ESI-IL or ESI-TF sessions (ESI-CA 2025-12-01, ESI-TF 2026-02-01,"
        " ESI-IL 2026-04-01, ESI-TF 2026-06-01) in the 365 days from 2025-09-16 to 2026-09-15;"
        " with this one 5 — at most 4 allowed",
    ]


def test_three_epidurals_in_365_days_allow_a_fourth():
    history = epidural_series()[1:]  # without the ESI-CA of 2025-12-01
    assessment = assess_target(RULES, "ESI-CA", history, date(2026, 9, 15))
    assert assessment.eligible is True
    assert assessment.checks[0].reasons[2] == (
        "Met: 3 ESI-CA, ESI-IL or ESI-TF sessions (ESI-TF 2026-02-01, ESI-IL 2026-04-01,"
        " ESI-TF 2026-06-01) in the 365 days from 2025-09-16 to 2026-09-15;"
        " with this one 4 — at most 4 allowed"
    )


def test_a_first_epidural_has_no_applicable_rule():
    assessment = assess_target(RULES, "ESI-IL", [], date(2026, 6, 1))
    assert assessment.eligible is False
    (only,) = assessment.checks
    assert only.applies is False
    assert only.reasons == [
        "Does not apply: no ESI-CA, ESI-IL or ESI-TF on or before 2026-06-01;"
        " this rule is for a repeat"
    ]


# --- what is known on the day ------------------------------------------------------------------


def test_procedures_after_the_day_are_ignored():
    # An RFA dated 2026-12-01 is after ON (2026-11-27): as of ON this would be a first RFA.
    history = [*good_mbbs(), proc("RFA", date(2026, 12, 1), *RFA_212_DAYS)]
    assessment = assess_target(RULES, "RFA", history, ON)
    assert check_of(assessment, "rfa-repeat").applies is False
    initial = check_of(assessment, "mbb-to-rfa")
    assert initial.applies is True
    assert initial.met is True
    assert assessment.eligible is True


def test_scores_after_the_day_are_ignored():
    # As of 2026-07-20 the 2026-01-24 (75% ✓) and 2026-04-10 (62.5% ✓) scores were known, the
    # 2026-08-10 one (25% ✗) not yet: relief still ongoing, censored at 2026-04-10:
    # Jan 10 → Apr 10 = 31 + 28 + 31 = 90 days so far < 180.
    rfa = proc("RFA", date(2026, 1, 10), *RFA_212_DAYS)
    repeat = check_of(assess_target(RULES, "RFA", [rfa], date(2026, 7, 20)), "rfa-repeat")
    assert repeat.met is False
    assert repeat.reasons[1] == (
        "Missed: RFA on 2026-01-10 gave ≥ 50% relief for 90 days so far (from 2026-01-24;"
        " still relieved at the last score on 2026-04-10) — needs 180"
    )
    # Once the 2026-08-10 score is in, relief ended at day 212.
    assert assess_target(RULES, "RFA", [rfa], ON).eligible is True


def test_a_procedure_on_the_day_itself_counts():
    # An RFA performed on ON itself is on or before ON: this is no longer a first RFA.
    history = [*good_mbbs(), proc("RFA", ON)]
    assessment = assess_target(RULES, "RFA", history, ON)
    assert check_of(assessment, "mbb-to-rfa").applies is False
    assert check_of(assessment, "rfa-repeat").applies is True


# --- rules as data ------------------------------------------------------------------------------


def test_an_inactive_rule_is_skipped():
    rules = [
        rule_from_row(SimpleNamespace(**{**vars(row), "active": row.code != "rfa-repeat"}))
        for row in SEEDED_ROWS
    ]
    history = [proc("RFA", date(2026, 1, 10), *RFA_212_DAYS)]
    assessment = assess_target(rules, "RFA", history, ON)
    assert [check.rule.code for check in assessment.checks] == ["mbb-to-rfa"]
    assert assessment.eligible is False


def test_a_code_no_rule_names_gets_no_checks():
    assessment = assess_target(RULES, "FJI", [proc("FJI", date(2026, 1, 5))], ON)
    assert assessment.target_code == "FJI"
    assert assessment.eligible is False
    assert assessment.checks == []


def test_a_new_rule_in_the_table_works_without_code_changes():
    # Facet injections: ≥ 30% for ≥ 60 days. Baseline 10: 2026-02-15 NRS 7 → 30% (≥ 30 ✓),
    # 2026-04-15 NRS 6 → 40% ✓, censored: Feb 1 → Mar 1 28, Apr 1 59, + 14 = 73 ≥ 60.
    fji_rule = Rule("fji-repeat", "Repeat facet injection", "FJI", "FJI", 30, 60, 1, None, None)
    fji = proc(
        "FJI",
        date(2026, 2, 1),
        Score(date(2026, 2, 15), nrs=7),
        Score(date(2026, 4, 15), nrs=6),
        baseline=10,
    )
    assessment = assess_target([*RULES, fji_rule], "FJI", [fji], date(2026, 5, 1))
    assert assessment.eligible is True
    (only,) = assessment.checks
    assert only.reasons == [
        "Applies: a repeat — FJI already performed on 2026-02-01",
        "Met: FJI on 2026-02-01 gave ≥ 30% relief for 73 days so far (from 2026-02-15;"
        " still relieved at the last score on 2026-04-15) — needs 60",
    ]


def test_one_met_rule_among_several_applicable_is_enough():
    # Two rules for the same target: one asks 80% (missed by 75%), one asks 50% (met).
    strict = Rule("strict", "", "FJI", "FJI", 80, None, 1, None, None)
    lenient = Rule("lenient", "", "FJI", "FJI", 50, None, 1, None, None)
    fji = proc("FJI", date(2026, 2, 1), Score(date(2026, 2, 15), nrs=2))  # 75%
    assessment = assess_target([strict, lenient], "FJI", [fji], date(2026, 5, 1))
    assert assessment.eligible is True
    assert [check.rule.code for check in assessment.met_checks] == ["lenient"]
    assert check_of(assessment, "strict").applies is True
    assert check_of(assessment, "strict").met is False


TWO_RFA_RULE = Rule("rfa-two", "Two good RFAs", "RFA", "RFA", 50, None, 2, None, None)


def test_a_repeat_rule_needing_two_judges_the_two_most_recent():
    # RFA 2025-01-10 75% ✓ (ignored: not among the two most recent), 2025-06-01 75% ✓,
    # 2025-12-01 25% ✗ → 1 of the 2 most recent.
    history = [
        proc("RFA", date(2025, 1, 10), Score(date(2025, 1, 24), nrs=2)),
        proc("RFA", date(2025, 6, 1), Score(date(2025, 6, 15), nrs=2)),
        proc("RFA", date(2025, 12, 1), Score(date(2025, 12, 15), nrs=6)),
    ]
    (check,) = assess_target([TWO_RFA_RULE], "RFA", history, date(2026, 3, 1)).checks
    assert check.met is False
    assert check.reasons == [
        "Applies: a repeat — RFA already performed on 2025-12-01",
        "Missed: 1 of the 2 most recent RFA (2025-06-01) gave ≥ 50% relief — needs all 2",
        "Met: RFA on 2025-06-01 gave ≥ 50% relief (from 2025-06-15)",
        "Missed: RFA on 2025-12-01 did not give ≥ 50% relief (best 25% on 2025-12-15)",
    ]


def test_a_repeat_rule_needing_two_with_only_one_prior_is_missed():
    history = [proc("RFA", date(2025, 1, 10), Score(date(2025, 1, 24), nrs=2))]
    (check,) = assess_target([TWO_RFA_RULE], "RFA", history, date(2026, 3, 1)).checks
    assert check.met is False
    assert check.reasons[1] == (
        "Missed: only 1 RFA on or before 2026-03-01 (2025-01-10) — needs the 2 most recent"
        " to each give ≥ 50% relief"
    )


# --- the patient's page: every relevant target ---------------------------------------------------


def test_assess_patient_lists_targets_touched_by_the_history_sorted():
    history = [
        proc("SCS-TRIAL", date(2026, 3, 2), Score(date(2026, 3, 5), nrs=3), baseline=7),
        proc("ESI-TF", date(2026, 1, 5), Score(date(2026, 1, 19), nrs=2), baseline=7),
    ]
    on = date(2026, 6, 1)
    assessments = assess_patient(RULES, history, on)
    # ESI-TF touches epidural-repeat (all three ESI codes); SCS-TRIAL touches the implant rule.
    assert [a.target_code for a in assessments] == ["ESI-CA", "ESI-IL", "ESI-TF", "SCS-IMPLANT"]
    assert assessments == [
        assess_target(RULES, code, history, on)
        for code in ["ESI-CA", "ESI-IL", "ESI-TF", "SCS-IMPLANT"]
    ]


def test_assess_patient_after_blocks_lists_the_rfa():
    history = [proc("MBB", date(2026, 2, 2), Score(date(2026, 2, 3), nrs=1))]
    assert [a.target_code for a in assess_patient(RULES, history, MBB_ON)] == ["RFA"]


def test_assess_patient_without_relevant_history_lists_nothing():
    assert assess_patient(RULES, [], ON) == []
    assert assess_patient(RULES, [proc("FJI", date(2026, 1, 5))], ON) == []
    # A procedure after the day is not history yet.
    assert assess_patient(RULES, [proc("RFA", date(2026, 12, 1))], ON) == []


def test_assess_patient_ignores_inactive_rules():
    rules = [
        rule_from_row(SimpleNamespace(**{**vars(row), "active": row.code != "epidural-repeat"}))
        for row in SEEDED_ROWS
    ]
    assert assess_patient(rules, [proc("ESI-TF", date(2026, 1, 5))], ON) == []
