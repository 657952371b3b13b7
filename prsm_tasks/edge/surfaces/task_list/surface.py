"""The routes of the task list and task types (seed 001), as data. Bad input answers 422
here (``map_error``)."""

from __future__ import annotations

from prsm_tasks.edge.http.openapi import Param, Route
from prsm_tasks.edge.http.surface import Surface
from prsm_tasks.edge.surfaces.task_list import tasks, types
from prsm_tasks.edge.surfaces.task_list.errors import map_error
from prsm_tasks.edge.surfaces.task_list.schemas import (
    ApiTaskCreate,
    ApiTaskCreated,
    ApiTaskItem,
    ApiTaskList,
    ApiTaskUpdate,
    TaskClaimRequest,
    TaskTypeCreate,
    TaskTypeItem,
    TaskTypeList,
    TaskTypeUpdate,
)
from prsm_tasks.services.task_list import ENGINE_STATUSES
from prsm_tasks.services.task_refs import TASK_REF_PATTERN

TYPE_ID = Param(name="task_type_id", where="path", schema={"type": "integer", "minimum": 1})
TYPES_TAG = "task-types"
TASK_ID = Param(
    name="task_id",
    where="path",
    schema={"type": "string", "pattern": TASK_REF_PATTERN},
    description="the task's number (its id in this API) or its task id",
)
TASKS_TAG = "task-list"

TYPE_ROUTES: tuple[Route, ...] = (
    Route(
        method="POST",
        path="/api/task-types",
        handler=types.create_task_type,
        summary="Register a task type of your tenant (name unique; 409 task_type_exists)",
        tag=TYPES_TAG,
        request=TaskTypeCreate,
        response=TaskTypeItem,
        ok_status=201,
        errors=(400, 409, 413, 422, 429, 503),
    ),
    Route(
        method="GET",
        path="/api/task-types",
        handler=types.list_task_types,
        summary="Your tenant's task types and the system ones (registered by peer nodes)",
        tag=TYPES_TAG,
        response=TaskTypeList,
        errors=(422, 503),
        params=(
            Param(
                name="include_inactive",
                where="query",
                schema={"type": "boolean", "default": False},
            ),
        ),
    ),
    Route(
        method="GET",
        path="/api/task-types/{task_type_id}",
        handler=types.get_task_type,
        summary="One task type, with the live peer nodes that serve it",
        tag=TYPES_TAG,
        response=TaskTypeItem,
        errors=(404, 503),
        params=(TYPE_ID,),
    ),
    Route(
        method="PUT",
        path="/api/task-types/{task_type_id}",
        handler=types.update_task_type,
        summary="Change a task type (every field optional; updated_at is set)",
        tag=TYPES_TAG,
        request=TaskTypeUpdate,
        response=TaskTypeItem,
        errors=(400, 403, 404, 413, 422, 429, 503),
        params=(TYPE_ID,),
    ),
    Route(
        method="DELETE",
        path="/api/task-types/{task_type_id}",
        handler=types.delete_task_type,
        summary="Deactivate a task type (a soft delete: new tasks of it are refused with 400)",
        tag=TYPES_TAG,
        ok_status=204,
        errors=(403, 404, 503),
        params=(TYPE_ID,),
    ),
)

TASK_ROUTES: tuple[Route, ...] = (
    Route(
        method="POST",
        path="/api/tasks",
        handler=tasks.create_task,
        summary="Create a task of a registered type (checked against its schema: 422 "
        "invalid_task_data; an inactive type: 400)",
        tag=TASKS_TAG,
        request=ApiTaskCreate,
        response=ApiTaskCreated,
        ok_status=201,
        errors=(400, 404, 413, 422, 429, 503, 507),
    ),
    Route(
        method="GET",
        path="/api/tasks",
        handler=tasks.list_tasks,
        summary="Tasks of registered types you may see, newest first",
        tag=TASKS_TAG,
        response=ApiTaskList,
        errors=(422, 503),
        params=(
            Param(name="task_type_id", where="query", schema={"type": "integer", "minimum": 1}),
            Param(
                name="status",
                where="query",
                schema={"type": "string", "enum": list(ENGINE_STATUSES)},
            ),
            Param(
                name="limit",
                where="query",
                schema={
                    "type": "integer",
                    "minimum": 1,
                    "maximum": tasks.MAX_LIMIT,
                    "default": tasks.DEFAULT_LIMIT,
                },
            ),
        ),
    ),
    Route(
        method="POST",
        path="/api/tasks/claim",
        handler=tasks.claim_task,
        summary="Claim one pending task for an external worker (204: none); it is running "
        "on the worker until it reports, or its lease lapses and it returns to the queue",
        tag=TASKS_TAG,
        request=TaskClaimRequest,
        response=ApiTaskItem,
        no_content=(204,),
        errors=(400, 404, 413, 422, 503),
    ),
    Route(
        method="GET",
        path="/api/tasks/{task_id}",
        handler=tasks.get_task,
        summary="One task as the task list shows it",
        tag=TASKS_TAG,
        response=ApiTaskItem,
        errors=(403, 404, 503),
        params=(TASK_ID,),
    ),
    Route(
        method="PUT",
        path="/api/tasks/{task_id}",
        handler=tasks.update_task,
        summary="Report on a task: running (claims or renews), completed, failed, cancelled; "
        "409 for a step back or a change of a finished task",
        tag=TASKS_TAG,
        request=ApiTaskUpdate,
        response=ApiTaskItem,
        errors=(403, 404, 409, 413, 422, 503),
        params=(TASK_ID,),
    ),
)

ROUTES: tuple[Route, ...] = (*TYPE_ROUTES, *TASK_ROUTES)

SURFACE = Surface(name="task_list", routes=ROUTES, map_error=map_error)
