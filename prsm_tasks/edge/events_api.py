"""Event routes of the edge: SSE streams and the task-centred compatibility routes.

- ``GET /tasks/{task_id}/events`` (the ``stream_url`` of enqueue) and its alias
  ``GET /api/tasks/{task_id}/stream``: one task's events as SSE (see ``sse.py``);
- ``GET /events?queue_name=…``: every event the caller may see (their own tasks; a tenant
  admin: the tenant's), live, resumable with ``Last-Event-ID``;
- ``GET /api/tasks/{task_id}/status``, ``POST /api/tasks/{task_id}/cancel``: the same answers
  as ``/status`` and ``/cancel``, under the paths task-service-with-SSE clients use;
- ``DELETE /api/tasks/{task_id}``: remove a finished task and its events (409 while running).

A browser's EventSource cannot set headers, so the SSE routes also take the bearer token as
the ``access_token`` query parameter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from prsm_tasks.edge import routes, task_list_api
from prsm_tasks.edge.auth import Principal
from prsm_tasks.edge.errors import iso, json_response
from prsm_tasks.edge.events_hub import EventHub
from prsm_tasks.edge.openapi import Param, Route
from prsm_tasks.edge.schemas import CancelResponse, StatusResponse
from prsm_tasks.edge.sse import (
    HEARTBEAT_S,
    Owner,
    OwnerCache,
    stream_task_events,
    stream_visible_events,
)
from prsm_tasks.edge.state import STATE, EdgeState
from prsm_tasks.edge.view import FINAL, PENDING
from prsm_tasks.errors import TaskNotFoundError, TaskStillRunningError
from prsm_tasks.store.reads import get_raw
from prsm_tasks.wire import QUEUE_NAME_RE, TASK_ID_RE, check_queue_name


class EventsState:
    """The edge's one live event subscription and the task-owner cache of ``/events``."""

    def __init__(self, hub: EventHub, owners: OwnerCache, heartbeat_s: float) -> None:
        self.hub = hub
        self.owners = owners
        self.heartbeat_s = heartbeat_s


EVENTS: web.AppKey[EventsState] = web.AppKey("prsm_edge_events", EventsState)


def open_events(
    *, heartbeat_s: float = HEARTBEAT_S
) -> Any:  # a cleanup_ctx generator factory, appended after the edge state's
    async def events_ctx(app: web.Application) -> AsyncIterator[None]:
        state = app[STATE]
        hub = EventHub(state.nc, state.js)
        await hub.start()

        async def load_owner(task_id: str) -> Owner | None:
            entry = state.view.entries.get(task_id)
            if entry is not None:
                return entry.user, entry.tenant
            try:
                record, _ = await get_raw(state.nc, task_id)
            except TaskNotFoundError:
                return None
            return record.get("user"), record.get("tenant")

        app[EVENTS] = EventsState(hub, OwnerCache(load_owner), heartbeat_s)
        try:
            yield
        finally:
            await hub.stop()

    return events_ctx


async def close_streams(app: web.Application) -> None:
    """``on_shutdown``: end the open SSE streams so the server need not wait for them."""
    events = app.get(EVENTS)
    if events is not None:
        events.hub.close_listeners()


async def authenticate(request: web.Request, state: EdgeState) -> Principal:
    """Bearer header, or ``access_token`` in the query (EventSource cannot send headers)."""
    header = request.headers.get("Authorization")
    token = request.query.get("access_token")
    if not header and token:
        header = f"Bearer {token}"
    principal = await state.verifier.verify_header(header)
    state.check_connected()
    return principal


async def task_events(
    request: web.Request, state: EdgeState, principal: Principal | None
) -> web.StreamResponse:
    principal = principal or await authenticate(request, state)
    task_id, record = await routes.read_own(state, request, principal)
    events = request.app[EVENTS]
    return await stream_task_events(
        request,
        events.hub,
        task_id=task_id,
        queue_name=record["queue_name"],
        record_is_final=record["status"] in FINAL,
        heartbeat_s=events.heartbeat_s,
    )


async def task_stream(
    request: web.Request, state: EdgeState, principal: Principal | None
) -> web.StreamResponse:
    return await task_events(request, state, principal)


