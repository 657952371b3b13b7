"""Fires of schedules (timer kind ``schedule``) made into runs, by any node (leaderless).

Order of writes, each step idempotent so a node dying anywhere leaves a fire that the
server hands to another node (store/timers.py) and that converts to the same outcome:

1. read the schedule; a fire for a deleted or paused schedule, or one re-armed since (the
   fire's due time is not the record's ``armed_due_at``), is done;
2. ``plan_fire`` (the misfire policy) names the due times to run; each becomes an ordinary
   task through the writer's enqueue path, its id derived from (schedule id, due time): a
   second conversion finds the task there and only makes sure its work message went. A
   schedule with dependencies names the parent runs it waits for in the task's
   ``depends_on``; a run whose parent has not run yet is held instead (services/schedules/
   waits.py);
3. the schedule is moved on by compare-and-set (last/next due time, the armed due time,
   its recent and held runs; a schedule with no next time is ``completed``), only if it
   still holds this fire's due time (a PATCH or pause meanwhile wins);
4. the next timer is armed (and the wait timer, for held runs); only then is the fire
   acknowledged (by the timer actor).

A crash after 2 and before 3 re-runs 2 (finding its tasks there) then 3. A crash after 3
and before 4 leaves the next timer unarmed: the redelivered fire is stale (the record holds
the next due time), and a stale fire arms the record's armed due time again, which replaces
the same timer if it is there (a time passed fires at once and converts as usual).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from nats.js import JetStreamContext

from prsm_tasks.errors import TaskNotFoundError, TooManyDependentsError, ValidationError
from prsm_tasks.schedules.misfire import plan_fire
from prsm_tasks.schedules.record import (
    HeldRun,
    RecentRun,
    ScheduleRecord,
    as_datetime,
    as_epoch,
)
from prsm_tasks.schedules.timer import TIMER_KIND, WAIT_TIMER_KIND
from prsm_tasks.services.mirrors import TypeView
from prsm_tasks.services.schedules.runs import create_run, run_task_id, with_runs
from prsm_tasks.services.schedules.waits import (
    next_wake,
    resolve_run,
    with_held,
    without_parents,
)
from prsm_tasks.store.schedules import ScheduleStore
from prsm_tasks.store.timers import Fire, Timers
from prsm_tasks.store.work import WorkWriter

log = structlog.get_logger("prsm.schedules")

DUE_SLACK_S = 0.05  # a fire this early is due (clocks differ a little)
SAME_DUE_S = 1e-3  # due times are compared as floats read back from msgpack


@dataclass(frozen=True)
class Made:
    """What making one run came to: made, held (a parent has no run yet), or neither."""

    run: RecentRun | None = None
    held: HeldRun | None = None
    deleted: tuple[str, ...] = ()  # parents found deleted (dropped from the record)


@dataclass
class MadeRuns:
    made: list[RecentRun] = field(default_factory=list)
    held: list[HeldRun] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)

    def add(self, one: Made) -> None:
        if one.run is not None:
            self.made.append(one.run)
        if one.held is not None:
            self.held.append(one.held)
        self.deleted.update(one.deleted)


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
            record, _ = await store.get(fire.key)
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
        outcome = MadeRuns()
        for run_at in plan.run_at:
            due = run_at.timestamp()
            task_id = run_task_id(record.schedule_id, due)
            outcome.add(await self.make_run(store, record, task_id, due, trigger=False))
        after = await self._advance(store, record.schedule_id, fire.due, outcome, plan.next_due)
        if after is not None and after.armed_due_at is not None:
            await self._timers.arm(TIMER_KIND, after.schedule_id, after.armed_due_at)
        if after is not None and outcome.held:
            await self.wake_held(store, after)
        log.info(
            "schedule_fired",
            schedule_id=record.schedule_id,
            runs=len(outcome.made),
            held=len(outcome.held),
            missed=plan.missed,
            late_s=round(now - fire.due, 3),
        )
        return None

    async def make_run(
        self,
        store: ScheduleStore,
        record: ScheduleRecord,
        task_id: str,
        due_at: float,
        *,
        trigger: bool,
    ) -> Made:
        """The run ``task_id`` due at ``due_at``, waiting for its parents' runs; held when a
        parent has no run yet; None when it cannot be made (no route, or data this
        deployment refuses): retrying would not help, so the schedule moves on."""
        waits = await resolve_run(store, record, due_at)
        now = time.time()
        if not waits.ready:
            held = HeldRun(
                task_id=task_id,
                due_at=due_at,
                created_at=now,
                trigger=trigger,
                waiting_on=list(waits.waiting_on),
            )
            return Made(held=held, deleted=waits.deleted)
        try:
            made = await create_run(
                self._writer,
                self._types,
                record,
                task_id,
                due_at=None if trigger else due_at,
                trigger=trigger,
                waits=waits,
            )
        except (ValidationError, TooManyDependentsError) as exc:
            # refusals a second try would meet again (a parent run that gates as many runs as
            # the engine lets one task gate): the run is not made and the schedule moves on
            log.error("schedule_run_refused", schedule_id=record.schedule_id, error=exc.message)
            return Made(deleted=waits.deleted)
        if not made:
            return Made(deleted=waits.deleted)
        run = RecentRun(task_id=task_id, due_at=due_at, created_at=now, trigger=trigger)
        return Made(run=run, deleted=waits.deleted)

    async def wake_held(self, store: ScheduleStore, record: ScheduleRecord) -> None:
        """Arm the record's wait timer for its held runs (a re-arm replaces the pending one)."""
        wake = await next_wake(store, record)
        if wake is not None:
            await self._timers.arm(WAIT_TIMER_KIND, record.schedule_id, wake)

    async def _advance(
        self,
        store: ScheduleStore,
        schedule_id: str,
        fired_due: float,
        outcome: MadeRuns,
        next_due: datetime | None,
    ) -> ScheduleRecord | None:
        """Move the schedule past this fire, if it still holds it; the record written."""

        def change(record: ScheduleRecord) -> ScheduleRecord:
            if record.armed_due_at is None or abs(record.armed_due_at - fired_due) > SAME_DUE_S:
                return record  # a PATCH, pause or another conversion came first
            next_epoch = as_epoch(next_due)
            fired = [*outcome.made, *outcome.held]
            return record.model_copy(
                update={
                    "last_due_at": max((run.due_at for run in fired), default=record.last_due_at),
                    "next_due_at": next_epoch,
                    "armed_due_at": next_epoch,
                    "status": "scheduled" if next_epoch is not None else "completed",
                    "recent_runs": with_runs(record, outcome.made),
                    "held_runs": with_held(record, outcome.held),
                    "dependencies": without_parents(record, outcome.deleted),
                    "updated_at": time.time(),
                }
            )

        try:
            before, after, _ = await store.update(schedule_id, change)
        except TaskNotFoundError:
            return None
        return after if after is not before else None

    async def _rearm(self, record: ScheduleRecord) -> None:
        """A stale fire: the record moved on. If its converter died before arming the next
        timer, this is the one chance left to arm it (the same timer again is harmless)."""
        if record.armed_due_at is not None:
            await self._timers.arm(TIMER_KIND, record.schedule_id, record.armed_due_at)
        if record.held_runs:
            await self.wake_held(await self.store(), record)
