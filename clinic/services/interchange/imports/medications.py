"""The medications file (docs/formats.md, medications): each intervention it names gets the
file's list of medications in place of its own.

A file *replaces* lists, so rows are judged per intervention, not one by one:

- **Stage** (``stage``): each row parsed (``records.parse_medication``) and its ``ref`` found —
  an intervention of the database, or one of the interventions file — which must be completed
  (medications are given at a completed intervention) and, when the row gives an MRN, be that
  patient's. Rows go into ``STAGED_MEDICATION`` with their typed values.
- **Compare** (``compare``), once the whole file is staged, since one intervention's rows may
  be anywhere in it: for a few thousand interventions at a time, the file's list against the
  stored one, in the order written. Every row of an intervention whose list is the same is
  *unchanged*; of one with no medications yet, *new*; else *changed*. Importing the same file
  twice therefore writes nothing the second time.
- **Write** (``write``): for the new and changed lists, the stored medications of those
  interventions are deleted and the file's inserted, in file order; each changed list leaves an
  ``update`` audit event on its intervention with the list before and after.

``mpe_mg`` is never read: it is worked out from the dose and the drug's equivalence whenever it
is shown or exported.
"""

from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from itertools import groupby
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update

from clinic.services.interchange.imports import audit
from clinic.services.interchange.imports.job import Job
from clinic.services.interchange.imports.matching import existing_interventions
from clinic.services.interchange.imports.reading import Batch
from clinic.services.interchange.imports.report import CHANGED, NEW, UNCHANGED
from clinic.services.interchange.imports.staging import (
    STAGED_BOOKING,
    STAGED_MEDICATION,
    copy_into,
)
from clinic.services.interchange.imports.tables import (
    drug_table,
    intervention_table,
    medication_table,
)

KIND = "medications"
# What a medication is compared on: the file's row and the stored one alike.
Given = tuple[int, Decimal | None, Decimal | None, str | None]


def stage(job: Job, batches: Iterator[Batch]) -> None:
    """Every batch of the medications file into ``STAGED_MEDICATION``, each row's intervention
    found and checked; then the lists compared."""
    for batch in batches:
        _stage_batch(job, batch)
    job.analyze(STAGED_MEDICATION)
    compare(job)


def _stage_batch(job: Job, batch: Batch) -> None:
    refs = {key for _, key, _, _ in batch}
    in_file = {
        row.ref: row
        for row in job.session.execute(
            select(
                STAGED_BOOKING.c.ref,
                STAGED_BOOKING.c.existing_id,
                STAGED_BOOKING.c.status,
                STAGED_BOOKING.c.mrn,
            ).where(job.among(STAGED_BOOKING.c.ref, refs))
        )
    }
    in_database = existing_interventions(job, refs - set(in_file))
    interventions_file = job.names.get("interventions")
    rows = []
    for line, key, values, _ in batch:
        found = in_file.get(key) or in_database.get(key)
        if values is not None and found is None and "interventions" not in job.unusable:
            where = (
                f"in the database or in {interventions_file}"
                if interventions_file
                else "in the database"
            )
            job.problem(KIND, line, "ref", f'no intervention has ref "{key}" {where}')
            values = None
        if values is not None and found is not None and not _fits(job, line, key, values, found):
            values = None
        existing_id = None
        if key in in_file:
            existing_id = in_file[key].existing_id
        elif found is not None:
            existing_id = found.id
        rows.append(
            {
                "line": line,
                "ref": key,
                "action": None,
                "refused": values is None,
                "intervention_id": existing_id,
                "drug_id": values["drug_id"] if values else None,
                "dose_mg": _text(values["dose_mg"]) if values else None,
                "volume_ml": _text(values["volume_ml"]) if values else None,
                "route_site": values["route_site"] if values else None,
            }
        )
    copy_into(job, STAGED_MEDICATION, rows)


