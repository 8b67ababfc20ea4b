"""The follow-up call list: which calls fall due after each completed procedure, which are still
open, and the attempts at each call.

Clinical rules applied here (docs/rules.md, Follow-up calls):

- Calls fall due at the procedure type's follow-up schedule, text such as ``"2w 6w 3m 6m 12m"``:
  ``d`` days, ``w`` weeks, ``m`` calendar months after the performed date. A month is a
  calendar month (31 January + 1 month = 28 or 29 February), as a clerk counts it.
- A call's **window** runs from 7 days before to 7 days after its due date. A call is **done**
  when a pain score for the intervention is recorded inside its window, or when it was marked
  unreachable or declined. Scores on or before the performed date (the pre-procedure score)
  never answer a call.
- Where a schedule puts calls closer than 14 days apart (medial branch block ``1d 1w 2w``,
  stimulator trial ``3d 1w``) one score can sit in two windows. It then answers the calls that
  had already fallen due (the clerk caught up), and counts as an early answer to a later call
  only when no call had fallen due yet: the day-1 score after a block does not close its
  1-week call. Where windows do not overlap (the default schedule) this is exactly the rule above.

Grouping on the list, for a call still open on ``today``:

- **due today**: due on ``today``;
- **overdue**: due before ``today`` and its window still open (due < today ≤ due + 7 days);
- **coming up**: due in the next ``upcoming_days`` days (today < due ≤ today + 14 by default),
  shown for information only;
- **missed**: the window closed with no score (today > due + 7). Missed calls leave the list;
  the page shows how many were missed in the last 30 days.

An attempt that reaches nobody is counted on the call's ``follow_up_call`` row (created on the
first attempt): "no answer" keeps the call on the list, "unreachable" and "declined" close it.

The list reads the calls from the rows kept for it (``kept.py``: a row for every scheduled
call, rewritten in the same transaction as any change to its procedure, scores or attempts):
the groups and the look-back are counted from an index by due date and state, the open calls
of the list are read as plain values and sorted, and only the page shown loads its records:
five statements, whatever the size of the data.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, literal, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from clinic import clock
from clinic.models import (
    FollowUpCall,
    Intervention,
    Patient,
    ProcedureType,
    ScheduledCall,
    StaffUser,
)
from clinic.models.followup import CALL_OUTCOMES
from clinic.models.patients import not_archived
from clinic.models.scheduling import DEFAULT_FOLLOWUP_SCHEDULE
from clinic.services import DomainError
from clinic.services.followup.schedules import (
    Offset,
    ScheduleError,
    parse_schedule,
    scheduled_calls,
)
from clinic.services.ids import among
from clinic.services.scheduling.bookings import STATUS_LABELS

# A score up to this many days either side of the due date answers the call.
WINDOW_DAYS = 7
UPCOMING_DAYS = 14
# The page counts calls whose window closed, unanswered, in this many past days.
MISSED_LOOKBACK_DAYS = 30

# Outcomes that close a call without a score; "no answer" keeps it open.
CLOSING_OUTCOMES = CALL_OUTCOMES
ATTEMPT_OUTCOMES = ("no_answer", *CLOSING_OUTCOMES)
OUTCOME_LABELS = {"no_answer": "No answer", "unreachable": "Unreachable", "declined": "Declined"}


def window(due_on: date) -> tuple[date, date]:
    """The days on which a recorded score answers the call due on ``due_on``."""
    return due_on - timedelta(days=WINDOW_DAYS), due_on + timedelta(days=WINDOW_DAYS)


def answered_calls(
    performed_on: date, due_on_dates: Iterable[date], score_dates: Iterable[date]
) -> set[date]:
    """The due dates whose call a recorded score answers (see the module docstring).

    A score answers every call already due whose window holds it; a score that precedes
    every call whose window holds it answers the first of those calls only.
    """
    dues = sorted(set(due_on_dates))
    answered: set[date] = set()
    reach = timedelta(days=WINDOW_DAYS)
    for scored_on in score_dates:
        if scored_on <= performed_on:
            continue  # the pre-procedure score is the baseline, not a follow-up
        # The calls whose window holds the score: due within the window's reach of it.
        earliest, latest = scored_on - reach, scored_on + reach
        holding = [d for d in dues if earliest <= d <= latest]
        already_due = [d for d in holding if d <= scored_on]
        answered.update(already_due or holding[:1])
    return answered


def classify(due_on: date, today: date, upcoming_days: int = UPCOMING_DAYS) -> str | None:
    """Where an open call belongs on ``today``: today, overdue, upcoming, missed, or None (later)."""
    if due_on == today:
        return "today"
    if due_on < today:
        return "overdue" if today <= due_on + timedelta(days=WINDOW_DAYS) else "missed"
    if due_on <= today + timedelta(days=upcoming_days):
        return "upcoming"
    return None


@dataclass(frozen=True)
class Call:
    """One follow-up call still to be made: whom to ring, about which procedure, by when."""

    intervention: Intervention
    due_on: date
    offset: Offset
    status: str  # today, overdue, upcoming, missed
    attempts: int
    last_attempt_at: datetime | None
    today: date

    @property
    def patient(self) -> Patient:
        return self.intervention.patient

    @property
    def procedure(self) -> ProcedureType:
        return self.intervention.procedure_type

    @property
    def physician(self) -> StaffUser:
        return self.intervention.physician

    @property
    def performed_on(self) -> date:
        assert self.intervention.performed_on is not None
        return self.intervention.performed_on

    @property
    def window(self) -> tuple[date, date]:
        return window(self.due_on)

    @property
    def days_overdue(self) -> int:
        """Days past the due date (0 today, negative for a call coming up)."""
        return (self.today - self.due_on).days

    @property
    def days_left(self) -> int:
        """Days the window stays open after today (0: today is its last day)."""
        return (self.window[1] - self.today).days

    @property
    def key(self) -> str:
        """Identifies the call on the page: intervention and due date."""
        return f"{self.intervention.id}-{self.due_on.isoformat()}"


GROUPS = ("overdue", "today", "upcoming")


@dataclass
class CallList:
    """The list for one day: calls overdue, due today and coming up, and the count of missed ones.

    Each group holds the calls of its page (all of them when the list is not paged); its count
    is always the whole group's.
    """

    today: date
    upcoming_days: int
    overdue: list[Call] = field(default_factory=list)
    due_today: list[Call] = field(default_factory=list)
    upcoming: list[Call] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GROUPS, 0))
    pages: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GROUPS, 1))
    page_counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GROUPS, 1))
    missed_count: int = 0
    # Calls whose window closed in the look-back period and that were made (score or outcome).
    done_count: int = 0
    # Of those, the calls the patients answered themselves (a self-reported score, no other).
    self_reported_count: int = 0
    # Procedure types whose schedule text cannot be read; their calls use the default schedule.
    schedule_problems: list[str] = field(default_factory=list)


def offsets_of(procedure_type: ProcedureType) -> tuple[list[Offset], str | None]:
    """The type's schedule; an unreadable one falls back to the default so no call is lost."""
    try:
        return parse_schedule(procedure_type.followup_schedule), None
    except ScheduleError as error:
        return parse_schedule(DEFAULT_FOLLOWUP_SCHEDULE), (
            f"{procedure_type.name} ({procedure_type.code}): {error.message} "
            f"Calls are listed at the default schedule ({DEFAULT_FOLLOWUP_SCHEDULE}) until "
            "an administrator corrects it."
        )


