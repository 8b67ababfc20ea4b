"""Referrals follow their bookings: when each status change happened, and "needs rebooking" (issue 14).

Revision ID: a14c0e55f002
Revises: a14c0e55f001
Create Date: 2026-12-06 02:00:00

"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

# revision identifiers, used by Alembic.
revision = "a14c0e55f002"
down_revision = "a14c0e55f001"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
