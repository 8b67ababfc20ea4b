"""What was given during a procedure: the drug catalogue, the medications given, and the
clinic's corticosteroid limits (docs/rules.md, Medications and corticosteroid exposure)."""

from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from clinic.models.base import Base, Stamped, in_list

DRUG_UNITS = ("mg", "ml")
GUIDANCES = ("fluoroscopy", "ct", "ultrasound", "none")
GUIDANCE_LABELS = {
    "fluoroscopy": "Fluoroscopy",
    "ct": "CT",
    "ultrasound": "Ultrasound",
    "none": "None",
}
SEDATIONS = ("none", "local_only", "minimal", "moderate")
SEDATION_LABELS = {
    "none": "None",
    "local_only": "Local only",
    "minimal": "Minimal",
    "moderate": "Moderate",
}
# A corticosteroid's equivalence is the dose of it that equals this much methylprednisolone.
METHYLPREDNISOLONE_REFERENCE_MG = Decimal(4)


class Drug(Stamped, Base):
    """An entry of the drug catalogue (admin-editable, seeded by its migration).

    A corticosteroid has ``equivalent_mg``: the dose of it equal to 4 mg of methylprednisolone
    (dexamethasone 0.75 mg), from which its methylprednisolone-equivalent dose is worked out.
    ``usual_max`` is the usual largest dose in the drug's unit (mg, or mL for contrast): a dose
    more than ten times it is refused as a typing mistake.
    """

    __tablename__ = "drug"
    __table_args__ = (
        CheckConstraint(in_list("unit", DRUG_UNITS), name="unit_known"),
        CheckConstraint("equivalent_mg IS NULL OR equivalent_mg > 0", name="equivalent_positive"),
        CheckConstraint("usual_max > 0", name="usual_max_positive"),
        CheckConstraint("equivalent_mg IS NULL OR unit = 'mg'", name="steroid_in_mg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Lower case, as the medications export writes it.
    name: Mapped[str] = mapped_column(String(60), unique=True)
    unit: Mapped[str] = mapped_column(String(2), default="mg")
    equivalent_mg: Mapped[Decimal | None] = mapped_column(Numeric(6, 3))
    usual_max: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    active: Mapped[bool] = mapped_column(default=True)

    @property
    def corticosteroid(self) -> bool:
        return self.equivalent_mg is not None


class MedicationGiven(Base):
    """A drug given at a completed intervention: a dose in mg, or a volume in mL (contrast)."""

    __tablename__ = "medication_given"
    __table_args__ = (
        CheckConstraint("dose_mg >= 0", name="dose_not_negative"),
        CheckConstraint("volume_ml >= 0", name="volume_not_negative"),
        CheckConstraint("(dose_mg IS NULL) <> (volume_ml IS NULL)", name="dose_or_volume"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("intervention.id"), index=True)
    drug_id: Mapped[int] = mapped_column(ForeignKey("drug.id"), index=True)
    dose_mg: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    volume_ml: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    route_site: Mapped[str | None] = mapped_column(String(120))

    drug: Mapped[Drug] = relationship(lazy="joined")


class SteroidLimit(Stamped, Base):
    """A limit on the methylprednisolone-equivalent total per rolling window (admin-edited)."""

    __tablename__ = "steroid_limit"
    __table_args__ = (
        CheckConstraint("window_months >= 1", name="window_months_positive"),
        CheckConstraint("max_mpe_mg > 0", name="max_mpe_mg_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    window_months: Mapped[int] = mapped_column(unique=True)
    max_mpe_mg: Mapped[Decimal] = mapped_column(Numeric(8, 1))
    active: Mapped[bool] = mapped_column(default=True)
