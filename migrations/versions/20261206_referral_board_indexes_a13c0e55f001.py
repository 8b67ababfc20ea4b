"""Indexes for the referral board and the desk's counts at a clinic with years of referrals.

At 50,000 patients the board's open columns hold about 14,000 referrals; counting and sorting
them read every referral row and joined each to its patient to leave out the archived ones
(the desk's "referrals waiting" count alone: 58 ms on SQLite). ``ix_referral_board`` holds what
the open columns are counted and ordered by, with the patient, so the index alone answers;
``ix_patient_archived`` holds only the archived patients, so "not archived" is a look-up in a
short list rather than a join (issue 13).

Revision ID: a13c0e55f001
Revises: a19c0e55f002
Create Date: 2026-12-06 08:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a13c0e55f001"
down_revision = "a19c0e55f002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_referral_board",
        "referral",
        ["status", "needs_rebooking", "urgency", "received_on", "patient_id"],
    )
    op.create_index(
        "ix_patient_archived",
        "patient",
        ["id"],
        sqlite_where=sa.text("archived = 1"),
        postgresql_where=sa.text("archived"),
    )


def downgrade():
    op.drop_index("ix_patient_archived", table_name="patient")
    op.drop_index("ix_referral_board", table_name="referral")
