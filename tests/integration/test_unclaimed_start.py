"""Short tasks start before their claim is written (actors/runner.py, store/cancels.py).

Each test watches every write of the task's record, so it sees whether `processing` was
ever stored, and checks that a cancel or a change that came first still wins.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from prsm_tasks import Client, TaskContext, wire
from prsm_tasks.models import AttemptOutcome, TaskRecord, TaskStatus
from prsm_tasks.store.cancels import CancelMemory
from prsm_tasks.store.tasks import decode_record
from tests.conftest import NodeFactory, eventually


@asynccontextmanager
async def record_writes(client: Client) -> AsyncIterator[dict[str, list[TaskStatus]]]:
    """Every status stored for every task from now on, in order, by task id."""
    writes: dict[str, list[TaskStatus]] = {}

    async def on_write(msg: Any) -> None:
        if msg.data:
            record = decode_record(msg.data, msg.metadata.sequence.stream)
            writes.setdefault(record.task_id, []).append(record.status)

    js = client._js
    assert js is not None
    sub = await js.subscribe(
        f"$KV.{wire.TASKS_BUCKET}.>", cb=on_write, ordered_consumer=True, deliver_policy="new"
    )
    try:
        yield writes
    finally:
        await sub.unsubscribe()


async def statuses_of(
    writes: dict[str, list[TaskStatus]], record: TaskRecord, count: int
) -> list[TaskStatus]:
    async def all_seen() -> bool:
        return len(writes.get(record.task_id, [])) >= count

    await eventually(all_seen)
    await asyncio.sleep(0.3)  # nothing more arrives
    return writes[record.task_id]


async def test_a_short_task_is_written_once(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    async def quick(ctx: TaskContext) -> str:
        return ctx.node_id

    async with start_node({queue: quick}, name="quick-node") as node, record_writes(client) as w:
        record = await client.enqueue(queue, {})
        final = await client.wait(record.task_id, timeout=30)
        statuses = await statuses_of(w, record, 2)
    assert statuses == [TaskStatus.ENQUEUED, TaskStatus.COMPLETED]
    assert final.result == node.node_id
    [attempt] = final.attempts
    assert attempt.node == node.node_id and attempt.outcome is AttemptOutcome.COMPLETED
    assert final.worker_node == node.node_id and final.started_at is not None


async def test_a_longer_task_shows_processing(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    seen_processing = asyncio.Event()

    async def slower(ctx: TaskContext) -> str:
        async with asyncio.timeout(30):
            await seen_processing.wait()
        return "done"

    async with start_node({queue: slower}, claim_after_s=0.05), record_writes(client) as w:
        record = await client.enqueue(queue, {})
        await eventually(
            lambda: _status_is(client, record.task_id, TaskStatus.PROCESSING), within_s=30
        )
        seen_processing.set()
        await client.wait(record.task_id, timeout=30)
        statuses = await statuses_of(w, record, 3)
    assert statuses == [TaskStatus.ENQUEUED, TaskStatus.PROCESSING, TaskStatus.COMPLETED]


async def test_a_failure_is_written_after_its_claim(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    async def broken(ctx: TaskContext) -> None:
        raise RuntimeError("broken")

    async with start_node({queue: broken}), record_writes(client) as w:
        record = await client.enqueue(queue, {}, max_retries=0)
        final = await client.wait(record.task_id, timeout=30)
        statuses = await statuses_of(w, record, 3)
    assert final.status is TaskStatus.FAILED and final.error is not None
    assert statuses == [TaskStatus.ENQUEUED, TaskStatus.PROCESSING, TaskStatus.FAILED]


async def test_cancel_stops_a_task_started_before_its_claim(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    started, interrupted = asyncio.Event(), asyncio.Event()

    async def waits(ctx: TaskContext) -> str:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            interrupted.set()
            raise
        return "finished"

    # a claim delay longer than the test: the record says enqueued while the handler runs
    async with start_node({queue: waits}, claim_after_s=60.0), record_writes(client) as w:
        record = await client.enqueue(queue, {})
        async with asyncio.timeout(30):
            await started.wait()
        assert (await client.status(record.task_id)).status is TaskStatus.ENQUEUED
        cancelled = await client.cancel(record.task_id)
        async with asyncio.timeout(30):
            await interrupted.wait()
        statuses = await statuses_of(w, record, 2)
    assert cancelled.status is TaskStatus.CANCELLED
    assert statuses == [TaskStatus.ENQUEUED, TaskStatus.CANCELLED]
    assert (await client.status(record.task_id)).result is None


async def test_a_task_cancelled_behind_a_busy_slot_never_runs(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    """The node is running when the cancel lands and takes the message afterwards."""
    ran: list[str] = []

    async def record_run(ctx: TaskContext) -> None:
        ran.append(ctx.task_id)

    gate = asyncio.Event()

    async def blocker(ctx: TaskContext) -> None:
        async with asyncio.timeout(30):
            await gate.wait()

    other_queue = f"{queue}-blocker"
    handlers = {queue: record_run, other_queue: blocker}
    async with start_node(handlers, capacity=1, queues=[other_queue, queue]) as node:
        # the only slot is busy, so the next task waits in the stream while we cancel it
        busy = await client.enqueue(other_queue, {})
        await eventually(lambda: _in_flight_is(node, 1))
        record = await client.enqueue(queue, {})
        await client.cancel(record.task_id)
        gate.set()
        await client.wait(busy.task_id, timeout=30)
        marker = await client.enqueue(queue, {})
        await client.wait(marker.task_id, timeout=30)
    assert ran == [marker.task_id]
    assert (await client.status(record.task_id)).status is TaskStatus.CANCELLED


@pytest.mark.parametrize("found_by", ["completion", "late claim"])
async def test_data_changed_before_the_first_write_runs_again_with_the_new_data(
    client: Client, queue: str, start_node: NodeFactory, found_by: str
) -> None:
    """The record changed while its handler ran unclaimed: whichever write finds that out
    (the completion, or a late claim that progress asked for) claims the task as it now is
    and runs it again, once."""
    first_run_started, data_changed = asyncio.Event(), asyncio.Event()
    seen: list[int] = []

    async def echo(ctx: TaskContext, value: int) -> int:
        seen.append(value)
        if len(seen) == 1:
            first_run_started.set()
            async with asyncio.timeout(30):
                await data_changed.wait()
            if found_by == "late claim":
                ctx.progress(0.5)  # asks for the claim, which finds the record changed
                await asyncio.sleep(30)
        return value

    async with start_node({queue: echo}, claim_after_s=60.0, lease_s=2.0):
        record = await client.enqueue(queue, {"value": 1})
        async with asyncio.timeout(30):
            await first_run_started.wait()
        store = client._store
        assert store is not None
        await store.transition(
            record.task_id, lambda r: r.model_copy(update={"task_data": {"value": 2}})
        )
        data_changed.set()
        final = await client.wait(record.task_id, timeout=20)
    assert seen == [1, 2]
    assert final.status is TaskStatus.COMPLETED and final.result == 2
    assert [a.outcome for a in final.attempts] == [AttemptOutcome.COMPLETED]


async def test_cancel_memory_learns_cancels_live_and_after_a_reconnect(
    client: Client, queue: str
) -> None:
    js = client._js
    assert js is not None
    earlier = await client.enqueue(queue, {})
    await client.cancel(earlier.task_id)
    memory = CancelMemory(js, memory_s=3600.0)
    await memory.start()  # replays what the bucket holds
    try:
        now = time.time()
        assert memory.live
        assert not memory.allows_unclaimed_start(earlier.task_id, now)
        later = await client.enqueue(queue, {})
        assert memory.allows_unclaimed_start(later.task_id, now)
        await client.cancel(later.task_id)
        await eventually(lambda: _refused(memory, later.task_id))
        # a message older than the memory (less the clock margin) may hide a forgotten cancel
        untouched = await client.enqueue(queue, {})
        assert not memory.allows_unclaimed_start(untouched.task_id, now - 3600.0)
        assert memory.allows_unclaimed_start(untouched.task_id, now)
        # a lost connection: nothing starts unclaimed until the mirror has caught up again
        memory.disconnected()
        assert not memory.allows_unclaimed_start(untouched.task_id, now)
        memory.reconnected()
        await eventually(lambda: _live(memory))
        assert memory.allows_unclaimed_start(untouched.task_id, time.time())
    finally:
        await memory.stop()


async def _refused(memory: CancelMemory, task_id: str) -> bool:
    return not memory.allows_unclaimed_start(task_id, time.time())


async def _live(memory: CancelMemory) -> bool:
    return memory.live


async def _status_is(client: Client, task_id: str, status: TaskStatus) -> bool:
    return (await client.status(task_id)).status is status


async def _in_flight_is(node: Any, count: int) -> bool:
    return bool(node.in_flight == count)


async def test_an_edit_that_keeps_the_data_does_not_run_it_again(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    """What the task list API does on an edit of a task that has not started (forbid, CAS,
    signal), while a node runs it unclaimed: the node claims it now and carries on."""
    from prsm_tasks.store.cancels import forbid_unclaimed_start, signal_changed

    started, edited = asyncio.Event(), asyncio.Event()
    runs: list[str] = []

    async def waits(ctx: TaskContext) -> str:
        runs.append(ctx.task_id)
        started.set()
        async with asyncio.timeout(30):
            await edited.wait()
        return "done"

    async with start_node({queue: waits}, claim_after_s=60.0):
        record = await client.enqueue(queue, {})
        async with asyncio.timeout(30):
            await started.wait()
        store, nc = client._store, client._nc
        assert store is not None and nc is not None
        await forbid_unclaimed_start(store.requests, record.task_id)
        await store.transition(
            record.task_id, lambda r: r.model_copy(update={"metadata": {"note": "edited"}})
        )
        await signal_changed(nc, record.task_id)
        await eventually(
            lambda: _status_is(client, record.task_id, TaskStatus.PROCESSING), within_s=30
        )
        edited.set()
        final = await client.wait(record.task_id, timeout=30)
    assert runs == [record.task_id]
    assert final.status is TaskStatus.COMPLETED and final.result == "done"
    assert final.metadata == {"note": "edited"}
    assert [a.outcome for a in final.attempts] == [AttemptOutcome.COMPLETED]


async def test_a_metadata_edit_of_a_running_task_keeps_its_outcome(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    """The task list API may edit a running task's metadata: the node's final write goes on
    top of that edit instead of losing the task."""
    edited = asyncio.Event()

    async def waits(ctx: TaskContext) -> str:
        async with asyncio.timeout(30):
            await edited.wait()
        return "done"

    async with start_node({queue: waits}, claim_after_s=0.01, lease_s=2.0):
        record = await client.enqueue(queue, {})
        await eventually(
            lambda: _status_is(client, record.task_id, TaskStatus.PROCESSING), within_s=30
        )
        store = client._store
        assert store is not None
        await store.transition(
            record.task_id, lambda r: r.model_copy(update={"metadata": {"note": "edited"}})
        )
        edited.set()
        final = await client.wait(record.task_id, timeout=30)
    assert final.status is TaskStatus.COMPLETED and final.result == "done"
    assert final.metadata == {"note": "edited"}
    assert [a.outcome for a in final.attempts] == [AttemptOutcome.COMPLETED]
