"""A node's start-up: what it asks the server before its first pull, and how it fails."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import nats.js.errors
import pytest
from nats.js.api import ConsumerConfig

from prsm_tasks import Client, Node, TaskContext, wire
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.handlers import HandlerRegistry
from prsm_tasks.models import BANDS_HIGH_TO_LOW, TaskStatus
from tests.conftest import NodeFactory, eventually

# cancels a node replays at start: an hour of a busy deployment's, a second or so to replay
CANCEL_KEYS = 60_000


async def noop(ctx: TaskContext, **task_data: Any) -> None:
    return None


@pytest.mark.partitioned
async def test_a_node_starts_on_existing_streams_without_creating_them(
    client: Client, nats_url: str, queue: str, start_node: NodeFactory
) -> None:
    """Streams and buckets that exist (the client made them) cost a node one info request
    each (no create, no second look at a work stream), and every (partition, queue, band) of
    the node gets its consumer before the node says ready."""
    queues = [f"{queue}-{n}" for n in range(3)]
    watcher = await nats.connect(nats_url)
    asked: list[str] = []

    async def note(msg: nats.aio.msg.Msg) -> None:
        asked.append(msg.subject)

    try:
        await watcher.subscribe("$JS.API.>", cb=note)
        await watcher.flush()
        async with start_node(dict.fromkeys(queues, noop)) as node:
            await watcher.flush()
            ready_asked = list(asked)
            record = await client.enqueue(queues[-1], {})
            final = await client.wait(record.task_id, timeout=30)
    finally:
        await watcher.close()
    assert final.status is TaskStatus.COMPLETED
    assert [s for s in ready_asked if s.startswith("$JS.API.STREAM.CREATE.")] == []
    for partition in range(node.topology.partitions):
        stream = wire.work_stream(partition)
        assert ready_asked.count(f"$JS.API.STREAM.INFO.{stream}") == 1
    # the work consumers; the timer actor's consumer (made as it starts) is not a work one
    created = {
        s
        for s in ready_asked
        if s.startswith("$JS.API.CONSUMER.DURABLE.CREATE.")
        and not s.startswith(f"$JS.API.CONSUMER.DURABLE.CREATE.{wire.TIMERS_STREAM}.")
    }
    assert created == {
        f"$JS.API.CONSUMER.DURABLE.CREATE.{wire.work_stream(p)}.{wire.work_consumer(q, band)}"
        for p in range(node.topology.partitions)
        for q in queues
        for band in BANDS_HIGH_TO_LOW
    }


async def test_a_start_step_that_fails_raises_its_own_error(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    """Start-up steps run side by side; the one that fails says why, not a group of them."""
    js = client._js  # a foreign consumer on one band: a work queue allows one per subject
    assert js is not None
    await js.add_consumer(
        wire.WORK_STREAM,
        ConsumerConfig(
            durable_name=f"in-the-way-{queue}", filter_subject=wire.work_subject(queue, "high")
        ),
    )
    with pytest.raises(nats.js.errors.BadRequestError):
        async with start_node({queue: noop}):
            pass


async def test_a_node_takes_work_while_its_cancel_memory_replays(own_server: EmbeddedNats) -> None:
    """An hour of cancels (tens of thousands of keys) takes a while to replay; the node does
    not wait for it: it starts at once and claims every task first until its memory is live,
    and a task cancelled before it started never runs."""
    ran: list[str] = []

    async def record(ctx: TaskContext, **task_data: Any) -> None:
        ran.append(ctx.task_id)

    async with Client(own_server.url) as client:
        js = client._js
        assert js is not None
        for first in range(0, CANCEL_KEYS, 1000):
            await asyncio.gather(
                *(
                    js.publish(f"$KV.{wire.CANCELS_BUCKET}.task_old{n:08d}", b"")
                    for n in range(first, min(CANCEL_KEYS, first + 1000))
                )
            )
        cancelled = await client.enqueue("started", {})
        await client.cancel(cancelled.task_id)
        waiting = await client.enqueue("started", {})
        registry = HandlerRegistry()
        registry.register(record, queue="started")
        async with Node(servers=own_server.url, handlers=registry, claim_after_s=60.0) as node:
            assert not node.cancel_memory_live  # ready before its replay is done
            final = await client.wait(waiting.task_id, timeout=60)
            await eventually(_live(node), within_s=60)
    assert final.status is TaskStatus.COMPLETED
    assert ran == [waiting.task_id]  # the cancelled one never ran


def _live(node: Node) -> Callable[[], Awaitable[bool]]:
    async def live() -> bool:
        return node.cancel_memory_live

    return live
