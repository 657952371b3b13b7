"""What handlers logged, as every surface reads it: a task's lines, or one attempt's.

The lines live in PRSM_LOGS (store/logs.py), written by the node that ran each attempt;
any edge reads them. Access is the task's: ``read_task_logs`` checks the caller as
``/status`` does; ``attempt_log_lines`` is for a surface that has already resolved and
checked what it reads (the scheduler's ``/api/v1/executions/{id}/logs``: an execution is
one attempt of one task).
"""

from __future__ import annotations

from typing import Any

from prsm_tasks.services import tasks
from prsm_tasks.services.access import Principal
from prsm_tasks.services.core import Services
from prsm_tasks.services.timestamps import iso
from prsm_tasks.store.logs import StoredLine, purge_task_logs, read_lines

MAX_LIMIT = 1_000  # lines one read answers
DEFAULT_LIMIT = 100
MAX_ATTEMPT = 10_000
MAX_OFFSET = 1_000_000


def public_line(line: StoredLine) -> dict[str, Any]:
    return {
        "timestamp": iso(line.timestamp),
        "level": line.level,
        "message": line.message,
        "attempt": line.attempt,
    }


async def attempt_log_lines(
    services: Services,
    task_id: str,
    queue_name: str,
    *,
    attempt: int | None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The stored lines of a task (of one attempt, 1-based), oldest first; no access
    check: the caller has made it."""
    lines = await read_lines(
        services.stores.nc,
        task_id,
        queue_name,
        attempt=attempt,
        offset=offset,
        limit=min(limit, MAX_LIMIT),
    )
    return [public_line(line) for line in lines]


async def read_task_logs(
    services: Services,
    principal: Principal,
    task_id: str,
    *,
    attempt: int | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> dict[str, Any]:
    """``{"task_id", "logs"}`` of a task the caller may see (404 / 403 as ``/status``)."""
    record = await tasks.read_own(services, principal, task_id)
    logs = await attempt_log_lines(
        services, task_id, record["queue_name"], attempt=attempt, limit=limit, offset=offset
    )
    return {"task_id": task_id, "logs": logs}


async def forget_task_logs(services: Services, task_id: str, queue_name: str) -> None:
    """Remove a task's lines with the task (``DELETE`` of a finished task)."""
    await purge_task_logs(services.stores.js, task_id, queue_name)
