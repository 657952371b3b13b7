"""The bodies of the PRSM Task API (seed 000) the edge reads or writes; the OpenAPI comes
from these. The option fields use TaskOptions' own types (store/options.py), so a body that
validated makes valid options.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from prsm_tasks.edge.http.schemas import (
    CancelResponse,
    ErrorResponse,
    PublicStatus,
    QueueName,
    Ratio,
    RequestBody,
    ResponseBody,
    StatusResponse,
    TaskType,
    Timestamp,
)
from prsm_tasks.store import options
from prsm_tasks.store.batches import MAX_BATCH_TASKS
from prsm_tasks.store.graph import MAX_PARENTS

HealthStatus = Literal["healthy", "degraded", "unhealthy"]
Priority = Annotated[
    options.Priority, Field(description="1-3 low, 4-6 normal, 7-9 high, 10 critical")
]
RetryCount = Annotated[options.MaxRetries, Field(description="max retries")]
TimeoutSeconds = options.TimeoutSeconds
TaskData = Annotated[dict[str, Any], Field(description="the task's input: a JSON object")]
Eta = Annotated[
    str,
    Field(
        max_length=64,
        description="run at this ISO-8601 instant (with Z or an offset; in the past: now), "
        "at most a year ahead; not with countdown_seconds",
        json_schema_extra={"format": "date-time"},
    ),
]
Countdown = Annotated[
    options.CountdownSeconds,
    Field(description="run this many seconds from now (at most a year); not with eta"),
]


# --- requests ------------------------------------------------------------------------------


class DependencyIn(RequestBody):
    task_id: Annotated[str, Field(max_length=64, description="a task of the same tenant")]
    type: Literal["success", "completion", "any"] = Field(
        default="success",
        description="success: the parent completed; completion: it ended in any way; "
        "any: it started or ended",
    )


class EnqueueRequest(RequestBody):
    queue_name: QueueName
    task_data: TaskData
    priority: Priority = 5
    retry_count: RetryCount = 3
    timeout_seconds: TimeoutSeconds = 300.0
    task_type: TaskType | None = None
    idempotency_key: options.IdempotencyKey | None = None
    require_worker: bool = Field(
        default=False, description="503 worker_unavailable when no live node serves the queue"
    )
    eta: Eta | None = None
    countdown_seconds: Countdown | None = None
    depends_on: Annotated[list[DependencyIn], Field(max_length=MAX_PARENTS)] | None = Field(
        default=None,
        description="the task waits (status enqueued, waiting inside) until these tasks let "
        "it go; a failed or cancelled success parent ends it (docs: Dependencies)",
    )


class BulkTask(RequestBody):
    task_data: TaskData
    priority: Priority = 5
    retry_count: RetryCount = 3
    timeout_seconds: TimeoutSeconds = 300.0
    task_type: TaskType | None = None


class BatchOptions(RequestBody):
    parallel_execution: bool = True
    max_concurrent: Annotated[int, Field(ge=1, le=MAX_BATCH_TASKS)] | None = Field(
        default=None, description="at most this many tasks of the batch run at once"
    )
    fail_fast: bool = Field(default=False, description="cancel the rest when one task fails")


class BulkEnqueueRequest(RequestBody):
    queue_name: QueueName
    tasks: Annotated[list[BulkTask], Field(min_length=1, max_length=MAX_BATCH_TASKS)]
    batch_options: BatchOptions = Field(default_factory=BatchOptions)
    require_worker: bool = False
    eta: Eta | None = Field(default=None, description="every task of the batch is due then")
    countdown_seconds: Countdown | None = None


# --- responses -----------------------------------------------------------------------------


class EnqueueResponse(ResponseBody):
    success: Literal[True]
    task_id: str
    queue_name: str
    priority: int
    status: PublicStatus
    estimated_wait_time_seconds: float | None
    position_in_queue: Annotated[int, Field(ge=1)] | None
    stream_url: str
    scheduled_for: Timestamp | None = Field(
        default=None, description="a delayed task: when it is due (it joins its queue then)"
    )


class ResultResponse(ResponseBody):
    success: Literal[True]
    task_id: str
    status: Literal["completed"]
    result: Any
    execution_time_seconds: float | None
    completed_at: Timestamp
    worker_node: str | None


class LogLine(ResponseBody):
    timestamp: Timestamp
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    message: str
    attempt: int = Field(description="the attempt that logged it: 1, 2, ...")


class TaskLogsResponse(ResponseBody):
    task_id: str
    logs: list[LogLine] = Field(description="oldest first, at most `limit`")


class QueueStatistics(ResponseBody):
    total_tasks: int
    pending_tasks: int
    processing_tasks: int
    completed_tasks_today: int
    failed_tasks_today: int
    average_processing_time_seconds: float | None
    average_wait_time_seconds: float | None
    throughput_tasks_per_hour: int
    worker_nodes_active: int
    queue_health_score: Annotated[float, Field(ge=0, le=1)]


class PriorityDistribution(ResponseBody):
    low: int
    normal: int
    high: int
    critical: int


class PerformanceMetrics(ResponseBody):
    success_rate: Ratio | None
    retry_rate: Ratio | None
    timeout_rate: Ratio | None
    avg_cpu_usage: Ratio | None
    avg_memory_usage: Ratio | None


class QueueStatsResponse(ResponseBody):
    success: Literal[True]
    queue_name: str
    statistics: QueueStatistics
    priority_distribution: PriorityDistribution
    performance_metrics: PerformanceMetrics


class TaskListItem(ResponseBody):
    task_id: str
    queue_name: str
    status: PublicStatus
    priority: int
    created_at: Timestamp
    completed_at: Timestamp | None
    execution_time_seconds: float | None
    retry_count: int


class Pagination(ResponseBody):
    total_count: int
    limit: int
    offset: int
    has_more: bool


class TaskListSummary(ResponseBody):
    total_tasks: int
    completed_tasks: int
    failed_tasks: int
    pending_tasks: int
    success_rate: Ratio | None


class TaskListResponse(ResponseBody):
    success: Literal[True]
    tasks: list[TaskListItem]
    pagination: Pagination
    summary: TaskListSummary


class BulkEnqueueResponse(ResponseBody):
    success: Literal[True]
    batch_id: str
    task_ids: list[str]
    total_tasks: int
    estimated_completion: Timestamp | None


class SystemMetrics(ResponseBody):
    total_queues: int
    active_workers: int
    total_tasks_processed_today: int
    current_queue_depth: int
    average_processing_time_seconds: float | None
    system_throughput_tasks_per_minute: float
    error_rate: Ratio | None


class ResourceUtilization(ResponseBody):
    cpu_usage: Ratio | None
    memory_usage: Ratio | None
    network_throughput_mbps: float | None
    storage_usage: Ratio | None


class QueueHealth(ResponseBody):
    healthy_queues: int
    degraded_queues: int
    unhealthy_queues: int


class HealthChecks(ResponseBody):
    """Why the status is what it is: only in the answer to a token with the admin role."""

    nats: Literal["connected", "not_answering", "disconnected"]
    nats_silent_seconds: float
    nats_forced_reconnects: int
    views_caught_up: bool
    reasons: list[str]


class HealthResponse(ResponseBody):
    """The seed's fields, system-wide; a probe needs no token."""

    status: HealthStatus
    timestamp: Timestamp
    system_metrics: SystemMetrics
    resource_utilization: ResourceUtilization
    queue_health: QueueHealth
    checks: HealthChecks | None = Field(
        default=None, description="Only when the request carries an admin's bearer token."
    )


RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    EnqueueResponse,
    StatusResponse,
    ResultResponse,
    CancelResponse,
    QueueStatsResponse,
    TaskListResponse,
    BulkEnqueueResponse,
    HealthResponse,
    ErrorResponse,
)
REQUEST_MODELS: tuple[type[BaseModel], ...] = (EnqueueRequest, BulkEnqueueRequest)
