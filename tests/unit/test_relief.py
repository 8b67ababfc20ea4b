"""The relief engine (docs/rules.md, Relief and its duration): percent relief, evaluable, responder, onset, duration.

Pure tests: no fixtures, no database. Every expected number is worked out by hand in a comment.
"""

from datetime import date, timedelta

import pytest

from clinic.services.relief.rules import (
    Outcome,
    Score,
    assess,
    format_percent,
    percent_relief,
    relief_status_text,
)

PERFORMED = date(2026, 1, 10)


def day(n: int) -> date:
    """The date n days after the performed date (2026-01-10)."""
    return PERFORMED + timedelta(days=n)


# --- percent relief --------------------------------------------------------------------------


def test_percent_relief_is_derived_from_baseline_and_nrs():
    # 100 × (8 − 2) / 8 = 600 / 8 = 75
    assert percent_relief(8, Score(day(14), nrs=2)) == 75.0


def test_percent_relief_is_not_rounded():
    # 100 × (3 − 1) / 3 = 200 / 3 = 66.666…
    assert percent_relief(3, Score(day(14), nrs=1)) == pytest.approx(200 / 3)


def test_reported_percent_overrides_the_nrs_derived_value():
    # NRS alone would give 100 × (8 − 2) / 8 = 75; the patient said 30.
    assert percent_relief(8, Score(day(14), nrs=2, percent_relief=30)) == 30.0


def test_reported_zero_percent_still_overrides():
    # 0 is a recorded value, not "nothing recorded": NRS alone would give 100 × 10 / 10 = 100.
    assert percent_relief(10, Score(day(14), nrs=0, percent_relief=0)) == 0.0


def test_reported_percent_needs_no_baseline():
    assert percent_relief(None, Score(day(14), nrs=5, percent_relief=40)) == 40.0
    assert percent_relief(0, Score(day(14), nrs=5, percent_relief=40)) == 40.0


def test_no_percent_without_a_reported_value_or_a_baseline():
    assert percent_relief(None, Score(day(14), nrs=5)) is None
    assert percent_relief(0, Score(day(14), nrs=0)) is None


def test_pain_worse_than_baseline_gives_negative_relief():
    # 100 × (4 − 6) / 4 = −200 / 4 = −50: kept negative, not clamped.
    assert percent_relief(4, Score(day(14), nrs=6)) == -50.0


def test_format_percent():
    assert format_percent(50) == "50"
    assert format_percent(75.0) == "75"
    assert format_percent(200 / 3) == "66.7"
    assert format_percent(-50.0) == "-50"


# --- not evaluable ---------------------------------------------------------------------------


def test_no_baseline_is_not_evaluable():
    outcome = assess(None, PERFORMED, [Score(day(14), nrs=2, percent_relief=90)])
    assert outcome.evaluable is False
    assert outcome.responder is None
    assert outcome.not_evaluable_reason == "no baseline"
    # The follow-up itself is still counted and dated; relief is unknown.
    assert outcome.followups == 1
    assert outcome.last_followup_on == day(14)
    assert outcome.best_relief_pct is None
    assert outcome.onset_on is None
    assert outcome.relief_days is None
    assert outcome.relief_ongoing is None


def test_baseline_zero_is_not_evaluable():
    # Nothing to relieve: 100 × (0 − 0) / 0 is undefined, even with a reported percent.
    outcome = assess(0, PERFORMED, [Score(day(14), nrs=0, percent_relief=100)])
    assert outcome.evaluable is False
    assert outcome.responder is None
    assert outcome.not_evaluable_reason == "baseline pain 0"


def test_baseline_one_is_evaluable():
    # Baseline ≥ 1 is enough: 100 × (1 − 0) / 1 = 100.
    outcome = assess(1, PERFORMED, [Score(day(14), nrs=0)])
    assert outcome.evaluable is True
    assert outcome.responder is True
    assert outcome.best_relief_pct == 100.0


def test_not_completed_is_not_evaluable():
    outcome = assess(8, PERFORMED, [Score(day(14), nrs=1)], completed=False)
    assert outcome.evaluable is False
    assert outcome.responder is None
    assert outcome.not_evaluable_reason == "not completed"


