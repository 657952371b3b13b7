"""A NATS server that stalls (SIGSTOP) under an edge: /health answers from what the edge
already knows, and once the server runs again the edge serves requests again at once, not
when the library's keep-alive pings would have noticed (set to 10 minutes here)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from prsm_tasks.edge.app import open_edge
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.edge.http.state import EDGE_NAME
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.services.core import QueueRules
from prsm_tasks.store.opener import Connection
from tests.conftest import eventually
from tests.edge.conftest import Answer, Caller, token
from tests.stalls import stalled

PING_INTERVAL_S = 600.0  # the library's stale-ping detection never fires within a test
INTERNAL_NAMES = ("PRSM_", "$KV", "$JS", "prsm.", "KV_", "_INBOX")


@pytest.fixture
async def stall_edge(
    edge_config: Callable, own_server: EmbeddedNats, queue: str
) -> AsyncIterator[RunningEdge]:
    connection = Connection(
        servers=[own_server.url], name=EDGE_NAME, ping_interval_s=PING_INTERVAL_S
    )
    config = edge_config(connection=connection, rules=QueueRules(queues=(queue,)))
    async with open_edge(config) as running:
        yield running


async def quick_get(url: str, path: str, *, bearer: str | None = None) -> Answer | None:
    """One call that must be answered within a few seconds; None when it was not."""
    timeout = aiohttp.ClientTimeout(total=5)
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            async with session.get(url + path, headers=headers) as response:
                return Answer(response.status, await response.json(), response.headers)
        except TimeoutError:
            return None


def assert_plain(answer: Answer) -> None:
    """A 503 body says what happened in plain words, never the names of NATS internals."""
    assert answer.body["error"] == "service_unavailable", answer.body
    for name in INTERNAL_NAMES:
        assert name not in answer.body["message"], answer.body


async def test_health_is_honest_during_a_stall_and_the_edge_recovers_after_it(
    stall_edge: RunningEdge, own_server: EmbeddedNats, session, queue: str
) -> None:
    alice = Caller(session, stall_edge.url, token())
    first = await alice.post("/enqueue", {"queue_name": queue, "task_data": {"n": 1}})
    assert first.status == 200, first.body

    admin = token("root", "acme", roles=("admin",))
    with stalled(own_server):

        async def health_says_unhealthy() -> bool:
            answer = await quick_get(stall_edge.url, "/health")
            assert answer is not None, "/health was not answered while NATS stalled"
            assert answer.body["status"] in ("healthy", "degraded", "unhealthy")
            return answer.status == 503 and answer.body["status"] == "unhealthy"

        await eventually(health_says_unhealthy, within_s=60, interval_s=0.5)
        during = await alice.post("/enqueue", {"queue_name": queue, "task_data": {"n": 2}})
        assert during.status == 503, during.body
        assert_plain(during)

        async def connection_dropped() -> bool:
            """The watchdog gave up on the silent connection (as a longer stall would)."""
            answer = await quick_get(stall_edge.url, "/health", bearer=admin)
            assert answer is not None, "/health was not answered while NATS stalled"
            assert answer.status == 503 and answer.body["status"] == "unhealthy"
            return answer.body["checks"]["nats"] == "disconnected"

        await eventually(connection_dropped, within_s=60, interval_s=0.5)

    accepted: list[str] = []

    async def enqueue_works() -> bool:
        answer = await alice.post("/enqueue", {"queue_name": queue, "task_data": {"n": 3}})
        if answer.status == 503:
            assert_plain(answer)
            return False
        assert answer.status == 200, answer.body
        accepted.append(answer.body["task_id"])
        return True

    await eventually(enqueue_works, within_s=60, interval_s=0.5)
    status = await alice.get(f"/status/{accepted[0]}")
    assert status.status == 200 and status.body["status"] == "enqueued", status.body
    assert (await alice.get(f"/status/{first.body['task_id']}")).status == 200

    async def healthy_again() -> bool:
        answer = await quick_get(stall_edge.url, "/health")
        return answer is not None and answer.status == 200

    await eventually(healthy_again, within_s=60, interval_s=0.5)
    checks = (await quick_get(stall_edge.url, "/health", bearer=admin)).body["checks"]
    assert checks["nats"] == "connected" and checks["nats_forced_reconnects"] >= 1
