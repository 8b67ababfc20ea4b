"""Patients: the people the clinic treats. Archived, never deleted."""

import unicodedata
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from clinic.models.base import Base, Stamped, in_list

SEXES = ("female", "male", "other", "unknown")  # FHIR administrative-gender
CONDITIONS = (
    "herniated_disc",
    "degenerative_disc_disease",
    "spinal_stenosis",
    "facet_joint_arthritis",
    "other",
)
CONDITION_LABELS = {
    "herniated_disc": "Herniated disc",
    "degenerative_disc_disease": "Degenerative disc disease",
    "spinal_stenosis": "Spinal stenosis",
    "facet_joint_arthritis": "Facet joint arthritis",
    "other": "Other",
}


def search_key(text: str) -> str:
    """Lower-case, accent-free form of a name, so that 'Zoë' is found by 'zoe'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


class Patient(Stamped, Base):
    """A patient of the clinic, keyed for people by a clinic-unique MRN."""

    __tablename__ = "patient"
    __table_args__ = (
        CheckConstraint(in_list("sex", SEXES), name="sex_known"),
        CheckConstraint(in_list("condition", CONDITIONS), name="condition_known"),
        Index("ix_patient_name_key", "name_key"),
        Index("ix_patient_birth_date", "date_of_birth"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mrn: Mapped[str] = mapped_column(String(20), unique=True)
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80))
    date_of_birth: Mapped[date]
    sex: Mapped[str] = mapped_column(String(10))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    condition: Mapped[str] = mapped_column(String(40))
    archived: Mapped[bool] = mapped_column(default=False)
    # When the patient last checked in: the patient list shows the most recently seen first.
    last_seen_at: Mapped[datetime | None] = mapped_column(index=True)
    # "last first", accent-free and lower-case, kept in step with the names for search.
    name_key: Mapped[str] = mapped_column(String(170))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def condition_label(self) -> str:
        return CONDITION_LABELS[self.condition]

    def __repr__(self) -> str:
        return f"<Patient {self.mrn}>"


@event.listens_for(Patient, "before_insert")
@event.listens_for(Patient, "before_update")
def _keep_name_key(mapper, connection, patient: Patient) -> None:
    patient.name_key = search_key(f"{patient.last_name} {patient.first_name}")
