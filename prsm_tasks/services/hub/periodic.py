"""The hub's scheduling app: its periodic tasks are the schedules of services/schedules
(the same records in PRSM_SCHEDULES, the same firing), shown in the hub's words.

hub field        -> schedule record
cron_expression  -> expression (kind ``cron``)
task_type        -> task_name and handler_type; its queue is resolved when the periodic
                    task is written (a type of the caller's tenant, else a system type), so
                    its runs are tasks of that type on that queue
timezone         -> timezone (IANA; times are computed in it, answered in UTC)
context_data     -> payload (each run's task data)
is_active        -> status (``paused`` when false)
priority         -> priority (normal is the scheduler's ``medium``)

A brand's periodic tasks are the schedules of its tenant scope (services/hub/brands.py).
"""

from __future__ import annotations

from typing import Any

from prsm_tasks.schedules.record import ScheduleRecord
from prsm_tasks.services.core import Services
from prsm_tasks.services.hub.brands import BrandScope
from prsm_tasks.services.hub.tasks import HUB_STATUS, find_type
from prsm_tasks.services.schedules import changes
from prsm_tasks.services.schedules.core import ScheduleService
from prsm_tasks.services.timestamps import iso

SCHEDULE_PRIORITY = {"low": "low", "normal": "medium", "high": "high", "critical": "critical"}
HUB_PRIORITY = {value: key for key, value in SCHEDULE_PRIORITY.items()}
# hub field -> the scheduler's field of changes.create / changes.patch
PLAIN = {
    "cron_expression": "schedule_expression",
    "timezone": "timezone",
    "context_data": "payload",
    "is_active": "enabled",
}
RECENT_RUNS_SHOWN = 5


async def routing(services: Services, scope: BrandScope, task_type: str) -> dict[str, Any]:
    """The scheduler's routing fields of a hub task type (400 naming ``task_type``)."""
    record = (await find_type(services, scope, task_type))[0]
    return {"task_name": record.name, "handler_type": record.name, "queue_name": record.queue}


async def scheduler_fields(
    services: Services, scope: BrandScope, given: dict[str, Any]
) -> dict[str, Any]:
    """The hub's fields (those given) as the scheduler's."""
    fields = {PLAIN[name]: value for name, value in given.items() if name in PLAIN}
    if "priority" in given:
        fields["priority"] = SCHEDULE_PRIORITY[given["priority"]]
    if "task_type" in given:
        fields.update(await routing(services, scope, given["task_type"]))
    return fields


async def create(
    schedules: ScheduleService, scope: BrandScope, given: dict[str, Any]
) -> ScheduleRecord:
    fields = await scheduler_fields(schedules.services, scope, given)
    fields["task_type"] = "cron"  # the scheduler's word for the kind of rule
    return await changes.create(schedules, scope.principal, fields)


async def update(
    schedules: ScheduleService, scope: BrandScope, schedule_id: str, given: dict[str, Any]
) -> tuple[ScheduleRecord, list[str]]:
    await schedules.read(schedule_id, scope.principal)  # 404 before the body's 400
    fields = await scheduler_fields(schedules.services, scope, given)
    if "schedule_expression" in fields:
        fields["task_type"] = "cron"  # a cron rule stays one
    return await changes.patch(schedules, scope.principal, schedule_id, fields)


def run_status(services: Services, task_id: str) -> str | None:
    entry = services.view.entries.get(task_id)
    return HUB_STATUS.get(entry.status) if entry is not None else None


def periodic_item(services: Services, scope: BrandScope, record: ScheduleRecord) -> dict[str, Any]:
    runs = record.recent_runs[-RECENT_RUNS_SHOWN:][::-1]
    return {
        "id": record.schedule_id,
        "task_type": record.handler_type or record.task_name,
        "cron_expression": record.expression,
        "timezone": record.timezone,
        "context_data": record.payload,
        "is_active": record.enabled,
        "status": record.status,
        "priority": HUB_PRIORITY.get(record.priority, "normal"),
        "queue": record.queue_name,
        "brand": {"id": scope.brand, "name": None},
        "created_by": {"id": record.user, "username": record.user},
        "next_run_at": iso(record.next_due_at) if record.enabled else None,
        "last_run_at": iso(record.last_due_at),
        "recent_runs": [
            {
                "task_id": run.task_id,
                "due_at": iso(run.due_at),
                "manual": run.trigger,
                "status": run_status(services, run.task_id),
            }
            for run in runs
        ],
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
    }


def brand_schedules(schedules: ScheduleService, scope: BrandScope) -> list[ScheduleRecord]:
    """The brand's periodic tasks, newest first."""
    records = schedules.visible(scope.principal)
    return sorted(records, key=lambda r: (r.created_at, r.schedule_id), reverse=True)
