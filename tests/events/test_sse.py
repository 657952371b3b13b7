"""SSE at the edge over real HTTP: order, replay, resume on another edge, isolation, routes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from prsm_tasks import Client, TaskContext
from prsm_tasks.client.sse import read_messages
from prsm_tasks.topology import Topology
from tests.conftest import NodeFactory
from tests.events.conftest import EdgeFactory, TokenFactory

Event = tuple[int, dict[str, Any]]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def read_sse(
    http: aiohttp.ClientSession,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    stop_after: int | None = None,
) -> tuple[int, list[Event]]:
    """(HTTP status, [(id, event)]) until the server closes the stream (or ``stop_after``)."""
    events: list[Event] = []
    async with asyncio.timeout(60), http.get(url, headers=headers) as response:
        if response.status != 200:
            return response.status, events
        assert response.headers["Content-Type"].startswith("text/event-stream")
        async for message in read_messages(response):
            assert message.event == "task_event" and message.id is not None
            events.append((int(message.id), json.loads(message.data)))
            if stop_after is not None and len(events) >= stop_after:
                break
    return 200, events


def kinds(events: list[Event]) -> list[str]:
    return [event["event_type"] for _, event in events]


async def storm(ctx: TaskContext, reports: int = 5000) -> dict[str, int]:
    await ctx.progress(0.0, "warming up")
    for step in range(1, reports + 1):
        ctx.progress(step / reports)
        if step % 250 == 0:
            await asyncio.sleep(0.01)
    await ctx.progress(1.0, "done")
    return {"reports": reports}


@pytest.mark.partitioned
async def test_order_replay_after_completion_and_caught_up_reconnect(
    start_node: NodeFactory,
    start_edge: EdgeFactory,
    token: TokenFactory,
    http: aiohttp.ClientSession,
    queue: str,
) -> None:
    alice = bearer(token("alice"))
    async with start_node({queue: storm}, queues=[queue]), start_edge() as edge:
        async with http.post(
            f"{edge.url}/enqueue", json={"queue_name": queue, "task_data": {}}, headers=alice
        ) as response:
            assert response.status == 200, await response.text()
            enqueued = await response.json()
        task_id = enqueued["task_id"]
        stream_url = enqueued["stream_url"]
        assert f"/tasks/{task_id}/events?grant=" in stream_url
        stream_url = stream_url.partition("?")[0]  # the bearer token's stream, here
        status, live = await read_sse(http, stream_url, headers=alice)
        assert status == 200
        order = kinds(live)
        assert order[:2] == ["task_enqueued", "task_started"] and order[-1] == "task_completed"
        assert set(order[2:-1]) == {"progress_update"}
        ids = [event_id for event_id, _ in live]
        assert ids == sorted(set(ids))
        progress = [event["data"] for _, event in live if event["event_type"] == "progress_update"]
        assert len(progress) < 200  # 5,000 reports, coalesced
        assert progress[0]["text"] == "warming up"
        assert progress[-1] == {"text": "done", "value": 1.0}
        first = live[0][1]
        assert first["task_id"] == task_id and first["queue_name"] == queue
        assert first["timestamp"].endswith("Z") and set(first) >= {
            "event_type",
            "task_id",
            "queue_name",
            "timestamp",
            "attempt",
            "worker_node",
            "data",
        }
        assert live[-1][1]["data"]["result"] == {"reports": 5000}

        # after completion: the whole story again, the token in the query this time
        status, replayed = await read_sse(http, f"{stream_url}?access_token={token('alice')}")
        assert status == 200 and replayed == live
        # caught up on a finished task: 204 tells EventSource to stop reconnecting
        status, _ = await read_sse(
            http, stream_url, headers={**alice, "Last-Event-ID": str(ids[-1])}
        )
        assert status == 204
        # one event short of the end: only the final one
        status, rest = await read_sse(
            http, stream_url, headers={**alice, "Last-Event-ID": str(ids[-2])}
        )
        assert status == 200 and rest == live[-1:]
        status, _ = await read_sse(http, stream_url)
        assert status == 401


@pytest.mark.partitioned
async def test_last_event_id_resumes_on_another_edge(
    client: Client,
    start_node: NodeFactory,
    start_edge: EdgeFactory,
    token: TokenFactory,
    http: aiohttp.ClientSession,
    queue: str,
    topology: Topology,
) -> None:
    go_on = asyncio.Event()

    async def two_halves(ctx: TaskContext) -> str:
        await ctx.progress(0.5, "first half")
        await go_on.wait()
        await ctx.progress(1.0, "second half")
        return "whole"

    alice = bearer(token("alice"))
    async with (
        Client(client.servers, user="alice", tenant="acme", topology=topology) as alice_client,
        start_node({queue: two_halves}, queues=[queue]),
        start_edge() as edge_a,
        start_edge() as edge_b,
    ):
        task = await alice_client.enqueue(queue, {})
        url_a = f"{edge_a.url}/tasks/{task.task_id}/events"
        status, before = await read_sse(http, url_a, headers=alice, stop_after=3)
        assert status == 200 and kinds(before)[-1] == "progress_update"
        go_on.set()  # the rest happens while the client is away
        await client.wait(task.task_id, timeout=30)
        last_id = str(before[-1][0])
        url_b = f"{edge_b.url}/tasks/{task.task_id}/events"
        status, after = await read_sse(http, url_b, headers={**alice, "Last-Event-ID": last_id})
        assert status == 200
        assert kinds(after) == ["progress_update", "task_completed"]
        assert after[0][1]["data"] == {"text": "second half", "value": 1.0}
        assert min(event_id for event_id, _ in after) > before[-1][0]
        status, whole = await read_sse(http, url_b, headers=alice)
        assert whole == before + after


async def quick(ctx: TaskContext, n: int = 0) -> int:
    await ctx.progress(1.0, "quick")
    return n


async def collect_completions(
    http: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    completions: int,
    ready: asyncio.Event,
) -> list[dict[str, Any]]:
    """Read /events until ``completions`` task_completed events have arrived."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(60), http.get(url, headers=headers) as response:
        assert response.status == 200
        ready.set()  # the edge registered this listener before answering
        async for message in read_messages(response):
            event = json.loads(message.data)
            seen.append(event)
            completions -= event["event_type"] == "task_completed"
            if completions == 0:
                return seen
    raise AssertionError("the stream ended early")


