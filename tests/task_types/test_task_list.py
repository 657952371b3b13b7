"""The task list for external workers: create, read, list, report, delete; claims by two
workers at once; a lapsed lease; the HTTP SDK worker loop of docs/task_types.md."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from prsm_tasks import TaskContext
from prsm_tasks.client.http import SyncTaskAPI
from prsm_tasks.edge.http.app import RunningEdge
from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import token
from tests.edge.test_errors import assert_error
from tests.task_types.conftest import Caller, put, register

ITEM_FIELDS = {
    "id", "task_id", "task_type_id", "status", "parameters", "priority", "metadata", "result",
    "error_message", "created_at", "updated_at", "started_at", "completed_at",
}  # fmt: skip


@pytest.mark.partitioned
async def test_a_task_from_creation_to_deletion(alice: Caller, type_name: str) -> None:
    kind = await register(alice, type_name)
    created = await alice.post(
        "/api/tasks",
        {
            "task_type_id": kind["id"],
            "parameters": {"format": "mp4", "resolution": "1080p"},
            "priority": 50,
            "metadata": {"request_id": "req-456"},
        },
    )
    assert created.status == 201, created.body
    task = created.body
    assert set(task) >= ITEM_FIELDS
    assert task["status"] == "pending" and task["task_type_id"] == kind["id"]
    assert task["priority"] == 50 and task["metadata"] == {"request_id": "req-456"}
    assert task["result"] is None and task["error_message"] is None
    assert task["updated_at"] is None and task["started_at"] is None
    assert task["queue_name"] == type_name  # a queue named after the type
    task_id = task["task_id"]

    # a normal task of the system: /status shows it, in the critical band (50 -> 10)
    status = (await alice.get(f"/status/{task_id}")).body
    assert status["status"] == "enqueued" and status["priority"] == 10
    assert status["task_type"] == type_name and status["queue_name"] == type_name

    assert "grant=" in task.pop("stream_url")  # the create answer's one extra field
    assert (await alice.get(f"/api/tasks/{task_id}")).body == task
    listed = (await alice.get("/api/tasks", task_type_id=kind["id"], status="pending")).body
    assert [item["task_id"] for item in listed] == [task_id]
    assert (await alice.get("/api/tasks", task_type_id=kind["id"], status="running")).body == []

    running = await put(alice, f"/api/tasks/{task_id}", {"status": "running"})
    assert running.status == 200, running.body
    assert running.body["status"] == "running" and running.body["started_at"] is not None
    assert running.body["completed_at"] is None
    assert_error(
        await put(alice, f"/api/tasks/{task_id}", {"status": "pending"}), 409, "illegal_transition"
    )
    done = await put(
        alice, f"/api/tasks/{task_id}", {"status": "completed", "result": {"clusters": 5}}
    )
    assert done.status == 200, done.body
    assert done.body["status"] == "completed" and done.body["result"] == {"clusters": 5}
    assert done.body["completed_at"] is not None and done.body["updated_at"] is not None
    assert (await alice.get(f"/result/{task_id}")).body["result"] == {"clusters": 5}
    for late in ({"status": "failed"}, {"status": "running"}, {"metadata": {"x": 1}}):
        assert_error(await put(alice, f"/api/tasks/{task_id}", late), 409, "task_already_finished")

    assert (await alice.delete(f"/api/tasks/{task_id}")).status == 204
    assert_error(await alice.get(f"/api/tasks/{task_id}"), 404, "task_not_found")


async def test_fail_cancel_and_delete_of_a_pending_task(alice: Caller, type_name: str) -> None:
    await register(alice, type_name)
    params = {"format": "webm"}
    first, second, third = [
        (await alice.post("/api/tasks", {"task_type": type_name, "parameters": params})).body[
            "task_id"
        ]
        for _ in range(3)
    ]
    failed = await put(
        alice, f"/api/tasks/{first}", {"status": "failed", "error_message": "no disk"}
    )
    assert failed.body["status"] == "failed" and failed.body["error_message"] == "no disk"
    cancelled = await put(alice, f"/api/tasks/{second}", {"status": "cancelled"})
    assert cancelled.body["status"] == "cancelled"
    assert (await alice.get(f"/status/{second}")).body["status"] == "cancelled"
    assert (await alice.delete(f"/api/tasks/{third}")).status == 204  # pending: cancelled, gone
    assert_error(await alice.get(f"/status/{third}"), 404, "task_not_found")
    edited = await put(
        alice, f"/api/tasks/{first}", {"parameters": {"format": "mp4"}}
    )  # a finished task is not edited
    assert_error(edited, 409, "task_already_finished")
    bob = Caller(alice.session, alice.url, token("bob", "acme"))
    assert_error(await bob.get(f"/api/tasks/{first}"), 403, "forbidden")
    assert (await bob.get("/api/tasks")).body == []


async def test_pending_edits_are_checked_and_may_change_the_band(
    alice: Caller, type_name: str
) -> None:
    await register(alice, type_name)
    task_id = (
        await alice.post("/api/tasks", {"task_type": type_name, "parameters": {"format": "mp4"}})
    ).body["task_id"]
    bad = await put(alice, f"/api/tasks/{task_id}", {"parameters": {"format": 1}})
    assert_error(bad, 422, "invalid_task_data", "parameters.format")
    moved = await put(alice, f"/api/tasks/{task_id}", {"priority": 950, "metadata": {"m": 1}})
    assert moved.body["priority"] == 950 and moved.body["metadata"] == {"m": 1}
    assert (await alice.get(f"/status/{task_id}")).body["priority"] == 1
    worker = Caller(alice.session, alice.url, token("svc", "acme", roles=("worker",)))
    claimed = await worker.post(
        "/api/tasks/claim", {"task_type": type_name, "worker_id": "w1", "lease_seconds": 30}
    )
    assert claimed.status == 200 and claimed.body["task_id"] == task_id  # once, from either band
    again = await worker.post("/api/tasks/claim", {"task_type": type_name, "worker_id": "w2"})
    assert again.status == 204


@pytest.mark.partitioned
async def test_two_workers_claiming_at_once_get_different_tasks(
    alice: Caller, on_second: Callable[..., Caller], type_name: str
) -> None:
    await register(alice, type_name)
    ids = {
        (
            await alice.post(
                "/api/tasks", {"task_type": type_name, "parameters": {"format": "mp4"}}
            )
        ).body["task_id"]
        for _ in range(2)
    }
    workers = [
        Caller(alice.session, alice.url, token("svc-a", "acme", roles=("worker",))),
        on_second("svc-b", "acme", roles=("worker",)),
    ]
    answers = await asyncio.gather(
        *(
            worker.post(
                "/api/tasks/claim",
                {"task_type": type_name, "worker_id": f"w{index}", "lease_seconds": 60},
            )
            for index, worker in enumerate(workers)
        )
    )
    assert [answer.status for answer in answers] == [200, 200], [a.body for a in answers]
    claimed = {answer.body["task_id"] for answer in answers}
    assert claimed == ids
    assert {answer.body["worker_id"] for answer in answers} == {"w0", "w1"}
    assert all(answer.body["status"] == "running" for answer in answers)
    nothing = await workers[0].post("/api/tasks/claim", {"task_type": type_name, "worker_id": "w9"})
    assert nothing.status == 204
    # the records say who runs them
    for answer in answers:
        status = (await alice.get(f"/status/{answer.body['task_id']}")).body
        assert status["status"] == "processing"
        assert status["worker_node"] == f"external:{answer.body['worker_id']}"


@pytest.mark.partitioned
async def test_a_lapsed_lease_returns_the_task_to_the_queue(alice: Caller, type_name: str) -> None:
    await register(alice, type_name)
    task_id = (
        await alice.post("/api/tasks", {"task_type": type_name, "parameters": {"format": "mp4"}})
    ).body["task_id"]
    worker = Caller(alice.session, alice.url, token("svc", "acme", roles=("worker",)))
    claim = {"task_type": type_name, "lease_seconds": 1}
    first = await worker.post("/api/tasks/claim", {**claim, "worker_id": "slow"})
    assert first.status == 200 and first.body["attempt"] == 1
    assert (await worker.post("/api/tasks/claim", {**claim, "worker_id": "eager"})).status == 204

    taken: dict[str, Any] = {}

    async def taken_over() -> bool:
        answer = await worker.post("/api/tasks/claim", {**claim, "worker_id": "eager"})
        if answer.status == 200:
            taken.update(answer.body)
        return answer.status == 200

    started = time.monotonic()
    await eventually(taken_over, interval_s=0.2)
    assert time.monotonic() - started >= 0.5  # not before the lease ran out
    assert taken["task_id"] == task_id and taken["worker_id"] == "eager" and taken["attempt"] == 2
    late = await put(worker, f"/api/tasks/{task_id}", {"status": "completed", "worker_id": "slow"})
    assert_error(late, 409, "claim_lost")
    renewed = await put(
        worker,
        f"/api/tasks/{task_id}",
        {"status": "running", "worker_id": "eager", "lease_seconds": 30},
    )
    assert renewed.status == 200 and renewed.body["lease_expires_at"] > taken["lease_expires_at"]
    done = await put(worker, f"/api/tasks/{task_id}", {"status": "completed", "worker_id": "eager"})
    assert done.body["status"] == "completed"
    await asyncio.sleep(1.5)  # the first claim's lease time passes again: nothing comes back
    assert (await worker.post("/api/tasks/claim", {**claim, "worker_id": "x"})).status == 204


async def test_claims_stay_within_the_tenant_and_known_queues(
    alice: Caller, type_name: str, queue: str
) -> None:
    await register(alice, type_name, metadata={"queue_name": queue})
    await alice.post("/api/tasks", {"task_type": type_name, "parameters": {"format": "mp4"}})
    outsider = Caller(alice.session, alice.url, token("svc", "other", roles=("admin",)))
    await register(outsider, type_name, metadata={"queue_name": queue})  # same name, own tenant
    by_type = await outsider.post("/api/tasks/claim", {"task_type": type_name, "worker_id": "o"})
    assert by_type.status == 204
    by_queue = await outsider.post("/api/tasks/claim", {"queue_name": queue, "worker_id": "o"})
    assert by_queue.status == 204
    nosy = await outsider.post(
        "/api/tasks/claim", {"queue_name": "no-such-queue-here", "worker_id": "o"}
    )
    assert_error(nosy, 400, "queue_not_available")
    own = await alice.post("/api/tasks/claim", {"queue_name": queue, "worker_id": "a"})
    assert own.status == 200


def run_worker(url: str, bearer: str, task_type: str, stop_after: int) -> list[str]:
    """The worker loop of docs/task_types.md (plus a stop, for the test)."""
    done: list[str] = []
    with SyncTaskAPI(url, bearer) as api:
        while len(done) < stop_after:
            task = api.claim_task(task_type=task_type, worker_id="readme", lease_seconds=30)
            if task is None:
                time.sleep(0.1)
                continue
            try:
                width = task["parameters"]["size"]["width"]
                api.complete_task(task["id"], {"width": width * 2}, worker_id="readme")
            except KeyError as exc:
                api.fail_task(task["id"], f"missing {exc}", worker_id="readme")
            done.append(task["id"])
    return done


async def test_the_readme_worker_loop(edge: RunningEdge, alice: Caller, type_name: str) -> None:
    await register(alice, type_name)
    good = await alice.post(
        "/api/tasks",
        {"task_type": type_name, "parameters": {"format": "mp4", "size": {"width": 2}}},
    )
    bare = await alice.post("/api/tasks", {"task_type": type_name, "parameters": {"format": "mp4"}})
    done = await asyncio.wait_for(
        asyncio.to_thread(run_worker, edge.url, token("alice", "acme"), type_name, 2), 60
    )
    assert sorted(done) == sorted([good.body["id"], bare.body["id"]])
    assert (await alice.get(f"/api/tasks/{good.body['id']}")).body["result"] == {"width": 4}
    failed = (await alice.get(f"/api/tasks/{bare.body['id']}")).body
    assert failed["status"] == "failed" and "size" in failed["error_message"]


async def test_a_task_moved_to_another_band_runs_once(
    alice: Caller, type_name: str, start_node: NodeFactory
) -> None:
    """Its first work message stays in the old band: a node must not run that stale copy."""
    registered = await register(alice, type_name)
    queue = registered["queue_name"]
    runs: list[str] = []

    async def handler(ctx: TaskContext, **parameters: Any) -> str:
        runs.append(ctx.task_id)
        return "ok"

    moved_ids = []
    for priority in (950, 50):  # up a band and down a band
        task_id = (
            await alice.post(
                "/api/tasks",
                {"task_type": type_name, "parameters": {"format": "mp4"}, "priority": 500},
            )
        ).body["task_id"]
        assert (await put(alice, f"/api/tasks/{task_id}", {"priority": priority})).status == 200
        moved_ids.append(task_id)
    async with start_node({queue: handler}):

        async def all_completed() -> bool:
            statuses = [(await alice.get(f"/status/{t}")).body["status"] for t in moved_ids]
            return statuses == ["completed", "completed"]

        await eventually(all_completed)
        await asyncio.sleep(0.5)  # a second run would come from the message left behind
    assert sorted(runs) == sorted(moved_ids)
