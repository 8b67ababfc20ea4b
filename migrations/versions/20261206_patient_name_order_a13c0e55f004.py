"""On PostgreSQL, an index of the patients in a name search's order, for one- and two-letter
searches.

A search of one or two letters ("a") has no trigram to look up: PostgreSQL read every patient
and sorted the tens of thousands of matches to show 25 (45 ms at 50,000 patients). It now walks
this index in the search's order and stops at the page's 25th match, testing each name from
the index alone (issue 13). Longer words are still looked up in the trigram index.

Revision ID: a13c0e55f004
Revises: a13c0e55f003
Create Date: 2026-12-06 16:30:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "a13c0e55f004"
down_revision = "a13c0e55f003"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_context().dialect.name != "postgresql":
        return
    op.create_index(
        "ix_patient_name_order",
        "patient",
        ["last_name", "first_name", "id"],
        postgresql_include=["name_key", "archived"],
    )


def downgrade():
    if op.get_context().dialect.name != "postgresql":
        return
    op.drop_index("ix_patient_name_order", table_name="patient")
