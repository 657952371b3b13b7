"""Client.wait through the one shared watch, for tasks this client enqueued and others'."""

from __future__ import annotations

import asyncio

from prsm_tasks import Client, TaskContext
from prsm_tasks.models import TaskStatus
from tests.conftest import NodeFactory


async def quick(ctx: TaskContext, n: int) -> int:
    return n * 2


async def test_wait_after_the_task_finished(
    client: Client, queue: str, start_node: NodeFactory, nats_url: str
) -> None:
    async with start_node({queue: quick}):
        warm = await client.enqueue(queue, {"n": 0})
        await client.wait(warm.task_id, timeout=30)  # the watch runs from here on
        mine = [await client.enqueue(queue, {"n": n}) for n in range(1, 6)]
        async with Client(nats_url) as other_client:
            theirs = await other_client.enqueue(queue, {"n": 10})
        await asyncio.sleep(1.0)  # they all finish before anyone waits
        finals = [await client.wait(r.task_id, timeout=30) for r in [*mine, theirs]]
    assert [f.status for f in finals] == [TaskStatus.COMPLETED] * 6
    assert [f.result for f in finals] == [2, 4, 6, 8, 10, 20]
    watch = client._watch
    assert watch is not None and not watch._expected  # collected by the waits


async def test_concurrent_waits_for_one_task(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    gate = asyncio.Event()

    async def gated(ctx: TaskContext) -> str:
        async with asyncio.timeout(30):
            await gate.wait()
        return "done"

    async with start_node({queue: gated}):
        record = await client.enqueue(queue, {})
        waiting = asyncio.gather(*(client.wait(record.task_id, timeout=30) for _ in range(3)))
        await asyncio.sleep(0.2)
        gate.set()
        finals = await waiting
    assert [f.result for f in finals] == ["done"] * 3
