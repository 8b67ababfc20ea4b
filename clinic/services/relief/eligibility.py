"""Repeat eligibility: the payer rules a procedure must meet before it is done (DESIGN.md section 4).

The rules are data (the ``repeat_eligibility_rule`` table, editable by an admin), never code
branches: nothing here knows what an RFA or an epidural is. This module is pure — plain
dataclasses and dates, no database and no Flask — and the relief of each prior procedure is
judged by ``clinic.services.relief.rules`` (``summarise`` and ``judge``), exactly as reports judge it.

Seeded rules (first migration):

========================  ===========  ===========  ======  ========  =====  ============
rule                      target       prior        relief  lasting   prior  sessions
========================  ===========  ===========  ======  ========  =====  ============
epidural-repeat           ESI-*        ESI-*        ≥ 50%   ≥ 90 d    1      ≤ 4 / 365 d
rfa-repeat                RFA          RFA          ≥ 50%   ≥ 180 d   1      ≤ 2 / 365 d
mbb-to-rfa                RFA          MBB          ≥ 80%   —         2      —
scs-trial-to-implant      SCS-IMPLANT  SCS-TRIAL    ≥ 50%   —         1      —
========================  ===========  ===========  ======  ========  =====  ============

The semantics:

- A rule speaks about the procedures whose code is in its ``target_codes`` (space-separated in
  the table). A rule whose ``prior_codes`` overlap its ``target_codes`` is a **repeat** rule: it
  applies only when the patient has already had a target procedure. A rule whose ``prior_codes``
  do not overlap is an **initial** rule: it applies only when the patient has never had a target
  procedure. So ``mbb-to-rfa`` governs a first RFA and ``rfa-repeat`` every later one.
- A target is **eligible** when at least one applicable rule is met; with no applicable rule it
  is not eligible.
- A rule is **met** when both hold:

  (a) at least ``required_prior_count`` prior procedures (code in ``prior_codes``) each gave
      relief ≥ ``min_relief_pct`` — a responder under ``relief.assess`` with that threshold —
      lasting at least ``min_relief_days`` when that is set. Relief still ongoing counts with its
      censored duration so far (performed date → last score). For a repeat rule only the most
      recent ``required_prior_count`` priors are judged, and all of them must qualify (an old
      good result does not cover a recent poor one); for an initial rule any of them may.
  (b) when ``max_sessions`` and ``window_days`` are set, fewer than ``max_sessions`` target
      procedures were performed in the ``window_days`` days up to and including ``on`` — so the
      planned one would be at most the maximum. With 365 days and ``on`` = 2026-11-27 the window
      is 2025-11-28 … 2026-11-27: a session 364 days before ``on`` counts, one 365 days before
      does not.

- Only procedures performed on or before ``on`` count, for applicability, priors and sessions.

Each ``RuleCheck`` carries reasons in words, each starting with "Applies", "Does not apply",
"Met" or "Missed" and naming the dates that decided it, and those dates in ``deciding_dates``.

Decisions where section 4 is silent:

- Pain scores recorded after ``on`` are ignored as well, so an assessment "as of" a past date
  shows what was known then.
- Inactive rules (``active`` false in the table) are skipped, as if absent.
- The session limit applies only when both ``max_sessions`` and ``window_days`` are set (the
  table's check constraint requires both or neither).
- Codes in the table may be separated by spaces or commas; they are compared exactly.
- A prior performed on the same day as another is ordered by its intervention id.
- A target code no active rule names gets an ``Assessment`` with no checks, not eligible.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from clinic.services.relief.rules import FollowUps, Outcome, Score, format_percent, judge, summarise

_CODE_SEPARATORS = re.compile(r"[\s,]+")


def parse_codes(text: str | Iterable[str] | None) -> frozenset[str]:
    """'ESI-IL ESI-TF ESI-CA' (or a comma list, or an iterable of codes) → a set of codes."""
    if text is None:
        return frozenset()
    if isinstance(text, str):
        return frozenset(code for code in _CODE_SEPARATORS.split(text.strip()) if code)
    return frozenset(code.strip() for code in text if code and code.strip())


@dataclass(frozen=True)
class Rule:
    """One repeat-eligibility rule, mirroring a ``RepeatEligibilityRule`` row."""

    code: str
    description: str
    target_codes: frozenset[str]
    prior_codes: frozenset[str]
    min_relief_pct: int
    min_relief_days: int | None
    required_prior_count: int
    max_sessions: int | None
    window_days: int | None
    active: bool = True

    def __post_init__(self) -> None:
        # Accept "RFA" or ["ESI-IL", "ESI-TF"] as well as a frozenset: frozenset("RFA") would
        # silently become {"R", "F", "A"}.
        object.__setattr__(self, "target_codes", parse_codes(self.target_codes))
        object.__setattr__(self, "prior_codes", parse_codes(self.prior_codes))

    @property
    def is_repeat(self) -> bool:
        """A repeat rule judges earlier procedures of the same kind it governs."""
        return bool(self.prior_codes & self.target_codes)

    @property
    def has_session_limit(self) -> bool:
        return self.max_sessions is not None and self.window_days is not None


@dataclass(frozen=True)
class PastProcedure:
    """A completed intervention of the patient, with its follow-up pain scores.

    ``summed`` may hold its follow-ups already added up (``relief.FollowUps``) per threshold,
    counting only scores up to the date of the assessment: the ``outcomes`` export has the
    database sum them as of today instead of sending every score. When given, it must hold every
    active rule's threshold (a missing one raises ``KeyError``); otherwise ``scores`` are used.
    """

    intervention_id: int
    code: str
    performed_on: date
    baseline: int | None
    scores: tuple[Score, ...] = ()
    summed: Mapping[float, FollowUps] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", tuple(self.scores))


@dataclass(frozen=True)
class RuleCheck:
    """One rule judged for one target: whether it applies, whether it is met, and why."""

    rule: Rule
    applies: bool
    met: bool
    reasons: list[str]
    deciding_dates: list[date]


@dataclass(frozen=True)
class Assessment:
    """Whether the patient is eligible for one target procedure, with every rule's check."""

    target_code: str
    eligible: bool
    checks: list[RuleCheck]

    @property
    def met_checks(self) -> list[RuleCheck]:
        """The applicable rules that were met: any one of them makes the target eligible."""
        return [check for check in self.checks if check.applies and check.met]


