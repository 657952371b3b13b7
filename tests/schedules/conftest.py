"""Fixtures of the scheduler API tests: the edge fixtures (an edge in this process serving
every surface over real HTTP, on the session's nats-server) and JWT callers."""

from __future__ import annotations

from typing import Any

from tests.edge.conftest import (  # noqa: F401 - fixtures used by these tests
    Answer,
    Caller,
    alice,
    as_user,
    edge,
    edge_config,
    session,
    token,
)

API = "/api/v1"


def cron_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task_name": "daily_report_generation",
        "task_type": "cron",
        "schedule_expression": "0 0 * * *",
        "timezone": "America/New_York",
        "payload": {"report_type": "daily", "recipients": ["admin@example.com"]},
        "timeout_seconds": 300,
        "max_retries": 3,
        "priority": "high",
        "tags": {"team": "analytics", "env": "production"},
    }
    body.update(fields)
    return body


async def patch(caller: Caller, path: str, body: Any) -> Answer:
    return await caller.call("PATCH", path, body)
