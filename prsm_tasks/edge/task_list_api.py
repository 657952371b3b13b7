"""The task list over HTTP: /api/tasks, for services that are not peer nodes.

A task created here is a normal task (the same record, ``/status/{id}``, SSE), checked
against its type's schema and put on the type's queue. External workers claim tasks with
``POST /api/tasks/claim`` under the rules peer nodes follow (see store/external.py) and
report with ``PUT /api/tasks/{id}``. ``DELETE /api/tasks/{id}`` is served by events_api
(one route for both APIs); a task created here gets this API's answer there (204).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from prsm_tasks import models
from prsm_tasks.edge.api_common import API_STATE, api_route, find_type, int_param
from prsm_tasks.edge.auth import Principal
from prsm_tasks.edge.errors import json_response
from prsm_tasks.edge.openapi import Param, Route
from prsm_tasks.edge.routes import owner_key
from prsm_tasks.edge.state import EdgeState, check_task_id, read_body
from prsm_tasks.edge.task_api_schemas import (
    ApiTaskCreate,
    ApiTaskItem,
    ApiTaskList,
    ApiTaskUpdate,
    TaskClaimRequest,
)
from prsm_tasks.edge.task_list_map import (
    API_KEY,
    API_STATUS,
    ENGINE_STATUSES,
    STAGE,
    check_task_access,
    engine_priority,
    may_work,
    task_item,
)
from prsm_tasks.errors import (
    IllegalTransitionError,
    QueueNotAvailableError,
    TaskAlreadyFinishedError,
    TaskNotFoundError,
    TaskTypeInactiveError,
    TaskTypeNotFoundError,
    UnprocessableError,
)
from prsm_tasks.models import TaskRecord, TaskStatus
from prsm_tasks.store.cancels import forbid_unclaimed_start, signal_changed
from prsm_tasks.store.external import Lease
from prsm_tasks.store.reads import get_raw
from prsm_tasks.store.type_index import Found
from prsm_tasks.store.work import NOT_STARTED, TaskOptions
from prsm_tasks.wire import check_queue_name

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DEFAULT_LEASE_S = 60.0
READ_WINDOW = 200


def type_id_for(state: EdgeState, raw: dict[str, Any]) -> int | None:
    task_type = raw.get("task_type")
    if task_type is None:
        return None
    found = state.types.resolve(raw.get("tenant"), task_type)
    return found[0].id if found is not None else None


def item_of(state: EdgeState, record: TaskRecord | dict[str, Any]) -> dict[str, Any]:
    raw = models.record_fields(record) if isinstance(record, TaskRecord) else record
    return task_item(raw, type_id=type_id_for(state, raw))


async def read_task(state: EdgeState, task_id: str, principal: Principal) -> tuple[TaskRecord, int]:
    check_task_id(task_id)
    record, rev = await state.store.get(task_id)
    check_task_access(models.record_fields(record), principal, task_id)
    return record, rev


def active_type(found: Found) -> Found:
    if not found[0].is_active:
        raise TaskTypeInactiveError(f"task type {found[0].name!r} is inactive", field="task_type")
    return found


async def type_of_body(
    request: web.Request, state: EdgeState, principal: Principal, body: Any
) -> Found:
    """The type a create or claim names (by id or by name); 404 when the tenant has none."""
    if body.task_type_id is not None:
        found = await find_type(request, state, body.task_type_id, principal.tenant)
        if body.task_type is not None and body.task_type != found[0].name:
            raise UnprocessableError(
                f"task_type {body.task_type!r} is not the name of type {body.task_type_id}",
                field="task_type",
            )
        return found
    if body.task_type is not None:
        named = state.types.resolve(principal.tenant, body.task_type)
        if named is None:  # registered through another edge a moment ago?
            store = request.app[API_STATE].types
            for tenant in (principal.tenant, None):
                found = await store.find(body.task_type, tenant=tenant)
                if found is not None:
                    state.types.apply(*found)
            named = state.types.resolve(principal.tenant, body.task_type)
        if named is None:
            raise TaskTypeNotFoundError(f"Task type {body.task_type!r} not found")
        return named
    raise UnprocessableError("name the task type: task_type_id or task_type", field="task_type_id")


# --- create, read, list ----------------------------------------------------------------------


@api_route
async def create_task(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    body = await read_body(request, ApiTaskCreate, max_bytes=state.config.max_body_bytes)
    found = active_type(await type_of_body(request, state, principal, body))
    state.types.validate(found, body.parameters, root="parameters", api=True)
    record = found[0]
    queue = record.queue
    if queue in state.config.disabled_queues:
        raise QueueNotAvailableError(f"queue {queue} is disabled by the operator")
    options = TaskOptions(
        priority=engine_priority(body.priority),
        task_type=record.name,
        metadata={API_KEY: {"priority": body.priority, "metadata": body.metadata}},
    )
    prepared = state.writer.prepare(
        queue, body.parameters, options, user=principal.user, tenant=principal.tenant
    )
    state.limiter.take(owner_key(principal))
    created = await state.writer.submit(prepared)
    state.view.apply_record(created)
    return json_response(item_of(state, created), status=201)


@api_route
async def get_task(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    task_id = check_task_id(request.match_info["task_id"])
    raw, _ = await get_raw(state.store.requests, task_id)
    check_task_access(raw, principal, task_id)
    return json_response(item_of(state, raw))


@api_route
async def list_tasks(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    limit = int_param(request, "limit", low=1, high=MAX_LIMIT) or DEFAULT_LIMIT
    wanted_type = int_param(request, "task_type_id", low=1)
    wanted_status = request.query.get("status")
    if wanted_status is not None and wanted_status not in ENGINE_STATUSES:
        raise UnprocessableError(
            f"status must be one of {', '.join(ENGINE_STATUSES)}, got {wanted_status!r}",
            field="status",
        )
    statuses = ENGINE_STATUSES[wanted_status] if wanted_status else None
    scope = state.view.visible(principal.tenant, principal.user, admin=may_work(principal))
    chosen: list[str] = []
    for entry in scope.newest_first():
        if entry.task_type is None or (statuses is not None and entry.status not in statuses):
            continue
        found = state.types.resolve(principal.tenant, entry.task_type)
        if found is None or (wanted_type is not None and found[0].id != wanted_type):
            continue
        chosen.append(entry.task_id)
        if len(chosen) >= limit:
            break
    items: list[dict[str, Any]] = []
    for start in range(0, len(chosen), READ_WINDOW):
        window = chosen[start : start + READ_WINDOW]
        reads = await asyncio.gather(
            *(get_raw(state.store.requests, task_id) for task_id in window),
            return_exceptions=True,
        )
        for read in reads:
            if isinstance(read, TaskNotFoundError):
                continue  # deleted since the index saw it
            if isinstance(read, BaseException):
                raise read
            items.append(item_of(state, read[0]))
    return json_response(items)


# --- delete (served by events_api.api_delete, the one DELETE /api/tasks/{task_id}) ---------


def created_here(record: dict[str, Any]) -> bool:
    metadata = record.get("metadata")
    return isinstance(metadata, dict) and API_KEY in metadata


async def cancel_pending(state: EdgeState, task_id: str, principal: Principal) -> dict[str, Any]:
    """A pending task is cancelled before it is deleted, so no one runs it meanwhile."""
    cancelled, _ = await state.writer.cancel(task_id, reason=f"deleted by {principal.user}")
    state.view.apply_record(cancelled)
    return models.record_fields(cancelled)


# --- claim and update ------------------------------------------------------------------------


@api_route
async def claim_task(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    body = await read_body(request, TaskClaimRequest, max_bytes=state.config.max_body_bytes)
    type_name: str | None = None
    if body.task_type is not None or body.task_type_id is not None:
        found = await type_of_body(request, state, principal, body)
        type_name, queue = found[0].name, found[0].queue
        if body.queue_name is not None and body.queue_name != queue:
            raise UnprocessableError(
                f"task type {type_name!r} goes to queue {queue}, not {body.queue_name}",
                field="queue_name",
            )
    elif body.queue_name is not None:
        queue = check_queue_name(body.queue_name)
        check_claimable(state, queue, principal)
    else:
        raise UnprocessableError(
            "name a task_type or a queue_name to claim from", field="task_type"
        )
    if queue in state.config.disabled_queues:
        raise QueueNotAvailableError(f"queue {queue} is disabled by the operator")
    tenant, user, everyone = principal.tenant, principal.user, may_work(principal)

    def eligible(record: TaskRecord) -> bool:
        return (
            record.tenant == tenant
            and (everyone or record.user == user)
            and (type_name is None or record.task_type == type_name)
        )

    claimed = await request.app[API_STATE].external.claim(
        queue, eligible=eligible, worker_id=body.worker_id, lease_s=body.lease_seconds
    )
    if claimed is None:
        return web.Response(status=204)
    state.view.apply_record(claimed)
    return json_response(item_of(state, claimed))


def check_claimable(state: EdgeState, queue: str, principal: Principal) -> None:
    """A queue may be claimed from when a type the tenant sees goes there, or the edge is
    configured with it, or a live node serves it (no consumers for made-up names)."""
    if any(record.queue == queue for record, _ in state.types.visible(principal.tenant)):
        return
    state.check_queue(queue)


@api_route
async def update_task(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    task_id = request.match_info["task_id"]
    record, _ = await read_task(state, task_id, principal)
    body = await read_body(request, ApiTaskUpdate, max_bytes=state.config.max_body_bytes)
    given = body.model_fields_set
    current = API_STATUS[record.status]
    target = body.status or current
    if record.is_final:
        raise TaskAlreadyFinishedError(
            f"Task {task_id} already finished with status {current}",
            task_id=task_id,
            status=current,
        )
    if STAGE[target] < STAGE[current]:
        raise IllegalTransitionError(
            f"task {task_id} is {current}; it cannot go back to {target}", task_id=task_id
        )
    if given & {"parameters", "priority"} and target != "pending":
        raise IllegalTransitionError(
            f"parameters and priority change only while a task is pending; it is {current}",
            task_id=task_id,
        )
    if given & {"result", "error_message"} and target not in ("completed", "failed", "cancelled"):
        raise UnprocessableError(
            "result and error_message are stored when the task ends "
            "(status completed, failed or cancelled)",
            field="result" if "result" in given else "error_message",
        )
    if given & {"priority", "parameters", "metadata"}:
        record, _ = await edit_fields(request, state, record, body)
    if body.status is not None and body.status != "pending":
        record = await move(request, state, principal, record, body, current=current)
    state.view.apply_record(record)
    return json_response(item_of(state, record))


async def edit_fields(
    request: web.Request, state: EdgeState, record: TaskRecord, body: ApiTaskUpdate
) -> tuple[TaskRecord, int]:
    """parameters (checked again), priority and metadata, by CAS; a new band gets a message."""
    given = body.model_fields_set
    if "parameters" in given and body.parameters is not None:
        found = state.types.resolve(record.tenant, record.task_type or "")
        if found is not None:
            state.types.validate(found, body.parameters, root="parameters", api=True)
    old_band = record.band

    def change(current: TaskRecord) -> TaskRecord:
        if given & {"parameters", "priority"} and current.status is not TaskStatus.ENQUEUED:
            raise IllegalTransitionError(
                f"task {current.task_id} is no longer pending", task_id=current.task_id
            )
        api = dict(current.metadata.get(API_KEY) or {})
        api["updated_at"] = time.time()
        update: dict[str, Any] = {}
        if "parameters" in given and body.parameters is not None:
            update["task_data"] = body.parameters
        if "priority" in given and body.priority is not None:
            api["priority"] = body.priority
            update["priority"] = engine_priority(body.priority)
        if "metadata" in given:
            api["metadata"] = body.metadata or {}
        update["metadata"] = {**current.metadata, API_KEY: api}
        return current.model_copy(update=update)

    not_started = record.status in NOT_STARTED
    if not_started:
        # nodes that take its work message from now on must not run that stale copy
        await forbid_unclaimed_start(state.store.requests, record.task_id)
    record, rev = await state.store.transition(record.task_id, change)
    if not_started:
        await signal_changed(state.nc, record.task_id)  # one running it unclaimed: claim now
    if record.band != old_band and record.status is TaskStatus.ENQUEUED:
        await request.app[API_STATE].external.republish(record, rev)
    return record, rev


async def move(
    request: web.Request,
    state: EdgeState,
    principal: Principal,
    record: TaskRecord,
    body: ApiTaskUpdate,
    *,
    current: str,
) -> TaskRecord:
    """The status change a PUT asks for (running, completed, failed, cancelled)."""
    external = request.app[API_STATE].external
    worker_id = body.worker_id
    if body.status == "running":
        if current == "running":  # a renewal of the claim
            return await external.renew(
                record.task_id, worker_id=worker_id, lease_s=body.lease_seconds
            )
        return await external.start(
            record,
            worker_id=worker_id or principal.user,
            lease_s=body.lease_seconds or DEFAULT_LEASE_S,
        )
    if body.status == "cancelled":
        lease = Lease.of(record)
        if worker_id is not None and current == "running":
            external.held_by(record, worker_id)  # 409 unless this worker holds it
        cancelled, _ = await state.writer.cancel(
            record.task_id, reason=body.error_message or f"cancelled by {principal.user}"
        )
        await external.release(lease)
        return cancelled
    return await external.finish(
        record.task_id,
        status=TaskStatus.COMPLETED if body.status == "completed" else TaskStatus.FAILED,
        result=body.result,
        error_message=body.error_message,
        worker_id=worker_id,
    )


TASK_ID = Param(
    name="task_id",
    where="path",
    schema={"type": "string", "pattern": r"^task_[0-9a-z]{26}$"},
)
TAG = "task-list"

ROUTES: tuple[Route, ...] = (
    Route(
        method="POST",
        path="/api/tasks",
        handler=create_task,
        summary="Create a task of a registered type (checked against its schema: 422 "
        "invalid_task_data; an inactive type: 400)",
        tag=TAG,
        request=ApiTaskCreate,
        response=ApiTaskItem,
        ok_status=201,
        errors=(400, 404, 413, 422, 429, 503),
    ),
    Route(
        method="GET",
        path="/api/tasks",
        handler=list_tasks,
        summary="Tasks of registered types you may see, newest first",
        tag=TAG,
        response=ApiTaskList,
        errors=(422, 503),
        params=(
            Param(name="task_type_id", where="query", schema={"type": "integer", "minimum": 1}),
            Param(
                name="status",
                where="query",
                schema={"type": "string", "enum": list(ENGINE_STATUSES)},
            ),
            Param(
                name="limit",
                where="query",
                schema={"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
            ),
        ),
    ),
    Route(
        method="POST",
        path="/api/tasks/claim",
        handler=claim_task,
        summary="Claim one pending task for an external worker (204: none); it is running "
        "on the worker until it reports, or its lease lapses and it returns to the queue",
        tag=TAG,
        request=TaskClaimRequest,
        response=ApiTaskItem,
        no_content=(204,),
        errors=(400, 404, 413, 422, 503),
    ),
    Route(
        method="GET",
        path="/api/tasks/{task_id}",
        handler=get_task,
        summary="One task as the task list shows it",
        tag=TAG,
        response=ApiTaskItem,
        errors=(403, 404, 503),
        params=(TASK_ID,),
    ),
    Route(
        method="PUT",
        path="/api/tasks/{task_id}",
        handler=update_task,
        summary="Report on a task: running (claims or renews), completed, failed, cancelled; "
        "409 for a step back or a change of a finished task",
        tag=TAG,
        request=ApiTaskUpdate,
        response=ApiTaskItem,
        errors=(403, 404, 409, 413, 422, 503),
        params=(TASK_ID,),
    ),
)