def rule_from_row(row: Any) -> Rule:
    """A ``Rule`` from anything with the ``RepeatEligibilityRule`` attributes (duck-typed)."""
    required = getattr(row, "required_prior_count", None)
    active = getattr(row, "active", True)
    return Rule(
        code=row.code,
        description=row.description or "",
        target_codes=parse_codes(row.target_codes),
        prior_codes=parse_codes(row.prior_codes),
        min_relief_pct=int(row.min_relief_pct),
        min_relief_days=row.min_relief_days,
        # The column defaults to 1; an unsaved row may not have had the default applied yet.
        required_prior_count=1 if required is None else int(required),
        max_sessions=row.max_sessions,
        window_days=row.window_days,
        active=True if active is None else bool(active),
    )


def _chronological(procedure: PastProcedure) -> tuple[date, int]:
    return procedure.performed_on, procedure.intervention_id


def _codes_or(codes: Iterable[str]) -> str:
    """'RFA'; 'MBB or RFA'; 'ESI-CA, ESI-IL or ESI-TF'."""
    ordered = sorted(codes)
    if len(ordered) <= 1:
        return "".join(ordered)
    return f"{', '.join(ordered[:-1])} or {ordered[-1]}"


def _verdict(met: bool) -> str:
    return "Met" if met else "Missed"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclass(frozen=True)
class _PriorResult:
    procedure: PastProcedure
    outcome: Outcome
    qualifies: bool
    reason: str
    dates: tuple[date, ...]


