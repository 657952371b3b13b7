"""Every pair of routes that could be read as the other: the hub's slash-terminated paths
and fixed segments beside the PRSM surface's ``GET /tasks``, ``/tasks/{task_id}/events`` and
``/tasks/{task_id}/logs``, and the hub's own fixed segments beside its ``{id}`` patterns."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request

from prsm_tasks.edge.http.app import RunningEdge
from tests.edge.conftest import Caller
from tests.hub.conftest import HubCaller

SCHEDULE_ID = "0b0f3f0e-2c9d-4c1e-9a57-3b6f1d2a4c5e"


async def handler_of(edge: RunningEdge, method: str, path: str) -> str:
    """The operation the edge's own router picks for a concrete path."""
    request = make_mocked_request(method, path, app=edge.app)
    match = await edge.app.router.resolve(request)
    if match.http_exception is not None:
        return f"no route ({match.http_exception.status})"
    return match.handler.__name__


async def test_the_router_reads_each_confusable_path_as_meant(edge: RunningEdge) -> None:
    task = "task_" + "1" * 26
    expected = {
        ("GET", "/tasks"): "list_tasks",
        ("GET", "/tasks/"): "hub_list_tasks",
        ("POST", "/tasks/"): "hub_create_task",
        ("GET", "/tasks/queue-stats/"): "hub_queue_stats",
        ("GET", f"/tasks/{task}/"): "hub_get_task",
        ("GET", "/tasks/42/"): "hub_get_task",
        ("POST", "/tasks/42/retry/"): "hub_retry_task",
        ("GET", f"/tasks/{task}/events"): "task_events",
        ("GET", f"/tasks/{task}/logs"): "task_logs",
        ("GET", "/tasks/monitoring/metrics/"): "hub_list_metrics",
        ("GET", "/tasks/monitoring/alerts/"): "hub_list_alerts",
        ("GET", "/tasks/monitoring/metrics/dashboard/"): "hub_dashboard",
        ("GET", "/tasks/monitoring/alert-rules/"): "hub_list_alert_rules",
        ("GET", "/tasks/monitoring/alert-rules/" + "a" * 32 + "/"): "hub_get_alert_rule",
        ("POST", "/tasks/monitoring/alerts/" + "a" * 32 + ".1/acknowledge/"): (
            "hub_acknowledge_alert"
        ),
        ("GET", "/tasks/persistent-jobs/checkpoints/"): "hub_checkpoints",
        ("GET", "/tasks/persistent-jobs/persistent-jobs/resumable/"): "hub_resumable_jobs",
        ("POST", "/tasks/persistent-jobs/persistent-jobs/42/resume/"): "hub_resume_job",
        ("GET", "/tasks/scheduled/periodic-tasks/"): "hub_list_periodic_tasks",
        ("GET", "/tasks/scheduled/periodic-tasks/ready-for-execution/"): (
            "hub_ready_for_execution"
        ),
        ("POST", "/tasks/scheduled/periodic-tasks/validate-cron/"): "hub_validate_cron",
        ("GET", f"/tasks/scheduled/periodic-tasks/{SCHEDULE_ID}/"): "hub_get_periodic_task",
        ("PATCH", f"/tasks/scheduled/periodic-tasks/{SCHEDULE_ID}/"): ("hub_update_periodic_task"),
        ("GET", "/tasks/scheduled/cron-jobs/"): "hub_cron_jobs",
        ("GET", "/tasks/scheduled/calendar/"): "hub_calendar",
        ("GET", "/tasks/42"): "no route (404)",
        ("GET", "/tasks/queue-stats"): "no route (404)",
        ("GET", "/tasks/scheduled/periodic-tasks"): "no route (404)",
    }
    for (method, path), operation in expected.items():
        assert await handler_of(edge, method, path) == operation, (method, path)


async def test_over_http_each_path_answers_its_own_surface(
    martin: HubCaller, edge: RunningEdge
) -> None:
    plain = Caller(martin.session, martin.url, martin.bearer)
    task = "task_" + "1" * 26

    prsm_list = await plain.get("/tasks")
    assert prsm_list.status == 200 and "pagination" in prsm_list.body
    hub_list = await martin.get("/tasks/")
    assert hub_list.status == 200 and set(hub_list.body) == {"count", "next", "previous", "results"}

    stats = await martin.get("/tasks/queue-stats/")
    assert stats.status == 200 and "queues" in stats.body  # not a task named queue-stats
    for path in ("/tasks/queue-stats", "/tasks/42", f"/tasks/{task}"):
        answer = await martin.get(path)  # without the slash: no hub route, no PRSM route
        assert answer.status in (404, 405), (path, answer.body)
    missing = await martin.get(f"/tasks/{task}/")
    assert missing.status == 404 and missing.body["error_code"] == "TASK_NOT_FOUND"
    by_number = await martin.get("/tasks/999999999/")
    assert by_number.status == 404 and by_number.body["error_code"] == "TASK_NOT_FOUND"
    # the PRSM surface's per-task routes keep their own body (no brand asked)
    events = await plain.get(f"/tasks/{task}/logs")
    assert events.status == 404 and events.body["error"] == "task_not_found"

    metrics = await martin.get("/tasks/monitoring/metrics/")
    assert metrics.status == 200 and metrics.body["results"] == []
    checkpoints = await martin.get("/tasks/persistent-jobs/checkpoints/")
    assert checkpoints.status == 200 and checkpoints.body["results"] == []
    resumable = await martin.get("/tasks/persistent-jobs/persistent-jobs/resumable/")
    assert resumable.status == 200 and resumable.body["count"] == 0

    ready = await martin.get("/tasks/scheduled/periodic-tasks/ready-for-execution/")
    assert ready.status == 200 and ready.body["results"] == []
    checked = await martin.post(
        "/tasks/scheduled/periodic-tasks/validate-cron/", {"cron_expression": "0 9 * * 1-5"}
    )
    assert checked.status == 200 and checked.body["valid"] is True
    no_periodic = await martin.get(f"/tasks/scheduled/periodic-tasks/{SCHEDULE_ID}/")
    assert no_periodic.status == 404 and no_periodic.body["error_code"] == "TASK_NOT_FOUND"
    assert (await martin.get("/tasks/scheduled/periodic-tasks/not-a-uuid/")).status == 404


async def test_the_openapi_document_shows_the_hub(martin: HubCaller) -> None:
    async with martin.session.get(martin.url + "/openapi.json") as response:
        spec = await response.json()
    hub_paths = [
        path for path in spec["paths"] if path.startswith("/tasks/") and path.endswith("/")
    ]
    assert {"/tasks/", "/tasks/{id}/", "/tasks/{id}/retry/", "/tasks/queue-stats/"} <= set(
        hub_paths
    )
    assert "/tasks/scheduled/calendar/" in hub_paths and "/tasks/monitoring/alerts/" in hub_paths
    for path in hub_paths:
        for operation in spec["paths"][path].values():
            names = [(p["name"], p["in"], p["required"]) for p in operation["parameters"]]
            assert ("X-Brand-ID", "header", True) in names, path
            error = operation["responses"]["403"]["content"]["application/json"]["schema"]
            assert error["$ref"].endswith("/HubError"), path
    hub_error = spec["components"]["schemas"]["HubError"]
    assert set(hub_error["required"]) == {"detail", "error_code", "field_errors"}
    create = spec["paths"]["/tasks/"]["post"]["requestBody"]["content"]["application/json"]
    assert create["schema"]["$ref"].endswith("/HubTaskCreate")
