"""Recording what was given at a procedure: the medications, the guidance, the radiation and
the sedation, checked before anything is written (docs/rules.md, Medications)."""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic.models import Drug, Intervention, MedicationGiven
from clinic.models.medications import GUIDANCES, SEDATIONS
from clinic.services import DomainError
from clinic.services.identity.audit import record_event

MAX_FLUORO_SECONDS = 3600
MAX_AIR_KERMA_MGY = Decimal(5000)
# A dose more than this many times the catalogue's usual largest one is taken as a typing slip.
ABSURD_FACTOR = 10
# The longest route/site text a medication keeps.
MAX_ROUTE_SITE = 120


@dataclass(frozen=True)
class MedicationRow:
    """One medication as typed: the drug, the amount in its unit (mg, mL for contrast), where."""

    drug_id: int | None
    amount: Decimal | None
    route_site: str | None = None


@dataclass(frozen=True)
class Radiation:
    """How the procedure was guided, the radiation it took, and the sedation given."""

    guidance: str | None = None
    fluoro_seconds: int | None = None
    air_kerma_mgy: Decimal | None = None
    sedation: str | None = None


def check_radiation(radiation: Radiation) -> None:
    """Refuse values no procedure has: fluoroscopy over an hour, air kerma outside 0–5,000 mGy."""
    if radiation.guidance and radiation.guidance not in GUIDANCES:
        raise DomainError("Choose fluoroscopy, CT, ultrasound or none.", "guidance")
    if radiation.sedation and radiation.sedation not in SEDATIONS:
        raise DomainError("Choose none, local only, minimal or moderate.", "sedation")
    seconds = radiation.fluoro_seconds
    if seconds is not None and not 0 <= seconds <= MAX_FLUORO_SECONDS:
        raise DomainError(
            f"The fluoroscopy time is in seconds, from 0 to {MAX_FLUORO_SECONDS:,} (one hour); "
            f"{seconds:,} s is not plausible — check the figure on the C-arm.",
            "fluoro_seconds",
        )
    kerma = radiation.air_kerma_mgy
    if kerma is not None and not (kerma.is_finite() and 0 <= kerma <= MAX_AIR_KERMA_MGY):
        raise DomainError(
            f"The air kerma is in mGy, from 0 to {MAX_AIR_KERMA_MGY:,}; {kerma} is not "
            "plausible — check the dose report.",
            "air_kerma_mgy",
        )


def set_radiation(intervention: Intervention, radiation: Radiation) -> None:
    """Store checked guidance, radiation and sedation on the intervention."""
    check_radiation(radiation)
    intervention.guidance = radiation.guidance or None
    intervention.fluoro_seconds = radiation.fluoro_seconds
    intervention.air_kerma_mgy = radiation.air_kerma_mgy
    intervention.sedation = radiation.sedation or None


def catalogue(session: Session) -> dict[int, Drug]:
    """Every drug of the catalogue by id, active or not (a past record may name a retired one)."""
    return {drug.id: drug for drug in session.execute(select(Drug)).scalars()}


def check_medications(
    rows: list[MedicationRow], drugs: dict[int, Drug], allowed_retired: set[int] = frozenset()
) -> list[MedicationRow]:
    """The rows that name a drug, each checked; a refusal names the row and what to fix.

    A row with neither drug nor amount is an unused line of the form and is left out.
    """
    kept = []
    for number, row in enumerate(rows, start=1):
        site = (row.route_site or "").strip()
        if row.drug_id is None and row.amount is None and not site:
            continue
        drug = drugs.get(row.drug_id) if row.drug_id is not None else None
        if drug is None or (not drug.active and drug.id not in allowed_retired):
            raise DomainError(f"Medication {number}: choose the drug from the list.", "medications")
        unit = "mL" if drug.unit == "ml" else "mg"
        if row.amount is None:
            raise DomainError(
                f"Medication {number} ({drug.name}): enter the "
                f"{'volume in mL' if drug.unit == 'ml' else 'dose in mg'}.",
                "medications",
            )
        if not row.amount.is_finite():
            raise DomainError(
                f"Medication {number} ({drug.name}): write the amount as a number, e.g. 40.",
                "medications",
            )
        if row.amount < 0:
            raise DomainError(
                f"Medication {number} ({drug.name}): the {'volume' if drug.unit == 'ml' else 'dose'} "
                f"cannot be negative ({row.amount} {unit}).",
                "medications",
            )
        ceiling = drug.usual_max * ABSURD_FACTOR
        if row.amount > ceiling:
            raise DomainError(
                f"Medication {number} ({drug.name}): {row.amount} {unit} is more than ten times "
                f"the usual largest dose ({drug.usual_max.normalize():f} {unit}); check the "
                "figure and its unit.",
                "medications",
            )
        if len(site) > MAX_ROUTE_SITE:
            raise DomainError(
                f"Medication {number} ({drug.name}): keep the route/site to "
                f"{MAX_ROUTE_SITE} characters.",
                "medications",
            )
        kept.append(MedicationRow(drug.id, row.amount, site or None))
    return kept


def medications_of(session: Session, intervention_id: int) -> list[MedicationGiven]:
    """The medications given at an intervention, in the order they were entered."""
    return list(
        session.execute(
            select(MedicationGiven)
            .where(MedicationGiven.intervention_id == intervention_id)
            .order_by(MedicationGiven.id)
        ).scalars()
    )


def replace_medications(
    session: Session, intervention: Intervention, rows: list[MedicationRow]
) -> None:
    """Make the intervention's list of medications ``rows`` (checked first, nothing written on a
    refusal). Rows are rewritten in place in order; a line taken off is deleted with an audit
    row that keeps what it said."""
    drugs = catalogue(session)
    existing = medications_of(session, intervention.id) if intervention.id else []
    kept = check_medications(rows, drugs, {given.drug_id for given in existing})
    for number, row in enumerate(kept):
        given = (
            existing[number]
            if number < len(existing)
            else MedicationGiven(intervention_id=intervention.id)
        )
        drug = drugs[row.drug_id]
        given.drug_id = drug.id
        given.drug = drug
        given.dose_mg = None if drug.unit == "ml" else row.amount
        given.volume_ml = row.amount if drug.unit == "ml" else None
        given.route_site = row.route_site
        session.add(given)
    for removed in existing[len(kept) :]:
        record_event(
            session,
            "update",
            record_type="medication_given",
            record_id=removed.id,
            changes={
                "removed": [
                    {
                        "intervention_id": removed.intervention_id,
                        "drug": removed.drug.name,
                        "dose_mg": removed.dose_mg,
                        "volume_ml": removed.volume_ml,
                        "route_site": removed.route_site,
                    },
                    None,
                ]
            },
        )
        session.delete(removed)


def medications_by_intervention(
    session: Session, patient_id: int
) -> dict[int, list[MedicationGiven]]:
    """Every medication given to the patient, by intervention, in one query (the patient page)."""
    given: dict[int, list[MedicationGiven]] = {}
    rows = session.execute(
        select(MedicationGiven)
        .join(Intervention, Intervention.id == MedicationGiven.intervention_id)
        .where(Intervention.patient_id == patient_id)
        .order_by(MedicationGiven.intervention_id, MedicationGiven.id)
    ).scalars()
    for medication in rows:
        given.setdefault(medication.intervention_id, []).append(medication)
    return given
