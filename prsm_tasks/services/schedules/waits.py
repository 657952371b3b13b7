"""A run of a schedule with dependencies: which parent runs it waits for, and the runs held
while a parent has none yet.

At fire time (and for a trigger) each dependency resolves to one parent run
(``schedules/dependencies.parent_run``); the run is made as an ordinary task whose
``depends_on`` names them, and the engine holds it ``waiting`` until they are met. A parent
that has not run at all yet cannot be named: the run is *held* in the child's record
(``held_runs``, with the due time it fired for) and the child's wait timer (kind
``schedule_wait``, key the child's id) is armed just after the parents' next due times. Its
fire (``actors/schedule_waits.py``) resolves the held runs again and makes those that can be
made, with the same derived task ids, so a second handling is a no-op.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import structlog

from prsm_tasks.errors import TaskNotFoundError
from prsm_tasks.schedules.dependencies import Resolution, resolve, wake_at
from prsm_tasks.schedules.record import (
    MAX_HELD_RUNS,
    Dependency,
    HeldRun,
    ScheduleRecord,
)
from prsm_tasks.store.schedules import ScheduleStore

log = structlog.get_logger("prsm.schedules")


async def read_parent(store: ScheduleStore, schedule_id: str) -> ScheduleRecord | None:
    try:
        record, _ = await store.get(schedule_id)
    except TaskNotFoundError:
        return None
    return record


async def read_parents(
    store: ScheduleStore, parent_ids: Iterable[str], tenant: str
) -> dict[str, ScheduleRecord | None]:
    """Each parent as read now; None for a deleted one (or one of another tenant, which a
    dependency can never name: it was checked when added, this only keeps it so)."""
    ids = list(dict.fromkeys(parent_ids))
    found = await asyncio.gather(*(read_parent(store, parent_id) for parent_id in ids))
    return {
        parent_id: record if record is not None and record.tenant == tenant else None
        for parent_id, record in zip(ids, found, strict=True)
    }


async def resolve_run(store: ScheduleStore, record: ScheduleRecord, due_at: float) -> Resolution:
    """The parent runs of ``record``'s run due at ``due_at`` (no dependencies: none)."""
    if not record.dependencies:
        return Resolution()
    parents = await read_parents(
        store, (dependency.depends_on for dependency in record.dependencies), record.tenant
    )
    return resolve(record.dependencies, parents, due_at)


async def next_wake(store: ScheduleStore, record: ScheduleRecord) -> float | None:
    """When the wait timer of ``record`` should fire for its held runs; None when none is
    held or every parent they wait on is paused (its resume wakes the child)."""
    waiting = {parent for run in record.held_runs for parent in run.waiting_on}
    if not waiting:
        return None
    parents = await read_parents(store, waiting, record.tenant)
    if any(parent is None for parent in parents.values()):
        return time.time()  # a parent went: look again now, without it
    return wake_at((parent for parent in parents.values() if parent is not None), time.time())


def with_held(record: ScheduleRecord, held: Iterable[HeldRun]) -> list[HeldRun]:
    """The record's held runs and ``held`` (those not there yet), the newest kept: a parent
    that does not fire for long holds at most MAX_HELD_RUNS runs of each child."""
    known = {run.task_id for run in record.held_runs}
    runs = record.held_runs + [run for run in held if run.task_id not in known]
    if len(runs) > MAX_HELD_RUNS:
        log.warning(
            "schedule_held_runs_dropped",
            schedule_id=record.schedule_id,
            dropped=[run.task_id for run in runs[:-MAX_HELD_RUNS]],
        )
    return runs[-MAX_HELD_RUNS:]


def without_parents(record: ScheduleRecord, gone: Iterable[str]) -> list[Dependency]:
    """The record's dependencies less those on ``gone`` (deleted parents: ON DELETE CASCADE)."""
    dropped = set(gone)
    return [held for held in record.dependencies if held.depends_on not in dropped]
