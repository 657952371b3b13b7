"""The scheduler API's task routes over real HTTP against an edge on a real nats-server:
create, get, list, PATCH, delete, pause and resume, bulk, and what bad input gets."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tests.schedules.conftest import API, Caller, cron_body, patch

UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_the_documents_create_answers_201_with_the_next_time_in_utc(alice: Caller) -> None:
    answer = await alice.post(f"{API}/tasks", cron_body())
    assert answer.status == 201, answer.body
    body = answer.body
    assert set(body) == {"task_id", "task_name", "status", "next_execution_time", "created_at"}
    uuid.UUID(body["task_id"])
    assert body["status"] == "scheduled"
    assert UTC_TIME.match(body["next_execution_time"])
    # midnight in New York is 04:00 or 05:00 UTC
    assert body["next_execution_time"][11:] in ("04:00:00Z", "05:00:00Z")

    got = await alice.get(f"{API}/tasks/{body['task_id']}")
    assert got.status == 200
    item = got.body
    assert item["task_type"] == "cron" and item["schedule_expression"] == "0 0 * * *"
    assert item["timezone"] == "America/New_York" and item["enabled"] is True
    assert item["payload"] == {"report_type": "daily", "recipients": ["admin@example.com"]}
    assert item["priority"] == "high" and item["tags"] == {"team": "analytics", "env": "production"}
    assert item["retry_count"] == 0 and item["last_execution_time"] is None
    assert item["queue_name"] == "daily_report_generation"  # no type of that name: its queue


async def test_patch_answers_only_the_fields_that_changed_and_the_new_time(alice: Caller) -> None:
    created = (await alice.post(f"{API}/tasks", cron_body(timezone="UTC"))).body
    answer = await patch(
        alice,
        f"{API}/tasks/{created['task_id']}",
        {"schedule_expression": "0 2 * * *", "enabled": True, "priority": "medium"},
    )
    assert answer.status == 200, answer.body
    assert answer.body["updated_fields"] == ["schedule_expression", "priority"]
    assert answer.body["next_execution_time"].endswith("T02:00:00Z")
    item = (await alice.get(f"{API}/tasks/{created['task_id']}")).body
    assert item["priority"] == "medium" and item["schedule_expression"] == "0 2 * * *"


async def test_pause_and_resume(alice: Caller) -> None:
    created = (await alice.post(f"{API}/tasks", cron_body(timezone="UTC"))).body
    path = f"{API}/tasks/{created['task_id']}"
    paused = await alice.post(f"{path}/pause")
    assert paused.status == 200, paused.body
    assert paused.body["status"] == "paused" and UTC_TIME.match(paused.body["paused_at"])
    item = (await alice.get(path)).body
    assert item["status"] == "paused" and item["enabled"] is False
    listed = (await alice.get(f"{API}/tasks", status="paused")).body["tasks"]
    assert created["task_id"] in [task["task_id"] for task in listed]

    resumed = await alice.post(f"{path}/resume")
    assert resumed.status == 200, resumed.body
    assert resumed.body["status"] == "scheduled"
    assert resumed.body["next_execution_time"].endswith("T00:00:00Z")
    assert UTC_TIME.match(resumed.body["resumed_at"])
    assert (await alice.get(path)).body["paused_at"] is None


async def test_delete_answers_204_and_the_task_is_gone(alice: Caller) -> None:
    created = (await alice.post(f"{API}/tasks", cron_body())).body
    path = f"{API}/tasks/{created['task_id']}"
    deleted = await alice.delete(path)
    assert deleted.status == 204
    assert (await alice.get(path)).status == 404
    assert (await alice.delete(path)).status == 404


async def test_interval_and_one_time_tasks(alice: Caller) -> None:
    every = await alice.post(
        f"{API}/tasks",
        {"task_name": "poll", "task_type": "interval", "schedule_expression": "90"},
    )
    assert every.status == 201, every.body
    at = later(hours=2)
    once = await alice.post(
        f"{API}/tasks",
        {"task_name": "once", "task_type": "one_time", "next_execution_time": at},
    )
    assert once.status == 201, once.body
    assert once.body["next_execution_time"] == at


async def test_list_filters_and_pages(as_user: Callable[..., Caller]) -> None:
    owner = as_user(f"lister-{uuid.uuid4().hex[:6]}")
    marker = uuid.uuid4().hex[:8]
    for index, priority in enumerate(["low", "high", "high", "critical"]):
        answer = await owner.post(
            f"{API}/tasks",
            cron_body(task_name=f"job_{index}", priority=priority, tags={"run": marker}),
        )
        assert answer.status == 201
    await owner.post(f"{API}/tasks", cron_body(task_name="other"))
    listed = (await owner.get(f"{API}/tasks", tag=f"run:{marker}")).body
    assert listed["total"] == 4 and listed["limit"] == 20 and listed["offset"] == 0
    assert [task["task_name"] for task in listed["tasks"]] == ["job_3", "job_2", "job_1", "job_0"]
    assert set(listed["tasks"][0]) >= {"task_id", "task_name", "status", "next_execution_time"}
    high = (await owner.get(f"{API}/tasks", priority="high", tag=f"run:{marker}")).body
    assert high["total"] == 2
    page = (await owner.get(f"{API}/tasks", tag=f"run:{marker}", limit=2, offset=1)).body
    assert [task["task_name"] for task in page["tasks"]] == ["job_2", "job_1"]
    assert page["total"] == 4
    scheduled = (await owner.get(f"{API}/tasks", status="scheduled")).body
    assert scheduled["total"] == 5


async def test_bulk_create_reports_each_item(alice: Caller) -> None:
    answer = await alice.post(
        f"{API}/tasks/bulk",
        {
            "tasks": [
                {
                    "task_name": "task1",
                    "task_type": "one_time",
                    "next_execution_time": later(hours=1),
                },
                {"task_name": "task2", "task_type": "cron", "schedule_expression": "99 * * * *"},
                {
                    "task_name": "task3",
                    "task_type": "one_time",
                    "next_execution_time": later(hours=2),
                },
                {"task_name": "task4", "task_type": "cron", "timezone": "Nowhere/Land"},
            ]
        },
    )
    assert answer.status == 201, answer.body
    body = answer.body
    assert body["created"] == 2 and body["failed"] == 2 and len(body["task_ids"]) == 2
    assert [(error["index"], error["field"]) for error in body["errors"]] == [
        (1, "schedule_expression"),
        (3, "timezone"),
    ]
    for task_id in body["task_ids"]:
        assert (await alice.get(f"{API}/tasks/{task_id}")).status == 200

    missing = str(uuid.uuid4())
    removed = await alice.post(
        f"{API}/tasks/bulk-delete", {"task_ids": [*body["task_ids"], missing]}
    )
    assert removed.status == 200, removed.body
    assert removed.body["deleted"] == 2 and removed.body["failed"] == 1
    assert removed.body["errors"][0]["index"] == 2


async def test_bad_input_gets_a_400_naming_the_field_and_writes_nothing(
    as_user: Callable[..., Caller],
) -> None:
    caller = as_user(f"hostile-{uuid.uuid4().hex[:6]}")
    cases = [
        (cron_body(schedule_expression="0 0 * *"), "schedule_expression"),
        (cron_body(schedule_expression="*/0 * * * *"), "schedule_expression"),
        (cron_body(schedule_expression="0 0 " + "1," * 200 + " * *"), "schedule_expression"),
        (cron_body(timezone="Atlantis/Capital"), "timezone"),
        (cron_body(timezone="/etc/passwd"), "timezone"),
        (cron_body(surprise=1), "surprise"),
        (cron_body(priority="urgent"), "priority"),
        (cron_body(task_name="bad name with spaces"), "task_name"),
        (cron_body(tags={f"k{i}": "v" for i in range(50)}), "tags"),
        (cron_body(tags={"team": 5}), "tags.team"),
        (cron_body(max_retries=10_000), "max_retries"),
        (cron_body(task_type="weekly"), "task_type"),
        (
            {"task_name": "late", "task_type": "one_time", "next_execution_time": later(hours=-1)},
            "next_execution_time",
        ),
        (
            {"task_name": "late", "task_type": "one_time", "next_execution_time": "yesterday"},
            "next_execution_time",
        ),
        (cron_body(task_name="Not A Queue", queue_name=None), "task_name"),
    ]
    for body, field in cases:
        answer = await caller.post(f"{API}/tasks", body)
        assert answer.status == 400, (body, answer.body)
        assert answer.body["field"] == field, (body, answer.body)
        assert answer.body["error"] == "validation_error"
        assert set(answer.body) >= {"error", "message", "code", "timestamp"}
    assert (await caller.get(f"{API}/tasks")).body["total"] == 0


async def test_patch_bad_input_changes_nothing(alice: Caller) -> None:
    created = (await alice.post(f"{API}/tasks", cron_body(timezone="UTC"))).body
    path = f"{API}/tasks/{created['task_id']}"
    before = (await alice.get(path)).body
    for body, field in [
        ({"schedule_expression": "bad"}, "schedule_expression"),
        ({"timezone": "Nope/Nope"}, "timezone"),
        ({"priority": None}, "priority"),
        ({"color": "red"}, "color"),
        ({"task_type": "one_time", "next_execution_time": later(hours=-2)}, "next_execution_time"),
    ]:
        answer = await patch(alice, path, body)
        assert answer.status == 400, (body, answer.body)
        assert answer.body["field"] == field
    assert (await alice.get(path)).body == before


async def test_an_unknown_or_malformed_id_is_404(alice: Caller) -> None:
    for task_id in (str(uuid.uuid4()), "not-a-uuid", "x" * 500):
        assert (await alice.get(f"{API}/tasks/{task_id}")).status == 404
        assert (await alice.post(f"{API}/tasks/{task_id}/pause")).status == 404


async def test_bad_list_parameters_are_400(alice: Caller) -> None:
    for params, field in [
        ({"status": "running"}, "status"),
        ({"priority": "urgent"}, "priority"),
        ({"limit": 0}, "limit"),
        ({"limit": 1000}, "limit"),
        ({"offset": -1}, "offset"),
        ({"tag": "no-colon"}, "tag"),
    ]:
        answer = await alice.get(f"{API}/tasks", **params)
        assert answer.status == 400, (params, answer.body)
        assert answer.body["field"] == field


async def test_a_payload_too_large_or_too_deep_is_refused_by_name(alice: Caller) -> None:
    big = await alice.post(f"{API}/tasks", cron_body(payload={"blob": "x" * 300_000}))
    assert big.status == 413 and big.body["field"] == "payload", big.body
    deep: dict = {}
    node = deep
    for _ in range(70):
        node["d"] = {}
        node = node["d"]
    nested = await alice.post(f"{API}/tasks", cron_body(payload=deep))
    assert nested.status in (400, 413) and nested.body["field"].startswith("payload"), nested.body
