"""The payer rules and spinal regions as the pure eligibility engine takes them, from the
database: the patient page, the exports and the payer's page load them the same way."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic.models import RepeatEligibilityRule, SpinalLevelRegion
from clinic.services.relief.eligibility import Regions, Rule, regions_from_rows, rule_from_row


def load_rules(session: Session) -> list[Rule]:
    """The active repeat-eligibility rules, in the table's order."""
    return [
        rule_from_row(row)
        for row in session.execute(
            select(RepeatEligibilityRule)
            .where(RepeatEligibilityRule.active.is_(True))
            .order_by(RepeatEligibilityRule.id)
        ).scalars()
    ]


def load_regions(session: Session) -> Regions:
    """The spinal levels (and procedures) of each region."""
    return regions_from_rows(session.execute(select(SpinalLevelRegion)).scalars())
