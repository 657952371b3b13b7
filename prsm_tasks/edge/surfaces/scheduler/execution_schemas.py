"""The answers of the executions routes (an execution: one attempt of a schedule's run)."""

from __future__ import annotations

from typing import Any

from prsm_tasks.edge.http.schemas import ResponseBody


class WaitingOn(ResponseBody):
    """A parent run a waiting execution waits for (an extension of the document)."""

    task_id: str | None  # the parent schedule's id
    run_task_id: str | None  # its run waited for (None: the parent has not run yet)
    dependency_type: str | None


class ExecutionItem(ResponseBody):
    execution_id: str
    task_id: str  # the schedule's id
    run_task_id: str  # the run's task (GET /status/{run_task_id} on the PRSM routes)
    worker_id: str | None
    started_at: str | None
    completed_at: str | None
    duration_ms: int | None
    # waiting, pending, running, success, failed, timeout, cancelled, interrupted
    status: str
    retry_number: int
    is_retry: bool
    queued_at: str | None
    waiting_on: list[WaitingOn] | None = None  # a waiting execution's parent runs


class ExecutionList(ResponseBody):
    executions: list[ExecutionItem]
    total: int


class ExecutionDetail(ExecutionItem):
    result: Any = None
    error: dict[str, Any] | None = None


class ExecutionLogLine(ResponseBody):
    timestamp: str | None
    level: str
    message: str
    attempt: int


class ExecutionLogs(ResponseBody):
    execution_id: str
    logs: list[ExecutionLogLine]


class ExecutionCancelled(ResponseBody):
    execution_id: str
    status: str
    cancelled_at: str | None


class RecentStats(ResponseBody):
    executions: int
    success_rate: float | None


class TaskStats(ResponseBody):
    task_id: str
    total_executions: int
    successful_executions: int
    failed_executions: int
    success_rate: float | None
    average_duration_ms: int | None
    p50_duration_ms: int | None
    p95_duration_ms: int | None
    p99_duration_ms: int | None
    last_7_days: RecentStats
