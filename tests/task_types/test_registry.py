"""The task-type registry over HTTP: CRUD, races through two edges, schema checks on every
enqueue path (and nothing written on a reject), inactive types, node-registered types."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import nats

from prsm_tasks import TaskContext
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.handlers import HandlerRegistry
from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import token
from tests.edge.test_errors import assert_error
from tests.task_types.conftest import SCHEMA, Caller, put, register


async def test_register_read_update_and_soft_delete(alice: Caller, type_name: str) -> None:
    created = await register(alice, type_name, description="videos", metadata={"category": "media"})
    assert isinstance(created["id"], int) and created["id"] >= 1
    assert created["name"] == type_name and created["description"] == "videos"
    assert created["parameters_schema"] == SCHEMA
    assert created["metadata"] == {"category": "media"}
    assert created["is_active"] is True and created["updated_at"] is None
    assert created["created_at"].endswith("Z")
    assert created["scope"] == "tenant" and created["queue_name"] == type_name
    type_id = created["id"]

    listed = (await alice.get("/api/task-types")).body
    assert type_id in [item["id"] for item in listed]
    assert (await alice.get(f"/api/task-types/{type_id}")).body == created

    changed = await put(alice, f"/api/task-types/{type_id}", {"description": "clips"})
    assert changed.status == 200, changed.body
    assert changed.body["description"] == "clips" and changed.body["updated_at"] is not None
    assert changed.body["parameters_schema"] == SCHEMA  # fields not sent stay

    gone = await alice.delete(f"/api/task-types/{type_id}")
    assert gone.status == 204 and gone.body in ("", None)
    assert type_id not in [item["id"] for item in (await alice.get("/api/task-types")).body]
    inactive = (await alice.get("/api/task-types", include_inactive="true")).body
    assert [item["is_active"] for item in inactive if item["id"] == type_id] == [False]
    assert (await alice.get(f"/api/task-types/{type_id}")).body["is_active"] is False
    again = await alice.post("/api/task-types", {"name": type_name})
    assert_error(again, 409, "task_type_exists", "name")  # a soft delete keeps the name

    # other tenants see none of it
    other = Caller(alice.session, alice.url, token("eve", "other"))
    assert_error(await other.get(f"/api/task-types/{type_id}"), 404, "task_type_not_found")
    assert type_id not in [t["id"] for t in (await other.get("/api/task-types")).body]
    assert (await other.post("/api/task-types", {"name": type_name})).status == 201


async def test_invalid_schema_and_bad_fields_get_422(alice: Caller, type_name: str) -> None:
    bad = await alice.post(
        "/api/task-types",
        {
            "name": type_name,
            "parameters_schema": {"type": "object", "properties": {"a": {"type": 5}}},
        },
    )
    assert_error(bad, 422, "invalid_schema", "parameters_schema")
    assert "properties/a/type" in bad.body["message"] or "/properties/a" in bad.body["message"]
    assert_error(
        await alice.post("/api/task-types", {"name": "has space"}), 422, "validation_error", "name"
    )
    assert_error(
        await alice.post(
            "/api/task-types", {"name": type_name, "metadata": {"queue_name": "Not A Queue"}}
        ),
        422,
        "validation_error",
        "metadata.queue_name",
    )
    # nothing was created by those
    names = [
        item["name"] for item in (await alice.get("/api/task-types", include_inactive="true")).body
    ]
    assert type_name not in names
    assert_error(await alice.get("/api/task-types/999999999"), 404, "task_type_not_found")


async def test_one_name_created_at_once_through_two_edges_gives_one_201(
    alice: Caller, on_second: Callable[..., Caller], type_name: str
) -> None:
    bob_on_second = on_second("bob", "acme")
    callers = [alice, bob_on_second] * 5
    answers = await asyncio.gather(
        *(c.post("/api/task-types", {"name": type_name}) for c in callers)
    )
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [201] + [409] * 9, [a.body for a in answers]
    for answer in answers:
        if answer.status == 409:
            assert answer.body["error"] == "task_type_exists"


async def test_ids_are_unique_under_concurrent_creates(
    alice: Caller, on_second: Callable[..., Caller], type_name: str
) -> None:
    second = on_second("alice", "acme")
    answers = await asyncio.gather(
        *(
            (alice if index % 2 else second).post(
                "/api/task-types", {"name": f"{type_name}-{index}"}
            )
            for index in range(24)
        )
    )
    assert all(answer.status == 201 for answer in answers), [a.body for a in answers]
    ids = [answer.body["id"] for answer in answers]
    assert len(set(ids)) == len(ids)


async def work_messages(nats_url: str, queue: str) -> int:
    """How many work messages the queue holds (whatever the band)."""
    connection = await nats.connect(nats_url)
    try:
        info = await connection.jetstream().stream_info(
            "PRSM_WORK", subjects_filter=f"prsm.work.{queue}.>"
        )
        return sum((info.state.subjects or {}).values())
    finally:
        await connection.close()


async def test_task_data_is_checked_on_every_enqueue_path(
    edge: RunningEdge,
    alice: Caller,
    as_user: Callable[..., Caller],
    type_name: str,
    queue: str,
    nats_url: str,
) -> None:
    writer = as_user("walter", "acme")  # a user with no tasks yet: whatever he writes counts
    await register(alice, type_name, metadata={"queue_name": queue})
    bad = {"format": "avi", "size": {"width": 0}}

    answer = await writer.post(
        "/enqueue", {"queue_name": queue, "task_data": bad, "task_type": type_name}
    )
    assert_error(answer, 400, "invalid_task_data")
    problems = {(p["field"], p["message"]) for p in answer.body["errors"]}
    fields = {field for field, _ in problems}
    assert fields == {"task_data.format", "task_data.size.width"}, problems
    assert answer.body["field"] in fields

    bulk = await writer.post(
        "/bulk/enqueue",
        {
            "queue_name": queue,
            "tasks": [
                {"task_data": {"format": "mp4"}, "task_type": type_name},
                {"task_data": {"resolution": "8k"}, "task_type": type_name},
            ],
        },
    )
    assert_error(bulk, 400, "invalid_task_data")
    assert {p["field"] for p in bulk.body["errors"]} == {
        "tasks[1].task_data",  # format is required
        "tasks[1].task_data.resolution",
    }

    api = await writer.post("/api/tasks", {"task_type": type_name, "parameters": bad})
    assert_error(api, 422, "invalid_task_data")
    assert {p["field"] for p in api.body["errors"]} == {
        "parameters.format",
        "parameters.size.width",
    }

    # nothing was written for any of them
    assert (await writer.get("/tasks")).body["pagination"]["total_count"] == 0
    assert (await writer.get("/api/tasks")).body == []
    assert await work_messages(nats_url, queue) == 0

    good = {"format": "mp4", "size": {"width": 640}}
    assert (
        await writer.post(
            "/enqueue", {"queue_name": queue, "task_data": good, "task_type": type_name}
        )
    ).status == 200
    assert (
        await writer.post("/api/tasks", {"task_type": type_name, "parameters": good})
    ).status == 201
    assert await work_messages(nats_url, queue) == 2


async def test_an_inactive_type_is_refused_with_400(
    alice: Caller, type_name: str, queue: str
) -> None:
    created = await register(alice, type_name, metadata={"queue_name": queue})
    assert (await alice.delete(f"/api/task-types/{created['id']}")).status == 204
    data = {"format": "mp4"}
    enqueue = await alice.post(
        "/enqueue", {"queue_name": queue, "task_data": data, "task_type": type_name}
    )
    assert_error(enqueue, 400, "task_type_inactive", "task_type")
    api = await alice.post("/api/tasks", {"task_type_id": created["id"], "parameters": data})
    assert_error(api, 400, "task_type_inactive")
    revived = await put(alice, f"/api/task-types/{created['id']}", {"is_active": True})
    assert revived.body["is_active"] is True
    assert (
        await alice.post("/api/tasks", {"task_type_id": created["id"], "parameters": data})
    ).status == 201


async def thumbnail(ctx: TaskContext, url: str, width: int = 128) -> dict[str, Any]:
    """Make a thumbnail of an image."""
    return {"thumbnail": f"{url}@{width}"}


async def test_a_node_registers_its_types_with_their_schema(
    edge: RunningEdge,
    alice: Caller,
    start_node: NodeFactory,
    type_name: str,
    queue: str,
) -> None:
    registry = HandlerRegistry()
    registry.register(thumbnail, queue=queue, task_type=type_name)
    async with start_node(registry, queues=[queue]) as node:

        async def listed() -> dict[str, Any] | None:
            for item in (await alice.get("/api/task-types")).body:
                if item["name"] == type_name:
                    return item
            return None

        async def appeared() -> bool:
            item = await listed()
            return item is not None and node.node_id in item["served_by"]

        await eventually(appeared)
        item = await listed()
        assert item is not None
        assert item["scope"] == "system" and item["queue_name"] == queue
        assert item["description"] == "Make a thumbnail of an image."
        schema = item["parameters_schema"]
        assert schema["required"] == ["url"]
        assert schema["properties"]["width"]["type"] == "integer"
        single = (await alice.get(f"/api/task-types/{item['id']}")).body
        assert single["served_by"] == [node.node_id]

        # the system type is read-only for tenants, and its name is taken
        assert_error(
            await put(alice, f"/api/task-types/{item['id']}", {"description": "x"}),
            403,
            "forbidden",
        )
        assert_error(
            await alice.post("/api/task-types", {"name": type_name}), 409, "task_type_exists"
        )

        # the edge checks its schema, and the node runs what passes
        refused = await alice.post(
            "/api/tasks", {"task_type": type_name, "parameters": {"width": "big"}}
        )
        assert_error(refused, 422, "invalid_task_data")
        assert {p["field"] for p in refused.body["errors"]} == {"parameters", "parameters.width"}
        task = await alice.post("/api/tasks", {"task_type": type_name, "parameters": {"url": "u"}})
        assert task.status == 201 and task.body["queue_name"] == queue

        async def done() -> bool:
            body = (await alice.get(f"/api/tasks/{task.body['id']}")).body
            return body["status"] == "completed"

        await eventually(done)
        final = (await alice.get(f"/api/tasks/{task.body['id']}")).body
        assert final["result"] == {"thumbnail": "u@128"} and final["task_type_id"] == item["id"]


async def echo(ctx: TaskContext, **task_data: Any) -> dict[str, Any]:
    return task_data


async def test_nodes_check_the_schema_again_before_running(
    edge: RunningEdge, alice: Caller, start_node: NodeFactory, type_name: str, queue: str
) -> None:
    created = await register(alice, type_name, metadata={"queue_name": queue})
    task = await alice.post("/api/tasks", {"task_type": type_name, "parameters": {"format": "mp4"}})
    assert task.status == 201
    stricter = {**SCHEMA, "required": ["format", "size"]}
    changed = await put(alice, f"/api/task-types/{created['id']}", {"parameters_schema": stricter})
    assert changed.status == 200
    async with start_node({queue: echo}, queues=[queue]):

        async def failed() -> bool:
            return (await alice.get(f"/api/tasks/{task.body['id']}")).body["status"] == "failed"

        await eventually(failed)
    final = (await alice.get(f"/api/tasks/{task.body['id']}")).body
    assert "task_data" in final["error_message"] and "size" in final["error_message"]
    status = (await alice.get(f"/status/{task.body['task_id']}")).body
    assert status["status"] == "failed"
