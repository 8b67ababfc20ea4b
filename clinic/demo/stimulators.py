"""Spinal cord stimulators in the demo: a device for each implant and its programming visits."""

from datetime import timedelta
from decimal import Decimal

from clinic.demo.run import DemoClinic
from clinic.models import Intervention, ScsDevice, StimulatorAdjustment, Visit

DEVICES = [
    ("Medtronic", "Intellis"),
    ("Boston Scientific", "WaveWriter Alpha"),
    ("Abbott", "Proclaim XR"),
    ("Nevro", "Senza Omnia"),
]


def stimulator_course(clinic: DemoClinic, implant: Intervention) -> None:
    """A device for an implant, and programming visits over the months after it."""
    rng = clinic.rng
    manufacturer, model = rng.choice(DEVICES)
    device = ScsDevice(
        patient=implant.patient,
        implant_intervention=implant,
        manufacturer=manufacturer,
        model=model,
        serial_number=f"{manufacturer[:2].upper()}{rng.randint(10**7, 10**8 - 1)}",
        lead_locations="Two 8-contact percutaneous leads, T8–T10 midline",
        implanted_on=implant.performed_on,
    )
    clinic.add(device)
    day = implant.performed_on + timedelta(days=14)
    paradigm = "high_frequency_10khz" if manufacturer == "Nevro" else rng.choice(["tonic", "burst"])
    pain = implant.baseline_nrs
    slot = 1
    while day < clinic.today - timedelta(days=1):
        room = rng.choice(clinic.consult_rooms)
        starts_at, ends_at = clinic.slots.take(
            day, 30, implant.physician.username, room.name, implant.patient.mrn
        )
        visit = Visit(
            patient=implant.patient,
            physician=implant.physician,
            room=room,
            visit_kind="stimulator_adjustment",
            intervention=implant,
            starts_at=starts_at,
            ends_at=ends_at,
            status="completed",
            notes="Programming review",
        )
        after = max(1, pain - rng.randint(0, 2))
        high_frequency = paradigm == "high_frequency_10khz"
        clinic.add(
            visit,
            StimulatorAdjustment(
                visit=visit,
                device=device,
                program_slot=slot,
                paradigm=paradigm,
                amplitude_ma=Decimal(
                    str(
                        round(rng.uniform(1.5, 3.5) if high_frequency else rng.uniform(2.0, 8.0), 1)
                    )
                ),
                frequency_hz=10000
                if high_frequency
                else (40 if paradigm == "burst" else rng.choice([40, 50, 60])),
                pulse_width_us=30 if high_frequency else rng.choice([210, 300, 450]),
                contacts=rng.choice(["1+ 2- 3+", "4- 5+", "2+ 3- 4- 5+", "6+ 7-"]),
                impedance_ohms=", ".join(str(rng.randint(400, 1200)) for _ in range(4)),
                battery_pct=rng.randint(55, 100),
                cpt_code=rng.choice(["95971", "95972", "95970"]),
                pain_before=pain,
                pain_after=after,
                notes=rng.choice(
                    [
                        "Coverage of the left leg improved",
                        "Reduced amplitude for comfort",
                        "Switched program after loss of coverage",
                        "Analysis only; no change",
                    ]
                ),
            ),
        )
        pain = after if rng.random() < 0.6 else min(10, after + 1)
        slot = slot % 4 + 1
        day += timedelta(days=rng.randint(45, 120))
