"""The routes of events and the compatibility paths (seed 002), as data; the surface opens
the edge's one event subscription for its lifetime."""

from __future__ import annotations

from prsm_tasks.edge.http.openapi import Param, Route
from prsm_tasks.edge.http.schemas import CancelResponse, StatusResponse
from prsm_tasks.edge.http.surface import Surface
from prsm_tasks.edge.surfaces.events import handlers
from prsm_tasks.services.grants import GRANT_PARAM, MAX_GRANT_CHARS
from prsm_tasks.services.task_refs import TASK_REF_PATTERN
from prsm_tasks.wire import QUEUE_NAME_RE, TASK_ID_RE

TASK_ID = Param(
    name="task_id", where="path", schema={"type": "string", "pattern": TASK_ID_RE.pattern}
)
# the /api/ routes take a task's number (the task list's integer id) too
API_TASK_ID = Param(
    name="task_id",
    where="path",
    schema={"type": "string", "pattern": TASK_REF_PATTERN},
    description="the task id or the task's number",
)
GRANT = Param(
    name=GRANT_PARAM,
    where="query",
    schema={"type": "string", "maxLength": MAX_GRANT_CHARS},
    description="the stream grant of the stream_url enqueue answered: reads this task's "
    "events without credentials (401 when expired, altered or for another task)",
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
            "description": "messages `event: task_event`, `id: <seq>`, `data: <event JSON>`; "
            "`event: task_log` (the same JSON, `event_type` `task_log`) for lines the "
            "handler logged; `event: replay_truncated` (data: where to resume) when one "
            "connection's replay bound (PRSM_SSE_REPLAY_MAX_EVENTS) is reached",
        }
    }
}

ROUTES: tuple[Route, ...] = (
    Route(
        method="GET",
        path="/tasks/{task_id}/events",
        handler=handlers.task_events,
        summary="A task's events as Server-Sent Events: its history, then live, until it ends",
        tag="events",
        auth=False,  # authenticated inside: Bearer header, access_token or a stream grant
        errors=(400, 401, 403, 404, 503),
        params=(TASK_ID, *SSE_PARAMS, GRANT),
        content=SSE_CONTENT,
    ),
    Route(
        method="GET",
        path="/events",
        handler=handlers.all_events,
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
        handler=handlers.task_stream,
        summary="The same SSE as /tasks/{task_id}/events (task-service compatible path)",
        tag="compatibility",
        auth=False,
        errors=(400, 401, 403, 404, 503),
        params=(API_TASK_ID, *SSE_PARAMS, GRANT),
        content=SSE_CONTENT,
    ),
    Route(
        method="GET",
        path="/api/tasks/{task_id}/status",
        handler=handlers.api_status,
        summary="The same answer as /status/{task_id}",
        tag="compatibility",
        response=StatusResponse,
        errors=(403, 404, 503),
        params=(API_TASK_ID,),
    ),
    Route(
        method="POST",
        path="/api/tasks/{task_id}/cancel",
        handler=handlers.api_cancel,
        summary="The same as DELETE /cancel/{task_id}",
        tag="compatibility",
        response=CancelResponse,
        errors=(403, 404, 409, 503),
        params=(API_TASK_ID,),
    ),
    Route(
        method="DELETE",
        path="/api/tasks/{task_id}",
        handler=handlers.api_delete,
        summary="Remove a finished task and its events (409 task_not_finished while it runs); "
        "a task created by POST /api/tasks is cancelled first if pending, and answers 204",
        tag="compatibility",
        no_content=(204,),
        errors=(403, 404, 409, 503),
        params=(API_TASK_ID,),
    ),
)

SURFACE = Surface(
    name="events",
    routes=ROUTES,
    open=handlers.open_events(),
    on_shutdown=handlers.close_streams,
)
