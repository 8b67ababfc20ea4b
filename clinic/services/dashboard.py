"""Today at a glance: the figures each role starts the day with."""

import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, union_all
from sqlalchemy.orm import Session

from clinic.models import Booking, Intervention, PainScore, Patient, ProcedureType, Referral
from clinic.models.patients import archived, not_archived
from clinic.services.followup import calls as followups


@dataclass(frozen=True)
class ManagerFigures:
    month_start: date
    today: date  # the last day counted: today in the current month, else the month's last day
    current: bool  # the month under way (so far), or a month that has ended
    procedures_by_type: list[tuple[str, str, int]]
    attended: int
    no_shows: int
    median_referral_days: float | None
    referral_pairs: int
    calls_done: int
    calls_missed: int
    # Follow-up scores recorded in the month, and those the patients reported themselves.
    followups_recorded: int = 0
    followups_self_reported: int = 0

    @property
    def procedures_total(self) -> int:
        return sum(count for _, _, count in self.procedures_by_type)

    @property
    def previous_month(self) -> date:
        return (self.month_start - timedelta(days=1)).replace(day=1)

    @property
    def next_month(self) -> date | None:
        """The month after, unless this one is still under way."""
        return None if self.current else self.today + timedelta(days=1)

    @property
    def call_window_start(self) -> date:
        """The first day of the 30 days whose closed call windows are counted."""
        return self.today - timedelta(days=followups.MISSED_LOOKBACK_DAYS - 1)

    @property
    def no_show_rate_pct(self) -> float | None:
        booked = self.attended + self.no_shows
        return None if booked == 0 else 100 * self.no_shows / booked

    @property
    def call_completion_pct(self) -> float | None:
        closed = self.calls_done + self.calls_missed
        return None if closed == 0 else 100 * self.calls_done / closed

    @property
    def self_report_pct(self) -> float | None:
        """The share of the month's follow-up scores that patients reported themselves."""
        if self.followups_recorded == 0:
            return None
        return 100 * self.followups_self_reported / self.followups_recorded


