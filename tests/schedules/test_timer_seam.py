"""The seam the firing work plugs the server-side timer into, and the surface's auth: over
real HTTP against an edge on a real nats-server, with a timer that records what it is told."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp

from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.edge.surfaces.scheduler.state import SCHEDULES
from tests.edge.conftest import Caller, token
from tests.schedules.conftest import API, cron_body, patch

ANY_ID = str(uuid.uuid4())
ROUTES = (
    ("POST", "/tasks"),
    ("GET", "/tasks"),
    ("POST", "/tasks/bulk"),
    ("POST", "/tasks/bulk-delete"),
    ("GET", f"/tasks/{ANY_ID}"),
    ("PATCH", f"/tasks/{ANY_ID}"),
    ("DELETE", f"/tasks/{ANY_ID}"),
    ("POST", f"/tasks/{ANY_ID}/pause"),
    ("POST", f"/tasks/{ANY_ID}/resume"),
    ("POST", f"/tasks/{ANY_ID}/dependencies"),
    ("GET", f"/tasks/{ANY_ID}/dependencies"),
    ("DELETE", f"/tasks/{ANY_ID}/dependencies/{ANY_ID}"),
    ("GET", "/status"),
    ("GET", "/workers"),
)


@dataclass
class RecordingTimer:
    """A ``ScheduleTimer`` that keeps what it was told: ("arm", id, due) or ("disarm", id)."""

    calls: list[tuple[object, ...]] = field(default_factory=list)

    async def arm(self, schedule_id: str, due_at: datetime) -> None:
        self.calls.append(("arm", schedule_id, due_at))

    async def disarm(self, schedule_id: str) -> None:
        self.calls.append(("disarm", schedule_id))

    async def wake(self, schedule_id: str, at: datetime) -> None:
        self.calls.append(("wake", schedule_id))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


async def test_the_timer_is_armed_and_disarmed_where_the_due_time_moves(
    edge: RunningEdge, as_user: Callable[..., Caller]
) -> None:
    timer = RecordingTimer()
    edge.app[SCHEDULES].timer = timer
    owner = as_user("owner", f"t-{uuid.uuid4().hex[:8]}")

    created = (await owner.post(f"{API}/tasks", cron_body())).body
    task_id = created["task_id"]
    path = f"{API}/tasks/{task_id}"
    assert timer.calls == [("arm", task_id, utc(created["next_execution_time"]))]

    changed = (await patch(owner, path, {"schedule_expression": "0 2 * * *"})).body
    assert timer.calls[-1] == ("arm", task_id, utc(changed["next_execution_time"]))
    calls = len(timer.calls)
    await patch(owner, path, {"schedule_expression": "0 2 * * *"})  # changes nothing
    assert len(timer.calls) == calls

    await owner.post(f"{path}/pause")
    assert timer.calls[-1] == ("disarm", task_id)
    calls = len(timer.calls)
    await owner.post(f"{path}/pause")  # already paused: nothing moves
    await patch(owner, path, {"schedule_expression": "0 3 * * *"})  # paused: stays disarmed
    assert all(call[0] == "disarm" for call in timer.calls[calls:])

    resumed = (await owner.post(f"{path}/resume")).body
    assert timer.calls[-1] == ("arm", task_id, utc(resumed["next_execution_time"]))

    assert (await owner.delete(path)).status == 204
    assert timer.calls[-1] == ("disarm", task_id)


async def test_every_route_refuses_a_missing_or_forged_token(
    edge: RunningEdge, session: aiohttp.ClientSession
) -> None:
    forged = token("alice", "acme")[:-4] + "AAAA"
    for bearer in (None, forged):
        caller = Caller(session, edge.url, bearer)
        for method, path in ROUTES:
            answer = await caller.call(method, API + path, {})
            assert answer.status == 401, (method, path, answer.body)
            assert answer.body["error"] and answer.body["code"] == 401, answer.body
