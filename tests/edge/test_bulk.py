"""Bulk enqueue: all-or-nothing validation, max_concurrent across the network, one after
another, fail_fast."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from prsm_tasks import Fail, TaskContext
from prsm_tasks.edge.http.app import RunningEdge
from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import Caller
from tests.edge.test_errors import assert_error, count_tasks

FINAL = ("completed", "failed", "cancelled", "timeout")


class Tracker:
    """How many tasks of a batch run at once, across every node of this test."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.order: list[int] = []
        self.nodes: Counter[str] = Counter()

    async def handler(
        self, ctx: TaskContext, n: int, seconds: float = 0.15, fail: bool = False
    ) -> dict[str, Any]:
        self.running += 1
        self.most = max(self.most, self.running)
        self.order.append(n)
        self.nodes[ctx.node_id] += 1
        try:
            await asyncio.sleep(seconds)
            if fail:
                raise Fail(f"task {n} fails on purpose")
            return {"n": n}
        finally:
            self.running -= 1


async def statuses(caller: Caller, task_ids: list[str]) -> list[str]:
    return [(await caller.get(f"/status/{tid}")).body["status"] for tid in task_ids]


async def all_final(caller: Caller, task_ids: list[str]) -> list[str]:
    seen: list[str] = []

    async def done() -> bool:
        seen[:] = await statuses(caller, task_ids)
        return all(status in FINAL for status in seen)

    await eventually(done, within_s=60)
    return seen


async def test_bulk_validation_is_all_or_nothing(
    edge: RunningEdge, alice: Caller, queue: str
) -> None:
    tasks = [{"task_data": {"n": n}, "priority": 5} for n in range(5)]
    tasks[3] = {"task_data": {"n": 3}, "priority": 11}
    answer = await alice.post("/bulk/enqueue", {"queue_name": queue, "tasks": tasks})
    assert_error(answer, 400, "validation_error", "tasks[3].priority")
    tasks[3] = {"task_data": [3]}
    assert_error(
        await alice.post("/bulk/enqueue", {"queue_name": queue, "tasks": tasks}),
        400,
        "invalid_task_data",
        "tasks[3].task_data",
    )
    too_many = [{"task_data": {}}] * 1001
    assert_error(
        await alice.post("/bulk/enqueue", {"queue_name": queue, "tasks": too_many}),
        400,
        "validation_error",
        "tasks",
    )
    assert_error(
        await alice.post("/bulk/enqueue", {"queue_name": queue, "tasks": []}),
        400,
        "validation_error",
        "tasks",
    )
    bad_options = {
        "queue_name": queue,
        "tasks": [{"task_data": {}}],
        "batch_options": {"max_concurrent": 0},
    }
    assert_error(
        await alice.post("/bulk/enqueue", bad_options),
        400,
        "validation_error",
        "batch_options.max_concurrent",
    )
    assert await count_tasks(alice, queue) == 0


async def test_max_concurrent_holds_across_nodes(
    edge: RunningEdge, alice: Caller, start_node: NodeFactory, queue: str
) -> None:
    tracker = Tracker()
    async with (
        start_node({queue: tracker.handler}, capacity=4),
        start_node({queue: tracker.handler}, capacity=4),
    ):
        answer = await alice.post(
            "/bulk/enqueue",
            {
                "queue_name": queue,
                "tasks": [{"task_data": {"n": n}} for n in range(10)],
                "batch_options": {"parallel_execution": True, "max_concurrent": 3},
            },
        )
        assert answer.status == 200, answer.body
        body = answer.body
        assert body["total_tasks"] == 10 and len(body["task_ids"]) == 10
        assert body["batch_id"].startswith("batch_")
        assert await all_final(alice, body["task_ids"]) == ["completed"] * 10
    assert 2 <= tracker.most <= 3
    assert sorted(tracker.order) == list(range(10))
    status = (await alice.get(f"/status/{body['task_ids'][0]}")).body
    assert status["batch_id"] == body["batch_id"]


async def test_sequential_batch_runs_in_order(
    edge: RunningEdge, alice: Caller, start_node: NodeFactory, queue: str
) -> None:
    tracker = Tracker()
    async with start_node({queue: tracker.handler}, capacity=8):
        answer = await alice.post(
            "/bulk/enqueue",
            {
                "queue_name": queue,
                "tasks": [{"task_data": {"n": n, "seconds": 0.05}} for n in range(5)],
                "batch_options": {"parallel_execution": False},
            },
        )
        assert answer.status == 200, answer.body
        assert await all_final(alice, answer.body["task_ids"]) == ["completed"] * 5
    assert tracker.most == 1
    assert tracker.order == [0, 1, 2, 3, 4]


async def test_fail_fast_cancels_the_rest(
    edge: RunningEdge, alice: Caller, start_node: NodeFactory, queue: str
) -> None:
    tracker = Tracker()
    async with start_node({queue: tracker.handler}, capacity=8):
        tasks = [{"task_data": {"n": n, "seconds": 0.05, "fail": n == 1}} for n in range(6)]
        answer = await alice.post(
            "/bulk/enqueue",
            {
                "queue_name": queue,
                "tasks": tasks,
                "batch_options": {
                    "parallel_execution": True,
                    "max_concurrent": 2,
                    "fail_fast": True,
                },
            },
        )
        assert answer.status == 200, answer.body
        final = await all_final(alice, answer.body["task_ids"])
    assert final[1] == "failed"
    assert final[0] in ("completed", "cancelled")
    assert final[2:].count("cancelled") >= 3  # at most one more started before the failure
    assert set(tracker.order) <= {0, 1, 2, 3}


async def test_batch_without_limits_runs_everything(
    edge: RunningEdge, alice: Caller, start_node: NodeFactory, queue: str
) -> None:
    tracker = Tracker()
    async with start_node({queue: tracker.handler}, capacity=8):
        answer = await alice.post(
            "/bulk/enqueue",
            {
                "queue_name": queue,
                "tasks": [{"task_data": {"n": n, "seconds": 0.3}} for n in range(6)],
            },
        )
        assert await all_final(alice, answer.body["task_ids"]) == ["completed"] * 6
    assert tracker.most >= 2