async def test_no_events_leak_across_users_or_tenants(
    nats_url: str,
    start_node: NodeFactory,
    start_edge: EdgeFactory,
    token: TokenFactory,
    http: aiohttp.ClientSession,
    queue: str,
) -> None:
    people = {"alice": "acme", "bob": "acme", "carol": "globex"}
    carol = bearer(token("carol", "globex"))
    admin = bearer(token("root", "acme", ("admin",)))
    # who reads /events, and whose tasks they may see
    readers = {"bob": (bearer(token("bob")), {"bob"}), "carol": (carol, {"carol"})}
    readers["admin"] = (admin, {"alice", "bob"})
    clients = {name: Client(nats_url, user=name, tenant=t) for name, t in people.items()}
    owner_of: dict[str, str] = {}
    async with start_node({queue: quick}, queues=[queue]), start_edge() as edge:
        for person in clients.values():
            await person.open()
        try:

            async def run(name: str) -> None:
                task = await clients[name].enqueue(queue, {})
                owner_of[task.task_id] = name
                await clients[name].wait(task.task_id, timeout=30)

            await asyncio.gather(*(run(name) for name in people))
            alice_task = next(t for t, name in owner_of.items() if name == "alice")
            url = f"{edge.url}/tasks/{alice_task}/events"
            assert (await read_sse(http, url, headers=bearer(token("bob"))))[0] == 403
            assert (await read_sse(http, url, headers=carol))[0] == 404
            assert (await read_sse(http, url, headers=admin))[0] == 200

            events_url = f"{edge.url}/events?queue_name={queue}"
            ready = {who: asyncio.Event() for who in readers}
            # each reader stops after the completions of its own tasks of the two rounds below
            collectors = {
                who: asyncio.create_task(
                    collect_completions(http, events_url, headers, 2 * len(names), ready[who])
                )
                for who, (headers, names) in readers.items()
            }
            for flag in ready.values():
                await asyncio.wait_for(flag.wait(), 30)
            await asyncio.gather(*(run(name) for name in people))
            # the second round starts after the first ended: a reader that stops at its own
            # second-round completion has had every first-round event through its filter
            await asyncio.gather(*(run(name) for name in people))
            results = {who: await asyncio.wait_for(task, 60) for who, task in collectors.items()}
            assert (await read_sse(http, f"{edge.url}/events"))[0] == 401
        finally:
            for person in clients.values():
                await person.close()
    for who, (_, names) in readers.items():
        seen = {owner_of.get(event["task_id"], "?") for event in results[who]}
        assert seen == names, (who, seen)
