"""Bulk create and delete: each item on its own, every outcome reported by its index.

A bulk is not all-or-nothing (the document answers ``created`` and ``failed``): a bad item
writes nothing of its own and does not stop the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prsm_tasks.errors import PrsmError
from prsm_tasks.services.access import Principal
from prsm_tasks.services.schedules import changes
from prsm_tasks.services.schedules.core import ScheduleService

# an item's JSON and its index -> its checked fields (raises ValidationError naming the field)
ParseItem = Callable[[dict[str, Any], int], dict[str, Any]]


def item_error(index: int, exc: PrsmError) -> dict[str, Any]:
    return {
        "index": index,
        "error": exc.code,
        "message": exc.message,
        "field": getattr(exc, "field", None),
    }


async def create_many(
    schedules: ScheduleService,
    principal: Principal,
    items: list[dict[str, Any]],
    parse: ParseItem,
) -> dict[str, Any]:
    task_ids: list[str] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            record = await changes.create(schedules, principal, parse(item, index))
        except PrsmError as exc:
            if exc.status >= 500:
                raise  # NATS away: the caller retries the bulk; what was created stays
            errors.append(item_error(index, exc))
            continue
        task_ids.append(record.schedule_id)
    return {"created": len(task_ids), "failed": len(errors), "task_ids": task_ids, "errors": errors}


async def delete_many(
    schedules: ScheduleService, principal: Principal, task_ids: list[str]
) -> dict[str, Any]:
    deleted = 0
    errors: list[dict[str, Any]] = []
    for index, task_id in enumerate(task_ids):
        try:
            await changes.delete(schedules, principal, task_id)
        except PrsmError as exc:
            if exc.status >= 500:
                raise
            errors.append(item_error(index, exc))
            continue
        deleted += 1
    return {"deleted": deleted, "failed": len(errors), "errors": errors}
