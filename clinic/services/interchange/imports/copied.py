"""The pain-score file at near ``COPY`` speed (PostgreSQL): stage, check and write in SQL.

SQLite keeps the batch path of ``staging.py`` and ``writing.py``; both give the same counts, the
same problems and the same rows. Here:

1. **Stage.** Python reads the file once, as the batch path does (``reading.py``: UTF-8, the
   header, CSV records and each record's first physical line, the formula guard taken off), and
   sends each record's cells untouched with its line number into a temporary table through
   ``COPY``. A record with a character outside ASCII or a control character is the exception: the Python
   parser (``records.py``) judges it, since only Python knows what ``\\d`` and ``int()`` make of
   every digit of Unicode; its cells go on as the parser read them.
2. **Check.** Each cell's format, range and choices are SQL expressions over the raw text that
   give the parser's messages word for word, generated from one description of the columns
   (``SCORE_CELLS``). The refs are looked up once each, in a table of the file's distinct refs;
   the typed rows go into ``clinic_import_score`` with their action (new, changed, unchanged),
   where the checks across rows (``checks.py``) find them as the batch path leaves them.
3. **Write.** ``INSERT … SELECT … ON CONFLICT`` from the typed rows, new and changed alike;
   unchanged rows are not touched. The ``update`` audit events of the changed rows, with old
   and new values, are one ``INSERT … SELECT`` before it.
"""

from dataclasses import dataclass

from sqlalchemy import text

from clinic.models.followup import PAIN_SCORE_SOURCES
from clinic.services.identity.audit import COMMAND_LINE, current_actor
from clinic.services.interchange.csvio import MAX_ID, PAIN_SCORES_COLUMNS, trim
from clinic.services.interchange.imports import reading
from clinic.services.interchange.imports.job import Job
from clinic.services.interchange.imports.matching import SCORE_FIELDS
from clinic.services.interchange.imports.records import (
    CONTROL_CHARACTER,
    Record,
    parse_day,
    parse_score,
)
from clinic.services.interchange.imports.report import CHANGED, NEW, UNCHANGED, Refused
from clinic.services.interchange.imports.staging import (
    RAW_SCORE,
    SCORE_REF,
    STAGED_BOOKING,
    STAGED_SCORE,
)

# Off only in the tests that run the batch path on PostgreSQL to compare the two.
ENABLED = True


def enabled(job: Job) -> bool:
    """Whether this import stages its pain scores through COPY (PostgreSQL only)."""
    return ENABLED and not job.sqlite


@dataclass(frozen=True)
class Cell:
    """What a column of the file holds, as ``records.Record`` reads it."""

    name: str
    form: str  # text, whole, day or choice
    required: bool = False
    max_length: int | None = None
    low: int = 0
    high: int = 0
    choices: tuple[str, ...] = ()
    default: str | None = None
    not_future: bool = False


# ``records.parse_score``, described: the SQL below is generated from this.
SCORE_CELLS = (
    Cell("intervention_ref", "text", required=True, max_length=64),
    Cell("recorded_on", "day", required=True, not_future=True),
    Cell("nrs", "whole", required=True, low=0, high=10),
    Cell("percent_relief", "whole", low=0, high=100),
    Cell("source", "choice", choices=PAIN_SCORE_SOURCES, default="import"),
)

_REQUIRED = "empty; a value is required"
_KEY = "c_intervention_ref"


def _literal(value: str | int) -> str:
    """A constant of ours as SQL (never a cell of the file: those stay in the tables)."""
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def _quoted(cell: str) -> str:
    """The message text ``"VALUE"`` around a trimmed cell."""
    return f"'\"' || {cell} || '\"'"


def _day(cell: str) -> str:
    """A ``YYYY-MM-DD`` cell as a date; NULL for anything else (never an error)."""
    year, month, day = (
        f"substr({cell}, {start}, {size})::int" for start, size in ((1, 4), (6, 2), (9, 2))
    )
    last = f"extract(day from make_date({year}, {month}, 1) + interval '1 month - 1 day')"
    return (
        f"CASE WHEN {cell} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$' THEN "
        f"CASE WHEN {year} >= 1 AND {month} BETWEEN 1 AND 12 THEN "
        f"CASE WHEN {day} BETWEEN 1 AND {last} THEN make_date({year}, {month}, {day}) "
        "END END END"
    )


