"""Running a stopped task again (store/requeue.py): the same task, its next attempt."""

from __future__ import annotations

import asyncio

import pytest

from prsm_tasks import Client, TaskContext
from prsm_tasks.errors import TaskNotFinalError, TaskNotFoundError
from prsm_tasks.models import AttemptOutcome, TaskStatus
from tests.conftest import NodeFactory, eventually


@pytest.mark.partitioned
async def test_a_failed_task_runs_again_as_its_next_attempt(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    async def fails_first(ctx: TaskContext) -> int:
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")
        return ctx.attempt

    async with start_node({queue: fails_first}):
        record = await client.enqueue(queue, {}, max_retries=0)
        failed = await client.wait(record.task_id, timeout=30)
        assert failed.status is TaskStatus.FAILED
        again = await client.requeue(record.task_id, reason="hub retry")
        assert again.status is TaskStatus.ENQUEUED and again.error is None
        final = await client.wait(record.task_id, timeout=30)
    assert final.status is TaskStatus.COMPLETED
    assert final.result == 2
    assert [a.outcome for a in final.attempts] == [AttemptOutcome.FAILED, AttemptOutcome.COMPLETED]
    (note,) = final.metadata["requeues"]
    assert note["reason"] == "hub retry" and note["from_status"] == "failed"


async def test_a_cancelled_task_before_its_start_runs_when_requeued(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    record = await client.enqueue(queue, {"x": 1})
    await client.cancel(record.task_id)  # the cancel memory now remembers it

    async def echo(ctx: TaskContext, x: int) -> int:
        return x

    async with start_node({queue: echo}):
        await client.requeue(record.task_id)
        final = await client.wait(record.task_id, timeout=30)
    assert final.status is TaskStatus.COMPLETED and final.result == 1
    assert len(final.attempts) == 1  # the cancelled life never started


async def test_a_task_not_stopped_is_refused_and_unchanged(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    started = asyncio.Event()

    async def slow(ctx: TaskContext) -> None:
        started.set()
        await asyncio.sleep(30)

    record = await client.enqueue(queue, {})
    with pytest.raises(TaskNotFinalError):
        await client.requeue(record.task_id)
    async with start_node({queue: slow}):
        await asyncio.wait_for(started.wait(), 30)
        await eventually(lambda: _status_is(client, record.task_id, TaskStatus.PROCESSING))
        with pytest.raises(TaskNotFinalError):
            await client.requeue(record.task_id)
        await client.cancel(record.task_id)
    assert (await client.status(record.task_id)).status is TaskStatus.CANCELLED
    with pytest.raises(TaskNotFoundError):
        await client.requeue("task_" + "0" * 26)


async def _status_is(client: Client, task_id: str, status: TaskStatus) -> bool:
    return (await client.status(task_id)).status is status
