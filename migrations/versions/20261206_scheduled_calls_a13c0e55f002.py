"""The follow-up calls kept for the call list: a row for every call a completed procedure's
schedule sets, with its state (open, done, answered by a self-report), so that the list and the
desk's counts read the calls of their days by an index instead of working out every procedure's
calls on each view (issue 13). Filled here from the procedures, pain scores and call attempts
already recorded, by the same code that keeps the rows afterwards.

Revision ID: a13c0e55f002
Revises: a13c0e55f001
Create Date: 2026-12-06 10:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a13c0e55f002"
down_revision = "a13c0e55f001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "scheduled_call",
        sa.Column("intervention_id", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("schedule_item", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.CheckConstraint(
            "state IN ('open', 'done', 'self_report')", name=op.f("ck_scheduled_call_state_known")
        ),
        sa.ForeignKeyConstraint(
            ["intervention_id"],
            ["intervention.id"],
            name=op.f("fk_scheduled_call_intervention_id_intervention"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("intervention_id", "due_on", name=op.f("pk_scheduled_call")),
    )
    op.create_index(
        "ix_scheduled_call_due", "scheduled_call", ["due_on", "state", "patient_id"]
    )
    from clinic.services.followup.kept import refresh_all

    refresh_all(op.get_bind())


def downgrade():
    op.drop_index("ix_scheduled_call_due", table_name="scheduled_call")
    op.drop_table("scheduled_call")
