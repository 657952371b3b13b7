"""A schedule's runs: ordinary tasks, made by a fire (any node) or a manual trigger (an
edge), their ids derived so a second making of the same run is a no-op.

A run's task names its schedule back in its metadata (``schedule_id``, ``schedule_due_at``;
``schedule_trigger`` for a manual one); the schedule keeps its newest runs
(``recent_runs``, bounded). An *execution* is one attempt of a run: its id is the run's
task id and the attempt number (``execution_id``), so any edge resolves it with one read.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import re
import time
from datetime import UTC, datetime

import structlog

from prsm_tasks import wire
from prsm_tasks.errors import ParentTaskNotFoundError, TaskNotFoundError, ValidationError
from prsm_tasks.schedules.dependencies import Resolution
from prsm_tasks.schedules.record import MAX_RECENT_RUNS, HeldRun, RecentRun, ScheduleRecord
from prsm_tasks.services.access import Principal
from prsm_tasks.services.mirrors import TypeView
from prsm_tasks.services.schedules.core import ScheduleService
from prsm_tasks.services.schedules.routing import route_of_record
from prsm_tasks.services.schedules.waits import next_wake, resolve_run, with_held
from prsm_tasks.store.options import TaskOptions
from prsm_tasks.store.work import WorkWriter

log = structlog.get_logger("prsm.schedules")

EXECUTION_ID_RE = re.compile(r"^exec_([0-9a-z]{26})_([1-9][0-9]{0,3})$")
# where the engine's refusal of a ``depends_on`` names the parent not found (store/graph.py)
PARENT_FIELD_RE = re.compile(r"depends_on\[([0-9]{1,3})\]\.task_id")


def run_task_id(schedule_id: str, due_at: float, *, trigger: str | None = None) -> str:
    """The task id of the run of ``schedule_id`` due at ``due_at``: the same for every
    conversion of the same fire (so the second is a no-op). A manual trigger names its own
    ``trigger`` token, in a seed of its own, so it never collides with a due time's run."""
    seed = f"{schedule_id}|{due_at:.3f}" if trigger is None else f"{schedule_id}|t|{trigger}"
    digest = hashlib.sha256(seed.encode()).digest()
    return "task_" + base64.b32encode(digest).decode().lower()[:26]


def execution_id(task_id: str, attempt: int) -> str:
    """Attempt ``attempt`` (from 1) of run ``task_id``."""
    return f"exec_{task_id.removeprefix('task_')}_{attempt}"


def parse_execution_id(value: str) -> tuple[str, int] | None:
    """(run task id, attempt) of an execution id; None for anything else."""
    found = EXECUTION_ID_RE.fullmatch(value)
    if found is None:
        return None
    return "task_" + found.group(1), int(found.group(2))


def run_metadata(
    schedule_id: str, due_at: float | None, *, trigger: bool, waits: Resolution | None = None
) -> dict[str, object]:
    metadata: dict[str, object] = {
        "schedule_id": schedule_id,
        "schedule_due_at": due_at,
        "schedule_trigger": trigger,
    }
    if waits is not None and waits.parent_of_run:
        # which schedule each parent run belongs to: the executions name it without a read
        metadata["schedule_parents"] = dict(waits.parent_of_run)
    return metadata


def with_runs(record: ScheduleRecord, runs: list[RecentRun]) -> list[RecentRun]:
    """The record's recent runs and ``runs`` (those not there yet), the newest kept."""
    known = {run.task_id for run in record.recent_runs}
    recent = record.recent_runs + [run for run in runs if run.task_id not in known]
    return recent[-MAX_RECENT_RUNS:]


