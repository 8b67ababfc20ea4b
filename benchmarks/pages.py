"""Every page at a young clinic and at one with years of history: time, size and SQL statements.

Usage::

    .venv/bin/python benchmarks/pages.py                        # 500 and 50,000 patients, SQLite
    .venv/bin/python benchmarks/pages.py --patients 200 --factor 10
    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1/postgres .venv/bin/python benchmarks/pages.py

For each database (a temporary SQLite file, and PostgreSQL in a throwaway database when
``TEST_DATABASE_URL`` names a server) it builds two clinics with the demo generator — N patients
(``--patients``, default 500) and ``--factor`` × N (default 100, so 50,000) — signs one account
per role in, and serves each clinic with gunicorn on the loopback address, as a user meets it.
Then for every page of the one list of pages (``tests/pages.py``, the list the role, fuzz and
accessibility tests read) it asks for the page ``--repeat`` times at each size, the two sizes
interleaved so that noise hits both alike, as the first role (front desk, physician, manager,
admin) that may open it — the home page as every role, each of which has its own — and prints:

* the median latency at both sizes and their ratio;
* the bytes of the page at both sizes and their ratio;
* the number of SQL statements the page sends at both sizes (counted in this process through
  the test client, so a page whose count grows with the data shows it).

``--keep`` keeps the two clinics (a SQLite file in the temporary directory, a PostgreSQL
database ``clinic_pages_…``) and uses them again in later runs the same day with the same size,
seed and migrations, so that a second run takes minutes rather than a quarter of an hour;
``--pages REGEX`` measures only the pages whose URL pattern the regular expression finds
(``'^/$'`` the home page, ``find`` the slot finder). Drop kept PostgreSQL
databases by hand when done.

Target (issue 13): every page within 1.5× in latency and bytes from N to 100 × N. CSV downloads
grow with the rows asked for, by design, and are left out. Nothing here is a test: it prints a
table and exits 0. The large clinic takes minutes to seed (about 3 on SQLite, 5 on PostgreSQL at
50,000 patients).
"""

import argparse
import hashlib
import http.cookiejar
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CLINIC_ENV", "testing")

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import create_engine, event, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks.databases import drop_postgres, throwaway_postgres  # noqa: E402
from clinic import create_app, demo  # noqa: E402
from clinic.extensions import db  # noqa: E402
from clinic.services.identity import accounts  # noqa: E402
from clinic.services.identity.audit import COMMAND_LINE, act_as  # noqa: E402
from tests.pages import FILE, PAGES, example_records  # noqa: E402

PASSWORD = "benchmark harbour lantern 5521"  # noqa: S105 (a throwaway database's account)
ROLE_ORDER = ("front_desk", "physician", "manager", "admin")
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SECRET = "benchmark-only-secret-key-0123456789abcdef"  # noqa: S105


@dataclass
class Clinic:
    """One seeded clinic: its database URL, the ids its page URLs use, its server."""

    patients: int
    url: str
    records: dict[str, int] = field(default_factory=dict)
    base: str = ""
    openers: dict[str, urllib.request.OpenerDirector] = field(default_factory=dict)


def build(url: str, patients: int, seed: int) -> Clinic:
    """Migrate, seed the demo at ``patients``, add one account per role; note the page ids."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    started = time.perf_counter()
    with app.app_context():
        upgrade()
        act_as(db.session, COMMAND_LINE)
        demo.seed_demo(db.session, patients=patients, seed=seed)
        for role in ROLE_ORDER:
            accounts.create_user(db.session, f"bench_{role}", f"Bench {role}", role, PASSWORD)
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # As a clinic's database is once autovacuum has been by: statistics, and the
            # visibility map that lets an index alone answer a count (VACUUM runs outside a
            # transaction).
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE")
        records = example_records(db.session)
    print(f"  seeded {patients:,} patients in {time.perf_counter() - started:.0f} s", flush=True)
    return Clinic(patients, url, records)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served(clinic: Clinic):
    """gunicorn serving the clinic on the loopback address, two workers, as in production."""
    port = free_port()
    env = {
        **os.environ,
        "CLINIC_ENV": "development",
        "DATABASE_URL": clinic.url,
        "SECRET_KEY": SECRET,
    }
    server = subprocess.Popen(  # noqa: S603
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "clinic:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    clinic.base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(clinic.base + "/login", timeout=10)  # noqa: S310
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        for role in ROLE_ORDER:
            clinic.openers[role] = signed_in(clinic.base, f"bench_{role}")
        yield clinic
    finally:
        server.terminate()
        server.wait(timeout=10)


def signed_in(base: str, username: str) -> urllib.request.OpenerDirector:
    """A cookie-keeping client signed in as ``username``."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    form = opener.open(base + "/login").read().decode()
    token = CSRF.search(form).group(1)
    data = urllib.parse.urlencode(
        {"csrf_token": token, "username": username, "password": PASSWORD}
    ).encode()
    opener.open(base + "/login", data=data).read()
    return opener


def fetch(clinic: Clinic, role: str, path: str) -> tuple[float, int, int]:
    """Seconds, bytes and status of one GET, as a browser would make it."""
    started = time.perf_counter()
    try:
        with clinic.openers[role].open(clinic.base + path) as response:
            body, status = response.read(), response.status
    except urllib.error.HTTPError as error:
        body, status = error.read(), error.code
    return time.perf_counter() - started, len(body), status


