"""Per-tenant quotas on a real edge: unfinished tasks, task types (count and size), the
queues a tenant's types use and the work consumers a claim creates. Each limit answers a
clear 4xx naming it, writes nothing when it refuses, and leaves other tenants alone."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import nats
import nats.js.errors
import pytest

from prsm_tasks import wire
from prsm_tasks.edge.app import open_edge
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.edge.http.state import EdgeConfig
from prsm_tasks.models import BANDS_HIGH_TO_LOW
from prsm_tasks.services.core import QueueRules
from prsm_tasks.services.quotas import Quotas, unfinished_of
from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import Caller, token
from tests.edge.test_errors import assert_error

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}}


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def open_quota_edge(edge_config: Callable[..., EdgeConfig], queue: str) -> Callable[..., Any]:
    def open_with(**quotas: Any) -> Any:
        return open_edge(edge_config(rules=QueueRules(queues=(queue,)), quotas=Quotas(**quotas)))

    return open_with


@pytest.fixture
async def small_edge(open_quota_edge: Callable[..., Any]) -> AsyncIterator[RunningEdge]:
    async with open_quota_edge(
        max_unfinished_tasks=3,
        max_task_types=2,
        max_task_type_bytes=1024,
        max_queues=1,
        max_priority_moves=2,
        claim_consumer_idle_s=1.0,
    ) as running:
        yield running


def caller(
    session: aiohttp.ClientSession, edge: RunningEdge, tenant: str, user: str = "alice"
) -> Caller:
    return Caller(session, edge.url, token(user, tenant, roles=("admin",)))


def assert_quota(answer: Any, status: int, code: str, limit: str) -> None:
    assert_error(answer, status, code)
    assert answer.body["limit"] == limit, answer.body


# --- unfinished tasks ----------------------------------------------------------------------


async def test_unfinished_tasks_are_bounded_per_tenant(
    small_edge: RunningEdge, session: aiohttp.ClientSession, tenant: str, queue: str
) -> None:
    alice = caller(session, small_edge, tenant)
    other = caller(session, small_edge, tenant + "-other", "bob")
    view = small_edge.services.view
    ids = []
    for n in range(3):
        body = {"queue_name": queue, "task_data": {"n": n}, "idempotency_key": f"k{n}"}
        answer = await alice.post("/enqueue", body)
        assert answer.status == 200, answer.body
        ids.append(answer.body["task_id"])

    refused = await alice.post("/enqueue", {"queue_name": queue, "task_data": {"n": 3}})
    assert_quota(refused, 429, "unfinished_task_limit", "PRSM_MAX_UNFINISHED_TASKS_PER_TENANT")
    assert refused.body["maximum"] == 3
    bulk = await alice.post(
        "/bulk/enqueue", {"queue_name": queue, "tasks": [{"task_data": {}}, {"task_data": {}}]}
    )
    assert_quota(bulk, 429, "unfinished_task_limit", "PRSM_MAX_UNFINISHED_TASKS_PER_TENANT")
    assert unfinished_of(view, tenant) == 3  # nothing was written
    # a retry of an accepted enqueue adds nothing: it answers as the first time
    retry = {"queue_name": queue, "task_data": {"n": 2}, "idempotency_key": "k2"}
    replayed = await alice.post("/enqueue", retry)
    assert replayed.status == 200 and replayed.body["task_id"] == ids[2], replayed.body
    listed = await alice.get("/tasks", queue_name=queue)
    assert listed.body["pagination"]["total_count"] == 3

    # another tenant is not affected
    assert (await other.post("/enqueue", {"queue_name": queue, "task_data": {}})).status == 200

    # a task that ends frees its place
    assert (await alice.delete(f"/cancel/{ids[0]}")).status == 200
    again = await alice.post("/enqueue", {"queue_name": queue, "task_data": {"n": 4}})
    assert again.status == 200, again.body


async def test_task_list_creates_count_towards_unfinished_tasks(
    small_edge: RunningEdge, session: aiohttp.ClientSession, tenant: str, queue: str
) -> None:
    alice = caller(session, small_edge, tenant)
    name = f"tt-{uuid.uuid4().hex[:8]}"
    created = await alice.post(
        "/api/task-types",
        {"name": name, "parameters_schema": SCHEMA, "metadata": {"queue_name": queue}},
    )
    assert created.status == 201, created.body
    for n in range(3):
        answer = await alice.post("/api/tasks", {"task_type": name, "parameters": {"n": n}})
        assert answer.status == 201, answer.body
    refused = await alice.post("/api/tasks", {"task_type": name, "parameters": {"n": 9}})
    assert_quota(refused, 429, "unfinished_task_limit", "PRSM_MAX_UNFINISHED_TASKS_PER_TENANT")
    assert refused.body["detail"]
    assert len((await alice.get("/api/tasks")).body) == 3


async def test_priority_moves_of_a_pending_task_are_bounded(
    small_edge: RunningEdge, session: aiohttp.ClientSession, tenant: str, queue: str
) -> None:
    """Each move to another band queues one more work message: counted per task."""
    alice = caller(session, small_edge, tenant)
    name = f"tt-{uuid.uuid4().hex[:8]}"
    created = await alice.post("/api/task-types", {"name": name, "metadata": {"queue_name": queue}})
    assert created.status == 201, created.body
    task = await alice.post("/api/tasks", {"task_type": name, "parameters": {}, "priority": 1})
    assert task.status == 201, task.body
    path = f"/api/tasks/{task.body['task_id']}"
    for priority in (1000, 1, 50):  # two moves, then one within the critical band
        moved = await alice.call("PUT", path, {"priority": priority})
        assert moved.status == 200, moved.body
    stored = (await alice.get(f"/status/{task.body['task_id']}")).body
    messages = (await small_edge.services.stores.js.stream_info(wire.WORK_STREAM)).state.messages

    refused = await alice.call("PUT", path, {"priority": 1000})
    assert_quota(refused, 429, "priority_move_limit", "PRSM_MAX_PRIORITY_MOVES_PER_TASK")
    assert refused.body["field"] == "priority"
    now = (await alice.get(f"/status/{task.body['task_id']}")).body
    assert now["priority"] == stored["priority"] == 10, now
    after = (await small_edge.services.stores.js.stream_info(wire.WORK_STREAM)).state.messages
    assert after <= messages  # no message was added (others' tasks may have been taken)
    # other fields may still change
    assert (await alice.call("PUT", path, {"metadata": {"note": "ok"}})).status == 200


# --- task types ----------------------------------------------------------------------------


async def test_task_types_are_bounded_in_count_per_tenant(
    small_edge: RunningEdge, session: aiohttp.ClientSession, tenant: str, queue: str
) -> None:
    alice = caller(session, small_edge, tenant)
    other = caller(session, small_edge, tenant + "-other", "bob")
    body = {"parameters_schema": SCHEMA, "metadata": {"queue_name": queue}}
    type_ids = []
    for n in range(2):
        answer = await alice.post("/api/task-types", {"name": f"kind-{n}", **body})
        assert answer.status == 201, answer.body
        type_ids.append(answer.body["id"])
    # a deactivated type keeps its name, so it still counts
    assert (await alice.delete(f"/api/task-types/{type_ids[0]}")).status == 204

    refused = await alice.post("/api/task-types", {"name": "kind-2", **body})
    assert_quota(refused, 429, "task_type_limit", "PRSM_MAX_TASK_TYPES_PER_TENANT")
    assert refused.body["maximum"] == 2
    services = small_edge.services
    assert await services.type_store.find("kind-2", tenant=tenant) is None  # nothing written
    assert (await other.post("/api/task-types", {"name": "kind-2", **body})).status == 201


async def test_task_type_size_is_bounded_on_create_and_update(
    small_edge: RunningEdge, session: aiohttp.ClientSession, tenant: str, queue: str
) -> None:
    alice = caller(session, small_edge, tenant)
    big = {**SCHEMA, "description": "x" * 2000}
    refused = await alice.post("/api/task-types", {"name": "big", "parameters_schema": big})
    assert_quota(refused, 422, "task_type_too_large", "PRSM_MAX_TASK_TYPE_BYTES")
    assert refused.body["field"] == "parameters_schema"
    padded = {"queue_name": queue, "notes": "y" * 2000}
    refused = await alice.post("/api/task-types", {"name": "big", "metadata": padded})
    assert_quota(refused, 422, "task_type_too_large", "PRSM_MAX_TASK_TYPE_BYTES")
    assert await small_edge.services.type_store.find("big", tenant=tenant) is None

    small = await alice.post(
        "/api/task-types", {"name": "small", "metadata": {"queue_name": queue}}
    )
    assert small.status == 201, small.body
    grown = await alice.call(
        "PUT", f"/api/task-types/{small.body['id']}", {"parameters_schema": big}
    )
    assert_quota(grown, 422, "task_type_too_large", "PRSM_MAX_TASK_TYPE_BYTES")
    stored, _ = await small_edge.services.type_store.get_by_id(small.body["id"])
    assert stored.parameters_schema is None  # unchanged


async def test_queues_of_a_tenants_types_are_bounded(
    open_quota_edge: Callable[..., Any], session: aiohttp.ClientSession, tenant: str, queue: str
) -> None:
    async with open_quota_edge(max_queues=1) as running:
        await check_queue_limit(running, session, tenant, queue)


async def check_queue_limit(
    small_edge: RunningEdge, session: aiohttp.ClientSession, tenant: str, queue: str
) -> None:
    alice = caller(session, small_edge, tenant)
    other = caller(session, small_edge, tenant + "-other", "bob")
    own_queue = f"own-{uuid.uuid4().hex[:8]}"
    first = await alice.post(
        "/api/task-types", {"name": "a", "metadata": {"queue_name": own_queue}}
    )
    assert first.status == 201, first.body
    # a configured queue is free
    configured = await alice.post(
        "/api/task-types", {"name": "b", "metadata": {"queue_name": queue}}
    )
    assert configured.status == 201, configured.body

    refused = await alice.post("/api/task-types", {"name": "c"})  # its own queue, "c"
    assert_quota(refused, 429, "queue_limit", "PRSM_MAX_QUEUES_PER_TENANT")
    assert refused.body["field"] == "metadata.queue_name"
    moved = await alice.call(
        "PUT", f"/api/task-types/{configured.body['id']}", {"metadata": {"queue_name": "elsewhere"}}
    )
    assert_quota(moved, 429, "queue_limit", "PRSM_MAX_QUEUES_PER_TENANT")
    stored, _ = await small_edge.services.type_store.get_by_id(configured.body["id"])
    assert stored.queue == queue  # unchanged
    # the type that owns the one queue may move to another
    renamed = await alice.call(
        "PUT", f"/api/task-types/{first.body['id']}", {"metadata": {"queue_name": "elsewhere"}}
    )
    assert renamed.status == 200, renamed.body
    assert (await other.post("/api/task-types", {"name": "c"})).status == 201


# --- work consumers of claims --------------------------------------------------------------


async def consumer_exists(js: Any, queue: str, band: Any) -> bool:
    try:
        await js.consumer_info(wire.WORK_STREAM, wire.work_consumer(queue, band))
    except nats.js.errors.NotFoundError:
        return False
    return True


async def test_consumers_a_claim_created_go_when_idle_but_not_while_held(
    small_edge: RunningEdge, session: aiohttp.ClientSession, tenant: str, nats_url: str
) -> None:
    alice = caller(session, small_edge, tenant)
    name = f"tt-{uuid.uuid4().hex[:8]}"
    created = await alice.post("/api/task-types", {"name": name})
    assert created.status == 201, created.body
    own_queue = created.body["metadata"].get("queue_name") or name
    claim = {"task_type": name, "worker_id": "w1", "lease_seconds": 60}
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        assert (await alice.post("/api/tasks/claim", claim)).status == 204
        for band in BANDS_HIGH_TO_LOW:
            assert await consumer_exists(js, own_queue, band)

        async def all_gone() -> bool:
            found = [await consumer_exists(js, own_queue, band) for band in BANDS_HIGH_TO_LOW]
            return not any(found)

        await eventually(all_gone, interval_s=0.2)

        # the next claim makes them again, and one holding a task keeps its consumer
        task = await alice.post("/api/tasks", {"task_type": name, "parameters": {}})
        assert task.status == 201, task.body
        claimed = await alice.post("/api/tasks/claim", claim)
        assert claimed.status == 200 and claimed.body["task_id"] == task.body["task_id"]
        await eventually(all_gone_but_one(js, own_queue), interval_s=0.2)
        held = [band for band in BANDS_HIGH_TO_LOW if await consumer_exists(js, own_queue, band)]
        assert len(held) == 1
        info = await js.consumer_info(wire.WORK_STREAM, wire.work_consumer(own_queue, held[0]))
        assert info.num_ack_pending == 1

        done = await alice.call(
            "PUT",
            f"/api/tasks/{task.body['task_id']}",
            {"status": "completed", "worker_id": "w1", "result": {}},
        )
        assert done.status == 200, done.body
        await eventually(all_gone, interval_s=0.2)
    finally:
        await nc.close()


def all_gone_but_one(js: Any, queue: str) -> Callable[[], Any]:
    async def check() -> bool:
        found = [await consumer_exists(js, queue, band) for band in BANDS_HIGH_TO_LOW]
        return sum(found) == 1

    return check


async def test_a_node_that_serves_the_queue_keeps_the_consumers(
    small_edge: RunningEdge,
    session: aiohttp.ClientSession,
    tenant: str,
    nats_url: str,
    start_node: NodeFactory,
) -> None:
    """Consumers a claim made with an idle limit are shared with peer nodes: a node that
    starts serving the queue takes them over as its own, with no idle limit."""
    alice = caller(session, small_edge, tenant)
    own_queue = f"own-{uuid.uuid4().hex[:8]}"
    name = f"tt-{uuid.uuid4().hex[:8]}"
    created = await alice.post(
        "/api/task-types", {"name": name, "metadata": {"queue_name": own_queue}}
    )
    assert created.status == 201, created.body
    claim = {"task_type": name, "worker_id": "w1"}
    assert (await alice.post("/api/tasks/claim", claim)).status == 204
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        for band in BANDS_HIGH_TO_LOW:
            info = await js.consumer_info(wire.WORK_STREAM, wire.work_consumer(own_queue, band))
            assert info.config.inactive_threshold == 1.0

        async def handler(n: int = 0) -> int:
            return n

        async with start_node({own_queue: handler}, queues=[own_queue]):
            for band in BANDS_HIGH_TO_LOW:
                consumer = wire.work_consumer(own_queue, band)
                info = await js.consumer_info(wire.WORK_STREAM, consumer)
                assert not info.config.inactive_threshold
    finally:
        await nc.close()
