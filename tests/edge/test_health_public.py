"""What the open /health tells anyone (the seed's fields, system-wide) and what it keeps for
an admin's token; what a 503 tells a caller (a code and plain words, the detail in the log)."""

from __future__ import annotations

from collections.abc import Callable

from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.edge.http.errors import error_body
from prsm_tasks.errors import ServiceUnavailableError, WorkerUnavailableError
from tests.edge.conftest import Caller

SEED_FIELDS = {"status", "timestamp", "system_metrics", "resource_utilization", "queue_health"}
SEED_SYSTEM_METRICS = {
    "total_queues",
    "active_workers",
    "total_tasks_processed_today",
    "current_queue_depth",
    "average_processing_time_seconds",
    "system_throughput_tasks_per_minute",
    "error_rate",
}
SEED_RESOURCES = {"cpu_usage", "memory_usage", "network_throughput_mbps", "storage_usage"}
SEED_QUEUE_HEALTH = {"healthy_queues", "degraded_queues", "unhealthy_queues"}
INTERNAL_NAMES = ("PRSM_", "$KV", "$JS", "prsm.", "KV_", "_INBOX")


def assert_seed_shape(body: dict) -> None:
    assert set(body) == SEED_FIELDS, body
    assert set(body["system_metrics"]) == SEED_SYSTEM_METRICS
    assert set(body["resource_utilization"]) == SEED_RESOURCES
    assert set(body["queue_health"]) == SEED_QUEUE_HEALTH


async def test_open_health_answers_the_seed_fields_only(
    edge: RunningEdge, as_user: Callable[..., Caller], session, alice: Caller, queue: str
) -> None:
    assert (await alice.post("/enqueue", {"queue_name": queue, "task_data": {}})).status == 200
    anyone = Caller(session, edge.url, None)
    for caller in (anyone, alice):  # a user who is not an admin sees what anyone sees
        answer = await caller.get("/health")
        assert answer.status == 200, answer.body
        assert_seed_shape(answer.body)
        assert queue not in str(answer.body)


async def test_an_admin_token_adds_the_checks(
    edge: RunningEdge, as_user: Callable[..., Caller], session
) -> None:
    root = as_user("root", "acme", roles=("admin",))
    answer = await root.get("/health")
    assert answer.status == 200, answer.body
    checks = answer.body.pop("checks")
    assert_seed_shape(answer.body)
    assert checks["nats"] == "connected" and checks["views_caught_up"] is True
    assert checks["nats_forced_reconnects"] == 0
    assert "no live node" in checks["reasons"]  # this test's edge has no node
    forged = Caller(session, edge.url, "not-a-token")
    assert (await forged.get("/health")).status == 401


def test_a_503_body_names_no_internals() -> None:
    internal = ServiceUnavailableError(
        "NATS unavailable requesting $KV.PRSM_TASKS.task_01m8pgjm3jdjpxpdxahy1hd4p3: TimeoutError()"
    )
    for detail in (False, True):
        body = error_body(internal, request_id="r-1", detail=detail)
        assert body["error"] == "service_unavailable" and body["code"] == 503
        for text in (body["message"], body.get("detail", "")):
            assert not any(name in text for name in INTERNAL_NAMES), body
    # a 503 about the caller's own queue keeps its words: they name nothing internal
    mine = WorkerUnavailableError("no live node serves queue reports right now")
    assert error_body(mine, request_id=None)["message"] == mine.message
