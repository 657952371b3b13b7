"""Held runs made once their parents have run (timer kind ``schedule_wait``), by any node.

A run whose parent schedule had no run at its due time is held in the child's record
(``held_runs``) and the child's wait timer is armed just after the parents' next due times
(services/schedules/waits.py). Its fire, on whichever node gets it:

1. reads the child; deleted, or nothing held: done;
2. resolves each held run again and makes those that can be made now (the same derived
   task ids as at the fire: a second making finds the task and is a no-op);
3. by compare-and-set, moves them from ``held_runs`` to ``recent_runs`` (and updates what
   the others wait on; a deleted parent's dependency is dropped);
4. re-arms the wait timer while runs are still held; then the fire is acknowledged.

A node killed anywhere in this leaves the fire unacknowledged: another node gets it and
does the same again, finding the runs already made. No loop polls: the timer is armed at
the parents' next due times, and a parent's resume or deletion wakes its children.
"""

from __future__ import annotations

import time

import structlog

from prsm_tasks.actors.schedule_fires import MadeRuns, ScheduleFires
from prsm_tasks.errors import TaskNotFoundError
from prsm_tasks.schedules.record import ScheduleRecord
from prsm_tasks.services.schedules.runs import with_runs
from prsm_tasks.services.schedules.waits import without_parents
from prsm_tasks.store.schedules import ScheduleStore
from prsm_tasks.store.timers import Fire

log = structlog.get_logger("prsm.schedules")


class ScheduleWaits:
    """The node's handler of kind ``schedule_wait``, over the node's ScheduleFires."""

    def __init__(self, fires: ScheduleFires) -> None:
        self._fires = fires

    async def on_fire(self, fire: Fire) -> float | None:
        store = await self._fires.store()
        try:
            record, _ = await store.get(fire.key)
        except TaskNotFoundError:  # deleted: what it held goes with it
            return None
        if not record.held_runs:
            return None
        outcome = MadeRuns()
        for held in record.held_runs:
            made = await self._fires.make_run(
                store, record, held.task_id, held.due_at, trigger=held.trigger
            )
            outcome.add(made)
        tried = {held.task_id for held in record.held_runs}
        after = await self._settle(store, record.schedule_id, tried, outcome)
        if after is not None and after.held_runs:
            await self._fires.wake_held(store, after)
        log.info(
            "schedule_held_runs",
            schedule_id=record.schedule_id,
            made=len(outcome.made),
            still_held=len(outcome.held),
        )
        return None

    async def _settle(
        self, store: ScheduleStore, schedule_id: str, tried: set[str], outcome: MadeRuns
    ) -> ScheduleRecord | None:
        """The record with the runs made moved out of ``held_runs``; None when deleted."""
        still = {held.task_id: held for held in outcome.held}

        def change(record: ScheduleRecord) -> ScheduleRecord:
            held = [
                still.get(run.task_id, run)
                for run in record.held_runs
                # tried and not held again: made, or refused for good
                if run.task_id not in tried or run.task_id in still
            ]
            return record.model_copy(
                update={
                    "held_runs": held,
                    "recent_runs": with_runs(record, outcome.made),
                    "dependencies": without_parents(record, outcome.deleted),
                    "updated_at": time.time(),
                }
            )

        try:
            _, after, _ = await store.update(schedule_id, change)
        except TaskNotFoundError:
            return None
        return after
