"""Round trip (issue 6): export patients, interventions and pain scores, import them into an
empty database, and the relief summary comes out the same."""

import pytest
from flask_migrate import upgrade

from clinic.extensions import db
from clinic.models import Room, StaffUser
from clinic.services import demo
from tests.conftest import (
    BACKENDS,
    TEST_DATABASE_URL,
    create_throwaway_database,
    drop_database,
    make_app,
)


@pytest.fixture(scope="module", params=BACKENDS)
def empty_clinic(request, tmp_path_factory):
    """Another clinic's empty database (migrated, with the same physicians and rooms)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('empty') / 'clinic.db'}"
    elif not TEST_DATABASE_URL:
        pytest.skip(
            "PostgreSQL tests need TEST_DATABASE_URL, e.g. postgresql://postgres@127.0.0.1/postgres"
        )
    else:
        url = create_throwaway_database(TEST_DATABASE_URL)
    app = make_app(url, str(tmp_path_factory.mktemp("empty-instance")))
    with app.app_context():
        upgrade()
        for username, full_name in demo.PHYSICIANS:
            db.session.add(StaffUser(username=username, full_name=full_name, role="physician"))
        db.session.add_all(Room(name=name) for name in demo.ROOMS)
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()
    if request.param == "postgresql":
        drop_database(url)


def test_exported_files_import_into_an_empty_clinic_with_the_same_relief_summary(
    runner, db_session, empty_clinic, tmp_path
):
    demo.seed_demo(db_session, patients=60, seed=11)
    db_session.commit()
    files = {}
    for name in ("patients", "interventions", "pain-scores"):
        files[name] = tmp_path / f"{name}.csv"
        result = runner.invoke(args=["export", name, "-o", str(files[name])])
        assert result.exit_code == 0, result.output
    summary_here = runner.invoke(args=["export", "relief-summary"])
    assert summary_here.exit_code == 0, summary_here.output

    there = empty_clinic.test_cli_runner()
    imported = there.invoke(
        args=[
            "import",
            "--patients",
            str(files["patients"]),
            "--interventions",
            str(files["interventions"]),
            "--pain-scores",
            str(files["pain-scores"]),
        ]
    )
    assert imported.exit_code == 0, imported.output
    summary_there = there.invoke(args=["export", "relief-summary"])
    assert summary_there.exit_code == 0, summary_there.output
    assert summary_there.output.count("\n") > 2  # a header and rows, not an empty table
    assert summary_there.output == summary_here.output

    again = there.invoke(
        args=[
            "import",
            "--patients",
            str(files["patients"]),
            "--interventions",
            str(files["interventions"]),
            "--pain-scores",
            str(files["pain-scores"]),
        ]
    )
    assert again.exit_code == 0, again.output
    assert there.invoke(args=["export", "relief-summary"]).output == summary_here.output