def statements(clinic: Clinic, role: str, path: str) -> int:
    """How many SQL statements the page sends (through the test client, in this process)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": clinic.url, "WTF_CSRF_ENABLED": False})
    with app.app_context():
        engine = db.engine
    client = app.test_client()
    client.post("/login", data={"username": f"bench_{role}", "password": PASSWORD})
    counted: list[str] = []

    def count(*args) -> None:
        counted.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        client.get(path)
    except Exception as error:  # noqa: BLE001 (a broken page is reported, not fatal)
        print(f"  {path}: {type(error).__name__}: {error}", file=sys.stderr)
        return -1
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(counted)


def pages_to_measure(small: Clinic, large: Clinic):
    """(label, role, small path, large path) for every page a person reads."""
    for page in PAGES:
        if page.kind == FILE and page.url.startswith("/exports/"):
            continue  # a CSV grows with the rows asked for, by design
        if page.kind not in ("page", "form", "file"):
            continue
        roles = [role for role in ROLE_ORDER if role in page.roles]
        # The home page is another page for each role (the desk's day, the manager's month).
        for role in roles if page.endpoint == "dashboard.home" else roles[:1]:
            for pattern in (page.url, *page.variants):
                yield (
                    pattern,
                    role,
                    pattern.format(**small.records),
                    pattern.format(**large.records),
                )


def ratio(large: float, small: float) -> str:
    return f"{large / small:5.2f}" if small else "    -"


def measure(small: Clinic, large: Clinic, repeat: int, backend: str, only: str | None) -> None:
    print(
        f"\n{backend}: {small.patients:,} vs {large.patients:,} patients, median of {repeat}"
        " (ms), bytes, SQL statements"
    )
    print(
        f"  {'page':<48} {'role':<10} {'ms N':>7} {'ms 100N':>8} {'×':>5}"
        f" {'kB N':>7} {'kB 100N':>8} {'×':>5} {'SQL N':>5} {'SQL 100N':>8}"
    )
    for label, role, small_path, large_path in pages_to_measure(small, large):
        if only and not re.search(only, label):
            continue
        times: dict[str, list[float]] = {"small": [], "large": []}
        sizes: dict[str, int] = {}
        for _ in range(repeat):  # interleaved: noise hits both sizes alike
            for name, clinic, path in (("small", small, small_path), ("large", large, large_path)):
                seconds, size, status = fetch(clinic, role, path)
                times[name].append(seconds)
                sizes[name] = size
        small_ms = statistics.median(times["small"]) * 1000
        large_ms = statistics.median(times["large"]) * 1000
        count_small = statements(small, role, small_path)
        count_large = statements(large, role, large_path)
        print(
            f"  {label[:48]:<48} {role:<10} {small_ms:7.1f} {large_ms:8.1f}"
            f" {ratio(large_ms, small_ms)} {sizes['small'] / 1000:7.1f}"
            f" {sizes['large'] / 1000:8.1f} {ratio(sizes['large'], sizes['small'])}"
            f" {count_small:5d} {count_large:8d}",
            flush=True,
        )


def bench_backend(backend: str, args) -> None:
    print(f"\n{backend}: building the clinics", flush=True)
    urls, workdir = [], tempfile.mkdtemp(prefix="clinic-pages-")
    try:
        clinics = []
        for size in (args.patients, args.patients * args.factor):
            if args.keep:
                clinics.append(kept_clinic(backend, size, args))
                continue
            if backend == "sqlite":
                urls.append(f"sqlite:///{workdir}/clinic-{size}.db")
            else:
                urls.append(throwaway_postgres(args.postgres))
            clinics.append(build(urls[-1], size, args.seed))
        small, large = clinics
        with served(small), served(large):
            measure(small, large, args.repeat, backend, args.pages)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        for url in urls:
            if url.startswith("postgresql"):
                drop_postgres(url)


def kept_clinic(backend: str, patients: int, args) -> Clinic:
    """``--keep``: the clinic a run earlier today built with the same size, seed and migrations,
    or a new one built and kept (named by all four, so that a changed schema or another day's
    demo is never measured by mistake). Only a clinic built whole is used again."""
    migrations = sorted(path.name for path in (ROOT / "migrations" / "versions").glob("*.py"))
    head = hashlib.sha1("\n".join(migrations).encode()).hexdigest()[:8]  # noqa: S324 (a name)
    key = f"{patients}_{args.seed}_{date.today():%Y%m%d}_{head}"
    if backend == "sqlite":
        path = Path(tempfile.gettempdir()) / f"clinic-pages-{key}.db"
        whole = path.with_suffix(".whole")  # written once the clinic is built
        if not whole.exists():
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)
            build(f"sqlite:///{path}", patients, args.seed)
            whole.touch()
        return reopened(f"sqlite:///{path}", patients)
    url = make_url(args.postgres).set(drivername="postgresql+psycopg")
    name = f"clinic_pages_{key}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            found = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if found is None:
                provisional = make_url(throwaway_postgres(args.postgres)).database
                build(url.set(database=provisional).render_as_string(False), patients, args.seed)
                # The seeding app's pooled connections would stop the rename.
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": provisional},
                )
                connection.execute(text(f'ALTER DATABASE "{provisional}" RENAME TO "{name}"'))
    finally:
        admin.dispose()
    return reopened(url.set(database=name).render_as_string(hide_password=False), patients)


def reopened(url: str, patients: int) -> Clinic:
    """A clinic built earlier: its page ids read again."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        records = example_records(db.session)
        db.engine.dispose()
    print(f"  kept clinic of {patients:,} patients: {url}", flush=True)
    return Clinic(patients, url, records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--factor", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the seeded clinics and use them again in later runs the same day",
    )
    parser.add_argument(
        "--pages", help="only the pages whose URL pattern this regular expression finds"
    )
    args = parser.parse_args()
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    for backend in backends:
        if args.only in (None, backend):
            bench_backend(backend, args)


if __name__ == "__main__":
    main()
