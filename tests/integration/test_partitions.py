"""Partitioned topology on real nats-servers: tasks spread over the partitions and all run,
the repair covers every partition, and a process that disagrees with the deployment's
number of partitions is refused."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter

import pytest

from prsm_tasks import Client, TaskContext, wire
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.errors import TopologyMismatchError
from prsm_tasks.models import TaskStatus
from prsm_tasks.store.opener import Connection, open_stores
from prsm_tasks.store.options import TaskOptions
from prsm_tasks.topology import Topology
from tests.conftest import PARTITIONED, NodeFactory, eventually

FAST_REPAIR = {"repair_after_s": 1.0, "repair_interval_s": 0.2}


def connection(url: str, partitions: int) -> Connection:
    return Connection(servers=url, name="test", topology=Topology(partitions=partitions))


async def test_a_process_with_other_partitions_is_refused(own_server: EmbeddedNats) -> None:
    async with open_stores(connection(own_server.url, 1)):
        pass  # the first process records one partition
    with pytest.raises(TopologyMismatchError) as refused:
        async with open_stores(connection(own_server.url, 3)):
            pass
    assert "PRSM_PARTITIONS=3" in refused.value.message
    assert "with 1 partition" in refused.value.message
    assert refused.value.details == {"configured": 3, "recorded": 1}
    # refused before it created anything of its own
    async with open_stores(connection(own_server.url, 1)) as stores:
        names = [info.config.name for info in await stores.js.streams_info()]
    assert wire.work_stream(1) not in names and wire.tasks_stream(1) not in names


async def test_a_process_without_the_setting_is_refused_by_a_partitioned_deployment(
    partitioned_nats_server: EmbeddedNats,
) -> None:
    url = partitioned_nats_server.url
    async with Client(url, topology=Topology(partitions=PARTITIONED)):
        pass  # recorded (by this or an earlier test of the session)
    with pytest.raises(TopologyMismatchError) as refused:
        async with Client(url):  # the default: one partition
            pass
    assert f"set up with {PARTITIONED} partition" in refused.value.message


async def test_a_deployment_from_before_the_record_has_one_partition(
    own_server: EmbeddedNats, queue: str
) -> None:
    """Tasks written before partitions were recorded all live in partition 0."""
    async with open_stores(connection(own_server.url, 1)) as stores:
        await stores.writer.enqueue(queue, {"n": 1}, TaskOptions())
        await stores.js.delete_key_value(wire.META_BUCKET)  # as an older version left it
    with pytest.raises(TopologyMismatchError):
        async with open_stores(connection(own_server.url, 3)):
            pass
    async with open_stores(connection(own_server.url, 1)) as stores:
        kv = await stores.js.key_value(wire.META_BUCKET)
        assert (await kv.get(wire.PARTITIONS_KEY)).value == b"1"


async def test_of_two_processes_starting_at_once_with_other_values_one_is_refused(
    own_server: EmbeddedNats,
) -> None:
    async def start(partitions: int) -> BaseException | None:
        try:
            async with open_stores(connection(own_server.url, partitions)):
                return None
        except TopologyMismatchError as exc:
            return exc

    outcomes = await asyncio.gather(start(1), start(3))
    assert sum(isinstance(outcome, TopologyMismatchError) for outcome in outcomes) == 1


def test_the_cli_prints_the_refusal_and_exits_non_zero(own_server: EmbeddedNats) -> None:
    command = [sys.executable, "-m", "prsm_tasks.cli", "enqueue", "q", "{}"]
    env = {**os.environ, "PRSM_SERVERS": own_server.url, "PRSM_LOG_LEVEL": "warning"}
    first = subprocess.run(
        command, env={**env, "PRSM_PARTITIONS": "2"}, capture_output=True, text=True, timeout=60
    )
    assert first.returncode == 0, first.stderr
    refused = subprocess.run(
        command, env={**env, "PRSM_PARTITIONS": "5"}, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0
    assert "topology_mismatch" in refused.stderr
    assert "PRSM_PARTITIONS=5" in refused.stderr and "with 2 partition" in refused.stderr


async def test_tasks_spread_over_the_partitions_and_all_run(
    partitioned_nats_server: EmbeddedNats, queue: str, start_node: NodeFactory
) -> None:
    topology = Topology(partitions=PARTITIONED)
    url = partitioned_nats_server.url
    async with Client(url, topology=topology) as client:
        records = await client.enqueue_many(queue, [{"n": n} for n in range(30)])
        expected = Counter(wire.partition_of(r.task_id, PARTITIONED) for r in records)
        assert len(expected) > 1
    async with open_stores(connection(url, PARTITIONED)) as stores:
        js = stores.js
        for partition in range(PARTITIONED):
            subject = wire.work_subject(queue, "normal", partition)
            info = await js.stream_info(wire.work_stream(partition), subjects_filter=subject)
            held = (info.state.subjects or {}).get(subject, 0)
            assert held == expected[partition], (partition, held, expected)
        for record in records:  # each record is in its partition's bucket, and only there
            partition = wire.partition_of(record.task_id, PARTITIONED)
            kv = await js.key_value(wire.tasks_bucket(partition))
            assert (await kv.get(record.task_id)).value
            other = await js.key_value(wire.tasks_bucket((partition + 1) % PARTITIONED))
            with pytest.raises(Exception, match="not found"):
                await other.get(record.task_id)

    async def double(ctx: TaskContext, n: int) -> int:
        return n * 2

    async with (
        Client(url, topology=topology) as client,
        start_node({queue: double}, servers=url, topology=topology, capacity=4),
    ):
        done = await asyncio.gather(*(client.wait(r.task_id, timeout=60) for r in records))
    assert [record.result for record in done] == [n * 2 for n in range(30)]
    assert {record.status for record in done} == {TaskStatus.COMPLETED}


async def test_the_repair_covers_every_partition(
    own_server: EmbeddedNats, queue: str, start_node: NodeFactory
) -> None:
    """Records written without their work message, in partitions other than 0, run once."""
    topology = Topology(partitions=PARTITIONED)
    runs: Counter[str] = Counter()

    async def count(ctx: TaskContext) -> None:
        runs[ctx.task_id] += 1

    async with open_stores(connection(own_server.url, PARTITIONED)) as stores:
        lost_in: dict[int, str] = {}  # partition -> the task lost there
        while set(lost_in) != {1, 2}:
            prepared = stores.writer.prepare(queue, {}, TaskOptions())
            partition = wire.partition_of(prepared.record.task_id, PARTITIONED)
            if partition and partition not in lost_in:
                await stores.tasks.create_encoded(prepared.record.task_id, prepared.payload)
                lost_in[partition] = prepared.record.task_id
        lost = list(lost_in.values())
        async with start_node(
            {queue: count}, servers=own_server.url, topology=topology, **FAST_REPAIR
        ):

            async def all_ran() -> bool:
                for task_id in lost:
                    record, _ = await stores.tasks.get(task_id)
                    if record.status is not TaskStatus.COMPLETED:
                        return False
                return True

            await eventually(all_ran, within_s=60)
        leases = await stores.js.key_value(wire.LEASES_BUCKET)
        keys = set(await leases.keys())
    assert runs == dict.fromkeys(lost, 1)
    assert {wire.repair_lease(p) for p in range(PARTITIONED)} <= keys
