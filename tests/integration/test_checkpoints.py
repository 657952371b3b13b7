"""Checkpoints of persistent jobs (actors/checkpoints.py, store/checkpoints.py) on real nodes."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from prsm_tasks import Client, TaskContext, models
from prsm_tasks.errors import CheckpointRefusedError, PayloadTooLargeError
from prsm_tasks.models import AttemptOutcome, TaskStatus
from prsm_tasks.store.checkpoints import CheckpointStore
from prsm_tasks.store.opener import Connection, Stores, open_stores
from prsm_tasks.topology import Topology
from tests.conftest import NodeFactory, eventually


@pytest.fixture
async def stores(nats_url: str, topology: Topology) -> AsyncIterator[Stores]:
    async with open_stores(Connection(servers=nats_url, name="test", topology=topology)) as opened:
        yield opened


@pytest.mark.partitioned
async def test_a_retry_resumes_from_the_last_checkpoint(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    seen: list[Any] = []

    async def job(ctx: TaskContext) -> int:
        seen.append(ctx.checkpoint_state)
        done = (ctx.checkpoint_state or {}).get("done", 0)
        while done < 5:
            done += 1
            mark = await ctx.checkpoint({"done": done}, summary=f"step {done}")
            assert mark.attempt == ctx.attempt and mark.summary == f"step {done}"
            if ctx.attempt == 1 and done == 3:
                raise RuntimeError("the first attempt dies after step 3")
        return done

    async with start_node({queue: job}):
        record = await client.enqueue(queue, {})
        final = await client.wait(record.task_id, timeout=30)
    assert final.status is TaskStatus.COMPLETED and final.result == 5
    assert seen == [None, {"done": 3}]
    assert [a.outcome for a in final.attempts] == [AttemptOutcome.FAILED, AttemptOutcome.COMPLETED]
    mark = final.checkpoint
    assert mark is not None
    assert (mark.seq, mark.attempt, mark.summary) == (5, 2, "step 5")
    assert mark.size_bytes > 0 and mark.at <= time.time()


async def test_a_sync_handler_checkpoints_and_resumes(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    seen: list[Any] = []

    def job(ctx: TaskContext) -> list[int]:
        seen.append(ctx.checkpoint_state)
        steps = list(ctx.checkpoint_state or [])
        while len(steps) < 4:
            steps.append(len(steps))
            ctx.checkpoint(steps)  # blocks until stored
            if ctx.attempt == 1 and len(steps) == 2:
                raise RuntimeError("dies after two steps")
        return steps

    async with start_node({queue: job}):
        record = await client.enqueue(queue, {})
        final = await client.wait(record.task_id, timeout=30)
    assert final.status is TaskStatus.COMPLETED and final.result == [0, 1, 2, 3]
    assert seen == [None, [0, 1]]
    assert final.checkpoint is not None and final.checkpoint.seq == 4


async def test_a_checkpoint_over_the_limit_is_refused_and_stores_nothing(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    async def job(ctx: TaskContext) -> str:
        try:
            await ctx.checkpoint("x" * 4096)
        except PayloadTooLargeError as exc:
            return f"{exc.code}:{exc.field}"
        return "stored"

    async with start_node({queue: job}, max_checkpoint_bytes=2048):
        record = await client.enqueue(queue, {})
        final = await client.wait(record.task_id, timeout=30)
    assert final.result == "payload_too_large:state"
    assert final.checkpoint is None


async def test_a_stale_owner_cannot_replace_the_new_owners_checkpoint(
    client: Client, queue: str, start_node: NodeFactory, stores: Stores
) -> None:
    """Node A runs attempt 1; node B (played here with the real stores) takes the task over
    and checkpoints as attempt 2; A, unaware, checkpoints again: refused, B's state stands."""
    checkpoints = CheckpointStore(stores.js)
    first_saved = threading.Event()
    taken_over = threading.Event()
    outcome: list[str] = []

    def job(ctx: TaskContext) -> None:
        ctx.checkpoint({"by": "A", "step": 1})
        first_saved.set()
        taken_over.wait(30)
        try:
            ctx.checkpoint({"by": "A", "step": 2})
            outcome.append("stored")
        except CheckpointRefusedError as exc:
            outcome.append(exc.code)

    async with start_node({queue: job}):
        record = await client.enqueue(queue, {}, max_retries=3)
        await asyncio.to_thread(first_saved.wait, 30)
        current, rev = await stores.tasks.get(record.task_id)
        assert current.status is TaskStatus.PROCESSING
        taken = models.take_over(current, node_id="node-b", now=time.time(), message_seq=10**9)
        await stores.tasks.put(taken, last_rev=rev)
        await checkpoints.write(
            record.task_id, tenant=None, attempt=2, state=b"\x91\x02", summary="B"
        )
        taken_over.set()
        await eventually(lambda: _returns(bool(outcome)))
        await client.cancel(record.task_id)
    assert outcome == ["checkpoint_refused"]
    stored = await checkpoints.read(record.task_id)
    assert stored is not None
    assert (stored[0].attempt, stored[0].summary, stored[0].decoded_state()) == (2, "B", [2])


async def test_the_bucket_fence_refuses_an_earlier_attempt(stores: Stores) -> None:
    checkpoints = CheckpointStore(stores.js)
    task_id = "task_" + uuid.uuid4().hex[:26]
    await checkpoints.write(task_id, tenant="t", attempt=1, state=b"\x01", summary=None)
    second = await checkpoints.write(task_id, tenant="t", attempt=2, state=b"\x02", summary="b")
    assert (second.seq, second.attempt) == (2, 2)
    with pytest.raises(CheckpointRefusedError):
        await checkpoints.write(task_id, tenant="t", attempt=1, state=b"\x03", summary=None)
    stored = await checkpoints.read(task_id)
    assert stored is not None and stored[0].state == b"\x02"


async def _returns(value: bool) -> bool:
    return value
