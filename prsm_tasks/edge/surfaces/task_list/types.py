"""The task-type registry handlers: /api/task-types (see services/types.py for the rules)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from prsm_tasks.edge.http.body import read_body
from prsm_tasks.edge.http.errors import json_response
from prsm_tasks.edge.http.params import bool_param
from prsm_tasks.edge.http.state import EdgeState
from prsm_tasks.edge.surfaces.task_list.schemas import TaskTypeCreate, TaskTypeUpdate
from prsm_tasks.errors import UnprocessableError
from prsm_tasks.services import types
from prsm_tasks.services.access import Principal
from prsm_tasks.services.core import Services
from prsm_tasks.services.timestamps import iso
from prsm_tasks.store.types import TaskTypeRecord


def type_item(services: Services, record: TaskTypeRecord) -> dict[str, Any]:
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
        "served_by": types.served_by(services, record),
    }


def type_id_of(request: web.Request) -> int:
    return types.parse_type_id(request.match_info["task_type_id"])


async def create_task_type(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    body = await read_body(request, TaskTypeCreate, max_bytes=state.config.max_body_bytes)
    record = await types.create_type(state.services, principal, body.model_dump())
    return json_response(type_item(state.services, record), status=201)


async def list_task_types(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    include_inactive = bool_param(request, "include_inactive", False, bad=UnprocessableError)
    found = state.services.types.visible(principal.tenant, include_inactive=include_inactive)
    return json_response([type_item(state.services, record) for record, _ in found])


async def get_task_type(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    record, _ = await types.find_type(state.services, type_id_of(request), principal.tenant)
    return json_response(type_item(state.services, record))


async def update_task_type(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    type_id = type_id_of(request)
    await types.check_changeable(state.services, principal, type_id)
    body = await read_body(request, TaskTypeUpdate, max_bytes=state.config.max_body_bytes)
    given = {name: getattr(body, name) for name in body.model_fields_set}
    record = await types.update_type(state.services, type_id, given)
    return json_response(type_item(state.services, record))


async def delete_task_type(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    """A soft delete: the type stays (and keeps its name), inactive."""
    await types.deactivate_type(state.services, principal, type_id_of(request))
    return web.Response(status=204)
