"""The pain diary of a diagnostic block (docs/rules.md, The diagnostic-block diary).

A diagnostic block (a procedure type marked diagnostic, seeded: MBB) is judged by the relief in
the hours after it, not the days. On the block's day its self-report link is a diary: the pain
right after, and at 30 minutes, 1, 2, 4, 6 and 8 hours. ``minutes_after`` is the entry's nominal
time point counted from the completion time (the booking's end); an entry for a time point is
accepted from that point until the next one's (the 8-hour entry until 12 hours after), and is
timed when given. Front desk and physicians can type a diary the patient kept on paper.

The block's result: its peak percent relief in the diary, and the hours relief of at least the
threshold lasted — the last time point of the unbroken run of relieved entries that starts at the
first relieved one. Diary entries are not pain scores: the day-based relief rules never read them.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic.models import DiaryEntry, Intervention
from clinic.models.selfreport import DIARY_MINUTES
from clinic.services import DomainError
from clinic.services.followup.calls import check_followed_up
from clinic.services.followup.pain_scores import check_score_values
from clinic.services.relief.rules import DEFAULT_THRESHOLD, format_percent

DIARY_LABELS = {
    0: "right after the block",
    30: "30 minutes after",
    60: "1 hour after",
    120: "2 hours after",
    240: "4 hours after",
    360: "6 hours after",
    480: "8 hours after",
}
# The last entry (8 hours) is accepted until this long after the block.
DIARY_CLOSES_AFTER_MINUTES = 720


def completed_at(intervention: Intervention) -> datetime:
    """The block's completion time, from which the diary's time points are counted."""
    return intervention.ends_at


def window_of(minutes_after: int) -> tuple[int, int]:
    """The minutes after completion during which the entry for a time point is accepted."""
    index = DIARY_MINUTES.index(minutes_after)
    end = DIARY_MINUTES[index + 1] if index + 1 < len(DIARY_MINUTES) else DIARY_CLOSES_AFTER_MINUTES
    return minutes_after, end


def open_point(completion: datetime, now: datetime) -> int | None:
    """The time point whose entry is accepted at ``now``, or None before the first or after the last."""
    elapsed = (now - completion).total_seconds() / 60
    for point in DIARY_MINUTES:
        start, end = window_of(point)
        if start <= elapsed < end:
            return point
    return None


def diary_closes_at(completion: datetime) -> datetime:
    return completion + timedelta(minutes=DIARY_CLOSES_AFTER_MINUTES)


def is_diagnostic(intervention: Intervention) -> bool:
    return bool(intervention.procedure_type.diagnostic)


def entries_of(session: Session, intervention_id: int) -> list[DiaryEntry]:
    """The block's diary entries, earliest time point first."""
    return list(
        session.execute(
            select(DiaryEntry)
            .where(DiaryEntry.intervention_id == intervention_id)
            .order_by(DiaryEntry.minutes_after)
        ).scalars()
    )


def _check_diagnostic(intervention: Intervention) -> None:
    check_followed_up(intervention)
    if not is_diagnostic(intervention):
        raise DomainError(
            f"{intervention.procedure_type.name} is not a diagnostic block; its relief is "
            "followed up by day, not in a diary."
        )


def _check_point(minutes_after: object) -> int:
    if minutes_after not in DIARY_MINUTES or isinstance(minutes_after, bool):
        points = ", ".join(str(m) for m in DIARY_MINUTES)
        raise DomainError(
            f"The diary's time points are {points} minutes after the block, not {minutes_after}.",
            "minutes_after",
        )
    return minutes_after  # type: ignore[return-value]


def _upsert(
    session: Session,
    intervention: Intervention,
    minutes_after: int,
    nrs: int,
    percent_relief: int | None,
    recorded_at: datetime,
    source: str,
    recorded_by_id: int | None,
) -> DiaryEntry:
    entry = session.execute(
        select(DiaryEntry).where(
            DiaryEntry.intervention_id == intervention.id,
            DiaryEntry.minutes_after == minutes_after,
        )
    ).scalar_one_or_none()
    if entry is None:
        entry = DiaryEntry(intervention_id=intervention.id, minutes_after=minutes_after)
        session.add(entry)
    entry.nrs = nrs
    entry.percent_relief = percent_relief
    entry.recorded_at = recorded_at
    entry.source = source
    entry.recorded_by_id = recorded_by_id
    session.flush()
    return entry


def record_self_reported_entry(
    session: Session,
    intervention: Intervention,
    minutes_after: object,
    nrs: object,
    percent_relief: object,
    now: datetime,
) -> DiaryEntry:
    """The patient's diary entry for the time point open now, timed now; any other is refused."""
    _check_diagnostic(intervention)
    point = _check_point(minutes_after)
    check_score_values(nrs, percent_relief, "self_report")
    completion = completed_at(intervention)
    start, end = window_of(point)
    if now < completion + timedelta(minutes=start):
        raise DomainError(
            f"The diary entry {DIARY_LABELS[point]} is not due yet. Please answer it then.",
            "minutes_after",
        )
    if now >= completion + timedelta(minutes=end):
        raise DomainError(
            f"The time for the diary entry {DIARY_LABELS[point]} has passed; "
            "answer the question shown now.",
            "minutes_after",
        )
    return _upsert(session, intervention, point, nrs, percent_relief, now, "self_report", None)  # type: ignore[arg-type]