def _message(cell: Cell) -> str:
    """The parser's message for this column of a record, or NULL: an SQL expression over the
    trimmed cell ``c_NAME`` (and ``d_NAME``, its date)."""
    value = f"c_{cell.name}"
    empty = _literal(_REQUIRED) if cell.required and cell.default is None else "NULL"
    whens = [f"WHEN {value} = '' THEN {empty}"]
    if cell.form == "text" and cell.max_length is not None:
        whens.append(
            f"WHEN char_length({value}) > {cell.max_length} "
            f"THEN {_literal(f'longer than {cell.max_length} characters')}"
        )
    elif cell.form == "choice":
        among = ", ".join(_literal(choice) for choice in cell.choices)
        whens.append(
            f"WHEN {value} NOT IN ({among}) THEN "
            f"{_quoted(value)} || {_literal(' is not one of ' + ', '.join(cell.choices))}"
        )
    elif cell.form == "whole":
        span = f"a whole number from {cell.low} to {cell.high}"
        whens.append(
            f"WHEN {value} !~ '^[+-]?[0-9]+$' THEN {_quoted(value)} || {_literal(' is not ' + span)}"
        )
        whens.append(
            f"WHEN {value}::numeric NOT BETWEEN {cell.low} AND {cell.high} "
            f"THEN ({value}::numeric)::text || {_literal(' is out of range: ' + span)}"
        )
    elif cell.form == "day":
        day = f"d_{cell.name}"
        whens.append(
            f"WHEN {day} IS NULL THEN {_quoted(value)} || {_literal(' is not a date as YYYY-MM-DD')}"
        )
        if cell.not_future:
            whens.append(
                f"WHEN {day} > :today THEN to_char({day}, 'YYYY-MM-DD') || ' is in the future'"
            )
    return f"CASE {' '.join(whens)} END"


def _typed(cell: Cell) -> str:
    """The column's value of a record that passed every check."""
    value = f"c_{cell.name}"
    if cell.form == "whole":
        return f"NULLIF({value}, '')::numeric::int"
    if cell.form == "day":
        return f"d_{cell.name}"
    if cell.form == "choice" and cell.default is not None:
        return f"COALESCE(NULLIF({value}, ''), {_literal(cell.default)})"
    return f"NULLIF({value}, '')"


def _judged(cells: tuple[Cell, ...]) -> str:
    """Each record of the raw table with its cells trimmed, their dates, each column's message
    (``m_NAME``) and whether it passed (``ok``): a query to select from.

    ``OFFSET 0`` keeps each level a subquery of its own: flattened, every use of a trimmed
    cell or a date would repeat its whole expression, many times over.
    """
    trimmed = ", ".join(f"btrim({cell.name}, ' ') AS c_{cell.name}" for cell in cells)
    days = "".join(
        f", {_day(f'c_{cell.name}')} AS d_{cell.name}" for cell in cells if cell.form == "day"
    )
    messages = ", ".join(f"{_message(cell)} AS m_{cell.name}" for cell in cells)
    passed = " AND ".join(f"m_{cell.name} IS NULL" for cell in cells)
    return (
        f"SELECT *, whole AND NOT refused AND {passed} AS ok FROM ("  # noqa: S608
        f"SELECT *, {messages} FROM ("
        f"SELECT *{days} FROM ("
        f"SELECT line, whole, refused, {trimmed} FROM {RAW_SCORE.name} OFFSET 0"
        ") AS trimmed OFFSET 0) AS dated OFFSET 0) AS judged"
    )


# Stage ------------------------------------------------------------------------------------


def stage_scores(job: Job) -> None:
    """The pain-score file into ``clinic_import_score`` by COPY and SQL, its problems reported."""
    _copy_raw(job)
    session = job.session
    session.execute(text(f"ANALYZE {RAW_SCORE.name}"))
    judged = _judged(SCORE_CELLS)
    names = [cell.name for cell in SCORE_CELLS]
    found = session.execute(
        text(
            f"SELECT line, {', '.join(f'm_{name}' for name in names)} FROM ({judged}) AS j "  # noqa: S608
            "WHERE whole AND NOT refused AND NOT ok ORDER BY line"
        ),
        {"today": job.today},
    )
    for row in found:
        for name, message in zip(names, row[1:], strict=True):
            if message is not None:
                job.problem("pain_scores", row[0], name, message)
    _find_refs(job)
    _stage_typed(job, judged)
    for action, count in session.execute(
        text(
            f"SELECT action, count(*) FROM {STAGED_SCORE.name} "  # noqa: S608
            "WHERE action IS NOT NULL GROUP BY action"
        )
    ):
        counts = job.counts["pain_scores"]
        if action == NEW:
            counts.new += count
        elif action == CHANGED:
            counts.changed += count
        elif action == UNCHANGED:
            counts.unchanged += count
    job.analyze(STAGED_SCORE)


