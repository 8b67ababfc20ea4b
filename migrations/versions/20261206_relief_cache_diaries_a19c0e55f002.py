"""The relief report's diagnostic blocks are kept with its figures: the data version also moves
with every diary entry and with a procedure type marked diagnostic or not (issue 13).

The report's diagnostic blocks read every diary entry of the selection (at 50,000 patients,
about 380,000 entries judged in Python, 2–3 s a view); kept like the rest of the report's
figures, they must be invalidated by the writes they depend on, which these triggers add to the
ones of ``a19c0e55f001`` (same function on PostgreSQL, once per statement; row triggers on
SQLite).

On PostgreSQL the function now moves the version once per transaction, not once per statement:
every update of the one version row in a transaction leaves a row version the next must step
over, so a writer sending one statement per row (the demo's diary entries: 380,000 at 50,000
patients) slowed to a crawl. A transaction-local setting says the version has moved; keeping
figures (``clinic/services/relief/cache.py``) clears it, so a write after that moves it again.

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
MOVED = "clinic.relief_data_moved"
ONCE_A_TRANSACTION = (
    "CREATE OR REPLACE FUNCTION relief_data_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN IF coalesce(current_setting('{MOVED}', true), '') <> 'yes' THEN {BUMP}; "
    f"PERFORM set_config('{MOVED}', 'yes', true); END IF; RETURN NULL; END $$"
)
EVERY_STATEMENT = (
    "CREATE OR REPLACE FUNCTION relief_data_changed() RETURNS trigger "
    f"LANGUAGE plpgsql AS $$ BEGIN {BUMP}; RETURN NULL; END $$"
)
TRIGGERS = [
    ("diary_entry_relief_insert", "diary_entry", "INSERT"),
    ("diary_entry_relief_update", "diary_entry", "UPDATE"),
    ("diary_entry_relief_delete", "diary_entry", "DELETE"),
    ("procedure_type_relief_diagnostic", "procedure_type", "UPDATE OF diagnostic"),
]


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute(ONCE_A_TRANSACTION)
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
    if postgresql:
        op.execute(EVERY_STATEMENT)
