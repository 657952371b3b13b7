"""A schedule's whole history over real HTTP: executions and stats cover every run still in
the task bucket, not only the schedule's newest 20 (``recent_runs``), with paging."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from prsm_tasks import TaskContext, wire
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.services.view import TaskView
from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import Caller
from tests.schedules.conftest import API
from tests.schedules.test_executions import paused_schedule

RUNS = 25  # more than a schedule's recent_runs keeps
FLAKY_RUNS = 3  # runs whose first attempt fails (then succeed on the retry)


class FailsFirstAttemptOfSome:
    def __init__(self) -> None:
        self.failed: set[str] = set()

    async def handler(self, ctx: TaskContext, **data: Any) -> str:
        if len(self.failed) < FLAKY_RUNS and ctx.task_id not in self.failed:
            self.failed.add(ctx.task_id)
            raise RuntimeError("first attempt fails")
        return "ok"


async def test_executions_and_stats_cover_every_run_with_paging(
    edge: RunningEdge, as_user: Callable[..., Caller], queue: str, start_node: NodeFactory
) -> None:
    owner = as_user("owner", f"t-{uuid.uuid4().hex[:8]}")
    schedule_id = await paused_schedule(owner, queue)
    executions = f"{API}/tasks/{schedule_id}/executions"
    for _ in range(RUNS):
        assert (await owner.post(f"{API}/tasks/{schedule_id}/trigger")).status == 202
    expected = RUNS + FLAKY_RUNS
    flaky = FailsFirstAttemptOfSome()
    async with start_node({queue: flaky.handler}):

        async def all_ended() -> bool:
            answer = (await owner.get(executions, limit=1000)).body
            statuses = [item["status"] for item in answer["executions"]]
            return answer["total"] == expected and statuses.count("success") == RUNS

        await eventually(all_ended, within_s=90)
    everything = (await owner.get(executions, limit=1000)).body["executions"]
    ids = [item["execution_id"] for item in everything]
    assert len(ids) == len(set(ids)) == expected
    assert sorted(item["status"] for item in everything) == ["failed"] * 3 + ["success"] * RUNS
    assert len({item["run_task_id"] for item in everything}) == RUNS
    pages = []
    for offset in range(0, expected + 10, 10):
        page = (await owner.get(executions, limit=10, offset=offset)).body
        assert page["total"] == expected
        pages += page["executions"]
    assert [item["execution_id"] for item in pages] == ids
    assert (await owner.get(executions)).body["executions"] == everything[:10]  # default 10
    for bad in ({"limit": 1001}, {"limit": 0}, {"offset": -1}, {"offset": "x"}):
        refused = await owner.get(executions, **bad)
        assert refused.status == 400 and refused.body["field"] in bad, refused.body
    stats = (await owner.get(f"{API}/tasks/{schedule_id}/stats")).body
    assert stats["total_executions"] == expected
    assert (stats["successful_executions"], stats["failed_executions"]) == (RUNS, FLAKY_RUNS)
    assert stats["last_7_days"]["executions"] == expected
    stranger = as_user("owner", f"t-{uuid.uuid4().hex[:8]}")
    assert (await stranger.get(executions)).status == 404
    assert (await stranger.get(f"{API}/tasks/{schedule_id}/stats")).status == 404


def raw_run(task_id: str, schedule_id: str, tenant: str, user: str) -> bytes:
    return wire.pack(
        {
            "task_id": task_id,
            "tenant": tenant,
            "user": user,
            "queue_name": "q",
            "status": "completed",
            "created_at": 1.0,
            "attempts": [{"number": 1, "started_at": 2.0, "ended_at": 3.0, "outcome": "completed"}],
            "metadata": {"schedule_id": schedule_id},
        }
    )


def test_view_indexes_runs_by_schedule_and_owner() -> None:
    """A task of another owner naming the schedule is not its run; an expired record leaves
    the index (so it stays as big as the view)."""
    view = TaskView()
    view.on_entry("task_a", raw_run("task_a", "s1", "t", "u"), 1)
    view.on_entry("task_b", raw_run("task_b", "s1", "t", "u"), 2)
    view.on_entry("task_c", raw_run("task_c", "s1", "other", "u"), 3)
    view.on_entry("task_d", raw_run("task_d", "s1", "t", "someone"), 4)
    runs = view.runs_of_schedule("s1", "t", "u")
    assert sorted(run.task_id for run in runs) == ["task_a", "task_b"]
    assert runs[0].run_attempts == ((2.0, 3.0, "completed"),)
    for rev, key in enumerate(("task_a", "task_b", "task_c", "task_d"), start=5):
        view.on_entry(key, None, rev)
    assert view.runs_of_schedule("s1", "t", "u") == [] and view.schedule_runs == {}
