"""The task-type registry over HTTP: /api/task-types.

A tenant's types are its own; system types (registered by peer nodes for their handlers)
are visible to every tenant and read-only here. Names are unique per scope, and a tenant
cannot take the name of a system type. Ids come from one counter (see store/types.py).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from prsm_tasks.edge.api_common import (
    API_STATE,
    api_route,
    bool_param,
    find_type,
    type_id_of,
)
from prsm_tasks.edge.auth import Principal
from prsm_tasks.edge.errors import iso, json_response
from prsm_tasks.edge.openapi import Param, Route
from prsm_tasks.edge.state import EdgeState, read_body
from prsm_tasks.edge.task_api_schemas import (
    TaskTypeCreate,
    TaskTypeItem,
    TaskTypeList,
    TaskTypeUpdate,
)
from prsm_tasks.errors import ForbiddenError, TaskTypeConflictError
from prsm_tasks.store.type_index import Found
from prsm_tasks.store.types import (
    TaskTypeRecord,
    check_schema,
    check_size,
    queue_of,
)


def served_by(state: EdgeState, record: TaskTypeRecord) -> list[str]:
    return sorted(
        ad.node_id
        for ad in state.nodes.live()
        if record.name in ad.task_types and record.queue in ad.queues
    )


def type_item(state: EdgeState, record: TaskTypeRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "description": record.description,
        "parameters_schema": record.parameters_schema,
        "metadata": record.metadata,
        "is_active": record.is_active,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "scope": "system" if record.is_system else "tenant",
        "queue_name": record.queue,
        "result_schema": record.result_schema,
        "served_by": served_by(state, record),
    }


def check_may_change(found: Found, principal: Principal) -> TaskTypeRecord:
    record = found[0]
    if record.is_system:
        raise ForbiddenError(
            f"task type {record.name!r} is registered by peer nodes; it is read-only here"
        )
    if record.created_by not in (None, principal.user) and not principal.is_admin:
        raise ForbiddenError(
            f"task type {record.name!r} belongs to {record.created_by}; "
            "its creator or a tenant admin may change it"
        )
    return record


@api_route
async def create_task_type(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    body = await read_body(request, TaskTypeCreate, max_bytes=state.config.max_body_bytes)
    store = request.app[API_STATE].types
    if await store.find(body.name) is not None:
        raise TaskTypeConflictError(
            f"{body.name!r} is the name of a system task type (registered by peer nodes)",
            field="name",
        )
    record, rev = await store.create(
        tenant=principal.tenant,
        name=body.name,
        description=body.description,
        parameters_schema=body.parameters_schema,
        metadata=body.metadata,
        created_by=principal.user,
    )
    state.types.apply(record, rev)
    return json_response(type_item(state, record), status=201)


@api_route
async def list_task_types(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    include_inactive = bool_param(request, "include_inactive", False)
    found = state.types.visible(principal.tenant, include_inactive=include_inactive)
    return json_response([type_item(state, record) for record, _ in found])


@api_route
async def get_task_type(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    record, _ = await find_type(request, state, type_id_of(request), principal.tenant)
    return json_response(type_item(state, record))


@api_route
async def update_task_type(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    type_id = type_id_of(request)
    check_may_change(await find_type(request, state, type_id, principal.tenant), principal)
    body = await read_body(request, TaskTypeUpdate, max_bytes=state.config.max_body_bytes)
    given = body.model_fields_set
    update: dict[str, Any] = {}
    if "description" in given:
        update["description"] = body.description
    if "parameters_schema" in given:
        if body.parameters_schema is not None:
            check_size(body.parameters_schema, field="parameters_schema")
            check_schema(body.parameters_schema)
        update["parameters_schema"] = body.parameters_schema
    if "metadata" in given:
        update["metadata"] = body.metadata or {}
        check_size(update["metadata"], field="metadata")
    if "is_active" in given and body.is_active is not None:
        update["is_active"] = body.is_active

    def change(current: TaskTypeRecord) -> TaskTypeRecord:
        if "metadata" in update:  # metadata.queue_name (or its absence) sets the queue
            return current.model_copy(
                update={**update, "queue_name": queue_of(current.name, update["metadata"])}
            )
        return current.model_copy(update=update)

    if "metadata" in update:
        queue_of("checked", update["metadata"])  # 422 before anything is written
    record, rev = await request.app[API_STATE].types.update(type_id, change)
    state.types.apply(record, rev)
    return json_response(type_item(state, record))


@api_route
async def delete_task_type(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    """A soft delete: the type stays (and keeps its name), inactive."""
    type_id = type_id_of(request)
    check_may_change(await find_type(request, state, type_id, principal.tenant), principal)
    record, rev = await request.app[API_STATE].types.update(
        type_id, lambda current: current.model_copy(update={"is_active": False})
    )
    state.types.apply(record, rev)
    return web.Response(status=204)


TYPE_ID = Param(name="task_type_id", where="path", schema={"type": "integer", "minimum": 1})
TAG = "task-types"

ROUTES: tuple[Route, ...] = (
    Route(
        method="POST",
        path="/api/task-types",
        handler=create_task_type,
        summary="Register a task type of your tenant (name unique; 409 task_type_exists)",
        tag=TAG,
        request=TaskTypeCreate,
        response=TaskTypeItem,
        ok_status=201,
        errors=(400, 409, 413, 422, 503),
    ),
    Route(
        method="GET",
        path="/api/task-types",
        handler=list_task_types,
        summary="Your tenant's task types and the system ones (registered by peer nodes)",
        tag=TAG,
        response=TaskTypeList,
        errors=(422, 503),
        params=(
            Param(
                name="include_inactive",
                where="query",
                schema={"type": "boolean", "default": False},
            ),
        ),
    ),
    Route(
        method="GET",
        path="/api/task-types/{task_type_id}",
        handler=get_task_type,
        summary="One task type, with the live peer nodes that serve it",
        tag=TAG,
        response=TaskTypeItem,
        errors=(404, 503),
        params=(TYPE_ID,),
    ),
    Route(
        method="PUT",
        path="/api/task-types/{task_type_id}",
        handler=update_task_type,
        summary="Change a task type (every field optional; updated_at is set)",
        tag=TAG,
        request=TaskTypeUpdate,
        response=TaskTypeItem,
        errors=(400, 403, 404, 413, 422, 503),
        params=(TYPE_ID,),
    ),
    Route(
        method="DELETE",
        path="/api/task-types/{task_type_id}",
        handler=delete_task_type,
        summary="Deactivate a task type (a soft delete: new tasks of it are refused with 400)",
        tag=TAG,
        ok_status=204,
        errors=(403, 404, 503),
        params=(TYPE_ID,),
    ),
)
