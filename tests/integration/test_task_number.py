"""Task numbers against a real server: the create revision, stable through a task's life."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from prsm_tasks import Client, Retry, TaskContext, models, wire
from prsm_tasks.models import TaskRecord, TaskStatus
from prsm_tasks.store.tasks import TaskStore
from tests.conftest import NodeFactory


@pytest.fixture
async def store(client: Client) -> AsyncIterator[TaskStore]:
    assert client._nc is not None and client._js is not None
    opened = await TaskStore.open(client._nc, client._js)
    try:
        yield opened
    finally:
        await opened.close()


async def number_of(store: TaskStore, task_id: str) -> int:
    record, rev = await store.get(task_id)
    return models.task_number(record, rev)


async def test_a_task_keeps_its_number_through_claim_retry_and_completion(
    client: Client, store: TaskStore, queue: str, start_node: NodeFactory
) -> None:
    async def flaky(ctx: TaskContext, **task_data: Any) -> str:
        if task_data["i"] == 1 and ctx.attempt < 2:
            raise Retry(delay=0.05)
        ctx.progress(0.5, "half")
        return "done"

    first = await client.enqueue(queue, {"i": 1})
    second = await client.enqueue(queue, {"i": 2})
    stored, pending_rev = await store.get_encoded(first.task_id)
    assert wire.unpack(stored)["created_rev"] is None  # never updated: numbered by its rev
    pending, _ = await store.get(first.task_id)
    number = models.task_number(pending, pending_rev)
    assert number == pending_rev
    other = await number_of(store, second.task_id)
    assert other != number

    async with start_node({queue: flaky}):
        final = await client.wait(first.task_id, timeout=60)
        quick = await client.wait(second.task_id, timeout=60)  # may start unclaimed
    assert final.status is TaskStatus.COMPLETED and final.attempt == 2
    assert quick.status is TaskStatus.COMPLETED
    record, rev = await store.get(first.task_id)
    assert rev > number
    assert record.created_rev == number
    assert models.task_number(record, rev) == number
    assert await number_of(store, second.task_id) == other


async def test_a_record_without_the_field_is_numbered_by_its_first_update(
    store: TaskStore, queue: str
) -> None:
    now = time.time()
    record = TaskRecord(
        task_id=wire.new_task_id(), queue_name=queue, created_at=now, enqueued_at=now
    )
    old = models.record_fields(record)
    del old["created_rev"]  # as written before the field existed
    created_rev = await store.create_encoded(record.task_id, wire.pack(old))
    loaded, rev = await store.get(record.task_id)
    assert rev == created_rev and models.task_number(loaded, rev) == created_rev
    cancelled, _ = await store.transition(
        record.task_id, lambda current: models.cancel(current, now=time.time())
    )
    assert cancelled.created_rev == created_rev
    assert await number_of(store, record.task_id) == created_rev
