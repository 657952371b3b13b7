"""The routes of the scheduler API (seed 004, ``/api/v1``), as data.

Its "task" is a schedule (``PRSM_SCHEDULES``); each run it makes is an ordinary task, and
an "execution" is one attempt of such a run (the firing work adds those routes). Bad input
answers 400 here, as the document says.
"""

from __future__ import annotations

from typing import Any

from prsm_tasks.edge.http.openapi import Param, Route, RouteHandler
from prsm_tasks.edge.http.surface import Surface
from prsm_tasks.edge.surfaces.scheduler import execution_handlers, handlers
from prsm_tasks.edge.surfaces.scheduler.execution_schemas import (
    ExecutionCancelled,
    ExecutionDetail,
    ExecutionList,
    ExecutionLogs,
    TaskStats,
)
from prsm_tasks.edge.surfaces.scheduler.schemas import (
    BulkCreate,
    BulkCreated,
    BulkDelete,
    BulkDeleted,
    DependencyCreate,
    DependencyCreated,
    DependencyList,
    ScheduleCreate,
    ScheduleCreated,
    ScheduleItem,
    ScheduleList,
    SchedulePaused,
    ScheduleResumed,
    ScheduleTriggered,
    ScheduleUpdate,
    ScheduleUpdated,
    SystemStatus,
    WorkerList,
)
from prsm_tasks.edge.surfaces.scheduler.state import open_scheduler
from prsm_tasks.services.schedules.core import SCHEDULE_ID_RE
from prsm_tasks.services.schedules.executions import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET
from prsm_tasks.services.schedules.listing import PRIORITIES, STATUSES
from prsm_tasks.services.schedules.runs import EXECUTION_ID_RE

