"""The hub's core app: ``/tasks/`` (list, create), ``/tasks/{id}/``, ``/tasks/{id}/retry/``
and ``/tasks/queue-stats/``, over services/hub."""

from __future__ import annotations

from aiohttp import web

from prsm_tasks.edge.http.errors import json_response
from prsm_tasks.edge.http.state import EdgeState
from prsm_tasks.edge.surfaces.hub.body import read_hub_body
from prsm_tasks.edge.surfaces.hub.query import (
    bool_param,
    choice_param,
    epoch_param,
    ms_param,
    page_links,
    page_params,
    text_param,
)
from prsm_tasks.edge.surfaces.hub.schemas import HubTaskCreate
from prsm_tasks.services.hub import tasks
from prsm_tasks.services.hub.brands import BrandScope
from prsm_tasks.services.hub.listing import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    MAX_SEARCH_CHARS,
    TaskFilters,
    list_page,
)
from prsm_tasks.services.hub.queues import queue_stats


def task_filters(request: web.Request) -> TaskFilters:
    search = text_param(request, "search", max_chars=MAX_SEARCH_CHARS)
    return TaskFilters(
        status=choice_param(request, "status", tasks.STATUS_FILTERS),
        task_type=text_param(request, "task_type", max_chars=128),
        priority=choice_param(request, "priority", tasks.PRIORITIES),
        has_metrics=bool_param(request, "has_metrics"),
        execution_time_gte_ms=ms_param(request, "execution_time__gte"),
        execution_time_lte_ms=ms_param(request, "execution_time__lte"),
        is_resumable=bool_param(request, "is_resumable"),
        is_periodic=bool_param(request, "is_periodic"),
        created_gte=epoch_param(request, "created_at__gte"),
        created_lte=epoch_param(request, "created_at__lte"),
        search=search.lower() if search is not None else None,
    )


async def hub_list_tasks(request: web.Request, state: EdgeState, scope: BrandScope) -> web.Response:
    filters = task_filters(request)
    page, size = page_params(
        request, default_size=DEFAULT_PAGE_SIZE, max_size=MAX_PAGE_SIZE, max_page=MAX_PAGE
    )
    found = await list_page(state.services, scope, filters, page=page, page_size=size)
    following, earlier = page_links(request, page, size, found.count)
    return json_response(
        {"count": found.count, "next": following, "previous": earlier, "results": found.items}
    )


async def hub_create_task(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    body = await read_hub_body(request, HubTaskCreate, max_bytes=state.config.max_body_bytes)
    state.limiter.take(scope.caller.owner_key)
    record = await tasks.create(
        state.services,
        scope,
        task_type=body.task_type,
        priority=body.priority,
        description=body.description,
        context_data=body.context_data,
    )
    return json_response(tasks.item_of(state.services, scope, record), status=201)


async def hub_get_task(request: web.Request, state: EdgeState, scope: BrandScope) -> web.Response:
    return json_response(await tasks.read(state.services, scope, request.match_info["id"]))


async def hub_retry_task(request: web.Request, state: EdgeState, scope: BrandScope) -> web.Response:
    state.limiter.take(scope.caller.owner_key)
    again = await tasks.retry(state.services, scope, request.match_info["id"])
    return json_response(tasks.item_of(state.services, scope, again))


async def hub_queue_stats(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    return json_response(queue_stats(state.services, scope))
