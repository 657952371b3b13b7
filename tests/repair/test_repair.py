"""The repair: tasks recorded without their work message run, once.

These tests run on a nats-server of their own: they delete the work stream to make a
publish fail for real, and they need the repair lease to themselves.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from prsm_tasks import Client, TaskContext, wire
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.errors import EnqueueIncompleteError
from prsm_tasks.models import TaskStatus
from prsm_tasks.store.leases import KvLease
from prsm_tasks.store.opener import Connection, Stores, open_stores
from prsm_tasks.store.options import TaskOptions
from prsm_tasks.store.repair import Candidate, Repair
from prsm_tasks.topology import Topology
from tests.conftest import NodeFactory, eventually
from tests.edge.test_errors import assert_error
from tests.task_types.conftest import Caller, register

# the repair of these tests: a record unchanged for 1 s is looked at, passes 5 times a second
FAST_REPAIR = {"repair_after_s": 1.0, "repair_interval_s": 0.2}
DUPLICATE_WINDOW_S = 1.0


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(store_dir=tmp_path_factory.mktemp("repair-nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def nats_url(own_server: EmbeddedNats) -> str:
    return own_server.url


@pytest.fixture
async def stores(nats_url: str) -> AsyncIterator[Stores]:
    """Made first on this server: the work stream forgets message ids after 1 s, so a second
    message for the same task is stored (as after the default window of two minutes)."""
    topology = Topology(duplicate_window_s=DUPLICATE_WINDOW_S)
    async with open_stores(Connection(servers=nats_url, name="test", topology=topology)) as opened:
        config = (await opened.js.stream_info(wire.WORK_STREAM)).config
        if config.duplicate_window != DUPLICATE_WINDOW_S:  # made before by another process
            config.duplicate_window = DUPLICATE_WINDOW_S
            await opened.js.update_stream(config)
        yield opened


async def bind_work_subjects(stores: Stores, subjects: str) -> None:
    config = (await stores.js.stream_info(wire.WORK_STREAM)).config
    config.subjects = [subjects]
    await stores.js.update_stream(config)


class Runs:
    """A handler with a side effect, counted per task."""

    def __init__(self, hold_s: float = 0.0) -> None:
        self.by_task: dict[str, int] = {}
        self.hold_s = hold_s

    async def handler(self, ctx: TaskContext, **data: Any) -> str:
        self.by_task[ctx.task_id] = self.by_task.get(ctx.task_id, 0) + 1
        await asyncio.sleep(self.hold_s)
        return "ran"


async def final_statuses(stores: Stores, task_ids: list[str]) -> list[TaskStatus]:
    return [(await stores.tasks.get(task_id))[0].status for task_id in task_ids]


async def all_completed(stores: Stores, task_ids: list[str]) -> None:
    async def check() -> bool:
        statuses = await final_statuses(stores, task_ids)
        return statuses == [TaskStatus.COMPLETED] * len(task_ids)

    await eventually(check, within_s=60)


async def test_a_record_without_its_message_runs_once(
    stores: Stores, queue: str, start_node: NodeFactory
) -> None:
    """The record is written and the publish never happens (a producer killed between)."""
    writer = stores.writer
    lost = writer.prepare(queue, {"n": 1}, TaskOptions())
    await stores.tasks.create_encoded(lost.record.task_id, lost.payload)
    queued = await writer.enqueue(queue, {"n": 2}, TaskOptions())  # its message is there
    runs = Runs()
    async with start_node({queue: runs.handler}, **FAST_REPAIR) as node:
        await all_completed(stores, [lost.record.task_id, queued.task_id])
        sweeper = node.repair_sweeper
        assert sweeper is not None
        passes = sweeper.passes
        await eventually(lambda: _more_passes(node, passes + 3))  # nothing more comes of them
    assert runs.by_task == {lost.record.task_id: 1, queued.task_id: 1}


async def _more_passes(node: Any, count: int) -> bool:
    return bool(node.repair_sweeper.passes >= count)


async def test_failed_publishes_answer_what_was_written_and_are_repaired(
    stores: Stores,
    queue: str,
    edge: RunningEdge,
    alice: Caller,
    client: Client,
    start_node: NodeFactory,
) -> None:
    """The work stream takes no messages (a wedged server answers no better). A task sent
    before the edge learns it was accepted with its record; from then on every enqueue path
    answers 503 enqueue_incomplete naming what it wrote, and the repair runs it all."""
    kind = await register(alice, f"tt-{queue}", metadata={"queue_name": queue})
    assert kind["queue_name"] == queue
    await bind_work_subjects(stores, "prsm.work-off.>")  # no stream answers a work publish

    accepted: list[str] = []  # sent before the refusal was known: recorded, queued later
    while True:
        single = await alice.post("/enqueue", {"queue_name": queue, "task_data": {"n": 1}})
        if single.status != 200:
            break
        accepted.append(single.body["task_id"])
        assert len(accepted) < 50, "the edge never learnt that the stream does not answer"
    assert_error(single, 503, "enqueue_incomplete")
    assert single.body["status"] == "enqueued" and single.body["task_id"].startswith("task_")

    bulk = await alice.post(
        "/bulk/enqueue",
        {
            "queue_name": queue,
            "tasks": [{"task_data": {"n": n}} for n in range(3)],
            "batch_options": {"max_concurrent": 1},
        },
    )
    assert_error(bulk, 503, "enqueue_incomplete")
    assert bulk.body["batch_id"].startswith("batch_") and len(bulk.body["task_ids"]) == 3

    listed = await alice.post(
        "/api/tasks", {"task_type_id": kind["id"], "parameters": {"format": "mp4"}}
    )
    assert_error(listed, 503, "enqueue_incomplete")
    assert listed.body["status"] == "enqueued" and listed.body["detail"]

    while True:  # the native client learns the refusal from its own first send
        try:
            accepted.append((await client.enqueue(queue, {"n": 5})).task_id)
        except EnqueueIncompleteError as refused:
            native = refused
            break
        assert len(accepted) < 100, "the client never learnt that the stream does not answer"
    assert native.task_id is not None and native.details["status"] == "enqueued"

    with pytest.raises(EnqueueIncompleteError) as raised:
        await client.enqueue_many(queue, [{"n": 6}, {"n": 7}])
    many = raised.value.details["task_ids"]
    assert len(many) == 2

    written = [single.body["task_id"], *bulk.body["task_ids"], listed.body["task_id"]]
    written.append(native.task_id)
    statuses = await final_statuses(stores, written)
    waiting = [TaskStatus.WAITING] * 2  # the bulk's, released one after another
    assert statuses == [TaskStatus.ENQUEUED] * 2 + waiting + [TaskStatus.ENQUEUED] * 2
    runs = Runs()
    written += many + accepted
    await bind_work_subjects(stores, f"{wire.WORK_PREFIX}.>")
    async with start_node({queue: runs.handler}, **FAST_REPAIR):
        await all_completed(stores, written)
    assert runs.by_task == dict.fromkeys(written, 1)


async def test_a_bulk_whose_first_tasks_were_never_written_goes_on(
    stores: Stores, queue: str, start_node: NodeFactory
) -> None:
    """The batch and its waiting tasks are written, then the bulk fails before the ones
    that may start: nothing would ever release the waiting ones."""
    batches = stores.batches
    items = [({"n": n}, TaskOptions()) for n in range(4)]
    prepared = batches.prepare(
        queue, items, parallel=True, max_concurrent=2, fail_fast=False, user=None, tenant=None
    )
    await batches._kv.create(
        prepared.batch.batch_id, wire.pack(prepared.batch.model_dump(mode="python"))
    )
    waiting = [await batches.writer.hold(task) for task in prepared.tasks[2:]]
    runs = Runs()
    async with start_node({queue: runs.handler}, **FAST_REPAIR):
        await all_completed(stores, [record.task_id for record in waiting])
    assert runs.by_task == {record.task_id: 1 for record in waiting}


async def test_a_second_message_of_a_queued_task_runs_it_once(
    stores: Stores, queue: str, start_node: NodeFactory
) -> None:
    """The repair misjudged: the original message (a first one, which a node may start
    before its claim) was queued after all, and the repair's arrives past the duplicate
    window. One node starts the original; another takes the repair's while the first has
    not written its claim yet (a long ``claim_after_s`` widens that moment)."""
    record = await stores.writer.enqueue(queue, {}, TaskOptions())
    await asyncio.sleep(DUPLICATE_WINDOW_S + 0.5)
    repair = Repair(stores.js, stores.tasks, stores.batches, after_s=0.0, scan_limit=100)
    candidate = Candidate(
        task_id=record.task_id,
        rev=(await stores.tasks.get(record.task_id))[1],
        written_at=record.created_at,
        queue=queue,
        band=str(record.band),
    )
    assert await repair.republish([candidate]) == 1
    subject = wire.work_subject(queue, record.band)
    info = await stores.js.stream_info(wire.WORK_STREAM, subjects_filter=subject)
    assert info.state.subjects == {subject: 2}  # both are stored
    runs = Runs(hold_s=1.0)
    options = {"capacity": 1, "claim_after_s": 3.0, "repair_after_s": 0.0}
    async with start_node({queue: runs.handler}, **options) as first:

        async def first_took_one() -> bool:
            return first.in_flight == 1

        await eventually(first_took_one)
        async with start_node({queue: runs.handler}, **options):
            await all_completed(stores, [record.task_id])
            await eventually(lambda: _work_gone(stores, queue, record.band))
    assert runs.by_task == {record.task_id: 1}


async def _work_gone(stores: Stores, queue: str, band: str) -> bool:
    subject = wire.work_subject(queue, band)
    info = await stores.js.stream_info(wire.WORK_STREAM, subjects_filter=subject)
    return not info.state.subjects


async def test_republished_messages_of_running_and_finished_tasks_are_dropped(
    stores: Stores, queue: str, start_node: NodeFactory
) -> None:
    runs = Runs()
    release = asyncio.Event()

    async def slow(ctx: TaskContext, **data: Any) -> str:
        runs.by_task[ctx.task_id] = runs.by_task.get(ctx.task_id, 0) + 1
        if data.get("slow"):
            async with asyncio.timeout(60):
                await release.wait()
        return "ran"

    options = {"capacity": 2, "repair_after_s": 0.0}
    async with start_node({queue: slow}, **options), start_node({queue: slow}, **options):
        done = await stores.writer.enqueue(queue, {}, TaskOptions())
        running = await stores.writer.enqueue(queue, {"slow": True}, TaskOptions())
        await all_completed(stores, [done.task_id])

        async def processing() -> bool:
            record, _ = await stores.tasks.get(running.task_id)
            return record.status is TaskStatus.PROCESSING

        await eventually(processing)
        await asyncio.sleep(DUPLICATE_WINDOW_S + 0.5)
        # the messages as the repair sends them, from the records as they were when queued
        for record in (done, running):
            await stores.writer.republish(record, record.created_rev or 0)
        await eventually(lambda: _only_running_left(stores, queue, running.band))
        release.set()
        await all_completed(stores, [running.task_id])
    assert runs.by_task == {done.task_id: 1, running.task_id: 1}


async def _only_running_left(stores: Stores, queue: str, band: str) -> bool:
    """The duplicates were settled: only the running task's own message is left."""
    subject = wire.work_subject(queue, band)
    info = await stores.js.stream_info(wire.WORK_STREAM, subjects_filter=subject)
    return (info.state.subjects or {}).get(subject, 0) == 1