def test_no_scores_is_not_evaluable():
    outcome = assess(8, PERFORMED, [])
    assert outcome.evaluable is False
    assert outcome.not_evaluable_reason == "no follow-up score yet"
    assert outcome.followups == 0
    assert outcome.last_followup_on is None


def test_no_performed_date_is_not_evaluable():
    outcome = assess(8, None, [Score(day(14), nrs=1)])
    assert outcome.evaluable is False
    assert outcome.not_evaluable_reason == "no performed date"
    assert outcome.followups == 0


def test_first_reason_wins_when_several_apply():
    # Not completed AND no baseline AND no scores: the order is completed, date, baseline, scores.
    assert assess(None, PERFORMED, [], completed=False).not_evaluable_reason == "not completed"
    assert assess(None, PERFORMED, []).not_evaluable_reason == "no baseline"
    assert assess(None, None, []).not_evaluable_reason == "no performed date"


# --- scores on or before the performed date --------------------------------------------------


def test_scores_on_or_before_the_performed_date_are_ignored():
    # Baseline 8. The day-of score (NRS 1 → 100 × 7 / 8 = 87.5) and the score 3 days before
    # (NRS 0 → 100) are not follow-ups; the only follow-up, day 14 NRS 6, gives 100 × 2 / 8 = 25.
    scores = [
        Score(day(-3), nrs=0),
        Score(PERFORMED, nrs=1),
        Score(day(14), nrs=6),
    ]
    outcome = assess(8, PERFORMED, scores)
    assert outcome.evaluable is True
    assert outcome.followups == 1
    assert outcome.responder is False
    assert outcome.best_relief_pct == 25.0
    assert outcome.best_relief_on == day(14)


def test_only_scores_on_or_before_the_performed_date_is_not_evaluable():
    outcome = assess(8, PERFORMED, [Score(day(-1), nrs=1), Score(PERFORMED, nrs=0)])
    assert outcome.evaluable is False
    assert outcome.not_evaluable_reason == "no follow-up score yet"
    assert outcome.followups == 0


def test_a_score_on_the_performed_date_neither_starts_nor_ends_relief():
    # Baseline 10. Day-of score NRS 9 (10%) would end relief if it counted; it doesn't.
    # Day 1 NRS 2 → 80% relieved (onset), day 7 NRS 3 → 70% relieved: censored at day 7.
    scores = [Score(day(7), nrs=3), Score(PERFORMED, nrs=9), Score(day(1), nrs=2)]
    outcome = assess(10, PERFORMED, scores)
    assert outcome.onset_on == day(1)
    assert outcome.relief_days == 7
    assert outcome.relief_ongoing is True


# --- reported percent overriding, both directions --------------------------------------------


def test_reported_percent_can_deny_relief_the_nrs_shows():
    # Baseline 8, NRS 2 → 75% by NRS, but the patient reports 20% → not relieved at 50.
    outcome = assess(8, PERFORMED, [Score(day(14), nrs=2, percent_relief=20)])
    assert outcome.responder is False
    assert outcome.best_relief_pct == 20.0


def test_reported_percent_can_grant_relief_the_nrs_does_not_show():
    # Baseline 8, NRS 7 → 100 × 1 / 8 = 12.5% by NRS, but the patient reports 60% → relieved.
    outcome = assess(8, PERFORMED, [Score(day(14), nrs=7, percent_relief=60)])
    assert outcome.responder is True
    assert outcome.best_relief_pct == 60.0
    assert outcome.onset_on == day(14)


def test_reported_percent_can_end_relief():
    # Baseline 8. Day 14 NRS 2 → 75% (onset). Day 42 NRS 2 again (75% by NRS) but reported 30%
    # → not relieved → event at day 42.
    scores = [Score(day(14), nrs=2), Score(day(42), nrs=2, percent_relief=30)]
    outcome = assess(8, PERFORMED, scores)
    assert outcome.relief_days == 42
    assert outcome.relief_ongoing is False
    assert outcome.relief_ended_on == day(42)


# --- thresholds ------------------------------------------------------------------------------

