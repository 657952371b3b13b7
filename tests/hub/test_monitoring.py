"""The hub's monitoring app over real HTTP: metrics of a task run on a node, the dashboard,
the workers overview, alert rules (CRUD, checked, brand-scoped) and alerts."""

from __future__ import annotations

from tests.conftest import NodeFactory, eventually
from tests.edge.handlers import echo
from tests.hub.conftest import OTHER_BRAND, HubCaller

RULES = "/tasks/monitoring/alert-rules/"
A_RULE = {"name": "deep queue", "metric": "queue_depth", "threshold": 100, "severity": "info"}


async def test_a_task_run_on_a_node_shows_in_metrics_and_the_dashboard(
    martin: HubCaller, task_type: str, queue: str, start_node: NodeFactory
) -> None:
    created = await martin.post("/tasks/", {"task_type": task_type, "context_data": {"n": 1}})
    assert created.status == 201, created.body
    async with start_node({queue: echo}):

        async def listed() -> bool:
            page = await martin.get("/tasks/monitoring/metrics/", task_type=task_type)
            return page.status == 200 and page.body["count"] == 1

        await eventually(listed)
    page = (await martin.get("/tasks/monitoring/metrics/", search=task_type)).body
    row = page["results"][0]
    assert row["task_id"] == created.body["task_id"] and row["task_number"] == created.body["id"]
    assert row["outcome"] == "completed" and row["metrics"]["execution_time_ms"] is not None
    fast = await martin.get(
        "/tasks/monitoring/metrics/", task_type=task_type, **{"execution_time__gte": 10**11}
    )
    assert fast.status == 200 and fast.body["count"] == 0
    # another brand sees none of it
    other = martin.in_brand(OTHER_BRAND)
    assert (await other.get("/tasks/monitoring/metrics/", task_type=task_type)).body["count"] == 0

    board = await martin.get("/tasks/monitoring/metrics/dashboard/", window=600)
    assert board.status == 200 and board.body["window_seconds"] == 600
    groups = [g for g in board.body["groups"] if g["task_type"] == task_type]
    assert groups and groups[0]["count"] == 1
    workers = await martin.get("/tasks/monitoring/workers/overview/")
    assert workers.status == 200 and "workers" in workers.body


async def test_bad_monitoring_params_name_their_field(martin: HubCaller) -> None:
    for path, params, field in (
        ("/tasks/monitoring/metrics/", {"status": "exploded"}, "status"),
        ("/tasks/monitoring/metrics/", {"page_size": 0}, "page_size"),
        ("/tasks/monitoring/metrics/", {"execution_time__gte": "-1"}, "execution_time__gte"),
        ("/tasks/monitoring/metrics/dashboard/", {"window": 10**9}, "window"),
        ("/tasks/monitoring/alerts/", {"include_resolved": "maybe"}, "include_resolved"),
    ):
        answer = await martin.get(path, **params)
        assert answer.status == 400, (path, answer.body)
        assert answer.body["error_code"] == "VALIDATION_ERROR"
        assert field in answer.body["field_errors"], answer.body


async def test_alert_rules_crud_checked_and_kept_in_their_brand(martin: HubCaller) -> None:
    created = await martin.post(RULES, A_RULE)
    assert created.status == 201, created.body
    rule = created.body
    assert rule["metric"] == "queue_depth" and rule["created_by"] == "martin"
    path = f"{RULES}{rule['rule_id']}/"
    assert (await martin.get(path)).body == rule
    assert rule["rule_id"] in [r["rule_id"] for r in (await martin.get(RULES)).body["results"]]

    changed = await martin.patch(path, {"threshold": 5, "severity": "critical"})
    assert changed.status == 200, changed.body
    assert changed.body["threshold"] == 5 and changed.body["severity"] == "critical"

    other = martin.in_brand(OTHER_BRAND)
    assert (await other.get(path)).status == 404
    assert (await other.patch(path, {"threshold": 1})).status == 404
    assert (await other.delete(path)).status == 404
    assert (await other.get(RULES)).body["results"] == []

    bad = await martin.post(RULES, {"metric": "moon_phase", "threshold": "x"})
    assert bad.status == 400 and bad.body["error_code"] == "VALIDATION_ERROR"
    assert {"name", "metric", "threshold"} <= set(bad.body["field_errors"])
    bad_patch = await martin.patch(path, {"window_seconds": 1})
    assert bad_patch.status == 400 and "window_seconds" in bad_patch.body["field_errors"]
    unknown = await martin.patch(path, {"colour": "red"})
    assert unknown.status == 400 and "colour" in unknown.body["field_errors"]
    assert (await martin.get(path)).body["threshold"] == 5  # nothing changed

    assert (await martin.delete(path)).status == 204
    gone = await martin.get(path)
    assert gone.status == 404 and gone.body["error_code"] == "ALERT_RULE_NOT_FOUND"


async def test_alerts_list_and_acknowledge_of_a_missing_alert(martin: HubCaller) -> None:
    listed = await martin.get("/tasks/monitoring/alerts/")
    assert listed.status == 200 and listed.body == {"count": 0, "results": []}
    with_resolved = await martin.get("/tasks/monitoring/alerts/", include_resolved="true")
    assert with_resolved.status == 200
    missing = await martin.post(f"/tasks/monitoring/alerts/{'a' * 32}.1/acknowledge/")
    assert missing.status == 404 and missing.body["error_code"] == "ALERT_NOT_FOUND"
