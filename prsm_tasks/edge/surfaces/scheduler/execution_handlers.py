"""The executions routes' handlers: one attempt of a schedule's run, read from its task."""

from __future__ import annotations

from aiohttp import web

from prsm_tasks.edge.http.errors import json_response
from prsm_tasks.edge.http.params import int_param
from prsm_tasks.edge.http.state import EdgeState
from prsm_tasks.edge.surfaces.scheduler.handlers import schedules_of, task_id_of
from prsm_tasks.services.access import Principal
from prsm_tasks.services.schedules import executions


def execution_id_of(request: web.Request) -> str:
    return request.match_info["execution_id"]


async def list_executions(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    limit = int_param(request, "limit", low=1, high=executions.MAX_LIMIT)
    offset = int_param(request, "offset", low=0, high=executions.MAX_OFFSET) or 0
    answer = await executions.list_executions(
        schedules_of(request),
        principal,
        task_id_of(request),
        limit=limit or executions.DEFAULT_LIMIT,
        offset=offset,
    )
    return json_response(answer)


async def get_execution(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    answer = await executions.get_execution(
        schedules_of(request), principal, execution_id_of(request)
    )
    return json_response(answer)


async def execution_logs(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    answer = await executions.execution_logs(
        schedules_of(request), principal, execution_id_of(request)
    )
    return json_response(answer)


async def cancel_execution(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    answer = await executions.cancel_execution(
        schedules_of(request), principal, execution_id_of(request)
    )
    return json_response(answer)


async def task_stats(request: web.Request, state: EdgeState, principal: Principal) -> web.Response:
    answer = await executions.execution_stats(schedules_of(request), principal, task_id_of(request))
    return json_response(answer)
