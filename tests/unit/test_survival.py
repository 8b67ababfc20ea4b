"""The Kaplan–Meier and log-rank rules of docs/rules.md, Relief and its duration, as a pure function of durations.

Reference values come from a published textbook dataset (below), and the intervals and the
k-group log-rank test are cross-checked against lifelines, an independent implementation.
"""

import math

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test
from lifelines.utils import median_survival_times

from clinic.services.relief import survival
from clinic.services.relief.survival import kaplan_meier, log_rank
from tests.helpers.survival import PLACEBO, PUBLISHED_LOG_RANK, PUBLISHED_SIX_MP, SIX_MP

# Freireich et al. (1963), "The effect of 6-mercaptopurine on the duration of steroid-induced
# remissions in acute leukemia", Blood 21:699–716; as analysed by Gehan (1965, Biometrika 52:
# 203–233) and tabulated in Kleinbaum & Klein, "Survival Analysis: A Self-Learning Text",
# 3rd ed. (Springer 2012), chapter 2 "Kaplan–Meier Survival Curves and the Log-Rank Test"
# (DOI 10.1007/978-1-4419-6646-9_2). Remission in weeks; False marks a censored time ("6+").
# Kleinbaum & Klein's KM table for the 6-MP group, Ŝ(t) to the three decimals printed:
# 1 × 18/21, × 16/17, × 14/15, × 11/12, × 10/11, × 6/7, × 5/6.
PUBLISHED_MEDIANS = {"6-MP": 23, "placebo": 8}


def split(durations):
    return [d for d, _ in durations], [e for _, e in durations]


def row_on(estimate, day):
    return next(row for row in estimate.rows if row.day == day)


def test_the_textbook_kaplan_meier_estimates_are_reproduced_to_the_decimal_shown():
    """Kleinbaum & Klein, ch. 2: Ŝ(t) for 6-MP, the medians of both groups, the log-rank χ²."""
    six_mp = kaplan_meier(*split(SIX_MP))
    for week, published in PUBLISHED_SIX_MP.items():
        assert round(row_on(six_mp, week).relief_pct / 100, 3) == published, week
    assert six_mp.median_days == PUBLISHED_MEDIANS["6-MP"]
    assert kaplan_meier(*split(PLACEBO)).median_days == PUBLISHED_MEDIANS["placebo"]
    comparison = log_rank([split(SIX_MP), split(PLACEBO)])
    assert round(comparison.statistic, 2) == PUBLISHED_LOG_RANK
    assert comparison.df == 1
    assert comparison.p_value < 0.0001


def test_the_textbook_groups_tabulate_at_risk_events_and_censored_per_day():
    six_mp = kaplan_meier(*split(SIX_MP))
    assert [(r.day, r.at_risk, r.events, r.censored) for r in six_mp.rows[:4]] == [
        (6, 21, 3, 1),
        (7, 17, 1, 0),
        (9, 16, 0, 1),
        (10, 15, 1, 1),
    ]
    # One row per distinct day with an event or a censoring, and totals that add up.
    assert [r.day for r in six_mp.rows] == sorted({d for d, _ in SIX_MP})
    assert (six_mp.n, six_mp.events, six_mp.censored) == (21, 9, 12)


def test_the_log_log_band_matches_lifelines_exponential_greenwood_interval():
    """lifelines' KaplanMeierFitter defaults to the same (log-log, Greenwood) interval."""
    for data in (SIX_MP, PLACEBO):
        days, ended = split(data)
        ours = kaplan_meier(days, ended)
        theirs = KaplanMeierFitter(alpha=0.05).fit(days, ended)
        band = theirs.confidence_interval_
        for row in ours.rows:
            expected = theirs.survival_function_at_times(row.day).iloc[0]
            assert row.relief_pct / 100 == pytest.approx(expected, abs=1e-12)
            if row.relief_pct == 0:
                assert row.ci_low_pct is None and row.ci_high_pct is None
                continue
            assert row.ci_low_pct / 100 == pytest.approx(band.iloc[:, 0].loc[row.day], abs=1e-9)
            assert row.ci_high_pct / 100 == pytest.approx(band.iloc[:, 1].loc[row.day], abs=1e-9)


def test_the_placebo_band_at_week_one_is_statas_published_interval():
    """Rodríguez, Princeton WWS 509 notes on the Gehan data (Stata ``sts list``, log-log CI):
    control group, week 1: survivor function 0.9048, 95% CI 0.6700 to 0.97…"""
    first = kaplan_meier(*split(PLACEBO)).rows[0]
    assert round(first.relief_pct / 100, 4) == 0.9048
    assert round(first.ci_low_pct / 100, 4) == 0.6700
    assert 0.97 <= first.ci_high_pct / 100 < 0.98


def test_the_median_interval_runs_between_the_days_its_bands_reach_one_half():
    six_mp = kaplan_meier(*split(SIX_MP))
    # The lower band first falls to 0.5 or below at week 13; the upper band never does.
    assert (six_mp.median_ci_low_days, six_mp.median_ci_high_days) == (13, None)
    placebo = kaplan_meier(*split(PLACEBO))
    assert (placebo.median_ci_low_days, placebo.median_ci_high_days) == (4, 11)
    for data, estimate in ((SIX_MP, six_mp), (PLACEBO, placebo)):
        fitted = KaplanMeierFitter().fit(*split(data))
        low, high = median_survival_times(fitted.confidence_interval_).iloc[0]
        assert estimate.median_ci_low_days == (None if math.isinf(low) else low)
        assert estimate.median_ci_high_days == (None if math.isinf(high) else high)


