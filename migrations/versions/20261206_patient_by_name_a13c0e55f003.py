"""On SQLite, an index of the patients in a name search's order (last name, first name).

A search for a common name part (every "a") had every match sorted to show the first 25; at
50,000 patients that and counting every match were most of the patient list's time. SQLite now
walks this index in the search's order and stops at the page's last match, testing each name
from the index alone (issue 13). PostgreSQL finds names by its trigram index.

Revision ID: a13c0e55f003
Revises: a13c0e55f002
Create Date: 2026-12-06 14:00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "a13c0e55f003"
down_revision = "a13c0e55f002"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_context().dialect.name != "sqlite":
        return
    op.create_index(
        "ix_patient_by_name",
        "patient",
        ["last_name", "first_name", "id", "name_key", "archived"],
    )


def downgrade():
    if op.get_context().dialect.name != "sqlite":
        return
    op.drop_index("ix_patient_by_name", table_name="patient")
