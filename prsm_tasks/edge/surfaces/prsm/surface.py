"""The routes of the PRSM Task API, as data (the app binds them; the OpenAPI comes from
them)."""

from __future__ import annotations

from prsm_tasks import wire
from prsm_tasks.edge.http.openapi import Param, Route
from prsm_tasks.edge.http.surface import Surface
from prsm_tasks.edge.surfaces.prsm import handlers
from prsm_tasks.edge.surfaces.prsm.schemas import (
    BulkEnqueueRequest,
    BulkEnqueueResponse,
    CancelResponse,
    EnqueueRequest,
    EnqueueResponse,
    HealthResponse,
    QueueStatsResponse,
    ResultResponse,
    StatusResponse,
    TaskListResponse,
    TaskLogsResponse,
)
from prsm_tasks.services import logs
from prsm_tasks.services.listing import PUBLIC_STATUSES

TASK_ID = Param(
    name="task_id", where="path", schema={"type": "string", "pattern": wire.TASK_ID_RE.pattern}
)
QUEUE = {"type": "string", "pattern": wire.QUEUE_NAME_RE.pattern}
RETRY_AFTER = {
    429: {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}
}
LIST_PARAMS = (
    Param(name="status", where="query", schema={"type": "string", "enum": list(PUBLIC_STATUSES)}),
    Param(name="queue_name", where="query", schema=QUEUE),
    Param(
        name="limit",
        where="query",
        schema={"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
    ),
    Param(name="offset", where="query", schema={"type": "integer", "minimum": 0, "default": 0}),
)

ROUTES: tuple[Route, ...] = (
    Route(
        method="POST",
        path="/enqueue",
        handler=handlers.enqueue,
        summary="Enqueue a task",
        request=EnqueueRequest,
        response=EnqueueResponse,
        errors=(400, 404, 409, 413, 429, 503, 507),
        headers=RETRY_AFTER,
        links={
            f"{verb}Task": (operation, {"task_id": "$response.body#/task_id"})
            for verb, operation in (
                ("Status", "status"),
                ("Result", "result"),
                ("Cancel", "cancel"),
            )
        },
    ),
    Route(
        method="GET",
        path="/status/{task_id}",
        handler=handlers.status,
        summary="A task's status and progress (read from the task bucket directly)",
        response=StatusResponse,
        errors=(403, 404, 503),
        params=(TASK_ID,),
    ),
    Route(
        method="GET",
        path="/result/{task_id}",
        handler=handlers.result,
        summary="The result of a completed task (409 task_not_completed otherwise)",
        response=ResultResponse,
        errors=(403, 404, 409, 503),
        params=(TASK_ID,),
    ),
    Route(
        method="DELETE",
        path="/cancel/{task_id}",
        handler=handlers.cancel,
        summary="Cancel a task that has not finished",
        response=CancelResponse,
        errors=(403, 404, 409, 503),
        params=(TASK_ID,),
    ),
    Route(
        method="GET",
        path="/tasks/{task_id}/logs",
        handler=handlers.task_logs,
        summary="What the task's handler logged (ctx.logger), oldest first, from any edge",
        response=TaskLogsResponse,
        errors=(400, 403, 404, 503),
        params=(
            TASK_ID,
            Param(
                name="attempt",
                where="query",
                schema={"type": "integer", "minimum": 1, "maximum": logs.MAX_ATTEMPT},
            ),
            Param(
                name="limit",
                where="query",
                schema={
                    "type": "integer",
                    "minimum": 1,
                    "maximum": logs.MAX_LIMIT,
                    "default": logs.DEFAULT_LIMIT,
                },
            ),
            Param(
                name="offset",
                where="query",
                schema={"type": "integer", "minimum": 0, "maximum": logs.MAX_OFFSET, "default": 0},
            ),
        ),
    ),
    Route(
        method="GET",
        path="/queue/{queue_name}/stats",
        handler=handlers.queue_stats,
        summary="Statistics of your tenant's tasks in one queue",
        response=QueueStatsResponse,
        errors=(400, 503),
        params=(Param(name="queue_name", where="path", schema=QUEUE),),
    ),
    Route(
        method="GET",
        path="/tasks",
        handler=handlers.list_tasks,
        summary="Your tasks (a tenant admin: the tenant's), newest first",
        response=TaskListResponse,
        errors=(400,),
        params=LIST_PARAMS,
    ),
    Route(
        method="POST",
        path="/bulk/enqueue",
        handler=handlers.bulk_enqueue,
        summary="Enqueue up to 1,000 tasks as one batch (all or nothing validation)",
        request=BulkEnqueueRequest,
        response=BulkEnqueueResponse,
        errors=(400, 413, 429, 503, 507),
        headers=RETRY_AFTER,
    ),
    Route(
        method="GET",
        path="/health",
        handler=handlers.health,
        summary="Health of the task system from the edge's own state, no token needed "
        "(503 when NATS is unreachable or not answering; an admin's token adds `checks`)",
        tag="system",
        auth=False,
        optional_auth=True,
        response=HealthResponse,
        errors=(401, 503),
    ),
)

SURFACE = Surface(name="prsm", routes=ROUTES)