def record_paper_entry(
    session: Session,
    intervention: Intervention,
    minutes_after: object,
    nrs: object,
    percent_relief: object,
    recorded_at: datetime | None,
    recorded_by_id: int,
    now: datetime,
) -> DiaryEntry:
    """Staff typing one entry of a diary the patient kept on paper, timed when it was written."""
    _check_diagnostic(intervention)
    point = _check_point(minutes_after)
    check_score_values(nrs, percent_relief, "self_report")
    if recorded_at is None:
        raise DomainError("Enter the time the patient wrote this entry.", "recorded_at")
    if recorded_at > now:
        raise DomainError("The time written is in the future; check it.", "recorded_at")
    completion = completed_at(intervention)
    start, end = window_of(point)
    opens, closes = completion + timedelta(minutes=start), completion + timedelta(minutes=end)
    if not opens <= recorded_at < closes:
        raise DomainError(
            f"An entry {DIARY_LABELS[point]} is written from {start} minutes after the block "
            f"until {end} minutes after; this time is "
            f"{int((recorded_at - completion).total_seconds() // 60)} minutes after it. "
            "Check the time or the time point.",
            "recorded_at",
        )
    return _upsert(
        session, intervention, point, nrs, percent_relief, recorded_at, "paper", recorded_by_id
    )  # type: ignore[arg-type]


# ---- the block's result ------------------------------------------------------------------


@dataclass(frozen=True)
class DiaryPoint:
    minutes_after: int
    nrs: int
    percent_relief: int | None


@dataclass(frozen=True)
class DiaryResult:
    """A diagnostic block's result from its diary under one threshold."""

    intervention_id: int
    entries: int
    peak_relief: float | None  # the highest percent relief in the diary
    hours_relieved: float | None  # hours relief ≥ threshold lasted; None when never reached
    threshold: float = DEFAULT_THRESHOLD

    @property
    def responder(self) -> bool | None:
        """Relieved at some time point; None when no entry gives a percent relief."""
        return None if self.peak_relief is None else self.peak_relief >= self.threshold

    def summary(self) -> str:
        """'peak 80% relief; relief ≥ 50% for 4 hours', as the patient page reads it."""
        if self.peak_relief is None:
            return "no relief can be read (no baseline and no percent given)"
        text = f"peak {format_percent(self.peak_relief)}% relief"
        if self.hours_relieved is None:
            return f"{text}; never ≥ {format_percent(self.threshold)}%"
        hours = format_percent(self.hours_relieved)
        unit = "hour" if hours == "1" else "hours"
        return f"{text}; relief ≥ {format_percent(self.threshold)}% for {hours} {unit}"


def entry_relief(baseline: int | None, point: DiaryPoint) -> float | None:
    """An entry's percent relief: the reported percent, else 100 × (baseline − NRS) / baseline."""
    if point.percent_relief is not None:
        return float(point.percent_relief)
    if baseline is None or baseline < 1:
        return None
    return 100 * (baseline - point.nrs) / baseline


def judge_diary(
    intervention_id: int,
    baseline: int | None,
    points: Sequence[DiaryPoint],
    threshold: float = DEFAULT_THRESHOLD,
) -> DiaryResult:
    """Peak relief and hours of relief ≥ threshold: the last time point of the unbroken run of
    relieved entries that starts at the first relieved one."""
    ordered = sorted(points, key=lambda p: p.minutes_after)
    reliefs = [(p.minutes_after, entry_relief(baseline, p)) for p in ordered]
    known = [r for _, r in reliefs if r is not None]
    peak = max(known) if known else None
    hours: float | None = None
    in_run = False
    for minutes, relief in reliefs:
        relieved = relief is not None and relief >= threshold
        if relieved:
            in_run = True
            hours = minutes / 60
        elif in_run:
            break
    return DiaryResult(intervention_id, len(ordered), peak, hours, threshold)


def peak_of(result: "DiaryResult | None") -> float | None:
    """The diary's peak percent relief, for the eligibility rules; None without a diary."""
    return None if result is None else result.peak_relief


def diary_results(
    session: Session, intervention_ids: Iterable[int], threshold: float = DEFAULT_THRESHOLD
) -> dict[int, DiaryResult]:
    """The diary result of each block that has a diary, by intervention id, in one query."""
    ids = list(intervention_ids)
    if not ids:
        return {}
    points: dict[int, list[DiaryPoint]] = defaultdict(list)
    baselines: dict[int, int | None] = {}
    for intervention_id, baseline, minutes, nrs, percent in session.execute(
        select(
            DiaryEntry.intervention_id,
            Intervention.baseline_nrs,
            DiaryEntry.minutes_after,
            DiaryEntry.nrs,
            DiaryEntry.percent_relief,
        )
        .join(Intervention, Intervention.id == DiaryEntry.intervention_id)
        .where(DiaryEntry.intervention_id.in_(ids))
    ):
        baselines[intervention_id] = baseline
        points[intervention_id].append(DiaryPoint(minutes, nrs, percent))
    return {
        intervention_id: judge_diary(intervention_id, baselines[intervention_id], rows, threshold)
        for intervention_id, rows in points.items()
    }
