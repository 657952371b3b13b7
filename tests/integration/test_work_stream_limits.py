"""PRSM_WORK's size: a full stream refuses enqueues with 507 ``work_stream_full`` and keeps
nothing of them; limits reach an existing stream at start; batch records expire with their
tasks. Each test runs its own nats-server: the limits are the whole deployment's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import nats
import nats.js.errors
import pytest
from nats.js.api import DiscardPolicy, RetentionPolicy, StreamConfig

from prsm_tasks import Client, wire
from prsm_tasks.edge.app import open_edge
from prsm_tasks.edge.http.auth import AuthConfig
from prsm_tasks.edge.http.state import EDGE_NAME, EdgeConfig
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.errors import WorkStreamFullError
from prsm_tasks.services.core import QueueRules
from prsm_tasks.store.opener import Connection, open_stores
from prsm_tasks.topology import Topology
from tests.conftest import eventually
from tests.edge.conftest import SECRET, Caller, token
from tests.edge.test_errors import assert_error


@pytest.fixture
async def js(own_server: EmbeddedNats) -> AsyncIterator[Any]:
    nc = await nats.connect(own_server.url)
    yield nc.jetstream()
    await nc.close()


def edge_config(url: str, queue: str, topology: Topology) -> EdgeConfig:
    return EdgeConfig(
        connection=Connection(servers=[url], name=EDGE_NAME, topology=topology),
        auth=AuthConfig(secret=SECRET),
        port=0,
        rules=QueueRules(queues=(queue,)),
        rate_limit_per_s=10_000.0,
        rate_limit_burst=10_000,
    )


async def task_keys(js: Any) -> list[str]:
    kv = await js.key_value(wire.TASKS_BUCKET)
    try:
        return list(await kv.keys())
    except nats.js.errors.NoKeysError:
        return []


async def test_a_full_work_stream_refuses_enqueues_and_keeps_nothing(
    own_server: EmbeddedNats, js: Any, queue: str
) -> None:
    topology = Topology(work_max_msgs=3, work_limits_explicit=True)
    async with (
        open_edge(edge_config(own_server.url, queue, topology)) as edge,
        aiohttp.ClientSession() as session,
    ):
        alice = Caller(session, edge.url, token("alice", "acme"))
        for n in range(3):
            answer = await alice.post("/enqueue", {"queue_name": queue, "task_data": {"n": n}})
            assert answer.status == 200, answer.body
        refused = await alice.post("/enqueue", {"queue_name": queue, "task_data": {"n": 3}})
        assert_error(refused, 507, "work_stream_full")
        assert refused.body["limit"] == "PRSM_WORK_MAX_MESSAGES" and refused.body["maximum"] == 3
        bulk = await alice.post(
            "/bulk/enqueue", {"queue_name": queue, "tasks": [{"task_data": {}}]}
        )
        assert_error(bulk, 507, "work_stream_full")
        assert len(await task_keys(js)) == 3
        assert (await js.stream_info(wire.WORK_STREAM)).state.messages == 3


async def test_a_publish_the_full_stream_refuses_withdraws_its_record(
    own_server: EmbeddedNats, js: Any, queue: str
) -> None:
    """The native client has no edge to check first: the stream's own refusal is the
    backstop. The task that finds the stream full was accepted with its record: its message
    goes in once there is room. From then on the client waits for the stream's answer, so a
    refused task's record goes, and its idempotency key is free for a retry."""
    topology = Topology(work_max_msgs=2, work_limits_explicit=True)
    async with Client(own_server.url, topology=topology) as client:
        for n in range(2):
            await client.enqueue(queue, {"n": n})
        waiting = await client.enqueue(queue, {"n": 2})  # accepted; finds the stream full
        sends = client._parts()[1].sends  # the refusal is learnt from its answer

        async def refusal_known() -> bool:
            return sends.trouble is not None

        await eventually(refusal_known)
        with pytest.raises(WorkStreamFullError) as refused:
            await client.enqueue(queue, {"n": 3}, idempotency_key="retry-me")
        assert refused.value.limit == "PRSM_WORK_MAX_MESSAGES"
        tasks = await js.stream_info(wire.tasks_stream(0))
        # the first two records, the one waiting for room, and the refused one's purge marker
        assert tasks.state.messages == 4
        assert (await (await js.key_value(wire.TASKS_BUCKET)).get(waiting.task_id)).value
        assert (await js.stream_info(wire.WORK_STREAM)).state.messages == 2

        await js.purge_stream(wire.WORK_STREAM)  # nodes took the work

        async def waiting_queued() -> bool:
            return bool((await js.stream_info(wire.WORK_STREAM)).state.messages == 1)

        await eventually(waiting_queued)  # the accepted task's message, sent again
        accepted = await client.enqueue(queue, {"n": 3}, idempotency_key="retry-me")
        assert accepted.task_id in await task_keys(js)
        assert (await js.stream_info(wire.WORK_STREAM)).state.messages == 2


