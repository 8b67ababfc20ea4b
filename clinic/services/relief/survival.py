"""How long relief lasts: Kaplan–Meier estimates and the log-rank test (docs/rules.md, Relief and its duration).

Pure: a function of relief durations (whole days) and whether each ended in an **event**
(relief ended) or is **censored** (relief still ongoing at the last score). No database, no
Flask. The statistics come from SciPy, a maintained library, rather than being written here:

- ``scipy.stats.ecdf`` over ``scipy.stats.CensoredData`` gives the Kaplan–Meier estimate
  (its ``sf``), and ``sf.confidence_interval(0.95, method="log-log")`` its 95% pointwise
  interval. SciPy documents that method as the "exponential Greenwood" interval: Greenwood's
  variance on the log(−log S) scale (Sawyer, "The Greenwood and Exponential Greenwood
  Confidence Intervals in Survival Analysis"), which is what docs/rules.md states.
- ``scipy.stats.logrank`` compares two groups.

Rules, as docs/rules.md (Relief and its duration) states them:

- **Median** relief: the first day on which the estimate falls to 0.5 or below; empty when it
  never does. Its 95% interval runs from the first day the lower band falls to 0.5 or below to
  the first day the upper band does; either end is empty when that band never gets there.
- Where the estimate is 0 the interval is empty (the log-log formula is undefined there).
- **Relief at 90, 180 and 365 days**: the estimate carried from the last change on or before
  that day; 0 when the longest duration ended in an event before it; empty when the longest
  duration is censored before it (nobody was followed that long).
- **Curve rows**: one per distinct day with an event or a censoring.

Decisions where section 4 is silent:

- A change *on* the day counts: a duration of 90 days that ended in an event means the first
  unrelieved score was on day 90, so that patient was not relieved at 90 days. This is the
  usual Kaplan–Meier convention, S(t) = P(relief lasts longer than t).
- After the longest duration the estimate is 0 if the curve ended at 0 (every patient still at
  risk on that day had an event) and empty otherwise (someone was censored on that last day, so
  nobody is known beyond it). That reads "ended in an event" / "censored" for ties too.
- Before the first event the estimate is 1 with no variance; its interval is [1, 1] (the band
  collapses onto the estimate) rather than empty. SciPy leaves it undefined there.
- A probability compared with 0.5 allows for floating-point rounding (1e-12), so a product of
  fractions that is exactly one half counts as "0.5 or below".
- **More than two groups**: SciPy's ``logrank`` takes two samples only. For k > 2 groups this
  module computes the k-sample log-rank statistic from the same at-risk tables (the observed
  minus expected events per group, and their hypergeometric covariance; chi-square on k − 1
  degrees of freedom), the test that Kleinbaum & Klein (ch. 2) and lifelines'
  ``multivariate_logrank_test`` give. It was chosen over pairwise tests with a multiplicity
  correction because it answers the report's question, "do these groups differ at all?", with
  one p-value. It is cross-checked against lifelines in tests/test_survival.py, and for two
  groups it equals SciPy's statistic squared.
- Groups with no durations take no part in a comparison; fewer than two groups, or no event
  in any group, leaves nothing to compare (``None``).

NumPy and SciPy are imported by the functions that compute, not with the module: the figures a
report keeps (``CurveRow``, ``KaplanMeier``, ``LogRank``) are read back without them.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from scipy import stats

CONFIDENCE = 0.95
HORIZONS = (90, 180, 365)
HALF = 0.5
TOLERANCE = 1e-12


@dataclass(frozen=True)
class CurveRow:
    """The Kaplan–Meier estimate on one day with an event or a censoring (percentages 0–100)."""

    day: float
    at_risk: int  # durations of at least this many days: still relieved as the day began
    events: int  # relief ended on this day
    censored: int  # relief still ongoing at the last score, on this day
    relief_pct: float
    ci_low_pct: float | None  # None where the estimate is 0
    ci_high_pct: float | None


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan–Meier estimate of how long relief lasts, with the figures the report shows."""

    rows: tuple[CurveRow, ...]
    n: int
    events: int
    censored: int
    median_days: float | None
    median_ci_low_days: float | None
    median_ci_high_days: float | None

    def relief_pct_at(self, day: float) -> float | None:
        """The estimate on ``day``, carried from the last change on or before it (see module)."""
        if not self.rows or day < self.rows[0].day:
            return 100.0
        last = self.rows[-1]
        if day > last.day:
            return 0.0 if last.relief_pct <= TOLERANCE else None
        index = bisect.bisect_right([row.day for row in self.rows], day) - 1
        return self.rows[index].relief_pct

    def horizons(self, days: Sequence[int] = HORIZONS) -> dict[int, float | None]:
        return {day: self.relief_pct_at(day) for day in days}


@dataclass(frozen=True)
class LogRank:
    """The log-rank comparison of two or more relief curves."""

    statistic: float  # chi-square
    df: int
    p_value: float
    groups: int  # how many groups took part


def _arrays(days: Iterable[float], ended: Iterable[bool]) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    times = np.asarray(list(days), dtype=float)
    events = np.asarray(list(ended), dtype=bool)
    if times.shape != events.shape:
        raise ValueError("days and ended must have the same length")
    if times.size and (np.isnan(times).any() or times.min() < 0):
        raise ValueError("relief durations are days ≥ 0")
    return times, events


def _censored_data(times: np.ndarray, events: np.ndarray) -> stats.CensoredData:
    from scipy import stats

    return stats.CensoredData(uncensored=times[events], right=times[~events])


def _first_day_at_or_below_half(days: Sequence[float], values: Sequence[float | None]):
    for day, value in zip(days, values, strict=True):
        if value is not None and value <= HALF + TOLERANCE:
            return day
    return None


