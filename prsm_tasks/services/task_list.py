"""The task list (seed 001): how its tasks map onto the engine (statuses, priorities, the
JSON of one task), and creating, reading, listing and deleting them.

Statuses (API <- engine): pending <- waiting, scheduled, enqueued; running <- processing;
completed <- completed; failed <- failed, timeout; cancelled <- cancelled.

Priorities: the API's 1..1000 (lower = more urgent) in steps of 100 onto the engine's 10..1:
1-100 -> 10 (critical), 101-200 -> 9, ..., 901-1000 -> 1 (low). The value a caller gave is
kept in the record and answered back; a task enqueued elsewhere shows the first number of its
step (engine 5 -> 501).
"""

from __future__ import annotations

import asyncio
from typing import Any

from prsm_tasks import models, telemetry, wire
from prsm_tasks.errors import TaskNotFoundError
from prsm_tasks.models import TaskRecord
from prsm_tasks.services import task_refs
from prsm_tasks.services.access import Principal, check_access, check_task_id
from prsm_tasks.services.core import Services
from prsm_tasks.services.quotas import work_bytes
from prsm_tasks.services.timestamps import iso
from prsm_tasks.store.external import EXTERNAL_PREFIX, LEASE_KEY
from prsm_tasks.store.options import TaskOptions
from prsm_tasks.store.reads import get_raw
from prsm_tasks.store.type_index import Found
from prsm_tasks.store.work import PreparedTask

API_KEY = "api"  # record.metadata[API_KEY]: what POST /api/tasks was given
DEFAULT_API_PRIORITY = 500
READ_WINDOW = 200

API_STATUS: dict[str, str] = {
    "waiting": "pending",
    "scheduled": "pending",
    "enqueued": "pending",
    "processing": "running",
    "completed": "completed",
    "failed": "failed",
    "timeout": "failed",
    "cancelled": "cancelled",
}
ENGINE_STATUSES: dict[str, frozenset[str]] = {
    api: frozenset(engine for engine, mapped in API_STATUS.items() if mapped == api)
    for api in ("pending", "running", "completed", "failed", "cancelled")
}
STAGE = {"pending": 0, "running": 1, "completed": 2, "failed": 2, "cancelled": 2}


def engine_priority(api_priority: int) -> int:
    """1..1000 (lower = more urgent) -> 10..1 (higher = more urgent), in steps of 100."""
    return 10 - (api_priority - 1) // 100


def api_priority(priority: int) -> int:
    """An engine priority as the first API number of its step (10 -> 1, 5 -> 501)."""
    return (10 - priority) * 100 + 1


def external_worker(raw: dict[str, Any]) -> str | None:
    worker = raw.get("worker_node")
    if API_STATUS.get(raw["status"]) == "running" and worker and worker.startswith(EXTERNAL_PREFIX):
        return str(worker[len(EXTERNAL_PREFIX) :])
    return None


def task_item(raw: dict[str, Any], *, type_id: int | None, number: int) -> dict[str, Any]:
    """One task as the task list API shows it (``raw``: the record's stored fields): its
    ``id`` is the task's number (``models.task_number``), ``task_id`` its id."""
    metadata = raw.get("metadata") or {}
    stored = metadata.get(API_KEY)
    given: dict[str, Any] = stored if isinstance(stored, dict) else {}
    status = API_STATUS.get(raw["status"], "pending")
    error = raw.get("error")
    error_message = (
        error.get("message")
        if isinstance(error, dict) and status in ("failed", "cancelled")
        else None
    )
    started, completed = raw.get("started_at"), raw.get("completed_at")
    stamps = [at for at in (given.get("updated_at"), started, completed) if at is not None]
    worker_id = external_worker(raw)
    lease = metadata.get(LEASE_KEY) if worker_id is not None else None
    return {
        "id": number,
        "task_id": raw["task_id"],
        "task_type_id": type_id,
        "task_type": raw.get("task_type"),
        "status": status,
        "parameters": raw.get("task_data") or {},
        "priority": given.get("priority") or api_priority(int(raw.get("priority", 5))),
        "metadata": given.get("metadata") or {},
        "result": raw.get("result"),
        "error_message": error_message,
        "created_at": iso(raw["created_at"]),
        "updated_at": iso(max(stamps)) if stamps else None,
        "started_at": iso(started),
        "completed_at": iso(completed),
        "queue_name": raw["queue_name"],
        "worker_id": worker_id,
        "lease_expires_at": iso(lease.get("expires_at")) if isinstance(lease, dict) else None,
        "attempt": len(raw.get("attempts") or ()),
    }


def type_id_for(services: Services, raw: dict[str, Any]) -> int | None:
    task_type = raw.get("task_type")
    if task_type is None:
        return None
    found = services.types.resolve(raw.get("tenant"), task_type)
    return found[0].id if found is not None else None


def item_of(
    services: Services, record: TaskRecord | dict[str, Any], rev: int = 0
) -> dict[str, Any]:
    """One task (read at ``rev``; 0: not known) as the task list shows it, with the id of
    its type."""
    raw = models.record_fields(record) if isinstance(record, TaskRecord) else record
    number = task_refs.number_of(services, raw, rev)
    return task_item(raw, type_id=type_id_for(services, raw), number=number)


