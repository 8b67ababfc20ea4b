"""The referral board's indexes answer it alone on PostgreSQL too.

``ix_referral_board`` lacked the referral's id, which SQLite keeps in every index but PostgreSQL
does not: PostgreSQL read the table for each of the thousands of open referrals to sort a
column's first 20 cards (5 ms a column at 50,000 patients). ``ix_referral_status_changed``
lacked the patient, needed to leave out archived patients' referrals when the columns are
counted (10 ms), the id, and the urgency the board can be filtered by. With them the board
reads its indexes alone (issue 13).

Revision ID: a13c0e55f005
Revises: a13c0e55f004
Create Date: 2026-12-06 16:50:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "a13c0e55f005"
down_revision = "a13c0e55f004"
branch_labels = None
depends_on = None

BOARD = ["status", "needs_rebooking", "urgency", "received_on", "patient_id"]
CHANGED = ["status", "status_changed_at"]


def _replace(name: str, columns: list[str]) -> None:
    op.drop_index(name, table_name="referral")
    op.create_index(name, "referral", columns)


def upgrade():
    _replace("ix_referral_board", [*BOARD, "id"])
    _replace("ix_referral_status_changed", [*CHANGED, "id", "patient_id", "urgency"])


def downgrade():
    _replace("ix_referral_status_changed", CHANGED)
    _replace("ix_referral_board", BOARD)
