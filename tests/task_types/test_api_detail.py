"""Errors under /api/ carry FastAPI's ``detail`` (the message again) beside the standard
fields, whichever surface answers; the other paths keep the one body unchanged."""

from __future__ import annotations

from prsm_tasks.edge.http.app import RunningEdge
from tests.edge.test_errors import assert_error
from tests.task_types.conftest import Answer, Caller, put, register

MISSING = "task_" + "0" * 26


def assert_detail(answer: Answer, status: int, code: str) -> None:
    assert_error(answer, status, code)
    assert answer.body["detail"] == answer.body["message"], answer.body


async def test_api_errors_carry_detail(alice: Caller, edge: RunningEdge, type_name: str) -> None:
    nobody = Caller(alice.session, alice.url, None)
    # 404s: the task list's, the events surface's compatibility route's, no such route
    assert_detail(await alice.get(f"/api/tasks/{MISSING}"), 404, "task_not_found")
    assert_detail(await alice.get("/api/tasks/123456789"), 404, "task_not_found")
    assert_detail(await alice.get(f"/api/tasks/{MISSING}/status"), 404, "task_not_found")
    assert_detail(await alice.get("/api/task-types/999999"), 404, "task_type_not_found")
    assert_detail(await alice.get("/api/no-such-thing"), 404, "not_found")
    # 422 and 400
    kind = await register(alice, type_name)
    bad = await alice.post("/api/tasks", {"task_type_id": kind["id"], "parameters": {}})
    assert_detail(bad, 422, "invalid_task_data")
    assert_detail(await alice.get("/api/tasks", limit="many"), 422, "validation_error")
    await put(alice, f"/api/task-types/{kind['id']}", {"is_active": False})
    inactive = await alice.post("/api/tasks", {"task_type_id": kind["id"], "parameters": {}})
    assert_detail(inactive, 400, "task_type_inactive")
    # 401: no token, on a route of each surface under /api/
    assert_detail(await nobody.get("/api/tasks"), 401, "unauthorized")
    assert_detail(await nobody.get(f"/api/tasks/{MISSING}/status"), 401, "unauthorized")
    assert_detail(await nobody.get(f"/api/tasks/{MISSING}/stream"), 401, "unauthorized")


async def test_other_paths_keep_the_body_without_detail(alice: Caller, queue: str) -> None:
    nobody = Caller(alice.session, alice.url, None)
    answers = [
        (await alice.get(f"/status/{MISSING}"), 404, "task_not_found"),
        (await alice.post("/enqueue", {"queue_name": queue}), 400, "validation_error"),
        (await nobody.get(f"/status/{MISSING}"), 401, "unauthorized"),
        (await nobody.get(f"/tasks/{MISSING}/events"), 401, "unauthorized"),
        (await alice.get("/no-such-thing"), 404, "not_found"),
    ]
    for answer, status, code in answers:
        assert_error(answer, status, code)
        assert "detail" not in answer.body, answer.body