@dataclass(frozen=True)
class OpenCall:
    """A call still to be made, before its intervention is loaded for the page."""

    intervention_id: int
    due_on: date
    offset: Offset
    status: str


def call_list(
    session: Session,
    today: date,
    upcoming_days: int = UPCOMING_DAYS,
    *,
    page_size: int | None = None,
    pages: dict[str, int] | None = None,
    missed_lookback_days: int = MISSED_LOOKBACK_DAYS,
) -> CallList:
    """Open follow-up calls for ``today``: overdue, due today, coming up; and the recent misses.

    The calls are read from the kept ``scheduled_call`` rows (``kept.py`` keeps them as the
    data changes): the groups and the look-back's made and missed calls are counted by due
    date and state; then the calls of the page shown of each group (``page_size`` per group,
    at ``pages``; all of them when ``page_size`` is None, none when it is 0) are read in the
    order the clerk works through them and loaded with their attempts, patient, physician and
    procedure. ``upcoming_days`` and ``missed_lookback_days`` of 0 leave out the calls coming
    up and the count of those made or missed. Five statements whatever the size of the data:
    the catalogue, the counts, the pages' calls, their attempts, their records.
    """
    result = CallList(today=today, upcoming_days=upcoming_days)
    # Due dates of interest: from the oldest window that closed within the missed look-back,
    # to the end of the coming-up period.
    first_due = today - timedelta(days=WINDOW_DAYS + missed_lookback_days)
    last_due = today + timedelta(days=upcoming_days)
    read_schedules(session, result)
    count_calls(session, result, first_due, last_due)
    if page_size == 0:
        return result
    shown = pages_of_calls(session, result, page_size, pages or {})
    load_shown(session, result, shown)
    return result


