"""How fast, and in how much memory, Clinic writes each CSV export of docs/formats.md.

Usage::

    .venv/bin/python benchmarks/exports.py                        # 1,000 and 10,000 patients, SQLite
    .venv/bin/python benchmarks/exports.py --patients 2000 --repeat 5
    .venv/bin/python benchmarks/exports.py \\
        --database-url postgresql://postgres@127.0.0.1/postgres    # SQLite and PostgreSQL
    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1/postgres .venv/bin/python benchmarks/exports.py
    .venv/bin/python benchmarks/exports.py --only postgresql --database-url ...

For each database (a temporary SQLite file, and PostgreSQL when ``--database-url`` or
``TEST_DATABASE_URL`` names a server, in a throwaway database dropped afterwards) it builds two
clinics with ``clinic.demo.seed_demo``: N patients (``--patients``, default 1,000) and
``--scale`` × N (default 10×). Then, for every export in ``clinic.services.interchange.exports.EXPORTS``,
unfiltered (the largest file), it prints:

* **time**: the export as the command line writes it (``CsvStream``, every cell formatted and
  formula-safe, encoded to UTF-8 bytes and thrown away: on SQLite by Python, on PostgreSQL the
  plain exports by the database through ``clinic.services.interchange.sql_csv``, the rest by
  Python), best of ``--repeat`` runs, beside
  yardsticks measured in the same run on the same data — the **bare read**: the export's own
  SELECTs (compiled to SQL) executed on a raw DB-API cursor and every row fetched, 1,000 at a
  time (PostgreSQL: a server-side cursor), no formatting; and on PostgreSQL ``COPY (SELECT …)
  TO STDOUT (FORMAT csv)`` of those SELECTs through psycopg's copy. Ratios are export ÷
  yardstick. The relief tables (from ``clinic.services.relief.reports``) are measured against the
  bare read of the relief report's own query, ``outcomes`` against its own SELECT with the
  seeded rules' thresholds. Those three have the database sum each intervention's follow-up
  scores (``clinic.services.relief.sums``), so each is also shown beside a bare read of every
  score it sums (completed interventions, one row per follow-up score): what they read before.
  Statistics are refreshed (``ANALYZE``) after seeding, and PostgreSQL yardsticks are planned
  as the exports are (``clinic.services.planning``).
* **memory**: the peak of Python allocations (``tracemalloc``) while writing each export at N
  and at ``--scale`` × N patients; flat memory means the two peaks are close (ratio ≈ 1) while
  the rows grow tenfold. Rows are fetched ``BATCH_ROWS`` (1,000) at a time and written in
  64 KiB chunks, so memory reaches its ceiling once an export passes about a thousand rows;
  an export with fewer rows than that at N (marked) has not reached it yet, and its ratio
  shows the climb to the ceiling, not growth with the data.

Timed runs go without tracemalloc (it slows Python down); memory is measured in separate runs.
Seeding dominates the running time: about 2½ minutes for the default sizes on SQLite, 4½ with
PostgreSQL too (``--patients 500`` takes about a minute).
Nothing here is a test: it prints tables and exits 0.
"""

import argparse
import gc
import logging
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("CLINIC_ENV", "testing")

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import and_, func, select, text  # noqa: E402

from benchmarks.databases import drop_postgres, throwaway_postgres  # noqa: E402
from clinic import (  # noqa: E402
    clock,
    create_app,
    demo,  # noqa: E402
)
from clinic.extensions import db  # noqa: E402
from clinic.models import (  # noqa: E402
    Booking,
    Intervention,
    PainScore,
    Patient,
    RepeatEligibilityRule,
)
from clinic.services.filters import ReportFilters  # noqa: E402
from clinic.services.identity.audit import COMMAND_LINE, act_as  # noqa: E402
from clinic.services.interchange import exports as service  # noqa: E402
from clinic.services.planning import PLAN_FOR_EVERY_ROW  # noqa: E402
from clinic.services.relief.eligibility import rule_from_row  # noqa: E402
from clinic.services.relief.reports import relief_statement  # noqa: E402

FILTERS = ReportFilters()  # unfiltered: every row
FETCH = 1000


@dataclass
class Measure:
    rows: int = 0
    seconds: float = 0.0
    bare_seconds: float = 0.0
    copy_seconds: float | None = None
    every_score_seconds: float | None = None
    peak: int = 0
    bare_peak: int = 0
    error: str | None = None


@dataclass
class Run:
    backend: str
    patients: int
    seed_seconds: float
    counts: dict[str, int]
    measures: dict[str, Measure] = field(default_factory=dict)


# --- databases ----------------------------------------------------------------------------------


