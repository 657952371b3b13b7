"""The task list's integer ids (seed 001): a task's ``id`` is its number (its record's create
revision), ``task_id`` its id; every /api/ path takes either, and the number stays the same
through claims, reports and completion."""

from __future__ import annotations

from collections.abc import Callable

from prsm_tasks.edge.http.app import RunningEdge
from tests.conftest import eventually
from tests.edge.conftest import token
from tests.edge.test_errors import assert_error
from tests.task_types.conftest import Caller, put, register


async def test_a_task_keeps_its_number_from_creation_to_completion(
    alice: Caller, on_second: Callable[..., Caller], type_name: str
) -> None:
    kind = await register(alice, type_name)
    created = await alice.post(
        "/api/tasks", {"task_type_id": kind["id"], "parameters": {"format": "mp4"}}
    )
    assert created.status == 201, created.body
    number, task_id = created.body["id"], created.body["task_id"]
    assert isinstance(number, int) and number >= 1 and task_id.startswith("task_")

    # at once, on the edge that created it: by the number and by the task id
    by_number = await alice.get(f"/api/tasks/{number}")
    assert by_number.status == 200, by_number.body
    assert by_number.body["task_id"] == task_id and by_number.body["id"] == number
    assert (await alice.get(f"/api/tasks/{task_id}")).body == by_number.body
    edited = await put(alice, f"/api/tasks/{number}", {"priority": 20})
    assert edited.status == 200 and (edited.body["id"], edited.body["priority"]) == (number, 20)
    listed = (await alice.get("/api/tasks", task_type_id=kind["id"])).body
    assert [(item["id"], item["task_id"]) for item in listed] == [(number, task_id)]
    status = await alice.get(f"/api/tasks/{number}/status")  # the events surface's route
    assert status.status == 200 and status.body["task_id"] == task_id

    # an external worker claims it and completes it by its number
    worker = Caller(alice.session, alice.url, token("svc", "acme", roles=("worker",)))
    claimed = await worker.post("/api/tasks/claim", {"task_type": type_name, "worker_id": "w1"})
    assert claimed.status == 200, claimed.body
    assert (claimed.body["id"], claimed.body["task_id"]) == (number, task_id)
    running = await put(worker, f"/api/tasks/{number}", {"status": "running", "worker_id": "w1"})
    assert running.status == 200 and running.body["id"] == number
    done = await put(
        worker,
        f"/api/tasks/{number}",
        {"status": "completed", "worker_id": "w1", "result": {"ok": True}},
    )
    assert done.status == 200, done.body
    assert (done.body["id"], done.body["status"]) == (number, "completed")
    final = (await alice.get(f"/api/tasks/{task_id}")).body
    assert (final["id"], final["result"]) == (number, {"ok": True})
    completed = await alice.get("/api/tasks", task_type_id=kind["id"], status="completed")
    assert [item["id"] for item in completed.body] == [number]

    # another edge knows the number from its watch of the bucket
    elsewhere = on_second()

    async def resolves() -> bool:
        return (await elsewhere.get(f"/api/tasks/{number}")).status == 200

    await eventually(resolves)
    assert (await elsewhere.get(f"/api/tasks/{number}")).body["task_id"] == task_id

    # deleted by its number: the number names nothing any more
    assert (await alice.delete(f"/api/tasks/{number}")).status == 204
    assert_error(await alice.get(f"/api/tasks/{number}"), 404, "task_not_found")


async def test_numbers_of_other_tenants_and_odd_spellings_are_not_found(
    alice: Caller, as_user: Callable[..., Caller], edge: RunningEdge, type_name: str
) -> None:
    await register(alice, type_name)
    created = await alice.post(
        "/api/tasks", {"task_type": type_name, "parameters": {"format": "mp4"}}
    )
    number = created.body["id"]
    mallory = as_user("mallory", "evil", roles=("admin", "worker"))
    for path in (f"/api/tasks/{number}", f"/api/tasks/{number}/status"):
        assert_error(await mallory.get(path), 404, "task_not_found")
    assert_error(await put(mallory, f"/api/tasks/{number}", {"priority": 1}), 404, "task_not_found")
    assert_error(await mallory.post(f"/api/tasks/{number}/cancel"), 404, "task_not_found")
    assert_error(await mallory.delete(f"/api/tasks/{number}"), 404, "task_not_found")
    assert (await alice.get(f"/api/tasks/{number}")).body["status"] == "pending"  # untouched

    unknown = max(edge.services.view.numbers) + 1000
    for ref in (str(unknown), "0", f"0{number}", f"+{number}", "-1", "1e3", "9" * 30, "\u0661"):
        answer = await alice.get(f"/api/tasks/{ref}")
        assert answer.status in (404, 422), (ref, answer.status, answer.body)
        assert answer.body["error"] == "task_not_found", (ref, answer.body)
        assert (await alice.get(f"/api/tasks/{ref}/status")).status == 404, ref


async def test_tasks_of_a_bulk_enqueue_are_numbered_at_once(
    alice: Caller, queue: str, type_name: str
) -> None:
    """Written by this edge in a batch (some held back by max_concurrent): listed with their
    numbers at once, and each number resolves."""
    kind = await register(alice, type_name)
    tasks = [{"task_data": {"format": "mp4"}, "task_type": type_name} for _ in range(4)]
    bulk = await alice.post(
        "/bulk/enqueue",
        {"queue_name": queue, "tasks": tasks, "batch_options": {"max_concurrent": 2}},
    )
    assert bulk.status == 200, bulk.body
    listed = await alice.get("/api/tasks", task_type_id=kind["id"])
    assert listed.status == 200, listed.body
    assert sorted(item["task_id"] for item in listed.body) == sorted(bulk.body["task_ids"])
    numbers = [item["id"] for item in listed.body]
    assert all(isinstance(number, int) for number in numbers) and len(set(numbers)) == 4
    for item in listed.body:
        by_number = await alice.get(f"/api/tasks/{item['id']}")
        assert by_number.status == 200 and by_number.body["task_id"] == item["task_id"]
