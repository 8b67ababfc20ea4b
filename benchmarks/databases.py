"""Throwaway PostgreSQL databases for the benchmarks: made for one run, dropped after it."""

import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def throwaway_postgres(base_url: str) -> str:
    """A new empty database on the server ``base_url`` names; its URL (psycopg 3)."""
    url = make_url(base_url).set(drivername="postgresql+psycopg")
    name = f"clinic_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_postgres(url: str) -> None:
    """Drop the database ``url`` names, whoever is still connected to it."""
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()
