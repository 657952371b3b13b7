"""A node killed with SIGKILL at a delayed task's due time: another node runs the task."""

from __future__ import annotations

import asyncio
import signal
import time

import nats
import nats.js.errors

from prsm_tasks import Client, Node, wire
from prsm_tasks.models import TaskStatus
from tests.conftest import eventually
from tests.e2e.handlers_for_tests import quick
from tests.e2e.test_reliability import handlers_for, spawn_node


async def test_kill_9_at_the_due_time_loses_no_delayed_task(nats_url: str, queue: str) -> None:
    victim = spawn_node(nats_url, queue, name="victim", capacity=2, lease_s=2.0)
    try:
        async with Client(nats_url) as client:
            # the victim is up once it advertises (it then pulls fires too)
            await eventually(lambda: _node_up(nats_url, "victim"), within_s=60)
            record = await client.enqueue(queue, {}, countdown_seconds=2.0)
            assert record.scheduled_for is not None
            # frozen just before the due time: its parked pull may take the fire, never to
            # acknowledge it; then killed
            await asyncio.sleep(max(0.0, record.scheduled_for - time.time() - 0.3))
            victim.send_signal(signal.SIGSTOP)
            await asyncio.sleep(1.0)
            victim.send_signal(signal.SIGKILL)
            victim.wait(30)
            assert (await client.status(record.task_id)).status is TaskStatus.SCHEDULED
            survivor = Node(
                servers=nats_url,
                handlers=handlers_for(queue, quick),
                name="survivor",
                lease_s=2.0,
            )
            async with survivor:
                final = await client.wait(record.task_id, timeout=120)
    finally:
        if victim.poll() is None:
            victim.kill()
    assert final.status is TaskStatus.COMPLETED
    assert final.result["node"] == "survivor"


async def _node_up(url: str, name: str) -> bool:
    nc = await nats.connect(url)
    try:
        kv = await nc.jetstream().key_value(wire.NODES_BUCKET)
        try:
            keys = await kv.keys()
        except nats.js.errors.NoKeysError:
            return False
        return any(key.startswith(name) for key in keys)
    finally:
        await nc.close()
