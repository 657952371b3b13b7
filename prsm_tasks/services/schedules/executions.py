"""A schedule's executions: each attempt of each of its runs still held in the task bucket.

The edge's TaskView indexes the runs by their ``metadata.schedule_id`` (with their attempts'
times and outcomes), so the list's total, its paging and the stats need no scan and no read
per run: only the runs of the page asked for are read from the bucket. The schedule's
``recent_runs`` (its newest 20) stand in for runs the view has not seen yet (made a moment
ago on another node). An execution id names its run's task and the attempt, so any edge
answers it with one read. A run not started yet counts as one pending execution (attempt 1).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from prsm_tasks.errors import TaskAlreadyFinishedError, TaskNotFoundError
from prsm_tasks.models import Attempt, AttemptOutcome, TaskRecord, TaskStatus
from prsm_tasks.schedules.record import HeldRun, ScheduleRecord
from prsm_tasks.services.access import Principal
from prsm_tasks.services.logs import attempt_log_lines
from prsm_tasks.services.schedules.core import ScheduleService, check_schedule_access
from prsm_tasks.services.schedules.runs import execution_id, parse_execution_id
from prsm_tasks.services.timestamps import iso
from prsm_tasks.services.view import RunAttempt

STATUS_OF_OUTCOME = {
    AttemptOutcome.RUNNING: "running",
    AttemptOutcome.COMPLETED: "success",
    AttemptOutcome.FAILED: "failed",
    AttemptOutcome.TIMEOUT: "timeout",
    AttemptOutcome.CANCELLED: "cancelled",
    AttemptOutcome.LOST: "failed",
    AttemptOutcome.INTERRUPTED: "interrupted",
}
FINAL_TASK = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})
WEEK_S = 7 * 86_400.0
DEFAULT_LIMIT = 10  # the document's
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000


@dataclass(frozen=True, slots=True)
class Run:
    """One run of a schedule as the view (or, for one not seen yet, its record) has it."""

    task_id: str
    created_at: float
    attempts: tuple[RunAttempt, ...]
    record: TaskRecord | None = None  # read already (a recent run the view lacks)

    @property
    def executions(self) -> int:
        return max(1, len(self.attempts))


def not_found(value: str) -> TaskNotFoundError:
    return TaskNotFoundError(f"Execution {value[:80]} not found", task_id=value[:80])


# a run that never started: its one execution's status (a ``failed`` one is a run whose
# ``success`` parent failed: dependency_failed)
STATUS_NOT_STARTED = {
    TaskStatus.WAITING: "waiting",
    TaskStatus.CANCELLED: "cancelled",
    TaskStatus.FAILED: "failed",
    TaskStatus.TIMEOUT: "timeout",
}


def execution_items(schedule_id: str, run: TaskRecord) -> list[dict[str, Any]]:
    """The executions of one run, oldest first."""
    if not run.attempts:
        item = pending_item(schedule_id, run, STATUS_NOT_STARTED.get(run.status, "pending"))
        if run.status is TaskStatus.WAITING:
            item["waiting_on"] = waiting_on_runs(run)
        return [item]
    last = run.attempts[-1].number
    return [attempt_item(schedule_id, run, a, last=a.number == last) for a in run.attempts]


def pending_item(schedule_id: str, run: TaskRecord, status: str) -> dict[str, Any]:
    return {
        "execution_id": execution_id(run.task_id, 1),
        "task_id": schedule_id,
        "run_task_id": run.task_id,
        "worker_id": None,
        "started_at": None,
        "completed_at": None,
        "duration_ms": None,
        "status": status,
        "retry_number": 0,
        "is_retry": False,
        "queued_at": iso(run.enqueued_at),
    }


def waiting_on_runs(run: TaskRecord) -> list[dict[str, Any]]:
    """The parent runs a waiting run waits for, each named with its schedule."""
    parents = run.metadata.get("schedule_parents")
    schedule_of = parents if isinstance(parents, dict) else {}
    return [
        {
            "task_id": schedule_of.get(parent.task_id),
            "run_task_id": parent.task_id,
            "dependency_type": parent.type,
        }
        for parent in run.depends_on
    ]


def held_item(record: ScheduleRecord, held: HeldRun) -> dict[str, Any]:
    """A run held until a parent schedule has run at all: one waiting execution, no task
    yet (its execution id is the one its run will have)."""
    types = {dependency.depends_on: dependency.type for dependency in record.dependencies}
    return {
        "execution_id": execution_id(held.task_id, 1),
        "task_id": record.schedule_id,
        "run_task_id": held.task_id,
        "worker_id": None,
        "started_at": None,
        "completed_at": None,
        "duration_ms": None,
        "status": "waiting",
        "retry_number": 0,
        "is_retry": False,
        "queued_at": iso(held.created_at),
        "waiting_on": [
            {"task_id": parent, "run_task_id": None, "dependency_type": types.get(parent)}
            for parent in held.waiting_on
        ],
    }


def attempt_item(
    schedule_id: str, run: TaskRecord, attempt: Attempt, *, last: bool
) -> dict[str, Any]:
    ended = attempt.ended_at
    status = STATUS_OF_OUTCOME.get(attempt.outcome, str(attempt.outcome))
    if last and attempt.outcome is AttemptOutcome.RUNNING and run.status in FINAL_TASK:
        status = "cancelled" if run.status is TaskStatus.CANCELLED else status
    return {
        "execution_id": execution_id(run.task_id, attempt.number),
        "task_id": schedule_id,
        "run_task_id": run.task_id,
        "worker_id": attempt.node,
        "started_at": iso(attempt.started_at),
        "completed_at": iso(ended) if ended is not None else None,
        "duration_ms": round((ended - attempt.started_at) * 1000) if ended is not None else None,
        "status": status,
        "retry_number": attempt.number - 1,
        "is_retry": attempt.number > 1,
        "queued_at": iso(run.enqueued_at),
    }


async def runs_of(schedules: ScheduleService, principal: Principal, schedule_id: str) -> list[Run]:
    """The schedule's runs still stored, newest first (access checked)."""
    return (await record_and_runs(schedules, principal, schedule_id))[1]


