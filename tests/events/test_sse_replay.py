"""SSE replay of long histories: streamed as read, stopped when the client goes, bounded per
connection; /events with an old Last-Event-ID scans a bounded window only.

The histories are written straight to PRSM_EVENTS (as a node would publish them), for speed.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import aiohttp
import nats

from prsm_tasks import Client, wire
from prsm_tasks.client.sse import SseMessage, follow, read_messages
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.edge.surfaces.events.handlers import EVENTS
from prsm_tasks.services.event_hub import EventHub
from prsm_tasks.store.events import event_dict
from tests.conftest import eventually
from tests.events.conftest import EdgeFactory, TokenFactory


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def hub_of(edge: RunningEdge) -> EventHub:
    return edge.app[EVENTS].hub


async def write_history(
    nats_url: str,
    queue: str,
    task_id: str,
    count: int,
    *,
    pad_bytes: int = 0,
    final: bool = False,
) -> int:
    """Store ``count`` progress events of a task (then ``task_completed`` if ``final``);
    answers the stream sequence of the last one."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        subject = wire.event_subject(queue, task_id, "progress_update")
        for step in range(1, count + 1):
            data = {"text": f"step {step}", "value": step / count, "pad": "x" * pad_bytes}
            payload = event_dict(
                task_id=task_id,
                queue_name=queue,
                event_type="progress_update",
                attempt=1,
                worker_node="node-test",
                now=time.time(),
                data=data,
            )
            await nc.publish(subject, wire.pack(payload))
        last_type = "task_completed" if final else "progress_update"
        payload = event_dict(
            task_id=task_id,
            queue_name=queue,
            event_type=last_type,
            attempt=1,
            worker_node="node-test",
            now=time.time(),
            data={"result": "done"} if final else {"text": "last", "value": 1.0},
        )
        # one connection's messages are stored in order: this ack confirms them all
        ack = await js.publish(wire.event_subject(queue, task_id, last_type), wire.pack(payload))
        return ack.seq
    finally:
        await nc.close()


async def first_message(response: aiohttp.ClientResponse) -> SseMessage:
    async with asyncio.timeout(30):
        async for message in read_messages(response):
            return message
    raise AssertionError("the stream ended without a message")


async def test_first_event_arrives_while_most_of_the_history_is_unread(
    nats_url: str,
    start_edge: EdgeFactory,
    token: TokenFactory,
    http: aiohttp.ClientSession,
    queue: str,
) -> None:
    async with (
        Client(nats_url, user="alice", tenant="acme") as alice,
        start_edge() as edge,
    ):
        task = await alice.enqueue(queue, {})  # no node serves the queue: it stays enqueued
        await write_history(nats_url, queue, task.task_id, 20_000, pad_bytes=2_000)
        stored = 20_000 + 2  # with task_enqueued and the last one
        url = f"{edge.url}/tasks/{task.task_id}/events"
        async with http.get(url, headers=bearer(token("alice"))) as response:
            assert response.status == 200
            message = await first_message(response)
            read_so_far = hub_of(edge).replayed
            assert json.loads(message.data)["event_type"] == "task_enqueued"
        # the client reads no further: what the edge read is what it could send ahead of it
        assert read_so_far < stored // 2, read_so_far


async def test_a_client_that_leaves_stops_the_replay(
    nats_url: str,
    start_edge: EdgeFactory,
    token: TokenFactory,
    http: aiohttp.ClientSession,
    queue: str,
) -> None:
    async with (
        Client(nats_url, user="alice", tenant="acme") as alice,
        start_edge() as edge,
    ):
        task = await alice.enqueue(queue, {})
        await write_history(nats_url, queue, task.task_id, 20_000, pad_bytes=2_000)
        stored = 20_000 + 2
        hub = hub_of(edge)
        url = f"{edge.url}/tasks/{task.task_id}/events"
        async with http.get(url, headers=bearer(token("alice"))) as response:
            assert response.status == 200
            await first_message(response)
        # leaving the block before the body's end closes the connection

        async def stream_ended() -> bool:
            return hub.listeners == 0

        await eventually(stream_ended, within_s=60)
        assert hub.replayed < stored // 2, hub.replayed


