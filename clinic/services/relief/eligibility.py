"""Repeat eligibility: the payer rules a procedure must meet before it is done (docs/rules.md).

The rules are data (the ``repeat_eligibility_rule`` table, editable by an admin), never code
branches: nothing here knows what an RFA or an epidural is, nor which levels are lumbar (the
``spinal_level_region`` table says). This module is pure — plain dataclasses and dates, no
database and no Flask — and the relief of each prior procedure is judged by
``clinic.services.relief.rules`` (``summarise`` and ``judge``), as reports judge it.

Seeded rules (read as the Medicare coverage documents write them):

========================  ===========  ===========  ======  ==========  =====  ===========  ======
rule                      target       prior        relief  documented  prior  sessions     region
========================  ===========  ===========  ======  ==========  =====  ===========  ======
epidural-repeat           ESI-*        ESI-*        ≥ 50%   ≥ 3 months  1      ≤ 4 / 12 mo  yes
rfa-repeat                RFA          RFA          ≥ 50%   ≥ 6 months  1      ≤ 2 / 12 mo  yes
mbb-to-rfa                RFA          MBB          ≥ 80%   —           2      —            yes
scs-trial-to-implant      SCS-IMPLANT  SCS-TRIAL    ≥ 50%   trial 10 d  1      —            no
========================  ===========  ===========  ======  ==========  =====  ===========  ======

The semantics:

- A rule speaks about the procedures whose code is in its ``target_codes``. A rule whose
  ``prior_codes`` overlap its ``target_codes`` is a **repeat** rule: it applies only when the
  patient has already had a target procedure (in the region, for a per-region rule). Otherwise
  it is an **initial** rule: it applies only when the patient has never had one (in the region).
  So ``mbb-to-rfa`` governs the region's first RFA and ``rfa-repeat`` every later one.
- **Per region**: a rule with ``per_region`` judges only the priors, and counts only the
  sessions, of the planned procedure's region (``Regions.region_of``). A planned procedure
  whose region is unknown (no level, or a level that names no region) cannot be judged by it:
  the check applies and is missed, saying so.
- A target is **eligible** when at least one applicable rule is met.
- A rule is **met** when both hold:

  (a) the ``required_prior_count`` most recent priors (code in ``prior_codes``) each gave
      relief ≥ ``min_relief_pct``; with ``min_relief_months``, that relief is **documented**: a
      relieved score on record on or after ``months_after(performed_on, N)`` inside the
      unbroken run of relieved scores from onset (``documented_relief``). With
      ``trial_days``, only the scores of days 1 … ``trial_days`` after the performed date
      count. A prior with a diary peak (``peak_relief_pct``) is judged by that peak under a
      rule without a duration (diagnostic blocks).
  (b) with ``max_sessions`` and ``window_months``, fewer than ``max_sessions`` target procedures
      were performed in the rolling window ending on ``on`` (``rolling_window_start``), so that
      the planned one would be at most the maximum.

- Only procedures performed, and scores recorded, on or before ``on`` count: an assessment "as
  of" a past date shows what was known then. Inactive rules are skipped.

Each ``RuleCheck`` carries reasons in words, each starting with "Applies", "Does not apply",
"Met" or "Missed" and naming the dates that decided it, those dates in ``deciding_dates``, and
for the payer's page the judged priors (``PriorResult``) and the sessions in the window.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from clinic.services.relief.rules import (
    Outcome,
    Score,
    format_percent,
    judge,
    percent_relief,
    summarise,
)
from clinic.services.relief.windows import months_after, rolling_window_start

_CODE_SEPARATORS = re.compile(r"[\s,]+")

REGIONS = ("cervical_thoracic", "lumbar_sacral")
REGION_NAMES = {"cervical_thoracic": "cervical/thoracic", "lumbar_sacral": "lumbar/sacral"}


def parse_codes(text: str | Iterable[str] | None) -> frozenset[str]:
    """'ESI-IL ESI-TF ESI-CA' (or a comma list, or an iterable of codes) → a set of codes."""
    if text is None:
        return frozenset()
    if isinstance(text, str):
        return frozenset(code for code in _CODE_SEPARATORS.split(text.strip()) if code)
    return frozenset(code.strip() for code in text if code and code.strip())


@dataclass(frozen=True)
class Regions:
    """Which spinal region a procedure is in, from the ``spinal_level_region`` table.

    ``by_level`` maps a level (``L4``, ``T12-L1``; upper case) to its region, ``by_code`` a
    procedure code that is always in one region (a caudal epidural) to it.
    """

    by_level: Mapping[str, str] = field(default_factory=dict)
    by_code: Mapping[str, str] = field(default_factory=dict)

    def level_region(self, level: str | None) -> str | None:
        """The region of a level text ('L4-L5', 'L4-L5, L5-S1', 'T12-L1'), or None when it names
        none or two. A span is looked up whole first, else by its lower (last written) end."""
        if not level or not level.strip():
            return None
        found: set[str] = set()
        for part in level.split(","):
            part = part.strip().upper()
            region = self.by_level.get(part)
            if region is None:
                ends = [end.strip() for end in part.split("-")]
                if not all(end in self.by_level for end in ends):
                    return None
                region = self.by_level[ends[-1]]
            found.add(region)
        return found.pop() if len(found) == 1 else None

    def region_of(self, code: str, level: str | None) -> str | None:
        """The region of a procedure: its code's fixed region, else its level's."""
        return self.by_code.get(code) or self.level_region(level)


def regions_from_rows(rows: Iterable[Any]) -> Regions:
    """A ``Regions`` from ``SpinalLevelRegion`` rows (duck-typed: level, procedure_code, region)."""
    by_level: dict[str, str] = {}
    by_code: dict[str, str] = {}
    for row in rows:
        if row.procedure_code:
            by_code[row.procedure_code] = row.region
        elif row.level:
            by_level[row.level.strip().upper()] = row.region
    return Regions(by_level, by_code)


@dataclass(frozen=True)
class Rule:
    """One repeat-eligibility rule, mirroring a ``RepeatEligibilityRule`` row."""

    code: str
    description: str
    target_codes: frozenset[str]
    prior_codes: frozenset[str]
    min_relief_pct: int
    min_relief_months: int | None
    required_prior_count: int
    max_sessions: int | None
    window_months: int | None
    per_region: bool = False
    trial_days: int | None = None
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
        return self.max_sessions is not None and self.window_months is not None


@dataclass(frozen=True)
class PastProcedure:
    """A completed intervention of the patient, with its follow-up pain scores.

    ``region`` is its spinal region (``Regions.region_of``), None when unknown;
    ``peak_relief_pct`` the peak percent relief of its pain diary, where it has one.
    """

    intervention_id: int
    code: str
    performed_on: date
    baseline: int | None
    scores: tuple[Score, ...] = ()
    region: str | None = None
    level: str | None = None
    peak_relief_pct: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", tuple(self.scores))


@dataclass(frozen=True)
class PriorResult:
    """One prior procedure judged by a rule: the relief it gave and whether it qualifies."""

    procedure: PastProcedure
    outcome: Outcome
    qualifies: bool
    reason: str
    dates: tuple[date, ...]
    documented_on: date | None = None  # the last relieved score of the run from onset
    needed_on: date | None = None  # the date a relieved score had to reach (N months after)
    scores: tuple[Score, ...] = ()  # the scores judged (known on the day; the trial's only)


@dataclass(frozen=True)
class RuleCheck:
    """One rule judged for one target: whether it applies, whether it is met, and why."""

    rule: Rule
    applies: bool
    met: bool
    reasons: list[str]
    deciding_dates: list[date]
    priors: list[PriorResult] = field(default_factory=list)
    sessions: list[PastProcedure] = field(default_factory=list)
    window: tuple[date, date] | None = None


@dataclass(frozen=True)
class Assessment:
    """Whether the patient is eligible for one target procedure (in one region), with every
    rule's check."""

    target_code: str
    eligible: bool
    checks: list[RuleCheck]
    region: str | None = None

    @property
    def met_checks(self) -> list[RuleCheck]:
        """The applicable rules that were met: any one of them makes the target eligible."""
        return [check for check in self.checks if check.applies and check.met]

    @property
    def deciding_checks(self) -> list[RuleCheck]:
        """The rules that decided: those met when eligible, else every applicable one."""
        if self.eligible:
            return self.met_checks
        return [check for check in self.checks if check.applies]


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
        min_relief_months=row.min_relief_months,
        # The column defaults to 1; an unsaved row may not have had the default applied yet.
        required_prior_count=1 if required is None else int(required),
        max_sessions=row.max_sessions,
        window_months=row.window_months,
        per_region=bool(getattr(row, "per_region", False)),
        trial_days=getattr(row, "trial_days", None),
        active=True if active is None else bool(active),
    )


