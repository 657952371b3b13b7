"""The answers of the scheduler API (seed 004) as the SDK returns them: pydantic models.

Each model keeps the fields the server adds beyond these (``extra="allow"``), so an edge newer
than the SDK is still readable; the fields the document shows are typed (times are
``datetime`` in UTC). Lists the document answers with a ``total`` (``get_executions``,
``list_tasks``, ``get_workers``) come back as a :class:`Page`: a ``list`` with ``total``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Answer(BaseModel):
    """A body of the scheduler API; fields beyond those named here are kept, not refused."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Page(list[T], Generic[T]):
    """A page of items (iterate, index, ``len``) with the server's ``total`` and, for
    ``list_tasks``, the ``limit`` and ``offset`` it answered."""

    def __init__(
        self, items: list[T], *, total: int, limit: int | None = None, offset: int | None = None
    ) -> None:
        super().__init__(items)
        self.total = total
        self.limit = limit
        self.offset = offset


class Dependency(Answer):
    dependency_id: str
    task_id: str | None = None
    depends_on_task_id: str
    depends_on_task_name: str | None = None
    dependency_type: str


class Task(Answer):
    """A scheduled task: every field of ``get_task``; ``create_task`` and ``list_tasks``
    answer a subset (the rest are ``None``)."""

    task_id: str
    task_name: str
    status: str
    task_type: str | None = None
    schedule_expression: str | None = None
    timezone: str | None = None
    next_execution_time: datetime | None = None
    last_execution_time: datetime | None = None
    enabled: bool | None = None
    payload: dict[str, Any] | None = None
    timeout_seconds: float | None = None
    max_retries: int | None = None
    retry_count: int | None = None
    priority: str | None = None
    tags: dict[str, str] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    paused_at: datetime | None = None
    queue_name: str | None = None
    handler_type: str | None = None
    misfire_policy: str | None = None
    backfill_limit: int | None = None
    dependencies: list[Dependency] | None = None


class TaskUpdate(Answer):
    task_id: str
    updated_fields: list[str]
    next_execution_time: datetime | None = None
    updated_at: datetime


class TaskPaused(Answer):
    task_id: str
    status: str
    paused_at: datetime | None = None


class TaskResumed(Answer):
    task_id: str
    status: str
    next_execution_time: datetime | None = None
    resumed_at: datetime


class TriggeredExecution(Answer):
    """``trigger_task``'s answer (202): the run it queued."""

    task_id: str
    execution_id: str
    status: str
    queued_at: datetime | None = None


class Execution(Answer):
    """One attempt of a run: ``get_executions`` items and ``get_execution`` (with ``result``
    and ``is_retry``)."""

    execution_id: str
    task_id: str
    status: str
    worker_id: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None
    retry_number: int = 0
    is_retry: bool | None = None
    result: Any = None


class LogLine(Answer):
    timestamp: datetime
    level: str
    message: str


class ExecutionLogs(Answer):
    execution_id: str
    logs: list[LogLine]


class CancelledExecution(Answer):
    execution_id: str
    status: str
    cancelled_at: datetime | None = None


class BulkItemError(Answer):
    index: int
    error: str
    message: str
    field: str | None = None


class BulkCreated(Answer):
    created: int
    failed: int
    task_ids: list[str]
    errors: list[BulkItemError] = Field(default_factory=list)


class BulkDeleted(Answer):
    deleted: int
    failed: int
    errors: list[BulkItemError] = Field(default_factory=list)


class SchedulerBlock(Answer):
    leader: str | None = None
    followers: list[str] = Field(default_factory=list)
    tasks_scheduled: int
    tasks_pending: int


class WorkersBlock(Answer):
    total: int
    active: int
    inactive: int
    total_capacity: int
    current_load: int


class SystemStatus(Answer):
    """``get_status``: ``queue`` is the queued tasks per band (``high_priority``, ...)."""

    status: str
    scheduler: SchedulerBlock
    workers: WorkersBlock
    queue: dict[str, int]


class RecentStats(Answer):
    executions: int
    success_rate: float | None = None


class TaskStats(Answer):
    task_id: str
    total_executions: int
    successful_executions: int
    failed_executions: int
    success_rate: float | None = None
    average_duration_ms: float | None = None
    p50_duration_ms: float | None = None
    p95_duration_ms: float | None = None
    p99_duration_ms: float | None = None
    last_7_days: RecentStats | None = None


class Worker(Answer):
    worker_id: str
    status: str
    capacity: int
    current_load: int
    last_heartbeat: datetime | None = None
    uptime_seconds: int | None = None
