"""The demo's self-report links and medial branch block diaries, added after the histories.

It draws from a random generator of its own, so the rest of the demo is the same whether or not
this runs. Each block's diary agrees with the block's first follow-up score: a block that gave
relief on the day shows its peak in the diary and lasts a few hours (the local anaesthetic).
Links are issued for procedures still being followed up, when the run is given the link key
(the command line passes the app's, so the links work); their tokens are never stored.
"""

import random
from collections.abc import Iterable
from datetime import date, timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from clinic import clock
from clinic.models import DiaryEntry, Intervention, PainScore, ProcedureType, SelfReportLink
from clinic.models.selfreport import DIARY_MINUTES
from clinic.services.followup import links
from clinic.services.followup.calls import offsets_of
from clinic.services.followup.schedules import due_dates

DIARY_SHARE = 0.85  # blocks whose patient kept the diary (the rest were judged by phone)
PAPER_SHARE = 0.2  # diaries kept on paper and typed in by the front desk
LINK_SHARE = 0.7  # procedures still followed up whose patient was given a link


def first_reliefs(session: Session, block_ids: Iterable[int]) -> dict[int, float]:
    """Each block's relief at its first follow-up score (reported %, else from the NRS)."""
    reliefs: dict[int, float] = {}
    rows = session.execute(
        select(
            PainScore.intervention_id,
            PainScore.nrs,
            PainScore.percent_relief,
            Intervention.baseline_nrs,
        )
        .join(Intervention, Intervention.id == PainScore.intervention_id)
        .where(PainScore.intervention_id.in_(list(block_ids)))
        .where(PainScore.recorded_on > Intervention.performed_on)
        .order_by(PainScore.intervention_id, PainScore.recorded_on)
    )
    for intervention_id, nrs, reported, baseline in rows:
        if intervention_id in reliefs:
            continue
        if reported is not None:
            reliefs[intervention_id] = float(reported)
        elif baseline:
            reliefs[intervention_id] = 100 * (baseline - nrs) / baseline
    return reliefs


def add_block_diaries(session: Session, rng: random.Random) -> int:
    """Diary entries for the demo's completed medial branch blocks; returns how many."""
    blocks = session.execute(
        select(Intervention.id, Intervention.baseline_nrs, Intervention.ends_at)
        .join(ProcedureType)
        .where(ProcedureType.diagnostic.is_(True), Intervention.status == "completed")
        .order_by(Intervention.id)
    ).all()
    reliefs = first_reliefs(session, [block.id for block in blocks])
    now = clock.utcnow()
    rows = []
    for block_id, baseline, ends_at in blocks:
        if rng.random() >= DIARY_SHARE or not baseline:
            continue
        peak = reliefs.get(block_id, rng.uniform(0, 35))
        lasts = rng.choice((120, 240, 360, 480)) if peak >= 50 else -1
        source = "paper" if rng.random() < PAPER_SHARE else "self_report"
        for minutes in DIARY_MINUTES:
            relief = peak * rng.uniform(0.95, 1.0) if minutes <= lasts else rng.uniform(0, 30)
            if minutes == 0 and peak >= 50:
                relief = peak  # the block's full effect shows right after it
            recorded_at = ends_at + timedelta(minutes=minutes + rng.randint(0, 15))
            if recorded_at > now:
                break
            nrs = max(0, min(10, round(baseline * (1 - relief / 100))))
            rows.append(
                {
                    "intervention_id": block_id,
                    "minutes_after": minutes,
                    "nrs": nrs,
                    "percent_relief": round(relief) if rng.random() < 0.5 else None,
                    "recorded_at": recorded_at,
                    "source": source,
                    "recorded_by_id": None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    if rows:
        session.execute(insert(DiaryEntry), rows)
    return len(rows)


def add_links(session: Session, rng: random.Random, today: date, key: bytes) -> int:
    """Self-report links for completed procedures whose follow-up has not ended; returns how many."""
    types = {p.id: p for p in session.execute(select(ProcedureType)).scalars()}
    offsets = {type_id: offsets_of(p)[0] for type_id, p in types.items()}
    horizon = today - timedelta(days=13 * 31 + 30)  # the longest schedules end a year on
    candidates = session.execute(
        select(
            Intervention.id,
            Intervention.procedure_type_id,
            Intervention.performed_on,
            Intervention.ends_at,
        )
        .where(Intervention.status == "completed", Intervention.performed_on >= horizon)
        .order_by(Intervention.id)
    ).all()
    now = clock.utcnow()
    rows = []
    for intervention_id, type_id, performed_on, ends_at in candidates:
        dues = due_dates(performed_on, offsets[type_id])
        valid_until = (dues[-1] if dues else performed_on) + links.VALID_AFTER_LAST_CALL
        if valid_until < today or rng.random() >= LINK_SHARE:
            continue
        token = links.derive_token(key, intervention_id, 1)
        rows.append(
            {
                "intervention_id": intervention_id,
                "generation": 1,
                "token_sha256": links.token_digest(token),
                "issued_at": min(ends_at + timedelta(minutes=20), now),
                "valid_until": valid_until,
                "revoked_at": None,
                "issued_by_id": None,
                "created_at": now,
                "updated_at": now,
            }
        )
    if rows:
        session.execute(insert(SelfReportLink), rows)
    return len(rows)


def add_self_report(session: Session, seed: int, today: date, key: bytes | None) -> tuple[int, int]:
    """Block diaries, and links when given the key: (diary entries, links) added."""
    rng = random.Random(f"{seed}-self-report")
    entries = add_block_diaries(session, rng)
    issued = add_links(session, rng, today, key) if key is not None else 0
    return entries, issued
