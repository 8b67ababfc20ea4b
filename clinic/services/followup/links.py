"""The self-report link: the patient's own way to answer the follow-up question (docs/rules.md,
Self-report links).

Each completed intervention has at most one active link. Its token is derived, never stored:
an HMAC-SHA256, under the server's link key, of the intervention and the link's generation,
cut to 144 bits. The database keeps the generation, when the link was issued, until when it is
valid and the SHA-256 of the token (to find the link from its URL), so a dump of the database
alone reveals no working link, while the discharge sheet and every reminder can show the same
link again. Revoking moves the generation on: the old token can never be derived again.

A link is valid from the performed date until 30 days after the last scheduled follow-up call.
Guesses at links are counted per address in the ``link_guess`` table rather than in the memory
of one app server, so the limit holds however many servers answer.
"""

import base64
import hashlib
import hmac
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from clinic import clock
from clinic.models import Intervention, LinkGuess, PainScore, SelfReportLink
from clinic.services import DomainError
from clinic.services.followup.calls import check_followed_up, offsets_of
from clinic.services.followup.pain_scores import check_score_values, score_on
from clinic.services.followup.schedules import due_dates
from clinic.services.identity.audit import record_event

# A link stays valid this long after the last scheduled follow-up call.
VALID_AFTER_LAST_CALL = timedelta(days=30)
TOKEN_BYTES = 18  # 144 bits, written as 24 URL-safe characters
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{24}")
PATIENT = "patient (self-report link)"


def link_key(config: Mapping) -> bytes:
    """The key links are derived under: ``CLINIC_LINK_KEY``, else one derived from SECRET_KEY."""
    configured = config.get("CLINIC_LINK_KEY")
    if configured:
        return configured.encode()
    return hmac.new(
        str(config["SECRET_KEY"]).encode(), b"clinic self-report link key", hashlib.sha256
    ).digest()


def derive_token(key: bytes, intervention_id: int, generation: int) -> str:
    """The token of an intervention's link of one generation."""
    message = f"self-report-link:{intervention_id}:{generation}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:TOKEN_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_digest(token: str) -> str:
    """The SHA-256 of a token, the only trace of it the database keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


def form_tag(key: bytes, link: SelfReportLink) -> str:
    """A value that binds the patient's form to its link, so a form from another link is refused."""
    message = f"self-report-form:{link.intervention_id}:{link.generation}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def link_url(public_url: str, token: str) -> str:
    """The address a patient opens: ``<public URL>/r/<token>``."""
    return f"{public_url.rstrip('/')}/r/{token}"


def link_for(link: SelfReportLink, key: bytes, public_url: str) -> str:
    """The URL of an active link (as on the discharge sheet and in every reminder)."""
    return link_url(public_url, derive_token(key, link.intervention_id, link.generation))


def valid_until(intervention: Intervention) -> date:
    """30 days after the last scheduled follow-up call (after the performed date when none)."""
    performed_on = check_followed_up(intervention)
    offsets, _ = offsets_of(intervention.procedure_type)
    dues = due_dates(performed_on, offsets)
    return (dues[-1] if dues else performed_on) + VALID_AFTER_LAST_CALL


def is_active(link: SelfReportLink | None, today: date) -> bool:
    """Issued, not revoked and not expired on ``today``."""
    return (
        link is not None
        and link.token_sha256 is not None
        and link.revoked_at is None
        and link.valid_until is not None
        and today <= link.valid_until
    )


def link_of(session: Session, intervention_id: int) -> SelfReportLink | None:
    """The intervention's link row (active or not), if one was ever issued."""
    return session.execute(
        select(SelfReportLink).where(SelfReportLink.intervention_id == intervention_id)
    ).scalar_one_or_none()


def active_links(
    session: Session, intervention_ids: Iterable[int], today: date
) -> dict[int, SelfReportLink]:
    """The active links of several interventions, by intervention id, in one query."""
    ids = list(intervention_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(SelfReportLink).where(
            SelfReportLink.intervention_id.in_(ids),
            SelfReportLink.token_sha256.is_not(None),
            SelfReportLink.revoked_at.is_(None),
            SelfReportLink.valid_until >= today,
        )
    ).scalars()
    return {link.intervention_id: link for link in rows}


def active_link_url(
    session: Session, intervention: Intervention, public_url: str, key: bytes, today: date
) -> str | None:
    """The URL of the intervention's active link, or None when it has none (for reminders)."""
    link = link_of(session, intervention.id)
    return link_for(link, key, public_url) if is_active(link, today) else None


