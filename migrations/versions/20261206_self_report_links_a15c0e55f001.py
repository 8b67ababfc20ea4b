"""Self-report links, pain diaries, email consent and the reminder outbox (issue 15).

Part A (links and diaries):

- `procedure_type.diagnostic`: on a diagnostic block's day the self-report link is a pain
  diary; seeded true for MBB. Added with plain ALTER TABLE, not a batch: on SQLite a rebuild of
  `procedure_type` would have to drop a table the interventions refer to.
- `self_report_link`: one per intervention; the token is derived, only its SHA-256 is kept.
- `link_guess`: requests naming no valid link, per address, for the guessing throttle.
- `diary_entry`: a diagnostic block's pain diary.
- `audit_event.action` gains `link_issued`, `link_revoked`, `link_used`, `email_sent`,
  `email_failed`. On SQLite the check lives in the table, so the table is rebuilt and its
  append-only triggers made again.

Revision ID: a15c0e55f001
Revises: a14c0e55f002
Create Date: 2026-12-06 02:00:00

"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "a15c0e55f001"
down_revision = "a14c0e55f002"
branch_labels = None
depends_on = None

OLD_ACTIONS = (
    "view", "create", "update", "archive", "export", "import", "login", "login_failed",
    "logout", "access_denied",
)
NEW_ACTIONS = OLD_ACTIONS + ("link_issued", "link_revoked", "link_used", "email_sent", "email_failed")
DIARY_MINUTES = "(0, 30, 60, 120, 240, 360, 480)"


def _in_list(column, values):
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def _stamps():
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    ]


def upgrade():
    upgrade_links_and_diaries()
    upgrade_consent_and_outbox()
    replace_audit_actions(NEW_ACTIONS)


def downgrade():
    downgrade_consent_and_outbox()
    replace_audit_actions(OLD_ACTIONS)
    downgrade_links_and_diaries()


def upgrade_links_and_diaries():
    op.execute("ALTER TABLE procedure_type ADD COLUMN diagnostic BOOLEAN DEFAULT false NOT NULL")
    procedure_type = sa.table(
        "procedure_type", sa.column("code", sa.String), sa.column("diagnostic", sa.Boolean)
    )
    op.execute(procedure_type.update().where(procedure_type.c.code == "MBB").values(diagnostic=True))

    op.create_table(
        "self_report_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("intervention_id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("issued_by_id", sa.Integer(), nullable=True),
        *_stamps(),
        sa.CheckConstraint("generation >= 1", name=op.f("ck_self_report_link_generation_positive")),
        sa.ForeignKeyConstraint(
            ["intervention_id"], ["intervention.id"],
            name=op.f("fk_self_report_link_intervention_id_intervention"),
        ),
        sa.ForeignKeyConstraint(
            ["issued_by_id"], ["staff_user.id"],
            name=op.f("fk_self_report_link_issued_by_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_self_report_link")),
        sa.UniqueConstraint("intervention_id", name=op.f("uq_self_report_link_intervention_id")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_self_report_link_token_sha256")),
    )
    op.create_table(
        "link_guess",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("guessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_guess")),
    )
    op.create_index("ix_link_guess_address_at", "link_guess", ["client_address", "guessed_at"])
    op.create_table(
        "diary_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("intervention_id", sa.Integer(), nullable=False),
        sa.Column("minutes_after", sa.Integer(), nullable=False),
        sa.Column("nrs", sa.Integer(), nullable=False),
        sa.Column("percent_relief", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        *_stamps(),
        sa.CheckConstraint(
            f"minutes_after IN {DIARY_MINUTES}", name=op.f("ck_diary_entry_minutes_after_known")
        ),
        sa.CheckConstraint("nrs BETWEEN 0 AND 10", name=op.f("ck_diary_entry_nrs_range")),
        sa.CheckConstraint(
            "percent_relief BETWEEN 0 AND 100", name=op.f("ck_diary_entry_percent_relief_range")
        ),
        sa.CheckConstraint(
            _in_list("source", ("self_report", "paper")), name=op.f("ck_diary_entry_source_known")
        ),
        sa.ForeignKeyConstraint(
            ["intervention_id"], ["intervention.id"],
            name=op.f("fk_diary_entry_intervention_id_intervention"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["staff_user.id"],
            name=op.f("fk_diary_entry_recorded_by_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_diary_entry")),
        sa.UniqueConstraint("intervention_id", "minutes_after", name="uq_diary_entry_point"),
    )


def downgrade_links_and_diaries():
    op.drop_table("diary_entry")
    op.drop_index("ix_link_guess_address_at", table_name="link_guess")
    op.drop_table("link_guess")
    op.drop_table("self_report_link")
    with op.batch_alter_table("procedure_type") as batch_op:
        batch_op.drop_column("diagnostic")


# Part B (email reminders) ---------------------------------------------------------------------
#
# - `patient.email_consent`, `patient.email_consent_on`: agreed to email contact, and since when
#   (kept only while agreed). Plain ALTER TABLE on SQLite too: a rebuild of `patient` would have
#   to drop a table every record refers to; SQLite takes a CHECK in ADD COLUMN.
# - `reminder_email`: the outbox, one row per (intervention, due date), unique.

CONSENT_CHECK = "email_consent OR email_consent_on IS NULL"


def upgrade_consent_and_outbox():
    op.execute("ALTER TABLE patient ADD COLUMN email_consent BOOLEAN DEFAULT false NOT NULL")
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("patient", sa.Column("email_consent_on", sa.Date(), nullable=True))
        op.create_check_constraint(
            op.f("ck_patient_email_consent_on_with_consent"), "patient", CONSENT_CHECK
        )
    else:
        op.execute(
            "ALTER TABLE patient ADD COLUMN email_consent_on DATE CONSTRAINT "
            f"ck_patient_email_consent_on_with_consent CHECK ({CONSENT_CHECK})"
        )
    op.create_table(
        "reminder_email",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("intervention_id", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        *_stamps(),
        sa.CheckConstraint(
            _in_list("status", ("sending", "sent", "failed")),
            name=op.f("ck_reminder_email_status_known"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_reminder_email_attempts_not_negative")),
        sa.ForeignKeyConstraint(
            ["intervention_id"], ["intervention.id"],
            name=op.f("fk_reminder_email_intervention_id_intervention"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_email")),
        sa.UniqueConstraint(
            "intervention_id", "due_on", name="uq_reminder_email_intervention_due"
        ),
    )
    op.create_index("ix_reminder_email_status", "reminder_email", ["status"])


def downgrade_consent_and_outbox():
    op.drop_index("ix_reminder_email_status", table_name="reminder_email")
    op.drop_table("reminder_email")
    # In place on both (SQLite 3.35+): dropping email_consent_on takes its CHECK with it.
    op.execute("ALTER TABLE patient DROP COLUMN email_consent_on")
    op.execute("ALTER TABLE patient DROP COLUMN email_consent")


SQLITE_AUDIT_TRIGGERS = [
    f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
    for verb in ("UPDATE", "DELETE")
]


def replace_audit_actions(actions):
    """Swap the audit trail's list of known actions."""
    name = "ck_audit_event_action_known"
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE audit_event DROP CONSTRAINT {name}")
        op.execute(f"ALTER TABLE audit_event ADD CONSTRAINT {name} CHECK ({_in_list('action', actions)})")
        return
    # SQLite: rebuild the table with the new check; the rebuild drops its triggers.
    op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
    op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
    with op.batch_alter_table("audit_event", recreate="always") as batch_op:
        batch_op.drop_constraint(op.f(name), type_="check")
        batch_op.create_check_constraint("action_known", _in_list("action", actions))
    for sql in SQLITE_AUDIT_TRIGGERS:
        op.execute(sql)