async def test_limits_reach_an_existing_work_stream_at_start(
    own_server: EmbeddedNats, js: Any, queue: str
) -> None:
    # a deployment from before the limits: PRSM_WORK unbounded, five messages in it
    await js.add_stream(
        StreamConfig(
            name=wire.WORK_STREAM,
            subjects=[f"{wire.WORK_PREFIX}.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            discard=DiscardPolicy.NEW,
        )
    )
    for n in range(5):
        await js.publish(
            f"{wire.WORK_PREFIX}.{queue}.normal", b"x", headers={"Nats-Msg-Id": str(n)}
        )

    async def limits_after(topology: Topology) -> tuple[int, int]:
        async with open_stores(Connection(servers=own_server.url, name="t", topology=topology)):
            config = (await js.stream_info(wire.WORK_STREAM)).config
            return config.max_msgs, config.max_bytes

    # unbounded: the defaults apply
    assert await limits_after(Topology(work_max_msgs=1000, work_max_bytes=2**30)) == (1000, 2**30)
    # bounded, and this process's figures are only defaults: kept (and logged)
    assert await limits_after(Topology(work_max_msgs=7)) == (1000, 2**30)
    # set explicitly: applied, below what the stream holds, dropping nothing
    explicit = Topology(work_max_msgs=2, work_max_bytes=2**30, work_limits_explicit=True)
    assert await limits_after(explicit) == (2, 2**30)
    info = await js.stream_info(wire.WORK_STREAM)
    assert info.state.messages == 5 and info.config.discard == DiscardPolicy.NEW
    with pytest.raises(nats.js.errors.APIError):
        await js.publish(f"{wire.WORK_PREFIX}.{queue}.normal", b"y")


async def test_batch_records_expire_with_their_tasks(
    own_server: EmbeddedNats, js: Any, queue: str
) -> None:
    topology = Topology(finished_task_ttl_s=1.0)
    async with (
        open_edge(edge_config(own_server.url, queue, topology)) as edge,
        aiohttp.ClientSession() as session,
    ):
        batches = await js.key_value(wire.BATCHES_BUCKET)
        alice = Caller(session, edge.url, token("alice", f"t-{uuid.uuid4().hex[:8]}"))
        two = [{"task_data": {"n": 0}}, {"task_data": {"n": 1}}]
        untracked = await alice.post("/bulk/enqueue", {"queue_name": queue, "tasks": two})
        tracked = await alice.post(
            "/bulk/enqueue",
            {"queue_name": queue, "tasks": two, "batch_options": {"max_concurrent": 1}},
        )
        assert untracked.status == 200 and tracked.status == 200, (untracked.body, tracked.body)

        async def gone(batch_id: str) -> bool:
            try:
                await batches.get(batch_id)
            except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
                return True
            return False

        # nothing reads a batch whose tasks all went at once: it expires at once
        await eventually(lambda: gone(untracked.body["batch_id"]), interval_s=0.2)
        # one whose tasks are still to come is kept while they are
        assert not await gone(tracked.body["batch_id"])
        for task_id in reversed(tracked.body["task_ids"]):
            assert (await alice.delete(f"/cancel/{task_id}")).status == 200
        await eventually(lambda: gone(tracked.body["batch_id"]), interval_s=0.2)


async def test_a_batch_the_stream_refuses_half_way_ends_all_its_tasks(
    own_server: EmbeddedNats, js: Any, queue: str
) -> None:
    """The edge's reading of the stream is old (another producer filled it since): the
    stream refuses part of a batch, and the whole batch ends, none left waiting."""
    topology = Topology(work_max_msgs=3, work_limits_explicit=True)
    async with (
        open_edge(edge_config(own_server.url, queue, topology)) as edge,
        aiohttp.ClientSession() as session,
        Client(own_server.url) as producer,
    ):
        edge.services.work_room.max_age_s = 3600.0  # it keeps its first reading
        alice = Caller(session, edge.url, token("alice", "acme"))
        first = await alice.post("/enqueue", {"queue_name": queue, "task_data": {}})
        assert first.status == 200, first.body
        await producer.enqueue(queue, {"from": "elsewhere"})  # the stream has room for 1

        tasks = [{"task_data": {"n": n}} for n in range(4)]
        body = {"queue_name": queue, "tasks": tasks, "batch_options": {"max_concurrent": 2}}
        refused = await alice.post("/bulk/enqueue", body)
        assert_error(refused, 507, "work_stream_full")
        batch_id = refused.body["batch_id"]
        kv = await js.key_value(wire.TASKS_BUCKET)
        left = []
        for key in await task_keys(js):
            record = wire.unpack((await kv.get(key)).value)
            if record.get("batch_id") == batch_id:
                left.append(record["status"])
        assert left and set(left) == {"cancelled"}, left
        assert (await js.stream_info(wire.WORK_STREAM)).state.messages == 3
