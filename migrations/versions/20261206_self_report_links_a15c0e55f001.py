"""Self-report links, pain diaries, email consent and the reminder outbox (issue 15).

Revision ID: a15c0e55f001
Revises: a14c0e55f002
Create Date: 2026-12-06 02:00:00

"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

# revision identifiers, used by Alembic.
revision = "a15c0e55f001"
down_revision = "a14c0e55f002"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
