"""What a fire runs: the missed-run policies, applied when a due time fires (late or not).

The firing step (any node converting a timer's fire into runs) calls ``plan_fire`` with the
due time that fired, the time now and the schedule's policy, and gets the due times to run
(each becomes one ordinary task, its id derived from schedule id + due time) and the next
due time to arm. Pure: the clock is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from prsm_tasks.schedules.rules import TimeRule

MisfirePolicy = Literal["run_once", "skip", "backfill"]
MISFIRE_POLICIES: tuple[MisfirePolicy, ...] = ("run_once", "skip", "backfill")
DEFAULT_BACKFILL_LIMIT = 10
MAX_BACKFILL_LIMIT = 1000
# a fire this late or less is on time: ``skip`` still runs it
ON_TIME_GRACE = timedelta(seconds=60)


@dataclass(frozen=True)
class FirePlan:
    run_at: tuple[datetime, ...]  # due times to run, oldest first
    next_due: datetime | None  # the first due time after now (None: the schedule is done)
    missed: bool  # due times passed without a run (every node was down, or it was paused)


def plan_fire(
    rule: TimeRule,
    due: datetime,
    now: datetime,
    policy: MisfirePolicy = "run_once",
    *,
    backfill_limit: int = DEFAULT_BACKFILL_LIMIT,
    grace: timedelta = ON_TIME_GRACE,
) -> FirePlan:
    """The runs of a fire of ``due`` handled at ``now`` (both UTC).

    - ``run_once``: one run, for the latest due time passed (all missed ones in one);
    - ``skip``: the latest due time runs only if it is within ``grace`` of now, else none;
    - ``backfill``: every due time from ``due`` to now, the latest ``backfill_limit`` of them.

    A fire before its time (a clock ahead) runs nothing and re-arms the same due time.
    """
    if now < due:
        return FirePlan(run_at=(), next_due=due, missed=False)
    latest = rule.latest_at_or_before(now) or due
    latest = max(latest, due)
    next_due = rule.next_after(now)
    missed = latest > due or now - latest > grace
    if policy == "skip":
        runs: tuple[datetime, ...] = (latest,) if now - latest <= grace else ()
    elif policy == "backfill":
        runs = backfill(rule, due, latest, limit=backfill_limit)
    else:
        runs = (latest,)
    return FirePlan(run_at=runs, next_due=next_due, missed=missed)


def backfill(
    rule: TimeRule, due: datetime, latest: datetime, *, limit: int
) -> tuple[datetime, ...]:
    """The due times in [due, latest], the newest ``limit`` of them, oldest first: walked
    back from ``latest`` so a long outage costs ``limit`` steps, not one per missed time."""
    found = [latest]
    while len(found) < max(1, limit):
        previous = rule.latest_at_or_before(found[-1] - timedelta(microseconds=1))
        if previous is None or previous < due:
            break
        found.append(previous)
    return tuple(reversed(found))
