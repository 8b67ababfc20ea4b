"""How the database would read a statement: for tests that a page at scale reads an index."""

from sqlalchemy import text


def query_plan(db_session, backend: str, statement, indexes_alone: bool = False) -> str:
    """How the database would read ``statement`` (PostgreSQL told to avoid scans and sorts, so
    that a small test table shows what an index can serve, as at 50,000 patients).

    ``indexes_alone``: PostgreSQL is also told to avoid reading table rows through an index,
    so that a plan still reading the table shows an index that does not hold what is asked.
    """
    dialect = db_session.get_bind().dialect
    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    if backend == "postgresql":
        db_session.execute(text("SET LOCAL enable_seqscan = off"))
        db_session.execute(text("SET LOCAL enable_sort = off"))
        if indexes_alone:
            db_session.execute(text("SET LOCAL enable_indexscan = off"))
            db_session.execute(text("SET LOCAL enable_bitmapscan = off"))
        return "\n".join(row[0] for row in db_session.execute(text(f"EXPLAIN {sql}")))
    return "\n".join(row[-1] for row in db_session.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