def kaplan_meier(days: Iterable[float], ended: Iterable[bool]) -> KaplanMeier | None:
    """Kaplan–Meier estimate of relief duration with its 95% log-log (Greenwood) interval.

    ``days[i]`` is a responder's relief duration and ``ended[i]`` whether it ended in an event
    (``False``: censored). ``None`` when there are no durations.
    """
    import numpy as np
    from scipy import stats

    times, events = _arrays(days, ended)
    if times.size == 0:
        return None
    unique, inverse = np.unique(times, return_inverse=True)
    event_counts = np.bincount(inverse, weights=events, minlength=unique.size).astype(int)
    total_counts = np.bincount(inverse, minlength=unique.size)
    at_risk = total_counts[::-1].cumsum()[::-1]

    if events.any():
        result = stats.ecdf(_censored_data(times, events))
        assert np.array_equal(result.sf.quantiles, unique)  # one value per distinct day
        estimate = result.sf.probabilities
        with warnings.catch_warnings():
            # SciPy warns where log(−log S) is undefined (S = 0 or 1); those cells are set below.
            warnings.simplefilter("ignore", RuntimeWarning)
            band = result.sf.confidence_interval(CONFIDENCE, method="log-log")
        low, high = band.low.probabilities, band.high.probabilities
    else:
        # Nobody's relief has ended: the estimate stays at 1 (SciPy needs one event to fit).
        estimate = np.ones(unique.size)
        low = high = np.full(unique.size, np.nan)

    rows = []
    for index, day in enumerate(unique):
        value = float(estimate[index])
        if value <= TOLERANCE:
            ci_low = ci_high = None  # docs/rules.md: where the estimate is 0 the interval is empty
        elif value >= 1 - TOLERANCE:
            ci_low = ci_high = 100.0  # no event yet: no variance, the band is the estimate
        else:
            ci_low = None if math.isnan(low[index]) else 100 * float(low[index])
            ci_high = None if math.isnan(high[index]) else 100 * float(high[index])
        rows.append(
            CurveRow(
                day=float(day),
                at_risk=int(at_risk[index]),
                events=int(event_counts[index]),
                censored=int(total_counts[index] - event_counts[index]),
                relief_pct=100 * value,
                ci_low_pct=ci_low,
                ci_high_pct=ci_high,
            )
        )

    row_days = [row.day for row in rows]

    def as_probability(values):
        return [None if value is None else value / 100 for value in values]

    return KaplanMeier(
        rows=tuple(rows),
        n=int(times.size),
        events=int(events.sum()),
        censored=int((~events).sum()),
        median_days=_first_day_at_or_below_half(
            row_days, as_probability([row.relief_pct for row in rows])
        ),
        median_ci_low_days=_first_day_at_or_below_half(
            row_days, as_probability([row.ci_low_pct for row in rows])
        ),
        median_ci_high_days=_first_day_at_or_below_half(
            row_days, as_probability([row.ci_high_pct for row in rows])
        ),
    )


def at_risk_on(days: Iterable[float], day: float) -> int:
    """How many durations were still running as ``day`` began (the chart's numbers at risk)."""
    return int(sum(1 for value in days if value >= day))


def log_rank(groups: Sequence[tuple[Iterable[float], Iterable[bool]]]) -> LogRank | None:
    """The log-rank test across the groups' relief durations; see the module for k > 2."""
    from scipy import stats

    samples = [_arrays(days, ended) for days, ended in groups]
    samples = [(times, events) for times, events in samples if times.size]
    if len(samples) < 2 or not any(events.any() for _, events in samples):
        return None
    if len(samples) == 2:
        (times_a, events_a), (times_b, events_b) = samples
        result = stats.logrank(_censored_data(times_a, events_a), _censored_data(times_b, events_b))
        z = float(result.statistic)
        return LogRank(statistic=z * z, df=1, p_value=float(result.pvalue), groups=2)
    return _k_sample_log_rank(samples)


def _k_sample_log_rank(samples: list[tuple[np.ndarray, np.ndarray]]) -> LogRank | None:
    """k-sample log-rank: U = Σ(O − E) per group, V its hypergeometric covariance, χ² = U′V⁻U."""
    import numpy as np
    from scipy import stats

    k = len(samples)
    event_days = np.unique(np.concatenate([times[events] for times, events in samples]))
    # at_risk[j, t]: group j's durations ≥ day t; died[j, t]: its events on day t.
    at_risk = np.array([[np.sum(times >= day) for day in event_days] for times, _ in samples])
    died = np.array(
        [[np.sum(times[events] == day) for day in event_days] for times, events in samples]
    )
    n = at_risk.sum(axis=0).astype(float)
    d = died.sum(axis=0).astype(float)
    expected = at_risk * (d / n)
    observed_minus_expected = (died - expected).sum(axis=1)
    share = at_risk / n
    # Hypergeometric factor d(n − d)/(n − 1); zero where only one was at risk.
    factor = np.divide(d * (n - d), n - 1, out=np.zeros_like(n), where=n > 1)
    covariance = np.zeros((k, k))
    for j in range(k):
        for m in range(k):
            covariance[j, m] = np.sum(factor * share[j] * ((j == m) - share[m]))
    u = observed_minus_expected[:-1]
    v = covariance[:-1, :-1]
    df = int(np.linalg.matrix_rank(v))
    if df == 0:
        return None
    statistic = float(u @ np.linalg.pinv(v) @ u)
    return LogRank(
        statistic=statistic, df=df, p_value=float(stats.chi2.sf(statistic, df)), groups=k
    )
