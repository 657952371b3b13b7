"""A node's start-up: what it asks the server before its first pull, and how it fails."""

from __future__ import annotations

from typing import Any

import nats
import nats.js.errors
import pytest
from nats.js.api import ConsumerConfig

from prsm_tasks import Client, TaskContext, wire
from prsm_tasks.models import BANDS_HIGH_TO_LOW, TaskStatus
from tests.conftest import NodeFactory


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
    created = {s for s in ready_asked if s.startswith("$JS.API.CONSUMER.DURABLE.CREATE.")}
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
