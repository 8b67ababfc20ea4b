"""Spinal cord stimulators: the device registry, programming at adjustment visits, each history."""

from clinic.services.devices.history import (
    DeviceHistory,
    StimulatorHistory,
    implant_procedures,
    last_settings,
    open_adjustment_visits,
    stimulator_history,
)
from clinic.services.devices.limits import CPT_LABELS, LIMITS, PARADIGM_LABELS
from clinic.services.devices.programming import (
    OPEN_VISIT_STATUSES,
    AdjustmentDetails,
    check_adjustment_details,
    record_adjustment,
    record_adjustment_visit,
)
from clinic.services.devices.registry import (
    DeviceDetails,
    check_device_version,
    clinic_day,
    clinic_today,
    device_version,
    normalise_serial,
    record_explant,
    register_device,
    update_device,
)

# What the devices pages, their forms and the tests use.
__all__ = [
    "CPT_LABELS",
    "LIMITS",
    "OPEN_VISIT_STATUSES",
    "PARADIGM_LABELS",
    "AdjustmentDetails",
    "DeviceDetails",
    "DeviceHistory",
    "StimulatorHistory",
    "check_adjustment_details",
    "check_device_version",
    "clinic_day",
    "clinic_today",
    "device_version",
    "implant_procedures",
    "last_settings",
    "normalise_serial",
    "open_adjustment_visits",
    "record_adjustment",
    "record_adjustment_visit",
    "record_explant",
    "register_device",
    "stimulator_history",
    "update_device",
]
