"""An integer the wire cannot carry exactly (beyond int64/uint64) is refused on every path
that takes task data, naming its field, and nothing is written: it used to reach the handler
as a float (orjson reads 10**40 as 1e+40)."""

from __future__ import annotations

import pytest

from prsm_tasks import Client, InvalidTaskDataError, ValidationError
from prsm_tasks.edge.http.app import RunningEdge
from tests.edge.test_errors import assert_error, count_tasks
from tests.task_types.conftest import Caller, register
from tests.task_types.test_registry import work_messages

WIDE = 10**40


async def nothing_written(caller: Caller, nats_url: str, queue: str) -> None:
    assert await count_tasks(caller, queue) == 0
    assert await work_messages(nats_url, queue) == 0


async def test_enqueue_refuses_a_wide_integer_in_task_data(
    edge: RunningEdge, alice: Caller, queue: str, nats_url: str
) -> None:
    for wide in (WIDE, 2**64, -(2**63) - 1):
        answer = await alice.post("/enqueue", {"queue_name": queue, "task_data": {"n": wide}})
        assert_error(answer, 400, "invalid_task_data", "task_data.n")
    nested = {"queue_name": queue, "task_data": {"a": [{"b": 1}, {"b": WIDE}]}}
    assert_error(await alice.post("/enqueue", nested), 400, "invalid_task_data", "task_data.a[1].b")
    await nothing_written(alice, nats_url, queue)
    # the edges of the range and long digit strings are carried exactly
    fine = {"max": 2**64 - 1, "min": -(2**63), "text": "1" * 40, "x": 1.5}
    answer = await alice.post("/enqueue", {"queue_name": queue, "task_data": fine})
    assert answer.status == 200, answer.body
    assert (await alice.get(f"/status/{answer.body['task_id']}")).status == 200


async def test_a_wide_integer_in_another_field_is_a_validation_error(
    edge: RunningEdge, alice: Caller, queue: str, nats_url: str
) -> None:
    body = {"queue_name": queue, "task_data": {}, "priority": WIDE}
    assert_error(await alice.post("/enqueue", body), 400, "validation_error", "priority")
    body = {"queue_name": queue, "task_data": {}, "timeout_seconds": -WIDE}
    assert_error(await alice.post("/enqueue", body), 400, "validation_error", "timeout_seconds")
    await nothing_written(alice, nats_url, queue)


async def test_bulk_enqueue_refuses_a_wide_integer_and_writes_nothing(
    edge: RunningEdge, alice: Caller, queue: str, nats_url: str
) -> None:
    tasks = [{"task_data": {"n": n}} for n in range(3)]
    tasks[2] = {"task_data": {"n": WIDE}}
    answer = await alice.post("/bulk/enqueue", {"queue_name": queue, "tasks": tasks})
    assert_error(answer, 400, "invalid_task_data", "tasks[2].task_data.n")
    await nothing_written(alice, nats_url, queue)


async def test_api_tasks_refuses_a_wide_integer_in_parameters_with_422(
    alice: Caller, type_name: str, queue: str, nats_url: str
) -> None:
    created = await register(alice, type_name, metadata={"queue_name": queue})
    parameters = {"format": "mp4", "size": {"width": WIDE}}
    answer = await alice.post("/api/tasks", {"task_type": type_name, "parameters": parameters})
    assert_error(answer, 422, "invalid_task_data", "parameters.size.width")
    by_id = {"task_type_id": created["id"], "parameters": parameters, "priority": 1}
    assert_error(await alice.post("/api/tasks", by_id), 422, "invalid_task_data")
    by_id = {"task_type_id": created["id"], "parameters": {"format": "mp4"}, "priority": WIDE}
    assert_error(await alice.post("/api/tasks", by_id), 422, "validation_error", "priority")
    await nothing_written(alice, nats_url, queue)


async def test_the_native_client_refuses_a_wide_integer_before_writing(
    client: Client, queue: str, nats_url: str
) -> None:
    with pytest.raises(InvalidTaskDataError) as refused:
        await client.enqueue(queue, {"a": {"n": WIDE}})
    assert refused.value.field == "task_data.a.n"
    with pytest.raises(InvalidTaskDataError) as refused:
        await client.enqueue_many(queue, [{"n": 1}, {"n": [1, -WIDE]}])
    assert refused.value.field == "items[1].task_data.n[1]"
    assert isinstance(refused.value, ValidationError)
    assert await work_messages(nats_url, queue) == 0
    record = await client.enqueue(queue, {"n": 2**64 - 1})
    assert record.task_data == {"n": 2**64 - 1}
