"""Clinic's commands as a user meets them: whole processes, process start included.

Usage::

    .venv/bin/python benchmarks/commands.py                           # 20,000 patients, SQLite
    .venv/bin/python benchmarks/commands.py --patients 2000 \\
        --database-url postgresql://postgres@127.0.0.1/postgres       # SQLite and PostgreSQL

It writes the CSV files of N patients (``--patients``, default 20,000; four interventions each,
about six follow-up scores per intervention, relief that starts and ends as a clinic sees it),
then for each database (a temporary SQLite file, and PostgreSQL when ``--database-url`` or
``TEST_DATABASE_URL`` names a server, in a throwaway database dropped afterwards) migrates it
with ``flask db upgrade``, adds the files' physicians and rooms, imports the files with
``flask --app clinic import`` (timed once), exports ``interventions`` and ``pain-scores``
for the analyst's script, and times, each as a whole process (the minimum of ``--repeat``
runs, default 2):

* ``flask --app clinic --help`` beside a bare Flask + Flask-SQLAlchemy + Flask-WTF app's
  ``--help``;
* ``export relief-summary`` and ``export relief-curve``: the first run after the data changed
  (it computes the figures and keeps them) and the runs after it (they read the kept figures),
  beside the bare read of the rows they need (PostgreSQL: ``psql \\copy`` of completed
  interventions joined to their scores; SQLite: the ``sqlite3`` shell, the same query) and
  beside a pandas + lifelines script over the exported CSV files doing the same work
  (per-intervention relief, Kaplan–Meier per procedure);
* every plain export beside ``COPY … TO`` of its table (PostgreSQL).

Ratios are Clinic ÷ yardstick. pandas and lifelines come from the test extras (``pip install
-e '.[test]'``); the app does not depend on them. At the default size the import and the first
relief export take minutes on a small machine; ``--patients 2000`` runs in about two.
Nothing here is a test: it prints tables and exits 0.
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PYTHON = sys.executable
CODES = ["ESI-TF", "ESI-IL", "MBB", "RFA", "FJI"]
PHYSICIANS = [f"dr.bench{n:02d}" for n in range(12)]
ROOMS = [f"Bench room {n}" for n in range(12)]
CONDITIONS = ["herniated_disc", "spinal_stenosis", "facet_joint_arthritis", "other"]
INTERVENTIONS_PER_PATIENT = 4
FOLLOW_UP_DAYS = (14, 42, 90, 150, 240, 365)
# Plain exports and the table each one writes a row of.
PLAIN_EXPORTS = {
    "patients": "patient",
    "interventions": "intervention",
    "pain-scores": "pain_score",
    "schedule": "booking",
    "referrals": "referral",
}
BARE_APP = """
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

db = SQLAlchemy()
csrf = CSRFProtect()


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
    app.config["SECRET_KEY"] = "bench"
    db.init_app(app)
    csrf.init_app(app)
    return app
"""
RELIEF_ROWS = (
    "SELECT i.id, i.procedure_type_id, i.performed_on, i.baseline_nrs, s.recorded_on, s.nrs,"
    " s.percent_relief FROM intervention i JOIN booking b ON b.id = i.id"
    " JOIN pain_score s ON s.intervention_id = i.id WHERE b.status = 'completed'"
)
ANALYST_SCRIPT = """
import sys
import pandas as pd
from lifelines import KaplanMeierFitter

interventions, scores, threshold = sys.argv[1], sys.argv[2], 50
iv = pd.read_csv(interventions, usecols=["ref", "procedure_code", "status", "performed_on",
                 "baseline_nrs"], parse_dates=["performed_on"], encoding="utf-8-sig")
iv = iv[iv.status == "completed"]
ps = pd.read_csv(scores, usecols=["intervention_ref", "recorded_on", "nrs", "percent_relief"],
                 parse_dates=["recorded_on"], encoding="utf-8-sig")
m = ps.merge(iv, left_on="intervention_ref", right_on="ref")
m = m[m.recorded_on > m.performed_on]
computed = 100 * (m.baseline_nrs - m.nrs) / m.baseline_nrs.where(m.baseline_nrs >= 1)
m["relieved"] = m.percent_relief.fillna(computed) >= threshold
onset = m[m.relieved].groupby("ref").recorded_on.min().rename("onset")
m = m.join(onset, on="ref")
lost = m[(m.recorded_on > m.onset) & ~m.relieved].groupby("ref").recorded_on.min()
last = m.groupby("ref").recorded_on.max()
r = pd.DataFrame({"onset": onset}).join(lost.rename("lost")).join(last.rename("last"))
r["days"] = (r.lost.fillna(r["last"]) - r.onset).dt.days
r["ended"] = r.lost.notna()
r = r.join(iv.set_index("ref").procedure_code)
for code, group in r.groupby("procedure_code"):
    km = KaplanMeierFitter().fit(group.days, group.ended)
    print(code, len(group), km.median_survival_time_, km.predict([90, 180, 365]).tolist(),
          len(km.confidence_interval_))
