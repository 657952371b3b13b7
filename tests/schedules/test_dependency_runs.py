"""Dependencies between schedules in effect: a run waits for its parent's run, over real
HTTP, real nodes and the server-held timers on a real nats-server.

Parents and children here are hourly interval schedules run by trigger (a trigger's due
time is now, so it waits for the parent's latest run), or one-time schedules a few seconds
out (a child due before its parent's first run). Each test pauses what it made."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from prsm_tasks import Client, TaskContext
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.edge.surfaces.scheduler.state import SCHEDULES
from prsm_tasks.errors import TaskNotFoundError
from prsm_tasks.models import TaskDependency, TaskRecord, TaskStatus
from prsm_tasks.schedules.dependencies import WAIT_SLACK_S
from prsm_tasks.schedules.record import ScheduleRecord
from prsm_tasks.services.schedules.runs import parse_execution_id, run_task_id
from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import Caller
from tests.schedules.conftest import API


class Parent:
    """The parent's handler: holds each run until ``gate`` opens, then fails if asked."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started: list[str] = []

    async def handler(self, ctx: TaskContext, fail: bool = False, **data: Any) -> str:
        self.started.append(ctx.task_id)
        await self.gate.wait()
        if fail:
            raise RuntimeError("the parent failed")
        return "parent ran"


class Child:
    def __init__(self) -> None:
        self.started: dict[str, int] = {}

    async def handler(self, ctx: TaskContext, **data: Any) -> str:
        self.started[ctx.task_id] = self.started.get(ctx.task_id, 0) + 1
        return "child ran"


def owner_of(as_user: Callable[..., Caller]) -> Caller:
    return as_user("owner", f"t-{uuid.uuid4().hex[:8]}")


async def create(caller: Caller, queue: str, name: str, **fields: Any) -> str:
    body = {
        "task_name": name,
        "task_type": "interval",
        "schedule_expression": "1h",
        "queue_name": queue,
        "max_retries": 0,
        **fields,
    }
    answer = await caller.post(f"{API}/tasks", body)
    assert answer.status == 201, answer.body
    return str(answer.body["task_id"])


def soon(seconds: float) -> str:
    at = datetime.now(UTC) + timedelta(seconds=seconds)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


async def depend(caller: Caller, child: str, parent: str, kind: str = "success") -> None:
    body = {"depends_on_task_id": parent, "dependency_type": kind}
    answer = await caller.post(f"{API}/tasks/{child}/dependencies", body)
    assert answer.status == 201, answer.body


async def trigger(caller: Caller, schedule_id: str) -> tuple[str, str]:
    """(execution id, run task id) of a triggered run."""
    answer = await caller.post(f"{API}/tasks/{schedule_id}/trigger")
    assert answer.status == 202, answer.body
    execution_id = str(answer.body["execution_id"])
    parsed = parse_execution_id(execution_id)
    assert parsed is not None
    return execution_id, parsed[0]


async def pause(caller: Caller, *schedule_ids: str) -> None:
    for schedule_id in schedule_ids:
        answer = await caller.post(f"{API}/tasks/{schedule_id}/pause")
        assert answer.status == 200, answer.body


async def record_of(edge: RunningEdge, schedule_id: str) -> ScheduleRecord:
    return (await edge.app[SCHEDULES].store.get(schedule_id))[0]


async def final(client: Client, task_id: str) -> TaskRecord:
    """The run's record once final (a held run's task is made later: waited for first)."""

    async def made() -> bool:
        try:
            await client.status(task_id)
        except TaskNotFoundError:
            return False
        return True

    await eventually(made, within_s=90)
    return await client.wait(task_id, timeout=90)


CASES = [
    # (dependency type, the parent run fails, the child's run ends)
    pytest.param("success", False, TaskStatus.COMPLETED, id="success-met"),
    pytest.param("success", True, TaskStatus.FAILED, id="success-parent-failed"),
    pytest.param("completion", True, TaskStatus.COMPLETED, id="completion-parent-failed"),
    pytest.param("any", True, TaskStatus.COMPLETED, id="any-parent-started"),
]