def _judge_prior(rule: Rule, procedure: PastProcedure, on: date) -> _PriorResult:
    """Did this prior procedure give the relief the rule asks for, as known on ``on``?"""
    threshold = rule.min_relief_pct
    if procedure.summed:
        # Summed without the scores: a threshold left out is a caller's mistake, not "no score".
        follow_ups = procedure.summed[threshold]
    else:
        known = [score for score in procedure.scores if score.recorded_on <= on]
        follow_ups = summarise(procedure.baseline, procedure.performed_on, known, threshold)
    outcome = judge(procedure.baseline, procedure.performed_on, follow_ups, threshold)
    what = f"{procedure.code} on {procedure.performed_on}"
    pct = f"≥ {rule.min_relief_pct}% relief"
    if not outcome.evaluable:
        reason = f"Missed: {what} — relief cannot be assessed ({outcome.not_evaluable_reason})"
        return _PriorResult(procedure, outcome, False, reason, (procedure.performed_on,))
    if not outcome.responder:
        assert outcome.best_relief_pct is not None and outcome.best_relief_on is not None
        reason = (
            f"Missed: {what} did not give {pct} "
            f"(best {format_percent(outcome.best_relief_pct)}% on {outcome.best_relief_on})"
        )
        return _PriorResult(
            procedure, outcome, False, reason, (procedure.performed_on, outcome.best_relief_on)
        )
    assert outcome.onset_on is not None and outcome.relief_days is not None
    if rule.min_relief_days is None:
        reason = f"Met: {what} gave {pct} (from {outcome.onset_on})"
        return _PriorResult(
            procedure, outcome, True, reason, (procedure.performed_on, outcome.onset_on)
        )
    qualifies = outcome.relief_days >= rule.min_relief_days
    if outcome.relief_ongoing:
        assert outcome.last_followup_on is not None
        span = (
            f"for {outcome.relief_days} days so far (from {outcome.onset_on}; "
            f"still relieved at the last score on {outcome.last_followup_on})"
        )
        until = outcome.last_followup_on
    else:
        assert outcome.relief_ended_on is not None
        span = (
            f"for {outcome.relief_days} days (from {outcome.onset_on} to {outcome.relief_ended_on})"
        )
        until = outcome.relief_ended_on
    reason = f"{_verdict(qualifies)}: {what} gave {pct} {span} — needs {rule.min_relief_days}"
    return _PriorResult(
        procedure, outcome, qualifies, reason, (procedure.performed_on, outcome.onset_on, until)
    )


def _prior_summary(
    rule: Rule, priors: list[PastProcedure], judged: list[_PriorResult], on: date
) -> tuple[str, list[date]] | None:
    """A line on the count of qualifying priors, where the per-procedure lines alone don't say it."""
    need = rule.required_prior_count
    codes = _codes_or(rule.prior_codes)
    asked = f"≥ {rule.min_relief_pct}% relief"
    if rule.min_relief_days is not None:
        asked += f" lasting ≥ {rule.min_relief_days} days"
    if not priors:
        return f"Missed: no {codes} on or before {on} — needs {need} with {asked}", []
    if rule.is_repeat and len(priors) < need:
        dates = [p.performed_on for p in priors]
        listed = ", ".join(str(d) for d in dates)
        return (
            f"Missed: only {len(priors)} {codes} on or before {on} ({listed}) — "
            f"needs the {need} most recent to each give {asked}"
        ), dates
    if need == 1:
        return None
    good = [result for result in judged if result.qualifies]
    dates = [result.procedure.performed_on for result in good]
    listed = f" ({', '.join(str(d) for d in dates)})" if dates else ""
    met = len(good) >= need
    if rule.is_repeat:
        return (
            f"{_verdict(met)}: {len(good)} of the {need} most recent {codes}{listed} "
            f"gave {asked} — needs all {need}"
        ), dates
    return (
        f"{_verdict(met)}: {len(good)} of {len(priors)} {codes}{listed} gave {asked} — needs {need}"
    ), dates


