"""The engine end to end in one process: a real nats-server, real nodes, the native client."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from prsm_tasks import Client, Fail, Retry, TaskContext
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.errors import (
    InvalidTaskDataError,
    PayloadTooLargeError,
    TaskAlreadyFinishedError,
    TaskNotFoundError,
    TaskTimeoutError,
    ValidationError,
)
from prsm_tasks.models import AttemptOutcome, TaskSpec, TaskStatus
from tests.conftest import NodeFactory, eventually


async def echo(ctx: TaskContext, **task_data: Any) -> dict[str, Any]:
    return {"echo": task_data, "attempt": ctx.attempt}


@pytest.mark.partitioned
async def test_enqueue_before_any_node_then_run(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    record = await client.enqueue(queue, {"x": 1}, priority=7)
    assert record.status is TaskStatus.ENQUEUED
    assert (await client.status(record.task_id)).status is TaskStatus.ENQUEUED
    async with start_node({queue: echo}):
        final = await client.wait(record.task_id, timeout=30)
    assert final.status is TaskStatus.COMPLETED
    assert final.result == {"echo": {"x": 1}, "attempt": 1}
    assert final.started_at is not None and final.completed_at is not None
    assert [a.outcome for a in final.attempts] == [AttemptOutcome.COMPLETED]


@pytest.mark.partitioned
async def test_enqueue_many_with_specs(client: Client, queue: str, start_node: NodeFactory) -> None:
    items: list[Any] = [{"i": i} for i in range(300)]
    items.append(TaskSpec(task_data={"i": "special"}, priority=10, max_retries=0))
    records = await client.enqueue_many(queue, items, window=64)
    assert len(records) == 301
    assert records[-1].priority == 10 and records[-1].max_retries == 0
    async with start_node({queue: echo}, capacity=16):
        finals = await asyncio.gather(*(client.wait(r.task_id, timeout=60) for r in records))
    assert {f.status for f in finals} == {TaskStatus.COMPLETED}
    assert sorted(str(f.result["echo"]["i"]) for f in finals) == sorted(
        str(item["i"]) if isinstance(item, dict) else "special" for item in items
    )


@pytest.mark.partitioned
async def test_retry_then_succeed(client: Client, queue: str, start_node: NodeFactory) -> None:
    async def flaky(ctx: TaskContext) -> str:
        if ctx.attempt < 3:
            raise RuntimeError(f"flaky attempt {ctx.attempt}")
        return "third time lucky"

    async with start_node({queue: flaky}):
        record = await client.enqueue(queue, {}, max_retries=3)
        final = await client.wait(record.task_id, timeout=30)
    assert final.status is TaskStatus.COMPLETED
    assert final.result == "third time lucky"
    assert final.retry_count == 2
    assert [a.outcome for a in final.attempts] == [
        AttemptOutcome.FAILED,
        AttemptOutcome.FAILED,
        AttemptOutcome.COMPLETED,
    ]


async def test_retries_exhausted_records_the_error(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    async def broken(ctx: TaskContext) -> None:
        raise ValueError("always broken")

    async with start_node({queue: broken}):
        record = await client.enqueue(queue, {}, max_retries=2)
        final = await client.wait(record.task_id, timeout=30)
    assert final.status is TaskStatus.FAILED
    assert final.retry_count == 2
    assert len(final.attempts) == 3
    assert final.error is not None
    assert final.error.type == "ValueError"
    assert final.error.message == "always broken"
    assert "always broken" in (final.error.traceback or "")


async def test_fail_and_retry_signals(client: Client, queue: str, start_node: NodeFactory) -> None:
    async def decides(ctx: TaskContext, mode: str) -> str:
        if mode == "fail":
            raise Fail("bad request, do not retry")
        if ctx.attempt == 1:
            raise Retry("come back soon", delay=0.1)
        return "after retry"

    async with start_node({queue: decides}):
        failing = await client.enqueue(queue, {"mode": "fail"}, max_retries=5)
        retrying = await client.enqueue(queue, {"mode": "retry"}, max_retries=5)
        failed = await client.wait(failing.task_id, timeout=30)
        retried = await client.wait(retrying.task_id, timeout=30)
    assert failed.status is TaskStatus.FAILED and len(failed.attempts) == 1
    assert failed.error is not None and failed.error.type == "Fail"
    assert retried.status is TaskStatus.COMPLETED and retried.retry_count == 1


async def test_invalid_task_data_fails_without_retry(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    async def typed(ctx: TaskContext, count: int) -> int:
        return count * 2

    async with start_node({queue: typed}):
        good = await client.enqueue(queue, {"count": "21"})
        bad = await client.enqueue(queue, {"count": "many"}, max_retries=3)
        assert (await client.wait(good.task_id, timeout=30)).result == 42
        final = await client.wait(bad.task_id, timeout=30)
    assert final.status is TaskStatus.FAILED
    assert len(final.attempts) == 1
    assert final.error is not None and "task_data.count" in final.error.message


async def test_timeout_of_the_last_attempt(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    async def slow(ctx: TaskContext) -> None:
        await asyncio.sleep(60)

    async with start_node({queue: slow}):
        record = await client.enqueue(queue, {}, timeout_seconds=0.3, max_retries=1)
        final = await client.wait(record.task_id, timeout=30)
    assert final.status is TaskStatus.TIMEOUT
    assert [a.outcome for a in final.attempts] == [AttemptOutcome.TIMEOUT, AttemptOutcome.TIMEOUT]
    assert final.error is not None and "timeout" in final.error.message


@pytest.mark.partitioned
async def test_cancel_queued_task_never_runs(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    ran: list[str] = []

    async def record_run(ctx: TaskContext) -> None:
        ran.append(ctx.task_id)

    record = await client.enqueue(queue, {})
    cancelled = await client.cancel(record.task_id)
    assert cancelled.status is TaskStatus.CANCELLED
    async with start_node({queue: record_run}):
        marker = await client.enqueue(queue, {})
        await client.wait(marker.task_id, timeout=30)
    assert ran == [marker.task_id]
    assert (await client.status(record.task_id)).status is TaskStatus.CANCELLED
    with pytest.raises(TaskAlreadyFinishedError):
        await client.cancel(record.task_id)


@pytest.mark.partitioned
async def test_cancel_running_async_handler(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    started = asyncio.Event()
    interrupted = asyncio.Event()

    async def long_running(ctx: TaskContext) -> str:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            interrupted.set()
            raise
        return "finished"

    async with start_node({queue: long_running}):
        record = await client.enqueue(queue, {})
        async with asyncio.timeout(30):
            await started.wait()
        await eventually(
            lambda: _status_is(client, record.task_id, TaskStatus.PROCESSING), within_s=30
        )
        await client.cancel(record.task_id)
        async with asyncio.timeout(30):
            await interrupted.wait()
        final = await client.wait(record.task_id, timeout=30)
    assert final.status is TaskStatus.CANCELLED
    assert final.attempts[-1].outcome is AttemptOutcome.CANCELLED


async def test_cancel_wins_over_a_late_completion(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    """A sync handler that ignores the cancel flag still cannot overwrite `cancelled`."""
    release = threading.Event()
    started = threading.Event()

    def stubborn(ctx: TaskContext) -> str:
        started.set()
        release.wait(30)
        return "too late"

    async with start_node({queue: stubborn}) as node:
        record = await client.enqueue(queue, {})
        await asyncio.to_thread(started.wait, 30)
        await eventually(
            lambda: _status_is(client, record.task_id, TaskStatus.PROCESSING), within_s=30
        )
        await client.cancel(record.task_id)
        release.set()
        await eventually(lambda: _no_running(node), within_s=30)
    final = await client.status(record.task_id)
    assert final.status is TaskStatus.CANCELLED
    assert final.result is None


async def test_sync_handler_cancels_cooperatively(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    stopped_at: list[int] = []
    started = threading.Event()

    def cooperative(ctx: TaskContext) -> str:
        started.set()
        for step in range(600):
            ctx.raise_if_cancelled() if step % 2 else None
            if ctx.is_cancelled:
                stopped_at.append(step)
                break
            threading.Event().wait(0.05)
        return "done"

    async with start_node({queue: cooperative}) as node:
        record = await client.enqueue(queue, {})
        await asyncio.to_thread(started.wait, 30)
        await eventually(
            lambda: _status_is(client, record.task_id, TaskStatus.PROCESSING), within_s=30
        )
        await client.cancel(record.task_id)
        await eventually(lambda: _no_running(node), within_s=30)
    assert (await client.status(record.task_id)).status is TaskStatus.CANCELLED
    assert len(stopped_at) <= 1  # it stopped early, by flag or by raise_if_cancelled


@pytest.mark.partitioned
async def test_priority_critical_starts_next(
    client: Client, queue: str, start_node: NodeFactory, partitions: int
) -> None:
    order: list[str] = []
    gate = asyncio.Event()

    async def ordered(ctx: TaskContext, name: str) -> None:
        order.append(name)
        if name == "blocker":
            await gate.wait()

    async with start_node({queue: ordered}, capacity=1):
        blocker = await client.enqueue(queue, {"name": "blocker"}, priority=5)
        await eventually(lambda: _status_is(client, blocker.task_id, TaskStatus.PROCESSING))
        lows = await client.enqueue_many(
            queue, [{"name": f"low{i}"} for i in range(10)], priority=1
        )
        critical = await client.enqueue(queue, {"name": "critical"}, priority=10)
        gate.set()
        await client.wait(critical.task_id, timeout=30)
        await asyncio.gather(*(client.wait(r.task_id, timeout=60) for r in lows))
    assert order[0] == "blocker"
    assert order[1] == "critical"
    lows_in_order = [f"low{i}" for i in range(10)]
    if partitions == 1:
        assert order[2:] == lows_in_order  # one stream: the same band keeps enqueue order
    else:  # the band's tasks are spread over the partitions' streams: no order among them
        assert sorted(order[2:]) == sorted(lows_in_order)


@pytest.mark.partitioned
async def test_capacity_splits_the_work(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    peak: dict[str, int] = {}
    running: dict[str, int] = {}

    async def slow(ctx: TaskContext) -> str:
        running[ctx.node_id] = running.get(ctx.node_id, 0) + 1
        peak[ctx.node_id] = max(peak.get(ctx.node_id, 0), running[ctx.node_id])
        await asyncio.sleep(0.2)
        running[ctx.node_id] -= 1
        return ctx.node_id

    async with (
        start_node({queue: slow}, capacity=1, name="small") as small,
        start_node({queue: slow}, capacity=4, name="big") as big,
    ):
        records = await client.enqueue_many(queue, [{} for _ in range(40)])
        finals = await asyncio.gather(*(client.wait(r.task_id, timeout=120) for r in records))
    by_node = {small.node_id: 0, big.node_id: 0}
    for final in finals:
        by_node[final.result] += 1
    assert sum(by_node.values()) == 40
    assert peak[small.node_id] == 1
    assert peak[big.node_id] <= 4
    assert by_node[big.node_id] > 2 * by_node[small.node_id]


async def test_starving_band_gets_its_turn(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    """With a steady stream of high-priority work, an old low task still starts."""
    stop = asyncio.Event()

    async def work(ctx: TaskContext, name: str) -> str:
        await asyncio.sleep(0.02)
        return name

    async with start_node({queue: work}, capacity=2, starvation_age_s=1.0):
        low = await client.enqueue(queue, {"name": "low"}, priority=1)

        async def keep_high_busy() -> None:
            while not stop.is_set():
                await client.enqueue_many(queue, [{"name": "high"}] * 20, priority=8)
                await asyncio.sleep(0.1)

        async with asyncio.TaskGroup() as group:
            feeder = group.create_task(keep_high_busy())
            final = await client.wait(low.task_id, timeout=60)
            stop.set()
            await feeder
    assert final.status is TaskStatus.COMPLETED


@pytest.mark.partitioned
async def test_idempotency_key_returns_the_original(client: Client, queue: str) -> None:
    first = await client.enqueue(queue, {"n": 1}, idempotency_key="order-17")
    again = await client.enqueue(queue, {"n": 1}, idempotency_key="order-17")
    other = await client.enqueue(queue, {"n": 1}, idempotency_key="order-18")
    assert again.task_id == first.task_id
    assert other.task_id != first.task_id


async def test_bad_input_raises_and_writes_nothing(client: Client, queue: str) -> None:
    before = await _stream_messages(client)
    cases: list[tuple[Any, type[Exception]]] = [
        (lambda: client.enqueue(queue, {}, priority=0), ValidationError),
        (lambda: client.enqueue(queue, {}, priority=11), ValidationError),
        (lambda: client.enqueue("", {}), ValidationError),
        (lambda: client.enqueue("Bad.Queue", {}), ValidationError),
        (lambda: client.enqueue(queue, {"x": object()}), ValidationError),
        (lambda: client.enqueue(queue, ["not", "a", "dict"]), InvalidTaskDataError),
        (lambda: client.enqueue(queue, {"blob": "x" * 2_000_000}), PayloadTooLargeError),
        (lambda: client.enqueue(queue, {}, timeout_seconds=-1), ValidationError),
        (lambda: client.enqueue_many(queue, [{"ok": 1}, {"bad": object()}]), ValidationError),
    ]
    for call, error in cases:
        with pytest.raises(error):
            await call()
    assert await _stream_messages(client) == before
    with pytest.raises(TaskNotFoundError):
        await client.status("task_00000000000000000000000000")


async def test_wait_times_out_with_a_clear_error(client: Client, queue: str) -> None:
    record = await client.enqueue(queue, {})
    with pytest.raises(TaskTimeoutError):
        await client.wait(record.task_id, timeout=0.2)


async def test_graceful_shutdown_hands_tasks_back(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    started = asyncio.Event()

    async def long(ctx: TaskContext) -> str:
        started.set()
        await asyncio.sleep(3600 if ctx.node_id.startswith("leaving") else 0)
        return ctx.node_id

    async with start_node({queue: long}, name="leaving", grace_s=0.2):
        record = await client.enqueue(queue, {})
        async with asyncio.timeout(30):
            await started.wait()
    handed_back = await client.status(record.task_id)
    assert handed_back.status is TaskStatus.ENQUEUED
    assert handed_back.attempts[-1].outcome is AttemptOutcome.INTERRUPTED
    async with start_node({queue: long}, name="staying"):
        final = await client.wait(record.task_id, timeout=30)
    assert final.status is TaskStatus.COMPLETED
    assert final.result.startswith("staying")
    assert final.retry_count == 0


async def _status_is(client: Client, task_id: str, status: TaskStatus) -> bool:
    return (await client.status(task_id)).status is status


async def _no_running(node: Any) -> bool:
    return node.in_flight == 0


async def _stream_messages(client: Client) -> tuple[int, int]:
    js = client._js
    assert js is not None
    work = await js.stream_info("PRSM_WORK")
    tasks = await js.stream_info("KV_PRSM_TASKS")
    return work.state.last_seq, tasks.state.last_seq


async def test_topology_bootstrap_is_safe_when_many_start_at_once(tmp_path: Path) -> None:
    """On a new server, six clients creating the streams and buckets at once all succeed."""
    server = EmbeddedNats(store_dir=tmp_path / "fresh").start()
    clients = [Client(server.url, name=f"bootstrap-{n}") for n in range(6)]
    try:
        await asyncio.gather(*(c.open() for c in clients))
        statuses = await asyncio.gather(
            *(c.enqueue("bootstrap-check", {"n": n}) for n, c in enumerate(clients))
        )
        assert {s.status for s in statuses} == {TaskStatus.ENQUEUED}
    finally:
        await asyncio.gather(*(c.close() for c in clients))
        server.stop()


async def test_a_second_work_message_does_not_take_a_running_task_over(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    """A duplicate message (priority change, late re-publish) is dropped, not a lost lease.

    Node A runs the task and also pulls the duplicate; node B joins afterwards. Were A to
    hold on to the duplicate instead of the message it claimed from, that one's lease would
    lapse and B would take a healthy task over.
    """
    from prsm_tasks import wire
    from prsm_tasks.store.tasks import encode_record

    started = asyncio.Event()

    async def slow(ctx: TaskContext) -> str:
        started.set()
        await asyncio.sleep(4.0)  # several leases long: A must keep renewing the right one
        return ctx.node_id

    async with start_node({queue: slow}, capacity=4, lease_s=1.0, name="node-a"):
        record = await client.enqueue(queue, {})
        async with asyncio.timeout(30):
            await started.wait()
        current = await client.status(record.task_id)
        store, js = client._store, client._js
        assert store is not None and js is not None
        _, rev = await store.get(record.task_id)
        await store.requests.request(
            wire.work_subject(queue, current.band),
            wire.encode_work(rev, encode_record(current), first=False),
            headers={"Nats-Msg-Id": record.task_id + "-duplicate"},
        )
        consumer = wire.work_consumer(queue, current.band)

        async def duplicate_delivered() -> bool:
            return (await js.consumer_info(wire.WORK_STREAM, consumer)).num_pending == 0

        await eventually(duplicate_delivered, within_s=30)
        async with start_node({queue: slow}, capacity=4, lease_s=1.0, name="node-b"):
            final = await client.wait(record.task_id, timeout=60)
    assert final.status is TaskStatus.COMPLETED
    assert [a.outcome for a in final.attempts] == [AttemptOutcome.COMPLETED]
    assert final.result == "node-a"


async def test_shutdown_hands_back_a_blocking_sync_handler_within_grace(
    client: Client, queue: str, nats_url: str
) -> None:
    from prsm_tasks import Node
    from prsm_tasks.handlers import HandlerRegistry

    started, finished = threading.Event(), threading.Event()

    def blocking(ctx: TaskContext) -> str:
        started.set()
        threading.Event().wait(5.0)  # ignores the cancel flag
        finished.set()
        return "too late"

    registry = HandlerRegistry()
    registry.register(blocking, queue=queue)
    node = Node(servers=nats_url, handlers=registry, grace_s=0.3)
    async with node:
        record = await client.enqueue(queue, {})
        await asyncio.to_thread(started.wait, 30)
    # the node stopped (no exception) while the thread was still blocked
    assert not finished.is_set()
    handed_back = await client.status(record.task_id)
    assert handed_back.status is TaskStatus.ENQUEUED
    assert handed_back.attempts[-1].outcome is AttemptOutcome.INTERRUPTED


async def test_shutdown_after_a_sync_timeout_is_clean(
    client: Client, queue: str, nats_url: str
) -> None:
    """A timed-out sync handler still running at shutdown: the retry stands, no crash."""
    from prsm_tasks import Node
    from prsm_tasks.handlers import HandlerRegistry

    started = threading.Event()

    def overrunning(ctx: TaskContext) -> None:
        started.set()
        threading.Event().wait(3.0)

    registry = HandlerRegistry()
    registry.register(overrunning, queue=queue)
    node = Node(servers=nats_url, handlers=registry, grace_s=0.2, retry_base_s=30)
    async with node:
        record = await client.enqueue(queue, {}, timeout_seconds=0.3, max_retries=2)
        await asyncio.to_thread(started.wait, 30)

        async def retry_written() -> bool:
            return (await client.status(record.task_id)).retry_count == 1

        await eventually(retry_written, within_s=30)
    after = await client.status(record.task_id)
    assert after.status is TaskStatus.ENQUEUED
    assert [a.outcome for a in after.attempts] == [AttemptOutcome.TIMEOUT]
    assert after.retry_count == 1


async def test_finished_records_expire_after_the_retention(tmp_path: Path) -> None:
    """A final record expires (and leaves a delete marker); an unfinished one stays."""
    from prsm_tasks import Node
    from prsm_tasks.handlers import HandlerRegistry
    from prsm_tasks.topology import Topology

    async def done(ctx: TaskContext) -> str:
        return "done"

    topology = Topology(finished_task_ttl_s=2.0)
    server = EmbeddedNats(store_dir=tmp_path / "retention").start()
    try:
        registry = HandlerRegistry()
        registry.register(done, queue="served")
        node = Node(servers=server.url, handlers=registry, topology=topology)
        async with Client(server.url, topology=topology) as client, node:
            finished = await client.enqueue("served", {})
            waiting = await client.enqueue("nobody-serves-this", {})
            assert (await client.wait(finished.task_id, timeout=30)).status is TaskStatus.COMPLETED

            async def expired() -> bool:
                try:
                    await client.status(finished.task_id)
                except TaskNotFoundError:
                    return True
                return False

            await eventually(expired, within_s=30)
            assert (await client.status(waiting.task_id)).status is TaskStatus.ENQUEUED
    finally:
        server.stop()


async def test_parked_pulls_never_take_a_node_over_its_capacity(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    """Six queues, two slots, a steady trickle in every band: sweeps and parked pulls both
    deliver, and never more than two handlers run at once."""
    import random

    running = {"now": 0, "most": 0}

    async def work(ctx: TaskContext) -> None:
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
        try:
            await asyncio.sleep(random.uniform(0.001, 0.02))
        finally:
            running["now"] -= 1

    queues = [f"{queue}-{n}" for n in range(6)]
    async with start_node(dict.fromkeys(queues, work), capacity=2):
        records = []
        for _ in range(60):
            records += await asyncio.gather(
                *(
                    client.enqueue(random.choice(queues), {}, priority=random.choice([2, 5, 8, 10]))
                    for _ in range(4)
                )
            )
            await asyncio.sleep(random.uniform(0, 0.02))
        for record in records:
            await client.wait(record.task_id, timeout=60)
    assert running["most"] == 2