async def create_run(
    writer: WorkWriter,
    types: TypeView,
    record: ScheduleRecord,
    task_id: str,
    *,
    due_at: float | None,
    trigger: bool = False,
    waits: Resolution | None = None,
) -> bool:
    """One run of the schedule: an ordinary task with the schedule's options, waiting for
    the parent runs ``waits`` names (the engine holds it ``waiting`` until they are met); a
    run already there (a second conversion) is resumed by the writer, never made twice.
    False when the schedule has no route (its task type went away and it names no queue)."""
    route = route_of_record(types, record)
    if route is None:
        log.warning("schedule_unroutable", schedule_id=record.schedule_id)
        return False
    waits = waits or Resolution()
    for _ in range(len(waits.depends_on) + 1):
        options = TaskOptions(
            priority=record.engine_priority,
            max_retries=record.max_retries,
            timeout_seconds=float(record.timeout_seconds),
            task_type=route.task_type,
            metadata=run_metadata(record.schedule_id, due_at, trigger=trigger, waits=waits),
            depends_on=waits.depends_on or None,
        )
        prepared = writer.prepare(
            route.queue,
            dict(record.payload),
            options,
            user=record.user,
            tenant=record.tenant,
            task_id=task_id,
        )
        try:
            await writer.submit(prepared)
        except ParentTaskNotFoundError as exc:
            gone = gone_parent(exc, waits)
            if gone is None:
                raise
            # the parent's run expired with the tasks' retention: it ended long ago, and
            # nothing is left to wait for
            log.warning("schedule_parent_run_gone", schedule_id=record.schedule_id, run=gone)
            waits = without_run(waits, gone)
            continue
        return True
    return False


def gone_parent(exc: ParentTaskNotFoundError, waits: Resolution) -> str | None:
    """The parent run the engine did not find (its error names ``depends_on[i].task_id``)."""
    found = PARENT_FIELD_RE.fullmatch(exc.field or "")
    if found is None:
        return None
    index = int(found.group(1))
    return waits.depends_on[index].task_id if index < len(waits.depends_on) else None


def without_run(waits: Resolution, task_id: str) -> Resolution:
    return dataclasses.replace(
        waits,
        depends_on=tuple(dep for dep in waits.depends_on if dep.task_id != task_id),
        parent_of_run={
            run: parent for run, parent in waits.parent_of_run.items() if run != task_id
        },
    )


async def trigger(
    schedules: ScheduleService, principal: Principal, schedule_id: str
) -> tuple[str, float]:
    """Run the schedule now, paused or not, beside its due times: (run task id, queued at).
    Its id comes from a fresh token, never from a due time, so it is a run of its own. Its
    dependencies resolve as for a due time of now; a parent with no run yet holds it."""
    record, _ = await schedules.read(schedule_id, principal)
    task_id = run_task_id(record.schedule_id, 0.0, trigger=wire.new_task_id())
    queued_at = time.time()
    services = schedules.services
    if route_of_record(services.types, record) is None:
        raise unroutable()
    resolution = await resolve_run(schedules.store, record, queued_at)
    if not resolution.ready:
        await hold_trigger(schedules, record, task_id, queued_at, resolution)
        return task_id, queued_at
    if not await create_run(
        services.stores.writer,
        services.types,
        record,
        task_id,
        due_at=None,
        trigger=True,
        waits=resolution,
    ):
        raise unroutable()
    run = RecentRun(task_id=task_id, due_at=queued_at, created_at=queued_at, trigger=True)
    # deleted meanwhile: the run stays, named by its metadata
    with contextlib.suppress(TaskNotFoundError):
        await schedules.store.update(
            schedule_id,
            lambda now: now.model_copy(update={"recent_runs": with_runs(now, [run])}),
        )
    return task_id, queued_at


def unroutable() -> ValidationError:
    return ValidationError(
        "queue_name: this task has no queue to run on (its handler type is gone)",
        field="queue_name",
    )


async def hold_trigger(
    schedules: ScheduleService,
    record: ScheduleRecord,
    task_id: str,
    queued_at: float,
    resolution: Resolution,
) -> None:
    """Keep a triggered run in the record until its parents have run, and wake the record's
    wait timer for it (the held run is made by whichever node gets that fire)."""
    held = HeldRun(
        task_id=task_id,
        due_at=queued_at,
        created_at=queued_at,
        trigger=True,
        waiting_on=list(resolution.waiting_on),
    )
    _, after, rev = await schedules.store.update(
        record.schedule_id,
        lambda now: now.model_copy(update={"held_runs": with_held(now, [held])}),
    )
    schedules.index.apply(after, rev)
    wake = await next_wake(schedules.store, after)
    if wake is not None:
        await schedules.timer.wake(record.schedule_id, datetime.fromtimestamp(wake, UTC))