def _session_check(rule: Rule, done: list[PastProcedure], on: date) -> tuple[bool, str, list[date]]:
    """(b): fewer than max_sessions target procedures in the window_days days to ``on``."""
    assert rule.max_sessions is not None and rule.window_days is not None
    start = on - timedelta(days=rule.window_days - 1)
    inside = [p for p in done if start <= p.performed_on <= on]
    met = len(inside) < rule.max_sessions
    if len(rule.target_codes) == 1:
        listed = ", ".join(str(p.performed_on) for p in inside)
    else:
        listed = ", ".join(f"{p.code} {p.performed_on}" for p in inside)
    found = (
        f"{_plural(len(inside), _codes_or(rule.target_codes) + ' session')} ({listed})"
        if inside
        else f"no {_codes_or(rule.target_codes)} session"
    )
    reason = (
        f"{_verdict(met)}: {found} in the {rule.window_days} days from {start} to {on}; "
        f"with this one {len(inside) + 1} — at most {rule.max_sessions} allowed"
    )
    return met, reason, [p.performed_on for p in inside]


def _check_rule(rule: Rule, known: list[PastProcedure], on: date) -> RuleCheck:
    """Judge one rule against the history known on ``on`` (sorted, nothing after ``on``)."""
    done = [p for p in known if p.code in rule.target_codes]
    targets = _codes_or(rule.target_codes)
    if rule.is_repeat:
        if not done:
            reason = f"Does not apply: no {targets} on or before {on}; this rule is for a repeat"
            return RuleCheck(rule, False, False, [reason], [])
        last = done[-1]
        reasons = [f"Applies: a repeat — {last.code} already performed on {last.performed_on}"]
        dates = {last.performed_on}
    else:
        if done:
            last = done[-1]
            reason = (
                f"Does not apply: {last.code} already performed on {last.performed_on}; "
                f"this rule is for a first {targets}"
            )
            return RuleCheck(rule, False, False, [reason], [last.performed_on])
        reasons = [f"Applies: a first {targets} — none on or before {on}"]
        dates = set()

    # (a) the relief given by the prior procedures.
    priors = [p for p in known if p.code in rule.prior_codes]
    need = rule.required_prior_count
    considered = priors[-need:] if rule.is_repeat else priors
    judged = [_judge_prior(rule, p, on) for p in considered]
    relief_met = len(priors) >= need and sum(r.qualifies for r in judged) >= need
    summary = _prior_summary(rule, priors, judged, on)
    if summary is not None:
        reasons.append(summary[0])
        dates.update(summary[1])
    for result in judged:
        reasons.append(result.reason)
        dates.update(result.dates)

    # (b) the session limit over the rolling window.
    sessions_met = True
    if rule.has_session_limit:
        sessions_met, reason, session_dates = _session_check(rule, done, on)
        reasons.append(reason)
        dates.update(session_dates)

    return RuleCheck(rule, True, relief_met and sessions_met, reasons, sorted(dates))


def _known(history: Iterable[PastProcedure], on: date) -> list[PastProcedure]:
    return sorted((p for p in history if p.performed_on <= on), key=_chronological)


def assess_target(
    rules: Sequence[Rule], target_code: str, history: Sequence[PastProcedure], on: date
) -> Assessment:
    """Is the patient eligible for ``target_code`` on ``on``? Every active rule naming it is judged."""
    known = _known(history, on)
    checks = [
        _check_rule(rule, known, on)
        for rule in rules
        if rule.active and target_code in rule.target_codes
    ]
    eligible = any(check.applies and check.met for check in checks)
    return Assessment(target_code=target_code, eligible=eligible, checks=checks)


def assess_patient(
    rules: Sequence[Rule], history: Sequence[PastProcedure], on: date
) -> list[Assessment]:
    """Assess every target code of a rule the patient's history touches, sorted by target code.

    A rule's targets are assessed when the patient has had (on or before ``on``) a procedure
    with a code among its prior codes or its target codes.
    """
    had = {p.code for p in history if p.performed_on <= on}
    targets: set[str] = set()
    for rule in rules:
        if rule.active and had & (rule.prior_codes | rule.target_codes):
            targets |= rule.target_codes
    return [assess_target(rules, target, history, on) for target in sorted(targets)]
