"""What the edge does on every request, made cheaper without changing what it answers: the
work stream's room read once for a burst, the /status read without headers, the watch's
reading of a delivery, the view's handling of its own writes, the grant in a stream URL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import nats
import pytest

from prsm_tasks import Client, wire
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.errors import TaskNotFoundError, WorkStreamFullError
from prsm_tasks.models import TaskRecord
from prsm_tasks.services.grants import GRANT_PARAM, with_grant
from prsm_tasks.services.quotas import WorkRoom
from prsm_tasks.services.view import Entry, TaskView
from prsm_tasks.store.opener import Connection, Stores, open_stores
from prsm_tasks.store.reads import get_raw
from prsm_tasks.store.watch import sequence_and_pending
from prsm_tasks.topology import Topology


@pytest.fixture
async def own_stores(own_server: EmbeddedNats) -> AsyncIterator[Stores]:
    async with open_stores(Connection(servers=[own_server.url], name="test-edge")) as stores:
        yield stores


async def api_requests(stores: Stores) -> int:
    """JetStream API requests this account has made so far (this read counts one)."""
    return (await stores.js.account_info()).api.total


async def test_a_burst_of_enqueues_reads_the_work_stream_once(own_stores: Stores) -> None:
    room = WorkRoom(own_stores.js, max_age_s=60.0)
    before = await api_requests(own_stores)
    # as many checks at once as requests in flight on a busy edge
    await asyncio.gather(*(room.check(1, 200) for _ in range(50)))
    after = await api_requests(own_stores)
    assert after - before == 2  # one stream info for the burst, and the second account read


async def test_a_burst_refused_by_a_full_stream_is_refused_whole(own_server: EmbeddedNats) -> None:
    topology = Topology(work_max_msgs=5, work_limits_explicit=True)
    connection = Connection(servers=[own_server.url], name="test-edge", topology=topology)
    async with open_stores(connection) as stores:
        room = WorkRoom(stores.js, max_age_s=60.0)
        answers = await asyncio.gather(
            *(room.check(1, 200) for _ in range(8)), return_exceptions=True
        )
    refused = [answer for answer in answers if isinstance(answer, WorkStreamFullError)]
    assert len(refused) == 3 and answers.count(None) == 5


@pytest.mark.partitioned
async def test_status_reads_find_what_is_there_and_nothing_else(
    client: Client, nats_url: str, topology: Topology, queue: str
) -> None:
    record = await client.enqueue(queue, {"n": 1})
    assert client._js is not None
    connection = Connection(servers=[nats_url], name="test-edge", topology=topology)
    async with open_stores(connection) as stores:
        partitions = stores.tasks.partitions
        assert partitions == topology.partitions
        found, _ = await get_raw(stores.tasks.requests, record.task_id, partitions=partitions)
        assert found["task_id"] == record.task_id and found["queue_name"] == queue
        missing = wire.new_task_id()
        with pytest.raises(TaskNotFoundError):
            await get_raw(stores.tasks.requests, missing, partitions=partitions)
        partition = wire.partition_of(record.task_id, partitions)
        kv = await client._js.key_value(wire.tasks_bucket(partition))
        await kv.delete(record.task_id)
        with pytest.raises(TaskNotFoundError):
            await get_raw(stores.tasks.requests, record.task_id, partitions=partitions)
        # the revision-reading form still reads the headers it needs
        with pytest.raises(TaskNotFoundError):
            await get_raw(stores.nc, record.task_id, partitions=partitions)


async def test_the_watch_reads_sequence_and_pending_of_both_reply_forms(
    nats_server: EmbeddedNats,
) -> None:
    assert sequence_and_pending("$JS.ACK.KV_X.c1.1.42.7.1700000000000000000.3") == (42, 3)
    longer = "$JS.ACK._.ACCHASH.KV_X.c1.1.42.7.1700000000000000000.3.rnd"
    assert sequence_and_pending(longer) == (42, 3)
    # and what a real server sends agrees with nats-py's own reading
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        kv = await js.key_value(wire.TASKS_BUCKET)
        key = wire.new_task_id()
        await kv.put(key, b"x")
        sub = await js.subscribe(f"$KV.{wire.TASKS_BUCKET}.{key}", ordered_consumer=True)
        msg = await sub.next_msg(timeout=10)
        meta = msg.metadata
        assert sequence_and_pending(msg.reply) == (meta.sequence.stream, meta.num_pending)
        await sub.unsubscribe()
        await kv.delete(key)
    finally:
        await nc.close()


def queued_entry(task_id: str, at: float, rev: int) -> Entry:
    return Entry(
        task_id=task_id, tenant="t", user="u", queue="q", status="enqueued", priority=5,
        created_at=at, enqueued_at=at, started_at=None, completed_at=None,
        first_started_at=None, retry_count=0, rev=rev,
    )  # fmt: skip


def test_the_watch_copy_of_an_own_write_keeps_its_place() -> None:
    view = TaskView()
    now = time.time()
    records = [
        TaskRecord(task_id=f"task_{n:026d}", queue_name="q", task_data={}, priority=5,
                   user="u", tenant="t", created_at=now + n, enqueued_at=now + n)
        for n in range(3)
    ]  # fmt: skip
    for record in records:
        view.apply_record(record)  # provisional: revision 0
    for rev, record in enumerate(records, start=1):
        view.apply(queued_entry(record.task_id, record.enqueued_at, rev))
    assert [view.position(record.task_id) for record in records] == [1, 2, 3]
    assert view.queued_by_band("q") == [0, 0, 3, 0]
    assert view.entries[records[1].task_id].rev == 2
    # a later write that moves it still moves it
    moved = queued_entry(records[0].task_id, now + 10, 9)
    view.apply(moved)
    assert [view.position(record.task_id) for record in records] == [3, 1, 2]
    assert view.queued_by_band("q") == [0, 0, 3, 0]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/tasks/task_x/events",
        "https://example.com/prsm/tasks/task_x/events",
        "/tasks/task_x/events",
    ],
)
def test_a_stream_url_gets_its_grant_as_the_general_path_gives_it(url: str) -> None:
    grant = "g1.1800000000.abcDEF-_0123456789abcdefghijklmnopqrstuvwxyzA"
    assert with_grant(url, grant) == f"{url}?{GRANT_PARAM}={grant}"
    assert with_grant(url + "?a=1", grant) == f"{url}?a=1&{GRANT_PARAM}={grant}"


def test_the_watch_copy_of_an_own_create_takes_its_revision_only() -> None:
    from prsm_tasks.store.tasks import encode_record

    view = TaskView()
    now = time.time()
    records = [
        TaskRecord(task_id=f"task_{n:026d}", queue_name="q", task_data={"n": n}, priority=5,
                   user="u", tenant="t", created_at=now + n, enqueued_at=now + n)
        for n in range(2)
    ]  # fmt: skip
    for record in records:
        view.apply_created(record, encode_record(record))
    # the first comes back as written; the second was changed before the watch saw it
    view.on_entry(records[0].task_id, encode_record(records[0]), 7)
    later = records[1].model_copy(update={"priority": 9})
    view.on_entry(records[1].task_id, encode_record(later), 8)
    first, second = (view.entries[record.task_id] for record in records)
    assert (first.rev, first.number, first.priority) == (7, 7, 5)
    assert (second.rev, second.priority) == (8, 9)
    assert view.task_of_number(7) == records[0].task_id
    assert [view.position(record.task_id) for record in records] == [2, 1]
