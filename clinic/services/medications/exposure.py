"""Cumulative corticosteroid exposure: the methylprednisolone-equivalent (MPE) total a patient
was given in each of the clinic's rolling windows, and whether a planned procedure's usual dose
would take it past the clinic's limit (docs/rules.md, Corticosteroid exposure).

Two statements whatever the history: the active limits, and the MPE given at each completed
intervention of the longest window, summed by the database. A window is counted as the
repeat-eligibility rules count theirs (``relief.windows.rolling_window_start``): per rolling 12
months up to 2026-11-27 runs from 2025-11-28 through 2026-11-27.
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clinic.models import Drug, Intervention, MedicationGiven, ProcedureType, SteroidLimit
from clinic.services.medications.equivalence import mpe_sql, to_tenth
from clinic.services.relief.windows import rolling_window_start


@dataclass(frozen=True)
class SteroidDose:
    """The corticosteroid given at one completed intervention, in MPE mg."""

    intervention_id: int
    performed_on: date
    procedure_code: str
    procedure_name: str
    mpe_mg: Decimal

    def describe(self) -> str:
        return f"{self.procedure_code} on {self.performed_on.isoformat()} ({self.mpe_mg:f} mg)"


@dataclass(frozen=True)
class WindowTotal:
    """One limit's rolling window ending on the day judged, with what it holds."""

    window_months: int
    max_mpe_mg: Decimal
    starts_on: date
    ends_on: date
    doses: list[SteroidDose]
    planned_mpe_mg: Decimal | None = None

    @property
    def label(self) -> str:
        months = self.window_months
        if months % 12 == 0:
            years = months // 12
            return "12 months" if years == 1 else f"{years} years"
        return f"{months} months"

    @property
    def total_mpe_mg(self) -> Decimal:
        return to_tenth(sum((dose.mpe_mg for dose in self.doses), Decimal(0)))

    @property
    def with_planned_mpe_mg(self) -> Decimal:
        return self.total_mpe_mg + (self.planned_mpe_mg or 0)

    @property
    def over(self) -> bool:
        """Already past the limit, before anything more is given."""
        return self.total_mpe_mg > self.max_mpe_mg

    @property
    def would_pass(self) -> bool:
        """The planned procedure's usual dose would take the total over the limit."""
        return self.planned_mpe_mg is not None and self.with_planned_mpe_mg > self.max_mpe_mg

    def counted(self) -> str:
        return ", ".join(dose.describe() for dose in self.doses) or "none"


@dataclass(frozen=True)
class SteroidExposure:
    """A patient's corticosteroid totals per limit, on a day (a planned procedure's, or today)."""

    on: date
    windows: list[WindowTotal] = field(default_factory=list)
    planned_code: str | None = None

    @property
    def warnings(self) -> list[WindowTotal]:
        return [window for window in self.windows if window.would_pass]

    def warning_message(self) -> str | None:
        """The booking form's warning, naming the limit and the procedures that count."""
        if not self.warnings:
            return None
        parts = [
            f"over {window.label} (from {window.starts_on.isoformat()}) the methylprednisolone-"
            f"equivalent total would be {window.with_planned_mpe_mg:f} mg, past the clinic's "
            f"limit of {window.max_mpe_mg:f} mg; counted: {window.counted()}"
            for window in self.warnings
        ]
        planned = self.warnings[0].planned_mpe_mg
        return (
            f"Corticosteroid limit: with the usual {planned:f} mg of {self.planned_code} on "
            f"{self.on.isoformat()}, " + "; ".join(parts) + "."
        )


def active_limits(session: Session) -> list[SteroidLimit]:
    return list(
        session.execute(
            select(SteroidLimit)
            .where(SteroidLimit.active.is_(True))
            .order_by(SteroidLimit.window_months)
        ).scalars()
    )


def steroid_doses(session: Session, patient_id: int, since: date, until: date) -> list[SteroidDose]:
    """The MPE given at each of the patient's completed interventions performed in
    ``since``–``until`` (inclusive) that had a corticosteroid, summed by the database."""
    mpe = func.sum(mpe_sql(MedicationGiven.dose_mg, Drug.equivalent_mg))
    rows = session.execute(
        select(
            Intervention.id,
            Intervention.performed_on,
            ProcedureType.code,
            ProcedureType.name,
            mpe.label("mpe"),
        )
        .select_from(MedicationGiven)
        .join(Drug, Drug.id == MedicationGiven.drug_id)
        .join(Intervention, Intervention.id == MedicationGiven.intervention_id)
        .join(ProcedureType, ProcedureType.id == Intervention.procedure_type_id)
        .where(
            Intervention.patient_id == patient_id,
            Intervention.status == "completed",
            Drug.equivalent_mg.is_not(None),
            MedicationGiven.dose_mg.is_not(None),
            Intervention.performed_on.between(since, until),
        )
        .group_by(
            Intervention.id, Intervention.performed_on, ProcedureType.code, ProcedureType.name
        )
        .order_by(Intervention.performed_on, Intervention.id)
    ).all()
    return [SteroidDose(row[0], row[1], row[2], row[3], to_tenth(row[4])) for row in rows]


def steroid_exposure(
    session: Session,
    patient_id: int,
    on: date,
    planned: ProcedureType | None = None,
) -> SteroidExposure:
    """The patient's MPE totals in each active limit's window ending on ``on``; with the planned
    procedure's usual dose when ``planned`` is a steroid procedure."""
    limits = active_limits(session)
    if not limits:
        return SteroidExposure(on)
    starts = {
        limit.window_months: rolling_window_start(on, limit.window_months) for limit in limits
    }
    doses = steroid_doses(session, patient_id, min(starts.values()), on)
    usual = planned.usual_steroid_mpe_mg if planned is not None else None
    windows = [
        WindowTotal(
            limit.window_months,
            limit.max_mpe_mg,
            starts[limit.window_months],
            on,
            [dose for dose in doses if dose.performed_on >= starts[limit.window_months]],
            usual,
        )
        for limit in limits
    ]
    return SteroidExposure(on, windows, planned.code if planned is not None else None)
