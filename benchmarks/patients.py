"""How fast the front desk's patient list and searches answer at 50,000 patients.

Usage::

    .venv/bin/python benchmarks/patients.py                       # 50,000 patients, SQLite
    .venv/bin/python benchmarks/patients.py --patients 10000 --repeat 20
    .venv/bin/python benchmarks/patients.py \\
        --database-url postgresql://postgres@127.0.0.1/postgres   # SQLite and PostgreSQL
    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1/postgres .venv/bin/python benchmarks/patients.py
    .venv/bin/python benchmarks/patients.py --only postgresql --database-url ...

For each database (a temporary SQLite file, and PostgreSQL when ``--database-url`` or
``TEST_DATABASE_URL`` names a server, in a throwaway database dropped afterwards) it migrates an
empty clinic and bulk-inserts N patients (``--patients``, default 50,000: plain Core inserts of
patient rows with realistic names, dates of birth and last-seen times, about one in seven never
seen; no demo episodes, which the list and search never read). Then for the default list
(most recently seen first), a name search, an MRN search and a date-of-birth search it prints,
best of ``--repeat`` runs:

* **page**: ``GET /patients?q=…`` through the app, signed in as the front desk: the count and the
  page of 25 rows ``db.paginate`` reads, plus rendering the HTML;
* **query**: those two statements through the ORM (``patient_search`` paginated), no HTML;
* **bare**: the page's own SELECT (compiled to SQL) on a raw DB-API cursor, the same 25 rows
  fetched and dropped — the yardstick. Ratios are page ÷ bare and query ÷ bare;
* **count**: the page's other statement (how many patients match, for "Page 1 of N") on a raw
  cursor: it reads every matching row, so on the default list it is most of the query's time;
* **plan**: how the database reads the page's rows (``EXPLAIN``): the index it uses, or a scan
  and a sort of the whole table.

Nothing here is a test: it prints a table and exits 0. It takes under a minute per database.
"""

import argparse
import gc
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("CLINIC_ENV", "testing")

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from benchmarks.databases import drop_postgres, throwaway_postgres  # noqa: E402
from clinic import create_app  # noqa: E402
from clinic.extensions import db  # noqa: E402
from clinic.models import CONDITIONS, SEXES, Patient  # noqa: E402
from clinic.models.patients import search_key  # noqa: E402
from clinic.services.identity import accounts
from clinic.services.patients import patient_search  # noqa: E402

PASSWORD = "benchmark harbour lantern 5521"  # noqa: S105 (a throwaway database's account)
BATCH = 5000


def words(text: str) -> list[str]:
    return text.split()


FIRST_NAMES = words(
    "Ana Ben Chloé Dev Elena Farid Grace Hugo Ines Jonas Kofi Lena Mateo Nadia Oskar Priya "
    "Quentin Rosa Samir Tomasz Ursula Viktor Wen Xavier Yara Zoë Amir Beatriz Carlos Dana "
    "Emeka Fatima Goran Hana Ivan Julia Kenji Leila Marek Noor Olga Pedro Rania Stefan Tara "
    "Umar Vera William Ximena Yusuf Zofia"
)
LAST_NAMES = words(
    "Müller García Nowak Okafor Lindgren Rossi Dubois Kovacs Delgado Raman Brooks Osei "
    "Schmidt Fernández Novák Jensen Papadopoulos Yilmaz Kowalski Smith Johnson Williams Brown "
    "Jones Miller Davis Rodríguez Martínez Hernández López González Wilson Anderson Thomas "
    "Taylor Moore Jackson Martin Lee Pérez Thompson White Harris Sánchez Clark Ramírez Lewis "
    "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson "
    "Baker Hall Rivera Campbell Mitchell Carter Roberts Gómez Phillips Evans Turner Díaz Parker "
    "Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutiérrez Ortiz "
    "Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson "
    "Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders "
    "Patel Myers Long Ross Foster Jiménez Åström Ødegaard Çelik Łukasiewicz"
)

# What the desk types: a word of a common surname, a stem of an MRN (about a dozen match),
# and a date of birth.
CASES = {
    "default list": "",
    "name search": "garc",
    "two-word name": "muller zo",
    "MRN search": "C001234",
    "DOB search": "1961-04-02",
}


@dataclass
class Measure:
    total: int = 0
    rows: int = 0
    page_seconds: float = 0.0
    query_seconds: float = 0.0
    bare_seconds: float = 0.0
    count_seconds: float = 0.0
    plan: str = ""


# --- databases ----------------------------------------------------------------------------------


def patient_rows(count: int, seed: int):
    """``count`` patient rows as dicts, in batches; MRNs C0000001… as the clinic makes them."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    batch = []
    for number in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created = now - timedelta(days=rng.uniform(30, 2500))
        seen = None if rng.random() < 0.15 else now - timedelta(days=rng.uniform(0, 1000))
        batch.append(
            {
                "mrn": f"C{number:07d}",
                "first_name": first,
                "last_name": last,
                "name_key": search_key(f"{last} {first}"),
                "date_of_birth": date(1930, 1, 1) + timedelta(days=rng.randrange(27000)),
                "sex": rng.choice(SEXES),
                "phone": f"555-{rng.randrange(1000):03d}-{rng.randrange(10000):04d}",
                "email": None,
                "condition": rng.choice(CONDITIONS),
                "archived": rng.random() < 0.01,
                "last_seen_at": seen,
                "created_at": created,
                "updated_at": created + timedelta(days=rng.uniform(0, 25)),
                "version": 1,
            }
        )
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def built_app(url: str, patients: int, seed: int):
    """A migrated database holding ``patients`` patients and a front-desk account."""
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "b" * 40, "WTF_CSRF_ENABLED": False}
    )
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        for batch in patient_rows(patients, seed):
            db.session.execute(insert(Patient), batch)
        db.session.commit()
        seconds = time.perf_counter() - started
        accounts.create_user(db.session, "desk.bench", "Bench Desk", "front_desk", PASSWORD)
        db.session.commit()
        analyse()
        total = db.session.execute(select(func.count()).select_from(Patient)).scalar_one()
    return app, seconds, total


def analyse() -> None:
    """Fresh planner statistics, as autovacuum (PostgreSQL) or ``ANALYZE`` (SQLite) leave them."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE patient"))
    else:
        with db.engine.begin() as connection:
            connection.execute(text("ANALYZE"))