def _copy_raw(job: Job) -> None:
    """Each record's line and cells into the raw table by COPY, in one pass over the file."""
    names = ["line", "whole", "refused", *PAIN_SCORES_COLUMNS]
    driver = job.session.connection().connection.driver_connection
    statement = f"COPY {RAW_SCORE.name} ({', '.join(names)}) FROM STDIN"
    rows = 0
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for line, row, whole in reading.records(job, "pain_scores"):
            rows += 1
            cells = [row.get(name, "") for name in PAIN_SCORES_COLUMNS]
            joined = "".join(cells)
            refused = False
            if not joined.isascii() or CONTROL_CHARACTER.search(joined):
                refused, cells = _parse_in_python(job, line, row, cells, whole)
            copy.write_row((line, whole, refused, *cells))
    job.counts["pain_scores"].rows += rows


def _parse_in_python(
    job: Job, line: int, row: dict[str, str], cells: list[str], whole: bool
) -> tuple[bool, list[str]]:
    """A record that SQL cannot judge as Python does, judged by the parser: (refused, cells).

    Accepted, its cells go on as the parser read them, which SQL then reads alike; refused, as
    written (a NUL, which PostgreSQL's text cannot hold, as U+FFFD), its date read as the
    parser reads it for the duplicate check.
    """
    if whole:
        record = Record(row)
        values = parse_score(job, record)
        for column, message in record.faults:
            job.problem("pain_scores", line, column, message)
        if not record.faults:
            relief = values["percent_relief"]
            return False, [
                values["intervention_ref"],
                values["recorded_on"].isoformat(),
                str(values["nrs"]),
                "" if relief is None else str(relief),
                values["source"],
            ]
    written = [cell.replace("\x00", "\ufffd") for cell in cells]
    recorded_on = parse_day(trim(row.get("recorded_on") or ""))
    if recorded_on is not None:
        written[PAIN_SCORES_COLUMNS.index("recorded_on")] = recorded_on.isoformat()
    return True, written


def _find_refs(job: Job) -> None:
    """Each distinct ref of the file looked up once: in the interventions file, as a stored
    ref, or as ``clinic:ID`` (or a bare id) of an intervention created in Clinic; a problem at
    every line whose ref names none (unless the interventions file could not be read)."""
    session = job.session
    ref, raw, booking = SCORE_REF.name, RAW_SCORE.name, STAGED_BOOKING.name
    session.execute(
        text(
            f"INSERT INTO {ref} (ref, known) SELECT DISTINCT btrim(intervention_ref, ' '), false "  # noqa: S608
            f"FROM {raw} WHERE btrim(intervention_ref, ' ') <> ''"
        )
    )
    if "interventions" in job.kinds:
        session.execute(
            text(
                f"UPDATE {ref} AS f SET known = true, intervention_id = b.existing_id "  # noqa: S608
                f"FROM {booking} AS b WHERE b.ref = f.ref"
            )
        )
    session.execute(
        text(
            f"UPDATE {ref} AS f SET known = true, intervention_id = i.id "  # noqa: S608
            "FROM intervention AS i WHERE NOT f.known AND i.ref = f.ref"
        )
    )
    number = "regexp_replace(f.ref, '^clinic:', '')"
    session.execute(
        text(
            f"UPDATE {ref} AS f SET known = true, intervention_id = i.id "  # noqa: S608
            "FROM intervention AS i WHERE NOT f.known AND i.ref IS NULL AND i.id = "
            f"CASE WHEN f.ref ~ '^(clinic:)?[1-9][0-9]{{0,9}}$' THEN "
            f"CASE WHEN {number}::bigint <= {MAX_ID} THEN {number}::int END END"
        )
    )
    session.execute(text(f"ANALYZE {ref}"))
    if "interventions" in job.unusable:
        return
    interventions_file = job.names.get("interventions")
    where = (
        f"in the database or in {interventions_file}" if interventions_file else "in the database"
    )
    for line, key in session.execute(
        text(
            f"SELECT r.line, f.ref FROM {raw} AS r JOIN {ref} AS f "  # noqa: S608
            "ON f.ref = btrim(r.intervention_ref, ' ') WHERE NOT f.known ORDER BY r.line"
        )
    ):
        job.problem(
            "pain_scores", line, "intervention_ref", f'no intervention has ref "{key}" {where}'
        )


