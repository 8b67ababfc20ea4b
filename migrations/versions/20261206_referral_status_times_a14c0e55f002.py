"""Referrals follow their bookings: when each status change happened, and "needs rebooking" (issue 14).

`referral.status_changed_at` records when the status last changed (the board's completed and
closed columns go by it, not by `updated_at`, which any edit moves); existing rows take their
`updated_at`. `referral.needs_rebooking` marks a referral sent back to triage because its
booking was cancelled or missed.

The data is repaired by the same rules the app now follows: a `scheduled` referral whose
procedure was completed is `completed`; a `scheduled` referral with no active booking (none,
or only cancelled and no-show ones) goes back to `triaged`, needing rebooking. Either change
is dated by the latest change to its bookings (else the referral's own `updated_at`).

Plain ALTER TABLE on SQLite, not a batch: a rebuild of `referral` would have to drop a table
the bookings refer to. SQLite cannot add a NOT NULL column with a non-constant default, so
there the new time column starts with a constant and is filled at once.

Revision ID: a14c0e55f002
Revises: a14c0e55f001
Create Date: 2026-12-06 02:00:00

"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "a14c0e55f002"
down_revision = "a14c0e55f001"
branch_labels = None
depends_on = None

ACTIVE = "('scheduled', 'checked_in', 'completed')"


def _latest_booking_change(statuses: str) -> str:
    """SQL: when the referral's bookings of these statuses last changed (NULL if none)."""
    return (
        "(SELECT MAX(booking.updated_at) FROM intervention "
        "JOIN booking ON booking.id = intervention.id "
        f"WHERE intervention.referral_id = referral.id AND booking.status IN {statuses})"
    )


def upgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column(
        "referral",
        sa.Column("needs_rebooking", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    )
    if sqlite:
        op.add_column(
            "referral",
            sa.Column(
                "status_changed_at",
                sa.DateTime(timezone=True),
                nullable=False,
                server_default=sa.text("'1970-01-01 00:00:00.000000'"),
            ),
        )
        op.execute("UPDATE referral SET status_changed_at = updated_at")
    else:
        op.add_column(
            "referral", sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
        op.execute("UPDATE referral SET status_changed_at = updated_at")
        op.alter_column(
            "referral", "status_changed_at", nullable=False, server_default=sa.func.now()
        )
    op.create_index(
        "ix_referral_status_changed", "referral", ["status", "status_changed_at"], unique=False
    )
    # Completing its procedure completes the referral.
    done = _latest_booking_change("('completed')")
    op.execute(
        f"UPDATE referral SET status = 'completed', status_changed_at = {done} "
        f"WHERE status = 'scheduled' AND {done} IS NOT NULL"
    )
    # A scheduled referral with no active booking goes back to triage, to be booked again.
    dropped = _latest_booking_change("('cancelled', 'no_show')")
    op.execute(
        "UPDATE referral SET status = 'triaged', needs_rebooking = true, "
        f"status_changed_at = COALESCE({dropped}, updated_at) "
        f"WHERE status = 'scheduled' AND NOT EXISTS (SELECT 1 FROM intervention "
        "JOIN booking ON booking.id = intervention.id "
        f"WHERE intervention.referral_id = referral.id AND booking.status IN {ACTIVE})"
    )


def downgrade():
    op.execute("UPDATE referral SET status = 'scheduled' WHERE needs_rebooking = true")
    op.drop_index("ix_referral_status_changed", table_name="referral")
    op.drop_column("referral", "status_changed_at")
    op.drop_column("referral", "needs_rebooking")
