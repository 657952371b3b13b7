"""A document nested deeper than ``wire.MAX_DEPTH`` is refused on every path that takes one,
naming its field: orjson writes at most 254 levels, so such a document, once stored, made
``/status``, ``/result``, ``/api/tasks/{id}`` and, in type metadata, ``GET /api/task-types``
answer 500 (to every user of the tenant, for a type)."""

from __future__ import annotations

from typing import Any

import pytest

from prsm_tasks import Client, InvalidTaskDataError, TaskContext
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.models import TaskStatus
from prsm_tasks.wire import MAX_DEPTH
from tests.conftest import NodeFactory
from tests.edge.test_errors import assert_error, count_tasks
from tests.task_types.conftest import Caller, put, register
from tests.task_types.test_registry import work_messages

TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"


def nested(levels: int) -> dict[str, Any]:
    """A JSON object ``levels`` deep: {"a": {"a": ... {"a": 1}}}."""
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 300])
async def test_enqueue_refuses_deep_task_data(
    edge: RunningEdge, alice: Caller, queue: str, nats_url: str, levels: int
) -> None:
    answer = await alice.post("/enqueue", {"queue_name": queue, "task_data": nested(levels)})
    assert_error(answer, 400, "invalid_task_data", "task_data")
    assert TOO_DEEP in answer.body["message"]
    tasks = [{"task_data": {}}, {"task_data": nested(levels)}]
    bulk = await alice.post("/bulk/enqueue", {"queue_name": queue, "tasks": tasks})
    assert_error(bulk, 400, "invalid_task_data", "tasks[1].task_data")
    assert await count_tasks(alice, queue) == 0 and await work_messages(nats_url, queue) == 0
    fine = await alice.post("/enqueue", {"queue_name": queue, "task_data": nested(MAX_DEPTH)})
    assert fine.status == 200, fine.body
    assert (await alice.get(f"/status/{fine.body['task_id']}")).status == 200


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 300])
async def test_api_tasks_refuses_deep_parameters_with_422(
    alice: Caller, type_name: str, queue: str, nats_url: str, levels: int
) -> None:
    await register(alice, type_name, metadata={"queue_name": queue})
    body = {"task_type": type_name, "parameters": {"format": "mp4", "x": nested(levels)}}
    answer = await alice.post("/api/tasks", body)
    assert_error(answer, 422, "invalid_task_data", "parameters")
    assert TOO_DEEP in answer.body["message"]
    metadata = {"task_type": type_name, "parameters": {"format": "mp4"}, "metadata": nested(levels)}
    assert_error(await alice.post("/api/tasks", metadata), 422, "validation_error", "metadata")
    assert await work_messages(nats_url, queue) == 0
    task = await alice.post("/api/tasks", {"task_type": type_name, "parameters": {"format": "mp4"}})
    assert task.status == 201, task.body
    path = f"/api/tasks/{task.body['id']}"
    report = {"status": "completed", "result": nested(levels)}  # an external worker's result
    assert_error(await put(alice, path, report), 422, "validation_error", "result")
    edit = {"parameters": {"format": "mp4", "x": nested(levels)}}
    assert_error(await put(alice, path, edit), 422, "invalid_task_data", "parameters")
    assert (await alice.get(path)).body["status"] == "pending"


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 300])
async def test_type_metadata_and_schema_too_deep_are_refused(
    alice: Caller, type_name: str, levels: int
) -> None:
    deep = {"name": type_name, "metadata": {"x": nested(levels)}}
    assert_error(await alice.post("/api/task-types", deep), 422, "validation_error", "metadata")
    schema = {"type": "object", "properties": {"x": nested(levels)}}
    answer = await alice.post("/api/task-types", {"name": type_name, "parameters_schema": schema})
    assert answer.status == 422 and answer.body["field"] == "parameters_schema", answer.body
    created = await register(alice, type_name)
    update = await put(alice, f"/api/task-types/{created['id']}", {"metadata": nested(levels)})
    assert_error(update, 422, "validation_error", "metadata")
    assert (await alice.get("/api/task-types")).status == 200


async def test_the_native_client_refuses_deep_task_data(
    client: Client, queue: str, nats_url: str
) -> None:
    with pytest.raises(InvalidTaskDataError) as refused:
        await client.enqueue(queue, {"x": nested(300)})
    assert refused.value.field == "task_data" and TOO_DEEP in refused.value.message
    with pytest.raises(InvalidTaskDataError):
        await client.enqueue_many(queue, [{"n": 1}, nested(MAX_DEPTH + 1)])
    assert await work_messages(nats_url, queue) == 0


async def test_a_handler_returning_a_deep_result_fails_its_task_cleanly(
    edge: RunningEdge, alice: Caller, nats_url: str, queue: str, start_node: NodeFactory
) -> None:
    async def deep(ctx: TaskContext) -> dict[str, Any]:
        return nested(300)

    async with Client(nats_url, user="alice", tenant="acme") as client, start_node({queue: deep}):
        record = await client.enqueue(queue, {}, max_retries=0)
        final = await client.wait(record.task_id, timeout=60)
        healthy = await client.enqueue(queue, {}, max_retries=0)  # the node goes on running tasks
        assert (await client.wait(healthy.task_id, timeout=60)).status is TaskStatus.FAILED
    assert final.status is TaskStatus.FAILED and final.result is None
    assert final.error is not None and TOO_DEEP in final.error.message
    status = await alice.get(f"/status/{record.task_id}")
    assert status.status == 200 and status.body["status"] == "failed", status.body
    assert (await alice.get(f"/result/{record.task_id}")).status != 500
