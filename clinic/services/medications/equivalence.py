"""Methylprednisolone-equivalent doses of corticosteroids (docs/rules.md, Medications).

A corticosteroid's catalogue entry holds the dose of it equal to 4 mg of methylprednisolone
(triamcinolone 4 mg, dexamethasone 0.75 mg, betamethasone 0.6 mg): a dose of ``d`` mg of it
is ``d × 4 / equivalent`` mg methylprednisolone-equivalent (MPE). ``mpe_sql`` is the same
arithmetic in SQL, for the totals the database sums.
"""

from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import ColumnElement, Numeric, type_coerce

from clinic.models.medications import METHYLPREDNISOLONE_REFERENCE_MG

TENTH = Decimal("0.1")


def mpe_mg(dose_mg: Decimal, equivalent_mg: Decimal) -> Decimal:
    """The methylprednisolone-equivalent mg of ``dose_mg`` of a steroid with this equivalence."""
    return Decimal(dose_mg) * METHYLPREDNISOLONE_REFERENCE_MG / Decimal(equivalent_mg)


def to_tenth(value: Decimal | float) -> Decimal:
    """An MPE amount as it is shown and exported: one decimal place, halves rounded up."""
    return Decimal(str(value)).quantize(TENTH, rounding=ROUND_HALF_UP)


def mpe_sql(dose_mg: ColumnElement, equivalent_mg: ColumnElement) -> ColumnElement:
    """SQL for ``mpe_mg``: NULL for a drug that is not a corticosteroid (no equivalence)."""
    return type_coerce(
        dose_mg * int(METHYLPREDNISOLONE_REFERENCE_MG) / equivalent_mg, Numeric(14, 6)
    )
