"""The hub's core app over real HTTP against a real edge and node: create, detail by id or
task_id, filters and pages, retry, queue stats; and the document's workflow steps 1 and 2."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prsm_tasks import Client, Fail, TaskContext
from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import Caller
from tests.edge.handlers import echo, slow
from tests.hub.conftest import BRAND, HubCaller, register_type

DETAIL_FIELDS = {
    "id", "task_id", "task_type", "status", "priority", "progress_percentage", "brand",
    "created_by", "created_at", "completed_at", "result_data", "metrics", "description",
    "context_data", "is_periodic", "is_resumable", "retries", "attempt",
}  # fmt: skip


async def final(caller: HubCaller, ref: object) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def stopped() -> bool:
        answer = await caller.get(f"/tasks/{ref}/")
        assert answer.status == 200, answer.body
        seen.update(answer.body)
        return answer.body["status"] in ("completed", "failed", "timeout", "cancelled")

    await eventually(stopped, within_s=60)
    return seen


async def seo_keywords(ctx: TaskContext, keyword_ids: list[int], analysis_depth: str) -> dict:
    await ctx.progress(0.5, "half way")
    return {"keywords_processed": len(keyword_ids), "insights_generated": 45}


async def test_workflow_create_an_seo_task_and_follow_it(
    martin: HubCaller, start_node: NodeFactory, queue: str
) -> None:
    """Steps 1 and 2 of the document: create the SEO task, follow it to its result."""
    task_type = await register_type(martin, "seo_keyword_analysis", queue)
    body = {
        "task_type": task_type,
        "priority": "normal",
        "description": "Analyser 500 mots-clés",
        "context_data": {"keyword_ids": [1, 2, 3, 4, 5], "analysis_depth": "full"},
    }
    created = await martin.post("/tasks/", body)
    assert created.status == 201, created.body
    assert set(created.body) >= DETAIL_FIELDS
    assert isinstance(created.body["id"], int) and created.body["task_id"].startswith("task_")
    assert created.body["status"] == "pending" and created.body["priority"] == "normal"
    assert created.body["created_by"] == {"id": "martin", "username": "martin"}
    assert created.body["brand"]["id"] == BRAND

    async with start_node({queue: seo_keywords}):
        done = await final(martin, created.body["id"])
    assert done["status"] == "completed" and done["progress_percentage"] == 100
    assert done["result_data"] == {"keywords_processed": 5, "insights_generated": 45}
    assert done["description"] == "Analyser 500 mots-clés"
    # measured on the node, as the attempt stores them (models.AttemptMetrics)
    assert done["metrics"]["execution_time_ms"] >= 0 and "cost_usd" in done["metrics"]
    measured = await martin.get("/tasks/", has_metrics="true", task_type=done["task_type"])
    assert [task["id"] for task in measured.body["results"]] == [created.body["id"]]
    too_slow = await martin.get("/tasks/", task_type=done["task_type"], execution_time__gte=10**9)
    assert too_slow.body["count"] == 0
    assert done["execution_time_ms"] is not None and done["completed_at"] is not None
    by_task_id = await martin.get(f"/tasks/{created.body['task_id']}/")
    assert by_task_id.body["id"] == created.body["id"]
    # step 2: the attempt is on the metrics page (measured or not, its time is known)
    metrics = await martin.get("/tasks/monitoring/metrics/", task_type=done["task_type"])
    assert metrics.status == 200, metrics.body
    assert [row["task_id"] for row in metrics.body["results"]] == [created.body["task_id"]]


async def test_bad_bodies_name_every_field_and_write_nothing(
    martin: HubCaller, task_type: str
) -> None:
    before = (await martin.get("/tasks/")).body["count"]
    cases: list[tuple[Any, set[str]]] = [
        ({"priority": "urgent"}, {"task_type", "priority"}),
        ({"task_type": "no_such_type_here"}, {"task_type"}),
        ({"task_type": task_type, "context_data": [1]}, {"context_data"}),
        ({"task_type": task_type, "extra": 1}, {"extra"}),
        ({"task_type": task_type, "description": "x" * 2001}, {"description"}),
        ({"task_type": "bad type!"}, {"task_type"}),
    ]
    for body, fields in cases:
        answer = await martin.post("/tasks/", body)
        assert answer.status == 400, (body, answer.body)
        assert answer.body["error_code"] == "VALIDATION_ERROR", answer.body
        assert set(answer.body["field_errors"]) == fields, answer.body
    missing = await martin.post("/tasks/", {})
    assert missing.body["field_errors"] == {"task_type": ["this field is required"]}
    not_json = await martin.post("/tasks/", raw=b"{")
    assert not_json.status == 400 and "body" in not_json.body["field_errors"]
    assert (await martin.get("/tasks/")).body["count"] == before


async def test_filters_search_and_pages(
    hub_user: Callable[..., HubCaller], queue: str, start_node: NodeFactory
) -> None:
    martin = hub_user("martin")
    report = await register_type(martin, "report_export", queue)
    seo = await register_type(martin, "seo_crawl", queue)
    bodies = [
        {"task_type": seo, "priority": "high", "context_data": {"domain": "a.fr"}},
        {"task_type": seo, "priority": "low", "description": "nightly crawl"},
        {"task_type": report, "priority": "critical", "context_data": {"high_memory": True}},
    ]
    ids = []
    for body in bodies:
        answer = await martin.post("/tasks/", body)
        assert answer.status == 201, answer.body
        ids.append(answer.body["task_id"])

    async def listed(**params: Any) -> list[str]:
        answer = await martin.get("/tasks/", **params)
        assert answer.status == 200, answer.body
        return [item["task_id"] for item in answer.body["results"]]

    assert await listed() == ids[::-1]  # newest first
    assert await listed(task_type=seo) == [ids[1], ids[0]]
    assert await listed(priority="critical") == [ids[2]]
    assert await listed(search="HIGH_mem") == [ids[2]]  # a data key
    assert await listed(search="nightly") == [ids[1]]  # the description
    assert await listed(search="seo_cr") == [ids[1], ids[0]]  # the type
    assert await listed(status="pending") == ids[::-1]
    assert await listed(status="active") == ids[::-1]
    assert await listed(status="completed") == []
    assert await listed(is_periodic="true") == [] and len(await listed(is_periodic="false")) == 3
    assert await listed(has_metrics="true") == [] and await listed(is_resumable="true") == []
    assert await listed(created_at__gte="2999-01-01T00:00:00Z") == []
    assert len(await listed(created_at__lte="2999-01-01T00:00:00+00:00")) == 3

    first = await martin.get("/tasks/", page_size=2)
    assert first.body["count"] == 3 and len(first.body["results"]) == 2
    assert first.body["previous"] is None and "page=2" in first.body["next"]
    second = await martin.get(first.body["next"])
    assert [item["task_id"] for item in second.body["results"]] == [ids[0]]
    assert second.body["next"] is None and "page=1" in second.body["previous"]

    async with start_node({queue: echo}):
        for task_id in ids:
            await final(martin, task_id)
    assert await listed(status="completed") == ids[::-1]
    assert await listed(execution_time__gte=0) == ids[::-1]
    assert await listed(execution_time__gte=10**9) == []

    for name, value in (
        ("status", "done"),
        ("priority", "medium"),
        ("has_metrics", "maybe"),
        ("execution_time__gte", "-1"),
        ("created_at__gte", "yesterday"),
        ("page_size", "101"),
        ("page", "0"),
        ("search", "x" * 201),
    ):
        answer = await martin.get("/tasks/", **{name: value})
        assert answer.status == 400, (name, answer.body)
        assert list(answer.body["field_errors"]) == [name], answer.body


async def test_retry_runs_a_failed_task_again_as_attempt_two(
    martin: HubCaller, task_type: str, queue: str, start_node: NodeFactory
) -> None:
    async def fails_first(ctx: TaskContext, **data: Any) -> dict:
        if ctx.attempt == 1:
            raise Fail("the first attempt fails")
        return {"attempt": ctx.attempt}

    created = await martin.post("/tasks/", {"task_type": task_type})
    number = created.body["id"]
    async with start_node({queue: fails_first}):
        failed = await final(martin, number)
        assert failed["status"] == "failed" and failed["error_message"]
        retried = await martin.post(f"/tasks/{number}/retry/")
        assert retried.status == 200, retried.body
        assert retried.body["task_id"] == created.body["task_id"] and retried.body["id"] == number
        assert retried.body["status"] == "pending"
        done = await final(martin, created.body["task_id"])
    assert done["status"] == "completed" and done["result_data"] == {"attempt": 2}
    assert done["attempt"] == 2
    assert [(r["by"], r["from_status"]) for r in done["retries"]] == [("martin", "failed")]
    again = await martin.post(f"/tasks/{number}/retry/")
    assert again.status == 409 and again.body["error_code"] == "TASK_ALREADY_COMPLETED"


async def test_retry_of_a_task_not_stopped_is_refused(
    martin: HubCaller, task_type: str, queue: str, start_node: NodeFactory, client: Client
) -> None:
    created = await martin.post(
        "/tasks/", {"task_type": task_type, "context_data": {"seconds": 30}}
    )
    task_id = created.body["task_id"]
    pending = await martin.post(f"/tasks/{task_id}/retry/")
    assert pending.status == 409 and pending.body["error_code"] == "TASK_NOT_FINAL"
    async with start_node({queue: slow}):

        async def running() -> bool:
            return (await martin.get(f"/tasks/{task_id}/")).body["status"] == "running"

        await eventually(running, within_s=60)
        answer = await martin.post(f"/tasks/{task_id}/retry/")
        assert answer.status == 409 and answer.body["error_code"] == "TASK_NOT_FINAL"
        detail = await martin.get(f"/tasks/{task_id}/")
        assert detail.body["status"] == "running" and detail.body["retries"] == []
        await client.cancel(task_id)  # the hub has no cancel route: the native client's
        assert (await final(martin, task_id))["status"] == "cancelled"


async def test_queue_stats_count_the_brands_queues(
    martin: HubCaller, task_type: str, queue: str
) -> None:
    for _ in range(2):
        assert (await martin.post("/tasks/", {"task_type": task_type})).status == 201
    stats = await martin.get("/tasks/queue-stats/")
    assert stats.status == 200, stats.body
    (mine,) = [row for row in stats.body["queues"] if row["queue"] == queue]
    assert mine["pending"] == 2 and mine["total"] == 2 and mine["running"] == 0
    assert mine["oldest_pending_age_seconds"] >= 0 and mine["workers"] == 0
    assert stats.body["brand"]["id"] == BRAND and stats.body["totals"]["total"] >= 2


async def test_context_data_is_checked_against_the_types_schema(
    martin: HubCaller, queue: str, type_name: str
) -> None:
    schema = {
        "type": "object",
        "properties": {
            "keyword_ids": {"type": "array", "items": {"type": "integer"}},
            "analysis_depth": {"enum": ["quick", "full"]},
        },
        "required": ["keyword_ids"],
    }
    plain = Caller(martin.session, martin.url, martin.bearer)
    registered = await plain.post(
        "/api/task-types",
        {"name": type_name, "parameters_schema": schema, "metadata": {"queue_name": queue}},
    )
    assert registered.status == 201, registered.body
    bad = {"analysis_depth": "deep", "keyword_ids": ["one"]}
    answer = await martin.post("/tasks/", {"task_type": type_name, "context_data": bad})
    assert answer.status == 400, answer.body
    assert answer.body["error_code"] == "INVALID_TASK_DATA"
    assert set(answer.body["field_errors"]) == {
        "context_data.analysis_depth",
        "context_data.keyword_ids[0]",
    }, answer.body
    good = {"analysis_depth": "full", "keyword_ids": [1]}
    assert (
        await martin.post("/tasks/", {"task_type": type_name, "context_data": good})
    ).status == 201
