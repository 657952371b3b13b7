"""Fires of schedules (timer kind ``schedule``) made into runs, by any node (leaderless).

Order of writes, each step idempotent so a node dying anywhere leaves a fire that the
server hands to another node (store/timers.py) and that converts to the same outcome:

1. read the schedule; a fire for a deleted or paused schedule, or one re-armed since (the
   fire's due time is not the record's ``armed_due_at``), is done;
2. ``plan_fire`` (the misfire policy) names the due times to run; each becomes an ordinary
   task through the writer's enqueue path, its id derived from (schedule id, due time): a
   second conversion finds the task there and only makes sure its work message went;
3. the schedule is moved on by compare-and-set (last/next due time, the armed due time,
   its recent runs; a schedule with no next time is ``completed``), only if it still holds
   this fire's due time (a PATCH or pause meanwhile wins);
4. the next timer is armed; only then is the fire acknowledged (by the timer actor).

A crash after 2 and before 3 re-runs 2 (finding its tasks there) then 3. A crash after 3
and before 4 leaves the next timer unarmed: the redelivered fire is stale (the record holds
the next due time), and a stale fire arms the record's armed due time again, which replaces
the same timer if it is there (a time passed fires at once and converts as usual).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import structlog
from nats.js import JetStreamContext

from prsm_tasks.errors import TaskNotFoundError, ValidationError
from prsm_tasks.schedules.misfire import plan_fire
from prsm_tasks.schedules.record import (
    RecentRun,
    ScheduleRecord,
    as_datetime,
    as_epoch,
)
from prsm_tasks.schedules.timer import TIMER_KIND
from prsm_tasks.services.mirrors import TypeView
from prsm_tasks.services.schedules.runs import create_run, run_task_id, with_runs
from prsm_tasks.store.schedules import ScheduleStore
from prsm_tasks.store.timers import Fire, Timers
from prsm_tasks.store.work import WorkWriter

log = structlog.get_logger("prsm.schedules")

DUE_SLACK_S = 0.05  # a fire this early is due (clocks differ a little)
SAME_DUE_S = 1e-3  # due times are compared as floats read back from msgpack


class ScheduleFires:
    """The node's handler of kind ``schedule`` (registered with its TimerHandlers)."""

    def __init__(
        self, js: JetStreamContext, writer: WorkWriter, timers: Timers, types: TypeView
    ) -> None:
        self._js = js
        self._writer = writer
        self._timers = timers
        self._types = types
        self._store: ScheduleStore | None = None

    async def store(self) -> ScheduleStore:
        if self._store is None:
            self._store = await ScheduleStore.open(self._js)
        return self._store

    async def on_fire(self, fire: Fire) -> float | None:
        store = await self.store()
        try:
            record, rev = await store.get(fire.key)
        except TaskNotFoundError:  # deleted: its runs already made stay
            return None
        if record.status != "scheduled" or record.armed_due_at is None:
            return None  # paused or completed
        if abs(record.armed_due_at - fire.due) > SAME_DUE_S:
            await self._rearm(record)
            return None
        now = time.time()
        if fire.due > now + DUE_SLACK_S:
            return fire.due - now
        due_at = as_datetime(fire.due)
        assert due_at is not None
        plan = plan_fire(
            record.rule(),
            due_at,
            datetime.fromtimestamp(max(now, fire.due), UTC),
            record.misfire_policy,
            backfill_limit=record.backfill_limit,
        )
        made = [await self._make_run(record, run_at.timestamp()) for run_at in plan.run_at]
        runs = [run for run in made if run is not None]
        after = await self._advance(store, (record, rev), fire.due, runs, plan.next_due)
        if after is not None and after.armed_due_at is not None:
            await self._timers.arm(TIMER_KIND, after.schedule_id, after.armed_due_at)
        log.info(
            "schedule_fired",
            schedule_id=record.schedule_id,
            runs=len(runs),
            missed=plan.missed,
            late_s=round(now - fire.due, 3),
        )
        return None

    async def _make_run(self, record: ScheduleRecord, due_at: float) -> RecentRun | None:
        """The run of ``due_at``; None when it cannot be made (no route, or data this
        deployment refuses): retrying the fire would not help, so the schedule moves on."""
        task_id = run_task_id(record.schedule_id, due_at)
        try:
            made = await create_run(self._writer, self._types, record, task_id, due_at=due_at)
        except ValidationError as exc:
            log.error("schedule_run_refused", schedule_id=record.schedule_id, error=exc.message)
            return None
        if not made:
            return None
        return RecentRun(task_id=task_id, due_at=due_at, created_at=time.time())

    async def _advance(
        self,
        store: ScheduleStore,
        read: tuple[ScheduleRecord, int],
        fired_due: float,
        runs: list[RecentRun],
        next_due: datetime | None,
    ) -> ScheduleRecord | None:
        """Move the schedule past this fire, if it still holds it; the record written.
        ``read`` (the fire's own read) is tried first: one read less per fire, and a record
        changed since loses the compare-and-set and is read again."""

        def change(record: ScheduleRecord) -> ScheduleRecord:
            if record.armed_due_at is None or abs(record.armed_due_at - fired_due) > SAME_DUE_S:
                return record  # a PATCH, pause or another conversion came first
            next_epoch = as_epoch(next_due)
            return record.model_copy(
                update={
                    "last_due_at": runs[-1].due_at if runs else record.last_due_at,
                    "next_due_at": next_epoch,
                    "armed_due_at": next_epoch,
                    "status": "scheduled" if next_epoch is not None else "completed",
                    "recent_runs": with_runs(record, runs),
                    "updated_at": time.time(),
                }
            )

        try:
            before, after, _ = await store.update(read[0].schedule_id, change, read=read)
        except TaskNotFoundError:
            return None
        return after if after is not before else None

    async def _rearm(self, record: ScheduleRecord) -> None:
        """A stale fire: the record moved on. If its converter died before arming the next
        timer, this is the one chance left to arm it (the same timer again is harmless)."""
        if record.armed_due_at is not None:
            await self._timers.arm(TIMER_KIND, record.schedule_id, record.armed_due_at)