def check_listed_access(record: dict[str, Any], principal: Principal, task_id: str) -> None:
    check_access(record, principal, task_id, everyone=principal.may_work)


async def read_task(
    services: Services, task_id: str, principal: Principal
) -> tuple[TaskRecord, int]:
    check_task_id(task_id)
    record, rev = await services.stores.tasks.get(task_id)
    check_listed_access(models.record_fields(record), principal, task_id)
    return record, rev


async def read_item(services: Services, task_id: str, principal: Principal) -> dict[str, Any]:
    check_task_id(task_id)
    # read with its revision: a task never updated is numbered by it
    raw, rev = await get_raw(
        services.stores.nc, task_id, partitions=services.stores.tasks.partitions
    )
    check_listed_access(raw, principal, task_id)
    return item_of(services, raw, rev)


def prepare_task(
    services: Services,
    principal: Principal,
    found: Found,
    parameters: dict[str, Any],
    *,
    priority: int,
    metadata: dict[str, Any] | None,
) -> PreparedTask:
    """A task of an active type, its parameters checked against the type's schema."""
    wire.check_depth(parameters, field="parameters")  # named as the caller knows them
    wire.check_depth(metadata, field="metadata")
    services.types.validate(found, parameters, root="parameters", api=True)
    record = found[0]
    services.check_enabled(record.queue, field=None)
    options = TaskOptions(
        priority=engine_priority(priority),
        task_type=record.name,
        metadata={API_KEY: {"priority": priority, "metadata": metadata}},
    )
    return services.writer.prepare(
        record.queue, parameters, options, user=principal.user, tenant=principal.tenant
    )


async def submit_task(services: Services, prepared: PreparedTask) -> TaskRecord:
    """Write a prepared task and put it in the view at once, numbered: its ``id`` resolves
    on this edge from the next request on, before the watch brings it."""
    await services.check_room(
        prepared.record.tenant, tasks=1, messages=1, message_bytes=work_bytes(prepared)
    )
    created = await services.writer.submit(prepared)
    services.view.apply_record(created)
    if created.task_id == prepared.record.task_id:  # not an idempotency key's earlier task
        telemetry.task_enqueued(created.queue_name, created.priority)
    return created


def chosen_ids(
    services: Services,
    principal: Principal,
    *,
    limit: int,
    type_id: int | None,
    statuses: frozenset[str] | None,
) -> list[str]:
    """The newest tasks of registered types the caller may see, filtered, at most ``limit``."""
    scope = services.view.visible(principal.tenant, principal.user, admin=principal.may_work)
    chosen: list[str] = []
    for entry in scope.newest_first():
        if entry.task_type is None or (statuses is not None and entry.status not in statuses):
            continue
        found = services.types.resolve(principal.tenant, entry.task_type)
        if found is None or (type_id is not None and found[0].id != type_id):
            continue
        chosen.append(entry.task_id)
        if len(chosen) >= limit:
            break
    return chosen


async def list_items(
    services: Services,
    principal: Principal,
    *,
    limit: int,
    type_id: int | None,
    statuses: frozenset[str] | None,
) -> list[dict[str, Any]]:
    """The chosen tasks read from the bucket, in windows of READ_WINDOW concurrent reads."""
    chosen = chosen_ids(services, principal, limit=limit, type_id=type_id, statuses=statuses)
    items: list[dict[str, Any]] = []
    for start in range(0, len(chosen), READ_WINDOW):
        window = chosen[start : start + READ_WINDOW]
        reads = await asyncio.gather(
            *(read_numbered(services, task_id) for task_id in window),
            return_exceptions=True,
        )
        for read in reads:
            if isinstance(read, TaskNotFoundError):
                continue  # deleted since the index saw it
            if isinstance(read, BaseException):
                raise read
            items.append(item_of(services, *read))
    return items


async def read_numbered(services: Services, task_id: str) -> tuple[dict[str, Any], int]:
    """A task's fields, and the revision read at when its number is not known otherwise: the
    shared inbox reads no revision, and a task never updated is numbered by it."""
    raw, rev = await get_raw(
        services.stores.tasks.requests, task_id, partitions=services.stores.tasks.partitions
    )
    if raw.get("created_rev") or services.view.number_of(task_id) is not None:
        return raw, rev
    # rare: a task this edge wrote in a batch, not yet seen by its watch
    return await get_raw(services.stores.nc, task_id, partitions=services.stores.tasks.partitions)


def created_here(record: dict[str, Any]) -> bool:
    """Created through the task list (its answers apply to it elsewhere too)."""
    metadata = record.get("metadata")
    return isinstance(metadata, dict) and API_KEY in metadata


async def cancel_pending(services: Services, task_id: str, principal: Principal) -> dict[str, Any]:
    """A pending task is cancelled before it is deleted, so no one runs it meanwhile."""
    cancelled, _ = await services.writer.cancel(task_id, reason=f"deleted by {principal.user}")
    services.view.apply_record(cancelled)
    return models.record_fields(cancelled)