def documented_relief(
    baseline: int | None, performed_on: date, scores: Iterable[Score], threshold: float
) -> date | None:
    """The date of the last relieved score of the unbroken run of relieved scores that starts
    at onset (the first relieved score after the performed date); None without one."""
    documented = None
    for score in sorted(scores, key=lambda s: s.recorded_on):
        if score.recorded_on <= performed_on:
            continue
        percent = percent_relief(baseline, score)
        if percent is None:
            continue
        if percent >= threshold:
            documented = score.recorded_on
        elif documented is not None:
            break
    return documented


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


def _months(count: int) -> str:
    return _plural(count, "month")


def _judge_prior(rule: Rule, procedure: PastProcedure, on: date) -> PriorResult:
    """Did this prior procedure give the relief the rule asks for, as known on ``on``?"""
    threshold = rule.min_relief_pct
    performed = procedure.performed_on
    last_day = on
    trial = ""
    if rule.trial_days is not None:
        trial_end = performed + timedelta(days=rule.trial_days)
        last_day = min(on, trial_end)
        trial = (
            f" during the {rule.trial_days}-day trial "
            f"({performed + timedelta(days=1)} to {trial_end})"
        )
    known = tuple(score for score in procedure.scores if score.recorded_on <= last_day)
    follow_ups = summarise(procedure.baseline, performed, known, threshold)
    outcome = judge(procedure.baseline, performed, follow_ups, threshold)
    what = f"{procedure.code} on {performed}"
    pct = f"≥ {rule.min_relief_pct}% relief"
    common = {"scores": known}
    peak = procedure.peak_relief_pct
    if peak is not None and rule.min_relief_months is None and rule.trial_days is None:
        qualifies = peak >= threshold
        if qualifies or not outcome.responder:
            best = (
                f"best score {format_percent(outcome.best_relief_pct)}%"
                if outcome.best_relief_pct is not None
                else "no score"
            )
            reason = (
                f"{_verdict(qualifies)}: {what} {'gave' if qualifies else 'did not give'} {pct} "
                f"(diary peak {format_percent(peak)}%; {best})"
            )
            return PriorResult(procedure, outcome, qualifies, reason, (performed,), **common)
    if not outcome.evaluable:
        why = outcome.not_evaluable_reason
        if trial and why == "no follow-up score yet":
            why = "no score"
        reason = f"Missed: {what} — relief cannot be assessed{trial} ({why})"
        return PriorResult(procedure, outcome, False, reason, (performed,), **common)
    if not outcome.responder:
        assert outcome.best_relief_pct is not None and outcome.best_relief_on is not None
        reason = (
            f"Missed: {what} did not give {pct}{trial} "
            f"(best {format_percent(outcome.best_relief_pct)}% on {outcome.best_relief_on})"
        )
        return PriorResult(
            procedure, outcome, False, reason, (performed, outcome.best_relief_on), **common
        )
    assert outcome.onset_on is not None
    if rule.min_relief_months is None:
        reason = f"Met: {what} gave {pct}{trial} (from {outcome.onset_on})"
        return PriorResult(
            procedure, outcome, True, reason, (performed, outcome.onset_on), **common
        )
    documented = documented_relief(procedure.baseline, performed, known, threshold)
    assert documented is not None  # a responder has a relieved score
    needed = months_after(performed, rule.min_relief_months)
    qualifies = documented >= needed
    if outcome.relief_ended_on is not None:
        ended = f"; relief ended {outcome.relief_ended_on}"
        dates: tuple[date, ...] = (performed, outcome.onset_on, documented, outcome.relief_ended_on)
    else:
        ended = "; still relieved at the last score"
        dates = (performed, outcome.onset_on, documented)
    reason = (
        f"{_verdict(qualifies)}: {what} gave {pct} documented from {outcome.onset_on} "
        f"to {documented}{ended} — needs a relieved score on or after {needed} "
        f"({_months(rule.min_relief_months)})"
    )
    return PriorResult(procedure, outcome, qualifies, reason, dates, documented, needed, **common)


