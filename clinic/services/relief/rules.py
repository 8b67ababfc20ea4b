"""The relief engine: how much relief one procedure gave, and for how long (docs/rules.md, Relief and its duration).

A pure function from (baseline, performed date, follow-up pain scores, threshold) to an
``Outcome``. No database, no Flask: reports, exports, the patient page and the repeat-eligibility
rules all feed it plain data, so every one of them counts relief the same way, to the day.

The rules, exactly as docs/rules.md (Relief and its duration) states them:

- **Percent relief** of a pain score is the patient-reported percent relief where it was
  recorded, else ``100 × (baseline − NRS) / baseline`` with the intervention's baseline. A
  reported percent wins in both directions: it can make a score relieved that the NRS would not,
  and unrelieved one that the NRS would.
- A score is **relieved** when its percent relief is ≥ the threshold (default 50; reports offer
  others, e.g. 30 or 80). The comparison is inclusive: exactly 50% is relieved at 50.
- An intervention is **evaluable** when it is completed, has a baseline ≥ 1, and has at least
  one pain score dated *after* its performed date. Scores dated on or before the performed date
  (the pre-procedure score) are ignored throughout: they are not follow-ups, never an onset,
  never end relief, and never censor a duration.
- It is a **responder** when at least one evaluable score is relieved; its **onset** is the
  first relieved score, in date order. Whether it responded is unknown (``None``) when it is not
  evaluable.
- **Relief duration** in days, for responders only, runs from the performed date to the date of
  the first score after onset that is *not* relieved: an **event**, relief ended. Only the first
  loss counts: relief regained at a later score does not extend the duration. When no score
  after onset is unrelieved, relief is **ongoing** and the duration is **censored** at the date
  of the last score (a single relieved follow-up is censored at its own date).

Decisions where section 4 is silent:

- Scores may come in any order; they are sorted by date. The database keeps at most one score
  per intervention per date; should two share a date here, they keep their given order.
- Pain worse than baseline gives a *negative* percent relief (baseline 4, NRS 6 → −50%). It is
  kept, not clamped to 0, so ``best_relief_pct`` can show that a procedure made things worse;
  it is simply never relieved (thresholds are ≥ 0).
- ``percent_relief`` of a single score returns the reported percent even without a usable
  baseline, and ``None`` when there is neither; evaluability is ``assess``'s business.
- The reasons for not being evaluable are checked in this order, and the first one found is
  given: not completed, no performed date, no baseline, baseline below 1, no follow-up score.
- ``followups`` and ``last_followup_on`` are filled whenever the performed date is known, even
  when the intervention is not evaluable (a clerk still wants to see them). Everything about
  relief itself (best percent, onset, duration) is ``None`` unless the intervention is evaluable.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from operator import attrgetter
from typing import NamedTuple

DEFAULT_THRESHOLD = 50


class Score(NamedTuple):
    """One follow-up pain score: NRS 0–10 on a date, and the patient's own percent if given.

    A named tuple rather than a dataclass: the patient page and the demo build one
    for every pain score they judge, and a tuple is made several times faster.
    """

    recorded_on: date
    nrs: int
    # Patient-reported percent relief (0–100); when recorded it overrides the NRS-derived value.
    percent_relief: int | None = None


@dataclass(frozen=True)
class Outcome:
    """What one procedure achieved under one threshold; see the module docstring for the rules."""

    evaluable: bool
    responder: bool | None = None  # None when not evaluable
    followups: int = 0  # scores dated after the performed date
    best_relief_pct: float | None = None  # highest percent relief among those scores
    best_relief_on: date | None = None  # the first score reaching that highest percent
    onset_on: date | None = None  # the first relieved score
    onset_days: int | None = None  # performed date → onset
    # Responders only: performed date → first unrelieved score after onset (event), else → the
    # last score (censored).
    relief_days: int | None = None
    relief_ongoing: bool | None = None  # responders only: True = censored, False = event
    relief_ended_on: date | None = None  # the event score's date, if relief ended
    last_followup_on: date | None = None
    not_evaluable_reason: str | None = None  # e.g. "no baseline", "no follow-up score yet"
    threshold: float = DEFAULT_THRESHOLD
    performed_on: date | None = None


def format_percent(value: float) -> str:
    """'50' for a whole percent, '66.7' otherwise: how a percent reads on a page or in a reason."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.1f}"


def percent_relief(baseline: int | None, score: Score) -> float | None:
    """The score's percent relief: the reported percent, else 100 × (baseline − NRS) / baseline.

    ``None`` when nothing was reported and there is no baseline ≥ 1 to derive it from. Pain worse
    than baseline gives a negative value, kept as it is.
    """
    if score.percent_relief is not None:
        return float(score.percent_relief)
    if baseline is None or baseline < 1:
        return None
    return 100 * (baseline - score.nrs) / baseline


