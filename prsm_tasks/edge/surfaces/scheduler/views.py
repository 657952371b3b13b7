"""A schedule as the scheduler API shows it: the document's names, times in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prsm_tasks.schedules.record import ScheduleRecord
from prsm_tasks.services.schedules.core import ScheduleService
from prsm_tasks.services.schedules.routing import route_of_record


def utc(ts: float | None) -> str | None:
    """Epoch seconds as the document writes times: whole seconds, ``Z``."""
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dependency_items(schedules: ScheduleService, record: ScheduleRecord) -> list[dict[str, Any]]:
    items = []
    for dependency in record.dependencies:
        parent = schedules.index.get(dependency.depends_on)
        items.append(
            {
                "dependency_id": dependency.dependency_id,
                "depends_on_task_id": dependency.depends_on,
                "depends_on_task_name": parent.task_name if parent is not None else None,
                "dependency_type": dependency.type,
            }
        )
    return items


def schedule_item(schedules: ScheduleService, record: ScheduleRecord) -> dict[str, Any]:
    route = route_of_record(schedules.services.types, record)
    return {
        "task_id": record.schedule_id,
        "task_name": record.task_name,
        "task_type": record.kind,
        "schedule_expression": record.expression,
        "timezone": record.timezone,
        "next_execution_time": utc(record.next_due_at),
        "last_execution_time": utc(record.last_due_at),
        "status": record.status,
        "enabled": record.enabled,
        "payload": record.payload,
        "timeout_seconds": record.timeout_seconds,
        "max_retries": record.max_retries,
        "retry_count": record.retry_count,
        "priority": record.priority,
        "tags": record.tags,
        "created_at": utc(record.created_at),
        "updated_at": utc(record.updated_at),
        "paused_at": utc(record.paused_at),
        "queue_name": route.queue if route is not None else None,
        "handler_type": route.task_type if route is not None else record.handler_type,
        "misfire_policy": record.misfire_policy,
        "backfill_limit": record.backfill_limit,
        "dependencies": dependency_items(schedules, record),
    }


def summary_item(record: ScheduleRecord) -> dict[str, Any]:
    return {
        "task_id": record.schedule_id,
        "task_name": record.task_name,
        "task_type": record.kind,
        "status": record.status,
        "priority": record.priority,
        "tags": record.tags,
        "next_execution_time": utc(record.next_due_at),
    }