def _prior_summary(
    rule: Rule, priors: list[PastProcedure], judged: list[PriorResult], on: date, where: str
) -> tuple[str, list[date]] | None:
    """A line on the count of qualifying priors, where the per-procedure lines alone don't say it."""
    need = rule.required_prior_count
    codes = _codes_or(rule.prior_codes)
    asked = f"≥ {rule.min_relief_pct}% relief"
    if rule.min_relief_months is not None:
        asked += f" documented ≥ {_months(rule.min_relief_months)}"
    if not priors:
        return f"Missed: no {codes}{where} on or before {on} — needs {need} with {asked}", []
    if len(priors) < need:
        dates = [p.performed_on for p in priors]
        listed = ", ".join(str(d) for d in dates)
        return (
            f"Missed: only {len(priors)} {codes}{where} on or before {on} ({listed}) — "
            f"needs the {need} most recent to each give {asked}"
        ), dates
    if need == 1:
        return None
    good = [result for result in judged if result.qualifies]
    dates = [result.procedure.performed_on for result in good]
    listed = f" ({', '.join(str(d) for d in dates)})" if dates else ""
    met = len(good) >= need
    return (
        f"{_verdict(met)}: {len(good)} of the {need} most recent {codes}{where}{listed} "
        f"gave {asked} — needs all {need}"
    ), dates


