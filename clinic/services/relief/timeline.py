"""A patient's outcomes: each completed procedure's relief, the pain chart, repeat eligibility.

Database code only feeds the pure rules in ``clinic.services.relief.rules`` and
``clinic.services.relief.eligibility``: two queries load everything for one patient.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from clinic.models import Intervention, PainScore, RepeatEligibilityRule
from clinic.services.relief import eligibility
from clinic.services.relief import rules as relief
from clinic.services.relief.charts import ProcedureTrace


@dataclass(frozen=True)
class ProcedureOutcome:
    intervention: Intervention
    scores: list[PainScore]
    outcome: relief.Outcome

    @property
    def status_text(self) -> str:
        return relief.relief_status_text(self.outcome)


@dataclass(frozen=True)
class EligibilityGroup:
    """Targets whose eligibility was decided by the same rules for the same reasons, shown once."""

    target_codes: list[str]
    eligible: bool
    checks: list[eligibility.RuleCheck]


def group_assessments(assessments: list[eligibility.Assessment]) -> list[EligibilityGroup]:
    groups: dict[tuple, EligibilityGroup] = {}
    for assessment in assessments:
        applied = [check for check in assessment.checks if check.applies]
        key = (assessment.eligible, tuple((c.rule.code, c.met, tuple(c.reasons)) for c in applied))
        if key in groups:
            groups[key].target_codes.append(assessment.target_code)
        else:
            groups[key] = EligibilityGroup([assessment.target_code], assessment.eligible, applied)
    return list(groups.values())


@dataclass(frozen=True)
class PatientOutcomes:
    procedures: list[ProcedureOutcome]
    eligibility: list[eligibility.Assessment]
    threshold: float

    @property
    def eligibility_groups(self) -> list[EligibilityGroup]:
        return group_assessments(self.eligibility)

    def chart_traces(self) -> list[ProcedureTrace]:
        return [
            ProcedureTrace(
                label=f"{p.intervention.procedure_type.code} {p.intervention.performed_on:%d %b %Y}",
                performed_on=p.intervention.performed_on,
                baseline=p.intervention.baseline_nrs,
                scores=[
                    (s.recorded_on, s.nrs)
                    for s in p.scores
                    if s.recorded_on > p.intervention.performed_on
                ],
            )
            for p in self.procedures
        ]


def patient_outcomes(
    session: Session, patient_id: int, today: date, threshold: float = 50
) -> PatientOutcomes:
    """Every completed procedure of the patient with its relief, and the repeat-eligibility checks."""
    interventions = list(
        session.execute(
            select(Intervention)
            .options(joinedload(Intervention.procedure_type), joinedload(Intervention.physician))
            .where(Intervention.patient_id == patient_id, Intervention.status == "completed")
            .order_by(Intervention.performed_on, Intervention.id)
        )
        .unique()
        .scalars()
    )
    scores_by_intervention: dict[int, list[PainScore]] = defaultdict(list)
    if interventions:
        for score in session.execute(
            select(PainScore)
            .where(PainScore.intervention_id.in_([i.id for i in interventions]))
            .order_by(PainScore.recorded_on)
        ).scalars():
            scores_by_intervention[score.intervention_id].append(score)
    procedures = []
    history = []
    for intervention in interventions:
        scores = scores_by_intervention[intervention.id]
        plain = tuple(relief.Score(s.recorded_on, s.nrs, s.percent_relief) for s in scores)
        procedures.append(
            ProcedureOutcome(
                intervention,
                scores,
                relief.assess(
                    intervention.baseline_nrs, intervention.performed_on, plain, threshold
                ),
            )
        )
        history.append(
            eligibility.PastProcedure(
                intervention.id,
                intervention.procedure_type.code,
                intervention.performed_on,
                intervention.baseline_nrs,
                plain,
            )
        )
    rules = [
        eligibility.rule_from_row(row)
        for row in session.execute(
            select(RepeatEligibilityRule).where(RepeatEligibilityRule.active.is_(True))
        ).scalars()
    ]
    return PatientOutcomes(
        procedures, eligibility.assess_patient(rules, history, today) if history else [], threshold
    )
