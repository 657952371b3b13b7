"""Schedules that fire: a real edge (HTTP), real nodes and the server-held timers, on a real
nats-server. Runs are ordinary tasks, one per due time, whichever node converts the fire."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prsm_tasks import Client, TaskContext
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.edge.surfaces.scheduler.state import SCHEDULES
from prsm_tasks.models import TaskStatus
from prsm_tasks.services.schedules.runs import run_task_id
from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import Caller
from tests.schedules.conftest import API


class Runs:
    """A handler that notes each run: task id -> (its data, how many times it started)."""

    def __init__(self) -> None:
        self.started: dict[str, int] = {}
        self.data: dict[str, dict[str, Any]] = {}

    async def handler(self, ctx: TaskContext, **data: Any) -> str:
        self.started[ctx.task_id] = self.started.get(ctx.task_id, 0) + 1
        self.data[ctx.task_id] = data
        return "ran"


def owner_of(as_user: Callable[..., Caller]) -> Caller:
    return as_user("owner", f"t-{uuid.uuid4().hex[:8]}")


async def interval_schedule(caller: Caller, queue: str, seconds: int, **fields: Any) -> str:
    body = {
        "task_name": "tick",
        "task_type": "interval",
        "schedule_expression": str(seconds),
        "queue_name": queue,
        "payload": {"kind": "tick"},
        **fields,
    }
    answer = await caller.post(f"{API}/tasks", body)
    assert answer.status == 201, answer.body
    return str(answer.body["task_id"])


async def test_an_interval_schedule_fires_runs_that_a_node_executes(
    edge: RunningEdge,
    as_user: Callable[..., Caller],
    queue: str,
    start_node: NodeFactory,
    client: Client,
) -> None:
    runs = Runs()
    owner = owner_of(as_user)
    async with start_node({queue: runs.handler}):
        schedule_id = await interval_schedule(owner, queue, 2)

        async def two_runs() -> bool:
            return len(runs.started) >= 2

        await eventually(two_runs, within_s=60)
        # stopped: a schedule left firing every 2 s would load the rest of the session
        assert (await owner.post(f"{API}/tasks/{schedule_id}/pause")).status == 200
    record, _ = await edge.app[SCHEDULES].store.get(schedule_id)
    assert all(count == 1 for count in runs.started.values())
    assert all(data == {"kind": "tick"} for data in runs.data.values())
    made = {run.task_id: run.due_at for run in record.recent_runs}
    assert set(runs.started) <= set(made)
    for task_id, due_at in made.items():
        assert task_id == run_task_id(schedule_id, due_at)
    some = next(iter(runs.started))
    task = await client.status(some)
    assert task.metadata["schedule_id"] == schedule_id
    assert task.metadata["schedule_due_at"] == made[some]
    assert task.priority == 5 and task.status is TaskStatus.COMPLETED
    assert record.status == "paused" and record.armed_due_at is None


async def test_two_nodes_make_one_run_per_due_time(
    edge: RunningEdge,
    as_user: Callable[..., Caller],
    queue: str,
    start_node: NodeFactory,
) -> None:
    runs = Runs()
    owner = owner_of(as_user)
    async with start_node({queue: runs.handler}), start_node({queue: runs.handler}):
        schedule_id = await interval_schedule(owner, queue, 1)

        async def several_runs() -> bool:
            return len(runs.started) >= 4

        await eventually(several_runs, within_s=90)
        paused = await owner.post(f"{API}/tasks/{schedule_id}/pause")
        assert paused.status == 200, paused.body
    record, _ = await edge.app[SCHEDULES].store.get(schedule_id)
    assert all(count == 1 for count in runs.started.values())
    dues = [run.due_at for run in record.recent_runs]
    assert len(dues) == len(set(dues))  # one run per due time


async def test_a_one_time_schedule_runs_once_and_completes(
    edge: RunningEdge,
    as_user: Callable[..., Caller],
    queue: str,
    start_node: NodeFactory,
) -> None:
    runs = Runs()
    owner = owner_of(as_user)
    async with start_node({queue: runs.handler}):
        at = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer = await owner.post(
            f"{API}/tasks",
            {
                "task_name": "once",
                "task_type": "one_time",
                "next_execution_time": at,
                "queue_name": queue,
            },
        )
        assert answer.status == 201, answer.body
        schedule_id = str(answer.body["task_id"])

        async def completed() -> bool:
            record, _ = await edge.app[SCHEDULES].store.get(schedule_id)
            return record.status == "completed" and len(runs.started) == 1

        await eventually(completed, within_s=60)
        await asyncio.sleep(0.5)
    assert list(runs.started.values()) == [1]


async def test_trigger_runs_a_paused_task_now_as_a_run_of_its_own(
    edge: RunningEdge,
    as_user: Callable[..., Caller],
    queue: str,
    start_node: NodeFactory,
    client: Client,
) -> None:
    runs = Runs()
    owner = owner_of(as_user)
    schedule_id = await interval_schedule(owner, queue, 3600)
    assert (await owner.post(f"{API}/tasks/{schedule_id}/pause")).status == 200
    async with start_node({queue: runs.handler}):
        first = await owner.post(f"{API}/tasks/{schedule_id}/trigger")
        second = await owner.post(f"{API}/tasks/{schedule_id}/trigger")
        assert first.status == 202, first.body
        assert first.body["status"] == "queued" and first.body["task_id"] == schedule_id
        assert first.body["queued_at"].endswith("Z")
        assert first.body["execution_id"] != second.body["execution_id"]

        async def both_ran() -> bool:
            return len(runs.started) == 2

        await eventually(both_ran, within_s=60)
    record, _ = await edge.app[SCHEDULES].store.get(schedule_id)
    assert record.status == "paused"
    assert [run.trigger for run in record.recent_runs] == [True, True]
    for task_id in runs.started:
        assert (await client.status(task_id)).metadata["schedule_trigger"] is True
    stranger = as_user("mallory", f"t-{uuid.uuid4().hex[:8]}")
    assert (await stranger.post(f"{API}/tasks/{schedule_id}/trigger")).status == 404
