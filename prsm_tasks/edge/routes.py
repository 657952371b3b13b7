"""The PRSM Task API routes: enqueue, status, result, cancel, stats, list, bulk, health."""

from __future__ import annotations

import math
import time
from typing import Any

from aiohttp import web

from prsm_tasks.edge import stats
from prsm_tasks.edge.auth import Principal
from prsm_tasks.edge.errors import iso, json_response
from prsm_tasks.edge.schemas import BulkEnqueueRequest, EnqueueRequest
from prsm_tasks.edge.state import EdgeState, check_access, check_task_id, read_body
from prsm_tasks.edge.view import FINAL, PENDING, Entry, public_status
from prsm_tasks.errors import (
    ServiceUnavailableError,
    TaskAlreadyFinishedError,
    TaskNotCompletedError,
    ValidationError,
)
from prsm_tasks.models import TaskRecord
from prsm_tasks.store.reads import get_raw, jetstream_usage
from prsm_tasks.store.work import TaskOptions
from prsm_tasks.wire import check_queue_name

PUBLIC_STATUSES = ("enqueued", "processing", "completed", "failed", "cancelled", "timeout")
STATUS_FILTERS = {status: frozenset({status}) for status in PUBLIC_STATUSES}
STATUS_FILTERS["enqueued"] = PENDING
STORAGE_CACHE_S = 10.0
MAX_OFFSET = 1_000_000_000


def owner_key(principal: Principal) -> str:
    return f"{principal.tenant}\x00{principal.user}"


def stream_url(request: web.Request, task_id: str) -> str:
    return f"{request.scheme}://{request.host}/tasks/{task_id}/events"


# --- enqueue -----------------------------------------------------------------------------------