# Baseline 10, performed 2026-01-10. Percent relief = 100 × (10 − NRS) / 10 = 10 × (10 − NRS):
#   2026-01-24  NRS 6 → 40%   day 14  (Jan 10 + 14 = Jan 24)
#   2026-02-21  NRS 2 → 80%   day 42  (21 days to Jan 31, + 21 days = Feb 21)
#   2026-04-10  NRS 4 → 60%   day 90  (to Feb 10: 31, Mar 10: +28 = 59, Apr 10: +31 = 90)
#   2026-07-09  NRS 7 → 30%   day 180 (Apr 10: 90, May 10: 120, Jun 10: 151, Jul 10: 181 → Jul 9)
THRESHOLD_SCORES = [
    Score(date(2026, 1, 24), nrs=6),
    Score(date(2026, 2, 21), nrs=2),
    Score(date(2026, 4, 10), nrs=4),
    Score(date(2026, 7, 9), nrs=7),
]


def test_threshold_30_relieved_throughout_is_censored_at_the_last_score():
    # 40, 80, 60, 30 are all ≥ 30 (30 ≥ 30 is inclusive): onset day 14, no loss → censored at 180.
    outcome = assess(10, PERFORMED, THRESHOLD_SCORES, threshold=30)
    assert outcome.responder is True
    assert outcome.onset_on == date(2026, 1, 24)
    assert outcome.onset_days == 14
    assert outcome.relief_days == 180
    assert outcome.relief_ongoing is True
    assert outcome.relief_ended_on is None
    assert outcome.last_followup_on == date(2026, 7, 9)


def test_threshold_50_onset_later_and_relief_ends_at_day_180():
    # 40 ✗, 80 ✓ (onset day 42), 60 ✓, 30 ✗ (first loss after onset, day 180) → event at 180.
    outcome = assess(10, PERFORMED, THRESHOLD_SCORES, threshold=50)
    assert outcome.responder is True
    assert outcome.onset_on == date(2026, 2, 21)
    assert outcome.onset_days == 42
    assert outcome.relief_days == 180
    assert outcome.relief_ongoing is False
    assert outcome.relief_ended_on == date(2026, 7, 9)


def test_threshold_80_relief_ends_at_day_90():
    # 40 ✗, 80 ✓ (80 ≥ 80, onset day 42), 60 ✗ (first loss, day 90) → event at 90.
    outcome = assess(10, PERFORMED, THRESHOLD_SCORES, threshold=80)
    assert outcome.onset_days == 42
    assert outcome.relief_days == 90
    assert outcome.relief_ongoing is False
    assert outcome.relief_ended_on == date(2026, 4, 10)


def test_threshold_above_every_score_is_a_non_responder():
    # Best is 80% on 2026-02-21; 80 < 85.
    outcome = assess(10, PERFORMED, THRESHOLD_SCORES, threshold=85)
    assert outcome.evaluable is True
    assert outcome.responder is False
    assert outcome.best_relief_pct == 80.0
    assert outcome.best_relief_on == date(2026, 2, 21)
    assert outcome.onset_on is None
    assert outcome.relief_days is None
    assert outcome.relief_ongoing is None
    assert outcome.relief_ended_on is None


def test_outcome_remembers_its_threshold_and_performed_date():
    outcome = assess(10, PERFORMED, THRESHOLD_SCORES, threshold=30)
    assert outcome.threshold == 30
    assert outcome.performed_on == PERFORMED
    assert outcome.followups == 4


def test_exactly_fifty_percent_is_relieved_at_the_default_threshold():
    # Baseline 6, NRS 3 → 100 × 3 / 6 = 50 ≥ 50.
    assert assess(6, PERFORMED, [Score(day(14), nrs=3)]).responder is True


# --- lost and regained, single follow-up, never relieved, ongoing -----------------------------


