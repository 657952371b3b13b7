"""The pydantic models more than one surface uses: the base classes of request and response
bodies, the one error body, and the answers the compatibility routes share with the PRSM
Task API (a task's status, a cancel).

Requests are validated with them (strict types, unknown fields refused). Responses are built
as plain dicts on the hot paths and documented by these models; the property test checks
that what the edge sends matches them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from prsm_tasks.store import options
from prsm_tasks.wire import QUEUE_NAME_RE

PublicStatus = Literal["enqueued", "processing", "completed", "failed", "cancelled", "timeout"]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
QueueName = Annotated[
    str,
    Field(
        pattern=QUEUE_NAME_RE.pattern,
        description="[a-z0-9_-]{1,64}: a configured queue, or one a live node serves",
        examples=["ml_inference_queue"],
    ),
]
TaskType = options.TaskTypeName
Ratio = Annotated[float, Field(ge=0)]


class TaskDependencyOut(BaseModel):
    """A parent of a task (``depends_on``): its id and what the task waits for in it."""

    model_config = ConfigDict(extra="forbid")

    task_id: str
    type: Literal["success", "completion", "any"]


DEPENDS_ON_DOC = "the tasks this one depends on (only on a task created with depends_on)"
WAITING_FOR_DOC = "the parents not met yet, while the task waits for them"


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ResponseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StatusResponse(ResponseBody):
    success: Literal[True]
    task_id: str
    status: PublicStatus
    progress: float
    queue_name: str
    priority: int
    created_at: Timestamp
    started_at: Timestamp | None
    estimated_completion: Timestamp | None
    worker_node: str | None
    retry_count: int
    max_retries: int
    result: Any
    error: str | None
    task_type: str | None
    progress_text: str | None
    completed_at: Timestamp | None
    batch_id: str | None
    scheduled_for: Timestamp | None = Field(
        default=None, description="a delayed task: when it is (or was) due"
    )
    depends_on: list[TaskDependencyOut] | None = Field(default=None, description=DEPENDS_ON_DOC)
    waiting_for: list[str] | None = Field(default=None, description=WAITING_FOR_DOC)


class CancelResponse(ResponseBody):
    success: Literal[True]
    task_id: str
    status: Literal["cancelled"]
    message: str
    was_processing: bool
    cancelled_at: Timestamp


class TaskErrorInfo(ResponseBody):
    type: str
    message: str


class FieldProblem(ResponseBody):
    field: str = Field(description="the path of the failing field, e.g. task_data.image.width")
    message: str


class ErrorResponse(ResponseBody):
    """The one error body of every path."""

    error: str = Field(description="a stable code such as task_not_found")
    message: str
    code: int = Field(description="the HTTP status")
    timestamp: Timestamp
    task_id: str | None = None
    field: str | None = Field(default=None, description="the request field at fault")
    status: str | None = Field(default=None, description="the task's status (409 answers)")
    task_error: TaskErrorInfo | None = None
    errors: list[FieldProblem] | None = Field(
        default=None, description="invalid_task_data: every failing field of the type's schema"
    )
    retry_after_seconds: int | None = None
    request_id: str | None = None
    detail: str | None = Field(
        default=None, description="under /api/ only: the message again (FastAPI's field)"
    )
