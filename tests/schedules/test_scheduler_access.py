"""Who sees which schedule, dependencies between schedules, routing, and the monitoring
routes, over real HTTP against an edge on a real nats-server (a real node for workers)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import aiohttp

from prsm_tasks.edge.app import open_edge
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.edge.http.state import EdgeConfig
from prsm_tasks.services.quotas import Quotas
from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import spawned_edge, token
from tests.edge.handlers import echo
from tests.schedules.conftest import API, Caller, cron_body, patch
from tests.task_types.conftest import register


def fresh(as_user: Callable[..., Caller], **roles: tuple[str, ...]) -> tuple[Caller, str]:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    return as_user("owner", tenant, **roles), tenant


async def test_nothing_crosses_tenants_and_users_see_their_own(
    as_user: Callable[..., Caller],
) -> None:
    owner, tenant = fresh(as_user)
    created = (await owner.post(f"{API}/tasks", cron_body())).body
    path = f"{API}/tasks/{created['task_id']}"
    stranger = as_user("owner", f"other-{uuid.uuid4().hex[:6]}")  # same user name, other tenant
    for answer in (
        await stranger.get(path),
        await patch(stranger, path, {"priority": "low"}),
        await stranger.delete(path),
        await stranger.post(f"{path}/pause"),
        await stranger.post(f"{path}/resume"),
        await stranger.get(f"{path}/dependencies"),
    ):
        assert answer.status == 404, answer.body
    assert (await stranger.get(f"{API}/tasks")).body["total"] == 0
    bulk = await stranger.post(f"{API}/tasks/bulk-delete", {"task_ids": [created["task_id"]]})
    assert bulk.body["deleted"] == 0

    colleague = as_user("colleague", tenant)
    assert (await colleague.get(path)).status == 403
    assert (await colleague.delete(path)).status == 403
    assert (await colleague.get(f"{API}/tasks")).body["total"] == 0
    admin = as_user("boss", tenant, roles=("admin",))
    assert (await admin.get(path)).status == 200
    assert (await admin.get(f"{API}/tasks")).body["total"] == 1
    assert (await patch(admin, path, {"priority": "low"})).status == 200
    assert (await owner.get(path)).body["priority"] == "low"


async def test_dependencies_add_list_delete_and_cycles(as_user: Callable[..., Caller]) -> None:
    owner, _ = fresh(as_user)
    ids = []
    for name in ("extract", "transform", "load"):
        ids.append((await owner.post(f"{API}/tasks", cron_body(task_name=name))).body["task_id"])
    extract, transform, load = ids
    added = await owner.post(
        f"{API}/tasks/{transform}/dependencies",
        {"depends_on_task_id": extract, "dependency_type": "success"},
    )
    assert added.status == 201, added.body
    assert added.body["task_id"] == transform and added.body["depends_on_task_id"] == extract
    assert added.body["dependency_type"] == "success"
    second = await owner.post(
        f"{API}/tasks/{load}/dependencies",
        {"depends_on_task_id": transform, "dependency_type": "completion"},
    )
    assert second.status == 201

    for child, parent in ((extract, load), (extract, transform), (load, load)):
        cycle = await owner.post(
            f"{API}/tasks/{child}/dependencies",
            {"depends_on_task_id": parent, "dependency_type": "any"},
        )
        assert cycle.status == 409, cycle.body
        assert cycle.body["error"] == "dependency_cycle"
    again = await owner.post(
        f"{API}/tasks/{transform}/dependencies", {"depends_on_task_id": extract}
    )
    assert again.status == 409 and again.body["error"] == "dependency_exists"
    bad_type = await owner.post(
        f"{API}/tasks/{load}/dependencies",
        {"depends_on_task_id": extract, "dependency_type": "sometimes"},
    )
    assert bad_type.status == 400 and bad_type.body["field"] == "dependency_type"

    listed = (await owner.get(f"{API}/tasks/{transform}/dependencies")).body["dependencies"]
    assert listed == [
        {
            "dependency_id": added.body["dependency_id"],
            "depends_on_task_id": extract,
            "depends_on_task_name": "extract",
            "dependency_type": "success",
        }
    ]
    removed = await owner.delete(
        f"{API}/tasks/{transform}/dependencies/{added.body['dependency_id']}"
    )
    assert removed.status == 204
    assert (await owner.get(f"{API}/tasks/{transform}/dependencies")).body["dependencies"] == []
    gone = await owner.delete(f"{API}/tasks/{transform}/dependencies/{added.body['dependency_id']}")
    assert gone.status == 404
    # with the edge gone, the cycle it blocked is allowed
    now_ok = await owner.post(f"{API}/tasks/{extract}/dependencies", {"depends_on_task_id": load})
    assert now_ok.status == 201


async def test_a_dependency_on_another_tenants_task_is_404(as_user: Callable[..., Caller]) -> None:
    owner, _ = fresh(as_user)
    stranger, _ = fresh(as_user)
    mine = (await owner.post(f"{API}/tasks", cron_body())).body["task_id"]
    theirs = (await stranger.post(f"{API}/tasks", cron_body())).body["task_id"]
    answer = await owner.post(f"{API}/tasks/{mine}/dependencies", {"depends_on_task_id": theirs})
    assert answer.status == 404
    assert (await owner.get(f"{API}/tasks/{mine}/dependencies")).body["dependencies"] == []


async def test_routing_by_queue_handler_type_or_a_type_named_like_the_task(
    as_user: Callable[..., Caller], queue: str
) -> None:
    owner, _ = fresh(as_user)
    type_name = f"tt-{uuid.uuid4().hex[:8]}"
    await register(owner, type_name, metadata={"queue_name": queue})
    by_name = (await owner.post(f"{API}/tasks", cron_body(task_name=type_name))).body
    assert (await owner.get(f"{API}/tasks/{by_name['task_id']}")).body["queue_name"] == queue
    by_handler = (
        await owner.post(f"{API}/tasks", cron_body(task_name="anything", handler_type=type_name))
    ).body
    item = (await owner.get(f"{API}/tasks/{by_handler['task_id']}")).body
    assert item["queue_name"] == queue and item["handler_type"] == type_name
    explicit = (
        await owner.post(f"{API}/tasks", cron_body(task_name="x", queue_name="nobody_serves_this"))
    ).body
    item = (await owner.get(f"{API}/tasks/{explicit['task_id']}")).body
    assert item["queue_name"] == "nobody_serves_this"
    unknown = await owner.post(f"{API}/tasks", cron_body(handler_type="no-such-type"))
    assert unknown.status == 400 and unknown.body["field"] == "handler_type"


async def test_status_names_unserved_tasks_and_workers_come_from_adverts(
    edge: RunningEdge, as_user: Callable[..., Caller], start_node: NodeFactory, queue: str
) -> None:
    owner, _ = fresh(as_user)
    served = (await owner.post(f"{API}/tasks", cron_body(task_name="s", queue_name=queue))).body
    alone = (
        await owner.post(f"{API}/tasks", cron_body(task_name="a", queue_name=f"{queue}-none"))
    ).body
    async with start_node({queue: echo}, capacity=3) as node:

        async def advertised() -> bool:
            workers = (await owner.get(f"{API}/workers")).body["workers"]
            return any(w["worker_id"] == node.node_id and w["status"] == "active" for w in workers)

        await eventually(advertised)
        listing = await owner.get(f"{API}/workers")
        assert listing.status == 200
        mine = next(w for w in listing.body["workers"] if w["worker_id"] == node.node_id)
        assert mine["capacity"] == 3 and mine["current_load"] == 0
        assert mine["uptime_seconds"] >= 0 and mine["last_heartbeat"].endswith("Z")
        assert listing.body["total"] == len(listing.body["workers"])

        status = await owner.get(f"{API}/status")
        assert status.status == 200, status.body
        body = status.body
        assert body["status"] == "healthy"
        assert body["scheduler"]["leader"] is None and body["scheduler"]["mode"] == "leaderless"
        assert node.node_id in body["scheduler"]["converting_nodes"]
        assert body["scheduler"]["tasks_scheduled"] == 2
        assert body["workers"]["active"] >= 1
        assert set(body["queue"]) == {
            "critical_priority", "high_priority", "medium_priority", "low_priority"
        }  # fmt: skip
        unserved = [task["task_id"] for task in body["unserved_tasks"]]
        assert alone["task_id"] in unserved and served["task_id"] not in unserved


async def test_a_task_made_on_one_edge_is_served_by_another_edge_process(
    alice: Caller, nats_url: str, session: aiohttp.ClientSession
) -> None:
    created = (await alice.post(f"{API}/tasks", cron_body(task_name="shared"))).body
    with spawned_edge(nats_url) as url:
        other = Caller(session, url, token("alice", "acme"))
        got = await other.get(f"{API}/tasks/{created['task_id']}")
        assert got.status == 200 and got.body["task_name"] == "shared"

        async def listed() -> bool:
            tasks = (await other.get(f"{API}/tasks", limit=100)).body["tasks"]
            return created["task_id"] in [task["task_id"] for task in tasks]

        await eventually(listed)
        paused = await other.post(f"{API}/tasks/{created['task_id']}/pause")
        assert paused.status == 200
    assert (await alice.get(f"{API}/tasks/{created['task_id']}")).body["status"] == "paused"


async def test_a_tenant_at_its_schedule_quota_is_refused(
    edge_config: Callable[..., EdgeConfig], session: aiohttp.ClientSession
) -> None:
    async with open_edge(edge_config(quotas=Quotas(max_schedules=2))) as small:
        owner = Caller(session, small.url, token("owner", f"t-{uuid.uuid4().hex[:8]}"))
        assert (await owner.post(f"{API}/tasks", cron_body())).status == 201
        bulk = await owner.post(
            f"{API}/tasks/bulk", {"tasks": [cron_body(task_name="b1"), cron_body(task_name="b2")]}
        )
        assert bulk.body["created"] == 1 and bulk.body["errors"][0]["error"] == "schedule_limit"
        refused = await owner.post(f"{API}/tasks", cron_body())
        assert refused.status == 429, refused.body
        assert refused.body["error"] == "schedule_limit"
        assert refused.body["limit"] == "PRSM_MAX_SCHEDULES_PER_TENANT"
        assert (await owner.get(f"{API}/tasks")).body["total"] == 2
