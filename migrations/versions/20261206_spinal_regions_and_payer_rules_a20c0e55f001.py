"""Spinal regions and payer rules read as coverage documents write them (issue 20).

Revision ID: a20c0e55f001
Revises: a16c0e55f001
Create Date: 2026-12-06 02:00:00

"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

# revision identifiers, used by Alembic.
revision = "a20c0e55f001"
down_revision = "a16c0e55f001"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
