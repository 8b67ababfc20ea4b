"""Physicians' sessions and default lengths (issue 14, part A).

- `procedure_type.default_minutes`: how long a booking of the procedure lasts by default,
  seeded for the catalogue (ESI-IL, ESI-TF, ESI-CA, FJI, MBB 30; RFA 60; SCS-TRIAL 60;
  SCS-IMPLANT 120; anything else 30).
- `visit_kind_length`: the same for each kind of visit (consult 30, follow-up 20,
  post-procedure check 15, stimulator adjustment 30).
- `physician_session`: each physician's weekly template of sessions; `session_exception`:
  dated time off or extra sessions.

The new column is added with plain ALTER TABLE (its CHECK inline), not a batch: on SQLite a
rebuild of `procedure_type` would have to drop a table the interventions refer to.

Revision ID: a14c0e55f001
Revises: 11fbedf79def
Create Date: 2026-12-06 02:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a14c0e55f001"
down_revision = "11fbedf79def"
branch_labels = None
depends_on = None

PROCEDURE_MINUTES = {
    "ESI-IL": 30,
    "ESI-TF": 30,
    "ESI-CA": 30,
    "FJI": 30,
    "MBB": 30,
    "RFA": 60,
    "SCS-TRIAL": 60,
    "SCS-IMPLANT": 120,
}
VISIT_MINUTES = {
    "consult": 30,
    "follow_up": 20,
    "post_procedure_check": 15,
    "stimulator_adjustment": 30,
}
VISIT_KINDS = "('consult', 'follow_up', 'post_procedure_check', 'stimulator_adjustment')"


def _stamps():
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade():
    op.execute(
        "ALTER TABLE procedure_type ADD COLUMN default_minutes INTEGER DEFAULT 30 NOT NULL "
        "CONSTRAINT ck_procedure_type_default_minutes_range "
        "CHECK (default_minutes BETWEEN 5 AND 720)"
    )
    procedure_type = sa.table(
        "procedure_type", sa.column("code", sa.String), sa.column("default_minutes", sa.Integer)
    )
    for code, minutes in PROCEDURE_MINUTES.items():
        op.execute(
            procedure_type.update()
            .where(procedure_type.c.code == code)
            .values(default_minutes=minutes)
        )

    visit_kind_length = op.create_table(
        "visit_kind_length",
        sa.Column("visit_kind", sa.String(length=30), nullable=False),
        sa.Column("default_minutes", sa.Integer(), nullable=False),
        *_stamps(),
        sa.CheckConstraint(
            f"visit_kind IN {VISIT_KINDS}", name=op.f("ck_visit_kind_length_visit_kind_known")
        ),
        sa.CheckConstraint(
            "default_minutes BETWEEN 5 AND 720",
            name=op.f("ck_visit_kind_length_default_minutes_range"),
        ),
        sa.PrimaryKeyConstraint("visit_kind", name=op.f("pk_visit_kind_length")),
    )
    op.bulk_insert(
        visit_kind_length,
        [{"visit_kind": kind, "default_minutes": m} for kind, m in VISIT_MINUTES.items()],
    )

    op.create_table(
        "physician_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("physician_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=True),
        *_stamps(),
        sa.CheckConstraint(
            "kind IN ('procedures', 'clinic')", name=op.f("ck_physician_session_kind_known")
        ),
        sa.CheckConstraint(
            "weekday BETWEEN 0 AND 6", name=op.f("ck_physician_session_weekday_range")
        ),
        sa.CheckConstraint(
            "start_minute >= 0 AND end_minute <= 1440 AND end_minute > start_minute",
            name=op.f("ck_physician_session_minutes_in_day"),
        ),
        sa.ForeignKeyConstraint(
            ["physician_id"],
            ["staff_user.id"],
            name=op.f("fk_physician_session_physician_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["room.id"], name=op.f("fk_physician_session_room_id_room")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_physician_session")),
    )
    op.create_index(
        "ix_physician_session_physician_weekday",
        "physician_session",
        ["physician_id", "weekday"],
        unique=False,
    )

    op.create_table(
        "session_exception",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("physician_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("change", sa.String(length=10), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=True),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        *_stamps(),
        sa.CheckConstraint(
            "change IN ('off', 'extra')", name=op.f("ck_session_exception_change_known")
        ),
        sa.CheckConstraint(
            "kind IS NULL OR kind IN ('procedures', 'clinic')",
            name=op.f("ck_session_exception_kind_known"),
        ),
        sa.CheckConstraint(
            "change = 'off' OR kind IS NOT NULL", name=op.f("ck_session_exception_extra_has_kind")
        ),
        sa.CheckConstraint(
            "start_minute >= 0 AND end_minute <= 1440 AND end_minute > start_minute",
            name=op.f("ck_session_exception_minutes_in_day"),
        ),
        sa.ForeignKeyConstraint(
            ["physician_id"],
            ["staff_user.id"],
            name=op.f("fk_session_exception_physician_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["room.id"], name=op.f("fk_session_exception_room_id_room")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_exception")),
    )
    op.create_index(
        "ix_session_exception_day_physician",
        "session_exception",
        ["day", "physician_id"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_session_exception_day_physician", table_name="session_exception")
    op.drop_table("session_exception")
    op.drop_index("ix_physician_session_physician_weekday", table_name="physician_session")
    op.drop_table("physician_session")
    op.drop_table("visit_kind_length")
    op.drop_column("procedure_type", "default_minutes")
