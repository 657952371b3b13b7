"""Shared keys in PRSM_KEYS against a real server: made once, the same for every edge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from prsm_tasks import bus, wire
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.errors import ServiceUnavailableError
from prsm_tasks.services.grants import StreamGrants
from prsm_tasks.store.keys import KEY_BYTES, SharedKeyError, shared_key
from prsm_tasks.topology import Topology, ensure_topology

EDGES = 6


@pytest.fixture
async def fresh_edges(tmp_path: Path) -> AsyncIterator[list[NatsClient]]:
    """Connections to a new server, as edges starting at once would have."""
    server = EmbeddedNats(store_dir=tmp_path / "fresh").start()
    connections: list[NatsClient] = []
    try:
        for n in range(EDGES):
            connections.append(await bus.connect(server.url, name=f"edge-{n}"))
        yield connections
    finally:
        await asyncio.gather(*(nc.close() for nc in connections))
        server.stop()


async def test_edges_starting_at_once_share_one_key(fresh_edges: list[NatsClient]) -> None:
    streams = [nc.jetstream() for nc in fresh_edges]
    await asyncio.gather(*(ensure_topology(js, Topology()) for js in streams))
    keys = await asyncio.gather(*(shared_key(js, wire.STREAM_GRANT_KEY) for js in streams))
    assert len(keys[0]) == KEY_BYTES
    assert set(keys) == {keys[0]}
    assert await shared_key(streams[0], wire.STREAM_GRANT_KEY) == keys[0]  # read back
    assert await shared_key(streams[1], "another.v1") != keys[0]
    # what one edge signs, another accepts
    grant = StreamGrants(keys[0]).sign("task_x", "acme", "alice", 60)
    other = await shared_key(streams[-1], wire.STREAM_GRANT_KEY)
    assert StreamGrants(other).check(grant, "task_x", "acme", "alice")


async def test_no_key_without_the_topology(fresh_edges: list[NatsClient]) -> None:
    with pytest.raises(ServiceUnavailableError):
        await shared_key(fresh_edges[0].jetstream(), wire.STREAM_GRANT_KEY)


async def test_a_stored_value_that_is_no_key_is_refused(fresh_edges: list[NatsClient]) -> None:
    js = fresh_edges[0].jetstream()
    await ensure_topology(js, Topology())
    kv = await js.key_value(wire.KEYS_BUCKET)
    await kv.put("broken.v1", b"short")
    with pytest.raises(SharedKeyError):
        await shared_key(js, "broken.v1")


async def test_a_key_made_elsewhere_is_read_back(fresh_edges: list[NatsClient]) -> None:
    js = fresh_edges[0].jetstream()
    await ensure_topology(js, Topology())
    kv = await js.key_value(wire.KEYS_BUCKET)
    made = bytes(range(KEY_BYTES))
    await kv.create("preset.v1", made)
    assert await shared_key(js, "preset.v1") == made