def _not_evaluable_reason(
    baseline: int | None, performed_on: date | None, followups: int, completed: bool
) -> str | None:
    if not completed:
        return "not completed"
    if performed_on is None:
        return "no performed date"
    if baseline is None:
        return "no baseline"
    if baseline < 1:
        return f"baseline pain {baseline}"
    if not followups:
        return "no follow-up score yet"
    return None


class FollowUps(NamedTuple):
    """What an intervention's follow-up scores add up to under one threshold.

    Everything ``assess`` needs from the scores, so that the database can add them up
    (``clinic.services.follow_ups``) and send one row per intervention instead of one per pain
    score; ``summarise`` is the same sum in Python, and the two are tested against each other.
    Only scores dated after the performed date count; a score with no percent (no baseline and
    none reported) is neither relieved nor unrelieved.
    """

    count: int = 0  # scores dated after the performed date
    last_on: date | None = None
    best_pct: float | None = None  # highest percent relief among them
    best_on: date | None = None  # the first score reaching it
    onset_on: date | None = None  # the first relieved score
    lost_on: date | None = None  # the first unrelieved score after onset: relief ended


_recorded_on = attrgetter("recorded_on")


def summarise(
    baseline: int | None,
    performed_on: date | None,
    scores: Iterable[Score],
    threshold: float = DEFAULT_THRESHOLD,
) -> FollowUps:
    """Add up one intervention's follow-up scores under ``threshold`` (see ``FollowUps``)."""
    if performed_on is None:
        return FollowUps()
    # Scores on or before the performed date are not follow-ups; sort is stable for ties.
    followups = sorted(
        (score for score in scores if score.recorded_on > performed_on), key=_recorded_on
    )
    if not followups:
        return FollowUps()
    best = best_on = onset_on = lost_on = None
    for score in followups:
        percent = percent_relief(baseline, score)
        if percent is None:
            continue
        if best is None or percent > best:
            best, best_on = percent, score.recorded_on
        if percent >= threshold:
            if onset_on is None:
                onset_on = score.recorded_on
        elif onset_on is not None and lost_on is None:
            # The FIRST unrelieved score after onset ends relief; a later regain does not
            # reopen it.
            lost_on = score.recorded_on
    return FollowUps(len(followups), followups[-1].recorded_on, best, best_on, onset_on, lost_on)


def judge(
    baseline: int | None,
    performed_on: date | None,
    follow_ups: FollowUps,
    threshold: float = DEFAULT_THRESHOLD,
    completed: bool = True,
) -> Outcome:
    """The outcome of one procedure from its follow-ups' sum (``summarise`` or the database's)."""
    common = {
        "followups": follow_ups.count,
        "last_followup_on": follow_ups.last_on,
        "threshold": threshold,
        "performed_on": performed_on,
    }
    reason = _not_evaluable_reason(baseline, performed_on, follow_ups.count, completed)
    if reason is not None:
        return Outcome(evaluable=False, not_evaluable_reason=reason, **common)
    assert performed_on is not None  # guaranteed by the reason check
    onset_on = follow_ups.onset_on
    if onset_on is None:
        return Outcome(
            evaluable=True,
            responder=False,
            best_relief_pct=follow_ups.best_pct,
            best_relief_on=follow_ups.best_on,
            **common,
        )
    lost_on = follow_ups.lost_on
    censored_on = follow_ups.last_on if lost_on is None else lost_on
    assert censored_on is not None  # a responder has at least one follow-up
    return Outcome(
        evaluable=True,
        responder=True,
        best_relief_pct=follow_ups.best_pct,
        best_relief_on=follow_ups.best_on,
        onset_on=onset_on,
        onset_days=(onset_on - performed_on).days,
        relief_days=(censored_on - performed_on).days,
        relief_ongoing=lost_on is None,
        relief_ended_on=lost_on,
        **common,
    )


def assess(
    baseline: int | None,
    performed_on: date | None,
    scores: Iterable[Score],
    threshold: float = DEFAULT_THRESHOLD,
    completed: bool = True,
) -> Outcome:
    """Apply docs/rules.md, Relief and its duration to one procedure: evaluable, responder, onset, relief duration."""
    return judge(
        baseline,
        performed_on,
        summarise(baseline, performed_on, scores, threshold),
        threshold,
        completed,
    )


def relief_status_text(outcome: Outcome) -> str:
    """A short phrase for the patient page, e.g. 'Responder: relief from day 14, ended at day 92'.

    Every responder's phrase starts with the onset (the day of the first relieved score), whether
    relief has ended or is still ongoing.
    """
    if not outcome.evaluable:
        return f"Not evaluable: {outcome.not_evaluable_reason}"
    if not outcome.responder:
        return f"No relief ≥ {format_percent(outcome.threshold)}%"
    onset = f"Responder: relief from day {outcome.onset_days}"
    if outcome.relief_ongoing:
        return (
            f"{onset}, ongoing at day {outcome.relief_days} (last score {outcome.last_followup_on})"
        )
    return f"{onset}, ended at day {outcome.relief_days}"
