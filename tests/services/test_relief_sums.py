"""The database's sums of each intervention's follow-ups are the relief engine's, to the day.

The relief report and the ``outcomes`` export no longer read every pain score: the database adds
them up (``clinic.services.relief.sums``). These tests hold that SQL to ``relief.summarise`` —
the pure Python the patient page still uses — on random histories built to hit every edge the
rules have: scores on and before the performed date, percents reported over the NRS (both
ways), percents exactly at a threshold, pain worse than baseline, no baseline or a baseline of
0, relief regained after it was lost, and interventions with no score at all. They run on
SQLite and on PostgreSQL.
"""

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from clinic.models import Intervention, PainScore
from clinic.services.relief import sums as relief_sums
from clinic.services.relief.rules import FollowUps, Score, assess, judge, summarise
from clinic.services.relief.sums import Sum
from tests.helpers.reports import treat

THRESHOLDS = [50, 30, 80, 1, 100]
performed = date(2025, 3, 3)
intervention = Intervention.__table__


def random_history(chance: random.Random) -> tuple[int | None, list[tuple]]:
    """A baseline and follow-ups (days after the procedure, NRS, reported percent or None)."""
    baseline = chance.choice([None, 0, 1, 3, 4, 7, 8, 10, 10])
    days = chance.sample(range(-6, 400), chance.randint(0, 14))
    scores = []
    for day in days:
        nrs = chance.randint(0, 10)
        # Some reported percents, half of them exactly a threshold.
        percent = None
        if chance.random() < 0.3:
            percent = chance.choice([*THRESHOLDS, 0, chance.randint(0, 100)])
        scores.append((day, nrs, percent))
    return baseline, scores


def summed_in_the_database(db_session, sums: list[Sum]) -> dict[int, list]:
    summed = relief_sums.per_intervention(intervention, sums)
    rows = db_session.execute(
        select(intervention.c.id, *relief_sums.columns(summed, sums)).select_from(
            intervention.outerjoin(summed, summed.c.intervention_id == intervention.c.id)
        )
    )
    return {row[0]: relief_sums.read(row[1:], len(sums)) for row in rows}


def scores_of(db_session) -> dict[int, list[Score]]:
    scores: dict[int, list[Score]] = {}
    rows = db_session.execute(
        select(
            PainScore.intervention_id,
            PainScore.recorded_on,
            PainScore.nrs,
            PainScore.percent_relief,
        )
    )
    for intervention_id, recorded_on, nrs, percent in rows:
        scores.setdefault(intervention_id, []).append(Score(recorded_on, nrs, percent))
    return scores


@pytest.fixture
def histories(db_session):
    chance = random.Random(20261201)
    treated = {}
    for _ in range(160):
        baseline, scores = random_history(chance)
        procedure = treat(performed_on=performed, baseline=baseline, scores=scores)
        treated[procedure.id] = baseline
    db_session.flush()
    return treated


def test_the_database_sums_every_history_as_the_relief_engine_does(db_session, histories):
    in_database = summed_in_the_database(db_session, [Sum(t) for t in THRESHOLDS])
    scores = scores_of(db_session)
    responders = ended = 0
    for intervention_id, baseline in histories.items():
        own = scores.get(intervention_id, [])
        for n, threshold in enumerate(THRESHOLDS):
            expected = summarise(baseline, performed, own, threshold)
            assert in_database[intervention_id][n] == expected, (baseline, own, threshold)
            outcome = judge(baseline, performed, in_database[intervention_id][n], threshold)
            assert outcome == assess(baseline, performed, own, threshold)
            responders += bool(outcome.responder)
            ended += outcome.relief_ongoing is False
    # The random histories reach the cases that matter, not only the easy ones.
    assert responders > 100 and ended > 50
    assert any(not sums[0].count for sums in in_database.values())


def test_scores_after_the_known_date_are_left_out_of_that_sum_only(db_session, histories):
    # As the outcomes export asks: its own sum of every score, beside sums as known on a day.
    known_on = performed + timedelta(days=120)
    sums = [Sum(50), *(Sum(t, known_on) for t in THRESHOLDS), Sum(30, performed)]
    in_database = summed_in_the_database(db_session, sums)
    scores = scores_of(db_session)
    cut = 0
    for intervention_id, baseline in histories.items():
        own = scores.get(intervention_id, [])
        for n, (threshold, on) in enumerate(sums):
            known = [s for s in own if on is None or s.recorded_on <= on]
            cut += len(known) < len(own)
            expected = summarise(baseline, performed, known, threshold)
            assert in_database[intervention_id][n] == expected, (baseline, own, threshold, on)
    assert cut > 100  # the cut really left scores out
    # Known on the performed date itself: no follow-up yet, for everyone.
    assert {sums_of[-1] for sums_of in in_database.values()} == {FollowUps()}


def test_an_intervention_without_follow_ups_reads_as_none(db_session):
    lone = treat(baseline=8, scores=[(0, 8), (-3, 9)])  # only pre-procedure scores
    db_session.flush()
    sums = [Sum(t) for t in THRESHOLDS]
    assert summed_in_the_database(db_session, sums)[lone.id] == [FollowUps()] * len(sums)
