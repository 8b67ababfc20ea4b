"""Relief courses: how long each procedure type relieves pain, and the follow-up calls and
pain-diary entries that show it."""

import math
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import lru_cache

from clinic.demo.run import DemoClinic
from clinic.services.followup.schedules import due_dates
from clinic.services.relief.eligibility import PastProcedure


@dataclass(frozen=True)
class ReliefModel:
    """How a procedure type behaves in the demo, after the published ranges.

    Epidural steroids: about two thirds respond, relief lasting a median of 2–3 months.
    Facet injections: around three months. Medial branch blocks are diagnostic (relief for
    hours to a day or two). Radiofrequency ablation: 6–12 months. Stimulator trials: most
    patients report ≥ 50% relief; implants give relief lasting years.
    """

    responder_rate: float
    median_days: float
    spread: float = 0.5  # standard deviation of log(duration)


RELIEF_MODELS = {
    "ESI-TF": ReliefModel(0.65, 80),
    "ESI-IL": ReliefModel(0.60, 70),
    "ESI-CA": ReliefModel(0.55, 60),
    "FJI": ReliefModel(0.55, 90),
    "MBB": ReliefModel(0.75, 1.5, 0.3),
    "RFA": ReliefModel(0.70, 270, 0.4),
    "SCS-TRIAL": ReliefModel(0.75, 30, 0.2),
    "SCS-IMPLANT": ReliefModel(0.80, 1100, 0.6),
}
DIARY_RATE = 0.7  # courses followed in the clinic's pain-diary app as well as by phone
# The app asks for a score once a week for six months after a procedure, then every four
# weeks to the end of the year.
DIARY_WEEKS = [*range(1, 27), *range(30, 53, 4)]
DIARY_DROPOUT = 0.02  # and each week a few patients stop answering it
TRIAL_DIARY_DAYS = 7  # a stimulator trial is judged on the patient's daily diary of its week
_due_dates = lru_cache(maxsize=None)(due_dates)  # the same few thousand days, over and over


@dataclass
class Relief:
    """What a completed procedure did, and the follow-up scores that show it."""

    responder: bool
    days: float  # how long relief lasted (0 without relief)
    calls: list[tuple[date, int, int | None, str]]  # (recorded on, NRS, reported %, source)
    diary: list[tuple[date, int, int | None, str]]


def relief_course(
    clinic: DemoClinic,
    code: str,
    baseline: int,
    performed_on: date,
    schedule: str,
    responder: bool | None = None,
) -> Relief:
    """Follow-up scores up to today: calls at the schedule's due dates (a few missed, dates
    jittered) and, for some courses, the pain-diary app's scores over the year after it.

    Medial branch blocks have no diary: their relief lasts hours and is judged on the day. A
    stimulator trial is judged on the patient's daily diary during the trial.
    """
    rng = clinic.rng
    model = RELIEF_MODELS[code]
    if responder is None:
        responder = rng.random() < model.responder_rate
    duration = rng.lognormvariate(math.log(model.median_days), model.spread) if responder else 0
    # How deep relief goes. A stimulator trial goes on to an implant only with ≥ 50% relief,
    # and the trials in the demo are the ones that gave it.
    depth = {"MBB": (0.85, 1.0), "SCS-TRIAL": (0.65, 0.95)}.get(code, (0.5, 0.95))
    depth = rng.uniform(*depth)
    today = clinic.today

    def score(recorded_on: date, source: str) -> tuple[date, int, int | None, str]:
        elapsed = (recorded_on - performed_on).days
        if responder and elapsed < duration:
            relief = depth * rng.uniform(0.9, 1.05)
        else:
            relief = rng.uniform(0.0, 0.35)
        nrs = max(0, min(10, round(baseline * (1 - min(relief, 1.0)))))
        reported = None
        if rng.random() < 0.4:
            reported = max(0, min(100, round(100 * relief + rng.uniform(-8, 8))))
        return recorded_on, nrs, reported, source

    calls, diary = [], []
    used: set[date] = set()
    for due in _due_dates(performed_on, schedule):
        # Calls are made a few days either side of the due date; early calls jitter less.
        spread = min(3, (due - performed_on).days // 4)
        recorded_on = due + timedelta(days=rng.randint(-spread, spread))
        if recorded_on in used:
            continue
        used.add(recorded_on)
        # Calls whose window is still open have not been made yet; some patients never answer
        # (a stimulator trial is followed by the patient's own diary, which always comes back,
        # and the clinic always gets a block's result: the ablation depends on it).
        if (
            recorded_on <= performed_on
            or due >= today - timedelta(days=7)
            or (code not in ("SCS-TRIAL", "MBB") and rng.random() < 0.15)
        ):
            continue
        calls.append(score(recorded_on, rng.choice(["phone", "phone", "visit", "self_report"])))
    if code == "SCS-TRIAL":
        days = [performed_on + timedelta(days=day) for day in range(1, TRIAL_DIARY_DAYS + 1)]
    elif code != "MBB" and rng.random() < DIARY_RATE:
        days = []
        for week in DIARY_WEEKS:
            if rng.random() < DIARY_DROPOUT:
                break
            days.append(performed_on + timedelta(days=7 * week + rng.randint(0, 2)))
    else:
        days = []
    for recorded_on in days:
        if recorded_on >= today:
            break
        if recorded_on not in used:
            used.add(recorded_on)
            diary.append(score(recorded_on, "self_report"))
    return Relief(responder, duration, calls, diary)


def end_diary(clinic: DemoClinic, history: list[PastProcedure], on: date | None) -> None:
    """Write the open diary of the patient's latest procedure, cut after ``on`` when a new
    procedure on that day takes the app over (None: the patient's records end here)."""
    diary, clinic.diary = clinic.diary, None
    if diary is None:
        return
    entries = diary.entries
    if on is not None and entries and entries[-1][0] > on:
        entries = [entry for entry in entries if entry[0] <= on]
        dropped = {entry[0] for entry in diary.entries if entry[0] > on}
        past = history[diary.index]
        history[diary.index] = replace(
            past, scores=[score for score in past.scores if score.recorded_on not in dropped]
        )
    clinic.add_scores(diary.intervention, entries)
