"""Delayed one-off tasks (eta / countdown_seconds) through the native client and real nodes."""

from __future__ import annotations

import asyncio
import datetime
import time
from typing import Any

import pytest

from prsm_tasks import Client, TaskContext
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.errors import ValidationError
from prsm_tasks.models import TaskStatus
from prsm_tasks.store.delayed import TIMER_KIND
from prsm_tasks.store.opener import Connection, open_stores
from prsm_tasks.store.options import TaskOptions
from prsm_tasks.store.timers import Timers
from prsm_tasks.topology import Topology
from tests.conftest import NodeFactory, eventually


class Started:
    """A handler that notes when each task started."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    async def handler(self, ctx: TaskContext, **data: Any) -> str:
        self.at[ctx.task_id] = time.time()
        return "ran"


async def status_of(client: Client, task_id: str) -> TaskStatus:
    return (await client.status(task_id)).status


async def completed(client: Client, task_id: str, *, within_s: float = 60) -> None:
    async def check() -> bool:
        return await status_of(client, task_id) is TaskStatus.COMPLETED

    await eventually(check, within_s=within_s)


@pytest.mark.partitioned
async def test_a_delayed_task_waits_scheduled_then_runs(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    started = Started()
    async with start_node({queue: started.handler}):
        record = await client.enqueue(queue, {"n": 1}, countdown_seconds=1.5)
        eta = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1)
        by_eta = await client.enqueue(queue, {"n": 2}, eta=eta)
        assert record.status is TaskStatus.SCHEDULED and record.scheduled_for is not None
        assert await status_of(client, record.task_id) is TaskStatus.SCHEDULED
        await completed(client, record.task_id)
        await completed(client, by_eta.task_id)
    assert started.at[record.task_id] >= record.scheduled_for
    assert started.at[by_eta.task_id] >= eta.timestamp()
    final = await client.status(record.task_id)
    assert final.scheduled_for == record.scheduled_for  # kept: it says when it was due


async def test_a_past_eta_runs_now(client: Client, queue: str, start_node: NodeFactory) -> None:
    started = Started()
    async with start_node({queue: started.handler}):
        past = datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC)
        record = await client.enqueue(queue, {}, eta=past)
        assert record.status is TaskStatus.ENQUEUED
        await completed(client, record.task_id)


async def test_a_cancel_before_due_stops_it(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    started = Started()
    async with start_node({queue: started.handler}):
        record = await client.enqueue(queue, {}, countdown_seconds=1.0)
        await client.cancel(record.task_id)
        # its due time passes; a canary due after it runs, so the node was there to run it
        canary = await client.enqueue(queue, {}, countdown_seconds=1.5)
        await completed(client, canary.task_id)
    assert await status_of(client, record.task_id) is TaskStatus.CANCELLED
    assert record.task_id not in started.at


async def test_bad_delays_are_refused(client: Client, queue: str) -> None:
    now = datetime.datetime.now(datetime.UTC)
    refusals = [
        ({"eta": now, "countdown_seconds": 5.0}, "eta,countdown_seconds"),
        ({"eta": datetime.datetime(2030, 1, 1)}, "eta"),  # no time zone
        ({"eta": now + datetime.timedelta(days=400)}, "eta"),
        ({"countdown_seconds": -1.0}, "countdown_seconds"),
        ({"countdown_seconds": float("inf")}, "countdown_seconds"),
        ({"countdown_seconds": 10.0**12}, "countdown_seconds"),
    ]
    for delay, field in refusals:
        with pytest.raises(ValidationError) as refused:
            await client.enqueue(queue, {}, **delay)
        assert refused.value.field == field, delay


async def test_an_idempotent_retry_returns_the_scheduled_task(client: Client, queue: str) -> None:
    first = await client.enqueue(queue, {}, countdown_seconds=60, idempotency_key="k1")
    again = await client.enqueue(queue, {}, countdown_seconds=60, idempotency_key="k1")
    assert again.task_id == first.task_id
    assert again.status is TaskStatus.SCHEDULED
    await client.cancel(first.task_id)


async def test_a_fire_taken_by_a_node_that_died_is_run_by_another(
    client: Client, nats_url: str, queue: str, start_node: NodeFactory, topology: Topology
) -> None:
    """A node killed at the due time: it took the fire and never acknowledged it."""
    async with open_stores(Connection(servers=nats_url, name="dead", topology=topology)) as dead:
        fires = await Timers(dead.js).open_fires(TIMER_KIND, ack_wait_s=30.0)
        record = await client.enqueue(queue, {}, countdown_seconds=0.5)
        taken: list[str] = []
        while record.task_id not in taken:  # other tests' fires may come first: not acked
            taken += [fire.key for fire in await fires.next_fires(64, wait_s=20)]
    # gone without an ack: the consumer hands the fire out again after its ack wait
    started = Started()
    async with start_node({queue: started.handler}):
        await completed(client, record.task_id, within_s=90)


async def test_a_scheduled_task_survives_a_server_restart(
    own_server: EmbeddedNats, queue: str, start_node: NodeFactory
) -> None:
    async with Client(own_server.url) as client:
        record = await client.enqueue(queue, {}, countdown_seconds=1.0)
    own_server.stop()
    await asyncio.sleep(1.5)  # due while the server is down
    own_server.start()
    started = Started()
    async with (
        Client(own_server.url) as client,
        start_node({queue: started.handler}, servers=own_server.url, topology=Topology()),
    ):
        await completed(client, record.task_id)


async def test_the_repair_arms_a_task_whose_producer_died_before_its_timer(
    own_server: EmbeddedNats, queue: str, start_node: NodeFactory
) -> None:
    """Record created, timer never armed: the repair arms it; one long overdue it lets go."""
    connection = Connection(servers=own_server.url, name="producer", topology=Topology())
    async with open_stores(connection) as stores:
        soon = stores.writer.prepare(queue, {}, TaskOptions(scheduled_for=time.time() + 3.0))
        await stores.tasks.create_encoded(soon.record.task_id, soon.payload)
        overdue = stores.writer.prepare(queue, {}, TaskOptions(scheduled_for=time.time() + 0.2))
        await stores.tasks.create_encoded(overdue.record.task_id, overdue.payload)
    started = Started()
    async with (
        Client(own_server.url) as client,
        start_node(
            {queue: started.handler},
            servers=own_server.url,
            topology=Topology(),
            repair_after_s=1.0,
            repair_interval_s=0.2,
        ),
    ):
        await completed(client, overdue.record.task_id)
        await completed(client, soon.record.task_id)
    assert started.at[soon.record.task_id] >= soon.record.scheduled_for


async def test_enqueue_many_delays_every_task(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    started = Started()
    async with start_node({queue: started.handler}):
        records = await client.enqueue_many(
            queue, [{"n": n} for n in range(5)], countdown_seconds=1
        )
        assert {r.status for r in records} == {TaskStatus.SCHEDULED}
        for record in records:
            await completed(client, record.task_id)
    for record in records:
        assert record.scheduled_for is not None
        assert started.at[record.task_id] >= record.scheduled_for