def test_first_loss_after_onset_ends_relief_and_a_later_regain_is_ignored():
    # Baseline 8: day 14 NRS 2 → 75 ✓ (onset); day 42 NRS 5 → 37.5 ✗ (event);
    # day 90 NRS 1 → 87.5 ✓ and day 180 NRS 2 → 75 ✓ come too late to matter.
    scores = [
        Score(day(14), nrs=2),
        Score(day(42), nrs=5),
        Score(day(90), nrs=1),
        Score(day(180), nrs=2),
    ]
    outcome = assess(8, PERFORMED, scores)
    assert outcome.responder is True
    assert outcome.onset_days == 14
    assert outcome.relief_days == 42
    assert outcome.relief_ongoing is False
    assert outcome.relief_ended_on == day(42)
    # The best score is still reported: 87.5% at day 90.
    assert outcome.best_relief_pct == 87.5
    assert outcome.best_relief_on == day(90)
    assert outcome.last_followup_on == day(180)


def test_single_relieved_follow_up_is_censored_at_its_date():
    # Baseline 6, day 14 NRS 2 → 100 × 4 / 6 = 66.7 ✓: onset 14, censored at 14.
    outcome = assess(6, PERFORMED, [Score(day(14), nrs=2)])
    assert outcome.responder is True
    assert outcome.onset_days == 14
    assert outcome.relief_days == 14
    assert outcome.relief_ongoing is True
    assert outcome.relief_ended_on is None
    assert outcome.last_followup_on == day(14)


def test_single_unrelieved_follow_up_is_a_non_responder():
    # Baseline 6, day 14 NRS 4 → 100 × 2 / 6 = 33.3 ✗.
    outcome = assess(6, PERFORMED, [Score(day(14), nrs=4)])
    assert outcome.evaluable is True
    assert outcome.responder is False
    assert outcome.followups == 1
    assert outcome.best_relief_pct == pytest.approx(100 / 3)
    assert outcome.relief_days is None


def test_never_relieved_is_a_non_responder_with_its_best_score():
    # Baseline 9: NRS 7 → 22.2, NRS 5 → 44.4 (best, day 42), NRS 8 → 11.1; none ≥ 50.
    scores = [Score(day(14), nrs=7), Score(day(42), nrs=5), Score(day(90), nrs=8)]
    outcome = assess(9, PERFORMED, scores)
    assert outcome.responder is False
    assert outcome.followups == 3
    assert outcome.best_relief_pct == pytest.approx(400 / 9)
    assert outcome.best_relief_on == day(42)
    assert outcome.onset_on is None
    assert outcome.relief_ongoing is None
    assert outcome.last_followup_on == day(90)


def test_pain_worse_than_baseline_is_simply_not_relieved():
    # Baseline 4, NRS 6 → −50 and NRS 5 → −25: best is −25, not clamped to 0.
    outcome = assess(4, PERFORMED, [Score(day(14), nrs=6), Score(day(42), nrs=5)])
    assert outcome.responder is False
    assert outcome.best_relief_pct == -25.0


def test_onset_on_a_later_score_and_still_relieved_at_the_last_score():
    # Baseline 9: day 14 NRS 6 → 33.3 ✗; day 42 NRS 3 → 66.7 ✓ (onset); day 90 NRS 4 → 55.6 ✓.
    # No loss after onset → censored at the last score, day 90. The unrelieved score BEFORE
    # onset does not end anything.
    scores = [Score(day(14), nrs=6), Score(day(42), nrs=3), Score(day(90), nrs=4)]
    outcome = assess(9, PERFORMED, scores)
    assert outcome.onset_on == day(42)
    assert outcome.onset_days == 42
    assert outcome.relief_days == 90
    assert outcome.relief_ongoing is True
    assert outcome.relief_ended_on is None


def test_unsorted_scores_are_read_in_date_order():
    # Same scores as the lost-and-regained case, shuffled: onset 14, event 42.
    scores = [
        Score(day(90), nrs=1),
        Score(day(42), nrs=5),
        Score(day(180), nrs=2),
        Score(day(14), nrs=2),
    ]
    outcome = assess(8, PERFORMED, scores)
    assert outcome.onset_days == 14
    assert outcome.relief_days == 42
    assert outcome.relief_ongoing is False
    assert outcome.last_followup_on == day(180)


def test_unsorted_input_with_last_score_first_is_censored_at_the_latest_date():
    # Baseline 10, both relieved (80, 70): censored at the LATEST date, day 120, not the last given.
    outcome = assess(10, PERFORMED, [Score(day(120), nrs=3), Score(day(30), nrs=2)])
    assert outcome.onset_days == 30
    assert outcome.relief_days == 120
    assert outcome.relief_ongoing is True


