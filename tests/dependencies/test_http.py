"""Dependencies over HTTP: POST /enqueue takes depends_on; /status and the task list's
detail say what a task depends on and what it still waits for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prsm_tasks import TaskContext
from prsm_tasks.edge.http.app import RunningEdge
from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import Caller
from tests.edge.test_errors import assert_error, count_tasks


async def named(ctx: TaskContext, **data: Any) -> str:
    return str(data.get("name"))


async def status_becomes(caller: Caller, task_id: str, wanted: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def check() -> bool:
        seen.update((await caller.get(f"/status/{task_id}")).body)
        return seen.get("status") == wanted

    await eventually(check, within_s=60)
    return seen


async def test_enqueue_with_depends_on_waits_then_runs(
    edge: RunningEdge, alice: Caller, start_node: NodeFactory, queue: str
) -> None:
    parent = (await alice.post("/enqueue", {"queue_name": queue, "task_data": {}})).body
    answer = await alice.post(
        "/enqueue",
        {
            "queue_name": queue,
            "task_data": {"name": "child"},
            "depends_on": [{"task_id": parent["task_id"]}],
        },
    )
    assert answer.status == 200, answer.body
    child_id = answer.body["task_id"]
    assert answer.body["status"] == "enqueued"  # waiting is enqueued on the PRSM routes
    status = (await alice.get(f"/status/{child_id}")).body
    assert status["depends_on"] == [{"task_id": parent["task_id"], "type": "success"}]
    assert status["waiting_for"] == [parent["task_id"]]
    detail = (await alice.get(f"/api/tasks/{child_id}")).body
    assert detail["status"] == "pending" and detail["waiting_for"] == [parent["task_id"]]
    assert "depends_on" not in (await alice.get(f"/status/{parent['task_id']}")).body
    async with start_node({queue: named}):
        done = await status_becomes(alice, child_id, "completed")
    assert done["result"] == "child" and done["waiting_for"] == []


async def test_bad_dependencies_are_refused_naming_the_field(
    edge: RunningEdge,
    alice: Caller,
    as_user: Callable[..., Caller],
    queue: str,
) -> None:
    parent = (await alice.post("/enqueue", {"queue_name": queue, "task_data": {}})).body
    good = {"queue_name": queue, "task_data": {}}
    missing = "task_" + "0" * 26
    for depends_on, status, code, field in (
        ([{"task_id": missing}], 404, "parent_task_not_found", "depends_on[0].task_id"),
        ([{"task_id": "nope"}], 400, "validation_error", "depends_on[0].task_id"),
        (
            [{"task_id": parent["task_id"]}, {"task_id": parent["task_id"]}],
            400,
            "validation_error",
            "depends_on[1].task_id",
        ),
        ([{"task_id": parent["task_id"], "type": "maybe"}], 400, "validation_error", None),
        ([{"task_id": parent["task_id"], "extra": 1}], 400, "validation_error", None),
        ([], 400, "validation_error", "depends_on"),
        ([{"task_id": missing}] * 33, 400, "validation_error", "depends_on"),
    ):
        answer = await alice.post("/enqueue", {**good, "depends_on": depends_on})
        assert_error(answer, status, code, field)
    # another tenant's task is not there for this caller
    mallory = as_user("mallory", "evil")
    answer = await mallory.post(
        "/enqueue", {**good, "depends_on": [{"task_id": parent["task_id"]}]}
    )
    assert_error(answer, 404, "parent_task_not_found", "depends_on[0].task_id")
    assert await count_tasks(alice, queue) == 1
    assert await count_tasks(mallory, queue) == 0
