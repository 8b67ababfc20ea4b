"""How the database would read a statement: for tests that a page at scale reads an index."""

from sqlalchemy import text


def query_plan(db_session, backend: str, statement) -> str:
    """How the database would read ``statement`` (PostgreSQL told to avoid scans and sorts, so
    that a small test table shows what an index can serve, as at 50,000 patients)."""
    dialect = db_session.get_bind().dialect
    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    if backend == "postgresql":
        db_session.execute(text("SET LOCAL enable_seqscan = off"))
        db_session.execute(text("SET LOCAL enable_sort = off"))
        return "\n".join(row[0] for row in db_session.execute(text(f"EXPLAIN {sql}")))
    return "\n".join(row[-1] for row in db_session.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
