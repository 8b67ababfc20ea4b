"""Each intervention's follow-up scores added up by the database, as ``relief.summarise`` does.

The relief report and the ``outcomes`` export judge every completed intervention in the clinic,
and a large practice has ten pain scores for each. Sending every score to Python to be summed
there costs more than the database's own read of them, so the database sums them instead and
sends one row per intervention: the ``relief.FollowUps`` of DESIGN.md section 4 under each
threshold asked for. ``relief.judge`` turns that row into an outcome, with the same rules as
every other page; ``tests/test_relief_sums.py`` holds this SQL to ``relief.summarise`` on random
histories, on SQLite and PostgreSQL.

How each sum is written in SQL:

- A score's percent relief is its reported percent, else ``100 × (baseline − NRS) / baseline``
  for a baseline ≥ 1 (else no percent), computed in double precision as Python computes it, so
  that a threshold compares the same float (IEEE division of the same two exact numbers).
- Only scores dated after the performed date are summed (the join says so); there is at most
  one score per intervention per date (a unique constraint), so "the first score" by date is
  one score and ``min(recorded_on)`` finds it.
- The onset is the first relieved date; relief is lost at the first date after it that is not
  relieved. The onset is needed before the loss can be found, so a window over the
  intervention's scores gives every score its intervention's onset (and best percent), and the
  outer aggregate then takes the first unrelieved date after it. Both are ``FILTER``ed
  aggregates, which SQLite (3.30+) and PostgreSQL share.
"""

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Float, FromClause, Subquery, and_, case, cast, func, select

from clinic.models import PainScore
from clinic.services.relief import FollowUps

pain_score = PainScore.__table__

# The columns of the summed row, in order, after the intervention id.
_COMMON = ("followups", "last_on", "best_pct", "best_on")


def per_intervention(
    interventions: FromClause, thresholds: Sequence[float], known_on: date | None = None
) -> Subquery:
    """One row per intervention of ``interventions`` that has a follow-up score.

    ``interventions`` must have the columns ``id``, ``performed_on`` and ``baseline_nrs``. With
    ``known_on``, only scores recorded on or before that date count (what was known then). The
    row's columns are ``intervention_id``, then ``followups``, ``last_on``, ``best_pct`` and
    ``best_on``, then ``onset_on_N`` and ``lost_on_N`` for each threshold, N its position;
    ``columns`` selects them and ``read`` reads them back.
    """
    baseline = interventions.c.baseline_nrs
    percent = case(
        (pain_score.c.percent_relief.is_not(None), cast(pain_score.c.percent_relief, Float)),
        (baseline >= 1, cast(100 * (baseline - pain_score.c.nrs), Float) / cast(baseline, Float)),
    )
    known = [] if known_on is None else [pain_score.c.recorded_on <= known_on]
    scored = (
        select(
            pain_score.c.intervention_id,
            pain_score.c.recorded_on,
            percent.label("percent"),
        )
        .select_from(
            pain_score.join(
                interventions,
                and_(
                    interventions.c.id == pain_score.c.intervention_id,
                    # Scores on or before the performed date never count (DESIGN.md section 4).
                    pain_score.c.recorded_on > interventions.c.performed_on,
                ),
            )
        )
        .where(*known)
        .subquery("scored")
    )
    each_intervention = {"partition_by": scored.c.intervention_id}
    onsets = [
        func.min(scored.c.recorded_on)
        .filter(scored.c.percent >= threshold)
        .over(**each_intervention)
        .label(f"onset_on_{n}")
        for n, threshold in enumerate(thresholds)
    ]
    marked = select(
        scored,
        func.max(scored.c.percent).over(**each_intervention).label("best_pct"),
        *onsets,
    ).subquery("marked")
    lost = [
        func.min(marked.c.recorded_on)
        .filter(
            marked.c.recorded_on > marked.c[f"onset_on_{n}"],
            marked.c.percent < threshold,
        )
        .label(f"lost_on_{n}")
        for n, threshold in enumerate(thresholds)
    ]
    return (
        select(
            marked.c.intervention_id,
            func.count().label("followups"),
            func.max(marked.c.recorded_on).label("last_on"),
            func.max(marked.c.best_pct).label("best_pct"),
            func.min(marked.c.recorded_on)
            .filter(marked.c.percent == marked.c.best_pct)
            .label("best_on"),
            *(
                column
                for n, lost_on in enumerate(lost)
                for column in (func.min(marked.c[f"onset_on_{n}"]).label(f"onset_on_{n}"), lost_on)
            ),
        )
        .group_by(marked.c.intervention_id)
        .subquery("summed")
    )


def columns(sums: Subquery, thresholds: Sequence[float]) -> list[Any]:
    """The summed columns to select beside an intervention's own, in the order ``read`` takes."""
    return [sums.c[name] for name in _COMMON] + [
        sums.c[f"{kind}_on_{n}"] for n in range(len(thresholds)) for kind in ("onset", "lost")
    ]


def read(values: Sequence[Any], thresholds: int) -> list[FollowUps]:
    """The ``FollowUps`` under each threshold from the ``columns`` values of one row.

    An intervention with no follow-up score has no summed row (an outer join gives NULLs):
    a count of 0.
    """
    count, last_on, best_pct, best_on = values[:4]
    if count is None:
        return [FollowUps()] * thresholds
    return [
        FollowUps(count, last_on, best_pct, best_on, values[4 + 2 * n], values[5 + 2 * n])
        for n in range(thresholds)
    ]
