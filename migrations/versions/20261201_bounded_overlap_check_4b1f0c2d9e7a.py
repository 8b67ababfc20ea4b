"""The clash check looks at a slot's neighbours, not the whole history.

A booking lasts at most 12 hours (the scheduling rule, refused by the forms and the import),
so only bookings starting in the 12 hours before a new one's start can overlap it. SQLite's
overlap triggers now bound their search by that, and refuse a booking longer than 12 hours
themselves so that the bound always holds; with bookings indexed by room and start as they
are by physician and by patient, each check reads a few index entries instead of every
earlier booking of the physician and the room (seeding 50,000 patients went from hours to
minutes). PostgreSQL's exclusion constraints are indexed already; it gets the new index only.

Plain statements, not a batch: a batch rebuild of `booking` on SQLite would drop the triggers.

Revision ID: 4b1f0c2d9e7a
Revises: 358e12b795c8
Create Date: 2026-12-01 09:00:00

"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "4b1f0c2d9e7a"
down_revision = "358e12b795c8"
branch_labels = None
depends_on = None

ACTIVE = "('scheduled', 'checked_in', 'completed')"
TOO_LONG = (
    "SELECT RAISE(ABORT, 'booking too long: no booking may last more than 12 hours') "
    "WHERE julianday(NEW.ends_at) - julianday(NEW.starts_at) > 0.5; "
)


def overlap(bounded: bool) -> str:
    neighbours = "AND other.starts_at >= datetime(NEW.starts_at, '-12 hours') " if bounded else ""
    return (
        "SELECT RAISE(ABORT, 'booking overlap: the physician, room or patient is already booked') "
        "WHERE EXISTS (SELECT 1 FROM booking AS other WHERE other.id <> NEW.id "
        f"AND other.status IN {ACTIVE} "
        f"AND other.starts_at < NEW.ends_at AND NEW.starts_at < other.ends_at {neighbours}"
        "AND (other.physician_id = NEW.physician_id OR other.room_id = NEW.room_id "
        "OR other.patient_id = NEW.patient_id));"
    )


def triggers(bounded: bool) -> list[str]:
    body = (TOO_LONG if bounded else "") + overlap(bounded)
    return [
        f"CREATE TRIGGER booking_no_overlap_insert BEFORE INSERT ON booking "
        f"WHEN NEW.status IN {ACTIVE} BEGIN {body} END",
        f"CREATE TRIGGER booking_no_overlap_update BEFORE UPDATE OF starts_at, ends_at, status, "
        f"physician_id, room_id, patient_id ON booking WHEN NEW.status IN {ACTIVE} "
        f"BEGIN {body} END",
    ]


def replace_triggers(bounded: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TRIGGER IF EXISTS booking_no_overlap_insert")
    op.execute("DROP TRIGGER IF EXISTS booking_no_overlap_update")
    for sql in triggers(bounded):
        op.execute(sql)


def upgrade():
    op.drop_index("ix_booking_room_id", table_name="booking")
    op.create_index("ix_booking_room_starts", "booking", ["room_id", "starts_at"], unique=False)
    replace_triggers(bounded=True)


def downgrade():
    replace_triggers(bounded=False)
    op.drop_index("ix_booking_room_starts", table_name="booking")
    op.create_index("ix_booking_room_id", "booking", ["room_id"], unique=False)
