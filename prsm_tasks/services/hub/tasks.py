"""The hub's core app over the engine: how its tasks map onto records (statuses,
priorities, the JSON of one task), and creating, reading and retrying them in a brand.

Statuses (hub <- engine): pending <- waiting, scheduled, enqueued; running <- processing;
completed, failed, timeout, cancelled as they are. Priorities: low, normal, high, critical
are the engine's bands (2, 5, 8, 10); a task enqueued elsewhere shows its band's name.

A hub task's ``id`` is its number (``models.task_number``, the record's create revision made
unique across partitions): no counter is written per task. A path takes it or the task id.
"""

from __future__ import annotations

from typing import Any

from prsm_tasks import models, wire
from prsm_tasks.errors import (
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    TaskTypeNotFoundError,
    ValidationError,
)
from prsm_tasks.models import TaskRecord, TaskStatus, band_for_priority
from prsm_tasks.services import task_refs
from prsm_tasks.services.core import Services
from prsm_tasks.services.hub.brands import BrandScope
from prsm_tasks.services.hub.facts import HUB_KEY
from prsm_tasks.services.quotas import work_bytes
from prsm_tasks.services.timestamps import iso
from prsm_tasks.services.types import active_type, find_named
from prsm_tasks.store.options import TaskOptions
from prsm_tasks.store.reads import get_raw
from prsm_tasks.store.requeue import requeue
from prsm_tasks.store.type_index import Found

HUB_STATUS: dict[str, str] = {
    "waiting": "pending",
    "scheduled": "pending",
    "enqueued": "pending",
    "processing": "running",
    "completed": "completed",
    "failed": "failed",
    "timeout": "timeout",
    "cancelled": "cancelled",
}
# a status filter -> the engine statuses it lets through; ``active``: not stopped yet
STATUS_FILTERS: dict[str, frozenset[str]] = {
    hub: frozenset(engine for engine, mapped in HUB_STATUS.items() if mapped == hub)
    for hub in ("pending", "running", "completed", "failed", "timeout", "cancelled")
}
STATUS_FILTERS["active"] = STATUS_FILTERS["pending"] | STATUS_FILTERS["running"]
PRIORITIES: dict[str, int] = {"low": 2, "normal": 5, "high": 8, "critical": 10}
RETRYABLE = frozenset({"failed", "timeout", "cancelled"})
NOT_FOUND = "Task not found or access denied"


def priority_name(priority: int) -> str:
    return str(band_for_priority(priority))


def not_found(ref: str) -> TaskNotFoundError:
    """Another brand's task, another tenant's, and a missing one read the same."""
    return TaskNotFoundError(NOT_FOUND, task_id=ref[:64])


def check_in_brand(tenant: str | None, scope: BrandScope, ref: str) -> None:
    if tenant != scope.principal.tenant:
        raise not_found(ref)


def is_resumable(status: str, checkpointed: bool) -> bool:
    """Stopped before completing, with a checkpoint to resume from (persistent jobs)."""
    return status in RETRYABLE and checkpointed


def execution_time_ms(raw: dict[str, Any]) -> int | None:
    started, completed = raw.get("started_at"), raw.get("completed_at")
    if started is None or completed is None:
        return None
    return round(max(0.0, completed - started) * 1000)


def last_metrics(raw: dict[str, Any]) -> dict[str, Any]:
    """The latest attempt's measures (the node's metrics work stores them with it)."""
    for attempt in reversed(raw.get("attempts") or ()):
        metrics = attempt.get("metrics") if isinstance(attempt, dict) else None
        if isinstance(metrics, dict):
            return metrics
    return {}


def progress_percentage(raw: dict[str, Any]) -> int:
    if raw.get("status") == "completed":
        return 100
    return max(0, min(100, round(float(raw.get("progress") or 0.0) * 100)))


