"""The payer's page: one planned procedure judged by the payer rules, with every fact a
prior-authorisation reviewer reads (the patient, the rule and verdict, the priors that decided
it with each follow-up score, the sessions in the window). Three statements, whatever the
history: the rules, the regions and the patient's completed procedures with their scores."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from clinic.models import Intervention, PainScore, ProcedureType
from clinic.services import DomainError
from clinic.services.followup.diary import diary_results, peak_of
from clinic.services.procedures import normalise_levels
from clinic.services.relief import eligibility
from clinic.services.relief.payers import load_regions, load_rules
from clinic.services.relief.rules import Score, format_percent, percent_relief


@dataclass(frozen=True)
class ScoreLine:
    """One follow-up score as the reviewer reads it."""

    recorded_on: date
    day: int  # days after the procedure
    nrs: int
    percent: str  # percent relief, '' when it cannot be worked out
    relieved: bool


@dataclass(frozen=True)
class PriorLine:
    """A prior procedure that decided a rule, with its scores and documented duration."""

    intervention: Intervention
    result: eligibility.PriorResult
    scores: list[ScoreLine]

    @property
    def documented(self) -> str:
        result = self.result
        if result.documented_on is None:
            return "—"
        days = (result.documented_on - result.procedure.performed_on).days
        return f"to {result.documented_on} (day {days}); needed on or after {result.needed_on}"


@dataclass(frozen=True)
class RuleLines:
    """One rule that decided the verdict, with its priors and sessions."""

    check: eligibility.RuleCheck
    priors: list[PriorLine]
    sessions: list[Intervention]


@dataclass(frozen=True)
class PayerView:
    """Everything the payer's page prints."""

    code: str
    procedure_name: str
    level: str | None
    region: str | None
    assessment: eligibility.Assessment
    rules: list[RuleLines]
    has_history: bool

    @property
    def region_name(self) -> str:
        if self.region is None:
            return "unknown (no level)"
        return eligibility.REGION_NAMES.get(self.region, self.region)


def payer_view(
    session: Session, patient_id: int, code: str | None, level: str | None, on: date
) -> PayerView:
    """Judge the planned procedure ``code`` at ``level`` for the patient as of ``on``.

    Raises ``DomainError`` (field ``what`` or ``level``) when the question cannot be asked: no
    code, a code no active rule names, a level that is not written as levels or names no region.
    """
    rules = load_rules(session)
    regions = load_regions(session)
    level, region = _question(rules, regions, code, level)
    assert code is not None
    name = session.execute(select(ProcedureType.name).where(ProcedureType.code == code)).scalar()
    interventions, history = _history(session, patient_id, on, regions)
    by_id = {i.id: i for i in interventions}
    assessment = eligibility.assess_target(rules, code, history, on, region)
    named_codes = {
        c
        for rule in rules
        if code in rule.target_codes
        for c in rule.prior_codes | rule.target_codes
    }
    return PayerView(
        code=code,
        procedure_name=name or code,
        level=level,
        region=region,
        assessment=assessment,
        rules=[_rule_lines(check, by_id) for check in assessment.deciding_checks],
        has_history=any(p.code in named_codes for p in history),
    )


def _question(
    rules: list[eligibility.Rule], regions: eligibility.Regions, code: str | None, level: str | None
) -> tuple[str | None, str | None]:
    """The planned procedure's level (normalised) and region; a ``DomainError`` when the
    question cannot be asked."""
    named = sorted({target for rule in rules for target in rule.target_codes})
    if not code:
        raise DomainError(f"Choose the planned procedure: one of {', '.join(named)}.", "what")
    if code not in named:
        raise DomainError(
            f"No payer rule names the procedure {code!r}: choose one of {', '.join(named)}.",
            "what",
        )
    level = normalise_levels(level)  # raises a DomainError on text that is not levels
    region = regions.region_of(code, level)
    if level and region is None:
        raise DomainError(
            f"The level {level} names no spinal region (cervical/thoracic C1–T12, "
            "lumbar/sacral L1–S5): give the level of the planned procedure.",
            "level",
        )
    return level, region


def _history(
    session: Session, patient_id: int, on: date, regions: eligibility.Regions
) -> tuple[list[Intervention], list[eligibility.PastProcedure]]:
    """The patient's completed procedures up to ``on`` and their scores known then: two
    statements."""
    interventions = list(
        session.execute(
            select(Intervention)
            .options(joinedload(Intervention.procedure_type))
            .where(
                Intervention.patient_id == patient_id,
                Intervention.status == "completed",
                Intervention.performed_on.is_not(None),
                Intervention.performed_on <= on,
            )
            .order_by(Intervention.performed_on, Intervention.id)
        )
        .unique()
        .scalars()
    )
    scores: dict[int, list[Score]] = defaultdict(list)
    if interventions:
        for row in session.execute(
            select(
                PainScore.intervention_id,
                PainScore.recorded_on,
                PainScore.nrs,
                PainScore.percent_relief,
            )
            .where(
                PainScore.intervention_id.in_([i.id for i in interventions]),
                PainScore.recorded_on <= on,
            )
            .order_by(PainScore.recorded_on)
        ):
            scores[row[0]].append(Score(row[1], row[2], row[3]))
    # A diagnostic block is judged by its pain diary's peak relief where it has one.
    diaries = diary_results(session, [i.id for i in interventions if i.procedure_type.diagnostic])
    history = [
        eligibility.PastProcedure(
            i.id,
            i.procedure_type.code,
            i.performed_on,
            i.baseline_nrs,
            scores[i.id],
            region=regions.region_of(i.procedure_type.code, i.spinal_level),
            level=i.spinal_level,
            peak_relief_pct=peak_of(diaries.get(i.id)),
        )
        for i in interventions
    ]
    return interventions, history


def _rule_lines(check: eligibility.RuleCheck, by_id: dict[int, Intervention]) -> RuleLines:
    priors = []
    for result in check.priors:
        procedure = result.procedure
        threshold = check.rule.min_relief_pct
        lines = []
        for score in result.scores:
            if score.recorded_on <= procedure.performed_on:
                continue
            percent = percent_relief(procedure.baseline, score)
            lines.append(
                ScoreLine(
                    score.recorded_on,
                    (score.recorded_on - procedure.performed_on).days,
                    score.nrs,
                    "" if percent is None else format_percent(round(percent, 1)),
                    percent is not None and percent >= threshold,
                )
            )
        priors.append(PriorLine(by_id[procedure.intervention_id], result, lines))
    sessions = [by_id[p.intervention_id] for p in check.sessions]
    return RuleLines(check, priors, sessions)
