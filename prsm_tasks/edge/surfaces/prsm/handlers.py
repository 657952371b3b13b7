"""The PRSM Task API handlers (seed 000): enqueue, status, result, cancel, stats, list, bulk,
health. Each parses its request, calls the services and answers this API's shapes."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from prsm_tasks.edge.http.body import read_body
from prsm_tasks.edge.http.errors import json_response
from prsm_tasks.edge.http.params import int_param
from prsm_tasks.edge.http.sse import stream_url
from prsm_tasks.edge.http.state import EdgeState
from prsm_tasks.edge.surfaces.prsm.schemas import BulkEnqueueRequest, EnqueueRequest
from prsm_tasks.errors import ValidationError
from prsm_tasks.models import TaskDependency
from prsm_tasks.services import listing, logs, stats, task_graph, tasks
from prsm_tasks.services.access import Principal
from prsm_tasks.services.timestamps import iso
from prsm_tasks.services.view import Entry, public_status
from prsm_tasks.store.options import TaskOptions, due_time, parse_eta
from prsm_tasks.trace import from_header
from prsm_tasks.wire import check_queue_name

MAX_OFFSET = 1_000_000_000


# --- enqueue -----------------------------------------------------------------------------------


async def enqueue(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    services = state.services
    body = await read_body(request, EnqueueRequest, max_bytes=state.config.max_body_bytes)
    services.check_queue(body.queue_name, require_worker=body.require_worker)
    # the body's fields have TaskOptions' own types: validated once, by the body
    options = TaskOptions.model_construct(
        priority=body.priority,
        max_retries=body.retry_count,
        timeout_seconds=body.timeout_seconds,
        task_type=body.task_type,
        idempotency_key=body.idempotency_key,
        scheduled_for=due_time(parse_eta(body.eta), body.countdown_seconds, now=time.time()),
        trace=from_header(request.headers.get("traceparent")).traceparent,
        depends_on=tuple(TaskDependency(task_id=d.task_id, type=d.type) for d in body.depends_on)
        if body.depends_on is not None
        else None,
    )
    prepared = tasks.prepare(services, principal, body.queue_name, body.task_data, options)
    state.limiter.take(principal.owner_key)
    done = await tasks.submit(services, prepared)
    record = done.record
    return json_response(
        {
            "success": True,
            "task_id": record.task_id,
            "queue_name": record.queue_name,
            "priority": record.priority,
            "status": public_status(str(record.status)),
            "estimated_wait_time_seconds": done.wait_s,
            "position_in_queue": done.position,
            # signed: a browser's EventSource opens it as it is, without a header
            "stream_url": tasks.granted_stream_url(
                services, stream_url(request, f"/tasks/{record.task_id}/events"), record
            ),
            "scheduled_for": iso(record.scheduled_for),
        }
    )


async def bulk_enqueue(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    services = state.services
    body = await read_body(request, BulkEnqueueRequest, max_bytes=state.config.max_body_bytes)
    services.check_queue(body.queue_name, require_worker=body.require_worker)
    due = due_time(parse_eta(body.eta), body.countdown_seconds, now=time.time())
    items = [
        (
            task.task_data,
            TaskOptions.model_construct(  # validated by the body, as in enqueue
                priority=task.priority,
                max_retries=task.retry_count,
                timeout_seconds=task.timeout_seconds,
                task_type=task.task_type,
                scheduled_for=due,
            ),
        )
        for task in body.tasks
    ]
    rules = tasks.BatchRules(
        parallel=body.batch_options.parallel_execution,
        max_concurrent=body.batch_options.max_concurrent,
        fail_fast=body.batch_options.fail_fast,
    )
    prepared = tasks.prepare_batch(services, principal, body.queue_name, items, rules)
    state.limiter.take(principal.owner_key, cost=len(items))
    records = await tasks.submit_batch(services, prepared)
    done_at = tasks.batch_completion(services, records, prepared.batch.limit)
    return json_response(
        {
            "success": True,
            "batch_id": prepared.batch.batch_id,
            "task_ids": prepared.batch.task_ids,
            "total_tasks": len(records),
            "estimated_completion": iso(done_at),
        }
    )


# --- one task --------------------------------------------------------------------------------


async def status(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    task_id = request.match_info["task_id"]
    record = await tasks.read_own(state.services, principal, task_id)
    report = tasks.status_report(state.services, task_id, record)
    report.update(await task_graph.dependency_report(state.services, record))
    return json_response(report)


async def result(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    task_id = request.match_info["task_id"]
    record = await tasks.read_own(state.services, principal, task_id)
    tasks.check_completed(task_id, record)
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
    task_id = request.match_info["task_id"]
    return json_response(await tasks.cancel_own(state.services, principal, task_id))


async def task_logs(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    task_id = request.match_info["task_id"]
    attempt = int_param(request, "attempt", low=1, high=logs.MAX_ATTEMPT)
    limit = int_param(request, "limit", low=1, high=logs.MAX_LIMIT)
    offset = int_param(request, "offset", low=0, high=logs.MAX_OFFSET) or 0
    answer = await logs.read_task_logs(
        state.services,
        principal,
        task_id,
        attempt=attempt,
        limit=logs.DEFAULT_LIMIT if limit is None else limit,
        offset=offset,
    )
    return json_response(answer)


# --- many tasks ------------------------------------------------------------------------------


async def queue_stats(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    queue = check_queue_name(request.match_info["queue_name"])
    return json_response(stats.stats_of_queue(state.services, principal, queue))


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
    if wanted_status is not None and wanted_status not in listing.STATUS_FILTERS:
        raise ValidationError(
            f"status must be one of {', '.join(listing.PUBLIC_STATUSES)}, got {wanted_status!r}",
            field="status",
        )
    queue = request.query.get("queue_name")
    if queue is not None:
        check_queue_name(queue)
    limit = int_param(request, "limit", low=1, high=100)
    limit = 50 if limit is None else limit
    offset = int_param(request, "offset", low=0, high=MAX_OFFSET) or 0
    page = listing.list_tasks(
        state.services, principal, queue=queue, status=wanted_status, limit=limit, offset=offset
    )
    summary = page.summary
    return json_response(
        {
            "success": True,
            "tasks": [list_item(entry) for entry in page.entries],
            "pagination": {
                "total_count": page.matching,
                "limit": limit,
                "offset": offset,
                "has_more": offset + len(page.entries) < page.matching,
            },
            "summary": {
                "total_tasks": summary.total,
                "completed_tasks": summary.completed,
                "failed_tasks": summary.failed,
                "pending_tasks": summary.pending,
                "success_rate": summary.success_rate,
            },
        }
    )


# --- health ----------------------------------------------------------------------------------


async def health(
    request: web.Request, state: EdgeState, principal: Principal | None
) -> web.Response:
    body, found = stats.health_of(state.services)
    header = request.headers.get("Authorization")
    if header:  # optional here: an admin's token adds the reasons and the connection's state
        caller = await state.verifier.verify_header(header)
        if caller.is_admin:
            body["checks"] = stats.health_checks(state.services, found)
    return json_response(body, status=503 if found.status == "unhealthy" else 200)
