"""The relief report's diagnostic blocks are kept with its figures: the data version also moves
with every diary entry and with a procedure type marked diagnostic or not (issue 13).

The report's diagnostic blocks read every diary entry of the selection (at 50,000 patients,
about 380,000 entries judged in Python, 2–3 s a view); kept like the rest of the report's
figures, they must be invalidated by the writes they depend on, which these triggers add to the
ones of ``a19c0e55f001`` (same function on PostgreSQL, once per statement; row triggers on
SQLite).

Revision ID: a19c0e55f002
Revises: a19c0e55f001
Create Date: 2026-12-06 05:00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "a19c0e55f002"
down_revision = "a19c0e55f001"
branch_labels = None
depends_on = None

BUMP = "UPDATE relief_data_version SET version = version + 1 WHERE id = 1"
TRIGGERS = [
    ("diary_entry_relief_insert", "diary_entry", "INSERT"),
    ("diary_entry_relief_update", "diary_entry", "UPDATE"),
    ("diary_entry_relief_delete", "diary_entry", "DELETE"),
    ("procedure_type_relief_diagnostic", "procedure_type", "UPDATE OF diagnostic"),
]


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table, event in TRIGGERS:
        if postgresql:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION relief_data_changed()"
            )
        else:
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {BUMP}; END")
    # Figures kept before the blocks were: computed again on the next view.
    op.execute(f"{BUMP}")


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgresql else ""))
