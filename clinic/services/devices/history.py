"""A patient's stimulators and their programming history, and what the devices pages choose from."""

from dataclasses import dataclass, field
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager, joinedload, selectinload

from clinic.models import Intervention, ProcedureType, ScsDevice, StimulatorAdjustment, Visit
from clinic.services.devices.limits import CPT_LABELS, PARADIGM_LABELS
from clinic.services.devices.programming import OPEN_VISIT_STATUSES
from clinic.services.devices.registry import IMPLANT_PROCEDURE_CODE


@dataclass
class DeviceHistory:
    """One device and its programming, most recent first."""

    device: ScsDevice
    adjustments: list[StimulatorAdjustment] = field(default_factory=list)

    @property
    def explanted(self) -> bool:
        return self.device.explanted_on is not None


@dataclass
class StimulatorHistory:
    """A patient's stimulators, implanted ones first, each with its programming history."""

    patient_id: int
    devices: list[DeviceHistory]
    paradigm_labels: ClassVar[dict[str, str]] = PARADIGM_LABELS
    cpt_labels: ClassVar[dict[str, str]] = CPT_LABELS

    @property
    def implanted(self) -> list[ScsDevice]:
        return [entry.device for entry in self.devices if not entry.explanted]

    def __bool__(self) -> bool:
        return bool(self.devices)


def stimulator_history(session: Session, patient_id: int) -> StimulatorHistory:
    """The patient's devices with their programming visits, in three queries whatever their number.

    A booking subclass (intervention, visit) is loaded by its own query or through the inner
    join already there, never by an outer join: SQLite answers an outer join to a joined-table
    subclass by reading every booking first (a second per patient page at 50,000 patients).
    """
    devices = (
        session.execute(
            select(ScsDevice)
            .options(selectinload(ScsDevice.implant_intervention))
            .where(ScsDevice.patient_id == patient_id)
            .order_by(
                ScsDevice.explanted_on.is_not(None),
                ScsDevice.implanted_on.desc(),
                ScsDevice.id.desc(),
            )
        )
        .unique()
        .scalars()
        .all()
    )
    history = {device.id: DeviceHistory(device) for device in devices}
    if history:
        adjustments = (
            session.execute(
                select(StimulatorAdjustment)
                .join(StimulatorAdjustment.visit)
                .options(contains_eager(StimulatorAdjustment.visit).joinedload(Visit.physician))
                .where(StimulatorAdjustment.device_id.in_(history))
                .order_by(Visit.starts_at.desc(), StimulatorAdjustment.id.desc())
            )
            .unique()
            .scalars()
            .all()
        )
        for adjustment in adjustments:
            history[adjustment.device_id].adjustments.append(adjustment)
    return StimulatorHistory(patient_id, list(history.values()))


def last_settings(session: Session, device_id: int) -> StimulatorAdjustment | None:
    """The device's most recent programming: the settings a new programming starts from."""
    return (
        session.execute(
            select(StimulatorAdjustment)
            .join(StimulatorAdjustment.visit)
            .options(contains_eager(StimulatorAdjustment.visit))
            .where(StimulatorAdjustment.device_id == device_id)
            .order_by(Visit.starts_at.desc(), StimulatorAdjustment.id.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )


def implant_procedures(session: Session, patient_id: int) -> list[Intervention]:
    """The patient's completed SCS-IMPLANT procedures, most recent first (the device form's choices)."""
    return list(
        session.execute(
            select(Intervention)
            .join(Intervention.procedure_type)
            .where(
                Intervention.patient_id == patient_id,
                Intervention.status == "completed",
                ProcedureType.code == IMPLANT_PROCEDURE_CODE,
            )
            .order_by(Intervention.performed_on.desc())
        ).scalars()
    )


def open_adjustment_visits(session: Session, patient_id: int) -> list[Visit]:
    """The patient's stimulator-adjustment visits still waiting for their programming."""
    return list(
        session.execute(
            select(Visit)
            .options(joinedload(Visit.physician), joinedload(Visit.room))
            .where(
                Visit.patient_id == patient_id,
                Visit.visit_kind == "stimulator_adjustment",
                Visit.status.in_(OPEN_VISIT_STATUSES),
            )
            .order_by(Visit.starts_at)
        ).scalars()
    )
