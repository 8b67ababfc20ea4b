"""The slot finder at a large practice: time and SQL statements of a search, beside a yardstick.

Usage::

    .venv/bin/python benchmarks/slots.py                      # 50,000 patients, SQLite
    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1/postgres .venv/bin/python benchmarks/slots.py

Builds a demo clinic (``--patients``, default 50,000) and, for a few questions the front desk
asks (an RFA with any physician, a consult with one physician, an RFA for a named patient), runs
the finder ``--repeat`` times and prints the median time, the statements sent, and the
yardstick: the bare read of the window's active bookings (one query) that any search needs.
Nothing here is a test: it prints a table and exits 0.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CLINIC_ENV", "testing")

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import event, select  # noqa: E402

from benchmarks.databases import drop_postgres, throwaway_postgres  # noqa: E402
from clinic import clock, create_app, demo  # noqa: E402
from clinic.extensions import db  # noqa: E402
from clinic.models import Booking, Patient, StaffUser  # noqa: E402
from clinic.models.scheduling import ACTIVE_BOOKING_STATUSES  # noqa: E402
from clinic.services.identity.audit import COMMAND_LINE, act_as  # noqa: E402
from clinic.services.scheduling import lengths, slots  # noqa: E402
from clinic.services.scheduling.sessions import wall_instant  # noqa: E402


def timed(function, repeat: int) -> tuple[float, int, object]:
    """Median seconds, statements sent, and the last result of ``function``."""
    counted = [0]

    def count(*args, **kwargs):
        counted[0] += 1

    times, result = [], None
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for _ in range(repeat):
            counted[0] = 0
            db.session.expire_all()
            started = time.perf_counter()
            result = function()
            times.append(time.perf_counter() - started)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return statistics.median(times), counted[0], result


def run(url: str, patients: int, repeat: int) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    zone = ZoneInfo("UTC")
    with app.app_context():
        upgrade()
        act_as(db.session, COMMAND_LINE)
        started = time.perf_counter()
        demo.seed_demo(db.session, patients=patients, seed=2026)
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
        print(f"  seeded {patients:,} patients in {time.perf_counter() - started:.0f} s")
        today = clock.utcnow().date()
        physician = (
            db.session.execute(
                select(StaffUser).where(StaffUser.role == "physician").order_by(StaffUser.username)
            )
            .scalars()
            .first()
        )
        patient = db.session.execute(select(Patient).order_by(Patient.id)).scalars().first()
        rfa = lengths.what_named(db.session, "RFA")
        consult = lengths.what_named(db.session, "consult")
        questions = {
            "RFA, any physician": dict(kind="procedures", minutes=rfa.minutes),
            f"consult, {physician.username}": dict(
                kind="clinic", minutes=consult.minutes, physician_id=physician.id
            ),
            f"RFA, any physician, patient {patient.mrn}": dict(
                kind="procedures", minutes=rfa.minutes, patient_id=patient.id
            ),
        }
        window_start = wall_instant(today, 0, zone)
        window_end = wall_instant(today + timedelta(days=slots.WINDOW_DAYS - 1), 1440, zone)
        bookings = select(
            Booking.physician_id, Booking.room_id, Booking.patient_id, Booking.starts_at
        ).where(
            Booking.status.in_(ACTIVE_BOOKING_STATUSES),
            Booking.starts_at < window_end,
            Booking.ends_at > window_start,
        )
        yard, _, rows = timed(lambda: db.session.execute(bookings).all(), repeat)
        print(
            f"  yardstick: the window's {len(rows):,} active bookings read in {yard * 1000:.1f} ms"
        )
        print(f"  {'question':<40} {'ms':>8} {'× yard':>7} {'SQL':>4} {'slots':>5}  first")
        for name, asked in questions.items():
            query = slots.SlotQuery(first_day=today, now=clock.utcnow(), **asked)
            seconds, statements, found = timed(
                lambda q=query: slots.find_slots(db.session, q, zone), repeat
            )
            first = f"{found[0].starts_at:%Y-%m-%d %H:%M}" if found else "-"
            print(
                f"  {name:<40} {seconds * 1000:8.1f} {seconds / yard:7.1f} {statements:4d}"
                f" {len(found):5d}  {first}"
            )
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(f"SQLite, {options.patients:,} patients")
        run(f"sqlite:///{folder}/slots.db", options.patients, options.repeat)
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        url = throwaway_postgres(base)
        try:
            print(f"PostgreSQL, {options.patients:,} patients")
            run(url, options.patients, options.repeat)
        finally:
            drop_postgres(url)


if __name__ == "__main__":
    main()
