"""How the task list API (/api/tasks) maps onto the engine: statuses, priorities, access,
and the JSON of one task. Pure functions (unit-tested without a server).

Statuses (API <- engine): pending <- waiting, scheduled, enqueued; running <- processing;
completed <- completed; failed <- failed, timeout; cancelled <- cancelled.

Priorities: the API's 1..1000 (lower = more urgent) in steps of 100 onto the engine's 10..1:
1-100 -> 10 (critical), 101-200 -> 9, ..., 901-1000 -> 1 (low). The value a caller gave is
kept in the record and answered back; a task enqueued elsewhere shows the first number of its
step (engine 5 -> 501).
"""

from __future__ import annotations

from typing import Any

from prsm_tasks.edge.auth import Principal
from prsm_tasks.edge.errors import iso
from prsm_tasks.errors import ForbiddenError, TaskNotFoundError
from prsm_tasks.store.external import EXTERNAL_PREFIX, LEASE_KEY

API_KEY = "api"  # record.metadata[API_KEY]: what POST /api/tasks was given
WORKER_ROLE = "worker"
DEFAULT_API_PRIORITY = 500

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


def may_work(principal: Principal) -> bool:
    """Tenant admins and the ``worker`` role see, claim and update every task of the tenant."""
    return principal.is_admin or WORKER_ROLE in principal.roles


def check_task_access(record: dict[str, Any], principal: Principal, task_id: str) -> None:
    if record.get("tenant") != principal.tenant:
        raise TaskNotFoundError(f"Task with ID {task_id} not found", task_id=task_id)
    if record.get("user") != principal.user and not may_work(principal):
        raise ForbiddenError(f"task {task_id} belongs to another user", task_id=task_id)


def external_worker(raw: dict[str, Any]) -> str | None:
    worker = raw.get("worker_node")
    if API_STATUS.get(raw["status"]) == "running" and worker and worker.startswith(EXTERNAL_PREFIX):
        return str(worker[len(EXTERNAL_PREFIX) :])
    return None


def task_item(raw: dict[str, Any], *, type_id: int | None) -> dict[str, Any]:
    """One task as the task list API shows it (``raw``: the record's stored fields)."""
    metadata = raw.get("metadata") or {}
    given = metadata.get(API_KEY) if isinstance(metadata.get(API_KEY), dict) else {}
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
        "id": raw["task_id"],
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
