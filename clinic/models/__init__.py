"""Every model of Clinic, re-exported so that Alembic sees every table."""

from clinic.models.audit import AUDIT_ACTIONS, AuditEvent
from clinic.models.base import Base
from clinic.models.devices import ScsDevice, StimulatorAdjustment
from clinic.models.followup import FollowUpCall, PainScore, ScheduledCall
from clinic.models.medications import Drug, MedicationGiven, SteroidLimit
from clinic.models.patients import CONDITION_LABELS, CONDITIONS, SEXES, Patient
from clinic.models.referrals import REFERRAL_STATUSES, URGENCIES, Referral
from clinic.models.relief import SPINAL_REGIONS, RepeatEligibilityRule, SpinalLevelRegion
from clinic.models.relief_cache import ReliefDataVersion, ReliefReportCache
from clinic.models.reminders import REMINDER_STATUSES, ReminderEmail
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
from clinic.models.selfreport import DiaryEntry, LinkGuess, SelfReportLink
from clinic.models.sessions import PhysicianSession, SessionException, VisitKindLength
from clinic.models.staff import ROLE_LABELS, ROLES, LoginAttempt, StaffSession, StaffUser

__all__ = [
    "AUDIT_ACTIONS",
    "BOOKING_STATUSES",
    "CONDITIONS",
    "CONDITION_LABELS",
    "LATERALITIES",
    "REFERRAL_STATUSES",
    "ROLES",
    "REMINDER_STATUSES",
    "ROLE_LABELS",
    "SEXES",
    "SPINAL_REGIONS",
    "URGENCIES",
    "VISIT_KINDS",
    "AuditEvent",
    "Base",
    "Booking",
    "DiaryEntry",
    "Drug",
    "FollowUpCall",
    "Intervention",
    "LinkGuess",
    "LoginAttempt",
    "MedicationGiven",
    "PainScore",
    "Patient",
    "PhysicianSession",
    "ProcedureType",
    "Referral",
    "ReliefDataVersion",
    "ReliefReportCache",
    "ReminderEmail",
    "RepeatEligibilityRule",
    "Room",
    "ScheduledCall",
    "ScsDevice",
    "SelfReportLink",
    "SessionException",
    "SpinalLevelRegion",
    "StaffSession",
    "StaffUser",
    "SteroidLimit",
    "StimulatorAdjustment",
    "Visit",
    "VisitKindLength",
]
