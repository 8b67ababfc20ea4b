"""The words and limits of a stimulator's values, shared by the forms and the services so that the
page and the service never disagree."""

from decimal import Decimal

from clinic.services import DomainError

PARADIGM_LABELS = {
    "tonic": "Tonic",
    "burst": "Burst",
    "high_frequency_10khz": "High-frequency 10 kHz",
    "other": "Other",
}
# What each programming code bills (CPT): the physician picks the one the visit was.
CPT_LABELS = {
    "95970": "Analysis only, no reprogramming",
    "95971": "Simple reprogramming",
    "95972": "Complex reprogramming",
}
HIGH_FREQUENCY_HZ = 10000
OPEN_VISIT_STATUSES = ("scheduled", "checked_in")

# The limits of each programming value, with what the physician is told when outside them.
# The forms use the same numbers and words, so the page and the service never disagree.
LIMITS: dict[str, tuple[int | Decimal, int | Decimal, str]] = {
    "program_slot": (1, 32, "The program slot is a whole number from 1 to 32."),
    "amplitude_ma": (
        Decimal("0"),
        Decimal("30"),
        "The amplitude is 0 to 30 mA, with at most 2 decimals (e.g. 3.25).",
    ),
    "frequency_hz": (1, 10000, "The frequency is a whole number of Hz from 1 to 10000."),
    "pulse_width_us": (1, 1000, "The pulse width is a whole number of µs from 1 to 1000."),
    "battery_pct": (0, 100, "The battery is a whole percentage from 0 to 100."),
    "pain_before": (0, 10, "Pain before is a whole number from 0 (none) to 10 (worst)."),
    "pain_after": (0, 10, "Pain after is a whole number from 0 (none) to 10 (worst)."),
}
TEXT_LIMITS = {
    "manufacturer": (80, "manufacturer"),
    "model": (80, "model"),
    "serial_number": (80, "serial number"),
    "lead_locations": (200, "lead locations"),
    "contacts": (120, "active contacts"),
    "impedance_ohms": (200, "impedances"),
    "notes": (4000, "notes"),
}


def clean_text(value: str | None, name: str, required: bool = False) -> str | None:
    """A text value without surrounding spaces (None when empty), refused when over its limit."""
    cleaned = (value or "").strip()
    limit, words = TEXT_LIMITS[name]
    if required and not cleaned:
        raise DomainError(f"Enter the {words}.", name)
    if len(cleaned) > limit:
        raise DomainError(f"Shorten the {words} to {limit} characters at most.", name)
    return cleaned or None
