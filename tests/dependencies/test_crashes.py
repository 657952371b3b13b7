"""Dependencies through a node's crash, a lost hook and writes racing a running parent."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prsm_tasks import Client, Node, TaskContext
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.models import AttemptOutcome, TaskStatus
from prsm_tasks.store.opener import Connection, open_stores
from prsm_tasks.store.options import TaskOptions
from prsm_tasks.store.repair import Repair
from tests.conftest import NodeFactory, eventually
from tests.e2e.handlers_for_tests import quick
from tests.e2e.test_reliability import handlers_for, spawn_node


async def test_progress_of_a_running_parent_survives_children_appended_mid_run(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    gate, done = asyncio.Event(), asyncio.Event()
    reported = asyncio.Event()
    runs: list[str] = []

    async def parent_or_child(ctx: TaskContext, role: str = "child") -> str:
        runs.append(ctx.task_id)
        if role == "parent":
            await ctx.progress(0.25, "started")
            reported.set()
            await gate.wait()
            await ctx.progress(0.75, "after the children")
            await done.wait()
        return role

    async with start_node({queue: parent_or_child}, capacity=4, progress_record_interval_s=0.05):
        parent = await client.enqueue(queue, {"role": "parent"})
        await asyncio.wait_for(reported.wait(), 30)

        async def shows(value: float) -> bool:
            return (await client.status(parent.task_id)).progress == value

        await eventually(lambda: shows(0.25))
        children = [await client.enqueue(queue, {}, depends_on=[parent.task_id]) for _ in range(3)]
        gate.set()
        await eventually(lambda: shows(0.75))  # the progress write rebased over the appends
        done.set()
        finals = [await client.wait(c.task_id, timeout=30) for c in children]
        parent_final = await client.wait(parent.task_id, timeout=30)
    assert parent_final.status is TaskStatus.COMPLETED
    assert [a.outcome for a in parent_final.attempts] == [AttemptOutcome.COMPLETED]
    assert sorted(parent_final.dependents) == sorted(c.task_id for c in children)
    assert [f.status for f in finals] == [TaskStatus.COMPLETED] * 3
    assert runs.count(parent.task_id) == 1


async def test_a_short_parent_with_a_child_appended_while_it_runs_runs_once(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    """A task started before its claim is written: a child named meanwhile changes its
    record, and its completion is still written once, not run again."""
    started = asyncio.Event()
    gate = asyncio.Event()
    runs: list[str] = []

    async def handler(ctx: TaskContext, role: str = "child") -> str:
        runs.append(role)
        if role == "parent":
            started.set()
            await gate.wait()
        return role

    async with start_node({queue: handler}, capacity=2, claim_after_s=30.0):
        parent = await client.enqueue(queue, {"role": "parent"})
        await asyncio.wait_for(started.wait(), 30)
        child = await client.enqueue(queue, {}, depends_on=[parent.task_id])
        gate.set()
        final = await client.wait(child.task_id, timeout=30)
    assert final.status is TaskStatus.COMPLETED
    assert runs == ["parent", "child"]


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(store_dir=tmp_path / "nats").start()
    yield server
    server.stop()


async def test_a_node_killed_while_the_parent_runs_leaves_the_child_to_run_once(
    nats_url: str, queue: str
) -> None:
    victim = spawn_node(nats_url, queue, name="victim", capacity=2, lease_s=2.0)
    try:
        async with Client(nats_url) as client:
            parent = await client.enqueue(queue, {"seconds": 30.0})
            child = await client.enqueue(queue, {"seconds": 0.0}, depends_on=[parent.task_id])

            async def running() -> bool:
                return (await client.status(parent.task_id)).status is TaskStatus.PROCESSING

            await eventually(running, within_s=60)
            victim.send_signal(signal.SIGKILL)
            victim.wait(30)
            assert (await client.status(child.task_id)).status is TaskStatus.WAITING
            survivor = Node(
                servers=nats_url,
                handlers=handlers_for(queue, quick),
                capacity=2,
                name="survivor",
                lease_s=2.0,
            )
            async with survivor:
                final = await client.wait(child.task_id, timeout=120)
                parent_final = await client.wait(parent.task_id, timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
    assert parent_final.status is TaskStatus.COMPLETED
    assert [a.outcome for a in parent_final.attempts] == [
        AttemptOutcome.LOST,
        AttemptOutcome.COMPLETED,
    ]
    assert final.status is TaskStatus.COMPLETED
    assert final.result["node"] == "survivor"
    assert len(final.attempts) == 1


async def test_the_repair_heals_a_lost_hook(own_server: EmbeddedNats, queue: str) -> None:
    """The parent's final record written with no hook (its writer died right after): a
    repair pass evaluates the child it names and lets it go."""
    connection = Connection(servers=own_server.url, name="test")
    async with open_stores(connection) as stores:
        writer = stores.writer
        parent = await writer.enqueue(queue, {}, TaskOptions())
        child = await writer.enqueue(
            queue, {}, TaskOptions(depends_on=({"task_id": parent.task_id},))
        )
        record, rev = await stores.tasks.get(parent.task_id)
        assert record.dependents == [child.task_id]
        from prsm_tasks import models

        now = time.time()
        claimed = models.claim(record, node_id="gone", now=now)
        done = models.complete(claimed, result="done", now=now)
        await stores.tasks.put(done, last_rev=rev)  # no hook runs
        assert (await stores.tasks.get(child.task_id))[0].status is TaskStatus.WAITING
        repair = Repair(stores.js, stores.tasks, stores.batches, after_s=0.0, scan_limit=1000)
        _, report = await repair.sweep(0)
        assert report.children >= 1
        assert (await stores.tasks.get(child.task_id))[0].status is TaskStatus.ENQUEUED


@pytest.mark.parametrize("fails", [False, True])
async def test_a_claimed_parent_ending_after_an_append_evaluates_the_child_itself(
    client: Client, queue: str, start_node: NodeFactory, fails: bool
) -> None:
    """The outcome's CAS loses to the append and is rebased: the hook gets the record as
    written, naming the child (the repair is off, so nothing else would let it go)."""
    started, gate = asyncio.Event(), asyncio.Event()

    async def handler(ctx: TaskContext, role: str = "child") -> str:
        if role == "parent":
            started.set()
            await gate.wait()
            if fails:
                raise RuntimeError("the parent fails")
        return role

    async with start_node({queue: handler}, capacity=2, claim_after_s=0.0, repair_after_s=0.0):
        parent = await client.enqueue(queue, {"role": "parent"}, max_retries=0)
        await asyncio.wait_for(started.wait(), 30)
        child = await client.enqueue(queue, {}, depends_on=[parent.task_id])
        gate.set()
        final = await client.wait(child.task_id, timeout=30)
    if fails:
        assert final.status is TaskStatus.FAILED and final.error is not None
        assert final.error.type == "dependency_failed"
    else:
        assert final.status is TaskStatus.COMPLETED