def test_the_median_is_the_first_day_the_estimate_falls_to_one_half_or_below():
    # 10 (event), 20 (event), 30 (censored), 40 (censored): S(20) = 3/4 × 2/3 = exactly 0.5.
    estimate = kaplan_meier([10, 20, 30, 40], [True, True, False, False])
    assert row_on(estimate, 20).relief_pct == pytest.approx(50)
    assert estimate.median_days == 20


def test_the_median_is_empty_when_the_curve_never_reaches_one_half():
    estimate = kaplan_meier([10, 20, 30, 40, 50], [True, False, False, False, False])
    assert estimate.median_days is None
    assert estimate.median_ci_high_days is None


def test_where_the_estimate_is_zero_its_interval_is_empty():
    estimate = kaplan_meier([10, 20], [True, True])
    last = estimate.rows[-1]
    assert last.relief_pct == 0
    assert (last.ci_low_pct, last.ci_high_pct) == (None, None)
    # S(10) = 0.5 is the median; the upper band never falls to 0.5 where it exists.
    assert estimate.median_days == 10
    assert estimate.median_ci_high_days is None


def test_before_any_event_the_estimate_is_certain_and_its_band_collapses_onto_it():
    estimate = kaplan_meier([5, 10, 10], [False, True, False])
    first = estimate.rows[0]
    assert (first.day, first.relief_pct, first.ci_low_pct, first.ci_high_pct) == (
        5,
        100,
        100,
        100,
    )


def test_relief_at_a_horizon_is_carried_from_the_last_change_on_or_before_it():
    estimate = kaplan_meier([60, 90, 120, 200, 250], [True, True, False, True, False])
    # 60: 4/5; 90: × 3/4 = 0.6; 120 censored; 200: × 1/2 = 0.3; 250 censored (last).
    assert estimate.relief_pct_at(30) == 100
    assert estimate.relief_pct_at(89) == pytest.approx(80)
    assert estimate.relief_pct_at(90) == pytest.approx(60)  # relief ended on day 90 counts
    assert estimate.relief_pct_at(180) == pytest.approx(60)
    assert estimate.relief_pct_at(250) == pytest.approx(30)  # followed to that very day
    # The longest duration (250) is censored before day 365: nobody was followed that long.
    assert estimate.relief_pct_at(365) is None
    assert estimate.horizons() == {90: pytest.approx(60), 180: pytest.approx(60), 365: None}


def test_relief_at_a_horizon_is_zero_once_the_longest_duration_ended_in_an_event():
    estimate = kaplan_meier([30, 100, 150], [False, True, True])
    assert estimate.relief_pct_at(90) == 100
    assert estimate.relief_pct_at(180) == 0
    assert estimate.relief_pct_at(365) == 0


def test_a_tie_of_an_event_and_a_censoring_on_the_last_day_leaves_later_horizons_unknown():
    estimate = kaplan_meier([30, 100, 100], [True, True, False])
    assert estimate.relief_pct_at(100) == pytest.approx(100 * 2 / 3 * 1 / 2)
    assert estimate.relief_pct_at(180) is None


def test_when_no_relief_has_ended_the_curve_stays_at_one_hundred_percent():
    estimate = kaplan_meier([14, 42, 42], [False, False, False])
    assert [r.relief_pct for r in estimate.rows] == [100, 100]
    assert estimate.median_days is None
    assert estimate.relief_pct_at(42) == 100 and estimate.relief_pct_at(90) is None
    assert (estimate.events, estimate.censored) == (0, 3)


def test_no_durations_give_no_estimate():
    assert kaplan_meier([], []) is None


def test_durations_must_be_whole_and_paired():
    with pytest.raises(ValueError):
        kaplan_meier([1, 2], [True])
    with pytest.raises(ValueError):
        kaplan_meier([-1], [True])


THREE_GROUPS = [
    ([5, 8, 12, 12, 20, 31, 40, 41], [True, True, False, True, True, False, True, False]),
    ([3, 4, 4, 9, 10, 15, 18], [True, True, True, False, True, True, True]),
    (
        [12, 25, 30, 33, 47, 60, 61, 80, 90],
        [True, False, True, False, True, False, True, False, False],
    ),
]


def test_more_than_two_groups_are_compared_by_the_k_sample_log_rank_test_as_lifelines_does():
    ours = log_rank(THREE_GROUPS)
    days = np.concatenate([d for d, _ in THREE_GROUPS])
    ended = np.concatenate([e for _, e in THREE_GROUPS])
    labels = np.concatenate([[i] * len(d) for i, (d, _) in enumerate(THREE_GROUPS)])
    theirs = multivariate_logrank_test(days, labels, ended)
    assert ours.groups == 3 and ours.df == 2
    assert ours.statistic == pytest.approx(theirs.test_statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(theirs.p_value, rel=1e-8)


def test_the_by_hand_k_sample_statistic_equals_scipys_for_two_groups():
    by_hand = survival._k_sample_log_rank(
        [survival._arrays(*split(SIX_MP)), survival._arrays(*split(PLACEBO))]
    )
    by_scipy = log_rank([split(SIX_MP), split(PLACEBO)])
    assert by_hand.statistic == pytest.approx(by_scipy.statistic, rel=1e-12)
    assert by_hand.p_value == pytest.approx(by_scipy.p_value, rel=1e-9)


def test_groups_without_durations_take_no_part_and_too_few_leave_nothing_to_compare():
    assert log_rank([split(SIX_MP), ([], [])]) is None
    assert log_rank([split(SIX_MP)]) is None
    # Nobody's relief has ended in any group: there is no event to compare.
    assert log_rank([([10, 20], [False, False]), ([5], [False])]) is None
    with_empty = log_rank([split(SIX_MP), ([], []), split(PLACEBO)])
    assert with_empty.groups == 2
    assert round(with_empty.statistic, 2) == PUBLISHED_LOG_RANK