# --- what is measured ---------------------------------------------------------------------------


def page_statement(query: str, per_page: int):
    return patient_search(query).limit(per_page).offset(0)


def count_statement(query: str):
    """The page's count, as ``db.paginate`` writes it."""
    return select(func.count()).select_from(patient_search(query).order_by(None).subquery())


def compiled(statement) -> str:
    return str(statement.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))


def bare_read(sql: str) -> int:
    """The page's SELECT on a raw DB-API cursor, its rows fetched and dropped; returns rows."""
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        rows = len(cursor.fetchall())
        cursor.close()
        connection.rollback()
    finally:
        connection.close()
    return rows


def orm_query(query: str, per_page: int) -> int:
    """What the view asks of the database: ``db.paginate`` of ``patient_search``, count included."""
    page = db.paginate(patient_search(query), page=1, per_page=per_page, error_out=False)
    total = page.total
    db.session.rollback()
    return total


def plan(sql: str) -> str:
    """The access path in a few words: the indexes read, or a scan and a sort."""
    with db.engine.connect() as connection:
        if db.engine.dialect.name == "postgresql":
            lines = [row[0] for row in connection.execute(text(f"EXPLAIN {sql}"))]
            steps = []
            for line in lines:
                node = line.strip().removeprefix("->").strip().split("  (")[0]
                if node.startswith(("Sort Key", "Limit")) or ":" in node:
                    continue  # the plan's details, not a step
                if "Scan" in node or "Sort" in node:
                    steps.append(node.replace(" on patient", ""))
            return "; ".join(steps)
        rows = connection.execute(text(f"EXPLAIN QUERY PLAN {sql}")).all()
        return "; ".join(row[-1] for row in rows)


def best_time(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(app, repeat: int) -> dict[str, Measure]:
    results: dict[str, Measure] = {}
    per_page = app.config["PATIENTS_PER_PAGE"]
    client = app.test_client()
    signed_in = client.post("/login", data={"username": "desk.bench", "password": PASSWORD})
    assert signed_in.status_code == 302, "could not sign in"
    with app.app_context():
        for name, query in CASES.items():
            result = results[name] = Measure()
            url = f"/patients?q={query}" if query else "/patients"

            def get_page(url=url) -> None:
                response = client.get(url)
                assert response.status_code == 200, response.status_code

            sql = compiled(page_statement(query, per_page))
            get_page()  # warm up the caches, as a clinic's day does
            result.rows = bare_read(sql)
            result.total = orm_query(query, per_page)
            result.page_seconds = best_time(get_page, repeat)
            result.query_seconds = best_time(lambda q=query: orm_query(q, per_page), repeat)
            result.bare_seconds = best_time(lambda s=sql: bare_read(s), repeat)
            count_sql = compiled(count_statement(query))
            result.count_seconds = best_time(lambda s=count_sql: bare_read(s), repeat)
            result.plan = plan(sql)
    return results


# --- report -------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def report(backend: str, total: int, seconds: float, results: dict[str, Measure]) -> None:
    print(f"\n{backend}, {total:,} patients (bulk-inserted in {seconds:.1f} s)")
    print(
        f"  {'case':<15}{'q':<12}{'found':>7}{'rows':>5}{'page ms':>9}{'query ms':>10}"
        f"{'bare ms':>9}{'×bare':>7}{'q×bare':>7}{'count ms':>10}  plan"
    )
    for name, m in results.items():
        print(
            f"  {name:<15}{CASES[name] or '—':<12}{m.total:>7,}{m.rows:>5}"
            f"{ms(m.page_seconds):>9}{ms(m.query_seconds):>10}{ms(m.bare_seconds):>9}"
            f"{m.page_seconds / m.bare_seconds:>7.1f}{m.query_seconds / m.bare_seconds:>7.1f}"
            f"{ms(m.count_seconds):>10}  {m.plan}"
        )


def bench_backend(backend: str, base_url: str | None, args) -> None:
    if backend == "sqlite":
        folder = tempfile.mkdtemp(prefix="clinic-bench-")
        url = f"sqlite:///{folder}/clinic.db"
    else:
        url = throwaway_postgres(base_url)
    try:
        print(f"{backend}: inserting {args.patients:,} patients …", file=sys.stderr, flush=True)
        app, seconds, total = built_app(url, args.patients, args.seed)
        results = measure(app, args.repeat)
        with app.app_context():
            db.engine.dispose()
    finally:
        if backend == "postgresql":
            drop_postgres(url)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    report(backend, total, seconds, results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=50_000, help="N (default 50,000)")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs; the best counts")
    parser.add_argument("--seed", type=int, default=2026, help="the random seed of the names")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL"),
        help="a PostgreSQL server to benchmark too (default: TEST_DATABASE_URL)",
    )
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one backend only")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # Alembic's INFO lines on every migration
    print(
        f"Clinic patient list and search benchmark: {args.patients:,} patients, "
        f"best of {args.repeat}, Python {sys.version.split()[0]}"
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
