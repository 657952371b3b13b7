"""Names that end in a newline are refused with a 4xx on every path, never stored, never a
500; an idempotency key whose task was deleted answers 409."""

from __future__ import annotations

from prsm_tasks import wire
from prsm_tasks.edge.http.app import RunningEdge
from tests.task_types.conftest import SCHEMA, Caller

PATHS = (
    ("GET", "/status/{}"),
    ("GET", "/result/{}"),
    ("DELETE", "/cancel/{}"),
    ("GET", "/tasks/{}/events"),
    ("GET", "/api/tasks/{}"),
    ("GET", "/api/tasks/{}/status"),
    ("POST", "/api/tasks/{}/cancel"),
    ("DELETE", "/api/tasks/{}"),
)


async def test_a_type_with_a_newline_in_its_queue_is_refused(
    edge: RunningEdge, alice: Caller, type_name: str
) -> None:
    answer = await alice.post(
        "/api/task-types",
        {"name": type_name, "parameters_schema": SCHEMA, "metadata": {"queue_name": "abc\n"}},
    )
    assert answer.status == 422, answer.body
    assert answer.body["field"] == "metadata.queue_name"
    named = await alice.post("/api/task-types", {"name": type_name + "\n"})
    assert 400 <= named.status < 500, named.body
    assert (await alice.get("/api/task-types")).body == [] or all(
        item["name"] != type_name for item in (await alice.get("/api/task-types")).body
    )


async def test_enqueue_with_a_newline_in_a_name_is_refused(
    edge: RunningEdge, alice: Caller, queue: str, type_name: str
) -> None:
    for body in (
        {"queue_name": queue + "\n", "task_data": {}},
        {"queue_name": queue, "task_data": {}, "task_type": "t\n"},
    ):
        answer = await alice.post("/enqueue", body)
        assert answer.status == 400, answer.body
    answer = await alice.post("/api/tasks", {"task_type": type_name + "\n", "parameters": {}})
    assert 400 <= answer.status < 500, answer.body
    assert (await alice.get("/tasks", queue_name=queue)).body.get("tasks", []) == []


async def test_task_ids_with_a_newline_are_not_found(edge: RunningEdge, alice: Caller) -> None:
    task_id = await alice.post("/enqueue", {"queue_name": "ml_inference_queue", "task_data": {}})
    known = task_id.body["task_id"]
    for bad in (known + "%0A", wire.new_task_id() + "%0A", known + "%0A%0A"):
        for method, path in PATHS:
            answer = await alice.call(method, path.format(bad))
            assert answer.status in (400, 404), (method, path, answer.status, answer.body)


async def test_a_key_whose_task_was_deleted_answers_409(
    edge: RunningEdge, alice: Caller, queue: str
) -> None:
    body = {"queue_name": queue, "task_data": {"n": 1}, "idempotency_key": "order-17"}
    first = await alice.post("/enqueue", body)
    assert first.status == 200, first.body
    task_id = first.body["task_id"]
    assert (await alice.post("/enqueue", body)).body["task_id"] == task_id
    assert (await alice.call("DELETE", f"/cancel/{task_id}")).status == 200
    assert (await alice.delete(f"/api/tasks/{task_id}")).status in (200, 204)
    again = await alice.post("/enqueue", body)
    assert again.status == 409, again.body
    assert again.body["error"] == "idempotency_key_task_deleted"
    assert "new key" in again.body["message"]
    fresh = await alice.post("/enqueue", {**body, "idempotency_key": "order-18"})
    assert fresh.status == 200 and fresh.body["task_id"] != task_id