def test_durations_count_calendar_days_across_a_leap_february():
    # Performed 2027-12-20, score 2028-03-01: Dec 20 → Jan 20 = 31, → Feb 20 = 31 (62),
    # → Feb 29 = 9 (71, 2028 is a leap year), → Mar 1 = 1: 72 days. Baseline 5, NRS 1 → 80 ✓.
    outcome = assess(5, date(2027, 12, 20), [Score(date(2028, 3, 1), nrs=1)])
    assert outcome.onset_days == 72
    assert outcome.relief_days == 72


def test_a_year_of_relief_ending_on_the_example_dates():
    # Performed 2026-01-10, onset 2026-01-24 (day 14), relief lost 2026-08-10:
    # Jan 10 → Feb 10 31, Mar 10 +28 = 59, Apr 10 +31 = 90, May 10 +30 = 120,
    # Jun 10 +31 = 151, Jul 10 +30 = 181, Aug 10 +31 = 212.
    scores = [Score(date(2026, 1, 24), nrs=2), Score(date(2026, 8, 10), nrs=6)]
    outcome = assess(8, PERFORMED, scores)
    assert outcome.onset_days == 14
    assert outcome.relief_days == 212
    assert outcome.relief_ended_on == date(2026, 8, 10)


def test_scores_may_be_any_iterable():
    outcome = assess(8, PERFORMED, (score for score in [Score(day(14), nrs=2)]))
    assert outcome.responder is True


# --- the phrase on the patient page ----------------------------------------------------------


def test_status_text_for_relief_that_ended():
    scores = [Score(day(14), nrs=2), Score(day(92), nrs=6)]  # 75 ✓ then 25 ✗ with baseline 8
    assert relief_status_text(assess(8, PERFORMED, scores)) == (
        "Responder: relief from day 14, ended at day 92"
    )


def test_status_text_for_ongoing_relief_names_its_onset():
    # Day 180 is 2026-07-09 (see THRESHOLD_SCORES); baseline 8: NRS 6 → 25 ✗ on day 14, then
    # NRS 2 → 75 ✓ on days 42 and 180: relief began on day 42 and is still going.
    scores = [Score(day(14), nrs=6), Score(day(42), nrs=2), Score(date(2026, 7, 9), nrs=2)]
    assert relief_status_text(assess(8, PERFORMED, scores)) == (
        "Responder: relief from day 42, ongoing at day 180 (last score 2026-07-09)"
    )


def test_status_text_for_a_non_responder_names_the_threshold():
    scores = [Score(day(14), nrs=6)]  # baseline 8 → 25%
    assert relief_status_text(assess(8, PERFORMED, scores)) == "No relief ≥ 50%"
    assert relief_status_text(assess(8, PERFORMED, scores, threshold=30)) == "No relief ≥ 30%"
    assert relief_status_text(assess(8, PERFORMED, scores, threshold=33.5)) == "No relief ≥ 33.5%"


@pytest.mark.parametrize(
    ("baseline", "scores", "completed", "text"),
    [
        (None, [Score(day(14), nrs=2)], True, "Not evaluable: no baseline"),
        (0, [Score(day(14), nrs=0)], True, "Not evaluable: baseline pain 0"),
        (8, [], True, "Not evaluable: no follow-up score yet"),
        (8, [Score(PERFORMED, nrs=2)], True, "Not evaluable: no follow-up score yet"),
        (8, [Score(day(14), nrs=2)], False, "Not evaluable: not completed"),
    ],
)
def test_status_text_gives_the_reason_it_is_not_evaluable(baseline, scores, completed, text):
    assert relief_status_text(assess(baseline, PERFORMED, scores, completed=completed)) == text


def test_status_text_reads_a_hand_built_outcome():
    outcome = Outcome(
        evaluable=True,
        responder=True,
        followups=2,
        onset_days=3,
        relief_days=30,
        relief_ongoing=False,
    )
    assert relief_status_text(outcome) == "Responder: relief from day 3, ended at day 30"
