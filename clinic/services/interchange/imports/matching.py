"""The database's records for the keys of a batch (MRN; ``ref``), and whether a row is new,
changed or unchanged against them: what staging records and writing acts on."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from clinic.services.interchange.csvio import PATIENTS_COLUMNS, bare_id, clinic_id
from clinic.services.interchange.imports.job import Job
from clinic.services.interchange.imports.report import CHANGED, NEW, UNCHANGED, and_list
from clinic.services.interchange.imports.tables import (
    booking_table,
    intervention_table,
    patient_table,
    procedure_table,
    room_table,
    staff_table,
)

# What a row is compared on to tell "changed" from "unchanged". The patient's key is among them:
# a patient found under an MRN stored as written before imports normalised MRNs (``c0001234``)
# takes the normalised MRN (``C0001234``), so that MRN search finds it from then on.
# Consent to email contact, compared and written only when the file has its columns: an older
# file without them leaves the stored consent as it is.
CONSENT_FIELDS = ("email_consent", "email_consent_on")
PATIENT_FIELDS = tuple(name for name in PATIENTS_COLUMNS if name not in CONSENT_FIELDS)


def patient_fields(job: Job) -> tuple[str, ...]:
    """The patient fields this import's patients file compares and writes."""
    if "email_consent" in job.headers.get("patients", ()):
        return PATIENT_FIELDS + CONSENT_FIELDS
    return PATIENT_FIELDS


INTERVENTION_FIELDS = (
    "mrn",  # an intervention of the same patient is unchanged however its MRN was stored
    "procedure_code",
    "physician",
    "starts_at",
    "ends_at",
    "room",
    "status",
    "performed_on",
    "baseline_nrs",
    "spinal_level",
    "laterality",
    "notes",
)
# How it was guided, its radiation and sedation: compared and written only when the file has
# these columns, so that an older file leaves them as they are.
RADIATION_FIELDS = ("guidance", "fluoro_seconds", "air_kerma_mgy", "sedation")
SCORE_FIELDS = ("nrs", "percent_relief", "source")


def radiation_fields(job: Job) -> tuple[str, ...]:
    """The radiation fields this import's interventions file compares and writes."""
    return RADIATION_FIELDS if "guidance" in job.headers.get("interventions", ()) else ()


def intervention_fields(job: Job) -> tuple[str, ...]:
    """The intervention fields this import's interventions file compares and writes."""
    return INTERVENTION_FIELDS + radiation_fields(job)


def compare(found: Any, values: Mapping[str, Any], fields: tuple[str, ...]) -> int:
    """NEW when nothing was found, else CHANGED or UNCHANGED on these fields."""
    if found is None:
        return NEW
    for name in fields:
        if getattr(found, name) != values[name]:
            return CHANGED
    return UNCHANGED


def existing_patients(job: Job, mrns: set[str], *columns) -> dict[str, Any]:
    """The database's patients for these normalised MRNs: (id, stored mrn, ``columns``).

    The patient stored under the MRN itself first; failing that, the one patient stored
    under another spelling of it. Where several are (``c0001`` and ``c 0001``), none is
    chosen: ``mrn_clash`` names them.
    """
    spellings = {stored for mrn in mrns for stored in job.mrn_spellings.get(mrn, ())}
    stored = {
        row.mrn: row
        for row in job.session.execute(
            select(patient_table.c.id, patient_table.c.mrn, *columns).where(
                job.among(patient_table.c.mrn, mrns | spellings)
            )
        )
    }
    found = {}
    for mrn in mrns:
        if mrn in stored:
            found[mrn] = stored[mrn]
            continue
        others = [stored[s] for s in job.mrn_spellings.get(mrn, ()) if s in stored]
        if len(others) == 1:
            found[mrn] = others[0]
    return found


def mrn_clash(job: Job, mrn: str, found: Mapping[str, Any]) -> str | None:
    """Why a normalised MRN names no one patient of the database, when several fit it."""
    if mrn in found:
        return None
    others = sorted(job.mrn_spellings.get(mrn, ()))
    if len(others) < 2:
        return None
    return (
        f"{mrn} could be any of the patients with MRNs {and_list(others)} (an MRN is read in "
        "capitals, without spaces); an administrator must correct their MRNs first"
    )


def existing_interventions(job: Job, refs: set[str]) -> dict[str, Any]:
    """The database's interventions for these refs, with what the CSV compares them on.

    A stored ref matches first. An intervention created in Clinic has no ref of its own and
    the export writes ``clinic:ID`` there instead: a ref of that form that no stored ref
    matches, or a bare number (what exports wrote before), is looked up as such an id.
    """
    room = room_table.alias("room")
    columns = [
        intervention_table.c.id,
        intervention_table.c.ref,
        booking_table.c.patient_id,
        patient_table.c.mrn,
        procedure_table.c.code.label("procedure_code"),
        staff_table.c.username.label("physician"),
        booking_table.c.starts_at,
        booking_table.c.ends_at,
        room.c.name.label("room"),
        booking_table.c.status,
        intervention_table.c.performed_on,
        intervention_table.c.baseline_nrs,
        intervention_table.c.spinal_level,
        intervention_table.c.laterality,
        booking_table.c.notes,
        *[intervention_table.c[name] for name in RADIATION_FIELDS],
    ]
    joined = (
        intervention_table.join(booking_table, booking_table.c.id == intervention_table.c.id)
        .join(patient_table, patient_table.c.id == booking_table.c.patient_id)
        .join(procedure_table, procedure_table.c.id == intervention_table.c.procedure_type_id)
        .join(staff_table, staff_table.c.id == booking_table.c.physician_id)
        .outerjoin(room, room.c.id == booking_table.c.room_id)
    )
    found = {
        row.ref: row
        for row in job.session.execute(
            select(*columns).select_from(joined).where(job.among(intervention_table.c.ref, refs))
        )
    }
    numbers: dict[int, list[str]] = {}
    for ref in refs - set(found):
        number = clinic_id(ref)
        if number is None:
            number = bare_id(ref)
        if number is not None:
            numbers.setdefault(number, []).append(ref)
    if numbers:
        for row in job.session.execute(
            select(*columns)
            .select_from(joined)
            .where(
                job.among(intervention_table.c.id, set(numbers)),
                intervention_table.c.ref.is_(None),
            )
        ):
            for ref in numbers[row.id]:
                found[ref] = row
    return found
