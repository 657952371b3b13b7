"""Executions over real HTTP: each attempt of a schedule's run, found from any edge by its
id alone, with its result, logs, cancel and the schedule's stats."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from prsm_tasks import TaskContext
from prsm_tasks.edge.http.app import RunningEdge
from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import Caller
from tests.schedules.conftest import API


class FlakyOnce:
    """Fails the first attempt of each run, logs a line and answers on the second."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def handler(self, ctx: TaskContext, **data: Any) -> dict[str, Any]:
        ctx.logger.info("working on %s", ctx.task_id)
        if ctx.task_id not in self.seen:
            self.seen.add(ctx.task_id)
            raise RuntimeError("first attempt fails")
        return {"records_processed": 3}


async def slow(ctx: TaskContext, **data: Any) -> str:
    await asyncio.sleep(60)
    return "late"


async def paused_schedule(caller: Caller, queue: str) -> str:
    body = {
        "task_name": "report",
        "task_type": "interval",
        "schedule_expression": "3600",
        "queue_name": queue,
        "max_retries": 2,
    }
    answer = await caller.post(f"{API}/tasks", body)
    assert answer.status == 201, answer.body
    schedule_id = str(answer.body["task_id"])
    assert (await caller.post(f"{API}/tasks/{schedule_id}/pause")).status == 200
    return schedule_id


async def test_executions_list_detail_logs_and_stats(
    edge: RunningEdge, as_user: Callable[..., Caller], queue: str, start_node: NodeFactory
) -> None:
    owner = as_user("owner", f"t-{uuid.uuid4().hex[:8]}")
    schedule_id = await paused_schedule(owner, queue)
    triggered = await owner.post(f"{API}/tasks/{schedule_id}/trigger")
    first_id = triggered.body["execution_id"]
    pending = await owner.get(f"{API}/executions/{first_id}")
    assert pending.status == 200, pending.body
    assert pending.body["status"] in ("pending", "running", "failed")
    flaky = FlakyOnce()
    async with start_node({queue: flaky.handler}):

        async def two_attempts() -> bool:
            answer = await owner.get(f"{API}/tasks/{schedule_id}/executions", limit=10)
            items = answer.body["executions"]
            return answer.body["total"] == 2 and items[0]["status"] == "success"

        await eventually(two_attempts, within_s=60)
    listed = (await owner.get(f"{API}/tasks/{schedule_id}/executions")).body["executions"]
    newest, oldest = listed
    assert oldest["execution_id"] == first_id
    assert (oldest["status"], oldest["retry_number"], oldest["is_retry"]) == ("failed", 0, False)
    assert (newest["retry_number"], newest["is_retry"]) == (1, True)
    assert newest["duration_ms"] is not None and newest["worker_id"]
    detail = (await owner.get(f"{API}/executions/{newest['execution_id']}")).body
    assert detail["result"] == {"records_processed": 3}
    assert (await owner.get(f"{API}/executions/{first_id}")).body["result"] is None

    async def logged() -> bool:
        logs = (await owner.get(f"{API}/executions/{newest['execution_id']}/logs")).body
        return any("working on" in line["message"] for line in logs["logs"])

    await eventually(logged, within_s=30)
    stats = (await owner.get(f"{API}/tasks/{schedule_id}/stats")).body
    assert stats["total_executions"] == 2 and stats["successful_executions"] == 1
    assert stats["success_rate"] == 0.5 and stats["p50_duration_ms"] is not None
    assert stats["last_7_days"]["executions"] == 2
    only_one = await owner.get(f"{API}/tasks/{schedule_id}/executions", limit=1)
    assert len(only_one.body["executions"]) == 1 and only_one.body["total"] == 2
    finished = await owner.post(f"{API}/executions/{first_id}/cancel")
    assert finished.status == 409, finished.body


async def test_cancel_a_running_execution_and_access_rules(
    edge: RunningEdge, as_user: Callable[..., Caller], queue: str, start_node: NodeFactory
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    owner = as_user("owner", tenant)
    schedule_id = await paused_schedule(owner, queue)
    async with start_node({queue: slow}):
        execution = (await owner.post(f"{API}/tasks/{schedule_id}/trigger")).body["execution_id"]

        async def running() -> bool:
            return (await owner.get(f"{API}/executions/{execution}")).body["status"] == "running"

        await eventually(running, within_s=60)
        stranger = as_user("owner", f"t-{uuid.uuid4().hex[:8]}")
        for path in (f"/executions/{execution}", f"/executions/{execution}/logs"):
            assert (await stranger.get(API + path)).status == 404
        assert (await stranger.post(f"{API}/executions/{execution}/cancel")).status == 404
        assert (await stranger.get(f"{API}/tasks/{schedule_id}/executions")).status == 404
        assert (await stranger.get(f"{API}/tasks/{schedule_id}/stats")).status == 404
        cancelled = await owner.post(f"{API}/executions/{execution}/cancel")
        assert cancelled.status == 200, cancelled.body
        assert cancelled.body["status"] == "cancelled" and cancelled.body["cancelled_at"]
    for bad in ("exec_nope_1", "task_x", "exec_" + "a" * 26 + "_0", "exec_" + "a" * 26 + "_1"):
        assert (await owner.get(f"{API}/executions/{bad}")).status == 404
