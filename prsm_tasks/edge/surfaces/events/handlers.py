"""Event handlers: SSE streams and the task-centred compatibility routes.

- ``GET /tasks/{task_id}/events`` (the ``stream_url`` of enqueue) and its alias
  ``GET /api/tasks/{task_id}/stream``: one task's events as SSE (see ``http/sse.py``);
- ``GET /events?queue_name=…``: every event the caller may see (their own tasks; a tenant
  admin: the tenant's), live, resumable with ``Last-Event-ID``;
- ``GET /api/tasks/{task_id}/status``, ``POST /api/tasks/{task_id}/cancel``: the same answers
  as ``/status`` and ``/cancel``, under the paths task-service-with-SSE clients use;
- ``DELETE /api/tasks/{task_id}``: remove a finished task and its events (409 while running).

A browser's EventSource cannot set headers, so the SSE routes also take the bearer token as
the ``access_token`` query parameter, and the two streams of one task take the stream grant
that enqueue signs into ``stream_url`` (``?grant=``, services/grants.py) in place of
credentials: it reads that task's events as its owner, and nothing else. The /api/ routes
name a task by its id or its number (services/task_refs.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from prsm_tasks.edge.http.errors import json_response
from prsm_tasks.edge.http.sse import (
    HEARTBEAT_S,
    Owner,
    OwnerCache,
    stream_task_events,
    stream_visible_events,
)
from prsm_tasks.edge.http.state import STATE, EdgeState
from prsm_tasks.errors import TaskNotFoundError, TaskStillRunningError
from prsm_tasks.services import logs, task_list, task_refs, tasks
from prsm_tasks.services.access import Principal
from prsm_tasks.services.event_hub import EventHub
from prsm_tasks.services.grants import GRANT_PARAM
from prsm_tasks.services.timestamps import iso
from prsm_tasks.services.view import FINAL, PENDING
from prsm_tasks.store.reads import get_raw
from prsm_tasks.wire import check_queue_name


class EventsState:
    """The edge's one live event subscription and the task-owner cache of ``/events``."""

    def __init__(
        self, hub: EventHub, owners: OwnerCache, heartbeat_s: float, replay_max_events: int
    ) -> None:
        self.hub = hub
        self.owners = owners
        self.heartbeat_s = heartbeat_s
        self.replay_max_events = replay_max_events  # per connection


EVENTS: web.AppKey[EventsState] = web.AppKey("prsm_edge_events", EventsState)


def open_events(
    *, heartbeat_s: float = HEARTBEAT_S
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The cleanup_ctx of this surface (after the edge state's: it uses its connection)."""

    async def events_ctx(app: web.Application) -> AsyncIterator[None]:
        services = app[STATE].services
        nc = services.stores.nc
        hub = EventHub(nc, services.stores.js)  # subscribes at its first listener

        async def load_owner(task_id: str) -> Owner | None:
            entry = services.view.entries.get(task_id)
            if entry is not None:
                return entry.user, entry.tenant
            try:
                record, _ = await get_raw(nc, task_id, partitions=services.stores.tasks.partitions)
            except TaskNotFoundError:
                return None
            return record.get("user"), record.get("tenant")

        replay_max_events = app[STATE].config.sse_replay_max_events
        app[EVENTS] = EventsState(hub, OwnerCache(load_owner), heartbeat_s, replay_max_events)
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


def credentials(request: web.Request) -> str | None:
    """Bearer header, or ``access_token`` in the query (EventSource cannot send headers)."""
    header = request.headers.get("Authorization")
    token = request.query.get("access_token")
    return f"Bearer {token}" if not header and token else header


async def authenticate(request: web.Request, state: EdgeState) -> Principal:
    return await state.authenticate(credentials(request), grant_given=GRANT_PARAM in request.query)


async def read_streamed(
    request: web.Request, state: EdgeState, *, by_number: bool
) -> tuple[str, dict[str, Any]]:
    """The id and record of the task whose events are asked for (``by_number``: the path may
    name it by its number), read as the caller's; or, with no credentials but a stream grant
    (the ``stream_url`` of enqueue), as its owner's. Credentials are checked before the task
    is looked for: without them every answer is 401, whatever the path names."""
    services = state.services
    ref = request.match_info["task_id"]
    header = credentials(request)
    grant = request.query.get(GRANT_PARAM)
    if not header and grant is not None:
        services.check_connected()
        task_id = task_refs.find(services, ref) if by_number else ref
        record = await tasks.read_granted(services, task_id or "", grant)
        return str(record["task_id"]), record
    principal = await state.authenticate(header, grant_given=False)
    task_id = task_refs.resolve(services, ref) if by_number else ref
    return task_id, await tasks.read_own(services, principal, task_id)


async def task_events(
    request: web.Request, state: EdgeState, principal: Principal | None
) -> web.StreamResponse:
    task_id, record = await read_streamed(request, state, by_number=False)
    return await stream_task(request, task_id, record)


async def stream_task(
    request: web.Request, task_id: str, record: dict[str, Any]
) -> web.StreamResponse:
    events = request.app[EVENTS]
    return await stream_task_events(
        request,
        events.hub,
        task_id=task_id,
        queue_name=record["queue_name"],
        record_is_final=record["status"] in FINAL,
        heartbeat_s=events.heartbeat_s,
        replay_max_events=events.replay_max_events,
    )


async def task_stream(
    request: web.Request, state: EdgeState, principal: Principal | None
) -> web.StreamResponse:
    """The same stream under /api/: the task named by its id or its number."""
    task_id, record = await read_streamed(request, state, by_number=True)
    return await stream_task(request, task_id, record)


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
        replay_max_events=events.replay_max_events,
    )


async def api_status(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.StreamResponse:
    task_id = task_refs.resolve(state.services, request.match_info["task_id"])
    record = await tasks.read_own(state.services, principal, task_id)
    return json_response(tasks.status_report(state.services, task_id, record))


async def api_cancel(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.StreamResponse:
    task_id = task_refs.resolve(state.services, request.match_info["task_id"])
    return json_response(await tasks.cancel_own(state.services, principal, task_id))


async def api_delete(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.StreamResponse:
    services = state.services
    task_id = task_refs.resolve(services, request.match_info["task_id"])
    record = await tasks.read_own(services, principal, task_id)
    listed = task_list.created_here(record)  # POST /api/tasks: that API's answers
    if listed and record["status"] in PENDING:  # it deletes pending tasks: cancelled first
        record = await task_list.cancel_pending(services, task_id, principal)
    if record["status"] not in FINAL:
        raise TaskStillRunningError(
            f"task {task_id} is {record['status']}; cancel it first or wait until it ends",
            task_id=task_id,
            status=record["status"],
        )
    events = request.app[EVENTS]
    await events.hub.purge_task(task_id, record["queue_name"])
    await logs.forget_task_logs(services, task_id, record["queue_name"])
    await services.stores.tasks.delete(task_id)
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