TAG = "scheduler"
PREFIX = "/api/v1"
UUID = {"type": "string", "pattern": f"^{SCHEDULE_ID_RE.pattern}$"}
TASK_ID = Param(name="task_id", where="path", schema=UUID, description="the schedule's id")
DEPENDENCY_ID = Param(name="dependency_id", where="path", schema=UUID)
LIST_PARAMS = (
    Param(name="status", where="query", schema={"type": "string", "enum": sorted(STATUSES)}),
    Param(name="priority", where="query", schema={"type": "string", "enum": sorted(PRIORITIES)}),
    Param(
        name="limit",
        where="query",
        schema={"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    ),
    Param(
        name="offset",
        where="query",
        schema={"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 0},
    ),
    Param(
        name="tag",
        where="query",
        schema={"type": "string", "maxLength": 321},
        description="key:value; repeat it to require several tags",
    ),
)
EXECUTION_ID = Param(
    name="execution_id",
    where="path",
    schema={"type": "string", "pattern": EXECUTION_ID_RE.pattern},
    description="a run's task id and its attempt number",
)
EXECUTIONS_LIMIT = Param(
    name="limit",
    where="query",
    schema={"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
)
EXECUTIONS_OFFSET = Param(
    name="offset",
    where="query",
    schema={"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
    description="executions to skip, newest first (an extension: page with limit and offset)",
)
ONE = (403, 404, 503)
BODY = (400, 413)


def route(method: str, path: str, handler: RouteHandler, summary: str, **facts: Any) -> Route:
    """A route of this surface: under /api/v1, tagged ``scheduler``."""
    return Route(
        method=method, path=PREFIX + path, handler=handler, summary=summary, tag=TAG, **facts
    )


ROUTES: tuple[Route, ...] = (
    route(
        "POST",
        "/tasks",
        handlers.create_task,
        "Create a scheduled task (cron, interval or one_time); next_execution_time in UTC",
        request=ScheduleCreate,
        response=ScheduleCreated,
        ok_status=201,
        errors=(*BODY, 429, 503),
    ),
    route(
        "GET",
        "/tasks",
        handlers.list_tasks,
        "Your scheduled tasks (a tenant admin: the tenant's), newest first",
        response=ScheduleList,
        errors=(400, 503),
        params=LIST_PARAMS,
    ),
    route(
        "POST",
        "/tasks/bulk",
        handlers.bulk_create,
        "Create up to 500 scheduled tasks; each item succeeds or fails on its own",
        request=BulkCreate,
        response=BulkCreated,
        ok_status=201,
        errors=(*BODY, 503),
    ),
    route(
        "POST",
        "/tasks/bulk-delete",
        handlers.bulk_delete,
        "Delete up to 500 scheduled tasks; each id succeeds or fails on its own",
        request=BulkDelete,
        response=BulkDeleted,
        errors=(*BODY, 503),
    ),
    route(
        "GET",
        "/tasks/{task_id}",
        handlers.get_task,
        "One scheduled task",
        response=ScheduleItem,
        errors=ONE,
        params=(TASK_ID,),
    ),
    route(
        "PATCH",
        "/tasks/{task_id}",
        handlers.update_task,
        "Change a scheduled task: answers the fields that changed and the next time",
        request=ScheduleUpdate,
        response=ScheduleUpdated,
        errors=(*BODY, *ONE, 409),
        params=(TASK_ID,),
    ),
    route(
        "DELETE",
        "/tasks/{task_id}",
        handlers.delete_task,
        "Delete a scheduled task (its pending timer goes; runs already made stay)",
        ok_status=204,
        errors=(*ONE, 409),
        params=(TASK_ID,),
    ),
    route(
        "POST",
        "/tasks/{task_id}/pause",
        handlers.pause_task,
        "Pause a scheduled task",
        response=SchedulePaused,
        errors=(*ONE, 409),
        params=(TASK_ID,),
    ),
    route(
        "POST",
        "/tasks/{task_id}/resume",
        handlers.resume_task,
        "Resume a paused task: its next time from now",
        response=ScheduleResumed,
        errors=(*ONE, 409),
        params=(TASK_ID,),
    ),
    route(
        "POST",
        "/tasks/{task_id}/trigger",
        handlers.trigger_task,
        "Run a task now (also while paused): a run of its own, beside its due times",
        response=ScheduleTriggered,
        ok_status=202,
        errors=(*ONE, 400),
        params=(TASK_ID,),
    ),
    route(
        "GET",
        "/tasks/{task_id}/executions",
        execution_handlers.list_executions,
        "The task's executions (one per attempt of each run still held), newest first",
        response=ExecutionList,
        errors=(400, *ONE),
        params=(TASK_ID, EXECUTIONS_LIMIT, EXECUTIONS_OFFSET),
    ),
    route(
        "GET",
        "/tasks/{task_id}/stats",
        execution_handlers.task_stats,
        "Execution counts, success rates and duration percentiles of the runs still held",
        response=TaskStats,
        errors=ONE,
        params=(TASK_ID,),
    ),
    route(
        "GET",
        "/executions/{execution_id}",
        execution_handlers.get_execution,
        "One execution, with its result",
        response=ExecutionDetail,
        errors=ONE,
        params=(EXECUTION_ID,),
    ),
    route(
        "GET",
        "/executions/{execution_id}/logs",
        execution_handlers.execution_logs,
        "The lines the execution logged",
        response=ExecutionLogs,
        errors=ONE,
        params=(EXECUTION_ID,),
    ),
    route(
        "POST",
        "/executions/{execution_id}/cancel",
        execution_handlers.cancel_execution,
        "Cancel the execution's run (its latest attempt); 409 when it is over",
        response=ExecutionCancelled,
        errors=(*ONE, 409),
        params=(EXECUTION_ID,),
    ),
    route(
        "POST",
        "/tasks/{task_id}/dependencies",
        handlers.add_dependency,
        "Make a task depend on another (success, completion, any); 409 for a cycle",
        request=DependencyCreate,
        response=DependencyCreated,
        ok_status=201,
        errors=(*BODY, *ONE, 409),
        params=(TASK_ID,),
    ),
    route(
        "GET",
        "/tasks/{task_id}/dependencies",
        handlers.list_dependencies,
        "A task's dependencies",
        response=DependencyList,
        errors=ONE,
        params=(TASK_ID,),
    ),
    route(
        "DELETE",
        "/tasks/{task_id}/dependencies/{dependency_id}",
        handlers.remove_dependency,
        "Remove a dependency",
        ok_status=204,
        errors=(*ONE, 409),
        params=(TASK_ID, DEPENDENCY_ID),
    ),
    route(
        "GET",
        "/status",
        handlers.system_status,
        "How firing works, your scheduled and pending tasks, workers, queues by band, and "
        "tasks whose queue no node serves",
        response=SystemStatus,
        errors=(503,),
    ),
    route(
        "GET",
        "/workers",
        handlers.list_workers,
        "The peer nodes, from their adverts",
        response=WorkerList,
        errors=(503,),
    ),
)

SURFACE = Surface(name="scheduler", routes=ROUTES, open=open_scheduler)
