"""Pydantic models of every record and message, and the task state machine.

The transition functions at the bottom are pure: they take a record and return the next one,
or raise ``IllegalTransitionError``. Every KV write of a task record goes through one of them,
so the rules live in one place and are unit- and property-tested without a server.

Longer than our 400-line habit on purpose: the record, its statuses and each transition in
both of its forms (the model and the hot path's plain fields, one defined through the other)
are read and changed together; split, each rule would be half in one file and half in another.
"""

from __future__ import annotations

import enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from prsm_tasks.errors import IllegalTransitionError, PrsmError, TaskNotFinalError

RECORD_VERSION = 1


class TaskStatus(enum.StrEnum):
    WAITING = "waiting"
    SCHEDULED = "scheduled"
    ENQUEUED = "enqueued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.TIMEOUT}
)

# Which status may follow which. processing -> processing covers progress writes and the
# take-over of a task whose node died; processing -> enqueued is a retry or a hand-back.
ALLOWED_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    # waiting -> failed: a task whose ``success`` dependency failed never runs (dependency_failed)
    TaskStatus.WAITING: frozenset(
        {TaskStatus.ENQUEUED, TaskStatus.SCHEDULED, TaskStatus.CANCELLED, TaskStatus.FAILED}
    ),
    TaskStatus.SCHEDULED: frozenset({TaskStatus.ENQUEUED, TaskStatus.CANCELLED}),
    TaskStatus.ENQUEUED: frozenset({TaskStatus.PROCESSING, TaskStatus.CANCELLED}),
    TaskStatus.PROCESSING: frozenset(
        {
            TaskStatus.PROCESSING,
            TaskStatus.ENQUEUED,
            TaskStatus.COMPLETED,
            TaskStatus.FAILED,
            TaskStatus.TIMEOUT,
            TaskStatus.CANCELLED,
        }
    ),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.FAILED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
    TaskStatus.TIMEOUT: frozenset(),
}


