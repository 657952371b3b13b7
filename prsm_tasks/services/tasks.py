"""One task's life as every surface sees it: prepare and enqueue (alone or as a batch), read
its status and result, cancel it.

Enqueueing is two steps, ``prepare`` (checks everything, writes nothing) then ``submit``, so a
surface can spend the caller's rate limit in between: a refused request costs nothing.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from prsm_tasks import telemetry, wire
from prsm_tasks.errors import (
    QuotaExceededError,
    TaskAlreadyFinishedError,
    TaskNotCompletedError,
    TaskNotFoundError,
    UnauthorizedError,
)
from prsm_tasks.models import TaskRecord
from prsm_tasks.services import stats
from prsm_tasks.services.access import Principal, check_access, check_task_id
from prsm_tasks.services.core import Services
from prsm_tasks.services.grants import grant_lifetime_s, with_grant
from prsm_tasks.services.quotas import work_bytes
from prsm_tasks.services.timestamps import iso
from prsm_tasks.services.view import FINAL, public_status
from prsm_tasks.store.batches import PreparedBatch
from prsm_tasks.store.options import TaskOptions
from prsm_tasks.store.reads import get_raw
from prsm_tasks.store.work import PreparedTask


@dataclass(frozen=True, kw_only=True)
class Enqueued:
    record: TaskRecord
    position: int | None  # in the queue's pending tasks, 1 = next
    wait_s: float | None  # until it should start


@dataclass(frozen=True, kw_only=True)
class BatchRules:
    parallel: bool = True
    max_concurrent: int | None = None
    fail_fast: bool = False


# --- enqueue -----------------------------------------------------------------------------------


def prepare(
    services: Services,
    principal: Principal,
    queue: str,
    task_data: dict[str, Any],
    options: TaskOptions,
) -> PreparedTask:
    """A task checked against its type's schema (if it names a registered type)."""
    services.types.check(options.task_type, task_data, tenant=principal.tenant)
    return services.writer.prepare(
        queue, task_data, options, user=principal.user, tenant=principal.tenant
    )


async def submit(services: Services, prepared: PreparedTask) -> Enqueued:
    record = prepared.record
    try:
        await services.check_room(
            record.tenant, tasks=1, messages=1, message_bytes=work_bytes(prepared)
        )
    except QuotaExceededError:
        # a retry of an enqueue that was accepted adds nothing: it answers as the first did
        if await services.writer.bound_task_id(record) is None:
            raise
    record = await services.writer.submit(prepared)
    if record.task_id == prepared.record.task_id:
        services.view.apply_created(record, prepared.payload)
        telemetry.task_enqueued(record.queue_name, record.priority)
    else:  # an idempotency key's earlier task
        services.view.apply_record(record)
    position = services.view.position(record.task_id)
    wait_s = (
        stats.wait_estimate_s(services.view, services.nodes, record.queue_name, position)
        if position is not None
        else stats.until_due_s(record.status, record.scheduled_for, time.time())
    )
    return Enqueued(record=record, position=position, wait_s=wait_s)


def prepare_batch(
    services: Services,
    principal: Principal,
    queue: str,
    items: list[tuple[dict[str, Any], TaskOptions]],
    rules: BatchRules,
) -> PreparedBatch:
    """Every task of a batch checked (all or nothing; a failing one names ``tasks[i]``)."""
    for index, (task_data, options) in enumerate(items):
        services.types.check(
            options.task_type, task_data, tenant=principal.tenant, field=f"tasks[{index}]"
        )
    return services.stores.batches.prepare(
        queue,
        items,
        parallel=rules.parallel,
        max_concurrent=rules.max_concurrent,
        fail_fast=rules.fail_fast,
        user=principal.user,
        tenant=principal.tenant,
    )


async def submit_batch(services: Services, prepared: PreparedBatch) -> list[TaskRecord]:
    batch = prepared.batch
    await services.check_room(
        batch.tenant,
        tasks=len(prepared.tasks),
        messages=batch.limit,  # the rest wait, with no message until they are let go
        message_bytes=sum(work_bytes(task) for task in prepared.tasks[: batch.limit]),
    )
    records = await services.stores.batches.submit(prepared)
    for record in records:
        services.view.apply_record(record)
        telemetry.task_enqueued(record.queue_name, record.priority)
    return records