def _stage_typed(job: Job, judged: str) -> None:
    """The keyed records into ``clinic_import_score``: typed when they passed, with their
    intervention, the score they would update and what the write does to it."""
    typed = {cell.name: f"CASE WHEN j.ok THEN {_typed(cell)} END" for cell in SCORE_CELLS}
    action = (
        f"CASE WHEN j.ok AND f.known THEN CASE WHEN p.id IS NULL THEN {NEW} "
        f"WHEN ({', '.join(f'p.{name}' for name in SCORE_FIELDS)}) IS DISTINCT FROM "
        f"({', '.join(f't.{name}' for name in SCORE_FIELDS)}) "
        f"THEN {CHANGED} ELSE {UNCHANGED} END END"
    )
    job.session.execute(
        text(
            f"INSERT INTO {STAGED_SCORE.name} "  # noqa: S608
            "(line, ref, recorded_on, action, intervention_id, score_id, nrs, percent_relief, "
            "source) "
            f"SELECT j.line, j.{_KEY}, j.d_recorded_on, {action}, f.intervention_id, p.id, "
            "t.nrs, t.percent_relief, t.source "
            f"FROM ({judged}) AS j "
            f"JOIN {SCORE_REF.name} AS f ON f.ref = j.{_KEY} "
            f"CROSS JOIN LATERAL (SELECT {typed['nrs']} AS nrs, "
            f"{typed['percent_relief']} AS percent_relief, {typed['source']} AS source) AS t "
            "LEFT JOIN pain_score AS p ON p.intervention_id = f.intervention_id "
            "AND p.recorded_on = j.d_recorded_on"
        ),
        {"today": job.today},
    )


# Write ------------------------------------------------------------------------------------


def write_scores(job: Job) -> None:
    """The new and changed scores in one ``INSERT … SELECT … ON CONFLICT``, after the audit
    events of the changed ones (old and new values, as the flush hook writes them).

    A statement only when it has rows to write: the tables' statement triggers (the relief
    report's data version) would fire for an empty one too.
    """
    counts = job.counts["pain_scores"]
    if counts.changed:
        _audit_changed_scores(job)
    if not counts.new and not counts.changed:
        return
    written = job.session.execute(
        text(
            "INSERT INTO pain_score (intervention_id, patient_id, recorded_on, nrs, "  # noqa: S608
            "percent_relief, source, created_at, updated_at) "
            "SELECT b.id, b.patient_id, s.recorded_on, s.nrs, s.percent_relief, "
            f"s.source, :now, :now FROM {STAGED_SCORE.name} AS s "
            # A score of an intervention that this import has just written finds it by ref.
            "LEFT JOIN intervention AS i ON s.intervention_id IS NULL AND i.ref = s.ref "
            "JOIN booking AS b ON b.id = COALESCE(s.intervention_id, i.id) "
            f"WHERE s.action IN ({NEW}, {CHANGED}) ORDER BY b.id, s.recorded_on "
            "ON CONFLICT (intervention_id, recorded_on) DO UPDATE SET nrs = EXCLUDED.nrs, "
            "percent_relief = EXCLUDED.percent_relief, source = EXCLUDED.source, "
            "updated_at = EXCLUDED.updated_at"
        ),
        {"now": job.now},
    ).rowcount
    if written != counts.new + counts.changed:
        raise Refused(
            f"{job.names['pain_scores']}: {written} scores written where "
            f"{counts.new + counts.changed} were checked"
        )


def _audit_changed_scores(job: Job) -> None:
    """One ``update`` event per changed score, its changed fields as ``{field: [old, new]}``."""
    actor = current_actor(job.session) or COMMAND_LINE
    changes = ", ".join(
        f"'{name}', CASE WHEN p.{name} IS DISTINCT FROM s.{name} "
        f"THEN jsonb_build_array(p.{name}, s.{name}) END"
        for name in SCORE_FIELDS
    )
    job.session.execute(
        text(
            "INSERT INTO audit_event (occurred_at, actor_id, actor_name, action, record_type, "  # noqa: S608
            "record_id, changes, client_address) "
            "SELECT :now, :actor_id, :actor_name, 'update', 'pain_score', p.id::text, "
            f"jsonb_strip_nulls(jsonb_build_object({changes}))::json, :client_address "
            f"FROM {STAGED_SCORE.name} AS s JOIN pain_score AS p ON p.id = s.score_id "
            f"WHERE s.action = {CHANGED} ORDER BY s.line"
        ),
        {
            "now": job.now,
            "actor_id": actor.user_id,
            "actor_name": actor.name,
            "client_address": actor.client_address,
        },
    )