def read_schedules(session: Session, result: CallList) -> None:
    """Note on the list each procedure type whose schedule cannot be read (its calls are kept
    at the default schedule)."""
    # Every type, active or retired: a procedure dropped from the catalogue still has patients
    # to call.
    for procedure_type in session.execute(select(ProcedureType)).scalars():
        _, problem = offsets_of(procedure_type)
        if problem:
            result.schedule_problems.append(problem)


def listed(first_due: date, last_due: date) -> ColumnElement[bool]:
    """SQL: a kept call due in the period, of a patient not archived."""
    return and_(
        ScheduledCall.due_on.between(first_due, last_due),
        not_archived(ScheduledCall.patient_id),
    )


def count_calls(session: Session, result: CallList, first_due: date, last_due: date) -> None:
    """Count the open calls of each group, and the calls whose window closed in the look-back:
    made (by a score or a closing attempt; of those, answered by a self-report alone) or missed."""
    for due_on, state, count in session.execute(
        select(ScheduledCall.due_on, ScheduledCall.state, func.count())
        .where(listed(first_due, last_due))
        .group_by(ScheduledCall.due_on, ScheduledCall.state)
    ):
        status = classify(due_on, result.today, result.upcoming_days)
        if status == "missed":
            if state == "open":
                result.missed_count += count
            else:
                result.done_count += count
                if state == "self_report":
                    result.self_reported_count += count
        elif status is not None and state == "open":
            result.counts[status] += count


def group_dates(result: CallList) -> dict[str, tuple[date, date]]:
    """The due dates of each group on the list."""
    today = result.today
    return {
        "overdue": (today - timedelta(days=WINDOW_DAYS), today - timedelta(days=1)),
        "today": (today, today),
        "upcoming": (today + timedelta(days=1), today + timedelta(days=result.upcoming_days)),
    }