async def record_and_runs(
    schedules: ScheduleService, principal: Principal, schedule_id: str
) -> tuple[ScheduleRecord, list[Run]]:
    """The schedule and its runs still stored, newest first (access checked): those the
    view indexes, and those of ``recent_runs`` it has not seen yet, read from the bucket."""
    record, _ = await schedules.read(schedule_id, principal)
    seen = schedules.services.view.runs_of_schedule(schedule_id, record.tenant, record.user)
    runs = [Run(e.task_id, e.created_at, e.run_attempts) for e in seen]
    known = {run.task_id for run in runs}
    unseen = [run.task_id for run in record.recent_runs if run.task_id not in known]
    tasks = schedules.services.stores.tasks
    for found in await asyncio.gather(*(tasks.find(task_id) for task_id in unseen)):
        if found is not None:
            runs.append(run_of_record(found[0]))
    return record, sorted(runs, key=lambda run: (run.created_at, run.task_id), reverse=True)


def run_of_record(record: TaskRecord) -> Run:
    attempts = tuple((a.started_at, a.ended_at, str(a.outcome)) for a in record.attempts)
    return Run(record.task_id, record.created_at, attempts, record)


def page_of(runs: list[Run], offset: int, limit: int) -> tuple[list[Run], int]:
    """The runs whose executions fall in [offset, offset + limit) of the newest-first list,
    and how many executions of the first of them come before ``offset``."""
    page: list[Run] = []
    before = 0  # executions of the runs ahead of the page
    reach = 0  # executions up to the end of the page so far
    for run in runs:
        if not page and before + run.executions <= offset:
            before += run.executions
            continue
        page.append(run)
        reach = (reach or before) + run.executions
        if reach >= offset + limit:
            break
    return page, offset - before


async def list_executions(
    schedules: ScheduleService,
    principal: Principal,
    schedule_id: str,
    *,
    limit: int,
    offset: int = 0,
) -> dict[str, Any]:
    """``limit`` executions from ``offset``, newest first; ``total``: every execution of
    every run still stored, and the runs held for a parent schedule's first run (the
    newest: a parent without a run holds every later run too). Only the page's runs are
    read."""
    record, runs = await record_and_runs(schedules, principal, schedule_id)
    held = [held_item(record, run) for run in reversed(record.held_runs)]
    items = held[offset : offset + limit]
    run_offset, run_limit = max(0, offset - len(held)), limit - len(items)
    total = len(held) + sum(run.executions for run in runs)
    if run_limit <= 0:
        return {"executions": items, "total": total}
    page, skip = page_of(runs, run_offset, run_limit)
    tasks = schedules.services.stores.tasks
    unread = [run.task_id for run in page if run.record is None]
    read = dict(zip(unread, await asyncio.gather(*(tasks.find(t) for t in unread)), strict=True))
    run_items: list[dict[str, Any]] = []
    for run in page:
        found = run.record if run.record is not None else (read[run.task_id] or (None,))[0]
        if found is not None:  # expired since the view saw it: its executions are gone
            run_items.extend(reversed(execution_items(schedule_id, found)))
    items += run_items[skip : skip + run_limit]
    return {"executions": items, "total": total}


