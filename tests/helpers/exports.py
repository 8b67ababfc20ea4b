"""Shared by the tests: moved out of tests.test_exports so no test module imports another."""

import csv
import io

from clinic.services.interchange.csvio import BOM


def run_export(runner, *args: str):
    return runner.invoke(args=["export", *args])


def cli_bytes(runner, *args: str) -> bytes:
    result = run_export(runner, *args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout_bytes


def web_bytes(client, name: str, **query) -> bytes:
    response = client.get(f"/exports/{name}.csv", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data()


def parse(data: bytes) -> list[list[str]]:
    """Read CSV bytes back with the csv module (RFC 4180), the BOM taken off."""
    text = data.decode("utf-8").removeprefix(BOM)
    return list(csv.reader(io.StringIO(text, newline="")))


def records(data: bytes) -> list[dict[str, str]]:
    header, *rows = parse(data)
    return [dict(zip(header, row, strict=True)) for row in rows]