def pages_of_calls(
    session: Session, result: CallList, page_size: int | None, pages: dict[str, int]
) -> dict[str, list[OpenCall]]:
    """The calls of each group's page (a page past the end shows the last), in the order the
    clerk works through them: by due date, the most overdue first (their windows close soonest),
    then by name. One statement: each group's page chosen by the database, in that order."""
    dates = group_dates(result)
    parts = []
    for number, (group, (first, last)) in enumerate(dates.items()):
        count = result.counts[group]
        part = (
            select(
                literal(number).label("group_number"),
                ScheduledCall.intervention_id,
                ScheduledCall.due_on,
                ScheduledCall.schedule_item,
                Patient.name_key,
            )
            .join(Patient, Patient.id == ScheduledCall.patient_id)
            .where(listed(first, last), ScheduledCall.state == "open")
            .order_by(ScheduledCall.due_on, by_code_points(session, Patient.name_key))
            .order_by(ScheduledCall.intervention_id)
        )
        if page_size is not None:
            last_page = max(1, -(-count // page_size))
            page = min(max(1, pages.get(group, 1)), last_page)
            result.pages[group], result.page_counts[group] = page, last_page
            part = part.limit(page_size).offset((page - 1) * page_size)
        parts.append(select(part.subquery()))
    groups = list(dates)
    shown: dict[str, list[OpenCall]] = {group: [] for group in groups}
    offsets: dict[str, Offset] = {}
    rows = sorted(
        session.execute(union_all(*parts)),
        key=lambda row: (row.group_number, row.due_on, row.name_key, row.intervention_id),
    )
    for number, intervention_id, due_on, item, _ in rows:
        if item not in offsets:
            offsets[item] = parse_schedule(item)[0]
        group = groups[number]
        shown[group].append(OpenCall(intervention_id, due_on, offsets[item], group))
    return shown


def by_code_points(session: Session, column: ColumnElement[str]) -> ColumnElement[str]:
    """The column to order by code points on either database (the names' keys are lower-case
    and accent-free, so "Émile" sorts with "Emma"); PostgreSQL's default collation would
    follow language rules instead, and ignore spaces."""
    if session.get_bind().dialect.name == "postgresql":
        return column.collate("C")
    return column


def load_shown(session: Session, result: CallList, shown: dict[str, list[OpenCall]]) -> None:
    """Load the shown calls' attempts, and their interventions with patient, physician and
    procedure: one query each."""
    ids = {call.intervention_id for calls in shown.values() for call in calls}
    if not ids:
        return
    attempts = {
        (row.intervention_id, row.due_on): (row.attempts, row.last_attempt_at)
        for row in session.execute(
            select(
                FollowUpCall.intervention_id,
                FollowUpCall.due_on,
                FollowUpCall.attempts,
                FollowUpCall.last_attempt_at,
            ).where(among(session, FollowUpCall.intervention_id, ids))
        )
    }
    interventions = {
        intervention.id: intervention
        for intervention in session.execute(
            select(Intervention)
            .options(
                joinedload(Intervention.patient),
                joinedload(Intervention.physician),
                joinedload(Intervention.procedure_type),
            )
            .where(among(session, Intervention.id, ids))
        )
        .unique()
        .scalars()
    }
    lists = {"overdue": result.overdue, "today": result.due_today, "upcoming": result.upcoming}
    for group, calls in shown.items():
        for call in calls:
            made, last_attempt_at = attempts.get((call.intervention_id, call.due_on), (0, None))
            lists[group].append(
                Call(
                    intervention=interventions[call.intervention_id],
                    due_on=call.due_on,
                    offset=call.offset,
                    status=call.status,
                    attempts=made,
                    last_attempt_at=last_attempt_at,
                    today=result.today,
                )
            )


def call_label(intervention: Intervention, due_on: date) -> str:
    """'6-week call', naming the scheduled call due on that date ('follow-up call' if none is)."""
    if intervention.performed_on is not None:
        offsets, _ = offsets_of(intervention.procedure_type)
        for due, offset in scheduled_calls(intervention.performed_on, offsets):
            if due == due_on:
                return f"{offset.label} call"
    return "follow-up call"


def check_followed_up(intervention: Intervention) -> date:
    """The performed date of an intervention that can be followed up; refuse any other."""
    if intervention.status != "completed" or intervention.performed_on is None:
        raise DomainError(
            "Pain scores and follow-up calls are for completed procedures; this one is "
            f"{STATUS_LABELS.get(intervention.status, intervention.status).lower()}."
        )
    return intervention.performed_on


class CallAlreadyRecorded(DomainError):
    """The call changed since the list was shown (another attempt, or it was closed)."""


def record_call_attempt(
    session: Session,
    intervention: Intervention,
    due_on: date,
    outcome: str,
    *,
    expected_attempts: int | None = None,
    now: datetime | None = None,
) -> FollowUpCall:
    """Count an attempt at a follow-up call: no answer keeps it open; unreachable or declined close it.

    ``expected_attempts`` is the count the clerk saw; if someone recorded an attempt since, the
    click is refused rather than counted twice.
    """
    if outcome not in ATTEMPT_OUTCOMES:
        raise DomainError(
            f"Unknown call outcome {outcome!r}: use no answer, unreachable or declined.", "outcome"
        )
    performed_on = check_followed_up(intervention)
    offsets, _ = offsets_of(intervention.procedure_type)
    if due_on not in {due for due, _ in scheduled_calls(performed_on, offsets)}:
        raise DomainError(
            f"No follow-up call of this {intervention.procedure_type.code} falls due on "
            f"{due_on.isoformat()}. Reload the call list."
        )
    call = session.execute(
        select(FollowUpCall).where(
            FollowUpCall.intervention_id == intervention.id, FollowUpCall.due_on == due_on
        )
    ).scalar_one_or_none()
    if call is None:
        call = FollowUpCall(intervention_id=intervention.id, due_on=due_on, attempts=0)
    if call.outcome in CLOSING_OUTCOMES:
        raise CallAlreadyRecorded(
            f"This call was already closed as {OUTCOME_LABELS[call.outcome].lower()}. "
            "Nothing was changed."
        )
    if expected_attempts is not None and call.attempts != expected_attempts:
        raise CallAlreadyRecorded(
            "Someone recorded another attempt at this call a moment ago; the list now shows it. "
            "Nothing was changed."
        )
    session.add(call)
    call.attempts += 1
    call.last_attempt_at = now or clock.utcnow()
    if outcome in CLOSING_OUTCOMES:
        call.outcome = outcome
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise CallAlreadyRecorded(
            "Someone recorded an attempt at this call at the same moment; the list now shows it. "
            "Nothing was changed."
        ) from None
    return call
