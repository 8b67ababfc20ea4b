"""Indexes for the patient list and search, so that neither reads every patient.

At 50,000 patients the list (most recently seen first, never seen last) sorted the whole table
and every search scanned it (benchmarks/patients.py):

* the list's ORDER BY `last_seen_at DESC NULLS LAST, updated_at DESC, id DESC` gets an index in
  exactly that order, replacing `ix_patient_last_seen_at` (ascending, NULLs last: it could only
  give NULLs first when read backwards). SQLite's indexes take no NULLS clause; a descending
  SQLite index already puts NULLs last;
* MRN search becomes `mrn LIKE 'PREFIX%'` on the stored upper-case MRN. The unique constraint's
  index follows the collation, which LIKE cannot use: PostgreSQL gets an index in the pattern
  operator class (byte order), SQLite one in its NOCASE collation (SQLite's LIKE ignores ASCII
  case, so only a NOCASE index serves it);
* name search (`name_key LIKE '%word%'`): on PostgreSQL `ix_patient_name_key` becomes a pg_trgm
  GIN index, which serves both that and the duplicate check's equality. SQLite keeps its b-tree
  (equality) and scans the short keys for a word, a few milliseconds at 50,000 patients.

Plain statements, not a batch: nothing here needs a table rebuild.

Revision ID: 11fbedf79def
Revises: 4b1f0c2d9e7a
Create Date: 2026-12-01 09:30:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "11fbedf79def"
down_revision = "4b1f0c2d9e7a"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.drop_index("ix_patient_name_key", table_name="patient")
        op.execute("CREATE INDEX ix_patient_name_key ON patient USING gin (name_key gin_trgm_ops)")
        op.execute("CREATE INDEX ix_patient_mrn_prefix ON patient (mrn varchar_pattern_ops)")
        op.execute(
            "CREATE INDEX ix_patient_recently_seen ON patient "
            "(last_seen_at DESC NULLS LAST, updated_at DESC, id DESC)"
        )
    else:
        op.execute("CREATE INDEX ix_patient_mrn_prefix ON patient (mrn COLLATE NOCASE)")
        op.execute(
            "CREATE INDEX ix_patient_recently_seen ON patient "
            "(last_seen_at DESC, updated_at DESC, id DESC)"
        )
    op.drop_index("ix_patient_last_seen_at", table_name="patient")


def downgrade():
    op.create_index("ix_patient_last_seen_at", "patient", ["last_seen_at"])
    op.drop_index("ix_patient_recently_seen", table_name="patient")
    op.drop_index("ix_patient_mrn_prefix", table_name="patient")
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm stays installed, as btree_gist does: other objects may use it.
        op.drop_index("ix_patient_name_key", table_name="patient")
        op.create_index("ix_patient_name_key", "patient", ["name_key"])
