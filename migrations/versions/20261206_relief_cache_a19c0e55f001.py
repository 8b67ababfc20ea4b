"""The relief report's cache, checked against a data version the database bumps itself (issue 19).

``relief_data_version`` holds one row; triggers on ``pain_score`` and ``intervention`` (every
insert, update and delete), on an intervention's booking's ``status`` and ``physician_id``, and
on ``patient.condition`` and ``procedure_type.code`` (what the report groups and filters by)
add one to it, so every writer, including ``COPY`` and bulk
inserts that bypass the ORM, invalidates the report's cached figures. PostgreSQL fires them once
per statement; SQLite has only row triggers.

Note for later migrations: on SQLite, a batch alteration of ``pain_score``, ``intervention``,
``booking``, ``patient`` or ``procedure_type`` copies the table and drops its triggers; re-create them
(``create_triggers``) after such a change. tests/test_relief_cache.py fails if they are gone.

Revision ID: a19c0e55f001
Revises: a20c0e55f001
Create Date: 2026-12-06 02:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a19c0e55f001"
down_revision = "a20c0e55f001"
branch_labels = None
depends_on = None

BUMP = "UPDATE relief_data_version SET version = version + 1 WHERE id = 1"
# (trigger name, table, event) — every write the relief report's figures depend on.
TRIGGERS = [
    ("pain_score_relief_insert", "pain_score", "INSERT"),
    ("pain_score_relief_update", "pain_score", "UPDATE"),
    ("pain_score_relief_delete", "pain_score", "DELETE"),
    ("intervention_relief_insert", "intervention", "INSERT"),
    ("intervention_relief_update", "intervention", "UPDATE"),
    ("intervention_relief_delete", "intervention", "DELETE"),
    # An intervention's status and physician are its booking's (joined-table inheritance).
    ("booking_relief_status", "booking", "UPDATE OF status, physician_id"),
    ("patient_relief_condition", "patient", "UPDATE OF condition"),
    ("procedure_type_relief_code", "procedure_type", "UPDATE OF code"),
]


def create_triggers():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION relief_data_changed() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        for name, table, event in TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION relief_data_changed()"
            )
        for table in ("pain_score", "intervention"):
            op.execute(
                f"CREATE TRIGGER {table}_relief_truncate AFTER TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION relief_data_changed()"
            )
    else:
        for name, table, event in TRIGGERS:
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {BUMP}; END")


def drop_triggers():
    postgresql = op.get_bind().dialect.name == "postgresql"
    names = [(name, table) for name, table, _ in TRIGGERS]
    if postgresql:
        names += [(f"{table}_relief_truncate", table) for table in ("pain_score", "intervention")]
    for name, table in names:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS relief_data_changed()")


def upgrade():
    op.create_table(
        "relief_data_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_relief_data_version_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relief_data_version")),
    )
    op.create_table(
        "relief_report_cache",
        sa.Column("selection", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("selection", "version", name=op.f("pk_relief_report_cache")),
    )
    op.execute("INSERT INTO relief_data_version (id, version) VALUES (1, 0)")
    create_triggers()


def downgrade():
    drop_triggers()
    op.drop_table("relief_report_cache")
    op.drop_table("relief_data_version")
