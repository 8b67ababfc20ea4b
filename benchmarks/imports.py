"""How fast, and in how much memory, Clinic imports a large CSV of pain scores.

Usage::

    .venv/bin/python benchmarks/imports.py                       # 1,000,000 scores, SQLite
    .venv/bin/python benchmarks/imports.py --rows 200000
    .venv/bin/python benchmarks/imports.py --rows 200000 \\
        --database-url postgresql://postgres@127.0.0.1/postgres   # SQLite and PostgreSQL
    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1/postgres .venv/bin/python benchmarks/imports.py

It writes N pain-score rows (``--rows``, default 1,000,000) and the patients and interventions
they follow up (one intervention per 5 scores, one patient per 2 interventions) as the CSV
files of docs/formats.md, then for each database (a temporary SQLite file, and PostgreSQL
when ``--database-url`` or ``TEST_DATABASE_URL`` names a server, in a throwaway database):

* **time**: the whole import (check pass and write pass, one transaction) beside a yardstick
  measured in the same run on the same machine, after the import, in the same database:

  - PostgreSQL: ``COPY … FROM STDIN`` of the same three files (patients, interventions, pain
    scores) into three plain scratch tables whose columns are all ``text``, one COPY per file
    through psycopg, all three in one transaction and timed together up to the commit (the
    tables are created and committed before the clock starts). This is the physical floor
    the import is measured against. For comparison with earlier runs it also prints the old
    yardstick: COPY of the pain-score file alone into a scratch table with typed columns
    (date, integer), in its own transaction, with the CREATE TABLE before the clock starts;
  - SQLite: a bare ``executemany`` INSERT of the rows of the same three files (read with the
    csv module, no checks) into three scratch tables, in one transaction and timed together;
    the patient and intervention cells go in as the strings read, the pain-score rows get
    the old yardstick's integer conversion. It also prints the old figure: the pain-score
    rows alone, the same way, into their own scratch table;
  - PostgreSQL, beside them, **the schema's floor**: every row the import wrote (patients,
    bookings, interventions, pain scores, follow-up calls, audit events…), read back with
    ``COPY … TO`` and loaded with ``COPY … FROM`` into fresh copies of their tables made with
    ``LIKE … INCLUDING ALL`` (the same columns, checks, indexes, primary and unique keys and
    double-booking exclusion constraints) and the same foreign keys, one transaction. It is
    what the database itself takes to store those rows as the schema keeps them, before any
    cell is checked: the import's ratio to it is what checking and working out costs;
  - PostgreSQL, and **the bulk floor**: the same rows COPYed into bare copies of their tables
    (columns and defaults only), and only then their indexes, keys, checks, exclusion
    constraints and foreign keys built, one transaction — what an import that set the schema
    aside while it loaded could at best take;
* **memory**: the peak of Python allocations (``tracemalloc``) while importing N/10 rows and
  while importing N rows into fresh databases; flat memory means the two peaks are close.

The timed import runs without tracemalloc (it slows Python down); memory is measured in
separate imports. Nothing here is a test: it prints a table and exits 0.
"""

import argparse
import csv
import gc
import os
import random
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import date, datetime, timedelta
from graphlib import TopologicalSorter
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("CLINIC_ENV", "testing")

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks.databases import drop_postgres, throwaway_postgres  # noqa: E402
from clinic import create_app  # noqa: E402
from clinic.extensions import db  # noqa: E402
from clinic.models import Room, StaffUser  # noqa: E402
from clinic.services.identity.audit import COMMAND_LINE, act_as  # noqa: E402
from clinic.services.interchange.csvio import csv_lines  # noqa: E402
from clinic.services.interchange.imports import COLUMNS, import_files  # noqa: E402

ZONE = ZoneInfo("UTC")
SCORES_PER_INTERVENTION = 5
INTERVENTIONS_PER_PATIENT = 2
PHYSICIANS = [f"dr.bench{n}" for n in range(8)]
ROOMS = [f"Bench suite {n}" for n in range(4)]
CODES = ["ESI-TF", "ESI-IL", "MBB", "RFA", "FJI"]
FIRST = ["Ana", "Ben", "Chloé", "Dev", "Eun", "Femi", "Gus", "Hana", "Ivo", "Jude"]
FILES = ("patients", "interventions", "pain_scores")
LAST = ["Okafor", "Lindgren", "Moreau", "Nakamura", "Silva", "Kowalski", "Haddad", "Byrne"]


