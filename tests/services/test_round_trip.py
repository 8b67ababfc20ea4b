"""Round trip (issue 6): export patients, interventions and pain scores, import them into an
empty database, and the relief summary comes out the same."""

import re

from clinic import demo
from tests.helpers.round_trip import its_own_session

COUNTS = re.compile(r"(.+): (\d+) rows? — (\d+) new, (\d+) changed, (\d+) unchanged")


def file_counts(output: str) -> dict[str, tuple[int, int, int, int]]:
    """(rows, new, changed, unchanged) per file, from the import command's summary lines."""
    found = {}
    for line in output.splitlines():
        match = COUNTS.fullmatch(line)
        if match:
            name, *numbers = match.groups()
            found[name.rsplit("/", 1)[-1]] = tuple(int(number) for number in numbers)
    return found


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
    import_all = [
        "import",
        "--patients",
        str(files["patients"]),
        "--interventions",
        str(files["interventions"]),
        "--pain-scores",
        str(files["pain-scores"]),
    ]
    with its_own_session():
        imported = there.invoke(args=import_all)
        assert imported.exit_code == 0, imported.output
        summary_there = there.invoke(args=["export", "relief-summary"])
        assert summary_there.exit_code == 0, summary_there.output
        assert summary_there.output.count("\n") > 2  # a header and rows, not an empty table
        assert summary_there.output == summary_here.output

        again = there.invoke(args=import_all)
        assert again.exit_code == 0, again.output
        assert there.invoke(args=["export", "relief-summary"]).output == summary_here.output
    # Into the empty clinic every row is new; the second time every row of every file is
    # found unchanged: 0 new, 0 changed.
    first, second = file_counts(imported.output), file_counts(again.output)
    assert set(first) == set(second) == {"patients.csv", "interventions.csv", "pain-scores.csv"}
    for name, (rows, new, changed, unchanged) in second.items():
        assert rows > 0 and first[name] == (rows, rows, 0, 0), (name, imported.output)
        assert (new, changed, unchanged) == (0, 0, rows), (name, again.output)
