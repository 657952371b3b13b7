"""Running a stopped task again: the hub's retry and a persistent job's resume.

The same task (same id, its attempts and its record's history kept) goes from its final
state back to ``enqueued`` by compare-and-set (``models.requeue``), then gets a work
message. That message is never a first one: a node claims the task before running it (the
cancel memory may remember the task, see store/cancels.py), so a stale message of the
task's earlier life cannot start it twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from prsm_tasks import models
from prsm_tasks.errors import TransitionConflictError
from prsm_tasks.models import TaskRecord
from prsm_tasks.store.events import event_payload
from prsm_tasks.store.tasks import TaskStore, encode_record
from prsm_tasks.store.work import WorkWriter, enqueued_data

log = structlog.get_logger("prsm.requeue")

MAX_REASON_CHARS = 200


async def requeue(
    writer: WorkWriter,
    store: TaskStore,
    task_id: str,
    *,
    reason: str,
    by: str | None,
    check: Callable[[TaskRecord], None] | None = None,
) -> TaskRecord:
    """Run final task ``task_id`` again; ``check`` (the caller's access or precondition rule,
    raising a PrsmError) sees every record read before it is changed. TaskNotFinalError
    (409) for a task that has not stopped."""
    reason = reason[:MAX_REASON_CHARS]
    record, rev = await store.get(task_id)
    while True:
        if check is not None:
            check(record)
        again = models.requeue(record, now=time.time(), reason=reason, by=by)
        try:
            new_rev = await store.put(again, last_rev=rev)
            break
        except TransitionConflictError:
            record, rev = await store.get(task_id)
    await writer.events.publish(
        event_payload(
            again,
            "task_enqueued",
            now=time.time(),
            data={**enqueued_data(again), "requeued": reason, "attempt": again.attempt + 1},
        )
    )
    # its own message id: the task's first message may be inside the duplicate window still
    await writer.sends.send(
        again, new_rev, encode_record(again), first=False, msg_id=f"{task_id}.{new_rev}"
    )
    log.info("task_requeued", task_id=task_id, reason=reason, by=by)
    return again