def day_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants that bound clinic days ``first`` to ``last`` inclusive."""
    return (
        datetime.combine(first, time(0), tzinfo=zone),
        datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone),
    )


def month_end(month_start: date) -> date:
    """The last day of the month that starts on ``month_start``."""
    return (month_start + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def manager_figures(
    session: Session, today: date, zone: ZoneInfo, month: date | None = None
) -> ManagerFigures:
    """A month's procedures by type, no-show rate, referral-to-procedure days and calls made.

    This month so far by default; ``month`` (any day in it) looks back at an earlier month,
    counted to its last day, with the calls whose window closed in the 30 days to then. A
    month still to come is this month.
    """
    month_start = (month or today).replace(day=1)
    current = month_start >= today.replace(day=1)
    if current:
        month_start = today.replace(day=1)
    else:
        today = month_end(month_start)
    procedures = session.execute(
        select(ProcedureType.code, ProcedureType.name, func.count(Intervention.id))
        .join(Intervention, Intervention.procedure_type_id == ProcedureType.id)
        .where(
            Intervention.status == "completed",
            Intervention.performed_on.between(month_start, today),
        )
        .group_by(ProcedureType.code, ProcedureType.name)
        .order_by(func.count(Intervention.id).desc(), ProcedureType.code)
    ).all()
    start, end = day_bounds(month_start, today, zone)
    outcomes = dict(
        session.execute(
            select(Booking.status, func.count())
            .where(
                Booking.starts_at >= start,
                Booking.starts_at < end,
                Booking.status.in_(("completed", "no_show")),
            )
            .group_by(Booking.status)
        ).all()
    )
    waits = [
        (performed_on - received_on).days
        for performed_on, received_on in session.execute(
            select(Intervention.performed_on, Referral.received_on)
            .join(Referral, Intervention.referral_id == Referral.id)
            .where(
                Intervention.status == "completed",
                Intervention.performed_on.between(month_start, today),
            )
        )
    ]
    recorded, self_reported = _followups_recorded(session, month_start, today)
    # The counts of calls made and missed alone: none coming up.
    calls = followups.call_list(session, today, 0, page_size=0)
    return ManagerFigures(
        month_start=month_start,
        today=today,
        current=current,
        procedures_by_type=[tuple(row) for row in procedures],
        attended=outcomes.get("completed", 0),
        no_shows=outcomes.get("no_show", 0),
        median_referral_days=statistics.median(waits) if waits else None,
        referral_pairs=len(waits),
        calls_done=calls.done_count,
        calls_missed=calls.missed_count,
        followups_recorded=recorded,
        followups_self_reported=self_reported,
    )


def _followups_recorded(session: Session, first: date, last: date) -> tuple[int, int]:
    """Follow-ups (scores recorded after their procedure's performed date) recorded from
    ``first`` to ``last``, and how many of them the patients reported: two counting queries.

    Every score recorded in the span, less those that are no follow-up. Those are the scores
    of procedures performed on or after their own date — so performed in the span or later —
    or with no performed date at all; whereas joining every score of the span to its procedure
    had PostgreSQL read all 200,000 procedures of a clinic of 50,000 patients (85 ms for a
    month). The never-performed grow with the clinic's history (16,000 cancellations and
    no-shows at 50,000 patients), so they are read from an index that holds their ids.
    """
    score = PainScore.__table__
    intervention = Intervention.__table__
    reported = score.c.source == "self_report"
    every, every_reported = session.execute(
        select(func.count(), func.count().filter(reported)).where(
            score.c.recorded_on.between(first, last)
        )
    ).one()
    performed = intervention.c.performed_on
    if session.get_bind().dialect.name == "sqlite":
        # SQLite looks each score's procedure up by its row id: as quick as the scores are few.
        procedures = intervention
    else:
        # PostgreSQL hashes the procedures instead: the two kinds apart, each from the
        # performed-date index alone (an "or" of the two fetched every never-performed
        # procedure's row: 13 ms of the page's 30).
        procedures = union_all(
            select(intervention.c.id, performed).where(performed.is_(None)),
            select(intervention.c.id, performed).where(performed >= first),
        ).subquery("not_followup")
    not_followups, not_followups_reported = session.execute(
        select(func.count(), func.count().filter(reported))
        .select_from(score.join(procedures, procedures.c.id == score.c.intervention_id))
        .where(
            score.c.recorded_on.between(first, last),
            or_(procedures.c.performed_on.is_(None), procedures.c.performed_on >= first),
            or_(
                procedures.c.performed_on.is_(None),
                procedures.c.performed_on >= score.c.recorded_on,
            ),
        )
    ).one()
    return every - not_followups, every_reported - not_followups_reported


@dataclass(frozen=True)
class DeskFigures:
    bookings_today: int
    checked_in: int
    calls_overdue: int
    calls_today: int
    referrals_waiting: int
    patients: int


def desk_figures(session: Session, today: date, zone: ZoneInfo) -> DeskFigures:
    """What the front desk and physicians need first: today's bookings, calls, referrals."""
    start, end = day_bounds(today, today, zone)
    statuses = dict(
        session.execute(
            select(Booking.status, func.count())
            .where(Booking.starts_at >= start, Booking.starts_at < end)
            .group_by(Booking.status)
        ).all()
    )
    # The counts alone, of the calls due by today: 8 days of due dates, not the call list's 51.
    calls = followups.call_list(session, today, 0, page_size=0, missed_lookback_days=0)
    waiting = session.execute(
        select(func.count())
        .select_from(Referral)
        .where(Referral.status.in_(("received", "triaged")), not_archived(Referral.patient_id))
    ).scalar_one()
    # Every patient less the archived: both counted from an index (the archived have their own).
    everyone = select(func.count()).select_from(Patient).scalar_subquery()
    archived_ones = select(func.count()).select_from(Patient).where(archived()).scalar_subquery()
    patients = session.execute(select(everyone - archived_ones)).scalar_one()
    return DeskFigures(
        bookings_today=sum(
            count for status, count in statuses.items() if status not in ("cancelled",)
        ),
        checked_in=statuses.get("checked_in", 0),
        calls_overdue=calls.counts["overdue"],
        calls_today=calls.counts["today"],
        referrals_waiting=waiting,
        patients=patients,
    )
