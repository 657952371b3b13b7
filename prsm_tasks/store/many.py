"""Many tasks of one queue in one call (the native client's ``enqueue_many``).

Every item is checked first, all or nothing; then they are written in pipelined windows of
``WorkWriter.submit``. A window that fails names what may have been written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from prsm_tasks import wire
from prsm_tasks.errors import ValidationError
from prsm_tasks.models import TaskRecord, TaskSpec
from prsm_tasks.store.incomplete import partly_written
from prsm_tasks.store.options import TaskOptions
from prsm_tasks.store.work import PreparedTask, WorkWriter


async def enqueue_many(
    writer: WorkWriter,
    queue: str,
    items: Iterable[dict[str, Any] | TaskSpec],
    defaults: TaskOptions,
    *,
    user: str | None = None,
    tenant: str | None = None,
    window: int = 256,
) -> list[TaskRecord]:
    """Check every item first (all or nothing), then write them in pipelined windows."""
    wire.check_queue_name(queue)
    prepared = [
        prepare_item(writer, queue, item, defaults, index, user=user, tenant=tenant)
        for index, item in enumerate(items)
    ]
    results: list[TaskRecord] = []
    for start in range(0, len(prepared), window):
        chunk = prepared[start : start + window]
        outcomes = await asyncio.gather(*(writer.submit(p) for p in chunk), return_exceptions=True)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:
            # the windows after this one were not written: name what may have been
            written = [record.task_id for record in results]
            raise partly_written(written, outcomes, failed[0])
        results.extend(o for o in outcomes if isinstance(o, TaskRecord))
    return results


def prepare_item(
    writer: WorkWriter,
    queue: str,
    item: dict[str, Any] | TaskSpec,
    defaults: TaskOptions,
    index: int,
    *,
    user: str | None,
    tenant: str | None,
) -> PreparedTask:
    """One item prepared: a TaskSpec's own options over ``defaults``; an error names it."""
    try:
        if isinstance(item, TaskSpec):
            options = TaskOptions(
                priority=defaults.priority if item.priority is None else item.priority,
                max_retries=defaults.max_retries if item.max_retries is None else item.max_retries,
                timeout_seconds=defaults.timeout_seconds
                if item.timeout_seconds is None
                else item.timeout_seconds,
                task_type=item.task_type or defaults.task_type,
                idempotency_key=item.idempotency_key,
                batch_id=defaults.batch_id,
                metadata=defaults.metadata,
                scheduled_for=defaults.scheduled_for,
            )
            return writer.prepare(queue, item.task_data, options, user=user, tenant=tenant)
        return writer.prepare(queue, item, defaults, user=user, tenant=tenant)
    except ValidationError as exc:
        field = f"items[{index}].{exc.field}" if exc.field else f"items[{index}]"
        raise type(exc)(f"item {index}: {exc.message}", field=field) from exc