@pytest.mark.parametrize(("kind", "parent_fails", "child_ends"), CASES)
async def test_a_run_waits_for_its_parents_latest_run(
    edge: RunningEdge,
    as_user: Callable[..., Caller],
    queue: str,
    start_node: NodeFactory,
    client: Client,
    kind: str,
    parent_fails: bool,
    child_ends: TaskStatus,
) -> None:
    parent, child = Parent(), Child()
    owner = owner_of(as_user)
    child_queue = f"{queue}-child"
    async with start_node({queue: parent.handler, child_queue: child.handler}):
        parent_id = await create(owner, queue, "extract", payload={"fail": parent_fails})
        child_id = await create(owner, child_queue, "report")
        await depend(owner, child_id, parent_id, kind)
        _, parent_run = await trigger(owner, parent_id)
        await eventually(lambda: asyncio.sleep(0, parent_run in parent.started), within_s=60)

        child_execution, child_run = await trigger(owner, child_id)
        record = await final_or_record(client, child_run, kind)
        assert record.depends_on == [TaskDependency(task_id=parent_run, type=kind)]
        if kind != "any":  # it waits, and says on which parent run
            answer = await owner.get(f"{API}/executions/{child_execution}")
            assert answer.status == 200, answer.body
            assert answer.body["status"] == "waiting"
            assert answer.body["waiting_on"] == [
                {"task_id": parent_id, "run_task_id": parent_run, "dependency_type": kind}
            ]
            assert child.started == {}
        parent.gate.set()
        ended = await final(client, child_run)
        assert ended.status is child_ends
        detail = (await owner.get(f"{API}/executions/{child_execution}")).body
        if child_ends is TaskStatus.FAILED:
            assert ended.attempts == [] and child.started == {}
            assert ended.error is not None and ended.error.type == "dependency_failed"
            assert parent_run in ended.error.message
            assert detail["status"] == "failed"
            assert detail["error"]["parent_task_id"] == parent_id
            assert detail["error"]["parent_run_task_id"] == parent_run
        else:
            assert child.started == {child_run: 1}
            assert detail["status"] == "success"
            parent_record = await client.status(parent_run)
            if kind != "any":  # it started after its parent ended
                assert parent_record.completed_at is not None and ended.started_at is not None
                assert ended.started_at >= parent_record.completed_at
        await pause(owner, parent_id, child_id)


async def final_or_record(client: Client, task_id: str, kind: str) -> TaskRecord:
    """The child's run once made: ``any`` runs while its parent still runs (its record
    once final), the others wait (their record while ``waiting``)."""
    if kind == "any":
        return await final(client, task_id)

    async def waiting() -> bool:
        found = await client.status(task_id)
        return found.status is TaskStatus.WAITING

    await eventually(waiting, within_s=60)
    return await client.status(task_id)


async def test_a_child_due_before_its_parents_first_run_waits_then_runs_after_it(
    edge: RunningEdge,
    as_user: Callable[..., Caller],
    queue: str,
    start_node: NodeFactory,
    client: Client,
) -> None:
    parent, child = Parent(), Child()
    parent.gate.set()
    owner = owner_of(as_user)
    child_queue = f"{queue}-child"
    async with start_node({queue: parent.handler, child_queue: child.handler}):
        parent_id = await create(
            owner,
            queue,
            "extract",
            task_type="one_time",
            schedule_expression=None,
            next_execution_time=soon(8),
        )
        child_id = await create(
            owner,
            child_queue,
            "report",
            task_type="one_time",
            schedule_expression=None,
            next_execution_time=soon(3),
        )
        await depend(owner, child_id, parent_id, "success")

        async def held() -> bool:
            return bool((await record_of(edge, child_id)).held_runs)

        await eventually(held, within_s=60)
        listed = (await owner.get(f"{API}/tasks/{child_id}/executions")).body["executions"]
        assert [item["status"] for item in listed] == ["waiting"]
        assert listed[0]["waiting_on"] == [
            {"task_id": parent_id, "run_task_id": None, "dependency_type": "success"}
        ]
        child_record = await record_of(edge, child_id)
        child_run = run_task_id(child_id, child_record.held_runs[0].due_at)

        async def made() -> bool:
            record = await record_of(edge, child_id)
            return not record.held_runs and bool(record.recent_runs)

        await eventually(made, within_s=90)
        ended = await final(client, child_run)
        parent_runs = (await record_of(edge, parent_id)).recent_runs
        assert len(parent_runs) == 1
        parent_record = await final(client, parent_runs[0].task_id)
        assert ended.status is TaskStatus.COMPLETED and child.started == {child_run: 1}
        assert ended.metadata["schedule_parents"] == {parent_record.task_id: parent_id}
        assert ended.depends_on == [TaskDependency(task_id=parent_record.task_id, type="success")]
        assert parent_record.completed_at is not None and ended.started_at is not None
        assert ended.started_at >= parent_record.completed_at
        # the run made from the held one keeps the due time it fired for
        assert ended.metadata["schedule_due_at"] == child_record.held_runs[0].due_at


async def test_deleting_a_parent_drops_it_from_its_children_and_frees_held_runs(
    edge: RunningEdge,
    as_user: Callable[..., Caller],
    queue: str,
    start_node: NodeFactory,
    client: Client,
) -> None:
    child = Child()
    owner = owner_of(as_user)
    async with start_node({queue: child.handler}):
        parent_id = await create(owner, queue, "extract")  # first due in an hour
        child_id = await create(owner, queue, "report")
        await depend(owner, child_id, parent_id, "success")
        _, child_run = await trigger(owner, child_id)  # the parent has no run: held
        assert (await record_of(edge, child_id)).held_runs[0].task_id == child_run
        assert (await owner.delete(f"{API}/tasks/{parent_id}")).status == 204

        listed = (await owner.get(f"{API}/tasks/{child_id}/dependencies")).body
        assert listed == {"dependencies": []}
        ended = await final(client, child_run)
        assert ended.status is TaskStatus.COMPLETED and ended.depends_on == []
        assert child.started == {child_run: 1}
        await pause(owner, child_id)