def seeded_app(url: str, patients: int, seed: int):
    """A migrated database holding the demo clinic of ``patients`` patients."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "b" * 40})
    with app.app_context():
        upgrade()
        act_as(db.session, COMMAND_LINE)
        started = time.perf_counter()
        demo.seed_demo(db.session, patients=patients, seed=seed)
        db.session.commit()
        seconds = time.perf_counter() - started
        counts = {
            "patients": count(Patient),
            "interventions": count(Intervention),
            "bookings": count(Booking),
            "pain scores": count(PainScore),
        }
    return app, seconds, counts


def analyze(app) -> None:
    """Fresh planner statistics, as autovacuum (PostgreSQL) or ``ANALYZE`` (SQLite) leave them.

    Without them PostgreSQL plans a freshly seeded clinic from guesses: the ``outcomes`` export
    at 10,000 patients took 42 s instead of 3.
    """
    with app.app_context(), db.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


# --- what is measured ---------------------------------------------------------------------------


def write_export(export: service.Export, zone: ZoneInfo) -> int:
    """The export as the command line writes it, to a sink that only counts; returns rows."""
    stream = service.CsvStream(export, db.session, FILTERS, zone)
    written = 0
    for chunk in stream:
        written += len(chunk.encode("utf-8"))
    db.session.rollback()
    return stream.rows


def compiled(statements, dialect) -> list[str]:
    return [
        str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        for statement in statements
    ]


def bare_read(sqls: list[str]) -> int:
    """Each SELECT on a raw DB-API cursor, every row fetched and dropped; returns rows."""
    connection = db.engine.raw_connection()
    rows = 0
    try:
        postgres = db.engine.dialect.name == "postgresql"
        if postgres:  # planned as the export's are (see clinic/services/planning.py)
            for setting in PLAN_FOR_EVERY_ROW:
                connection.cursor().execute(setting)
        for number, sql in enumerate(sqls):
            cursor = connection.cursor(name=f"bare{number}") if postgres else connection.cursor()
            cursor.execute(sql)
            while batch := cursor.fetchmany(FETCH):
                rows += len(batch)
            cursor.close()
        connection.rollback()
    finally:
        connection.close()
    return rows


def copy_out(sqls: list[str]) -> int:
    """PostgreSQL: ``COPY (SELECT …) TO STDOUT (FORMAT csv)`` through psycopg; returns bytes."""
    connection = db.engine.raw_connection()
    size = 0
    try:
        cursor = connection.cursor()
        for setting in PLAN_FOR_EVERY_ROW:  # as the export's are planned
            cursor.execute(setting)
        for sql in sqls:
            with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
                for data in copy:
                    size += len(data)
        cursor.close()
        connection.rollback()
    finally:
        connection.close()
    return size


def best_time(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def peak_memory(work: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def yardstick_statements(export: service.Export, zone: ZoneInfo):
    """The SELECTs the export itself runs, as it runs them."""
    if export.name == "outcomes":
        # With the rules' thresholds and today's date, as the export sums the follow-ups.
        rules = [rule_from_row(row) for row in db.session.scalars(select(RepeatEligibilityRule))]
        today = clock.utcnow().astimezone(zone).date()
        return service.outcomes_statements(FILTERS, zone, rules, today)
    if export.statements is not None:
        return export.statements(FILTERS, zone)
    # The relief tables: the relief report's own query, as the report reads it.
    return [relief_statement(FILTERS, "procedure")]


def every_score_statement():
    """What the relief tables and ``outcomes`` sum: completed interventions, a row per score.

    Before the database summed the follow-ups, the relief report read exactly this, and the
    ``outcomes`` export much the same in two streams.
    """
    return (
        select(
            Intervention.id,
            Intervention.procedure_type_id,
            Intervention.performed_on,
            Intervention.baseline_nrs,
            PainScore.recorded_on,
            PainScore.nrs,
            PainScore.percent_relief,
        )
        .outerjoin(
            PainScore,
            and_(
                PainScore.intervention_id == Intervention.id,
                PainScore.recorded_on > Intervention.performed_on,
            ),
        )
        .where(Intervention.status == "completed")
        .order_by(Intervention.id, PainScore.recorded_on)
    )


SUMMED = ("outcomes", "relief-summary", "relief-curve")


def measure(app, repeat: int) -> dict[str, Measure]:
    results: dict[str, Measure] = {}
    with app.app_context():
        zone = ZoneInfo(app.config["CLINIC_TIMEZONE"])
        postgres = db.engine.dialect.name == "postgresql"
        for name, export in service.EXPORTS.items():
            result = results[name] = Measure()
            try:
                result.rows = write_export(export, zone)  # warm up, and the row count
            except ModuleNotFoundError as error:
                result.error = f"needs {error.name}"
                db.session.rollback()
                continue
            sqls = compiled(yardstick_statements(export, zone), db.engine.dialect)
            bare_read(sqls)  # warm up the database's cache as the export did
            result.seconds = best_time(lambda e=export: write_export(e, zone), repeat)
            result.bare_seconds = best_time(lambda s=sqls: bare_read(s), repeat)
            if postgres:
                result.copy_seconds = best_time(lambda s=sqls: copy_out(s), repeat)
            if name in SUMMED:
                every_score = compiled([every_score_statement()], db.engine.dialect)
                result.every_score_seconds = best_time(lambda s=every_score: bare_read(s), repeat)
            result.peak = peak_memory(lambda e=export: write_export(e, zone))
            result.bare_peak = peak_memory(lambda s=sqls: bare_read(s))
    return results


# --- report -------------------------------------------------------------------------------------


def kib(value: int) -> str:
    return f"{value / 1024:,.0f}"


def print_times(run: Run) -> None:
    print(
        f"\n{run.backend}, {run.counts['patients']:,} patients "
        f"({run.counts['interventions']:,} interventions, {run.counts['bookings']:,} bookings, "
        f"{run.counts['pain scores']:,} pain scores; seeded in {run.seed_seconds:.0f} s)"
    )
    copy = run.backend == "postgresql"
    head = f"  {'export':<24}{'rows':>10}{'export s':>10}{'bare s':>9}{'×bare':>7}"
    if copy:
        head += f"{'COPY s':>9}{'×COPY':>7}"
    print(head + f"{'peak KiB':>10}{'bare KiB':>10}")
    for name, m in run.measures.items():
        if m.error:
            print(f"  {name:<24}  skipped: {m.error}")
            continue
        line = (
            f"  {name:<24}{m.rows:>10,}{m.seconds:>10.3f}{m.bare_seconds:>9.3f}"
            f"{m.seconds / m.bare_seconds:>7.1f}"
        )
        if copy and m.copy_seconds is not None:
            line += f"{m.copy_seconds:>9.3f}{m.seconds / m.copy_seconds:>7.1f}"
        print(line + f"{kib(m.peak):>10}{kib(m.bare_peak):>10}")
    summed = [(name, m) for name, m in run.measures.items() if m.every_score_seconds]
    if summed:
        print(
            "  summed by the database, beside a bare read of every score they sum"
            f" ({run.counts['pain scores']:,} rows):"
        )
        for name, m in summed:
            print(
                f"  {name:<24}{'':>10}{m.seconds:>10.3f}{m.every_score_seconds:>9.3f}"
                f"{m.seconds / m.every_score_seconds:>7.1f}"
            )


def print_memory(small: Run, large: Run) -> None:
    scale = large.counts["patients"] / small.counts["patients"]
    print(
        f"\n{small.backend}: peak memory of each export at {small.counts['patients']:,} and "
        f"{large.counts['patients']:,} patients ({scale:.0f}× the data)"
    )
    print(f"  {'export':<24}{'rows':>10}{'rows':>11}{'peak KiB':>10}{'peak KiB':>10}{'ratio':>7}")
    for name, m in small.measures.items():
        big = large.measures[name]
        if m.error or big.error:
            continue
        # The relief tables read every completed intervention, however few rows they write.
        own = service.EXPORTS[name].statements is not None
        note = "  (under one fetch at N)" if own and m.rows < service.BATCH_ROWS else ""
        print(
            f"  {name:<24}{m.rows:>10,}{big.rows:>11,}{kib(m.peak):>10}{kib(big.peak):>10}"
            f"{big.peak / m.peak:>7.2f}{note}"
        )


def bench_backend(backend: str, base_url: str | None, args) -> None:
    runs = []
    for patients in (args.patients, args.patients * args.scale):
        if backend == "sqlite":
            folder = tempfile.mkdtemp(prefix="clinic-bench-")
            url = f"sqlite:///{folder}/clinic.db"
        else:
            url = throwaway_postgres(base_url)
        try:
            print(f"{backend}: seeding {patients:,} patients …", file=sys.stderr, flush=True)
            app, seconds, counts = seeded_app(url, patients, args.seed)
            analyze(app)
            run = Run(backend, patients, seconds, counts)
            run.measures = measure(app, args.repeat)
            with app.app_context():
                db.engine.dispose()
        finally:
            if backend == "postgresql":
                drop_postgres(url)
        print_times(run)
        runs.append(run)
    print_memory(*runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=1000, help="N (default 1,000)")
    parser.add_argument("--scale", type=int, default=10, help="the larger clinic is N × this")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best counts")
    parser.add_argument("--seed", type=int, default=2026, help="seed-demo's random seed")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL"),
        help="a PostgreSQL server to benchmark too (default: TEST_DATABASE_URL)",
    )
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one backend only")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # Alembic's INFO lines on every migration
    print(
        f"Clinic exports benchmark: N = {args.patients:,} and {args.patients * args.scale:,} "
        f"patients, best of {args.repeat}, unfiltered, Python {sys.version.split()[0]}"
    )
    if args.only != "postgresql":
        bench_backend("sqlite", None, args)
    if args.only != "sqlite":
        if args.database_url:
            bench_backend("postgresql", args.database_url, args)
        else:
            print("\npostgresql: skipped (give --database-url or set TEST_DATABASE_URL)")


if __name__ == "__main__":
    main()
