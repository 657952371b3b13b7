"""The scheduler API's handlers: parse the document's bodies, call the schedule services,
answer the document's shapes (the one error body for errors)."""

from __future__ import annotations

import time
from typing import Any

import pydantic
from aiohttp import web

from prsm_tasks.edge.http.body import read_body
from prsm_tasks.edge.http.errors import from_pydantic, json_response
from prsm_tasks.edge.http.params import int_param
from prsm_tasks.edge.http.state import EdgeState
from prsm_tasks.edge.surfaces.scheduler.schemas import (
    BulkCreate,
    BulkDelete,
    DependencyCreate,
    ScheduleCreate,
    ScheduleUpdate,
)
from prsm_tasks.edge.surfaces.scheduler.state import SCHEDULES
from prsm_tasks.edge.surfaces.scheduler.views import (
    dependency_items,
    schedule_item,
    summary_item,
    utc,
)
from prsm_tasks.errors import ValidationError
from prsm_tasks.services.access import Principal
from prsm_tasks.services.schedules import bulk, changes, dependencies, monitor, runs
from prsm_tasks.services.schedules.core import ScheduleService
from prsm_tasks.services.schedules.listing import list_schedules

# PATCH may clear these with null; any other field given as null is refused
NULLABLE = frozenset({"schedule_expression", "next_execution_time", "queue_name", "handler_type"})


def schedules_of(request: web.Request) -> ScheduleService:
    return request.app[SCHEDULES]


def task_id_of(request: web.Request) -> str:
    return request.match_info["task_id"]


async def create_task(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    body = await read_body(request, ScheduleCreate, max_bytes=state.config.max_body_bytes)
    record = await changes.create(schedules_of(request), principal, body.model_dump())
    return json_response(
        {
            "task_id": record.schedule_id,
            "task_name": record.task_name,
            "status": record.status,
            "next_execution_time": utc(record.next_due_at),
            "created_at": utc(record.created_at),
        },
        status=201,
    )


async def get_task(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    schedules = schedules_of(request)
    record, _ = await schedules.read(task_id_of(request), principal)
    return json_response(schedule_item(schedules, record))


async def list_tasks(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    limit = int_param(request, "limit", low=1, high=100) or 20
    offset = int_param(request, "offset", low=0, high=1_000_000) or 0
    page, total = list_schedules(
        schedules_of(request),
        principal,
        status=request.query.get("status"),
        priority=request.query.get("priority"),
        tags=request.query.getall("tag", []),
        limit=limit,
        offset=offset,
    )
    return json_response(
        {
            "tasks": [summary_item(record) for record in page],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


def given_fields(body: ScheduleUpdate) -> dict[str, Any]:
    # in the document's order of fields, so updated_fields reads the same every time
    fields = {
        name: getattr(body, name)
        for name in ScheduleUpdate.model_fields
        if name in body.model_fields_set
    }
    for name, value in fields.items():
        if value is None and name not in NULLABLE:
            raise ValidationError(f"{name}: may not be null", field=name)
    return fields


async def update_task(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    schedules = schedules_of(request)
    await schedules.read(task_id_of(request), principal)  # 404/403 before the body's 400
    body = await read_body(request, ScheduleUpdate, max_bytes=state.config.max_body_bytes)
    record, changed = await changes.patch(
        schedules, principal, task_id_of(request), given_fields(body)
    )
    return json_response(
        {
            "task_id": record.schedule_id,
            "updated_fields": changed,
            "next_execution_time": utc(record.next_due_at),
            "updated_at": utc(record.updated_at),
        }
    )


async def delete_task(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    await changes.delete(schedules_of(request), principal, task_id_of(request))
    return web.Response(status=204)


async def pause_task(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    record = await changes.set_paused(
        schedules_of(request), principal, task_id_of(request), paused=True
    )
    return json_response(
        {"task_id": record.schedule_id, "status": record.status, "paused_at": utc(record.paused_at)}
    )


async def trigger_task(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    task_id, queued_at = await runs.trigger(schedules_of(request), principal, task_id_of(request))
    return json_response(
        {
            "task_id": task_id_of(request),
            "execution_id": runs.execution_id(task_id, 1),
            "status": "queued",
            "queued_at": utc(queued_at),
        },
        status=202,
    )


async def resume_task(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    record = await changes.set_paused(
        schedules_of(request), principal, task_id_of(request), paused=False
    )
    return json_response(
        {
            "task_id": record.schedule_id,
            "status": record.status,
            "next_execution_time": utc(record.next_due_at),
            "resumed_at": utc(time.time()),
        }
    )


async def add_dependency(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    schedules = schedules_of(request)
    await schedules.read(task_id_of(request), principal)
    body = await read_body(request, DependencyCreate, max_bytes=state.config.max_body_bytes)
    dependency, _ = await dependencies.add(
        schedules, principal, task_id_of(request), body.depends_on_task_id, body.dependency_type
    )
    return json_response(
        {
            "dependency_id": dependency.dependency_id,
            "task_id": task_id_of(request),
            "depends_on_task_id": dependency.depends_on,
            "dependency_type": dependency.type,
        },
        status=201,
    )


async def list_dependencies(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    schedules = schedules_of(request)
    record, _ = await schedules.read(task_id_of(request), principal)
    return json_response({"dependencies": dependency_items(schedules, record)})


async def remove_dependency(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    await dependencies.remove(
        schedules_of(request), principal, task_id_of(request), request.match_info["dependency_id"]
    )
    return web.Response(status=204)


def parse_item(item: dict[str, Any], index: int) -> dict[str, Any]:
    """One item of a bulk create, checked as a create's body is (its field named
    ``tasks[i].field``)."""
    try:
        return ScheduleCreate.model_validate(item).model_dump()
    except pydantic.ValidationError as exc:
        raise from_pydantic(exc, prefix=f"tasks[{index}]") from exc


async def bulk_create(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    body = await read_body(request, BulkCreate, max_bytes=state.config.max_body_bytes)
    outcome = await bulk.create_many(schedules_of(request), principal, body.tasks, parse_item)
    return json_response(outcome, status=201)


async def bulk_delete(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    body = await read_body(request, BulkDelete, max_bytes=state.config.max_body_bytes)
    outcome = await bulk.delete_many(schedules_of(request), principal, body.task_ids)
    return json_response(outcome)


async def system_status(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    return json_response(monitor.status(schedules_of(request), principal))


async def list_workers(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    workers = monitor.workers(schedules_of(request))
    return json_response({"workers": workers, "total": len(workers)})