async def test_the_lease_moves_to_another_node(
    stores: Stores, queue: str, start_node: NodeFactory
) -> None:
    """The holder stops; the other node takes the repair over and repairs what is lost."""
    runs = Runs()
    first_node = start_node({queue: runs.handler}, name="first", **FAST_REPAIR)
    first = await first_node.__aenter__()
    try:
        await eventually(lambda: _more_passes(first, 1))  # it holds the lease
        async with start_node({queue: runs.handler}, name="second", **FAST_REPAIR) as second:
            await first_node.__aexit__(None, None, None)
            first = None
            lost = stores.writer.prepare(queue, {}, TaskOptions())
            await stores.tasks.create_encoded(lost.record.task_id, lost.payload)
            await all_completed(stores, [lost.record.task_id])
            assert second.repair_sweeper is not None and second.repair_sweeper.passes > 0
    finally:
        if first is not None:
            await first_node.__aexit__(None, None, None)
    assert runs.by_task == {lost.record.task_id: 1}


async def test_a_pass_reads_at_most_its_limit_and_never_repeats_a_backlog(
    stores: Stores, queue: str
) -> None:
    """25 tasks queued with no node: each pass reads 10 records and looks at 10 work
    messages; none of them is lost, so nothing is published again."""
    records = [await stores.writer.enqueue(queue, {"n": n}, TaskOptions()) for n in range(25)]
    ids = [record.task_id for record in records]
    repair = Repair(stores.js, stores.tasks, stores.batches, after_s=0.0, scan_limit=10)
    first = records[0].created_rev
    assert first is not None
    scan = await repair.scan(first, horizon=time.time())
    assert scan.read == 10 and [c.task_id for c in scan.candidates] == ids[:10]

    cursor, report = await repair.sweep(first)
    assert (report.read, report.republished, report.deferred) == (10, 0, 0)  # seen queued
    cursor, report = await repair.sweep(cursor)
    # behind the first ten messages: not known to be lost, looked at again next pass
    assert (report.read, report.republished, report.deferred) == (10, 0, 10)
    assert repair.resume_from(cursor) == records[10].created_rev
    subject = wire.work_subject(queue, records[0].band)
    info = await stores.js.stream_info(wire.WORK_STREAM, subjects_filter=subject)
    assert info.state.subjects == {subject: 25}


