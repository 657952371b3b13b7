"""Races between writers of one schedule, across two edges on one nats-server: every change
is a compare-and-set, so none is lost, and two halves of a cycle never both stay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from prsm_tasks.edge.app import open_edge
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.edge.http.state import EdgeConfig
from tests.schedules.conftest import API, Caller, cron_body, patch, token


@pytest.fixture
async def second_edge(edge_config: Callable[..., EdgeConfig]) -> AsyncIterator[RunningEdge]:
    async with open_edge(edge_config()) as running:
        yield running


def both(
    edge: RunningEdge, second_edge: RunningEdge, session: aiohttp.ClientSession
) -> tuple[Caller, Caller]:
    bearer = token("racer", f"t-{uuid.uuid4().hex[:8]}")
    return Caller(session, edge.url, bearer), Caller(session, second_edge.url, bearer)


async def test_concurrent_patches_on_two_edges_lose_nothing(
    edge: RunningEdge, second_edge: RunningEdge, session: aiohttp.ClientSession
) -> None:
    first, second = both(edge, second_edge, session)
    created = (await first.post(f"{API}/tasks", cron_body(timezone="UTC"))).body
    path = f"{API}/tasks/{created['task_id']}"
    changes = [
        {"priority": "critical"},
        {"max_retries": 7},
        {"timeout_seconds": 42},
        {"payload": {"changed": True}},
        {"tags": {"raced": "yes"}},
        {"schedule_expression": "15 3 * * *"},
    ]
    answers = await asyncio.gather(
        *(patch(first if index % 2 else second, path, body) for index, body in enumerate(changes))
    )
    assert all(answer.status == 200 for answer in answers), [a.body for a in answers]
    item = (await first.get(path)).body
    assert item["priority"] == "critical" and item["max_retries"] == 7
    assert item["timeout_seconds"] == 42 and item["payload"] == {"changed": True}
    assert item["tags"] == {"raced": "yes"} and item["schedule_expression"] == "15 3 * * *"
    assert item["next_execution_time"].endswith("T03:15:00Z")


async def test_two_halves_of_a_cycle_added_at_once_never_both_stay(
    edge: RunningEdge, second_edge: RunningEdge, session: aiohttp.ClientSession
) -> None:
    first, second = both(edge, second_edge, session)
    for _ in range(5):
        a = (await first.post(f"{API}/tasks", cron_body(task_name="a"))).body["task_id"]
        b = (await first.post(f"{API}/tasks", cron_body(task_name="b"))).body["task_id"]
        answers = await asyncio.gather(
            first.post(f"{API}/tasks/{a}/dependencies", {"depends_on_task_id": b}),
            second.post(f"{API}/tasks/{b}/dependencies", {"depends_on_task_id": a}),
        )
        assert {answer.status for answer in answers} <= {201, 409}
        kept = 0
        for child in (a, b):
            kept += len((await first.get(f"{API}/tasks/{child}/dependencies")).body["dependencies"])
        assert kept <= 1
        assert kept == sum(answer.status == 201 for answer in answers)