async def test_one_connection_replays_at_most_the_bound_then_says_where_to_resume(
    nats_url: str,
    start_edge: EdgeFactory,
    token: TokenFactory,
    http: aiohttp.ClientSession,
    queue: str,
) -> None:
    async with (
        Client(nats_url, user="alice", tenant="acme") as alice,
        start_edge(sse_replay_max_events=500) as edge,
    ):
        task = await alice.enqueue(queue, {})
        final_seq = await write_history(nats_url, queue, task.task_id, 1_200, final=True)
        stored = 1 + 1_200 + 1
        url = f"{edge.url}/tasks/{task.task_id}/events"
        headers = bearer(token("alice"))
        messages: list[SseMessage] = []
        async with http.get(url, headers=headers) as response:
            assert response.status == 200
            messages = [message async for message in read_messages(response)]
        assert [m.event for m in messages] == ["task_event"] * 500 + ["replay_truncated"]
        notice = messages[-1]
        truncated = json.loads(notice.data)
        assert notice.id == messages[-2].id
        assert truncated["resume_after"] == int(notice.id or 0)
        assert truncated["remaining"] == stored - 500
        assert truncated["max_replay_events"] == 500

        # a reader that reconnects as EventSource does gets the rest, nothing twice
        events = [
            int(message.id or 0)
            async for message in follow(http, url, headers=headers)
            if message.event == "task_event"
        ]
        assert len(events) == stored and events == sorted(set(events))
        assert events[-1] == final_seq


async def test_events_with_an_old_last_event_id_scans_a_bounded_window(
    nats_url: str,
    start_edge: EdgeFactory,
    token: TokenFactory,
    http: aiohttp.ClientSession,
    queue: str,
) -> None:
    bound = 500
    async with (
        Client(nats_url, user="bob", tenant="acme") as bob,
        start_edge(sse_replay_max_events=bound) as edge,
    ):
        # another tenant's busy task: bob may see none of it
        foreign = f"task_{uuid.uuid4().hex[:26]}"
        await write_history(nats_url, queue, foreign, 5_000)
        hub = hub_of(edge)
        headers = {**bearer(token("bob")), "Last-Event-ID": "1"}
        async with http.get(f"{edge.url}/events", headers=headers) as response:
            assert response.status == 200
            task = await bob.enqueue(queue, {})
            seen: list[SseMessage] = []
            async for message in read_messages(response):
                seen.append(message)
                if message.event == "task_event":
                    break
        assert [m.event for m in seen] == ["replay_truncated", "task_event"], [
            (m.event, m.id, m.data[:150]) for m in seen
        ]
        skipped = json.loads(seen[0].data)
        assert skipped["skipped_after"] == 1
        assert skipped["resume_after"] == int(seen[0].id or 0) > 1
        assert json.loads(seen[1].data)["task_id"] == task.task_id
        # the edge's live feed may still be delivering the flood when the stream starts; a
        # listener that lags behind catches up again from where the scan ended: a few more
        assert hub.replayed < 2 * bound, hub.replayed


async def test_events_with_an_id_the_stream_never_gave_follows_from_now(
    nats_url: str,
    start_edge: EdgeFactory,
    token: TokenFactory,
    http: aiohttp.ClientSession,
    queue: str,
) -> None:
    """An id past the stream's end (the stream was recreated) must not hide new events."""
    async with (
        Client(nats_url, user="bob", tenant="acme") as bob,
        start_edge() as edge,
    ):
        headers = {**bearer(token("bob")), "Last-Event-ID": str(2**62)}
        async with http.get(f"{edge.url}/events", headers=headers) as response:
            assert response.status == 200
            task = await bob.enqueue(queue, {})
            message = await first_message(response)
        assert message.event == "task_event"
        assert json.loads(message.data)["task_id"] == task.task_id