def _session_check(
    rule: Rule, done: list[PastProcedure], on: date, where: str
) -> tuple[bool, str, list[PastProcedure], tuple[date, date]]:
    """(b): fewer than max_sessions target procedures in the rolling window ending on ``on``."""
    assert rule.max_sessions is not None and rule.window_months is not None
    start = rolling_window_start(on, rule.window_months)
    inside = [p for p in done if start <= p.performed_on <= on]
    met = len(inside) < rule.max_sessions
    if len(rule.target_codes) == 1:
        listed = ", ".join(str(p.performed_on) for p in inside)
    else:
        listed = ", ".join(f"{p.code} {p.performed_on}" for p in inside)
    found = (
        f"{_plural(len(inside), _codes_or(rule.target_codes) + ' session')}{where} ({listed})"
        if inside
        else f"no {_codes_or(rule.target_codes)} session{where}"
    )
    reason = (
        f"{_verdict(met)}: {found} in the rolling {_months(rule.window_months)} from {start} "
        f"to {on}; with this one {len(inside) + 1} — at most {rule.max_sessions} allowed"
    )
    return met, reason, inside, (start, on)


def _check_rule(
    rule: Rule, known: list[PastProcedure], on: date, region: str | None, target_code: str
) -> RuleCheck:
    """Judge one rule against the history known on ``on`` (sorted, nothing after ``on``)."""
    where = ""
    if rule.per_region:
        if region is None:
            reason = (
                f"Missed: the planned {target_code} has no spinal level that names a region, "
                f"and this rule counts per region — give the level"
            )
            return RuleCheck(rule, True, False, [reason], [])
        known = [p for p in known if p.region == region]
        where = f" in the {REGION_NAMES.get(region, region)} region"
    done = [p for p in known if p.code in rule.target_codes]
    targets = _codes_or(rule.target_codes)
    if rule.is_repeat:
        if not done:
            reason = (
                f"Does not apply: no {targets}{where} on or before {on}; this rule is for a repeat"
            )
            return RuleCheck(rule, False, False, [reason], [])
        last = done[-1]
        reasons = [
            f"Applies: a repeat — {last.code}{where} already performed on {last.performed_on}"
        ]
        dates = {last.performed_on}
    else:
        if done:
            last = done[-1]
            reason = (
                f"Does not apply: {last.code}{where} already performed on {last.performed_on}; "
                f"this rule is for a first {targets}"
            )
            return RuleCheck(rule, False, False, [reason], [last.performed_on])
        reasons = [f"Applies: a first {targets}{where} — none on or before {on}"]
        dates = set()

    # (a) the relief given by the most recent prior procedures.
    priors = [p for p in known if p.code in rule.prior_codes]
    need = rule.required_prior_count
    judged = [_judge_prior(rule, p, on) for p in priors[-need:]]
    relief_met = len(priors) >= need and all(r.qualifies for r in judged)
    summary = _prior_summary(rule, priors, judged, on, where)
    if summary is not None:
        reasons.append(summary[0])
        dates.update(summary[1])
    for result in judged:
        reasons.append(result.reason)
        dates.update(result.dates)

    # (b) the session limit over the rolling window.
    sessions_met = True
    sessions: list[PastProcedure] = []
    window = None
    if rule.has_session_limit:
        sessions_met, reason, sessions, window = _session_check(rule, done, on, where)
        reasons.append(reason)
        dates.update(p.performed_on for p in sessions)

    return RuleCheck(
        rule, True, relief_met and sessions_met, reasons, sorted(dates), judged, sessions, window
    )