async def test_an_expired_lease_is_taken_over_and_its_holder_stops(stores: Stores) -> None:
    """A holder that stops renewing (a node killed) loses the lease once it expires; the
    taker goes on from its cursor, and the old holder's next renewal fails."""
    kv = await stores.js.key_value(wire.LEASES_BUCKET)
    key = f"test-{uuid.uuid4().hex[:8]}"
    dead = KvLease(kv, key, holder="dead", lease_s=0.5)
    taker = KvLease(kv, key, holder="taker", lease_s=30.0)
    assert await dead.acquire() == 0
    assert await taker.acquire() is None  # held and not expired
    assert await dead.renew(42)
    taken: list[int] = []

    async def took() -> bool:
        cursor = await taker.acquire()
        if cursor is not None:
            taken.append(cursor)
        return bool(taken)

    await eventually(took)
    assert taken == [42] and taker.held
    assert not await dead.renew(43) and not dead.held  # it learns, and stops
    assert await taker.renew(44)


async def test_a_work_message_refused_after_acceptance_is_sent_again(
    stores: Stores, queue: str, client: Client, start_node: NodeFactory
) -> None:
    """An enqueue returns once the record is stored; its work message follows. When the
    stream does not take it, the producer sends it again until it does: the task runs once,
    with no repair pass (the node here runs none)."""
    await bind_work_subjects(stores, "prsm.work-off.>")
    record = await client.enqueue(queue, {"n": 1})
    assert (await stores.tasks.get(record.task_id))[0].status is TaskStatus.ENQUEUED
    sends = client._parts()[1].sends

    async def refusal_known() -> bool:
        return sends.trouble is not None

    await eventually(refusal_known)
    await bind_work_subjects(stores, f"{wire.WORK_PREFIX}.>")
    runs = Runs()
    async with start_node({queue: runs.handler}, repair_after_s=0):
        await all_completed(stores, [record.task_id])
    assert runs.by_task == {record.task_id: 1}
    assert sends.trouble is None and sends.left_to_repair == 0


async def test_a_closing_client_waits_for_its_work_messages(
    stores: Stores, queue: str, nats_url: str
) -> None:
    """Closing right after enqueues leaves no task without its message."""
    async with Client(nats_url) as producer:
        records = [await producer.enqueue(queue, {"n": n}) for n in range(20)]
    subject = wire.work_subject(queue, "normal")
    info = await stores.js.stream_info(wire.WORK_STREAM, subjects_filter=subject)
    # the stream holds the module's other tests' messages too: count this queue's
    assert (info.state.subjects or {}).get(subject, 0) == len(records)
