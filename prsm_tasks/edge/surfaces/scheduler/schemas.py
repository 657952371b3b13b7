"""Bodies of the scheduler API (seed 004). Requests refuse unknown fields (400 naming the
field); times are UTC ISO-8601 with ``Z``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from prsm_tasks.edge.http.schemas import QueueName, RequestBody, ResponseBody, TaskType, Timestamp
from prsm_tasks.models import DependencyType
from prsm_tasks.schedules.misfire import MAX_BACKFILL_LIMIT, MisfirePolicy
from prsm_tasks.schedules.record import PriorityName, ScheduleStatus
from prsm_tasks.schedules.rules import Kind
from prsm_tasks.store.options import MaxRetries, TimeoutSeconds

MAX_TAGS = 20
MAX_BULK = 500
TaskName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
        description="the schedule's name; without queue_name or handler_type it picks the "
        "task type of that name, else the queue of that name",
    ),
]
Expression = Annotated[
    str,
    Field(
        max_length=128,
        description="cron: 5 fields (6 with seconds first) or @daily-style macros; "
        "interval: seconds (300) or 5m, 2h, 1d; not used by one_time",
    ),
]
ZoneName = Annotated[str, Field(max_length=64, description="an IANA time zone", examples=["UTC"])]
Instant = Annotated[
    str,
    Field(
        max_length=64,
        description="ISO-8601; without an offset, a wall-clock time of the task's timezone",
        json_schema_extra={"format": "date-time"},
    ),
]
TagKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
TagValue = Annotated[str, StringConstraints(max_length=256)]
Tags = Annotated[dict[TagKey, TagValue], Field(max_length=MAX_TAGS)]
BackfillLimit = Annotated[int, Field(ge=1, le=MAX_BACKFILL_LIMIT)]
Routing = Annotated[str, Field(description="the handler's task type")]
JsonObject = dict[str, Any]
ScheduleId = Annotated[str, Field(max_length=64)]


class ScheduleCreate(RequestBody):
    task_name: TaskName
    task_type: Kind = Field(description="cron, interval (every N seconds) or one_time")
    schedule_expression: Expression | None = None
    timezone: ZoneName = "UTC"
    next_execution_time: Instant | None = Field(
        default=None, description="one_time: when it runs; interval: its first run"
    )
    payload: JsonObject = Field(default_factory=dict)
    timeout_seconds: TimeoutSeconds = 300.0
    max_retries: MaxRetries = 3
    priority: PriorityName = "medium"
    tags: Tags = Field(default_factory=dict)
    enabled: bool = True
    queue_name: QueueName | None = None
    handler_type: TaskType | None = None
    misfire_policy: MisfirePolicy = "run_once"
    backfill_limit: BackfillLimit = 10


class ScheduleUpdate(RequestBody):
    task_name: TaskName | None = None
    task_type: Kind | None = None
    schedule_expression: Expression | None = None
    timezone: ZoneName | None = None
    next_execution_time: Instant | None = None
    payload: JsonObject | None = None
    timeout_seconds: TimeoutSeconds | None = None
    max_retries: MaxRetries | None = None
    priority: PriorityName | None = None
    tags: Tags | None = None
    enabled: bool | None = None
    queue_name: QueueName | None = None
    handler_type: TaskType | None = None
    misfire_policy: MisfirePolicy | None = None
    backfill_limit: BackfillLimit | None = None


class ScheduleCreated(ResponseBody):
    task_id: str
    task_name: str
    status: ScheduleStatus
    next_execution_time: Timestamp | None
    created_at: Timestamp


class DependencyOut(ResponseBody):
    dependency_id: str
    depends_on_task_id: str
    depends_on_task_name: str | None
    dependency_type: DependencyType


class ScheduleItem(ResponseBody):
    task_id: str
    task_name: str
    task_type: Kind
    schedule_expression: str | None
    timezone: str
    next_execution_time: Timestamp | None
    last_execution_time: Timestamp | None
    status: ScheduleStatus
    enabled: bool
    payload: JsonObject
    timeout_seconds: float
    max_retries: int
    retry_count: int
    priority: PriorityName
    tags: dict[str, str]
    created_at: Timestamp
    updated_at: Timestamp
    paused_at: Timestamp | None
    queue_name: str | None = Field(description="the queue its runs go to now (null: none)")
    handler_type: str | None
    misfire_policy: MisfirePolicy
    backfill_limit: int
    dependencies: list[DependencyOut]


class ScheduleSummary(ResponseBody):
    task_id: str
    task_name: str
    task_type: Kind
    status: ScheduleStatus
    priority: PriorityName
    tags: dict[str, str]
    next_execution_time: Timestamp | None


class ScheduleList(ResponseBody):
    tasks: list[ScheduleSummary]
    total: int
    limit: int
    offset: int


class ScheduleUpdated(ResponseBody):
    task_id: str
    updated_fields: list[str]
    next_execution_time: Timestamp | None
    updated_at: Timestamp


class SchedulePaused(ResponseBody):
    task_id: str
    status: ScheduleStatus
    paused_at: Timestamp | None


class ScheduleTriggered(ResponseBody):
    task_id: str
    execution_id: str
    status: Literal["queued"]
    queued_at: Timestamp


class ScheduleResumed(ResponseBody):
    task_id: str
    status: ScheduleStatus
    next_execution_time: Timestamp | None
    resumed_at: Timestamp


class DependencyCreate(RequestBody):
    depends_on_task_id: ScheduleId
    dependency_type: DependencyType = "success"


class DependencyCreated(ResponseBody):
    dependency_id: str
    task_id: str
    depends_on_task_id: str
    dependency_type: DependencyType


class DependencyList(ResponseBody):
    dependencies: list[DependencyOut]


class BulkCreate(RequestBody):
    tasks: list[JsonObject] = Field(min_length=1, max_length=MAX_BULK)


class BulkItemError(ResponseBody):
    index: int
    error: str
    message: str
    field: str | None


class BulkCreated(ResponseBody):
    created: int
    failed: int
    task_ids: list[str]
    errors: list[BulkItemError]


class BulkDelete(RequestBody):
    task_ids: list[ScheduleId] = Field(min_length=1, max_length=MAX_BULK)


class BulkDeleted(ResponseBody):
    deleted: int
    failed: int
    errors: list[BulkItemError]


class SchedulerBlock(ResponseBody):
    leader: str | None = Field(description="always null: firing has no leader")
    followers: list[str]
    mode: Literal["leaderless"]
    firing: str = Field(description="how a due time becomes a run")
    converting_nodes: list[str] = Field(description="live peer nodes that convert fires")
    tasks_scheduled: int
    tasks_paused: int
    tasks_pending: int = Field(description="your tasks queued or waiting to run")


class WorkersBlock(ResponseBody):
    total: int
    active: int
    inactive: int
    total_capacity: int
    current_load: int


class QueueBlock(ResponseBody):
    critical_priority: int
    high_priority: int
    medium_priority: int
    low_priority: int


class UnservedTask(ResponseBody):
    task_id: str
    task_name: str
    queue_name: str | None


class SystemStatus(ResponseBody):
    status: Literal["healthy", "degraded"]
    scheduler: SchedulerBlock
    workers: WorkersBlock
    queue: QueueBlock
    unserved_tasks: list[UnservedTask] = Field(
        description="enabled tasks whose queue no live node serves (workers may join later)"
    )


class Worker(ResponseBody):
    worker_id: str
    status: Literal["active", "inactive"]
    capacity: int
    current_load: int
    last_heartbeat: Timestamp
    uptime_seconds: int
    queues: list[str]


class WorkerList(ResponseBody):
    workers: list[Worker]
    total: int
