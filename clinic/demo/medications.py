"""What the demo gives at each procedure: realistic drugs and doses per procedure type,
guidance, fluoroscopy time and air kerma in plausible ranges, and sedation.

Epidurals get triamcinolone 40–80 mg or dexamethasone 10 mg with contrast and lidocaine; facet
injections a smaller steroid dose with bupivacaine; blocks and ablations local anaesthetic only.
A patient with a course of three or four epidurals within a year passes the 200 mg limit, so
the booking form's warning shows for some demo patients.
"""

import random
from decimal import Decimal

from sqlalchemy import select

from clinic.demo.run import DemoClinic
from clinic.models import Drug, Intervention, MedicationGiven

# Fluoroscopy seconds and air kerma (mGy) per second, by procedure code.
FLUORO_SECONDS = {
    "ESI-IL": (12, 60),
    "ESI-TF": (20, 90),
    "ESI-CA": (10, 45),
    "FJI": (20, 80),
    "MBB": (30, 120),
    "RFA": (60, 240),
    "SCS-TRIAL": (60, 300),
    "SCS-IMPLANT": (120, 600),
}
SEDATION = {
    "ESI-IL": (["local_only", "minimal"], [85, 15]),
    "ESI-TF": (["local_only", "minimal"], [85, 15]),
    "ESI-CA": (["local_only", "minimal"], [85, 15]),
    "FJI": (["local_only", "minimal"], [80, 20]),
    "MBB": (["local_only", "none"], [90, 10]),
    "RFA": (["minimal", "moderate", "local_only"], [50, 35, 15]),
    "SCS-TRIAL": (["moderate", "minimal"], [80, 20]),
    "SCS-IMPLANT": (["moderate"], [100]),
}


def _drug_ids(clinic: DemoClinic) -> dict[str, int]:
    cached = getattr(clinic, "_drug_ids", None)
    if cached is None:
        cached = dict(clinic.session.execute(select(Drug.name, Drug.id)).all())
        clinic._drug_ids = cached
    return cached


def record_given(clinic: DemoClinic, intervention: Intervention, code: str) -> None:
    """Guidance, radiation, sedation and the medications of one completed demo procedure."""
    # A stream of its own, so that adding what was given leaves the rest of the demo as it was.
    rng = random.Random(intervention.id)
    drugs = _drug_ids(clinic)
    _guidance_and_radiation(rng, intervention, code)
    for name, amount, where in _medications(rng, intervention, code):
        contrast = name == "contrast"
        clinic.add(
            MedicationGiven(
                intervention_id=intervention.id,
                drug_id=drugs[name],
                dose_mg=None if contrast else amount,
                volume_ml=amount if contrast else None,
                route_site=where,
            )
        )


def _guidance_and_radiation(rng: random.Random, intervention: Intervention, code: str) -> None:
    """How the needle was guided, the radiation that took, and the sedation."""
    low, high = FLUORO_SECONDS.get(code, (20, 90))
    cervical = (intervention.spinal_level or "").startswith("C")
    intervention.guidance = (
        "ct" if cervical and code == "ESI-TF" and rng.random() < 0.2 else "fluoroscopy"
    )
    if code == "MBB" and cervical and rng.random() < 0.3:
        intervention.guidance = "ultrasound"
    if intervention.guidance == "ultrasound":
        intervention.fluoro_seconds = intervention.air_kerma_mgy = None
    else:
        seconds = rng.randint(low, high)
        intervention.fluoro_seconds = seconds
        # About 0.05–0.25 mGy per second of pulsed fluoroscopy, more for CT.
        per_second = (
            rng.uniform(0.3, 0.8) if intervention.guidance == "ct" else rng.uniform(0.05, 0.25)
        )
        intervention.air_kerma_mgy = Decimal(str(round(seconds * per_second, 1)))
    choices, weights = SEDATION.get(code, (["local_only"], [1]))
    intervention.sedation = rng.choices(choices, weights)[0]


def _medications(
    rng: random.Random, intervention: Intervention, code: str
) -> list[tuple[str, Decimal, str | None]]:
    """What was injected, how much, and where, as a clinic gives it for this procedure."""
    site = f"{intervention.spinal_level or ''} {intervention.laterality or ''}".strip()
    given: list[tuple[str, Decimal, str | None]] = []
    if code.startswith("ESI"):
        steroid = rng.choices(
            [("triamcinolone", "80"), ("triamcinolone", "40"), ("dexamethasone", "10")],
            [55, 20, 25],
        )[0]
        route = {"ESI-TF": "transforaminal", "ESI-CA": "caudal"}.get(code, "interlaminar")
        given.append((steroid[0], Decimal(steroid[1]), f"{site}, {route} epidural"))
        given.append(
            (
                rng.choice(["lidocaine", "bupivacaine"]),
                Decimal(rng.choice(["20", "40"])),
                "skin and track",
            )
        )
    elif code == "FJI":
        steroid = rng.choice([("methylprednisolone", "40"), ("triamcinolone", "40")])
        given.append((steroid[0], Decimal(steroid[1]), f"{site}, facet joints"))
        given.append(
            ("bupivacaine", Decimal(rng.choice(["5", "7.5", "10"])), f"{site}, facet joints")
        )
    elif code == "MBB":
        given.append(
            (
                rng.choice(["bupivacaine", "lidocaine"]),
                Decimal(rng.choice(["5", "7.5", "10"])),
                f"{site}, medial branches",
            )
        )
    elif code == "RFA":
        given.append(
            ("lidocaine", Decimal(rng.choice(["40", "60", "80"])), f"{site}, before lesioning")
        )
    else:
        given.append(
            ("lidocaine", Decimal(rng.choice(["100", "150", "200"])), "incision and tract")
        )
        given.append(("ropivacaine", Decimal("50"), "wound infiltration"))
    if intervention.guidance in ("fluoroscopy", "ct") and code != "RFA":
        volume = Decimal(
            rng.choice(["1", "1.5", "2", "3"])
            if not code.startswith("SCS")
            else rng.choice(["3", "5"])
        )
        given.append(("contrast", volume, "confirming spread"))
    return given
