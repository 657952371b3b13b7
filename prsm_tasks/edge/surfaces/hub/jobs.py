"""The hub's persistent-jobs app: ``/tasks/persistent-jobs/…/`` over services/jobs.py, in
the caller's brand scope (the brand's principal): another brand's job is a 404 like a
missing one; a job with no checkpoint, still running, or completed is a 409."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from prsm_tasks.edge.http.errors import json_response
from prsm_tasks.edge.http.state import EdgeState
from prsm_tasks.edge.surfaces.hub.query import bool_param, page_links, page_params
from prsm_tasks.errors import TaskNotFoundError
from prsm_tasks.services import jobs, task_refs
from prsm_tasks.services.hub import tasks
from prsm_tasks.services.hub.brands import BrandScope

DEFAULT_PAGE_SIZE = 50
MAX_PAGE = 500


def listing(request: web.Request, page: jobs.Page, number: int, size: int) -> dict[str, Any]:
    following, earlier = page_links(request, number, size, page.total)
    return {
        "count": page.total,
        "next": following,
        "previous": earlier,
        "results": [item.as_dict() for item in page.items],
    }


async def hub_resumable_jobs(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    """Jobs stopped with a checkpoint; with ``include_resuming=true`` (the default) also those
    queued again with one (a shutdown handed them back: they resume by themselves)."""
    number, size = page_params(
        request, default_size=DEFAULT_PAGE_SIZE, max_size=jobs.MAX_LIMIT, max_page=MAX_PAGE
    )
    include = bool_param(request, "include_resuming")
    page = jobs.list_resumable(
        state.services,
        scope.principal,
        limit=size,
        offset=(number - 1) * size,
        include_resuming=True if include is None else include,
    )
    return json_response(listing(request, page, number, size))


async def hub_checkpoints(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    number, size = page_params(
        request, default_size=DEFAULT_PAGE_SIZE, max_size=jobs.MAX_LIMIT, max_page=MAX_PAGE
    )
    page = jobs.list_checkpoints(
        state.services, scope.principal, limit=size, offset=(number - 1) * size
    )
    return json_response(listing(request, page, number, size))


async def hub_resume_job(request: web.Request, state: EdgeState, scope: BrandScope) -> web.Response:
    """The same task runs again from its last checkpoint, as its next attempt."""
    state.limiter.take(scope.caller.owner_key)
    ref = request.match_info["id"]
    task_id = task_refs.find(state.services, ref)
    if task_id is None:
        raise tasks.not_found(ref)
    try:
        again = await jobs.resume(state.services, scope.principal, task_id)
    except TaskNotFoundError:
        raise tasks.not_found(ref) from None
    state.services.view.apply_record(again)
    return json_response(tasks.item_of(state.services, scope, again))