async def test_a_dependency_that_would_make_a_cycle_is_still_refused(
    edge: RunningEdge, as_user: Callable[..., Caller], queue: str
) -> None:
    owner = owner_of(as_user)
    first = await create(owner, queue, "first")
    second = await create(owner, queue, "second")
    await depend(owner, second, first)
    answer = await owner.post(f"{API}/tasks/{first}/dependencies", {"depends_on_task_id": second})
    assert answer.status == 409, answer.body
    assert answer.body["error"] == "dependency_cycle"
    await pause(owner, first, second)


async def test_runs_held_for_a_paused_parent_wait_for_its_resume(
    edge: RunningEdge,
    as_user: Callable[..., Caller],
    queue: str,
    start_node: NodeFactory,
    client: Client,
) -> None:
    parent, child = Parent(), Child()
    parent.gate.set()
    owner = owner_of(as_user)
    child_queue = f"{queue}-child"
    async with start_node({queue: parent.handler, child_queue: child.handler}):
        parent_at = soon(4)
        parent_id = await create(
            owner,
            queue,
            "extract",
            task_type="one_time",
            schedule_expression=None,
            next_execution_time=parent_at,
        )
        child_id = await create(owner, child_queue, "report")
        await depend(owner, child_id, parent_id, "completion")
        _, child_run = await trigger(owner, child_id)  # the parent has not run: held
        await pause(owner, parent_id)
        wait_fire = datetime.fromisoformat(parent_at).timestamp() + WAIT_SLACK_S

        async def looked_again() -> bool:  # the wait timer armed for the parent's time fired
            return (await record_of(edge, child_id)).updated_at >= wait_fire

        await eventually(looked_again, within_s=60)
        record = await record_of(edge, child_id)
        assert [run.task_id for run in record.held_runs] == [child_run]
        assert record.held_runs[0].waiting_on == [parent_id]
        assert child.started == {}

        resumed = await owner.post(f"{API}/tasks/{parent_id}/resume")
        assert resumed.status == 200, resumed.body
        ended = await final(client, child_run)
        assert ended.status is TaskStatus.COMPLETED and child.started == {child_run: 1}
        assert len((await record_of(edge, parent_id)).recent_runs) == 1
        await pause(owner, child_id)


async def test_a_parent_run_that_expired_is_not_waited_for(
    edge: RunningEdge,
    as_user: Callable[..., Caller],
    queue: str,
    start_node: NodeFactory,
    client: Client,
) -> None:
    parent, child = Parent(), Child()
    parent.gate.set()
    owner = owner_of(as_user)
    child_queue = f"{queue}-child"
    async with start_node({queue: parent.handler, child_queue: child.handler}):
        parent_id = await create(owner, queue, "extract")
        child_id = await create(owner, child_queue, "report")
        await depend(owner, child_id, parent_id, "success")
        _, parent_run = await trigger(owner, parent_id)
        assert (await final(client, parent_run)).status is TaskStatus.COMPLETED
        # as the tasks' retention does: the record of a run long over goes
        await edge.app[SCHEDULES].services.stores.tasks.delete(parent_run)

        _, child_run = await trigger(owner, child_id)
        ended = await final(client, child_run)
        assert ended.status is TaskStatus.COMPLETED and ended.depends_on == []
        assert child.started == {child_run: 1}
        await pause(owner, parent_id, child_id)


async def test_removing_a_dependency_frees_the_runs_held_for_it(
    edge: RunningEdge,
    as_user: Callable[..., Caller],
    queue: str,
    start_node: NodeFactory,
    client: Client,
) -> None:
    child = Child()
    owner = owner_of(as_user)
    async with start_node({queue: child.handler}):
        parent_id = await create(owner, queue, "extract")  # first due in an hour
        child_id = await create(owner, queue, "report")
        await depend(owner, child_id, parent_id, "completion")
        _, child_run = await trigger(owner, child_id)  # the parent has no run: held
        listed = (await owner.get(f"{API}/tasks/{child_id}/dependencies")).body
        dependency_id = listed["dependencies"][0]["dependency_id"]
        removed = await owner.delete(f"{API}/tasks/{child_id}/dependencies/{dependency_id}")
        assert removed.status == 204

        ended = await final(client, child_run)
        assert ended.status is TaskStatus.COMPLETED and ended.depends_on == []
        assert child.started == {child_run: 1}
        await pause(owner, parent_id, child_id)
