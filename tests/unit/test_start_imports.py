"""Creating the app, and serving the sign-in page, import only what every request needs.

scipy, matplotlib, fhir.resources, zxcvbn, argon2 and alembic (with Flask-Migrate) are imported
where they are used: a chart, a relief computation, a FHIR export, a password change, a sign-in,
``flask db``. Each check runs in a fresh interpreter, so other tests' imports do not count.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEFERRED = ("scipy", "matplotlib", "fhir.resources", "zxcvbn", "argon2", "alembic", "flask_migrate")

PROBE = """
import json, sys
from clinic import create_app
app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": %(url)r, "SECRET_KEY": "t" * 40})
after_create = sorted(m for m in %(deferred)r if m in sys.modules)
app.instance_path = %(instance)r
response = app.test_client().get("/login")
after_login = sorted(m for m in %(deferred)r if m in sys.modules)
after_use = None
if %(use)r:
    from clinic.services.identity.accounts import passwords, password_problem
    passwords.hash("quiet harbour lantern 2917")
    password_problem("quiet harbour lantern 2917")
    with app.app_context():
        app.extensions["migrate"].migrate.get_config()
    after_use = sorted(m for m in %(deferred)r if m in sys.modules)
print(json.dumps([response.status_code, after_create, after_login, after_use]))
"""


def probe(tmp_path, use: bool = False) -> list:
    script = PROBE % {
        "url": f"sqlite:///{tmp_path / 'clinic.db'}",
        "deferred": DEFERRED,
        "instance": str(tmp_path / "instance"),
        "use": use,
    }
    return run_fresh(script)


def run_fresh(script: str) -> list:
    """What a script prints last, as JSON, run in a fresh interpreter (nothing imported yet)."""
    done = fresh_process(["-c", script])
    return json.loads(done.stdout.strip().splitlines()[-1])


def fresh_process(arguments: list[str], database: Path | None = None):
    """A fresh interpreter run with ``arguments`` (on ``database`` when given); it must succeed."""
    env = {"CLINIC_ENV": "testing", "PATH": "/usr/bin:/bin"}
    if database is not None:
        env["DATABASE_URL"] = f"sqlite:///{database}"
    done = subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_creating_the_app_and_the_sign_in_page_import_no_heavy_package(tmp_path):
    status, after_create, after_login, _ = probe(tmp_path)
    assert status == 200
    assert after_create == []
    assert after_login == []


def test_the_deferred_packages_load_when_used(tmp_path):
    """The probe can see an import: hashing, the password check and Flask-Migrate load theirs."""
    *_, after_use = probe(tmp_path, use=True)
    assert {"argon2", "zxcvbn", "alembic", "flask_migrate"} <= set(after_use)


@pytest.mark.parametrize("command", [["--help"], ["db", "--help"]])
def test_the_command_line_lists_the_db_group(tmp_path, command):
    """``flask --help`` lists ``db`` without importing it; ``flask db --help`` imports it."""
    done = fresh_process(["-m", "flask", "--app", "clinic", *command], tmp_path / "c.db")
    if command == ["--help"]:
        assert "Perform database migrations." in done.stdout
    else:
        assert "upgrade" in done.stdout and "downgrade" in done.stdout


COMMAND_PROBE = """
import json, os, sys
os.environ["FLASK_RUN_FROM_CLI"] = "true"  # as the flask command line sets it
sys.argv = ["/venv/bin/flask", %(command)r]
from clinic import create_app
app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": %(url)r, "SECRET_KEY": "t" * 40})
views = sorted(m for m in sys.modules if m.startswith("clinic.views.") and m != "clinic.views.errors")
rules = len(list(app.url_map.iter_rules()))
app.instance_path = %(instance)r
status = app.test_client().get("/login").status_code
print(json.dumps([views, rules, status, len(list(app.url_map.iter_rules()))]))
"""


@pytest.mark.parametrize("command", ["export", "run"])
def test_a_command_that_serves_no_page_starts_without_the_pages(tmp_path, command):
    # `flask export …` imports no view (a sixth of its start); `flask run` registers them as it
    # starts; and a command's app that serves a request after all registers them first.
    script = COMMAND_PROBE % {
        "command": command,
        "url": f"sqlite:///{tmp_path / 'clinic.db'}",
        "instance": str(tmp_path / "instance"),
    }
    views, rules_at_start, status, rules_after = run_fresh(script)
    assert status == 200 and rules_after > 50
    if command == "export":
        assert views == [] and rules_at_start < 5
    else:
        assert "clinic.views.patients" in views and rules_at_start == rules_after


LOADED_PROBE = """
import json, sys
from flask.cli import main
sys.argv = ["flask", "--app", "clinic", *%(command)r]
try:
    main()
except SystemExit:
    pass
print()
print(json.dumps(sorted(m for m in %(modules)r if m in sys.modules)))
"""
COMMAND_MODULES = (
    "clinic.cli.demo",
    "clinic.cli.exports",
    "clinic.cli.imports",
    "clinic.cli.reminders",
    "clinic.cli.users",
    "clinic.demo",
    "clinic.services.interchange.imports",
)


@pytest.mark.parametrize(
    "command, loaded",
    [
        (["export", "--help"], ["clinic.cli.exports"]),
        (["import", "--help"], ["clinic.cli.imports", "clinic.services.interchange.imports"]),
        (["users", "--help"], ["clinic.cli.users"]),
        (["--help"], list(COMMAND_MODULES)),
    ],
)
def test_a_command_imports_its_own_module_and_no_other_command(tmp_path, command, loaded):
    """``flask export`` from a script does not pay for the demo generator or the importer;
    ``flask --help`` lists (and so loads) every command."""
    script = LOADED_PROBE % {"command": command, "modules": COMMAND_MODULES}
    done = fresh_process(["-c", script], tmp_path / "c.db")
    assert json.loads(done.stdout.strip().splitlines()[-1]) == loaded
    assert "Usage: flask" in done.stdout
