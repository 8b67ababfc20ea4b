"""Each intervention's follow-up scores added up by the database, as ``relief.summarise`` does.

The relief report and the ``outcomes`` export judge every completed intervention in the clinic,
and a large practice has ten pain scores for each. Sending every score to Python to be summed
there costs more than the database's own read of them, so the database sums them instead and
sends one row per intervention: the ``relief.FollowUps`` of docs/rules.md, Relief and its duration under each
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
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Float,
    FromClause,
    Subquery,
    and_,
    case,
    cast,
    func,
    select,
)

from clinic.models import PainScore
from clinic.services.relief.rules import FollowUps

pain_score = PainScore.__table__

# The columns of each sum, in the order ``read`` takes them; column N of sum n is "{name}_{n}".
_COLUMNS = ("followups", "last_on", "best_pct", "best_on", "onset_on", "lost_on")


class Sum(NamedTuple):
    """One way to add an intervention's follow-ups up: under a threshold, and with ``known_on``
    only the scores recorded on or before that date (what was known then; all when ``None``)."""

    threshold: float
    known_on: date | None = None


def _filtered(aggregate: Any, *conditions: ColumnElement[bool]) -> Any:
    """``aggregate FILTER (WHERE …)``, or the aggregate itself when there is no condition."""
    return aggregate.filter(*conditions) if conditions else aggregate


def per_intervention(interventions: FromClause, sums: Sequence[Sum]) -> Subquery:
    """One row per intervention of ``interventions`` that has a follow-up score, with each sum.

    ``interventions`` must have the columns ``id``, ``performed_on`` and ``baseline_nrs``. The
    row's columns are ``intervention_id``, then for each sum (N its position) ``followups_N``,
    ``last_on_N``, ``best_pct_N``, ``best_on_N``, ``onset_on_N`` and ``lost_on_N``; ``columns``
    selects them and ``read`` reads them back.
    """
    baseline = interventions.c.baseline_nrs
    percent = case(
        (pain_score.c.percent_relief.is_not(None), cast(pain_score.c.percent_relief, Float)),
        (baseline >= 1, cast(100 * (baseline - pain_score.c.nrs), Float) / cast(baseline, Float)),
    )
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
                    # Scores on or before the performed date never count (docs/rules.md, Relief and its duration).
                    pain_score.c.recorded_on > interventions.c.performed_on,
                ),
            )
        )
        .subquery("scored")
    )

    def known(table: Any, known_on: date | None) -> list[ColumnElement[bool]]:
        return [] if known_on is None else [table.c.recorded_on <= known_on]

    each_intervention = {"partition_by": scored.c.intervention_id}
    marks = []
    for n, (threshold, known_on) in enumerate(sums):
        within = known(scored, known_on)
        marks += [
            _filtered(func.max(scored.c.percent), *within)
            .over(**each_intervention)
            .label(f"best_pct_{n}"),
            func.min(scored.c.recorded_on)
            .filter(scored.c.percent >= threshold, *within)
            .over(**each_intervention)
            .label(f"onset_on_{n}"),
        ]
    marked = select(scored, *marks).subquery("marked")
    totals = []
    for n, (threshold, known_on) in enumerate(sums):
        within = known(marked, known_on)
        best, onset = marked.c[f"best_pct_{n}"], marked.c[f"onset_on_{n}"]
        totals += [
            _filtered(func.count(), *within).label(f"followups_{n}"),
            _filtered(func.max(marked.c.recorded_on), *within).label(f"last_on_{n}"),
            func.max(best).label(f"best_pct_{n}"),
            func.min(marked.c.recorded_on)
            .filter(marked.c.percent == best, *within)
            .label(f"best_on_{n}"),
            func.min(onset).label(f"onset_on_{n}"),
            # Relief is lost at the first score after onset that is not relieved.
            func.min(marked.c.recorded_on)
            .filter(marked.c.recorded_on > onset, marked.c.percent < threshold, *within)
            .label(f"lost_on_{n}"),
        ]
    return (
        select(marked.c.intervention_id, *totals)
        .group_by(marked.c.intervention_id)
        .subquery("summed")
    )


def columns(summed: Subquery, sums: Sequence[Sum]) -> list[Any]:
    """The summed columns to select beside an intervention's own, in the order ``read`` takes."""
    return [summed.c[f"{name}_{n}"] for n in range(len(sums)) for name in _COLUMNS]


def read(values: Sequence[Any], sums: int) -> list[FollowUps]:
    """The ``FollowUps`` of each sum from the ``columns`` values of one row.

    An intervention with no follow-up score has no summed row (an outer join gives NULLs), and
    one whose scores all came after ``known_on`` a count of 0: either way, no follow-ups.
    """
    width = len(_COLUMNS)
    found = []
    for n in range(sums):
        count, *rest = values[n * width : (n + 1) * width]
        found.append(FollowUps(count, *rest) if count else FollowUps())
    return found