def _known(history: Iterable[PastProcedure], on: date) -> list[PastProcedure]:
    return sorted((p for p in history if p.performed_on <= on), key=_chronological)


def assess_target(
    rules: Sequence[Rule],
    target_code: str,
    history: Sequence[PastProcedure],
    on: date,
    region: str | None = None,
) -> Assessment:
    """Is the patient eligible for ``target_code`` (in ``region``) on ``on``? Every active rule
    naming it is judged."""
    known = _known(history, on)
    checks = [
        _check_rule(rule, known, on, region, target_code)
        for rule in rules
        if rule.active and target_code in rule.target_codes
    ]
    eligible = any(check.applies and check.met for check in checks)
    return Assessment(target_code=target_code, eligible=eligible, checks=checks, region=region)


def targets_of(
    rules: Sequence[Rule], history: Sequence[PastProcedure], on: date, regions: Regions
) -> list[tuple[str, str | None]]:
    """Every (target code, region) a rule names from the patient's history, sorted.

    A rule's targets are assessed when the patient has had (on or before ``on``) a procedure with
    a code among its prior or target codes. A target some per-region rule names is assessed in
    each region in which the patient has had such a procedure — never in a region other than
    its code's own (a caudal epidural is never cervical) — or once with no region when none of
    them has a level that names one; a target no per-region rule names, once with no region.
    """
    had = [p for p in history if p.performed_on <= on]
    found: set[tuple[str, str | None]] = set()
    for rule in rules:
        if not rule.active:
            continue
        named = rule.prior_codes | rule.target_codes
        touched = [p for p in had if p.code in named]
        if not touched:
            continue
        for target in rule.target_codes:
            per_region = any(r.active and r.per_region and target in r.target_codes for r in rules)
            if not per_region:
                found.add((target, None))
                continue
            fixed = regions.by_code.get(target)
            known = {p.region for p in touched if p.region is not None}
            unknown = any(p.region is None for p in touched)
            if fixed is not None:
                in_regions: set[str | None] = {fixed} if fixed in known or unknown else set()
            else:
                # With no level on record the region is unknown: assessed once, saying so.
                in_regions = set(known) or {None}
            for region in in_regions:
                found.add((target, region))
    return sorted(found, key=lambda pair: (pair[0], pair[1] or ""))


def assess_patient(
    rules: Sequence[Rule],
    history: Sequence[PastProcedure],
    on: date,
    regions: Regions | None = None,
) -> list[Assessment]:
    """Assess every (target code, region) of ``targets_of``, sorted by target code and region."""
    return [
        assess_target(rules, target, history, on, region)
        for target, region in targets_of(rules, history, on, regions or Regions())
    ]
