"""The task list handlers: /api/tasks, for services that are not peer nodes.

A task created here is a normal task (the same record, ``/status/{id}``, SSE), checked
against its type's schema and put on the type's queue. External workers claim tasks with
``POST /api/tasks/claim`` and report with ``PUT /api/tasks/{id}`` (services/external_tasks.py).
A task's ``id`` here is its number; a path takes the number or the task id (task_refs.py).
``DELETE /api/tasks/{id}`` is the events surface's (one route for both APIs); a task created
here gets this API's answer there (204).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from prsm_tasks.edge.http.body import read_body
from prsm_tasks.edge.http.errors import json_response
from prsm_tasks.edge.http.params import int_param
from prsm_tasks.edge.http.sse import stream_url
from prsm_tasks.edge.http.state import EdgeState
from prsm_tasks.edge.surfaces.task_list.schemas import (
    ApiTaskCreate,
    ApiTaskUpdate,
    TaskClaimRequest,
)
from prsm_tasks.errors import UnprocessableError
from prsm_tasks.services import external_tasks, task_list, task_refs, tasks, types
from prsm_tasks.services.access import Principal
from prsm_tasks.services.core import Services
from prsm_tasks.store.type_index import Found
from prsm_tasks.wire import check_queue_name

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


async def type_of_body(services: Services, principal: Principal, body: Any) -> Found:
    """The type a create or claim names (by id or by name); 404 when the tenant has none."""
    if body.task_type_id is not None:
        found = await types.find_type(services, body.task_type_id, principal.tenant)
        if body.task_type is not None and body.task_type != found[0].name:
            raise UnprocessableError(
                f"task_type {body.task_type!r} is not the name of type {body.task_type_id}",
                field="task_type",
            )
        return found
    if body.task_type is not None:
        return await types.find_named(services, principal.tenant, body.task_type)
    raise UnprocessableError("name the task type: task_type_id or task_type", field="task_type_id")


async def create_task(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    services = state.services
    body = await read_body(request, ApiTaskCreate, max_bytes=state.config.max_body_bytes)
    found = types.active_type(await type_of_body(services, principal, body))
    prepared = task_list.prepare_task(
        services, principal, found, body.parameters, priority=body.priority, metadata=body.metadata
    )
    state.limiter.take(principal.owner_key)
    record = await task_list.submit_task(services, prepared)
    url = stream_url(request, f"/api/tasks/{record.task_id}/stream")
    created = {
        **task_list.item_of(services, record),
        "stream_url": tasks.granted_stream_url(services, url, record),
    }
    return json_response(created, status=201)


async def get_task(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    task_id = task_refs.resolve(state.services, request.match_info["task_id"])
    return json_response(await task_list.read_item(state.services, task_id, principal))


async def list_tasks(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    limit = (
        int_param(request, "limit", low=1, high=MAX_LIMIT, bad=UnprocessableError) or DEFAULT_LIMIT
    )
    wanted_type = int_param(request, "task_type_id", low=1, bad=UnprocessableError)
    wanted_status = request.query.get("status")
    if wanted_status is not None and wanted_status not in task_list.ENGINE_STATUSES:
        raise UnprocessableError(
            f"status must be one of {', '.join(task_list.ENGINE_STATUSES)}, got {wanted_status!r}",
            field="status",
        )
    statuses = task_list.ENGINE_STATUSES[wanted_status] if wanted_status else None
    items = await task_list.list_items(
        state.services, principal, limit=limit, type_id=wanted_type, statuses=statuses
    )
    return json_response(items)


async def claim_queue(
    services: Services, principal: Principal, body: TaskClaimRequest
) -> tuple[str, str | None]:
    """The queue to claim from, and the type the task must be of (if the body names one)."""
    if body.task_type is not None or body.task_type_id is not None:
        found = await type_of_body(services, principal, body)
        type_name, queue = found[0].name, found[0].queue
        if body.queue_name is not None and body.queue_name != queue:
            raise UnprocessableError(
                f"task type {type_name!r} goes to queue {queue}, not {body.queue_name}",
                field="queue_name",
            )
        return queue, type_name
    if body.queue_name is not None:
        queue = check_queue_name(body.queue_name)
        external_tasks.check_claimable(services, queue, principal)
        return queue, None
    raise UnprocessableError("name a task_type or a queue_name to claim from", field="task_type")


async def claim_task(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    services = state.services
    body = await read_body(request, TaskClaimRequest, max_bytes=state.config.max_body_bytes)
    queue, type_name = await claim_queue(services, principal, body)
    claimed = await external_tasks.claim(
        services,
        principal,
        queue,
        type_name=type_name,
        worker_id=body.worker_id,
        lease_s=body.lease_seconds,
    )
    if claimed is None:
        return web.Response(status=204)
    return json_response(task_list.item_of(services, claimed))


async def update_task(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    services = state.services
    task_id = task_refs.resolve(services, request.match_info["task_id"])
    record, _ = await task_list.read_task(services, task_id, principal)
    body = await read_body(request, ApiTaskUpdate, max_bytes=state.config.max_body_bytes)
    report = external_tasks.Report(
        given=frozenset(body.model_fields_set),
        status=body.status,
        parameters=body.parameters,
        priority=body.priority,
        metadata=body.metadata,
        result=body.result,
        error_message=body.error_message,
        worker_id=body.worker_id,
        lease_seconds=body.lease_seconds,
    )
    record = await external_tasks.report_on(services, principal, record, report)
    return json_response(task_list.item_of(services, record))