async def enqueue(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    body = await read_body(request, EnqueueRequest, max_bytes=state.config.max_body_bytes)
    queue = body.queue_name
    state.check_queue(queue, require_worker=body.require_worker)
    state.types.check(body.task_type, body.task_data, tenant=principal.tenant)
    options = TaskOptions(
        priority=body.priority,
        max_retries=body.retry_count,
        timeout_seconds=body.timeout_seconds,
        task_type=body.task_type,
        idempotency_key=body.idempotency_key,
    )
    prepared = state.writer.prepare(
        queue, body.task_data, options, user=principal.user, tenant=principal.tenant
    )
    state.limiter.take(owner_key(principal))
    record = await state.writer.submit(prepared)
    state.view.apply_record(record)
    position = state.view.position(record.task_id)
    wait_s = (
        stats.wait_estimate_s(state.view, state.nodes, queue, position)
        if position is not None
        else None
    )
    return json_response(
        {
            "success": True,
            "task_id": record.task_id,
            "queue_name": record.queue_name,
            "priority": record.priority,
            "status": public_status(str(record.status)),
            "estimated_wait_time_seconds": wait_s,
            "position_in_queue": position,
            "stream_url": stream_url(request, record.task_id),
        }
    )


async def bulk_enqueue(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    body = await read_body(request, BulkEnqueueRequest, max_bytes=state.config.max_body_bytes)
    queue = body.queue_name
    state.check_queue(queue, require_worker=body.require_worker)
    items: list[tuple[dict[str, Any], TaskOptions]] = []
    for index, task in enumerate(body.tasks):
        state.types.check(
            task.task_type, task.task_data, tenant=principal.tenant, field=f"tasks[{index}]"
        )
        options = TaskOptions(
            priority=task.priority,
            max_retries=task.retry_count,
            timeout_seconds=task.timeout_seconds,
            task_type=task.task_type,
        )
        items.append((task.task_data, options))
    batch_options = body.batch_options
    prepared = state.batches.prepare(
        queue,
        items,
        parallel=batch_options.parallel_execution,
        max_concurrent=batch_options.max_concurrent,
        fail_fast=batch_options.fail_fast,
        user=principal.user,
        tenant=principal.tenant,
    )
    state.limiter.take(owner_key(principal), cost=len(items))
    records = await state.batches.submit(prepared)
    for record in records:
        state.view.apply_record(record)
    return json_response(
        {
            "success": True,
            "batch_id": prepared.batch.batch_id,
            "task_ids": prepared.batch.task_ids,
            "total_tasks": len(records),
            "estimated_completion": iso(batch_completion(state, records, prepared.batch.limit)),
        }
    )


def batch_completion(state: EdgeState, records: list[TaskRecord], limit: int) -> float | None:
    """When the last task of a batch should finish: waves of ``limit`` (or of the capacity
    serving the queue, if smaller) at the queue's recent run time, after the first waits."""
    queue = records[0].queue_name
    average_s = state.view.average_execution_s(queue)
    capacity = sum(ad.capacity for ad in state.nodes.serving(queue))
    first = state.view.position(records[0].task_id)
    wait_s = stats.wait_estimate_s(state.view, state.nodes, queue, first) if first else 0.0
    if average_s is None or capacity == 0 or wait_s is None:
        return None
    waves = math.ceil(len(records) / max(1, min(limit, capacity)))
    return time.time() + wait_s + waves * average_s


# --- one task --------------------------------------------------------------------------------


async def read_own(
    state: EdgeState, request: web.Request, principal: Principal
) -> tuple[str, dict[str, Any]]:
    task_id = check_task_id(request.match_info["task_id"])
    record, _ = await get_raw(state.store.requests, task_id)
    check_access(record, principal, task_id)
    return task_id, record


def error_message(record: dict[str, Any]) -> str | None:
    error = record.get("error")
    return error.get("message") if isinstance(error, dict) else None


async def status(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    task_id, record = await read_own(state, request, principal)
    done_at = stats.estimated_completion(state.view, state.nodes, record, time.time())
    return json_response(
        {
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
        }
    )


async def result(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    task_id, record = await read_own(state, request, principal)
    current = public_status(record["status"])
    if current != "completed":
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
    started, completed = record.get("started_at"), record.get("completed_at")
    return json_response(
        {
            "success": True,
            "task_id": task_id,
            "status": "completed",
            "result": record.get("result"),
            "execution_time_seconds": round(max(0.0, completed - started), 6)
            if started is not None and completed is not None
            else None,
            "completed_at": iso(completed),
            "worker_node": record.get("worker_node"),
        }
    )


async def cancel(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    task_id, record = await read_own(state, request, principal)
    if record["status"] in FINAL:
        raise TaskAlreadyFinishedError(
            f"Task {task_id} already finished with status {record['status']}",
            task_id=task_id,
            status=record["status"],
        )
    cancelled, was_processing = await state.writer.cancel(
        task_id, reason=f"cancelled by {principal.user}"
    )
    state.view.apply_record(cancelled)
    return json_response(
        {
            "success": True,
            "task_id": task_id,
            "status": "cancelled",
            "message": "Task cancelled successfully",
            "was_processing": was_processing,
            "cancelled_at": iso(cancelled.completed_at),
        }
    )


# --- many tasks ------------------------------------------------------------------------------


async def queue_stats(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    queue = check_queue_name(request.match_info["queue_name"])
    has_tasks = (principal.tenant, queue) in state.view.tenant_queues
    if not has_tasks and queue not in state.config.disabled_queues:
        state.check_queue(queue)
    return json_response(
        stats.queue_stats(
            state.view, state.nodes, tenant=principal.tenant, queue=queue, now=time.time()
        )
    )


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationError(f"{name} must be an integer, got {raw!r}", field=name) from exc
    if not low <= value <= high:
        raise ValidationError(f"{name} must be within {low}..{high}, got {value}", field=name)
    return value


def list_item(entry: Entry) -> dict[str, Any]:
    execution_s = entry.execution_time_seconds
    return {
        "task_id": entry.task_id,
        "queue_name": entry.queue,
        "status": public_status(entry.status),
        "priority": entry.priority,
        "created_at": iso(entry.created_at),
        "completed_at": iso(entry.completed_at),
        "execution_time_seconds": round(execution_s, 6) if execution_s is not None else None,
        "retry_count": entry.retry_count,
    }


async def list_tasks(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    wanted_status = request.query.get("status")
    if wanted_status is not None and wanted_status not in STATUS_FILTERS:
        raise ValidationError(
            f"status must be one of {', '.join(PUBLIC_STATUSES)}, got {wanted_status!r}",
            field="status",
        )
    queue = request.query.get("queue_name")
    if queue is not None:
        check_queue_name(queue)
    limit = int_param(request, "limit", 50, 1, 100)
    offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
    scope = state.view.visible(principal.tenant, principal.user, admin=principal.is_admin)
    statuses = STATUS_FILTERS[wanted_status] if wanted_status else None
    in_queue = [e for e in scope.newest_first() if queue is None or e.queue == queue]
    matching = [e for e in in_queue if statuses is None or e.status in statuses]
    page = matching[offset : offset + limit]
    counts: dict[str, int] = {}
    for entry in in_queue:
        counts[entry.status] = counts.get(entry.status, 0) + 1
    completed = counts.get("completed", 0)
    failed = counts.get("failed", 0) + counts.get("timeout", 0)
    pending = sum(counts.get(s, 0) for s in (*PENDING, "processing"))
    return json_response(
        {
            "success": True,
            "tasks": [list_item(entry) for entry in page],
            "pagination": {
                "total_count": len(matching),
                "limit": limit,
                "offset": offset,
                "has_more": offset + len(page) < len(matching),
            },
            "summary": {
                "total_tasks": len(in_queue),
                "completed_tasks": completed,
                "failed_tasks": failed,
                "pending_tasks": pending,
                "success_rate": round(completed / (completed + failed), 4)
                if completed + failed
                else None,
            },
        }
    )


# --- health ----------------------------------------------------------------------------------


async def health(
    request: web.Request, state: EdgeState, principal: Principal | None
) -> web.Response:
    connected = state.nc.is_connected
    if connected:
        try:
            await state.nc.flush(timeout=1)
        except Exception:  # any failure of the round trip means NATS is not there for us
            connected = False
    now = time.time()
    read_at, used, limit = state.storage
    if connected and now - read_at > STORAGE_CACHE_S:
        try:
            used, limit = await jetstream_usage(state.js)
            state.storage = (now, used, limit)
        except ServiceUnavailableError:
            connected = False
    body = stats.health(
        state.view,
        state.nodes,
        state.host,
        queues=set(state.config.queues) - state.config.disabled_queues,
        connected=connected,
        caught_up=state.caught_up,
        storage_used=used,
        storage_limit=limit,
        now=now,
    )
    return json_response(body, status=200 if connected else 503)