async def all_events(
    request: web.Request, state: EdgeState, principal: Principal | None
) -> web.StreamResponse:
    caller = principal or await authenticate(request, state)
    events = request.app[EVENTS]

    def may_see(owner: Owner) -> bool:
        user, tenant = owner
        return tenant == caller.tenant and (caller.is_admin or user == caller.user)

    queue_name = request.query.get("queue_name")
    if queue_name is not None:
        check_queue_name(queue_name)  # an empty or malformed filter is a 400, not "all"
    return await stream_visible_events(
        request,
        events.hub,
        queue_name=queue_name,
        may_see=may_see,
        owners=events.owners,
        heartbeat_s=events.heartbeat_s,
    )


async def api_status(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.StreamResponse:
    return await routes.status(request, state, principal)


async def api_cancel(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.StreamResponse:
    return await routes.cancel(request, state, principal)


async def api_delete(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.StreamResponse:
    task_id, record = await routes.read_own(state, request, principal)
    listed = task_list_api.created_here(record)  # POST /api/tasks: that API's answers
    if listed and record["status"] in PENDING:  # it deletes pending tasks: cancelled first
        record = await task_list_api.cancel_pending(state, task_id, principal)
    if record["status"] not in FINAL:
        raise TaskStillRunningError(
            f"task {task_id} is {record['status']}; cancel it first or wait until it ends",
            task_id=task_id,
            status=record["status"],
        )
    events = request.app[EVENTS]
    await events.hub.purge_task(task_id, record["queue_name"])
    await state.store.delete(task_id)
    events.owners.forget(task_id)
    if listed:
        return web.Response(status=204)
    return json_response(
        {
            "success": True,
            "task_id": task_id,
            "status": record["status"],
            "deleted": True,
            "completed_at": iso(record.get("completed_at")),
        }
    )


TASK_ID = Param(
    name="task_id", where="path", schema={"type": "string", "pattern": TASK_ID_RE.pattern}
)
SSE_PARAMS = (
    Param(
        name="access_token",
        where="query",
        schema={"type": "string"},
        description="the bearer token, for EventSource clients that cannot set headers",
    ),
    Param(
        name="Last-Event-ID",
        where="header",
        schema={"type": "integer", "minimum": 0},
        description="resume after this event id (a stream sequence)",
    ),
)
SSE_CONTENT = {
    "text/event-stream": {
        "schema": {
            "type": "string",
            "description": "messages `event: task_event`, `id: <seq>`, `data: <event JSON>`",
        }
    }
}

ROUTES: tuple[Route, ...] = (
    Route(
        method="GET",
        path="/tasks/{task_id}/events",
        handler=task_events,
        summary="A task's events as Server-Sent Events: its history, then live, until it ends",
        tag="events",
        auth=False,  # authenticated inside: Bearer header or access_token
        errors=(400, 401, 403, 404, 503),
        params=(TASK_ID, *SSE_PARAMS),
        content=SSE_CONTENT,
    ),
    Route(
        method="GET",
        path="/events",
        handler=all_events,
        summary="Live events of every task you may see (admins: your tenant's), as SSE",
        tag="events",
        auth=False,
        errors=(400, 401, 503),
        params=(
            Param(
                name="queue_name",
                where="query",
                schema={"type": "string", "pattern": QUEUE_NAME_RE.pattern},
            ),
            *SSE_PARAMS,
        ),
        content=SSE_CONTENT,
    ),
    Route(
        method="GET",
        path="/api/tasks/{task_id}/stream",
        handler=task_stream,
        summary="The same SSE as /tasks/{task_id}/events (task-service compatible path)",
        tag="compatibility",
        auth=False,
        errors=(400, 401, 403, 404, 503),
        params=(TASK_ID, *SSE_PARAMS),
        content=SSE_CONTENT,
    ),
    Route(
        method="GET",
        path="/api/tasks/{task_id}/status",
        handler=api_status,
        summary="The same answer as /status/{task_id}",
        tag="compatibility",
        response=StatusResponse,
        errors=(403, 404, 503),
        params=(TASK_ID,),
    ),
    Route(
        method="POST",
        path="/api/tasks/{task_id}/cancel",
        handler=api_cancel,
        summary="The same as DELETE /cancel/{task_id}",
        tag="compatibility",
        response=CancelResponse,
        errors=(403, 404, 409, 503),
        params=(TASK_ID,),
    ),
    Route(
        method="DELETE",
        path="/api/tasks/{task_id}",
        handler=api_delete,
        summary="Remove a finished task and its events (409 task_not_finished while it runs); "
        "a task created by POST /api/tasks is cancelled first if pending, and answers 204",
        tag="compatibility",
        no_content=(204,),
        errors=(403, 404, 409, 503),
        params=(TASK_ID,),
    ),
)
