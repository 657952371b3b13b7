"""The hub's scheduling app over real HTTP: periodic tasks (the scheduler's schedules,
another face), ready-for-execution, validate-cron, cron-jobs and the calendar; the
document's workflow step 4 (the weekday 9:00 report)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import Caller
from tests.edge.handlers import echo
from tests.hub.conftest import OTHER_BRAND, HubCaller, register_type

PERIODIC = "/tasks/scheduled/periodic-tasks/"
PARIS = ZoneInfo("Europe/Paris")


def local(stamp: str, zone: ZoneInfo = PARIS) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(zone)


async def test_workflow_schedule_the_weekday_report(
    martin: HubCaller, queue: str, type_name: str
) -> None:
    """Step 4 of the document: every weekday at 9:00 (here in Paris)."""
    task_type = await register_type(martin, type_name, queue)
    body = {"cron_expression": "0 9 * * 1-5", "task_type": task_type, "timezone": "Europe/Paris"}
    created = await martin.post(PERIODIC, body)
    assert created.status == 201, created.body
    periodic = created.body
    assert periodic["is_active"] is True and periodic["queue"] == queue
    assert periodic["task_type"] == task_type and periodic["cron_expression"] == "0 9 * * 1-5"
    first = local(periodic["next_run_at"])
    assert (first.hour, first.minute) == (9, 0) and first.isoweekday() <= 5

    listed = await martin.get(PERIODIC)
    assert periodic["id"] in [item["id"] for item in listed.body["results"]]
    assert (await martin.get(f"{PERIODIC}{periodic['id']}/")).body == periodic
    jobs = await martin.get("/tasks/scheduled/cron-jobs/")
    assert periodic["id"] in [item["id"] for item in jobs.body["results"]]

    week = await martin.get(
        "/tasks/scheduled/calendar/",
        **{"from": "2030-01-07T00:00:00Z", "to": "2030-01-14T00:00:00Z"},
    )
    assert week.status == 200, week.body
    runs = [
        local(run["at"]) for run in week.body["runs"] if run["periodic_task_id"] == periodic["id"]
    ]
    assert [(run.day, run.hour) for run in runs] == [(day, 9) for day in range(7, 12)]

    paused = await martin.patch(f"{PERIODIC}{periodic['id']}/", {"is_active": False})
    assert paused.status == 200, paused.body
    assert paused.body["updated_fields"] == ["enabled"] and paused.body["next_run_at"] is None
    assert periodic["id"] not in [
        item["id"] for item in (await martin.get(PERIODIC, is_active="true")).body["results"]
    ]
    moved = await martin.patch(
        f"{PERIODIC}{periodic['id']}/", {"cron_expression": "30 8 * * 1-5", "is_active": True}
    )
    assert moved.status == 200, moved.body
    assert local(moved.body["next_run_at"]).minute == 30
    assert (await martin.call("DELETE", f"{PERIODIC}{periodic['id']}/")).status == 204
    assert (await martin.get(f"{PERIODIC}{periodic['id']}/")).status == 404


async def test_periodic_tasks_stay_in_their_brand(
    martin: HubCaller, hub_user: Callable[..., HubCaller], task_type: str
) -> None:
    created = await martin.post(PERIODIC, {"cron_expression": "0 * * * *", "task_type": task_type})
    periodic_id = created.body["id"]
    for outsider in (
        martin.in_brand(OTHER_BRAND),
        hub_user("eve", f"other-{uuid.uuid4().hex[:8]}"),
    ):
        for method in ("GET", "PATCH", "DELETE"):
            answer = await outsider.call(method, f"{PERIODIC}{periodic_id}/", {"is_active": False})
            assert answer.status == 404, (method, answer.body)
            assert answer.body["error_code"] == "TASK_NOT_FOUND"
        assert (await outsider.get(PERIODIC)).body["count"] == 0
    # the tenant's own token on the scheduler API does not list the brand's schedule
    plain = Caller(martin.session, martin.url, martin.bearer)
    assert periodic_id not in [
        t["task_id"] for t in (await plain.get("/api/v1/tasks")).body["tasks"]
    ]
    assert (await martin.get(f"{PERIODIC}{periodic_id}/")).body["is_active"] is True


async def test_bad_periodic_tasks_are_refused_by_field(martin: HubCaller, task_type: str) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"task_type": task_type}, "cron_expression"),
        ({"cron_expression": "0 9 * * 1-5"}, "task_type"),
        ({"cron_expression": "61 9 * * *", "task_type": task_type}, "schedule_expression"),
        ({"cron_expression": "0 9 * * *", "task_type": "nobody_has_it"}, "task_type"),
        (
            {"cron_expression": "0 9 * * *", "task_type": task_type, "timezone": "Mars/Base"},
            "timezone",
        ),
        (
            {"cron_expression": "0 9 * * *", "task_type": task_type, "priority": "urgent"},
            "priority",
        ),
    ]
    for body, field in cases:
        answer = await martin.post(PERIODIC, body)
        assert answer.status == 400, (body, answer.body)
        assert field in answer.body["field_errors"], answer.body
    assert (await martin.get(PERIODIC)).body["count"] == 0


async def test_validate_cron_says_why_and_when(martin: HubCaller) -> None:
    path = PERIODIC + "validate-cron/"
    valid = await martin.post(path, {"cron_expression": "0 9 * * 1-5", "timezone": "Europe/Paris"})
    assert valid.status == 200 and valid.body["valid"] is True, valid.body
    runs = [local(run) for run in valid.body["next_runs"]]
    assert len(runs) == 5 and all(
        (r.hour, r.minute) == (9, 0) and r.isoweekday() <= 5 for r in runs
    )
    assert runs == sorted(runs) and len(set(runs)) == 5
    for body, field in (
        ({"cron_expression": "0 25 * * *"}, "cron_expression"),
        ({"cron_expression": "0 9 30 2 *"}, "cron_expression"),  # never: February 30th
        ({"cron_expression": "0 9 * * *", "timezone": "Nowhere/City"}, "timezone"),
    ):
        answer = await martin.post(path, body)
        assert answer.status == 200, answer.body
        assert answer.body["valid"] is False and answer.body["field"] == field
        assert answer.body["error"] and answer.body["next_runs"] == []
    assert (await martin.post(path, {})).status == 400


async def test_calendar_windows_are_bounded(martin: HubCaller, task_type: str) -> None:
    every_minute = {"cron_expression": "* * * * *", "task_type": task_type}
    assert (await martin.post(PERIODIC, every_minute)).status == 201
    calendar = "/tasks/scheduled/calendar/"
    day = await martin.get(
        calendar, **{"from": "2030-03-01T00:00:00Z", "to": "2030-03-02T00:00:00Z"}
    )
    assert day.status == 200, day.body
    assert day.body["count"] == 1000 and day.body["truncated"] is True
    assert day.body["runs"][0]["at"].startswith("2030-03-01T00:00:00")
    for params, field in (
        ({"from": "2030-03-01T00:00:00Z", "to": "2030-05-01T00:00:00Z"}, "to"),
        ({"from": "2030-03-02T00:00:00Z", "to": "2030-03-01T00:00:00Z"}, "to"),
        ({"from": "soon"}, "from"),
        ({"from": "0321-12-06T18:46:06Z"}, "from"),
        ({"from": "9999-12-31T00:00:00Z"}, "from"),
        ({"from": "0001-01-01T00:00:00+14:00"}, "from"),
    ):
        answer = await martin.get(calendar, **params)
        assert answer.status == 400 and list(answer.body["field_errors"]) == [field], answer.body


async def test_runs_of_a_periodic_task_are_periodic_tasks_of_the_brand(
    martin: HubCaller, task_type: str, queue: str, start_node: NodeFactory
) -> None:
    """A schedule every second (six fields) fires on a node; its runs show in /tasks/ with
    is_periodic=true. Without a node, a due periodic task is listed ready for execution."""
    created = await martin.post(
        PERIODIC, {"cron_expression": "* * * * * *", "task_type": task_type}
    )
    periodic_id = created.body["id"]

    async def ready() -> bool:
        answer = await martin.get(PERIODIC + "ready-for-execution/")
        return periodic_id in [item["id"] for item in answer.body["results"]]

    await eventually(ready, within_s=30)
    async with start_node({queue: echo}):

        async def ran() -> bool:
            answer = await martin.get("/tasks/", is_periodic="true", status="completed")
            return answer.body["count"] >= 1

        await eventually(ran, within_s=60)
        await martin.patch(f"{PERIODIC}{periodic_id}/", {"is_active": False})
    runs = (await martin.get("/tasks/", is_periodic="true")).body["results"]
    assert runs and all(run["is_periodic"] and run["task_type"] == task_type for run in runs)
    detail = (await martin.get(f"{PERIODIC}{periodic_id}/")).body
    assert detail["last_run_at"] is not None and detail["recent_runs"]
