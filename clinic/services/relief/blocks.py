"""Diagnostic blocks on the relief report: judged by their diary's peak relief and hours, not by
days (docs/rules.md, The diagnostic-block diary).

For each diagnostic procedure type in the report's selection: the completed blocks, those with a
diary, the responders among them (peak relief ≥ the threshold), and the median peak relief and
median hours of relief. Two queries, whatever the number of blocks; and like the rest of the
report's figures, computed once per change of the data and kept (``cache``): the data version
moves with every diary entry too.
"""

from collections import defaultdict
from dataclasses import asdict, dataclass
from statistics import median

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from clinic.models import DiaryEntry, Intervention, Patient, ProcedureType
from clinic.services.filters import ReportFilters
from clinic.services.followup.diary import DiaryPoint, DiaryResult, judge_diary
from clinic.services.relief import cache


@dataclass(frozen=True)
class BlockSummary:
    """One diagnostic procedure type's blocks, by their diaries."""

    code: str
    name: str
    blocks: int  # completed blocks in the selection
    with_diary: int
    responders: int  # diaries whose peak relief reaches the threshold
    median_peak: float | None
    median_hours: float | None  # among the responders

    @property
    def responder_rate(self) -> float | None:
        return 100 * self.responders / self.with_diary if self.with_diary else None


def _selected(filters: ReportFilters, *columns) -> Select:
    chosen = (
        select(*columns)
        .select_from(Intervention)
        .join(ProcedureType, ProcedureType.id == Intervention.procedure_type_id)
        .where(ProcedureType.diagnostic.is_(True), Intervention.status == "completed")
    )
    if filters.condition:
        chosen = chosen.join(Patient, Patient.id == Intervention.patient_id).where(
            Patient.condition == filters.condition
        )
    if filters.date_from:
        chosen = chosen.where(Intervention.performed_on >= filters.date_from)
    if filters.date_to:
        chosen = chosen.where(Intervention.performed_on <= filters.date_to)
    if filters.physician_id:
        chosen = chosen.where(Intervention.physician_id == filters.physician_id)
    if filters.procedure_code:
        chosen = chosen.where(ProcedureType.code == filters.procedure_code)
    return chosen


def diagnostic_blocks(session: Session, filters: ReportFilters) -> list[BlockSummary]:
    """The report's diagnostic blocks per procedure type, judged by their diaries: kept for this
    selection while the data is unchanged, else computed and kept in the caller's transaction."""
    figures = cache.kept_or_computed(
        session,
        filters,
        "diagnostic-blocks",
        lambda: [asdict(summary) for summary in computed_blocks(session, filters)],
    )
    return [BlockSummary(**summary) for summary in figures]


def computed_blocks(session: Session, filters: ReportFilters) -> list[BlockSummary]:
    """The diagnostic blocks per procedure type, from every diary entry of the selection."""
    counts = session.execute(
        _selected(filters, ProcedureType.code, ProcedureType.name, func.count())
        .group_by(ProcedureType.code, ProcedureType.name)
        .order_by(ProcedureType.code)
    ).all()
    if not counts:
        return []
    points: dict[int, list[DiaryPoint]] = defaultdict(list)
    baselines: dict[int, tuple[str, int | None]] = {}
    for intervention_id, code, baseline, minutes, nrs, percent in session.execute(
        _selected(
            filters,
            Intervention.id,
            ProcedureType.code,
            Intervention.baseline_nrs,
            DiaryEntry.minutes_after,
            DiaryEntry.nrs,
            DiaryEntry.percent_relief,
        ).join(DiaryEntry, DiaryEntry.intervention_id == Intervention.id)
    ):
        baselines[intervention_id] = (code, baseline)
        points[intervention_id].append(DiaryPoint(minutes, nrs, percent))
    by_code: dict[str, list[DiaryResult]] = defaultdict(list)
    for intervention_id, rows in points.items():
        code, baseline = baselines[intervention_id]
        by_code[code].append(judge_diary(intervention_id, baseline, rows, filters.threshold))
    summaries = []
    for code, name, blocks in counts:
        results = by_code.get(code, [])
        peaks = [r.peak_relief for r in results if r.peak_relief is not None]
        responders = [r for r in results if r.responder]
        hours = [r.hours_relieved for r in responders if r.hours_relieved is not None]
        summaries.append(
            BlockSummary(
                code,
                name,
                blocks,
                len(results),
                len(responders),
                median(peaks) if peaks else None,
                median(hours) if hours else None,
            )
        )
    return summaries
