"""An edge follows PRSM_EVENTS only once an SSE client asks: until then no task's events
cost it anything, and the first stream still gets every event, replayed and live."""

from __future__ import annotations

import asyncio

import aiohttp
import nats

from prsm_tasks import wire
from prsm_tasks.edge.http.state import EDGE_NAME
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.store.opener import Connection
from tests.conftest import eventually
from tests.events.conftest import EdgeFactory, TokenFactory
from tests.events.test_sse import bearer, kinds, read_sse


async def test_the_events_are_followed_from_the_first_stream_on(
    own_server: EmbeddedNats,
    start_edge: EdgeFactory,
    token: TokenFactory,
    http: aiohttp.ClientSession,
    queue: str,
) -> None:
    alice = bearer(token("alice"))
    nc = await nats.connect(own_server.url)
    js = nc.jetstream()

    async def event_consumers() -> int:
        return (await js.stream_info(wire.EVENTS_STREAM)).state.consumer_count

    connection = Connection(servers=[own_server.url], name=EDGE_NAME)
    try:
        async with start_edge(connection=connection) as edge:
            async with http.post(
                f"{edge.url}/enqueue", json={"queue_name": queue, "task_data": {}}, headers=alice
            ) as response:
                assert response.status == 200, await response.text()
                task_id = (await response.json())["task_id"]
            assert await event_consumers() == 0  # no client: the edge reads no event

            url = f"{edge.url}/tasks/{task_id}/events"

            async def following() -> bool:
                return await event_consumers() == 1

            async with asyncio.TaskGroup() as group:
                reader = group.create_task(read_sse(http, url, headers=alice))
                await eventually(following)
                cancel_url = f"{edge.url}/cancel/{task_id}"
                async with http.delete(cancel_url, headers=alice) as response:
                    assert response.status == 200, await response.text()
            status, events = reader.result()  # the final event, live, ended the stream
            assert status == 200
            assert kinds(events) == ["task_enqueued", "task_cancelled"]
    finally:
        await nc.close()
