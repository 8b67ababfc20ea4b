"""The demo's procedures: booked in a free slot, completed with their level and side, their
follow-up recorded, and the check a few weeks after them."""

import random
from datetime import date, timedelta

from clinic.demo.medications import record_given
from clinic.demo.relief import Relief, end_diary, relief_course
from clinic.demo.run import DemoClinic, Diary
from clinic.models import Intervention, Patient, StaffUser, Visit
from clinic.services.relief.eligibility import PastProcedure
from clinic.services.relief.rules import Score


def book_intervention(
    clinic: DemoClinic, patient: Patient, code: str, physician: StaffUser, day: date, referral
) -> Intervention:
    room = clinic.procedure_rooms[clinic.rng.randrange(len(clinic.procedure_rooms))]
    minutes = clinic.procedures[code].default_minutes  # the catalogue's default length
    starts_at, ends_at = clinic.slots.take(day, minutes, physician.username, room.name, patient.mrn)
    intervention = Intervention(
        patient=patient,
        physician=physician,
        room=room,
        procedure_type=clinic.procedures[code],
        referral=referral,
        starts_at=starts_at,
        ends_at=ends_at,
        status="scheduled",
        spinal_level=None,
    )
    clinic.add(intervention)
    return intervention


# Levels treated, by region and category.
LUMBAR_LEVELS = ["L3-L4", "L4-L5", "L5-S1", "L4-L5, L5-S1"]
LEVELS = {
    ("lumbar", "epidural"): LUMBAR_LEVELS,
    ("lumbar", "facet"): LUMBAR_LEVELS,
    ("lumbar", "ablation"): LUMBAR_LEVELS,
    ("cervical", "epidural"): ["C6-C7", "C7-T1"],
    ("cervical", "facet"): ["C3-C4", "C4-C5", "C5-C6", "C4-C5, C5-C6"],
    ("cervical", "ablation"): ["C3-C4", "C4-C5", "C5-C6", "C4-C5, C5-C6"],
}


def laterality(rng: random.Random, code: str, category: str, region: str) -> str:
    """Interlaminar and caudal epidurals are midline. Clinics often stage a bilateral cervical
    ablation, one side per session; the payer rules would refuse the second side within the
    year as a repeat without six months' relief, so each cervical RFA in the demo is one side."""
    if category == "epidural" and code != "ESI-TF":
        return "midline"
    if region == "cervical" and category == "ablation":
        return rng.choice(["left", "right"])
    return rng.choice(["left", "right", "bilateral"])


def complete(
    clinic: DemoClinic,
    intervention: Intervention,
    code: str,
    region: str,
    history: list[PastProcedure],
    responder: bool | None = None,
) -> Relief:
    """Complete a past intervention, record its follow-up scores and add it to the patient's
    history as a payer would see it."""
    rng = clinic.rng
    intervention.status = "completed"
    intervention.performed_on = performed_on = intervention.starts_at.date()
    intervention.baseline_nrs = rng.randint(5, 9)
    category = clinic.procedures[code].category
    if category in ("epidural", "facet", "ablation"):
        intervention.spinal_level = rng.choice(LEVELS[region, category])
        intervention.laterality = laterality(rng, code, category, region)
    else:
        intervention.spinal_level = "T8-T10"
        intervention.laterality = "midline"
    if rng.random() < 0.03:
        intervention.complications = "Transient vasovagal episode; resolved before discharge"
    record_given(clinic, intervention, code)  # drugs, guidance, radiation, sedation
    end_diary(clinic, history, performed_on)
    relief = relief_course(
        clinic,
        code,
        intervention.baseline_nrs,
        performed_on,
        clinic.procedures[code].followup_schedule,
        responder,
    )
    clinic.add_scores(intervention, relief.calls)
    if relief.diary:
        clinic.diary = Diary(len(history), intervention, relief.diary)
    history.append(
        PastProcedure(
            intervention.id,
            code,
            performed_on,
            intervention.baseline_nrs,
            sorted(
                Score(day, nrs, reported) for day, nrs, reported, _ in relief.calls + relief.diary
            ),
            region=clinic.regions.region_of(code, intervention.spinal_level),
            level=intervention.spinal_level,
        )
    )
    return relief


def post_procedure_check(clinic: DemoClinic, intervention: Intervention) -> None:
    """A check two to four weeks after a recent procedure: done if past, booked if to come."""
    day = intervention.performed_on + timedelta(days=clinic.rng.randint(14, 28))
    room = clinic.rng.choice(clinic.consult_rooms)
    starts_at, ends_at = clinic.slots.take(
        day, 30, intervention.physician.username, room.name, intervention.patient.mrn
    )
    status = "scheduled"
    if starts_at.date() < clinic.today:
        status = clinic.rng.choices(["completed", "no_show"], weights=[93, 7])[0]
    elif starts_at.date() == clinic.today:
        status = clinic.rng.choice(["scheduled", "checked_in"])
    clinic.add(
        Visit(
            patient=intervention.patient,
            physician=intervention.physician,
            room=room,
            visit_kind="post_procedure_check",
            intervention=intervention,
            starts_at=starts_at,
            ends_at=ends_at,
            status=status,
        )
    )