def issue_link(
    session: Session,
    intervention: Intervention,
    key: bytes,
    issued_by_id: int | None,
    today: date,
) -> str:
    """Issue the intervention's link (audited) and return its token; refuse if one is active."""
    check_followed_up(intervention)
    link = link_of(session, intervention.id)
    if is_active(link, today):
        raise DomainError(
            "This procedure already has an active self-report link; revoke it first to issue "
            "a new one."
        )
    until = valid_until(intervention)
    if until < today:
        raise DomainError(
            f"The follow-up of this procedure ended on {(until - VALID_AFTER_LAST_CALL).isoformat()}; "
            f"a link would have expired on {until.isoformat()}."
        )
    if link is None:
        link = SelfReportLink(intervention_id=intervention.id, generation=1)
        session.add(link)
    elif link.token_sha256 is not None:
        link.generation += 1  # an expired link: the next generation replaces it
    token = derive_token(key, intervention.id, link.generation)
    link.token_sha256 = token_digest(token)
    link.issued_at = clock.utcnow()
    link.valid_until = until
    link.revoked_at = None
    link.issued_by_id = issued_by_id
    session.flush()
    record_event(
        session,
        "link_issued",
        record_type="intervention",
        record_id=intervention.id,
        details={"generation": link.generation, "valid_until": until},
    )
    return token


def revoke_link(session: Session, intervention: Intervention, today: date) -> None:
    """End the intervention's active link (audited); its generation moves on."""
    link = link_of(session, intervention.id)
    if link is None or link.token_sha256 is None:
        raise DomainError("This procedure has no self-report link to revoke.")
    revoked_generation = link.generation
    link.generation += 1
    link.token_sha256 = None
    link.revoked_at = clock.utcnow()
    session.flush()
    record_event(
        session,
        "link_revoked",
        record_type="intervention",
        record_id=intervention.id,
        details={"generation": revoked_generation},
    )


def find_link(session: Session, token: str, today: date) -> SelfReportLink | None:
    """The valid link a token names on ``today``, or None (unknown, revoked or expired)."""
    if not TOKEN_SHAPE.fullmatch(token or ""):
        return None
    link = session.execute(
        select(SelfReportLink)
        .options(
            # Its own query: an outer join to the intervention (a booking subclass) reads every
            # booking on SQLite.
            selectinload(SelfReportLink.intervention).joinedload(Intervention.patient),
            selectinload(SelfReportLink.intervention).joinedload(Intervention.procedure_type),
        )
        .where(SelfReportLink.token_sha256 == token_digest(token))
    ).scalar_one_or_none()
    if link is None or not is_active(link, today):
        return None
    intervention = link.intervention
    if (
        intervention.status != "completed"
        or intervention.performed_on is None
        or today < intervention.performed_on
        or intervention.patient.archived
    ):
        return None
    return link


# ---- guessing throttle -------------------------------------------------------------------


def guess_retry_after(
    session: Session, address: str, window: timedelta, limit: int, now: datetime | None = None
) -> int | None:
    """Seconds the address must wait when it has made ``limit`` invalid guesses in the window."""
    now = now or clock.utcnow()
    since = now - window
    count, oldest = session.execute(
        select(func.count(), func.min(LinkGuess.guessed_at)).where(
            LinkGuess.client_address == address, LinkGuess.guessed_at > since
        )
    ).one()
    if count < limit:
        return None
    if oldest.tzinfo is None:  # SQLite aggregates come back without the zone
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return max(1, math.ceil((oldest + window - now).total_seconds()))


def record_guess(session: Session, address: str) -> None:
    """Count one request that named no valid link."""
    session.add(LinkGuess(client_address=address, guessed_at=clock.utcnow()))
    session.flush()


# ---- the patient's answer ----------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What became of a patient's answer: recorded, replacing their own, or a staff score kept."""

    outcome: str  # "recorded", "replaced", "staff_score_kept"
    recorded_on: date


def answer_question(
    session: Session, link: SelfReportLink, nrs: object, percent_relief: object, today: date
) -> Answer:
    """Record the patient's answer as today's ``self_report`` score (audited as a use of the link).

    Answering again the same day replaces that day's self-report, never a score staff
    recorded: then the staff's score stands and the answer is kept in the audit log only.
    """
    intervention = link.intervention
    performed_on = check_followed_up(intervention)
    check_score_values(nrs, percent_relief, "self_report")
    if today <= performed_on:
        raise DomainError(
            "The question about your pain opens the day after your procedure. "
            "Please come back tomorrow.",
            "nrs",
        )
    existing = score_on(session, intervention.id, today)
    if existing is None:
        score = PainScore(
            patient_id=intervention.patient_id,
            intervention_id=intervention.id,
            recorded_on=today,
            nrs=nrs,
            percent_relief=percent_relief,
            source="self_report",
            recorded_by_id=None,
        )
        try:
            with session.begin_nested():
                session.add(score)
                session.flush()
        except IntegrityError:
            existing = score_on(session, intervention.id, today)
            if existing is None:
                raise
        else:
            return _used(session, link, nrs, percent_relief, today, "recorded")
    if existing.source != "self_report":
        return _used(session, link, nrs, percent_relief, today, "staff_score_kept")
    existing.nrs = nrs
    existing.percent_relief = percent_relief
    session.flush()
    return _used(session, link, nrs, percent_relief, today, "replaced")


def _used(
    session: Session,
    link: SelfReportLink,
    nrs: object,
    percent_relief: object,
    today: date,
    outcome: str,
) -> Answer:
    record_event(
        session,
        "link_used",
        record_type="intervention",
        record_id=link.intervention_id,
        details={
            "generation": link.generation,
            "recorded_on": today,
            "nrs": nrs,
            "percent_relief": percent_relief,
            "outcome": outcome,
        },
    )
    return Answer(outcome, today)
