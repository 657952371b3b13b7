"""Two users and two tenants: nothing leaks through any endpoint; a tenant admin sees all of
its tenant and nothing of another."""

from __future__ import annotations

from collections.abc import Callable

from prsm_tasks.edge.http.app import RunningEdge
from tests.edge.conftest import Caller


async def test_no_leak_between_users_and_tenants(
    edge: RunningEdge, as_user: Callable[..., Caller], queue: str
) -> None:
    alice, bob = as_user("alice", "acme"), as_user("bob", "acme")
    carol = as_user("carol", "globex")
    admin = as_user("root", "acme", roles=("admin",))
    globex_admin = as_user("boss", "globex", roles=("admin",))
    # carol is "alice" in another tenant: same user name, still nothing shared
    alice_elsewhere = as_user("alice", "globex")

    mine = await alice.post("/enqueue", {"queue_name": queue, "task_data": {"secret": 1}})
    task_id = mine.body["task_id"]
    batch = await alice.post(
        "/bulk/enqueue", {"queue_name": queue, "tasks": [{"task_data": {"n": 1}}]}
    )
    batch_task = batch.body["task_ids"][0]
    await carol.post("/enqueue", {"queue_name": queue, "task_data": {"globex": 1}})

    for path in (f"/status/{task_id}", f"/result/{task_id}", f"/status/{batch_task}"):
        answer = await bob.get(path)
        assert answer.status == 403 and answer.body["error"] == "forbidden", answer.body
        for outsider in (carol, globex_admin, alice_elsewhere):
            hidden = await outsider.get(path)
            assert hidden.status == 404 and hidden.body["error"] == "task_not_found"
            assert "secret" not in str(hidden.body)
    assert (await bob.delete(f"/cancel/{task_id}")).status == 403
    assert (await carol.delete(f"/cancel/{task_id}")).status == 404

    def ids(answer) -> set[str]:
        return {task["task_id"] for task in answer.body["tasks"]}

    assert ids(await alice.get("/tasks", queue_name=queue)) == {task_id, batch_task}
    assert ids(await bob.get("/tasks", queue_name=queue)) == set()
    assert task_id not in ids(await carol.get("/tasks", queue_name=queue))
    assert len(ids(await carol.get("/tasks", queue_name=queue))) == 1
    assert ids(await admin.get("/tasks", queue_name=queue)) == {task_id, batch_task}
    assert task_id not in ids(await globex_admin.get("/tasks", queue_name=queue))

    acme_stats = (await bob.get(f"/queue/{queue}/stats")).body["statistics"]
    globex_stats = (await carol.get(f"/queue/{queue}/stats")).body["statistics"]
    assert acme_stats["total_tasks"] == 2  # per tenant: figures only, no task data
    assert globex_stats["total_tasks"] == 1

    # the admin of the tenant reads and cancels; its cancel is recorded as the admin's
    assert (await admin.get(f"/status/{task_id}")).status == 200
    cancelled = await admin.delete(f"/cancel/{task_id}")
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled"
    assert (await alice.get(f"/status/{task_id}")).body["status"] == "cancelled"
