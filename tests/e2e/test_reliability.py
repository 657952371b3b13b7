"""Reliability the way it happens: real processes, kill -9, a restarted nats-server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prsm_tasks import Client, Node
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.handlers import HandlerRegistry
from prsm_tasks.models import AttemptOutcome, TaskStatus
from tests.conftest import eventually
from tests.e2e.handlers_for_tests import quick, sleepy

REPO = Path(__file__).resolve().parents[2]


def spawn_node(
    url: str,
    queue: str,
    *,
    name: str,
    capacity: int,
    lease_s: float,
    handlers: str = "tests.e2e.handlers_for_tests",
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PRSM_TEST_QUEUE": queue, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prsm_tasks.cli",
            "node",
            "--servers",
            url,
            "--queues",
            queue,
            "--handlers",
            handlers,
            "--capacity",
            str(capacity),
            "--name",
            name,
            "--lease-seconds",
            str(lease_s),
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def handlers_for(queue: str, func: object = sleepy) -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register(func, queue=queue)  # type: ignore[arg-type]
    return registry


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(store_dir=tmp_path / "nats").start()
    yield server
    server.stop()


async def test_kill_9_of_a_node_loses_nothing(nats_url: str, queue: str) -> None:
    victim = spawn_node(nats_url, queue, name="victim", capacity=4, lease_s=2.0)
    try:
        async with Client(nats_url) as client:
            records = await client.enqueue_many(queue, [{"seconds": 30.0}] * 4)
            # the victim holds every task: it has 4 slots and nobody else serves the queue
            await eventually(lambda: _all_processing_on(client, records, "victim"), within_s=60)
            victim.send_signal(signal.SIGKILL)
            victim.wait(30)
            survivor = Node(
                servers=nats_url,
                handlers=handlers_for(queue, quick),
                capacity=4,
                name="survivor",
                lease_s=2.0,
            )
            async with survivor:
                finals = await asyncio.gather(
                    *(client.wait(r.task_id, timeout=120) for r in records)
                )
    finally:
        if victim.poll() is None:
            victim.kill()
    for final in finals:
        assert final.status is TaskStatus.COMPLETED
        assert final.result["node"] == "survivor"
        assert [a.outcome for a in final.attempts] == [
            AttemptOutcome.LOST,
            AttemptOutcome.COMPLETED,
        ]
        assert final.attempts[0].node == "victim"
        assert final.retry_count == 1


async def test_nats_server_restart_loses_no_accepted_task(
    own_server: EmbeddedNats, queue: str
) -> None:
    node = Node(servers=own_server.url, handlers=handlers_for(queue), capacity=8, lease_s=3.0)
    async with Client(own_server.url) as client, node:
        before = await client.enqueue_many(queue, [{"seconds": 0.2}] * 40)
        own_server.restart(hard=True)  # kill -9 of nats-server, then the same store again
        after: list[str] = []
        for _ in range(20):  # enqueue keeps working once the client has reconnected
            try:
                after.append((await client.enqueue(queue, {"seconds": 0.01})).task_id)
            except Exception:
                await asyncio.sleep(0.2)
        ids = [r.task_id for r in before] + after
        assert len(after) > 0
        finals = await asyncio.gather(*(client.wait(task_id, timeout=120) for task_id in ids))
    assert {f.status for f in finals} == {TaskStatus.COMPLETED}


async def _all_processing_on(client: Client, records: list, node: str) -> bool:
    for record in records:
        current = await client.status(record.task_id)
        if current.status is not TaskStatus.PROCESSING or current.worker_node != node:
            return False
    return True


async def test_cancel_memory_after_a_nats_restart(own_server: EmbeddedNats, queue: str) -> None:
    """The server forgets the mirror's consumer; the mirror is not trusted until a new one
    has replayed the bucket, and a cancel written after that reaches it by the bucket alone
    (no cancel signal is heard here)."""
    from prsm_tasks import bus
    from prsm_tasks.store.cancels import CancelMemory

    memory: CancelMemory | None = None

    async def on_reconnected() -> None:
        assert memory is not None
        memory.reconnected()

    def on_disconnected() -> None:
        if memory is not None:
            memory.disconnected()

    nc = await bus.connect(
        own_server.url,
        name="mirror",
        on_reconnected=on_reconnected,
        on_disconnected=on_disconnected,
    )
    try:
        async with Client(own_server.url) as client:
            await client.enqueue(queue, {})  # the topology exists
            memory = CancelMemory(nc.jetstream(), memory_s=3600.0)
            await memory.start()
            own_server.restart(hard=True)
            await eventually(lambda: _live(memory), within_s=60)
            record = None
            while record is None:  # the client reconnects on its own schedule
                try:
                    record = await client.enqueue(queue, {})
                except Exception:
                    await asyncio.sleep(0.2)
            await client.cancel(record.task_id)
            await eventually(lambda: _refused(memory, record.task_id), within_s=5)
    finally:
        if memory is not None:
            await memory.stop()
        await nc.close()


async def _live(memory: Any) -> bool:
    return bool(memory.live)


async def _refused(memory: Any, task_id: str) -> bool:
    return not memory.allows_unclaimed_start(task_id, time.time())
