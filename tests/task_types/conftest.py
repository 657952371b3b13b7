"""Fixtures of the task-type tests: the edge fixtures (an edge in this process on a real
nats-server, JWT callers), a second edge on the same server, and fresh type names."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from prsm_tasks.edge.app import open_edge
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.edge.http.state import EdgeConfig
from prsm_tasks.services.core import QueueRules
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


@pytest.fixture
def type_name() -> str:
    return f"tt-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def second_edge(
    edge_config: Callable[..., EdgeConfig],  # noqa: F811 - the imported fixture
    queue: str,
) -> AsyncIterator[RunningEdge]:
    async with open_edge(
        edge_config(rules=QueueRules(queues=(queue, "ml_inference_queue")))
    ) as running:
        yield running


@pytest.fixture
def on_second(
    session: aiohttp.ClientSession,  # noqa: F811 - the imported fixture
    second_edge: RunningEdge,
) -> Callable[..., Caller]:
    def make(user: str = "alice", tenant: str = "acme", *, roles: tuple[str, ...] = ()) -> Caller:
        return Caller(session, second_edge.url, token(user, tenant, roles=roles))

    return make


async def put(caller: Caller, path: str, body: Any) -> Answer:
    return await caller.call("PUT", path, body)


SCHEMA = {
    "type": "object",
    "properties": {
        "format": {"type": "string", "enum": ["mp4", "webm"]},
        "resolution": {"type": "string", "enum": ["720p", "1080p", "4k"]},
        "size": {
            "type": "object",
            "properties": {"width": {"type": "integer", "minimum": 1}},
            "required": ["width"],
        },
    },
    "required": ["format"],
}


async def register(caller: Caller, name: str, **fields: Any) -> dict[str, Any]:
    answer = await caller.post(
        "/api/task-types", {"name": name, "parameters_schema": SCHEMA, **fields}
    )
    assert answer.status == 201, answer.body
    return answer.body
