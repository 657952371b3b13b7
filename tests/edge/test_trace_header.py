"""POST /enqueue takes the W3C `traceparent` header; a bad one starts a new trace."""

from __future__ import annotations

import aiohttp

from prsm_tasks import Client
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.trace import parse
from tests.edge.conftest import token

GIVEN = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def enqueue(
    session: aiohttp.ClientSession, edge: RunningEdge, queue: str, header: str | None
) -> str:
    headers = {"Authorization": f"Bearer {token()}"}
    if header is not None:
        headers["traceparent"] = header
    body = {"queue_name": queue, "task_data": {}}
    async with session.post(f"{edge.url}/enqueue", json=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["task_id"]


async def test_traceparent_header_at_enqueue(
    edge: RunningEdge, session: aiohttp.ClientSession, client: Client, queue: str
) -> None:
    given = await enqueue(session, edge, queue, GIVEN)
    assert (await client.status(given)).trace == GIVEN
    for header in (None, "00-garbage", GIVEN.upper()):
        task_id = await enqueue(session, edge, queue, header)
        started = parse((await client.status(task_id)).trace)
        assert started is not None and started.trace_id != GIVEN[3:35]
