"""Bodies of the task-type registry (/api/task-types) and the task list (/api/tasks).

These routes follow the conventions of the task-list API document: lists are bare JSON
arrays, creates answer 201, deletes 204, bad input 422. Errors keep the one error body.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, RootModel

from prsm_tasks.edge.http.schemas import (
    DEPENDS_ON_DOC,
    WAITING_FOR_DOC,
    QueueName,
    RequestBody,
    ResponseBody,
    TaskDependencyOut,
    TaskType,
    Timestamp,
)

ApiStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
TypeId = Annotated[int, Field(ge=1, description="a task type id")]
ApiPriority = Annotated[
    int,
    Field(
        ge=1,
        le=1000,
        description="1..1000, lower = more urgent; 1-100 critical, 101-400 high, "
        "401-700 normal, 701-1000 low (see the priority mapping table)",
    ),
]
WorkerId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_.:@-]{1,128}$",
        description="who runs the task; the record says external:<worker_id>",
    ),
]
LeaseSeconds = Annotated[
    float,
    Field(ge=1, le=86_400, description="how long the claim holds without a renewal"),
]
JsonObject = dict[str, Any]
Description = Annotated[str, Field(max_length=10_000)]


# --- task types ------------------------------------------------------------------------------


class TaskTypeCreate(RequestBody):
    name: TaskType
    description: Description | None = None
    parameters_schema: JsonObject | None = Field(
        default=None, description="a JSON Schema (Draft 2020-12) of the tasks' parameters"
    )
    metadata: JsonObject = Field(
        default_factory=dict,
        description="free-form; metadata.queue_name picks the queue (default: the type's name)",
    )


class TaskTypeUpdate(RequestBody):
    description: Description | None = None
    parameters_schema: JsonObject | None = None
    metadata: JsonObject | None = None
    is_active: bool | None = None


class TaskTypeItem(ResponseBody):
    id: int
    name: str
    description: str | None
    parameters_schema: JsonObject | None
    metadata: JsonObject
    is_active: bool
    created_at: Timestamp
    updated_at: Timestamp | None
    scope: Literal["tenant", "system"] = Field(
        description="system: registered by peer nodes, visible to every tenant, read-only here"
    )
    queue_name: str = Field(description="the queue its tasks go to")
    result_schema: JsonObject | None
    served_by: list[str] = Field(description="live peer nodes with a handler for this type")


class TaskTypeList(RootModel[list[TaskTypeItem]]):
    pass


# --- the task list ---------------------------------------------------------------------------


class ApiTaskCreate(RequestBody):
    task_type_id: TypeId | None = None
    task_type: TaskType | None = Field(default=None, description="the type by name instead")
    parameters: JsonObject = Field(default_factory=dict)
    priority: ApiPriority = 500
    metadata: JsonObject = Field(default_factory=dict)


class ApiTaskUpdate(RequestBody):
    status: ApiStatus | None = None
    priority: ApiPriority | None = None
    parameters: JsonObject | None = None
    metadata: JsonObject | None = None
    result: Any = Field(default=None, description="stored when the task completes")
    error_message: Description | None = None
    worker_id: WorkerId | None = Field(
        default=None, description="409 claim_lost unless this worker holds the task"
    )
    lease_seconds: LeaseSeconds | None = Field(
        default=None, description="with status running: renew the claim for this long"
    )


class TaskClaimRequest(RequestBody):
    task_type: TaskType | None = None
    task_type_id: TypeId | None = None
    queue_name: QueueName | None = None
    worker_id: WorkerId
    lease_seconds: LeaseSeconds = 60.0


class ApiTaskItem(ResponseBody):
    id: int = Field(description="the task's number: /api/tasks/{id} takes it or the task id")
    task_id: str = Field(description="the task id (the same as /status/{task_id})")
    task_type_id: int | None
    task_type: str | None
    status: ApiStatus
    parameters: JsonObject
    priority: int
    metadata: JsonObject
    result: Any
    error_message: str | None
    created_at: Timestamp
    updated_at: Timestamp | None
    started_at: Timestamp | None
    completed_at: Timestamp | None
    queue_name: str
    worker_id: str | None = Field(description="the external worker holding it, if one does")
    lease_expires_at: Timestamp | None
    attempt: int
    depends_on: list[TaskDependencyOut] | None = Field(default=None, description=DEPENDS_ON_DOC)
    waiting_for: list[str] | None = Field(default=None, description=WAITING_FOR_DOC)


class ApiTaskCreated(ApiTaskItem):
    stream_url: str = Field(
        description="the task's events as SSE, with a short-lived grant to read them "
        "(EventSource opens it as it is)"
    )


class ApiTaskList(RootModel[list[ApiTaskItem]]):
    pass
