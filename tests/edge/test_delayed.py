"""Delayed tasks over the PRSM Task API: eta / countdown_seconds on /enqueue and /bulk/enqueue,
what /status says of them, a cancel before due, and bad delays refused."""

from __future__ import annotations

import datetime
import time
from typing import Any

from prsm_tasks import TaskContext
from prsm_tasks.edge.http.app import RunningEdge
from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import Caller
from tests.edge.test_errors import assert_error, count_tasks


async def ran(ctx: TaskContext, **data: Any) -> dict[str, float]:
    return {"started": time.time()}


async def status_becomes(caller: Caller, task_id: str, wanted: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def check() -> bool:
        seen.update((await caller.get(f"/status/{task_id}")).body)
        return seen.get("status") == wanted

    await eventually(check, within_s=60)
    return seen


def parse(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def test_a_delayed_enqueue_shows_enqueued_until_due_then_runs(
    edge: RunningEdge, alice: Caller, start_node: NodeFactory, queue: str
) -> None:
    async with start_node({queue: ran}):
        answer = await alice.post(
            "/enqueue", {"queue_name": queue, "task_data": {}, "countdown_seconds": 2.0}
        )
        assert answer.status == 200, answer.body
        body = answer.body
        assert body["status"] == "enqueued"  # scheduled is enqueued on the PRSM routes
        assert body["position_in_queue"] is None  # not in line until it is due
        assert 0 < body["estimated_wait_time_seconds"] <= 2.0
        due = parse(body["scheduled_for"])
        status = (await alice.get(f"/status/{body['task_id']}")).body
        assert status["status"] == "enqueued" and status["scheduled_for"] == body["scheduled_for"]
        done = await status_becomes(alice, body["task_id"], "completed")
        assert done["result"]["started"] >= due


async def test_a_delayed_bulk_runs_every_task_after_its_eta(
    edge: RunningEdge, alice: Caller, start_node: NodeFactory, queue: str
) -> None:
    eta = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1.5)
    async with start_node({queue: ran}):
        answer = await alice.post(
            "/bulk/enqueue",
            {
                "queue_name": queue,
                "tasks": [{"task_data": {"n": n}} for n in range(3)],
                "eta": eta.isoformat().replace("+00:00", "Z"),
                "batch_options": {"max_concurrent": 2},
            },
        )
        assert answer.status == 200, answer.body
        for task_id in answer.body["task_ids"]:
            done = await status_becomes(alice, task_id, "completed")
            assert done["result"]["started"] >= eta.timestamp()


async def test_a_cancel_before_due_stops_a_delayed_task(
    edge: RunningEdge, alice: Caller, start_node: NodeFactory, queue: str
) -> None:
    async with start_node({queue: ran}):
        task_id = (
            await alice.post(
                "/enqueue", {"queue_name": queue, "task_data": {}, "countdown_seconds": 1.0}
            )
        ).body["task_id"]
        cancelled = await alice.delete(f"/cancel/{task_id}")
        assert cancelled.status == 200 and cancelled.body["was_processing"] is False
        canary = (
            await alice.post(
                "/enqueue", {"queue_name": queue, "task_data": {}, "countdown_seconds": 1.5}
            )
        ).body["task_id"]
        await status_becomes(alice, canary, "completed")
    status = (await alice.get(f"/status/{task_id}")).body
    assert status["status"] == "cancelled" and status["started_at"] is None


async def test_bad_delays_get_400_naming_the_field_and_write_nothing(
    edge: RunningEdge, alice: Caller, queue: str
) -> None:
    far = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=400)).isoformat()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"eta": "2030-01-01T00:00:00Z", "countdown_seconds": 5}, "eta,countdown_seconds"),
        ({"eta": "2030-01-01T00:00:00"}, "eta"),  # no time zone: ambiguous
        ({"eta": "tomorrow"}, "eta"),
        ({"eta": far}, "eta"),
        ({"eta": "9" * 100}, "eta"),
        ({"eta": 1700000000}, "eta"),
        ({"countdown_seconds": -1}, "countdown_seconds"),
        ({"countdown_seconds": 1e12}, "countdown_seconds"),
        ({"countdown_seconds": "5"}, "countdown_seconds"),
    ]
    for delay, field in cases:
        body = {"queue_name": queue, "task_data": {}, **delay}
        assert_error(await alice.post("/enqueue", body), 400, "validation_error", field)
        bulk = {"queue_name": queue, "tasks": [{"task_data": {}}], **delay}
        assert_error(await alice.post("/bulk/enqueue", bulk), 400, "validation_error", field)
    assert await count_tasks(alice, queue) == 0


async def test_a_delayed_batch_task_let_go_early_still_waits_for_its_eta(
    edge: RunningEdge, alice: Caller, start_node: NodeFactory, queue: str
) -> None:
    """One at a time: cancelling the first lets the second go, but not before its time."""
    async with start_node({queue: ran}):
        answer = await alice.post(
            "/bulk/enqueue",
            {
                "queue_name": queue,
                "tasks": [{"task_data": {"n": n}} for n in range(2)],
                "countdown_seconds": 2.0,
                "batch_options": {"parallel_execution": False},
            },
        )
        assert answer.status == 200, answer.body
        first, second = answer.body["task_ids"]
        due = parse((await alice.get(f"/status/{first}")).body["scheduled_for"])
        assert (await alice.delete(f"/cancel/{first}")).status == 200
        done = await status_becomes(alice, second, "completed")
        assert done["result"]["started"] >= due
