"""The PRSM Task API contract end to end: a real edge over HTTP, a real node, real NATS."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from prsm_tasks.edge.http.app import RunningEdge
from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import Caller
from tests.edge.handlers import echo, fail, slow

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
ENQUEUE_FIELDS = {
    "success", "task_id", "queue_name", "priority", "status",
    "estimated_wait_time_seconds", "position_in_queue", "stream_url",
}  # fmt: skip
STATUS_FIELDS = {
    "success", "task_id", "status", "progress", "queue_name", "priority", "created_at",
    "started_at", "estimated_completion", "worker_node", "retry_count", "max_retries",
    "result", "error",
}  # fmt: skip


async def final_status(caller: Caller, task_id: str) -> dict:
    seen: dict = {}

    async def finished() -> bool:
        answer = await caller.get(f"/status/{task_id}")
        seen.update(answer.body)
        return answer.body["status"] in ("completed", "failed", "cancelled", "timeout")

    await eventually(finished)
    return seen


@pytest.mark.partitioned
async def test_enqueue_status_result_list_stats(
    edge: RunningEdge, alice: Caller, start_node: NodeFactory, queue: str
) -> None:
    async with start_node({queue: echo}) as node:
        answer = await alice.post(
            "/enqueue", {"queue_name": queue, "task_data": {"text": "hello"}, "priority": 7}
        )
        assert answer.status == 200, answer.body
        body = answer.body
        assert set(body) >= ENQUEUE_FIELDS
        assert body["success"] is True and body["status"] == "enqueued"
        assert body["queue_name"] == queue and body["priority"] == 7
        assert isinstance(body["position_in_queue"], int) and body["position_in_queue"] >= 1
        assert isinstance(body["estimated_wait_time_seconds"], float)  # a live node is known
        assert f"/tasks/{body['task_id']}/events?grant=g1." in body["stream_url"]
        task_id = body["task_id"]

        status = await final_status(alice, task_id)
        assert set(status) >= STATUS_FIELDS
        assert status["status"] == "completed" and status["progress"] == 1.0
        assert status["worker_node"] == node.node_id
        assert status["result"] == {"echo": {"text": "hello"}}
        assert status["error"] is None and status["max_retries"] == 3
        for key in ("created_at", "started_at", "estimated_completion"):
            assert ISO_Z.match(status[key]), status[key]

        result = await alice.get(f"/result/{task_id}")
        assert result.status == 200
        assert result.body["status"] == "completed"
        assert result.body["result"] == {"echo": {"text": "hello"}}
        assert result.body["execution_time_seconds"] >= 0
        assert ISO_Z.match(result.body["completed_at"])
        assert result.body["worker_node"] == node.node_id

        listed = await alice.get("/tasks", queue_name=queue)
        assert [t["task_id"] for t in listed.body["tasks"]] == [task_id]
        item = listed.body["tasks"][0]
        assert item["status"] == "completed" and item["execution_time_seconds"] >= 0
        assert listed.body["summary"]["completed_tasks"] == 1
        assert listed.body["summary"]["success_rate"] == 1.0

        stats = await alice.get(f"/queue/{queue}/stats")
        assert stats.status == 200
        figures = stats.body["statistics"]
        assert figures["total_tasks"] == 1 and figures["completed_tasks_today"] == 1
        assert figures["worker_nodes_active"] == 1
        assert figures["average_processing_time_seconds"] is not None
        assert 0 < figures["queue_health_score"] <= 1
        metrics = stats.body["performance_metrics"]
        assert metrics["success_rate"] == 1.0 and metrics["timeout_rate"] == 0.0
        assert metrics["avg_cpu_usage"] is not None and metrics["avg_memory_usage"] is not None
        assert set(stats.body["priority_distribution"]) == {"low", "normal", "high", "critical"}


async def test_positions_count_tasks_ahead_by_band_then_order(
    edge: RunningEdge, alice: Caller, queue: str
) -> None:
    """No node serves the queue, so everything waits in it."""
    positions = {}
    for label, priority in (
        ("low", 2),
        ("normal", 5),
        ("high", 8),
        ("critical", 10),
        ("normal2", 5),
    ):
        answer = await alice.post(
            "/enqueue", {"queue_name": queue, "task_data": {"n": label}, "priority": priority}
        )
        assert answer.status == 200, answer.body
        positions[label] = answer.body["position_in_queue"]
        # nothing known about this queue yet: no runs, no nodes
        assert answer.body["estimated_wait_time_seconds"] is None
    assert positions == {"low": 1, "normal": 1, "high": 1, "critical": 1, "normal2": 4}
    stats = (await alice.get(f"/queue/{queue}/stats")).body
    assert stats["priority_distribution"] == {"low": 1, "normal": 2, "high": 1, "critical": 1}
    assert stats["statistics"]["pending_tasks"] == 5
    assert stats["statistics"]["worker_nodes_active"] == 0
    assert stats["statistics"]["queue_health_score"] == 0.0


@pytest.mark.partitioned
async def test_cancel_a_running_task_then_result_and_cancel_conflict(
    edge: RunningEdge, alice: Caller, start_node: NodeFactory, queue: str
) -> None:
    async with start_node({queue: slow}):
        task_id = (
            await alice.post("/enqueue", {"queue_name": queue, "task_data": {"seconds": 60}})
        ).body["task_id"]

        async def processing() -> bool:
            return (await alice.get(f"/status/{task_id}")).body["status"] == "processing"

        await eventually(processing)
        answer = await alice.delete(f"/cancel/{task_id}")
        assert answer.status == 200, answer.body
        assert answer.body["status"] == "cancelled" and answer.body["was_processing"] is True
        assert answer.body["message"] and ISO_Z.match(answer.body["cancelled_at"])
        assert (await final_status(alice, task_id))["status"] == "cancelled"

        result = await alice.get(f"/result/{task_id}")
        assert result.status == 409
        assert result.body["error"] == "task_not_completed"
        assert result.body["status"] == "cancelled" and result.body["task_id"] == task_id
        assert result.body["task_error"]["type"] == "Cancelled"

        again = await alice.delete(f"/cancel/{task_id}")
        assert again.status == 409 and again.body["error"] == "task_already_finished"


async def test_result_of_waiting_and_failed_tasks_is_409_with_status(
    edge: RunningEdge, alice: Caller, start_node: NodeFactory, queue: str, edge_config: Callable
) -> None:
    waiting = (await alice.post("/enqueue", {"queue_name": queue, "task_data": {}})).body
    answer = await alice.get(f"/result/{waiting['task_id']}")
    assert answer.status == 409 and answer.body["status"] == "enqueued"
    cancelled = await alice.delete(f"/cancel/{waiting['task_id']}")
    assert cancelled.status == 200 and cancelled.body["was_processing"] is False

    async with start_node({queue: fail}):
        task_id = (
            await alice.post("/enqueue", {"queue_name": queue, "task_data": {"why": "disk full"}})
        ).body["task_id"]
        status = await final_status(alice, task_id)
    assert status["status"] == "failed" and "disk full" in status["error"]
    answer = await alice.get(f"/result/{task_id}")
    assert answer.status == 409 and answer.body["error"] == "task_not_completed"
    assert answer.body["status"] == "failed" and "disk full" in answer.body["message"]
    stats = (await alice.get(f"/queue/{queue}/stats")).body
    assert stats["statistics"]["failed_tasks_today"] == 1
    assert stats["performance_metrics"]["success_rate"] == 0.0


@pytest.mark.partitioned
async def test_idempotency_key_returns_the_original_task(
    edge: RunningEdge, as_user: Callable[..., Caller], queue: str
) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    body = {"queue_name": queue, "task_data": {"a": 1}, "idempotency_key": "order-42"}
    first = await alice.post("/enqueue", body)
    again = await alice.post("/enqueue", {**body, "task_data": {"a": 2}})
    other = await bob.post("/enqueue", body)
    assert first.status == again.status == other.status == 200
    assert again.body["task_id"] == first.body["task_id"]
    assert other.body["task_id"] != first.body["task_id"]
    listed = await alice.get("/tasks", queue_name=queue)
    assert listed.body["pagination"]["total_count"] == 1


@pytest.mark.partitioned
async def test_listing_pages_newest_first_and_filters(
    edge: RunningEdge, as_user: Callable[..., Caller], queue: str
) -> None:
    alice = as_user("alice")
    ids = []
    for n in range(5):
        ids.append(
            (await alice.post("/enqueue", {"queue_name": queue, "task_data": {"n": n}})).body[
                "task_id"
            ]
        )
    await alice.delete(f"/cancel/{ids[0]}")
    page = await alice.get("/tasks", queue_name=queue, limit=2)
    assert [t["task_id"] for t in page.body["tasks"]] == [ids[4], ids[3]]
    assert page.body["pagination"] == {"total_count": 5, "limit": 2, "offset": 0, "has_more": True}
    last = await alice.get("/tasks", queue_name=queue, limit=2, offset=4)
    assert [t["task_id"] for t in last.body["tasks"]] == [ids[0]]
    assert last.body["pagination"]["has_more"] is False
    cancelled = await alice.get("/tasks", queue_name=queue, status="cancelled")
    assert [t["task_id"] for t in cancelled.body["tasks"]] == [ids[0]]
    enqueued = await alice.get("/tasks", queue_name=queue, status="enqueued")
    assert enqueued.body["pagination"]["total_count"] == 4
    summary = enqueued.body["summary"]
    assert summary["total_tasks"] == 5 and summary["pending_tasks"] == 4
    assert summary["success_rate"] is None


async def test_health_reports_from_real_data(
    edge: RunningEdge, alice: Caller, start_node: NodeFactory, queue: str
) -> None:
    async with start_node({queue: echo}) as node:
        await alice.post("/enqueue", {"queue_name": queue, "task_data": {}})

        async def node_seen() -> bool:
            return node.node_id in edge.services.nodes.ads

        await eventually(node_seen)
        answer = await alice.get("/health")
    assert answer.status == 200
    body = answer.body
    assert body["status"] in ("healthy", "degraded")
    assert ISO_Z.match(body["timestamp"])
    system = body["system_metrics"]
    assert system["active_workers"] >= 1 and system["total_queues"] >= 1
    assert system["total_tasks_processed_today"] >= 0
    resources = body["resource_utilization"]
    assert resources["cpu_usage"] is not None and "storage_bytes" not in resources
    assert set(body["queue_health"]) == {"healthy_queues", "degraded_queues", "unhealthy_queues"}
