"""The front desk's note for the day gets its own column, apart from the clinical notes.

`booking.notes` held both the note typed when booking ("needs a wheelchair") and the
physician's clinical notes, which the completion form pre-filled from it and then overwrote.
The desk's note moves to `booking.desk_note`: a booking not yet completed can only have a note
from the booking form, so its `notes` move there; a completed booking's `notes` are the
physician's and stay.

Plain ALTER TABLE, not a batch: on SQLite a batch rebuild of `booking` would drop the
triggers that refuse overlapping bookings (SQLite 3.35+ drops a column in place).

Revision ID: 358e12b795c8
Revises: c0dba5e14f9b
Create Date: 2026-12-01 08:38:13.125059

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '358e12b795c8'
down_revision = 'c0dba5e14f9b'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('booking', sa.Column('desk_note', sa.Text(), nullable=True))
    op.execute(
        "UPDATE booking SET desk_note = notes, notes = NULL "
        "WHERE status <> 'completed' AND notes IS NOT NULL"
    )


def downgrade():
    op.execute(
        "UPDATE booking SET notes = desk_note WHERE notes IS NULL AND desk_note IS NOT NULL"
    )
    op.drop_column('booking', 'desk_note')