async def find_execution(
    schedules: ScheduleService, principal: Principal, value: str
) -> tuple[TaskRecord, int, str]:
    """(the run, the attempt, its schedule id) of an execution the caller may see; 404 for
    a malformed id, an unknown one, and another tenant's."""
    parsed = parse_execution_id(value)
    if parsed is None:
        raise not_found(value)
    task_id, attempt = parsed
    found = await schedules.services.stores.tasks.find(task_id)
    if found is None:
        raise not_found(value)
    run = found[0]
    schedule_id = str(run.metadata.get("schedule_id") or "")
    if not schedule_id or run.tenant != principal.tenant:
        raise not_found(value)
    try:
        record, _ = await schedules.store.get(schedule_id)
        check_schedule_access(record, principal)
    except TaskNotFoundError:  # the schedule went: its runs stay, their owner's
        if run.user != principal.user and not principal.is_admin:
            raise not_found(value) from None
    if attempt > max(1, len(run.attempts)):
        raise not_found(value)
    return run, attempt, schedule_id


async def get_execution(
    schedules: ScheduleService, principal: Principal, value: str
) -> dict[str, Any]:
    run, attempt, schedule_id = await find_execution(schedules, principal, value)
    item = execution_items(schedule_id, run)[attempt - 1]
    last = attempt == max(1, len(run.attempts))
    item["result"] = run.result if last and run.status is TaskStatus.COMPLETED else None
    item["error"] = error_of(run) if last else None
    return item


def error_of(run: TaskRecord) -> dict[str, Any] | None:
    """The run's error; one of ``dependency_failed`` also names the parent schedule and
    run (the engine names the parent run only: a task does not know schedules)."""
    if run.error is None:
        return None
    error = run.error.model_dump()
    if run.error.type == "dependency_failed":
        parents = run.metadata.get("schedule_parents")
        schedule_of = parents if isinstance(parents, dict) else {}
        for parent in run.depends_on:
            if parent.task_id in (run.error.message or ""):
                error["parent_task_id"] = schedule_of.get(parent.task_id)
                error["parent_run_task_id"] = parent.task_id
                break
    return error


async def execution_logs(
    schedules: ScheduleService, principal: Principal, value: str
) -> dict[str, Any]:
    run, attempt, _ = await find_execution(schedules, principal, value)
    lines = await attempt_log_lines(
        schedules.services, run.task_id, run.queue_name, attempt=attempt
    )
    return {"execution_id": value, "logs": lines}


async def cancel_execution(
    schedules: ScheduleService, principal: Principal, value: str
) -> dict[str, Any]:
    """Cancel the run of the latest execution (an earlier attempt is over: 409)."""
    run, attempt, _ = await find_execution(schedules, principal, value)
    if run.status in FINAL_TASK or attempt < max(1, len(run.attempts)):
        raise TaskAlreadyFinishedError(
            f"Execution {value} already finished", task_id=run.task_id, status=str(run.status)
        )
    cancelled, _ = await schedules.services.writer.cancel(
        run.task_id, reason=f"cancelled by {principal.user}"
    )
    return {
        "execution_id": value,
        "status": "cancelled",
        "cancelled_at": iso(cancelled.completed_at or time.time()),
    }


def percentile(sorted_values: list[float], share: float) -> float | None:
    """Nearest-rank percentile of sorted values; None for none."""
    if not sorted_values:
        return None
    rank = max(1, round(share * len(sorted_values) + 0.4999))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def execution_stats(
    schedules: ScheduleService, principal: Principal, schedule_id: str
) -> dict[str, Any]:
    """Counts and duration percentiles over every ended execution still stored."""
    runs = await runs_of(schedules, principal, schedule_id)
    ended = [(a[0], a[1], a[2]) for run in runs for a in run.attempts if a[1] is not None]
    success = [a for a in ended if a[2] == AttemptOutcome.COMPLETED]
    durations = sorted(end - start for start, end, _ in ended if end is not None)
    week = [a for a in ended if a[0] >= time.time() - WEEK_S]
    week_success = [a for a in week if a[2] == AttemptOutcome.COMPLETED]

    def ms(seconds: float | None) -> int | None:
        return round(seconds * 1000) if seconds is not None else None

    return {
        "task_id": schedule_id,
        "total_executions": len(ended),
        "successful_executions": len(success),
        "failed_executions": len(ended) - len(success),
        "success_rate": len(success) / len(ended) if ended else None,
        "average_duration_ms": ms(sum(durations) / len(durations)) if durations else None,
        "p50_duration_ms": ms(percentile(durations, 0.50)),
        "p95_duration_ms": ms(percentile(durations, 0.95)),
        "p99_duration_ms": ms(percentile(durations, 0.99)),
        "last_7_days": {
            "executions": len(week),
            "success_rate": len(week_success) / len(week) if week else None,
        },
    }