"""


def write_files(folder: Path, patients: int, seed: int) -> dict[str, Path]:
    """The patients, interventions and pain scores of ``patients`` patients, as import files."""
    from clinic.services.interchange.csvio import csv_lines
    from clinic.services.interchange.imports import COLUMNS, OPTIONAL_COLUMNS

    rng = random.Random(seed)
    start = datetime(2021, 1, 4, 8, 0)
    interventions = patients * INTERVENTIONS_PER_PATIENT

    def header(kind):
        return [c for c in COLUMNS[kind] if c not in OPTIONAL_COLUMNS.get(kind, ())]

    def rows(kind, make):
        names = header(kind)
        return ([row.get(name, "") for name in names] for row in make())

    def patient_rows():
        for n in range(patients):
            yield {
                "mrn": f"B{n:08d}",
                "first_name": "Bench",
                "last_name": f"Patient {n}",
                "date_of_birth": (date(1940, 1, 1) + timedelta(days=n % 20000)).isoformat(),
                "sex": ("female", "male")[n % 2],
                "condition": CONDITIONS[n % len(CONDITIONS)],
            }

    scores: list[dict] = []

    def intervention_rows():
        for n in range(interventions):
            lane, slot = n % len(PHYSICIANS), n // len(PHYSICIANS)
            day, index = divmod(slot, 16)
            begins = start + timedelta(days=day, minutes=30 * index)
            baseline = rng.randint(5, 9)
            yield {
                "ref": f"BENCH-{n:08d}",
                "mrn": f"B{n % patients:08d}",
                "procedure_code": CODES[n % len(CODES)],
                "physician": PHYSICIANS[lane],
                "scheduled_start": begins.strftime("%Y-%m-%dT%H:%M"),
                "scheduled_end": (begins + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
                "room": ROOMS[lane],
                "status": "completed",
                "performed_on": begins.date().isoformat(),
                "baseline_nrs": str(baseline),
                "spinal_level": "L4-L5",
                "laterality": "left",
            }
            # Relief for a while in most, then pain back; some never relieved.
            relieved_until = rng.choice([0, 30, 60, 120, 200, 400, 400])
            for k, days in enumerate(FOLLOW_UP_DAYS[: rng.randint(3, 6)]):
                nrs = rng.randint(0, 3) if days < relieved_until else rng.randint(baseline - 2, 10)
                scores.append(
                    {
                        "intervention_ref": f"BENCH-{n:08d}",
                        "recorded_on": (begins.date() + timedelta(days=days)).isoformat(),
                        "nrs": str(max(0, min(10, nrs))),
                        "percent_relief": str(rng.randint(0, 100)) if k == 1 else "",
                        "source": "phone",
                    }
                )

    paths = {kind: folder / f"{kind}.csv" for kind in ("patients", "interventions", "pain_scores")}
    for kind, make in (
        ("patients", patient_rows),
        ("interventions", intervention_rows),
        ("pain_scores", lambda: iter(scores)),
    ):
        with paths[kind].open("w", encoding="utf-8", newline="") as out:
            for chunk in csv_lines(header(kind), rows(kind, make)):
                out.write(chunk)
    return paths


def run(command: list[str], env: dict[str, str]) -> float:
    """Seconds for one whole process; its output thrown away, a failure stops the benchmark."""
    began = time.perf_counter()
    done = subprocess.run(  # noqa: S603 (the benchmark's own commands)
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    seconds = time.perf_counter() - began
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return seconds


def best(command: list[str], env: dict[str, str], repeat: int) -> float:
    return min(run(command, env) for _ in range(repeat))


# The ``flask`` command a user types (DESIGN: ``flask --app clinic COMMAND``), from this Python's
# environment; ``python -m flask`` would start the same way but for the pages (``commands_only``).
FLASK = str(Path(PYTHON).parent / "flask")


def flask(*args: str) -> list[str]:
    return [FLASK, "--app", "clinic", *args]


def prepare(url: str, env: dict[str, str], folder: Path) -> None:
    """Migrated by ``flask db upgrade``, with the files' physicians and rooms."""
    run(flask("db", "upgrade"), env)
    from clinic import create_app
    from clinic.extensions import db
    from clinic.models import Room, StaffUser

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "b" * 40})
    app.instance_path = str(folder)
    with app.app_context():
        for username in PHYSICIANS:
            db.session.add(StaffUser(username=username, full_name=username, role="physician"))
        db.session.add_all(Room(name=name) for name in ROOMS)
        db.session.commit()
        db.engine.dispose()


