"""A NATS server that stalls (SIGSTOP), under the bus and under a peer node.

The library's keep-alive pings are set to 10 minutes, so whatever recovers the connection
within these tests is ours: the guarded client (a late PONG) and the watchdog (a silent
connection that says "connected").
"""

from __future__ import annotations

from typing import Any

import nats.errors
import pytest

from prsm_tasks import Client, Node, TaskContext, bus
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.handlers import HandlerRegistry
from prsm_tasks.models import TaskStatus
from prsm_tasks.store.opener import Connection, open_stores
from tests.conftest import eventually
from tests.stalls import stalled

PING_INTERVAL_S = 600.0


async def test_a_pong_after_its_flush_gave_up_leaves_the_connection_working(
    own_server: EmbeddedNats,
) -> None:
    """nats-py sets a result on the timed-out flush's cancelled future when its PONG comes,
    and its reader dies of it; our client skips that future and reads on."""
    nc = await bus.connect([own_server.url], name="stall-test", ping_interval_s=PING_INTERVAL_S)
    try:
        with stalled(own_server), pytest.raises(nats.errors.TimeoutError):
            await nc.flush(timeout=0.2)
        # the server runs again and sends the PONG the flush no longer waits for

        async def answers() -> bool:
            try:
                await nc.request("$JS.API.INFO", b"", timeout=1.0)
            except nats.errors.TimeoutError:
                return False
            return True

        await eventually(answers, within_s=30, interval_s=0.2)
        assert nc.is_connected and nc.reader_alive
    finally:
        await nc.close()


async def echo(ctx: TaskContext, **task_data: Any) -> dict[str, Any]:
    return {"echo": task_data}


async def test_a_node_serves_again_after_a_stall(own_server: EmbeddedNats, queue: str) -> None:
    registry = HandlerRegistry()
    registry.register(echo, queue=queue)
    node = Node(
        servers=own_server.url,
        handlers=registry,
        grace_s=5.0,
        nats_ping_interval_s=PING_INTERVAL_S,
    )
    async with node, Client(own_server.url) as client:
        first = await client.enqueue(queue, {"n": 1})
        assert (await client.wait(first.task_id, timeout=30)).status is TaskStatus.COMPLETED

        with stalled(own_server):

            async def node_gave_up_on_the_connection() -> bool:
                return node.disconnects >= 1

            await eventually(node_gave_up_on_the_connection, within_s=60, interval_s=0.2)

        async def enqueued() -> bool:
            try:
                accepted.append(await client.enqueue(queue, {"n": 2}))
            except Exception:  # the client's own connection may still be reconnecting
                return False
            return True

        accepted: list[Any] = []
        await eventually(enqueued, within_s=60, interval_s=0.5)
        final = await client.wait(accepted[0].task_id, timeout=60)
        assert final.status is TaskStatus.COMPLETED and final.result == {"echo": {"n": 2}}


async def test_a_connection_whose_reader_stopped_is_reconnected(
    own_server: EmbeddedNats,
) -> None:
    """nats-py's reader ends quietly on an error it does not expect, and the connection goes
    on saying "connected"; the watchdog notices the reader is gone and reconnects."""
    connection = Connection(
        servers=[own_server.url], name="reader-test", ping_interval_s=PING_INTERVAL_S
    )
    async with open_stores(connection) as stores:
        nc = stores.nc
        assert isinstance(nc, bus.GuardedClient)
        reader = nc._reading_task
        assert reader is not None
        reader.cancel()  # what an unexpected error in the reader leaves behind

        async def answers_again() -> bool:
            if not (nc.is_connected and nc.reader_alive):
                return False
            try:
                await nc.request("$JS.API.INFO", b"", timeout=1.0)
            except nats.errors.TimeoutError:
                return False
            return True

        await eventually(answers_again, within_s=60, interval_s=0.2)
        assert stores.liveness.forced_reconnects >= 1
