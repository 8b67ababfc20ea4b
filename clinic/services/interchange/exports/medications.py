"""The ``medications`` export: one row per medication given at an intervention (docs/formats.md).

``intervention_id,ref,mrn,performed_on,drug,dose_mg,volume_ml,mpe_mg,route_site`` — a plain
export, one SELECT whose columns are its CSV's; ``mpe_mg`` is the methylprednisolone-equivalent
dose of a corticosteroid with one decimal place, worked out in the SELECT (empty for any other
drug). Filtered on the intervention's performed date; rows by intervention, then as entered.
"""

from zoneinfo import ZoneInfo

from sqlalchemy import Numeric, Select, cast, func, select

from clinic.models import Drug, MedicationGiven
from clinic.services.filters import ReportFilters
from clinic.services.interchange.csvio import MEDICATIONS_COLUMNS
from clinic.services.interchange.exports.reading import (
    booking,
    intervention,
    not_archived,
    on_dates,
    patient,
    sql_ref,
)
from clinic.services.medications.equivalence import mpe_sql

drug = Drug.__table__
medication = MedicationGiven.__table__

# The import reads the same columns back (docs/formats.md).
MEDICATIONS_HEADER = MEDICATIONS_COLUMNS


def medications_statements(filters: ReportFilters, zone: ZoneInfo) -> list[Select]:
    """The SELECT of ``medications``: by intervention and entry, performed in the range."""
    statement = (
        select(
            medication.c.intervention_id,
            sql_ref(intervention.c.ref, intervention.c.id).label("ref"),
            patient.c.mrn,
            intervention.c.performed_on,
            drug.c.name.label("drug"),
            medication.c.dose_mg,
            medication.c.volume_ml,
            cast(
                func.round(mpe_sql(medication.c.dose_mg, drug.c.equivalent_mg), 1), Numeric(10, 1)
            ).label("mpe_mg"),
            medication.c.route_site,
        )
        .select_from(
            medication.join(intervention, intervention.c.id == medication.c.intervention_id)
            .join(booking, booking.c.id == intervention.c.id)
            .join(patient, patient.c.id == booking.c.patient_id)
            .join(drug, drug.c.id == medication.c.drug_id)
        )
        .where(not_archived, *on_dates(intervention.c.performed_on, filters))
        .order_by(medication.c.intervention_id, medication.c.id)
    )
    return [statement]