def _fits(job: Job, line: int, key: str, values: dict[str, Any], found: Any) -> bool:
    """Whether the row may belong to this intervention: completed, and the MRN's patient."""
    if found.status is not None and found.status != "completed":
        job.problem(
            KIND,
            line,
            "ref",
            f"{key} is {found.status.replace('_', ' ')}, not completed: medications are "
            "recorded for a completed intervention",
        )
        return False
    if values["mrn"] and found.mrn and values["mrn"] != found.mrn:
        job.problem(
            KIND,
            line,
            "mrn",
            f"{values['mrn']} is not the patient of {key} (its patient's MRN is {found.mrn})",
        )
        return False
    return True


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def _amount(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _staged_lists(job: Job, refs: list[str]) -> dict[str, list[Any]]:
    """The staged rows of these refs, by ref, in file order."""
    rows = job.session.execute(
        select(STAGED_MEDICATION)
        .where(job.among(STAGED_MEDICATION.c.ref, refs))
        .order_by(STAGED_MEDICATION.c.ref, STAGED_MEDICATION.c.line)
    )
    return {ref: list(group) for ref, group in groupby(rows, key=lambda row: row.ref)}


def _ref_chunks(job: Job, *where) -> Iterator[list[str]]:
    """The staged refs in order, a batch at a time (keyset paging: memory stays flat)."""
    after: str | None = None
    while True:
        query = select(STAGED_MEDICATION.c.ref).distinct().where(*where)
        if after is not None:
            query = query.where(STAGED_MEDICATION.c.ref > after)
        refs = list(
            job.session.execute(
                query.order_by(STAGED_MEDICATION.c.ref).limit(job.batch_size)
            ).scalars()
        )
        if not refs:
            return
        yield refs
        after = refs[-1]


def stored_lists(job: Job, intervention_ids: set[int]) -> dict[int, list[Any]]:
    """The stored medications of these interventions, each list in the order entered."""
    lists: dict[int, list[Any]] = defaultdict(list)
    for row in job.session.execute(
        select(
            medication_table.c.intervention_id,
            medication_table.c.drug_id,
            medication_table.c.dose_mg,
            medication_table.c.volume_ml,
            medication_table.c.route_site,
            drug_table.c.name,
        )
        .join(drug_table, drug_table.c.id == medication_table.c.drug_id)
        .where(job.among(medication_table.c.intervention_id, intervention_ids))
        .order_by(medication_table.c.intervention_id, medication_table.c.id)
    ):
        lists[row.intervention_id].append(row)
    return lists


def _given(row: Any, staged: bool) -> Given:
    if staged:
        return (row.drug_id, _amount(row.dose_mg), _amount(row.volume_ml), row.route_site)
    return (row.drug_id, row.dose_mg, row.volume_ml, row.route_site)


def compare(job: Job) -> None:
    """Each intervention's list in the file against its stored list: every row of it counted
    new, changed or unchanged, and the action staged for the write."""
    actions: list[dict[str, Any]] = []
    for refs in _ref_chunks(job):
        staged = _staged_lists(job, refs)
        ids = {rows[0].intervention_id for rows in staged.values()} - {None}
        stored = stored_lists(job, ids)
        for rows in staged.values():
            if any(row.refused for row in rows):
                continue
            before = stored.get(rows[0].intervention_id, [])
            if not before:
                action = NEW
            elif [_given(row, True) for row in rows] == [_given(row, False) for row in before]:
                action = UNCHANGED
            else:
                action = CHANGED
            for row in rows:
                job.counts[KIND].add(action)
                actions.append({"b_line": row.line, "action": action})
        if len(actions) >= job.batch_size:
            _stage_actions(job, actions)
            actions = []
    _stage_actions(job, actions)


def _stage_actions(job: Job, actions: list[dict[str, Any]]) -> None:
    if actions:
        job.session.execute(
            update(STAGED_MEDICATION)
            .where(STAGED_MEDICATION.c.line == bindparam("b_line"))
            .values(action=bindparam("action")),
            actions,
        )


def write(job: Job) -> None:
    """The new and changed lists in place of the stored ones, a batch of interventions at a time."""
    drug_names = dict(job.session.execute(select(drug_table.c.id, drug_table.c.name)).all())
    for refs in _ref_chunks(job, STAGED_MEDICATION.c.action.in_((NEW, CHANGED))):
        staged = _staged_lists(job, refs)
        # Interventions of the interventions file have their ids only now that it is written.
        written = existing_interventions(job, set(refs))
        ids = {ref: written[ref].id for ref in refs}
        changed = [ids[ref] for ref, rows in staged.items() if rows[0].action == CHANGED]
        if changed:
            before = stored_lists(job, set(changed))
            audit.audit_updates(
                job,
                intervention_table.name,
                [
                    {"b_id": ids[ref], "medications": _described(staged[ref], drug_names, True)}
                    for ref in refs
                    if staged[ref][0].action == CHANGED
                ],
                {
                    intervention_id: {
                        "medications": _described(before[intervention_id], drug_names, False)
                    }
                    for intervention_id in changed
                },
                ("medications",),
            )
            job.session.execute(
                delete(medication_table).where(
                    job.among(medication_table.c.intervention_id, changed)
                )
            )
        job.session.execute(
            insert(medication_table),
            [
                {
                    "intervention_id": ids[ref],
                    "drug_id": row.drug_id,
                    "dose_mg": _amount(row.dose_mg),
                    "volume_ml": _amount(row.volume_ml),
                    "route_site": row.route_site,
                }
                for ref in refs
                for row in staged[ref]
            ],
        )


def _described(rows: list[Any], drug_names: dict[int, str], staged: bool) -> list[str]:
    """A list of medications as the audit trail keeps it: "triamcinolone 80 mg (L4-L5 TF)"."""
    described = []
    for row in rows:
        drug_id, dose, volume, site = _given(row, staged)
        amount = f"{dose.normalize():f} mg" if dose is not None else f"{volume.normalize():f} mL"
        described.append(f"{drug_names[drug_id]} {amount}" + (f" ({site})" if site else ""))
    return described