def write_files(folder: Path, rows: int, seed: int = 7) -> dict[str, Path]:
    """The three CSV files for ``rows`` pain scores, written a line at a time."""
    rng = random.Random(seed)
    interventions = max(1, -(-rows // SCORES_PER_INTERVENTION))
    # At least one patient per lane, so that a patient's procedures never share a time slot.
    patients = max(len(PHYSICIANS), -(-interventions // INTERVENTIONS_PER_PATIENT))
    # The three files of the issue; the medications file is not part of this benchmark.
    paths = {kind: folder / f"{kind}-{rows}.csv" for kind in FILES}

    def patient_rows():
        for n in range(patients):
            born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 60 * 365))
            yield [
                f"B{n:08d}",
                rng.choice(FIRST),
                rng.choice(LAST),
                born.isoformat(),
                rng.choice(["female", "male"]),
                f"555-01{n % 100:02d}",
                "",
                "herniated_disc",
            ]

    def intervention_rows():
        # Each physician works their own room through the day, one slot after another, so
        # that nothing clashes however many interventions there are.
        start = datetime(2015, 1, 5, 8, 0)
        for n in range(interventions):
            lane, slot = n % len(PHYSICIANS), n // len(PHYSICIANS)
            day, index = divmod(slot, 16)
            begins = start + timedelta(days=day, minutes=30 * index)
            yield [
                f"BENCH-{n:08d}",
                f"B{n % patients:08d}",
                CODES[n % len(CODES)],
                PHYSICIANS[lane],
                begins.strftime("%Y-%m-%dT%H:%M"),
                (begins + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
                ROOMS[lane % len(ROOMS)] if lane < len(ROOMS) else "",
                "completed",
                begins.date().isoformat(),
                str(rng.randint(5, 9)),
                "L4-L5",
                "left",
                "",
            ]

    def score_rows():
        written = 0
        for n in range(interventions):
            slot = n // len(PHYSICIANS)
            performed = date(2015, 1, 5) + timedelta(days=slot // 16)
            for k in range(SCORES_PER_INTERVENTION):
                if written == rows:
                    return
                written += 1
                yield [
                    f"BENCH-{n:08d}",
                    (performed + timedelta(days=14 + 30 * k)).isoformat(),
                    str(rng.randint(0, 10)),
                    str(rng.randint(0, 100)) if k % 2 else "",
                    "phone",
                ]

    for kind, generate in (
        ("patients", patient_rows),
        ("interventions", intervention_rows),
        ("pain_scores", score_rows),
    ):
        width = len(COLUMNS[kind])
        padded = (row + [""] * (width - len(row)) for row in generate())  # newer columns empty
        with paths[kind].open("w", encoding="utf-8", newline="") as out:
            for chunk in csv_lines(COLUMNS[kind], padded):
                out.write(chunk)
    return paths


def fresh_database(kind: str, server_url: str | None, folder: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:8]}.db'}"
    return throwaway_postgres(server_url)


def drop_database(kind: str, url: str) -> None:
    if kind == "sqlite":
        Path(make_url(url).database).unlink(missing_ok=True)
        return
    drop_postgres(url)


def prepared_app(url: str, folder: Path):
    """The app on a migrated database holding the benchmark's physicians and rooms."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "b" * 40, "TESTING": False})
    app.instance_path = str(folder)
    with app.app_context():
        upgrade()
        for username in PHYSICIANS:
            db.session.add(StaffUser(username=username, full_name=username, role="physician"))
        for name in ROOMS:
            db.session.add(Room(name=name))
        db.session.commit()
    return app


def row_counts(url: str) -> dict[str, int]:
    """Rows in each table of the public schema (PostgreSQL)."""
    import psycopg

    with psycopg.connect(psycopg_conninfo(url)) as connection:
        tables = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).fetchall()
        return {
            table: connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for (table,) in tables
        }


def _copied_out(connection, table: str) -> bytes:
    """Every row of ``table`` as ``COPY … TO`` writes it."""
    buffer = bytearray()
    with connection.cursor().copy(f'COPY "{table}" TO STDOUT') as copy:
        for chunk in copy:
            buffer += chunk
    return bytes(buffer)


def _copy_in(cursor, table: str, data: bytes) -> None:
    """``COPY … FROM`` the rows ``_copied_out`` read, a megabyte at a time."""
    with cursor.copy(f'COPY "{table}" FROM STDIN') as copy:
        for start in range(0, len(data), 1 << 20):
            copy.write(data[start : start + (1 << 20)])


def _retargeted(definition: str, referenced: str, written: list[str], prefix: str) -> str:
    """A foreign key's definition pointed at the copy of its table, when that table is copied."""
    referenced = referenced.strip('"')
    if referenced not in written:
        return definition
    return definition.replace(f"REFERENCES {referenced}(", f'REFERENCES "{prefix}_{referenced}"(')


def schema_floor(url: str, written: list[str]) -> tuple[float, dict[str, float]]:
    """Seconds to COPY the rows of ``written`` into copies of their tables (indexes, checks,
    exclusion constraints and foreign keys included), one transaction; see the docstring."""
    import psycopg

    with psycopg.connect(psycopg_conninfo(url)) as connection:
        rows = {}
        for table in written:
            rows[table] = _copied_out(connection, table)
            connection.execute(f'CREATE TABLE "floor_{table}" (LIKE "{table}" INCLUDING ALL)')
        keys = connection.execute(
            "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text, c.conname, "
            "pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "WHERE c.contype = 'f' AND c.conrelid::regclass::text = ANY(%s)",
            [written],
        ).fetchall()
        for table, referenced, name, definition in keys:
            definition = _retargeted(definition, referenced, written, "floor")
            connection.execute(
                f'ALTER TABLE "floor_{table.strip(chr(34))}" ADD CONSTRAINT "floor_{name}" '
                + definition
            )
        connection.commit()
        # Referenced tables first, so that each row's keys are there when it is checked.
        needs = {table: set() for table in written}
        for table, referenced, _, _ in keys:
            if referenced.strip('"') in written and referenced != table:
                needs[table.strip('"')].add(referenced.strip('"'))
        order = list(TopologicalSorter(needs).static_order())
        began = time.perf_counter()
        each = {}
        with connection.cursor() as cursor:
            for table in order:
                table_began = time.perf_counter()
                _copy_in(cursor, f"floor_{table}", rows[table])
                each[table] = time.perf_counter() - table_began
        connection.commit()
        return time.perf_counter() - began, each


def run_import(app, paths: dict[str, Path], trace: bool) -> tuple[float, int]:
    """Seconds for one committed import of the three files, and the traced peak (bytes)."""
    with app.app_context():
        act_as(db.session, COMMAND_LINE)
        handles = {kind: path.open("rb") for kind, path in paths.items()}
        gc.collect()
        if trace:
            tracemalloc.start()
        began = time.perf_counter()
        try:
            report = import_files(
                db.session,
                {kind: (path.name, handles[kind]) for kind, path in paths.items()},
                dry_run=False,
                zone=ZONE,
            )
            if report.problems:
                raise SystemExit("\n".join(map(str, report.problems[:20])))
            db.session.commit()
        finally:
            seconds = time.perf_counter() - began
            peak = tracemalloc.get_traced_memory()[1] if trace else 0
            if trace:
                tracemalloc.stop()
            for handle in handles.values():
                handle.close()
        db.engine.dispose()
    return seconds, peak


def yardstick(kind: str, url: str, paths: dict[str, Path]) -> dict[str, float]:
    """The same files loaded the bare way, in seconds: COPY (PostgreSQL) or executemany (SQLite).

    ``all`` is the three files together in one transaction; ``scores`` is the pain-score file
    alone, measured as the earlier versions of this benchmark did.
    """
    if kind == "postgresql":
        return {"all": copy_all(url, paths), "scores": copy_scores(url, paths["pain_scores"])}
    return {
        "all": insert_all(url, paths),
        "scores": insert_scores(url, paths["pain_scores"]),
    }


def psycopg_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def copy_file(cursor, table: str, path: Path) -> None:
    """Send ``path`` to ``COPY table FROM STDIN`` (CSV with its header line) in 1 MiB chunks."""
    copy_sql = f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)"
    with path.open("rb") as source, cursor.copy(copy_sql) as copy:
        while chunk := source.read(1 << 20):
            copy.write(chunk)


def copy_all(url: str, paths: dict[str, Path]) -> float:
    """COPY of the three files into three plain tables of text columns, one transaction."""
    import psycopg

    with psycopg.connect(psycopg_conninfo(url)) as connection:
        for kind in FILES:
            columns = ", ".join(f'"{name}" text' for name in COLUMNS[kind])
            connection.execute(f"CREATE TABLE scratch_all_{kind} ({columns})")
        connection.commit()
        began = time.perf_counter()
        with connection.cursor() as cursor:
            for kind in FILES:
                copy_file(cursor, f"scratch_all_{kind}", paths[kind])
        connection.commit()
        return time.perf_counter() - began


def copy_scores(url: str, scores: Path) -> float:
    """The old yardstick: COPY of the pain-score file alone into a table with typed columns."""
    import psycopg

    with psycopg.connect(psycopg_conninfo(url)) as connection:
        connection.execute(
            "CREATE TABLE scratch_scores (intervention_ref text, recorded_on date, "
            "nrs integer, percent_relief integer, source text)"
        )
        began = time.perf_counter()
        with connection.cursor() as cursor:
            copy_file(cursor, "scratch_scores", scores)
        connection.commit()
        return time.perf_counter() - began


def score_values(reader):
    """The pain-score rows as the old SQLite yardstick inserted them (integers converted)."""
    return (
        (ref, day, int(nrs), int(pct) if pct else None, src) for ref, day, nrs, pct, src in reader
    )


def insert_all(url: str, paths: dict[str, Path]) -> float:
    """executemany INSERT of the three files' rows into three scratch tables, one transaction."""
    import sqlite3

    connection = sqlite3.connect(make_url(url).database)
    for kind in FILES:
        columns = ", ".join(f'"{name}" TEXT' for name in COLUMNS[kind])
        connection.execute(f"CREATE TABLE scratch_all_{kind} ({columns})")
    connection.commit()
    began = time.perf_counter()
    for kind in FILES:
        marks = ", ".join("?" * len(COLUMNS[kind]))
        with paths[kind].open(encoding="utf-8", newline="") as source:
            reader = csv.reader(source)
            next(reader)
            connection.executemany(
                f"INSERT INTO scratch_all_{kind} VALUES ({marks})",
                score_values(reader) if kind == "pain_scores" else reader,
            )
    connection.commit()
    seconds = time.perf_counter() - began
    connection.close()
    return seconds


def insert_scores(url: str, scores: Path) -> float:
    """The old yardstick: executemany INSERT of the pain-score rows alone."""
    import sqlite3

    connection = sqlite3.connect(make_url(url).database)
    connection.execute(
        "CREATE TABLE scratch_scores (intervention_ref TEXT, recorded_on DATE, nrs INTEGER, "
        "percent_relief INTEGER, source TEXT)"
    )
    began = time.perf_counter()
    with scores.open(encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        next(reader)
        connection.executemany(
            "INSERT INTO scratch_scores VALUES (?, ?, ?, ?, ?)", score_values(reader)
        )
    connection.commit()
    seconds = time.perf_counter() - began
    connection.close()
    return seconds


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def bulk_floor(url: str, written: list[str]) -> float:
    """Seconds to COPY the rows of ``written`` into bare copies of their tables and only then
    build their indexes, keys, checks, exclusion constraints and foreign keys, one transaction:
    the floor of an import that would set the schema aside while it loads (see the docstring)."""
    import psycopg

    with psycopg.connect(psycopg_conninfo(url)) as connection:
        rows = {}
        for table in written:
            rows[table] = _copied_out(connection, table)
            connection.execute(f'CREATE TABLE "bulk_{table}" (LIKE "{table}" INCLUDING DEFAULTS)')
        # Constraints (primary, unique, exclusion, check, then foreign keys) and the indexes
        # that back none of them, as the live tables have them, renamed onto the copies.
        constraints = connection.execute(
            "SELECT c.conrelid::regclass::text, c.conname, c.contype, "
            "c.confrelid::regclass::text, pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "WHERE c.contype IN ('p', 'u', 'x', 'c', 'f') AND c.conrelid::regclass::text = ANY(%s) "
            "ORDER BY c.contype = 'f'",
            [written],
        ).fetchall()
        indexes = connection.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), "
            "i.indrelid::regclass::text FROM pg_index i "
            "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [written],
        ).fetchall()
        connection.commit()
        began = time.perf_counter()
        with connection.cursor() as cursor:
            for table in written:
                _copy_in(cursor, f"bulk_{table}", rows[table])
            for name, definition, table in indexes:
                table = table.strip('"')
                definition = definition.replace(f"INDEX {name} ", f"INDEX bulk_{name} ", 1)
                cursor.execute(definition.replace(f" ON public.{table} ", f' ON "bulk_{table}" '))
            for table, name, kind, referenced, definition in constraints:
                if kind == "f":
                    definition = _retargeted(definition, referenced, written, "bulk")
                cursor.execute(
                    f'ALTER TABLE "bulk_{table.strip(chr(34))}" ADD CONSTRAINT "bulk_{name}" '
                    + definition
                )
        connection.commit()
        return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="pain-score rows (N)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL"),
        help="a PostgreSQL server to benchmark as well (a throwaway database is created)",
    )
    parser.add_argument("--skip-memory", action="store_true", help="time only")
    parser.add_argument(
        "--postgresql-only", action="store_true", help="leave SQLite out (needs --database-url)"
    )
    arguments = parser.parse_args()
    rows = arguments.rows
    backends = [] if arguments.postgresql_only else ["sqlite"]
    backends += ["postgresql"] if arguments.database_url else []
    with tempfile.TemporaryDirectory(prefix="clinic-bench-") as workdir:
        folder = Path(workdir)
        print(f"Writing CSV files for {rows:,} pain scores and for {rows // 10:,} …", flush=True)
        large = write_files(folder, rows)
        small = write_files(folder, max(1, rows // 10))
        sizes = ", ".join(
            f"{path.name} {path.stat().st_size / 2**20:.1f} MiB" for path in large.values()
        )
        print(f"  {sizes}")
        print(
            f"Import of {rows:,} pain scores (+ {-(-rows // 5):,} interventions, "
            f"{-(-rows // 10):,} patients), one transaction; each database reported when done.",
            flush=True,
        )
        for kind in backends:
            print(f"{kind}: timing the import of {rows:,} scores …", flush=True)
            url = fresh_database(kind, arguments.database_url, folder)
            try:
                app = prepared_app(url, folder)
                before = row_counts(url) if kind == "postgresql" else {}
                seconds, _ = run_import(app, large, trace=False)
                bare = yardstick(kind, url, large)
                if kind == "postgresql":
                    after = row_counts(url)
                    written = [t for t, n in after.items() if n > before.get(t, 0)]
                    written = [t for t in written if not t.startswith("scratch_")]
                    bare["floor"], each = schema_floor(url, written)
                    bare["bulk"] = bulk_floor(url, written)
                    bare["floor_tables"] = ", ".join(
                        f"{t} {after[t] - before.get(t, 0):,} ({each[t]:.2f} s)" for t in written
                    )
            finally:
                drop_database(kind, url)
            peaks = []
            if not arguments.skip_memory:
                for label, paths in ((rows // 10, small), (rows, large)):
                    print(
                        f"{kind}: measuring memory while importing {label:,} scores …", flush=True
                    )
                    url = fresh_database(kind, arguments.database_url, folder)
                    try:
                        app = prepared_app(url, folder)
                        peaks.append(run_import(app, paths, trace=True)[1])
                    finally:
                        drop_database(kind, url)
            print_result(kind, rows, seconds, bare, peaks)


def print_result(kind: str, rows: int, seconds: float, bare: dict, peaks: list[int]) -> None:
    how = {"sqlite": "executemany INSERT", "postgresql": "COPY FROM STDIN"}[kind]
    print(f"  {kind}")
    print(f"    import            {seconds:8.2f} s   {rows / seconds:10,.0f} scores/s")
    print(
        f"    yardstick         {bare['all']:8.2f} s   ({how} of all three files' rows, "
        "one transaction)"
    )
    print(f"    ratio             {seconds / bare['all']:8.1f} × the yardstick")
    print(
        f"    old yardstick     {bare['scores']:8.2f} s   ({how} of the score rows alone, "
        "as in earlier runs)"
    )
    print(f"    ratio             {seconds / bare['scores']:8.1f} × the old yardstick")
    if "floor" in bare:
        print(
            f"    schema's floor    {bare['floor']:8.2f} s   (COPY of the rows written into "
            "copies of their tables: indexes, keys, checks, exclusion constraints)"
        )
        print(f"      rows, and seconds, a table: {bare['floor_tables']}")
        print(f"    ratio             {seconds / bare['floor']:8.1f} × the schema's floor")
        print(
            f"    bulk floor        {bare['bulk']:8.2f} s   (the same rows COPYed into bare "
            f"tables, then indexes, keys and constraints built: {bare['bulk'] / bare['all']:.1f} "
            "× the yardstick)"
        )
    if peaks:
        small, large = peaks
        print(
            f"    peak memory       {mib(small)} at N/10, {mib(large)} at N "
            f"(× {large / small:.2f} for 10 × the rows)"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
