"""The hub's scheduling app: ``/tasks/scheduled/…/`` over the schedules' service (the same
records as the scheduler API, services/hub/periodic.py says how the fields map)."""

from __future__ import annotations

from aiohttp import web

from prsm_tasks.edge.http.errors import json_response
from prsm_tasks.edge.http.schedules import SCHEDULES
from prsm_tasks.edge.http.state import EdgeState
from prsm_tasks.edge.surfaces.hub.body import read_hub_body
from prsm_tasks.edge.surfaces.hub.query import (
    bool_param,
    page_links,
    page_params,
    text_param,
    time_param,
)
from prsm_tasks.edge.surfaces.hub.schemas import CronCheck, PeriodicTaskCreate, PeriodicTaskUpdate
from prsm_tasks.errors import ValidationError
from prsm_tasks.schedules.record import ScheduleRecord
from prsm_tasks.services.hub import calendar, periodic
from prsm_tasks.services.hub.brands import BrandScope
from prsm_tasks.services.schedules.changes import delete
from prsm_tasks.services.schedules.core import ScheduleService

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_PAGE = 1000


def schedules_of(request: web.Request) -> ScheduleService:
    return request.app[SCHEDULES]


def periodic_id(request: web.Request) -> str:
    return request.match_info["id"]


def filtered(request: web.Request, records: list[ScheduleRecord]) -> list[ScheduleRecord]:
    active = bool_param(request, "is_active")
    task_type = text_param(request, "task_type", max_chars=128)
    return [
        record
        for record in records
        if (active is None or record.enabled == active)
        and (task_type is None or (record.handler_type or record.task_name) == task_type)
    ]


async def hub_list_periodic_tasks(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    schedules = schedules_of(request)
    records = filtered(request, periodic.brand_schedules(schedules, scope))
    page, size = page_params(
        request, default_size=DEFAULT_PAGE_SIZE, max_size=MAX_PAGE_SIZE, max_page=MAX_PAGE
    )
    shown = records[(page - 1) * size : page * size]
    following, earlier = page_links(request, page, size, len(records))
    return json_response(
        {
            "count": len(records),
            "next": following,
            "previous": earlier,
            "results": [periodic.periodic_item(state.services, scope, r) for r in shown],
        }
    )


async def hub_create_periodic_task(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    body = await read_hub_body(request, PeriodicTaskCreate, max_bytes=state.config.max_body_bytes)
    state.limiter.take(scope.caller.owner_key)
    record = await periodic.create(schedules_of(request), scope, body.model_dump())
    return json_response(periodic.periodic_item(state.services, scope, record), status=201)


async def hub_get_periodic_task(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    record, _ = await schedules_of(request).read(periodic_id(request), scope.principal)
    return json_response(periodic.periodic_item(state.services, scope, record))


async def hub_update_periodic_task(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    schedules = schedules_of(request)
    await schedules.read(periodic_id(request), scope.principal)  # 404 before the body's 400
    body = await read_hub_body(request, PeriodicTaskUpdate, max_bytes=state.config.max_body_bytes)
    given = {name: getattr(body, name) for name in body.model_fields_set}
    for name, value in given.items():
        if value is None:
            raise ValidationError(f"{name}: may not be null", field=name)
    record, changed = await periodic.update(schedules, scope, periodic_id(request), given)
    item = periodic.periodic_item(state.services, scope, record)
    return json_response({**item, "updated_fields": changed})


async def hub_delete_periodic_task(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    await delete(schedules_of(request), scope.principal, periodic_id(request))
    return web.Response(status=204)


async def hub_ready_for_execution(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    records = periodic.brand_schedules(schedules_of(request), scope)
    due = calendar.ready(records, calendar.utc_now())
    results = [
        {**periodic.periodic_item(state.services, scope, record), "overdue_seconds": round(s, 3)}
        for record, s in due[:MAX_PAGE_SIZE]
    ]
    return json_response({"count": len(due), "results": results})


async def hub_validate_cron(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    body = await read_hub_body(request, CronCheck, max_bytes=state.config.max_body_bytes)
    return json_response(
        calendar.validate_cron(body.cron_expression, body.timezone, calendar.utc_now())
    )


async def hub_cron_jobs(request: web.Request, state: EdgeState, scope: BrandScope) -> web.Response:
    """The brand's active cron jobs, the next to run first."""
    records = [
        record
        for record in periodic.brand_schedules(schedules_of(request), scope)
        if record.enabled and record.next_due_at is not None
    ]
    records.sort(key=lambda record: (record.next_due_at, record.schedule_id))
    return json_response(
        {
            "count": len(records),
            "results": [
                periodic.periodic_item(state.services, scope, r) for r in records[:MAX_PAGE_SIZE]
            ],
        }
    )


async def hub_calendar(request: web.Request, state: EdgeState, scope: BrandScope) -> web.Response:
    start, end = calendar.window(
        time_param(request, "from"), time_param(request, "to"), calendar.utc_now()
    )
    records = periodic.brand_schedules(schedules_of(request), scope)
    runs, truncated = calendar.planned(records, start, end)
    return json_response(
        {
            "from": calendar.iso(start.timestamp()),
            "to": calendar.iso(end.timestamp()),
            "count": len(runs),
            "truncated": truncated,
            "runs": [
                {
                    "at": calendar.iso(at.timestamp()),
                    "periodic_task_id": record.schedule_id,
                    "task_type": record.handler_type or record.task_name,
                    "cron_expression": record.expression,
                    "timezone": record.timezone,
                }
                for at, record in runs
            ],
        }
    )