def batch_completion(services: Services, records: list[TaskRecord], limit: int) -> float | None:
    """When the last task of a batch should finish: waves of ``limit`` (or of the capacity
    serving the queue, if smaller) at the queue's recent run time, after the first waits."""
    view, nodes = services.view, services.nodes
    queue = records[0].queue_name
    average_s = view.average_execution_s(queue)
    capacity = sum(ad.capacity for ad in nodes.serving(queue))
    first = view.position(records[0].task_id)
    wait_s = stats.wait_estimate_s(view, nodes, queue, first) if first else 0.0
    if average_s is None or capacity == 0 or wait_s is None:
        return None
    waves = math.ceil(len(records) / max(1, min(limit, capacity)))
    return time.time() + wait_s + waves * average_s


# --- stream grants ---------------------------------------------------------------------------


def granted_stream_url(services: Services, url: str, record: TaskRecord) -> str:
    """``url`` (a stream of ``record``'s events) with a grant to read it as the task's owner,
    for as long as the task may run (services/grants.py): EventSource sends no headers."""
    lifetime_s = grant_lifetime_s(record.timeout_seconds, record.max_retries)
    grant = services.grants.sign(record.task_id, record.tenant, record.user, lifetime_s)
    return with_grant(url, grant)


async def read_granted(services: Services, task_id: str, grant: str) -> dict[str, Any]:
    """The stored fields of the task a stream grant was signed for; 401 for any other task,
    an expired or altered grant, and a task that is not there (a grant tells nothing)."""
    refused = UnauthorizedError(
        "the stream grant is invalid, expired or not for this task; "
        "send Authorization: Bearer <token> instead"
    )
    if not wire.is_task_id(task_id):
        raise refused
    try:
        record, _ = await get_raw(
            services.stores.tasks.requests, task_id, partitions=services.stores.tasks.partitions
        )
    except TaskNotFoundError:
        raise refused from None
    if not services.grants.check(grant, task_id, record.get("tenant"), record.get("user")):
        raise refused
    return record


# --- one task --------------------------------------------------------------------------------


async def read_own(services: Services, principal: Principal, task_id: str) -> dict[str, Any]:
    """The stored fields of a task the caller may see (404 / 403 otherwise)."""
    check_task_id(task_id)
    record, _ = await get_raw(
        services.stores.tasks.requests, task_id, partitions=services.stores.tasks.partitions
    )
    check_access(record, principal, task_id)
    return record


def error_message(record: dict[str, Any]) -> str | None:
    error = record.get("error")
    return error.get("message") if isinstance(error, dict) else None


def status_report(services: Services, task_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """A task's public status (the PRSM Task API's answer, which the compatibility routes
    give too)."""
    done_at = stats.estimated_completion(services.view, services.nodes, record, time.time())
    return {
        "success": True,
        "task_id": task_id,
        "status": public_status(record["status"]),
        "progress": record.get("progress", 0.0),
        "queue_name": record["queue_name"],
        "priority": record["priority"],
        "created_at": iso(record["created_at"]),
        "started_at": iso(record.get("started_at")),
        "estimated_completion": iso(done_at),
        "worker_node": record.get("worker_node"),
        "retry_count": record.get("retry_count", 0),
        "max_retries": record.get("max_retries", 0),
        "result": record.get("result"),
        "error": error_message(record),
        "task_type": record.get("task_type"),
        "progress_text": record.get("progress_text"),
        "completed_at": iso(record.get("completed_at")),
        "batch_id": record.get("batch_id"),
        "scheduled_for": iso(record.get("scheduled_for")),
    }


def check_completed(task_id: str, record: dict[str, Any]) -> None:
    """409 task_not_completed, with the task's error if it ended without a result."""
    current = public_status(record["status"])
    if current == "completed":
        return
    error = record.get("error") if current in FINAL else None
    detail = f": {error_message(record)}" if error else ""
    raise TaskNotCompletedError(
        f"task {task_id} is {current}, not completed{detail}",
        task_id=task_id,
        status=current,
        task_error={"type": error.get("type"), "message": error.get("message")}
        if isinstance(error, dict)
        else None,
    )


async def cancel_own(services: Services, principal: Principal, task_id: str) -> dict[str, Any]:
    """Cancel a task of the caller that has not finished; the public answer."""
    record = await read_own(services, principal, task_id)
    if record["status"] in FINAL:
        raise TaskAlreadyFinishedError(
            f"Task {task_id} already finished with status {record['status']}",
            task_id=task_id,
            status=record["status"],
        )
    cancelled, was_processing = await services.writer.cancel(
        task_id, reason=f"cancelled by {principal.user}"
    )
    services.view.apply_record(cancelled)
    return {
        "success": True,
        "task_id": task_id,
        "status": "cancelled",
        "message": "Task cancelled successfully",
        "was_processing": was_processing,
        "cancelled_at": iso(cancelled.completed_at),
    }
