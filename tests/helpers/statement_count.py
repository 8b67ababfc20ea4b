"""Shared by the tests: moved out of tests.test_statement_count so no test module imports another."""

from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import event

from clinic.extensions import db


@dataclass
class Counter:
    count: int = 0


@contextmanager
def count_statements(app):
    """Count statements sent through the app's engine inside the block."""
    with app.app_context():
        engine = db.engine
    counter = Counter()

    def before_cursor_execute(*args, **kwargs):
        counter.count += 1

    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", before_cursor_execute)