def bare_read(kind: str, url: str, sql: str) -> list[str]:
    """The command that reads ``sql``'s rows the bare way, as a user would at a shell."""
    if kind == "postgresql":
        from sqlalchemy.engine import make_url

        libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        return ["psql", "-q", "-X", libpq, "-c", f"\\copy ({sql}) TO '/dev/null' (FORMAT csv)"]
    from sqlalchemy.engine import make_url

    return ["sqlite3", "-csv", make_url(url).database, sql]


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×"


def bench(kind: str, url: str, files: dict[str, Path], folder: Path, args) -> list[tuple]:
    env = {
        **os.environ,
        "CLINIC_ENV": "testing",
        "DATABASE_URL": url,
        "SECRET_KEY": "b" * 40,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    prepare(url, env, folder)
    imported = run(
        flask(
            "import",
            "--patients",
            str(files["patients"]),
            "--interventions",
            str(files["interventions"]),
            "--pain-scores",
            str(files["pain_scores"]),
        ),
        env,
    )
    exported = {}
    for name in ("interventions", "pain-scores"):
        exported[name] = folder / f"{kind}-{name}.csv"
        run(flask("export", name, "--output", str(exported[name])), env)
    results = [(kind, f"import ({args.patients:,} patients, through the CLI)", imported, None, "")]
    analyst = folder / "analyst.py"
    analyst.write_text(ANALYST_SCRIPT)
    pandas = best(
        [PYTHON, str(analyst), str(exported["interventions"]), str(exported["pain-scores"])],
        env,
        args.repeat,
    )
    read = best(bare_read(kind, url, RELIEF_ROWS), env, args.repeat)
    for name in ("relief-summary", "relief-curve"):
        out = str(folder / f"{kind}-{name}.csv")
        if name == "relief-summary":
            # The first run after the import computes the figures and keeps them.
            first = run(flask("export", name, "--output", out), env)
            results.append((kind, f"export {name}, first after a change", first, read, "bare read"))
            results.append(
                (kind, f"export {name}, first after a change", first, pandas, "pandas + lifelines")
            )
        kept = best(flask("export", name, "--output", out), env, args.repeat)
        results.append((kind, f"export {name}", kept, read, "bare read"))
        results.append((kind, f"export {name}", kept, pandas, "pandas + lifelines"))
    if kind == "postgresql":
        for name, table in PLAIN_EXPORTS.items():
            out = str(folder / f"{kind}-{name}.csv")
            clinic = best(flask("export", name, "--output", out), env, args.repeat)
            copy = best(bare_read(kind, url, f"SELECT * FROM {table}"), env, args.repeat)
            results.append((kind, f"export {name}", clinic, copy, f"COPY {table} TO"))
    return results


def show(results: list[tuple]) -> None:
    """Rows of the Markdown table, printed as soon as they are measured."""
    for kind, what, seconds, yard, name in results:
        print(
            f"| {kind} | `{what}` | {seconds:.2f} s | {name or '—'} | "
            f"{'—' if yard is None else f'{yard:.2f} s'} | "
            f"{'—' if yard is None else ratio(seconds, yard)} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=20_000, help="N (default 20,000)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the fastest counts")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL"),
        help="a PostgreSQL server to bench beside SQLite",
    )
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one backend only")
    args = parser.parse_args()
    from benchmarks.databases import drop_postgres, throwaway_postgres

    folder = Path(tempfile.mkdtemp(prefix="clinic-commands-"))
    try:
        files = write_files(folder, args.patients, args.seed)
        scores = sum(1 for _ in files["pain_scores"].open()) - 1
        print(
            f"{args.patients:,} patients, {args.patients * INTERVENTIONS_PER_PATIENT:,} "
            f"interventions, {scores:,} pain scores; min of {args.repeat} runs\n"
        )
        bare_app = folder / "bare_app.py"
        bare_app.write_text(BARE_APP)
        env = {
            **os.environ,
            "CLINIC_ENV": "testing",
            "DATABASE_URL": "sqlite://",
            "SECRET_KEY": "b" * 40,
        }
        clinic_help = best(flask("--help"), env, max(args.repeat, 3))
        bare_help = best(
            [FLASK, "--app", str(bare_app), "--help"],
            {**env, "PYTHONPATH": str(folder)},
            max(args.repeat, 3),
        )
        print("| database | what | time | yardstick | yardstick time | ratio |")
        print("| --- | --- | --- | --- | --- | --- |")
        show([("—", "flask --app clinic --help", clinic_help, bare_help, "bare Flask --help")])
        backends = [b for b in ("sqlite", "postgresql") if args.only in (None, b)]
        for kind in backends:
            if kind == "postgresql" and not args.database_url:
                continue
            url = (
                f"sqlite:///{folder / 'bench.db'}"
                if kind == "sqlite"
                else throwaway_postgres(args.database_url)
            )
            try:
                show(bench(kind, url, files, folder, args))
            except SystemExit as stopped:
                print(f"| {kind} | stopped: {str(stopped)[-300:]!r} | | | | |", flush=True)
            finally:
                if kind == "postgresql":
                    drop_postgres(url)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