class Band(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


BANDS_HIGH_TO_LOW: tuple[Band, ...] = (Band.CRITICAL, Band.HIGH, Band.NORMAL, Band.LOW)


def band_for_priority(priority: int) -> Band:
    if priority >= 10:
        return Band.CRITICAL
    if priority >= 7:
        return Band.HIGH
    if priority >= 4:
        return Band.NORMAL
    return Band.LOW


class AttemptOutcome(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    LOST = "lost"  # the node stopped renewing its lease (crash, kill -9, partition)
    INTERRUPTED = "interrupted"  # handed back by a node shutting down


MemoryMethod = Literal["rss_delta", "tracemalloc"]


class AttemptMetrics(BaseModel):
    """What the node measured of one attempt (actors/metering.py says how). Absent from
    an attempt the node did not measure (metrics off, a lost or handed-back attempt)."""

    model_config = ConfigDict(extra="ignore")

    execution_time_ms: float  # the handler's wall time, from one monotonic clock pair
    # CPU time of the handler: its worker thread's (sync), or the loop thread's while the
    # task's own coroutine ran (async); None when not known (a thread abandoned at timeout)
    cpu_time_ms: float | None = None
    memory_usage_mb: float | None = None
    # how memory_usage_mb was measured: ``rss_delta`` (the process's RSS at the end less at
    # the start, never below 0: approximate, other attempts share the process) or
    # ``tracemalloc`` (peak of Python allocations traced during the attempt)
    memory_method: MemoryMethod | None = None
    memory_approximate: bool = True
    cost_usd: float | None = None


class Attempt(BaseModel):
    model_config = ConfigDict(extra="ignore")

    number: int
    node: str
    started_at: float
    ended_at: float | None = None
    outcome: AttemptOutcome = AttemptOutcome.RUNNING
    # the PRSM_WORK stream sequence of the message this attempt runs from: a redelivery of
    # that message means its lease lapsed; any other message for the task is a duplicate
    message_seq: int | None = None
    # progress_update events it published: the node's cap on a task's progress events counts
    # those of its earlier attempts from here
    progress_events: int = 0
    # measured on the node (metrics on); omitted from the stored record when None
    metrics: AttemptMetrics | None = None


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    message: str
    traceback: str | None = None


# What a task waits for in another task before it may run: ``success`` (the parent completed),
# ``completion`` (the parent reached any final state), ``any`` (the parent has started or ended)
DependencyType = Literal["success", "completion", "any"]
DEPENDENCY_TYPES: tuple[DependencyType, ...] = ("success", "completion", "any")


class TaskDependency(BaseModel):
    """One edge of a task graph, stored in the child's record (``depends_on``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    task_id: str
    type: DependencyType = "success"


class CheckpointMark(BaseModel):
    """The record's note of its task's last checkpoint (the state itself is in the
    PRSM_CHECKPOINTS bucket): the listings and the next attempt read it from the record."""

    model_config = ConfigDict(extra="ignore")

    seq: int  # checkpoints of the task so far, over its attempts
    attempt: int  # the attempt that wrote it
    at: float
    size_bytes: int  # of the encoded state
    summary: str | None = None


class TaskRecord(BaseModel):
    """The task as stored in the PRSM_TASKS bucket: the single source of truth."""

    model_config = ConfigDict(extra="ignore")

    v: int = RECORD_VERSION
    task_id: str
    queue_name: str
    task_type: str | None = None
    task_data: dict[str, Any] = Field(default_factory=dict)
    priority: int = 5
    status: TaskStatus = TaskStatus.ENQUEUED
    user: str | None = None
    tenant: str | None = None
    idempotency_key: str | None = None
    created_at: float
    enqueued_at: float
    started_at: float | None = None
    completed_at: float | None = None
    progress: float = 0.0
    progress_text: str | None = None
    worker_node: str | None = None
    retry_count: int = 0
    max_retries: int = 3
    timeout_seconds: float = 300.0
    not_before: float | None = None
    # a delayed task's due time (eta / countdown), kept for its whole life: ``not_before`` is
    # the retries' back-off, cleared by every claim
    scheduled_for: float | None = None
    result: Any = None
    error: ErrorInfo | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    batch_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    # the KV revision of the record's first write, stored by its first update (see
    # ``task_number``); None on a record never updated, and on records older than the field
    created_rev: int | None = None
    # a task graph lives in its records: the child names its parents, and each parent names
    # the children to look at when it starts or ends (appended by compare-and-set)
    depends_on: list[TaskDependency] = Field(default_factory=list)
    dependents: list[str] = Field(default_factory=list)
    # the W3C traceparent the task was created under (trace.py); not stored when None
    trace: str | None = None
    # its last checkpoint (a persistent job), written by the attempt that owns the record
    checkpoint: CheckpointMark | None = None

    @property
    def band(self) -> Band:
        return band_for_priority(self.priority)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def attempt(self) -> int:
        return len(self.attempts)

    @property
    def execution_time_seconds(self) -> float | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return max(0.0, self.completed_at - self.started_at)


def task_number(record: TaskRecord | dict[str, Any], rev: int) -> int:
    """The task's integer id, for APIs that number tasks: its record's create revision.

    ``record`` is the record (or its plain fields) read at revision ``rev``. The bucket makes
    revisions unique, so no counter is written per task. A record without ``created_rev``
    has not been updated since it was created (every update stores it, see ``numbered``),
    so its current revision is its create revision. A read that did not learn the revision
    (``rev`` 0) cannot number such a record: that is a bug of the caller, not a number.
    """
    created_rev = record.get("created_rev") if isinstance(record, dict) else record.created_rev
    if created_rev:
        return int(created_rev)
    if rev <= 0:
        raise PrsmError("a task's number needs the revision its record was read at")
    return rev


class TaskSpec(BaseModel):
    """One task of an ``enqueue_many`` call that carries its own options."""

    model_config = ConfigDict(extra="forbid")

    task_data: dict[str, Any]
    priority: int | None = None
    max_retries: int | None = None
    timeout_seconds: float | None = None
    task_type: str | None = None
    idempotency_key: str | None = None


# --- the state machine -------------------------------------------------------------------


def check_transition(record: TaskRecord, to: TaskStatus) -> None:
    if to not in ALLOWED_TRANSITIONS[record.status]:
        raise IllegalTransitionError(
            f"task {record.task_id} cannot go from {record.status} to {to}",
            task_id=record.task_id,
            from_status=str(record.status),
            to_status=str(to),
        )


def _close_last_attempt(
    attempts: list[Attempt], now: float, outcome: AttemptOutcome
) -> list[Attempt]:
    if not attempts or attempts[-1].ended_at is not None:
        return list(attempts)
    last = attempts[-1].model_copy(update={"ended_at": now, "outcome": outcome})
    return [*attempts[:-1], last]


def claim(
    record: TaskRecord, *, node_id: str, now: float, message_seq: int | None = None
) -> TaskRecord:
    """enqueued -> processing on ``node_id``: a new attempt starts."""
    return TaskRecord.model_validate(
        claim_fields(record_fields(record), node_id=node_id, now=now, message_seq=message_seq)
    )


def take_over(
    record: TaskRecord, *, node_id: str, now: float, message_seq: int | None = None
) -> TaskRecord:
    """processing on a node that stopped renewing its lease -> processing here.

    The lost attempt counts against ``max_retries``: a task that kills every node it runs on
    must end, not loop forever.
    """
    check_transition(record, TaskStatus.PROCESSING)
    if record.status is not TaskStatus.PROCESSING:
        raise IllegalTransitionError(
            f"task {record.task_id} is {record.status}, not processing", task_id=record.task_id
        )
    lost = _close_last_attempt(record.attempts, now, AttemptOutcome.LOST)
    lost_error = ErrorInfo(
        type="NodeLost",
        message=f"node {record.worker_node} stopped renewing the lease of attempt {record.attempt}",
    )
    if record.retry_count >= record.max_retries:
        return record.model_copy(
            update={
                "status": TaskStatus.FAILED,
                "completed_at": now,
                "error": lost_error,
                "attempts": lost,
            }
        )
    attempt = Attempt(
        number=len(record.attempts) + 1, node=node_id, started_at=now, message_seq=message_seq
    )
    return record.model_copy(
        update={
            "worker_node": node_id,
            "started_at": now,
            "retry_count": record.retry_count + 1,
            "error": lost_error,
            "progress": 0.0,
            "progress_text": None,
            "attempts": [*lost, attempt],
        }
    )


def report_progress(record: TaskRecord, *, value: float | None, text: str | None) -> TaskRecord:
    return TaskRecord.model_validate(progress_fields(record_fields(record), value=value, text=text))


def complete(record: TaskRecord, *, result: Any, now: float) -> TaskRecord:
    return TaskRecord.model_validate(complete_fields(record_fields(record), result=result, now=now))


def schedule_retry(
    record: TaskRecord,
    *,
    error: ErrorInfo,
    now: float,
    not_before: float,
    outcome: AttemptOutcome = AttemptOutcome.FAILED,
) -> TaskRecord:
    """processing -> enqueued for another attempt after ``not_before``."""
    check_transition(record, TaskStatus.ENQUEUED)
    if record.retry_count >= record.max_retries:
        raise IllegalTransitionError(
            f"task {record.task_id} has no retries left", task_id=record.task_id
        )
    return record.model_copy(
        update={
            "status": TaskStatus.ENQUEUED,
            "retry_count": record.retry_count + 1,
            "error": error,
            "enqueued_at": now,
            "not_before": not_before,
            "worker_node": None,
            "attempts": _close_last_attempt(record.attempts, now, outcome),
        }
    )


def hand_back(record: TaskRecord, *, now: float) -> TaskRecord:
    """processing -> enqueued because the node is shutting down; not counted as a retry."""
    check_transition(record, TaskStatus.ENQUEUED)
    return record.model_copy(
        update={
            "status": TaskStatus.ENQUEUED,
            "enqueued_at": now,
            "worker_node": None,
            "attempts": _close_last_attempt(record.attempts, now, AttemptOutcome.INTERRUPTED),
        }
    )


def finish_unsuccessfully(
    record: TaskRecord,
    *,
    status: Literal[TaskStatus.FAILED, TaskStatus.TIMEOUT],
    error: ErrorInfo,
    now: float,
) -> TaskRecord:
    check_transition(record, status)
    outcome = AttemptOutcome.TIMEOUT if status is TaskStatus.TIMEOUT else AttemptOutcome.FAILED
    return record.model_copy(
        update={
            "status": status,
            "error": error,
            "completed_at": now,
            "attempts": _close_last_attempt(record.attempts, now, outcome),
        }
    )


MAX_REQUEUES_KEPT = 20  # the newest requeues a record remembers (metadata["requeues"])


def requeue(record: TaskRecord, *, now: float, reason: str, by: str | None) -> TaskRecord:
    """final -> enqueued: a person runs a stopped task again (a retry from the hub, a resume
    of a persistent job). The only way out of a final state, and never a node's own write:
    the same task, its attempts kept, a fresh retry budget, the requeue noted in metadata."""
    if not record.is_final:
        raise TaskNotFinalError(
            f"task {record.task_id} is {record.status}: only a final task runs again",
            task_id=record.task_id,
            status=str(record.status),
        )
    note = {"at": now, "reason": reason, "by": by, "from_status": str(record.status)}
    kept = list(record.metadata.get("requeues") or [])[-(MAX_REQUEUES_KEPT - 1) :]
    return record.model_copy(
        update={
            "status": TaskStatus.ENQUEUED,
            "enqueued_at": now,
            "completed_at": None,
            "started_at": None,
            "not_before": None,
            "worker_node": None,
            "result": None,
            "error": None,
            "progress": 0.0,
            "progress_text": None,
            "retry_count": 0,
            "metadata": {**record.metadata, "requeues": [*kept, note]},
        }
    )


def cancel(record: TaskRecord, *, now: float, reason: str = "cancelled by request") -> TaskRecord:
    check_transition(record, TaskStatus.CANCELLED)
    return record.model_copy(
        update={
            "status": TaskStatus.CANCELLED,
            "completed_at": now,
            "error": ErrorInfo(type="Cancelled", message=reason),
            "attempts": _close_last_attempt(record.attempts, now, AttemptOutcome.CANCELLED),
        }
    )


def release(record: TaskRecord, *, now: float) -> TaskRecord:
    """waiting -> enqueued: a batch (or dependency) lets this task go to its queue; a
    delayed task let go before its time -> scheduled (its timer lets it go then)."""
    if record.status is not TaskStatus.WAITING:
        check_transition(record, TaskStatus.ENQUEUED)
        raise IllegalTransitionError(
            f"task {record.task_id} is {record.status}, not waiting", task_id=record.task_id
        )
    if record.scheduled_for is not None and record.scheduled_for > now:
        return record.model_copy(update={"status": TaskStatus.SCHEDULED})
    return record.model_copy(update={"status": TaskStatus.ENQUEUED, "enqueued_at": now})


def release_scheduled(record: TaskRecord, *, now: float) -> TaskRecord:
    """scheduled -> enqueued: a delayed task's time came; it joins its queue now."""
    check_transition(record, TaskStatus.ENQUEUED)
    if record.status is not TaskStatus.SCHEDULED:
        raise IllegalTransitionError(
            f"task {record.task_id} is {record.status}, not scheduled", task_id=record.task_id
        )
    return record.model_copy(update={"status": TaskStatus.ENQUEUED, "enqueued_at": now})


# --- the same rules on the wire form --------------------------------------------------------
# A node runs thousands of tasks a second; building pydantic models for each step costs more
# than the task. The hot transitions therefore work on the record's msgpack dict (what
# ``record_fields`` returns), and the TaskRecord versions above are defined through them, so
# each rule is written once.

Fields = dict[str, Any]


def record_fields(record: TaskRecord) -> Fields:
    """The record as plain data: what ``model_dump`` gives, without its cost."""
    fields = dict(record.__dict__)
    if fields.get("trace") is None:
        fields.pop("trace", None)  # records without a trace do not grow
    fields["attempts"] = [attempt_fields(attempt) for attempt in record.attempts]
    if record.error is not None:
        fields["error"] = dict(record.error.__dict__)
    # a task outside any graph stores neither list: no bytes added to every record (the
    # fields form reads them with ``.get``; a record without them loads with empty lists)
    if record.depends_on:
        fields["depends_on"] = [dict(dependency.__dict__) for dependency in record.depends_on]
    else:
        del fields["depends_on"]
    if not record.dependents:
        del fields["dependents"]
    if record.checkpoint is not None:
        fields["checkpoint"] = dict(record.checkpoint.__dict__)
    return fields


def attempt_fields(attempt: Attempt) -> Fields:
    """One attempt as plain data; no ``metrics`` key when it has none, so a record without
    metrics is stored exactly as before the field existed."""
    fields = dict(attempt.__dict__)
    metrics = fields.pop("metrics")
    if metrics is not None:
        fields["metrics"] = {k: v for k, v in metrics.__dict__.items() if v is not None}
    return fields


def with_attempt_metrics(fields: Fields, metrics: Fields | None) -> Fields:
    """``fields`` with ``metrics`` on its running (last, not ended) attempt; the same
    ``fields`` when there is nothing to add or no attempt running."""
    attempts = fields.get("attempts")
    if metrics is None or not attempts or attempts[-1].get("ended_at") is not None:
        return fields
    return {**fields, "attempts": [*attempts[:-1], {**attempts[-1], "metrics": metrics}]}


def numbered(fields: Fields, rev: int) -> Fields:
    """``fields`` read at revision ``rev``, with ``created_rev`` set when absent (in place).

    The fields form of ``task_number``: every record is stamped when it is read with its
    revision, so each write derived from it (all CAS updates are) stores the number, and
    the first update stores the create revision it is made against.
    """
    if not fields.get("created_rev"):
        fields["created_rev"] = rev
    return fields


def _check_fields(fields: Fields, to: TaskStatus) -> None:
    current = TaskStatus(fields["status"])
    if to not in ALLOWED_TRANSITIONS[current]:
        raise IllegalTransitionError(
            f"task {fields['task_id']} cannot go from {current} to {to}",
            task_id=fields["task_id"],
            from_status=str(current),
            to_status=str(to),
        )


def claim_fields(
    fields: Fields, *, node_id: str, now: float, message_seq: int | None = None
) -> Fields:
    if fields["status"] != TaskStatus.ENQUEUED:
        _check_fields(fields, TaskStatus.PROCESSING)
        raise IllegalTransitionError(
            f"task {fields['task_id']} is {fields['status']}, not enqueued",
            task_id=fields["task_id"],
        )
    attempts = fields["attempts"]
    attempt = {
        "number": len(attempts) + 1,
        "node": node_id,
        "started_at": now,
        "ended_at": None,
        "outcome": AttemptOutcome.RUNNING,
        "message_seq": message_seq,
    }
    return {
        **fields,
        "status": TaskStatus.PROCESSING,
        "worker_node": node_id,
        "started_at": now,
        "not_before": None,
        "progress": 0.0,
        "progress_text": None,
        "attempts": [*attempts, attempt],
    }


def progress_fields(fields: Fields, *, value: float | None, text: str | None) -> Fields:
    _check_fields(fields, TaskStatus.PROCESSING)
    updated = dict(fields)
    if value is not None:
        updated["progress"] = value
    if text is not None:
        updated["progress_text"] = text
    return updated


def complete_fields(fields: Fields, *, result: Any, now: float) -> Fields:
    _check_fields(fields, TaskStatus.COMPLETED)
    attempts = fields["attempts"]
    if attempts and attempts[-1]["ended_at"] is None:
        last = {**attempts[-1], "ended_at": now, "outcome": AttemptOutcome.COMPLETED}
        attempts = [*attempts[:-1], last]
    return {
        **fields,
        "status": TaskStatus.COMPLETED,
        "result": result,
        "error": None,
        "progress": 1.0,
        "completed_at": now,
        "attempts": attempts,
    }