def task_item(raw: dict[str, Any], *, number: int, brand: int) -> dict[str, Any]:
    """One task as the hub shows it (``raw``: the record's stored fields)."""
    metadata = raw.get("metadata") or {}
    given = metadata.get(HUB_KEY) if isinstance(metadata.get(HUB_KEY), dict) else {}
    status = HUB_STATUS.get(raw["status"], "pending")
    error = raw.get("error")
    user = raw.get("user")
    return {
        "id": number,
        "task_id": raw["task_id"],
        "task_type": raw.get("task_type"),
        "status": status,
        "priority": priority_name(int(raw.get("priority", 5))),
        "progress_percentage": progress_percentage(raw),
        "progress_text": raw.get("progress_text"),
        "description": given.get("description"),
        "brand": {"id": brand, "name": None},
        "created_by": {"id": user, "username": user},
        "queue": raw["queue_name"],
        "context_data": raw.get("task_data") or {},
        "result_data": raw.get("result"),
        "error_message": error.get("message") if isinstance(error, dict) else None,
        "created_at": iso(raw["created_at"]),
        "started_at": iso(raw.get("started_at")),
        "completed_at": iso(raw.get("completed_at")),
        "attempt": len(raw.get("attempts") or ()),
        "retries": [
            {
                "at": iso(note.get("at")),
                "by": note.get("by"),
                "from_status": note.get("from_status"),
            }
            for note in metadata.get("requeues") or ()
            if isinstance(note, dict)
        ],
        "is_periodic": bool(metadata.get("schedule_id")),
        "is_resumable": is_resumable(status, raw.get("checkpoint") is not None),
        "execution_time_ms": execution_time_ms(raw),
        "metrics": last_metrics(raw),
    }


def item_of(
    services: Services, scope: BrandScope, record: TaskRecord | dict[str, Any], rev: int = 0
) -> dict[str, Any]:
    raw = models.record_fields(record) if isinstance(record, TaskRecord) else record
    return task_item(raw, number=task_refs.number_of(services, raw, rev), brand=scope.brand)


async def find_type(services: Services, scope: BrandScope, task_type: str) -> Found:
    """An active type the brand's tenant may use (its own, else a system type): 400 naming
    ``task_type`` otherwise (the hub's bodies name a type; a missing one is bad input)."""
    try:
        found = await find_named(services, scope.tenant, task_type)
    except TaskTypeNotFoundError as exc:
        raise ValidationError(
            f"no task type {task_type!r} is registered", field="task_type"
        ) from exc
    return active_type(found)


async def create(
    services: Services,
    scope: BrandScope,
    *,
    task_type: str,
    priority: str,
    description: str | None,
    context_data: dict[str, Any],
) -> TaskRecord:
    """A task of a type the tenant may use, on the type's queue (as ``/api/tasks``), its
    data checked against the type's schema; written in the brand's scope."""
    found = await find_type(services, scope, task_type)
    wire.check_depth(context_data, field="context_data")
    services.types.validate(found, context_data, root="context_data")  # 400, as the hub says
    services.check_enabled(found[0].queue, field=None)
    options = TaskOptions(
        priority=PRIORITIES[priority],
        task_type=found[0].name,
        metadata={HUB_KEY: {"description": description}},
    )
    principal = scope.principal
    prepared = services.writer.prepare(
        found[0].queue, context_data, options, user=principal.user, tenant=principal.tenant
    )
    await services.check_room(
        principal.tenant, tasks=1, messages=1, message_bytes=work_bytes(prepared)
    )
    created = await services.writer.submit(prepared)
    # in the view at once: its id resolves on this edge before the watch brings it
    services.view.apply_record(created)
    return created


async def read(services: Services, scope: BrandScope, ref: str) -> dict[str, Any]:
    task_id = task_refs.find(services, ref)
    if task_id is None:
        raise not_found(ref)
    try:
        # with its revision: a task never updated is numbered by it
        raw, rev = await get_raw(
            services.stores.nc, task_id, partitions=services.stores.tasks.partitions
        )
    except TaskNotFoundError:
        raise not_found(ref) from None
    check_in_brand(raw.get("tenant"), scope, ref)
    return item_of(services, scope, raw, rev)


async def retry(services: Services, scope: BrandScope, ref: str) -> TaskRecord:
    """The same task runs again as its next attempt (store/requeue.py): 409 while it has
    not stopped (``task_not_final``) and for a completed one."""
    task_id = task_refs.find(services, ref)
    if task_id is None:
        raise not_found(ref)

    def check(record: TaskRecord) -> None:
        # every read of the retry's compare-and-set loop is checked, not only the first
        check_in_brand(record.tenant, scope, ref)
        if record.status is TaskStatus.COMPLETED:
            raise TaskAlreadyCompletedError(
                f"task {record.task_id} completed: only a failed, timed-out or cancelled "
                "task is retried",
                task_id=record.task_id,
            )

    try:
        again = await requeue(
            services.writer,
            services.stores.tasks,
            task_id,
            reason="retried from the hub",
            by=scope.caller.user,
            check=check,
        )
    except TaskNotFoundError:
        raise not_found(ref) from None
    services.view.apply_record(again)
    return again
