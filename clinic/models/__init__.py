"""Every model of Clinic, re-exported so that Alembic sees every table."""

from clinic.models.audit import AUDIT_ACTIONS, AuditEvent
from clinic.models.base import Base
from clinic.models.devices import ScsDevice, StimulatorAdjustment
from clinic.models.followup import FollowUpCall, PainScore
from clinic.models.patients import CONDITION_LABELS, CONDITIONS, SEXES, Patient
from clinic.models.referrals import REFERRAL_STATUSES, URGENCIES, Referral
from clinic.models.relief import RepeatEligibilityRule
from clinic.models.scheduling import (
    BOOKING_STATUSES,
    LATERALITIES,
    VISIT_KINDS,
    Booking,
    Intervention,
    ProcedureType,
    Room,
    Visit,
)
from clinic.models.staff import ROLE_LABELS, ROLES, LoginAttempt, StaffSession, StaffUser

__all__ = [
    "AUDIT_ACTIONS",
    "BOOKING_STATUSES",
    "CONDITIONS",
    "CONDITION_LABELS",
    "LATERALITIES",
    "REFERRAL_STATUSES",
    "ROLES",
    "ROLE_LABELS",
    "SEXES",
    "URGENCIES",
    "VISIT_KINDS",
    "AuditEvent",
    "Base",
    "Booking",
    "FollowUpCall",
    "Intervention",
    "LoginAttempt",
    "PainScore",
    "Patient",
    "ProcedureType",
    "Referral",
    "RepeatEligibilityRule",
    "Room",
    "ScsDevice",
    "StaffSession",
    "StaffUser",
    "StimulatorAdjustment",
    "Visit",
]
