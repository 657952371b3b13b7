"""The hub's bodies (seed 003). Requests refuse unknown fields; answers are documented as
they are built by services/hub (the OpenAPI document shows them)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from prsm_tasks.edge.http.schemas import RequestBody, ResponseBody, TaskType, Timestamp

HubPriority = Literal["low", "normal", "high", "critical"]
HubStatus = Literal["pending", "running", "completed", "failed", "timeout", "cancelled"]
JsonObject = dict[str, Any]
CronExpression = Annotated[str, Field(min_length=1, max_length=128)]
ZoneName = Annotated[str, Field(min_length=1, max_length=64, description="an IANA zone")]
Description = Annotated[str, Field(max_length=2000)]


class HubError(ResponseBody):
    """The hub's error body."""

    detail: str
    error_code: str = Field(description="upper case: TASK_NOT_FOUND, VALIDATION_ERROR, ...")
    field_errors: dict[str, list[str]] = Field(
        description="each field at fault (a body field, a query parameter, X-Brand-ID)"
    )


class Brand(ResponseBody):
    id: int
    name: str | None = Field(description="not known to the edge: null")


class CreatedBy(ResponseBody):
    id: str | None = Field(description="the token's subject")
    username: str | None


# --- core ------------------------------------------------------------------------------------


class HubTaskCreate(RequestBody):
    task_type: TaskType = Field(description="a task type registered by your tenant or a node")
    priority: HubPriority = "normal"
    description: Description | None = None
    context_data: JsonObject = Field(
        default_factory=dict, description="the task's data, checked against its type's schema"
    )


class RetryNote(ResponseBody):
    at: Timestamp | None
    by: str | None
    from_status: str | None


class HubTask(ResponseBody):
    id: int = Field(description="the task's number: its record's first revision")
    task_id: str
    task_type: str | None
    status: HubStatus
    priority: HubPriority
    progress_percentage: int = Field(ge=0, le=100)
    progress_text: str | None
    description: str | None
    brand: Brand
    created_by: CreatedBy
    queue: str
    context_data: JsonObject
    result_data: Any
    error_message: str | None
    created_at: Timestamp
    started_at: Timestamp | None
    completed_at: Timestamp | None
    attempt: int = Field(description="attempts so far (a retry is the next one)")
    retries: list[RetryNote]
    is_periodic: bool
    is_resumable: bool
    execution_time_ms: int | None
    metrics: JsonObject = Field(description="the latest attempt's measures; {} when none")


class HubTaskPage(ResponseBody):
    count: int
    next: str | None
    previous: str | None
    results: list[HubTask]


class QueueStat(ResponseBody):
    queue: str
    pending: int
    running: int
    completed: int
    failed: int
    timeout: int
    cancelled: int
    total: int
    oldest_pending_age_seconds: float | None
    workers: int = Field(description="live nodes serving the queue (all brands')")


class QueueTotals(ResponseBody):
    pending: int
    running: int
    completed: int
    failed: int
    timeout: int
    cancelled: int
    total: int


class QueueStats(ResponseBody):
    brand: Brand
    queues: list[QueueStat]
    totals: QueueTotals


# --- scheduling ------------------------------------------------------------------------------


class PeriodicTaskCreate(RequestBody):
    cron_expression: CronExpression
    task_type: TaskType
    timezone: ZoneName = "UTC"
    context_data: JsonObject = Field(default_factory=dict)
    is_active: bool = True
    priority: HubPriority = "normal"


class PeriodicTaskUpdate(RequestBody):
    cron_expression: CronExpression | None = None
    task_type: TaskType | None = None
    timezone: ZoneName | None = None
    context_data: JsonObject | None = None
    is_active: bool | None = None
    priority: HubPriority | None = None


class RecentRun(ResponseBody):
    task_id: str
    due_at: Timestamp | None
    manual: bool
    status: str | None


class PeriodicTask(ResponseBody):
    id: str
    task_type: str
    cron_expression: str | None
    timezone: str
    context_data: JsonObject
    is_active: bool
    status: Literal["scheduled", "paused", "completed"]
    priority: HubPriority
    queue: str | None
    brand: Brand
    created_by: CreatedBy
    next_run_at: Timestamp | None
    last_run_at: Timestamp | None
    recent_runs: list[RecentRun]
    created_at: Timestamp
    updated_at: Timestamp


class PeriodicTaskUpdated(PeriodicTask):
    updated_fields: list[str]


class PeriodicTaskPage(ResponseBody):
    count: int
    next: str | None
    previous: str | None
    results: list[PeriodicTask]


class ReadyTask(PeriodicTask):
    overdue_seconds: float


class ReadyList(ResponseBody):
    count: int
    results: list[ReadyTask]


class CronJobList(ResponseBody):
    count: int
    results: list[PeriodicTask] = Field(description="the first 100")


class CronCheck(RequestBody):
    cron_expression: CronExpression
    timezone: ZoneName = "UTC"


class CronValidity(ResponseBody):
    valid: bool
    cron_expression: str
    timezone: str
    error: str | None
    field: str | None
    next_runs: list[Timestamp] = Field(description="the next five runs, UTC")
    next_runs_local: list[str] = Field(
        default_factory=list, description="the same, as ISO times of the zone"
    )


class CalendarRun(ResponseBody):
    at: Timestamp
    periodic_task_id: str
    task_type: str
    cron_expression: str | None
    timezone: str


class Calendar(ResponseBody):
    start: Timestamp = Field(alias="from")
    end: Timestamp = Field(alias="to")
    count: int
    truncated: bool = Field(description="more runs than the 1000 shown")
    runs: list[CalendarRun]
