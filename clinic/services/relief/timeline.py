"""A patient's outcomes: each completed procedure's relief, the pain chart, repeat eligibility.

Database code only feeds the pure rules in ``clinic.services.relief.rules`` and
``clinic.services.relief.eligibility``: two queries load everything for one patient.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from clinic.models import Intervention, PainScore
from clinic.services.followup.diary import diary_results, peak_of
from clinic.services.relief import eligibility, payers
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
    region: str | None = None
    level: str | None = None  # a level of the region on record, for the payer's page link

    @property
    def region_name(self) -> str | None:
        return eligibility.REGION_NAMES.get(self.region or "", self.region)


def group_assessments(assessments: list[eligibility.Assessment]) -> list[EligibilityGroup]:
    groups: dict[tuple, EligibilityGroup] = {}
    for assessment in assessments:
        applied = [check for check in assessment.checks if check.applies]
        key = (
            assessment.region,
            assessment.eligible,
            tuple((c.rule.code, c.met, tuple(c.reasons)) for c in applied),
        )
        if key in groups:
            groups[key].target_codes.append(assessment.target_code)
        else:
            groups[key] = EligibilityGroup(
                [assessment.target_code],
                assessment.eligible,
                applied,
                assessment.region,
                _level_on_record(assessment),
            )
    return list(groups.values())


def _level_on_record(assessment: eligibility.Assessment) -> str | None:
    """The level of the latest procedure a check judged or counted, where one is recorded."""
    judged = [
        procedure
        for check in assessment.checks
        for procedure in [*(prior.procedure for prior in check.priors), *check.sessions]
        if procedure.level
    ]
    if not judged:
        return None
    return max(judged, key=lambda p: (p.performed_on, p.intervention_id)).level


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
                short_label=p.intervention.procedure_type.code,
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
    regions = payers.load_regions(session)
    # A diagnostic block is judged by its pain diary's peak relief where it has one.
    diaries = diary_results(session, [i.id for i in interventions if i.procedure_type.diagnostic])
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
        code = intervention.procedure_type.code
        history.append(
            eligibility.PastProcedure(
                intervention.id,
                code,
                intervention.performed_on,
                intervention.baseline_nrs,
                plain,
                region=regions.region_of(code, intervention.spinal_level),
                level=intervention.spinal_level,
                peak_relief_pct=peak_of(diaries.get(intervention.id)),
            )
        )
    rules = payers.load_rules(session)
    return PatientOutcomes(
        procedures,
        eligibility.assess_patient(rules, history, today, regions) if history else [],
        threshold,
    )
