"""Partitions on a 3-server cluster: replicated streams whose leaders spread over the
servers, and tasks that run across them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from prsm_tasks import Client, TaskContext, wire
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.store.opener import Connection, open_stores
from prsm_tasks.topology import Topology, spread_partition_leaders
from scripts.bench_servers import open_servers, wait_jetstream_ready
from tests.conftest import NodeFactory, eventually

PARTITIONS = 6


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[EmbeddedNats]]:
    with open_servers(cluster=True, root=Path(tmp_path_factory.mktemp("cluster"))) as servers:
        yield servers


async def leaders(js: object, names: list[str]) -> Counter[str] | None:
    """How many of ``names`` each server leads; None while one has no leader (an election)."""
    counted: Counter[str] = Counter()
    for name in names:
        cluster = (await js.stream_info(name)).cluster  # type: ignore[attr-defined]
        assert cluster is not None
        if not cluster.leader:
            return None
        assert len(cluster.replicas or []) == 2  # and the leader: three copies in all
        counted[cluster.leader] += 1
    return counted


async def test_partition_leaders_spread_over_the_servers_and_tasks_run(
    cluster: list[EmbeddedNats], start_node: NodeFactory
) -> None:
    urls = [server.url for server in cluster]
    await wait_jetstream_ready(urls, replicas=3)
    topology = Topology(replicas=3, partitions=PARTITIONS)
    connection = Connection(servers=urls, name="test", topology=topology)
    async with open_stores(connection) as stores:
        work = [wire.work_stream(p) for p in range(PARTITIONS)]
        tasks = [wire.tasks_stream(p) for p in range(PARTITIONS)]
        for names in (work, tasks):

            async def spread(names: list[str] = names) -> bool:
                counted = await leaders(stores.js, names)
                if counted is not None and sorted(counted.values()) == [2, 2, 2]:
                    return True
                # a move may still be settling, or the election undid it: spread again
                await spread_partition_leaders(stores.nc, stores.js, topology)
                return False

            await eventually(spread, interval_s=0.5)  # every server leads two of the six
        assert await spread_partition_leaders(stores.nc, stores.js, topology) == 0

    async def handler(ctx: TaskContext, n: int) -> int:
        return n * 2

    async with (
        Client(urls, topology=topology) as client,
        start_node({"cluster-q": handler}, servers=urls, topology=topology),
    ):
        records = await client.enqueue_many("cluster-q", [{"n": n} for n in range(60)])
        assert len({wire.partition_of(r.task_id, PARTITIONS) for r in records}) > 1
        finals = [await client.wait(r.task_id, timeout=60) for r in records]
        assert [final.result for final in finals] == [n * 2 for n in range(60)]
