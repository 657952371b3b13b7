"""Task-service compatible routes, and `prsm-tasks watch` through an edge."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from prsm_tasks import Client, TaskContext, TaskStatus
from prsm_tasks.bus import connect
from tests.conftest import NodeFactory, eventually
from tests.events.conftest import EdgeFactory, TokenFactory
from tests.events.test_sse import bearer, kinds, read_sse
from tests.events.test_watch_cli import run_cli


async def until_cancelled(ctx: TaskContext, finish: bool = False) -> str:
    await ctx.progress(0.1, "waiting")
    while not finish:
        await asyncio.sleep(0.02)
        ctx.raise_if_cancelled()
    return "finished"


async def test_compatibility_routes(
    nats_url: str,
    start_node: NodeFactory,
    start_edge: EdgeFactory,
    token: TokenFactory,
    http: aiohttp.ClientSession,
    queue: str,
) -> None:
    alice = bearer(token("alice"))
    async with (
        Client(nats_url, user="alice", tenant="acme") as client,
        start_node({queue: until_cancelled}, queues=[queue]),
        start_edge() as edge,
    ):
        running = await client.enqueue(queue, {})
        done = await client.enqueue(queue, {"finish": True})
        await client.wait(done.task_id, timeout=30)
        api = f"{edge.url}/api/tasks"

        async def started() -> bool:
            return (await client.status(running.task_id)).status is TaskStatus.PROCESSING

        await eventually(started)
        async with http.get(f"{api}/{running.task_id}/status", headers=alice) as response:
            assert response.status == 200
            body = await response.json()
        assert body["task_id"] == running.task_id and body["status"] == "processing"
        assert body["progress_text"] == "waiting" or body["progress"] >= 0.0

        async with http.delete(f"{api}/{running.task_id}", headers=alice) as response:
            assert response.status == 409
            assert (await response.json())["error"] == "task_not_finished"

        stream = asyncio.create_task(
            read_sse(http, f"{api}/{running.task_id}/stream", headers=alice)
        )
        async with http.post(f"{api}/{running.task_id}/cancel", headers=alice) as response:
            assert response.status == 200
            assert (await response.json())["status"] == "cancelled"
        status, events = await asyncio.wait_for(stream, 30)
        assert status == 200 and kinds(events)[-1] == "task_cancelled"

        bob = bearer(token("bob"))
        async with http.delete(f"{api}/{done.task_id}", headers=bob) as response:
            assert response.status == 403
        async with http.delete(f"{api}/{done.task_id}", headers=alice) as response:
            assert response.status == 200
            assert (await response.json())["deleted"] is True
        async with http.get(f"{api}/{done.task_id}/status", headers=alice) as response:
            assert response.status == 404
        # its events are gone from the stream as well
        nc = await connect(nats_url, name="purge-check")
        try:
            remaining = {"seq": 1, "next_by_subj": f"prsm.events.{queue}.{done.task_id}.*"}
            reply = await nc.request(
                "$JS.API.DIRECT.GET.PRSM_EVENTS", json.dumps(remaining).encode(), timeout=5
            )
        finally:
            await nc.close()
        assert reply.headers is not None and reply.headers.get("Status") == "404"


async def test_watch_through_an_edge(
    nats_url: str,
    start_node: NodeFactory,
    start_edge: EdgeFactory,
    token: TokenFactory,
    queue: str,
) -> None:
    async with (
        Client(nats_url, user="alice", tenant="acme") as client,
        start_node({queue: until_cancelled}, queues=[queue]),
        start_edge() as edge,
    ):
        done = await client.enqueue(queue, {"finish": True})
        cancelled = await client.enqueue(queue, {})

        async def cancel_when_running() -> None:
            async def started() -> bool:
                return (await client.status(cancelled.task_id)).status is TaskStatus.PROCESSING

            await eventually(started)
            await client.cancel(cancelled.task_id)

        flags = ["--url", edge.url, "--token", token("alice")]
        (done_code, done_out), (cancel_code, cancel_out), _ = await asyncio.gather(
            run_cli("watch", done.task_id, *flags),
            run_cli("watch", cancelled.task_id, *flags),
            cancel_when_running(),
        )
    assert done_code == 0, done_out
    assert f"{done.task_id} completed" in done_out
    assert cancel_code == 1, cancel_out
    assert f"{cancelled.task_id} cancelled" in cancel_out
