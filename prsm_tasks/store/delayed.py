"""Delayed tasks (``eta`` / ``countdown_seconds``): held ``scheduled`` until a server timer
fires, then let into their queue.

Order of writes: the record is created ``scheduled`` with its due time (the producer's
one awaited write, as for any task), then the timer ``task.<task id>`` is armed
(store/timers.py; awaited too, so the caller hears if it failed). When it fires, one node
moves the record scheduled -> enqueued by compare-and-set and sends its work message, as a
batch's release does. Every step is idempotent, so each failure has its repair:

- the producer dies (or NATS fails) between the create and the arm: an enqueue again with
  the same idempotency key arms it; else the repair (store/repair.py) finds the record
  ``scheduled`` once its write aged, and arms it again (a timer already there is replaced
  by the same one), or, when its due time has long passed, releases it itself;
- the node dies between the fire and its acknowledgement: the fire comes again (to any
  node); the record says what is left to do: still scheduled -> release; enqueued and never
  attempted -> send the work message again (harmless if it was sent: see
  ``WorkWriter._resume``); anything else -> nothing;
- a cancel before the due time wins by compare-and-set (scheduled -> cancelled) and disarms
  the timer; a fire that was already made finds the task cancelled and does nothing.
"""

from __future__ import annotations

import time

import structlog

from prsm_tasks import models
from prsm_tasks.errors import PrsmError, TaskNotFoundError, TransitionConflictError
from prsm_tasks.models import TaskRecord, TaskStatus
from prsm_tasks.store.cancels import forbid_unclaimed_start
from prsm_tasks.store.tasks import TaskStore, encode_record, encode_update
from prsm_tasks.store.timers import Fire, Timers
from prsm_tasks.store.work_sends import WorkSender

log = structlog.get_logger("prsm.delayed")

TIMER_KIND = "task"
# a fire this early is treated as due (the server's and this node's clocks differ a little)
DUE_SLACK_S = 0.05


class DelayedTasks:
    """Arm, release and disarm the timers of delayed tasks."""

    def __init__(self, store: TaskStore, sends: WorkSender, timers: Timers) -> None:
        self._store = store
        self._sends = sends
        self.timers = timers

    async def arm(self, record: TaskRecord) -> None:
        assert record.scheduled_for is not None
        await self.timers.arm(TIMER_KIND, record.task_id, record.scheduled_for)

    async def disarm(self, task_id: str) -> None:
        """After a cancel: the timer goes (best effort: a fire finds the task cancelled)."""
        try:
            await self.timers.disarm(TIMER_KIND, task_id)
        except PrsmError as exc:
            log.warning("timer_disarm_failed", task_id=task_id, error=exc.message)

    async def on_fire(self, fire: Fire) -> float | None:
        """The timer handler of kind ``task``: release the task; seconds to wait if not due."""
        return await self.release_due(fire.key)

    async def release_due(self, task_id: str) -> float | None:
        """scheduled -> enqueued and the work message, if due; None when done (or nothing to
        do), else the seconds until it is due."""
        try:
            record, rev = await self._store.get(task_id)
        except TaskNotFoundError:  # expired or purged since: nothing to release
            return None
        while record.status is TaskStatus.SCHEDULED:
            now = time.time()
            due = record.scheduled_for or 0.0
            if due > now + DUE_SLACK_S:
                return due - now
            released = models.release_scheduled(record, now=now)
            payload = encode_update(released, rev)
            try:
                new_rev = await self._store.put_encoded(task_id, payload, last_rev=rev)
            except TransitionConflictError:  # cancelled, or released by a peer meanwhile
                record, rev = await self._store.get(task_id)
                continue
            await self._sends.send(released, new_rev, payload, first=True)
            log.info("task_released", task_id=task_id, late_s=round(now - due, 3))
            return None
        if record.status is TaskStatus.ENQUEUED and not record.attempts:
            # released, then the releaser died before its message was surely stored: send it
            # again, never as a first message (its first may be queued: see WorkWriter._resume)
            await forbid_unclaimed_start(self._store.requests, task_id)
            await self._sends.send(record, rev, encode_record(record), first=False)
        return None

    async def repair(self, task_id: str, *, overdue_s: float) -> bool:
        """The repair found ``task_id`` scheduled: release it if it is more than
        ``overdue_s`` past due (its timer was lost), else arm its timer again (it may never
        have been armed). Whether it released it."""
        found = await self._store.find(task_id)
        if found is None or found[0].status is not TaskStatus.SCHEDULED:
            return False
        record = found[0]
        if (record.scheduled_for or 0.0) + overdue_s < time.time():
            await self.release_due(task_id)
            log.warning("scheduled_task_repaired", task_id=task_id)
            return True
        await self.arm(record)
        return False
